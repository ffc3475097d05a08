//! An assignment's life: ACTIVE from its first day, changed in weekly minutes while active,
//! ENDED on its last day (R-MP-4: its minutes are booked while active and released when it
//! ends). An ended assignment is history: it changes no more.

use chrono::NaiveDate;
use kontakt_platform::Refusal;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssignmentState {
    /// The contact person works with the child; the minutes are booked.
    Active,
    /// Over; the minutes are released.
    Ended,
}

impl AssignmentState {
    pub const ALL: [AssignmentState; 2] = [AssignmentState::Active, AssignmentState::Ended];

    /// The stored spelling (also the proto enum's name without its prefix).
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentState::Active => "ACTIVE",
            AssignmentState::Ended => "ENDED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == stored)
    }

    /// Only an active assignment is changed or ended; `ended_on` is the last day of an ended one.
    pub fn still_active(self, ended_on: NaiveDate) -> Result<(), Refusal> {
        match self {
            AssignmentState::Active => Ok(()),
            AssignmentState::Ended => Err(Refusal::new(
                "ASSIGNMENT_ENDED",
                format!("the assignment ended on {ended_on}"),
            )),
        }
    }
}

stored_as_text!(AssignmentState, "assignment state");

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn every_state_is_stored_as_the_spelling_the_schema_allows() {
        let stored: Vec<&str> = AssignmentState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(stored, ["ACTIVE", "ENDED"]);
        for state in AssignmentState::ALL {
            assert_eq!(AssignmentState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn an_active_assignment_may_be_changed_or_ended() {
        assert_eq!(
            AssignmentState::Active.still_active(day(2026, 12, 31)),
            Ok(())
        );
    }

    #[test]
    fn an_ended_assignment_changes_no_more_and_says_when_it_ended() {
        let last = day(2026, 11, 30);
        let refusal = AssignmentState::Ended
            .still_active(last)
            .expect_err("ended");
        assert_eq!(refusal.reason, "ASSIGNMENT_ENDED");
        assert_eq!(refusal.message, "the assignment ended on 2026-11-30");
        assert!(refusal.violations.is_empty());
    }
}
