//! Statutory deadlines besides the follow-ups: when one is made from a grant, when it comes
//! due, where it stands on a day, and what marking it met does. The counsellor is told in time
//! to decide on ungestøtte before a child basis ends at 18 (R-RV-5), to finish a børnefaglig
//! undersøgelse support started beside (BL § 20 stk. 3), and to make the child's plan (§ 91).

use chrono::{Days, Months, NaiveDate};

use super::follow_up::State;

/// The age at which a child basis ends and ungestøtte can take over (Barnets Lov §§ 113-116).
const ADULT: u32 = 18;

/// What a deadline is for, as stored (`deadlines.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UngestoetteDecision,
    ChildAssessment,
    ChildsPlan,
}

impl Kind {
    const ALL: [Kind; 3] = [
        Kind::UngestoetteDecision,
        Kind::ChildAssessment,
        Kind::ChildsPlan,
    ];

    pub fn stored(self) -> &'static str {
        match self {
            Kind::UngestoetteDecision => "UNGESTOETTE_DECISION",
            Kind::ChildAssessment => "CHILD_ASSESSMENT",
            Kind::ChildsPlan => "CHILDS_PLAN",
        }
    }

    pub fn from_stored(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.stored() == kind)
    }

    /// How many months before the deadline it comes due (on the list, and DeadlineDue pushed):
    /// three for ungestøtte (time to decide and refer), one for the others.
    pub fn notice_months(self) -> u32 {
        match self {
            Kind::UngestoetteDecision => 3,
            Kind::ChildAssessment | Kind::ChildsPlan => 1,
        }
    }

    /// What is to be decided, in words (no name, no CPR number).
    pub fn description(self, deadline: NaiveDate) -> String {
        match self {
            Kind::UngestoetteDecision => format!(
                "decide on ungestøtte (Barnets Lov §§ 113-116) before the 18th birthday: the child basis ends on {deadline}"
            ),
            Kind::ChildAssessment => format!(
                "finish the børnefaglig undersøgelse support started beside by {deadline} (Barnets Lov § 20 stk. 3)"
            ),
            Kind::ChildsPlan => {
                format!("decide on and make the child's plan by {deadline} (Barnets Lov § 91)")
            }
        }
    }

    /// A deadline of this kind on `deadline`, due its notice months ahead (clamped to the
    /// month's end).
    pub fn on(self, deadline: NaiveDate) -> Option<Made> {
        let due = deadline.checked_sub_months(Months::new(self.notice_months()))?;
        Some(Made {
            kind: self,
            deadline,
            due,
        })
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
/// `at_age` 18) gets a deadline to decide on ungestøtte by then, due three months before the
/// birthday. A basis that ends at 23, or none, makes none: after ungestøtte there is nothing to
/// decide on.
pub fn ungestoette(basis_ends: Option<NaiveDate>, at_age: u32) -> Option<Made> {
    let deadline = basis_ends.filter(|_| at_age == ADULT)?;
    let birthday = deadline.checked_add_days(Days::new(1))?;
    let due = Kind::UngestoetteDecision.on(birthday)?.due.min(deadline);
    Some(Made {
        kind: Kind::UngestoetteDecision,
        deadline,
        due,
    })
}

/// Every deadline an approved grant makes: ungestøtte (R-RV-5), the running undersøgelse's
/// (BL § 20 stk. 3) and the child's plan's (§ 91), as the approval states them.
pub fn of_approval(
    basis_ends: Option<NaiveDate>,
    basis_ends_at_age: u32,
    assessment: Option<NaiveDate>,
    plan: Option<NaiveDate>,
) -> Vec<Made> {
    [
        ungestoette(basis_ends, basis_ends_at_age),
        assessment.and_then(|d| Kind::ChildAssessment.on(d)),
        plan.and_then(|d| Kind::ChildsPlan.on(d)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A deadline lives as a follow-up does (open, completed or cancelled), so it is stored and
/// completed by the same [`Stage`] and [`super::follow_up::record`]: once, and the same note again is
/// a retry.
pub use super::follow_up::Stage;

/// A deadline as it stands on `today`: scheduled before its due date, due until the deadline,
/// overdue after it.
pub fn state(stage: Stage, due: NaiveDate, deadline: NaiveDate, today: NaiveDate) -> State {
    match stage {
        Stage::Completed => State::Completed,
        Stage::Cancelled => State::Cancelled,
        Stage::Scheduled if today > deadline => State::Overdue,
        Stage::Scheduled if today >= due => State::Due,
        Stage::Scheduled => State::Scheduled,
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
        let on = |today| state(Stage::from_stored("OPEN"), due, deadline, today);
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
        use crate::domain::Step;
        use crate::domain::follow_up::{NotRecorded, record};
        let open = Stage::from_stored("OPEN");
        assert_eq!(record(open, false), Ok(Step::Record));
        assert_eq!(record(Stage::Completed, true), Ok(Step::Retry));
        assert_eq!(
            record(Stage::Completed, false),
            Err(NotRecorded::AlreadyHeld)
        );
        assert_eq!(record(Stage::Cancelled, true), Err(NotRecorded::Cancelled));
        for kind in Kind::ALL {
            assert_eq!(Kind::from_stored(kind.stored()), Some(kind));
        }
    }

    #[test]
    fn bl_20_and_bl_91_a_running_assessment_and_a_missing_plan_fall_due_a_month_ahead() {
        let made = of_approval(None, 0, Some(d(2027, 2, 15)), Some(d(2027, 3, 1)));
        assert_eq!(
            made,
            [
                Made {
                    kind: Kind::ChildAssessment,
                    deadline: d(2027, 2, 15),
                    due: d(2027, 1, 15),
                },
                Made {
                    kind: Kind::ChildsPlan,
                    deadline: d(2027, 3, 1),
                    due: d(2027, 2, 1),
                },
            ]
        );
        // A 17-year-old's grant with both: three deadlines.
        let all = of_approval(
            Some(d(2027, 3, 14)),
            18,
            Some(d(2027, 2, 15)),
            Some(d(2027, 3, 1)),
        );
        assert_eq!(all.len(), 3);
        assert!(of_approval(None, 0, None, None).is_empty());
    }
}
