//! Corrections as reversals, the same for time entries (R-TC-1) and expenses (R-TC-5): a
//! registered row is never changed; a reversal takes it back with the opposite sign and names
//! the row it reverses. A reversal is not reversed, and a row is reversed once.

/// A kind of row that is corrected by reversal, in the words of its refusals.
#[derive(Debug)]
pub struct Kind {
    /// The rule reversing it falls under.
    pub rule: &'static str,
    /// The row as a message names it.
    pub noun: &'static str,
    /// What to register again instead of reversing a reversal.
    pub register_again: &'static str,
}

pub const TIME_ENTRY: Kind = Kind {
    rule: "R-TC-1",
    noun: "entry",
    register_again: "the time",
};

pub const EXPENSE: Kind = Kind {
    rule: "R-TC-5",
    noun: "expense",
    register_again: "the expense",
};

impl Kind {
    /// A request id already stored with a row that is not this reversal.
    pub fn request_id_taken(&self) -> String {
        format!("already used for another {}; use a new one", self.noun)
    }
}

/// Why a row cannot be reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReversible {
    IsAReversal,
    AlreadyReversed,
}

impl NotReversible {
    pub fn reason(self) -> &'static str {
        match self {
            NotReversible::IsAReversal => "IS_A_REVERSAL",
            NotReversible::AlreadyReversed => "ALREADY_REVERSED",
        }
    }

    pub fn message(self, kind: &Kind) -> String {
        match self {
            NotReversible::IsAReversal => format!(
                "a reversal is not reversed; register {} again instead",
                kind.register_again
            ),
            NotReversible::AlreadyReversed => format!("the {} is already reversed", kind.noun),
        }
    }
}

/// Whether a row may be reversed: `reverses` is the row it reverses itself (a reversal is not
/// reversed), `already_reversed` whether a reversal of it is stored.
pub fn check(reverses: Option<&str>, already_reversed: bool) -> Result<(), NotReversible> {
    if reverses.is_some() {
        Err(NotReversible::IsAReversal)
    } else if already_reversed {
        Err(NotReversible::AlreadyReversed)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reversal_is_not_reversed_and_a_row_is_reversed_once() {
        assert_eq!(check(None, false), Ok(()));
        assert_eq!(check(Some("e1"), false), Err(NotReversible::IsAReversal));
        assert_eq!(check(None, true), Err(NotReversible::AlreadyReversed));
    }

    #[test]
    fn the_refusals_name_the_kind_in_its_own_words() {
        assert_eq!(
            NotReversible::IsAReversal.message(&TIME_ENTRY),
            "a reversal is not reversed; register the time again instead"
        );
        assert_eq!(
            NotReversible::AlreadyReversed.message(&EXPENSE),
            "the expense is already reversed"
        );
        assert_eq!(
            TIME_ENTRY.request_id_taken(),
            "already used for another entry; use a new one"
        );
    }
}
