//! Statutory deadlines besides the follow-ups: when one is made from a grant, when it comes
//! due, where it stands on a day, and what marking it met does (R-RV-5: the counsellor is told
//! in time to decide on ungestøtte before a child basis ends at 18).

use chrono::{Days, Months, NaiveDate};

use super::Step;
use super::follow_up::State;

/// How many months before the deadline it comes due (on the list, and DeadlineDue pushed).
pub const NOTICE_MONTHS: u32 = 3;

/// The age at which a child basis ends and ungestøtte can take over (Barnets Lov §§ 113-116).
const ADULT: u32 = 18;

/// What a deadline is for, as stored (`deadlines.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UngestoetteDecision,
}

impl Kind {
    pub fn stored(self) -> &'static str {
        match self {
            Kind::UngestoetteDecision => "UNGESTOETTE_DECISION",
        }
    }

    pub fn from_stored(kind: &str) -> Option<Self> {
        (kind == "UNGESTOETTE_DECISION").then_some(Kind::UngestoetteDecision)
    }

    /// What is to be decided, in words (no name, no CPR number).
    pub fn description(self, deadline: NaiveDate) -> String {
        match self {
            Kind::UngestoetteDecision => format!(
                "decide on ungestøtte (Barnets Lov §§ 113-116) before the 18th birthday: the child basis ends on {deadline}"
            ),
        }
    }
}

/// A deadline to make for a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Made {
    pub kind: Kind,
    /// The last day to decide by.
    pub deadline: NaiveDate,
    /// The day it comes due.
    pub due: NaiveDate,
}

/// R-RV-5: a grant whose basis ends the day before the 18th birthday (`basis_ends`, with
/// `at_age` 18) gets a deadline to decide on ungestøtte by then, due three months ahead. A basis
/// that ends at 23, or none, makes none: after ungestøtte there is nothing to decide on.
pub fn ungestoette(basis_ends: Option<NaiveDate>, at_age: u32) -> Option<Made> {
    let deadline = basis_ends.filter(|_| at_age == ADULT)?;
    // Three months before the birthday (the day after the basis ends), clamped to the month's
    // end; never after the deadline itself.
    let birthday = deadline.checked_add_days(Days::new(1))?;
    let due = birthday
        .checked_sub_months(Months::new(NOTICE_MONTHS))?
        .min(deadline);
    Some(Made {
        kind: Kind::UngestoetteDecision,
        deadline,
        due,
    })
}

/// Where a deadline is in its life, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Open,
    Completed,
    Cancelled,
}

impl Stage {
    /// The stored state (`deadlines.state`); anything but COMPLETED and CANCELLED is open.
    pub fn from_stored(state: &str) -> Self {
        match state {
            "COMPLETED" => Self::Completed,
            "CANCELLED" => Self::Cancelled,
            _ => Self::Open,
        }
    }
}

/// A deadline as it stands on `today`: scheduled before its due date, due until the deadline,
/// overdue after it.
pub fn state(stage: Stage, due: NaiveDate, deadline: NaiveDate, today: NaiveDate) -> State {
    match stage {
        Stage::Completed => State::Completed,
        Stage::Cancelled => State::Cancelled,
        Stage::Open if today > deadline => State::Overdue,
        Stage::Open if today >= due => State::Due,
        Stage::Open => State::Scheduled,
    }
}

/// Why a deadline cannot be marked met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotMet {
    /// Met already, with another note.
    AlreadyMet,
    /// Cancelled: the grant ended first.
    Cancelled,
}

/// Marking a deadline met with a note: once; the same note again is a retry.
pub fn complete(stage: Stage, same_note: bool) -> Result<Step, NotMet> {
    match stage {
        Stage::Open => Ok(Step::Record),
        Stage::Completed if same_note => Ok(Step::Retry),
        Stage::Completed => Err(NotMet::AlreadyMet),
        Stage::Cancelled => Err(NotMet::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn r_rv_5_a_child_basis_ending_at_18_makes_an_ungestotte_deadline_due_three_months_ahead() {
        // 18 on 15 March 2027: the basis ends on the 14th; due from 15 December 2026.
        assert_eq!(
            ungestoette(Some(d(2027, 3, 14)), 18),
            Some(Made {
                kind: Kind::UngestoetteDecision,
                deadline: d(2027, 3, 14),
                due: d(2026, 12, 15),
            })
        );
        // 18 on 31 May: three months before is the last day of February.
        assert_eq!(
            ungestoette(Some(d(2027, 5, 30)), 18).map(|m| m.due),
            Some(d(2027, 2, 28))
        );
        // Ungestøtte ends at 23 with nothing after it; a basis without an upper age makes none.
        assert_eq!(ungestoette(Some(d(2030, 6, 14)), 23), None);
        assert_eq!(ungestoette(None, 0), None);
    }

    #[test]
    fn r_rv_5_an_ungestotte_deadline_is_scheduled_then_due_then_overdue() {
        let (due, deadline) = (d(2026, 12, 15), d(2027, 3, 14));
        let on = |today| state(Stage::Open, due, deadline, today);
        assert_eq!(on(d(2026, 12, 14)), State::Scheduled);
        assert_eq!(on(d(2026, 12, 15)), State::Due);
        assert_eq!(on(d(2027, 3, 14)), State::Due);
        assert_eq!(on(d(2027, 3, 15)), State::Overdue);
        assert_eq!(
            state(Stage::Completed, due, deadline, d(2027, 4, 1)),
            State::Completed
        );
        assert_eq!(
            state(Stage::Cancelled, due, deadline, d(2026, 1, 1)),
            State::Cancelled
        );
    }

    #[test]
    fn r_rv_5_a_deadline_is_met_once_and_a_retry_answers_with_it() {
        assert_eq!(complete(Stage::Open, false), Ok(Step::Record));
        assert_eq!(complete(Stage::Completed, true), Ok(Step::Retry));
        assert_eq!(complete(Stage::Completed, false), Err(NotMet::AlreadyMet));
        assert_eq!(complete(Stage::Cancelled, true), Err(NotMet::Cancelled));
        assert_eq!(
            Kind::from_stored(Kind::UngestoetteDecision.stored()),
            Some(Kind::UngestoetteDecision)
        );
    }
}
