//! When follow-ups fall due (R-FU-1): the first at the earliest of the statutory deadline after
//! the start (BL §95: 3 months, data in `statutory_deadlines`), the policy's interval and the
//! decision's review date; later ones within the policy's interval of the last one held — the
//! stricter rule wins. Due dates are calendar dates (Europe/Copenhagen); "N months after" a day
//! is the same day N months on, or that month's last day when it has no such day (30 November
//! + 3 months = 28 February, or 29 in a leap year).

use std::ops::RangeInclusive;

use chrono::{Days, Months, NaiveDate};

/// The rules in force for a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Months after the start by which the first follow-up is held (BL §95).
    pub statutory_first_months: u32,
    /// The policy's interval between follow-ups (Ringsted: 6); `None` when the policy states
    /// none (Ishøj: the counsellor sets the next date at each follow-up).
    pub policy_interval_months: Option<u32>,
}

impl Rules {
    /// The rules as a schedule stores them: BL §95's months, and the policy's interval with 0
    /// for none stated.
    pub fn from_stored(statutory_months: i32, interval_months: i32) -> Self {
        Self {
            statutory_first_months: u32::try_from(statutory_months).unwrap_or(3),
            policy_interval_months: u32::try_from(interval_months).ok().filter(|m| *m > 0),
        }
    }
}

/// A statutory deadline for the first follow-up as the law set it for a period (data in
/// `statutory_deadlines`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub months: u32,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
}

/// R-FU-1 with Barnets Lov's transition: a measure is followed up first by the deadline in force
/// on the day it started, so one granted under Serviceloven before 2024 keeps §70 stk.2's
/// months; a measure older than every deadline held is followed up by the oldest one. `None`
/// only when no deadline is held at all.
pub fn first_deadline_months(start: NaiveDate, deadlines: &[Deadline]) -> Option<u32> {
    deadlines
        .iter()
        .find(|d| d.valid_from <= start && d.valid_until.is_none_or(|until| start <= until))
        .or_else(|| deadlines.iter().min_by_key(|d| d.valid_from))
        .map(|d| d.months)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DueError {
    /// The next date must come after the day the follow-up was held.
    NotAfterHeld,
    /// Later than the policy allows: the latest allowed day.
    AfterPolicy(NaiveDate),
    /// The policy states no interval, so the follow-up must set the next date.
    NextDateRequired,
    /// Beyond the calendar.
    OutOfRange,
}

/// `day` + `months`, clamped to the month's last day.
pub fn add_months(day: NaiveDate, months: u32) -> Result<NaiveDate, DueError> {
    day.checked_add_months(Months::new(months))
        .ok_or(DueError::OutOfRange)
}

/// The first follow-up's due date (R-FU-1).
pub fn first_due(
    start: NaiveDate,
    rules: Rules,
    review: Option<NaiveDate>,
) -> Result<NaiveDate, DueError> {
    let statutory = add_months(start, rules.statutory_first_months)?;
    let policy = rules
        .policy_interval_months
        .map(|m| add_months(start, m))
        .transpose()?;
    Ok([Some(statutory), policy, review.filter(|r| *r >= start)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(statutory))
}

/// The next follow-up's due date after one held on `held`: the counsellor's `proposed` date,
/// never later than the policy's interval allows; the interval's end when none is proposed.
pub fn next_due(
    held: NaiveDate,
    rules: Rules,
    proposed: Option<NaiveDate>,
) -> Result<NaiveDate, DueError> {
    let latest = rules
        .policy_interval_months
        .map(|m| add_months(held, m))
        .transpose()?;
    match (proposed, latest) {
        (Some(p), _) if p <= held => Err(DueError::NotAfterHeld),
        (Some(p), Some(latest)) if p > latest => Err(DueError::AfterPolicy(latest)),
        (Some(p), _) => Ok(p),
        (None, Some(latest)) => Ok(latest),
        (None, None) => Err(DueError::NextDateRequired),
    }
}

/// The open follow-up of a grant brought over from the municipality's old system (the
/// transition): after follow-ups held there, the next is due when the last one set it (`next`),
/// never later than the policy's interval allows ([`next_due`]); none held, the first is due
/// by R-FU-1 from the start (`next`, the old system's date, counts as a review date). A
/// follow-up the law wanted long ago is due now, and shows as overdue: that is the fact.
pub fn after_import(
    start: NaiveDate,
    rules: Rules,
    held: &[NaiveDate],
    next: Option<NaiveDate>,
    review: Option<NaiveDate>,
) -> Result<NaiveDate, DueError> {
    match held.iter().max() {
        Some(last) => next_due(*last, rules, next),
        None => first_due(start, rules, [next, review].into_iter().flatten().min()),
    }
}

/// The next due date after the grant changed from `effective_from` by a decision not taken at
/// a follow-up (e.g. the committee changed the hours): the changed measure is followed up like
/// a new one, at the latest the statutory months after the change — never later than it was.
pub fn after_change(
    next: NaiveDate,
    effective_from: NaiveDate,
    rules: Rules,
) -> Result<NaiveDate, DueError> {
    Ok(next.min(add_months(effective_from, rules.statutory_first_months)?))
}

/// Where an open follow-up stands on `today` with reminders `lead_days` ahead (R-FU-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Scheduled,
    Due,
    Overdue,
}

pub fn standing(due: NaiveDate, today: NaiveDate, lead_days: u32) -> Standing {
    if today > due {
        Standing::Overdue
    } else if due - chrono::Days::new(u64::from(lead_days)) <= today {
        Standing::Due
    } else {
        Standing::Scheduled
    }
}

/// How many days before the due date a municipality's reminders go out (R-FU-4).
pub const LEAD_DAYS: RangeInclusive<i32> = 0..=90;

/// The last due date a worklist shows on `today` when asked for no other: the follow-ups whose
/// reminders have gone out, `lead_days` ahead (a stored lead time below zero counts as none).
pub fn reminded_until(today: NaiveDate, lead_days: i32) -> NaiveDate {
    today
        .checked_add_days(Days::new(u64::try_from(lead_days).unwrap_or(0)))
        .unwrap_or(today)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn r_fu_1_a_measure_started_before_barnets_lov_keeps_the_deadline_of_its_day() {
        let deadlines = [
            Deadline {
                months: 3,
                valid_from: d(2011, 1, 1),
                valid_until: Some(d(2023, 12, 31)),
            },
            Deadline {
                months: 2,
                valid_from: d(2024, 1, 1),
                valid_until: None,
            },
        ];
        // Serviceloven §70 stk.2 for a start in 2022, Barnets Lov §95 from 2024 (months
        // differ here only so the test can tell them apart).
        assert_eq!(first_deadline_months(d(2022, 3, 1), &deadlines), Some(3));
        assert_eq!(first_deadline_months(d(2023, 12, 31), &deadlines), Some(3));
        assert_eq!(first_deadline_months(d(2024, 1, 1), &deadlines), Some(2));
        // Older than every deadline held: the oldest one.
        assert_eq!(first_deadline_months(d(2009, 6, 1), &deadlines), Some(3));
        assert_eq!(first_deadline_months(d(2024, 1, 1), &[]), None);
    }

    /// Ishøj and Vallensbæk: no interval in the policy; the counsellor sets the next date.
    const ISHOJ: Rules = Rules {
        statutory_first_months: 3,
        policy_interval_months: None,
    };
    /// Ringsted: at least every 6 months.
    const RINGSTED: Rules = Rules {
        statutory_first_months: 3,
        policy_interval_months: Some(6),
    };
    /// A stricter third policy: every 2 months.
    const STRICT: Rules = Rules {
        statutory_first_months: 3,
        policy_interval_months: Some(2),
    };

    #[test]
    fn the_first_follow_up_is_at_most_three_months_after_the_start_bl_95() {
        assert_eq!(first_due(d(2026, 12, 1), ISHOJ, None), Ok(d(2027, 3, 1)));
        // Ringsted's 6 months is looser than the law: the law wins.
        assert_eq!(first_due(d(2026, 12, 1), RINGSTED, None), Ok(d(2027, 3, 1)));
        // A 2-month policy is stricter than the law: the policy wins.
        assert_eq!(first_due(d(2026, 12, 1), STRICT, None), Ok(d(2027, 2, 1)));
        // A review date set by the decision comes first when it is earlier.
        assert_eq!(
            first_due(d(2026, 12, 1), RINGSTED, Some(d(2027, 1, 15))),
            Ok(d(2027, 1, 15))
        );
        assert_eq!(
            first_due(d(2026, 12, 1), RINGSTED, Some(d(2027, 6, 1))),
            Ok(d(2027, 3, 1))
        );
    }

    #[test]
    fn month_ends_and_leap_years_clamp_to_the_last_day_of_the_month() {
        assert_eq!(first_due(d(2026, 11, 30), ISHOJ, None), Ok(d(2027, 2, 28)));
        assert_eq!(first_due(d(2027, 11, 30), ISHOJ, None), Ok(d(2028, 2, 29)));
        assert_eq!(first_due(d(2027, 12, 31), STRICT, None), Ok(d(2028, 2, 29)));
        assert_eq!(
            first_due(d(2026, 8, 31), RINGSTED, None),
            Ok(d(2026, 11, 30))
        );
        // Ringsted's later follow-ups: 31 August + 6 months = 28 February.
        assert_eq!(next_due(d(2026, 8, 31), RINGSTED, None), Ok(d(2027, 2, 28)));
        assert_eq!(next_due(d(2027, 8, 31), RINGSTED, None), Ok(d(2028, 2, 29)));
    }

    #[test]
    fn later_follow_ups_are_within_the_policy_interval_or_set_by_the_counsellor() {
        assert_eq!(next_due(d(2027, 3, 1), RINGSTED, None), Ok(d(2027, 9, 1)));
        assert_eq!(
            next_due(d(2027, 3, 1), RINGSTED, Some(d(2027, 6, 1))),
            Ok(d(2027, 6, 1)),
            "earlier is always allowed"
        );
        assert_eq!(
            next_due(d(2027, 3, 1), RINGSTED, Some(d(2027, 9, 2))),
            Err(DueError::AfterPolicy(d(2027, 9, 1)))
        );
        assert_eq!(
            next_due(d(2027, 3, 1), ISHOJ, None),
            Err(DueError::NextDateRequired)
        );
        assert_eq!(
            next_due(d(2027, 3, 1), ISHOJ, Some(d(2027, 12, 1))),
            Ok(d(2027, 12, 1))
        );
        assert_eq!(
            next_due(d(2027, 3, 1), STRICT, Some(d(2027, 3, 1))),
            Err(DueError::NotAfterHeld)
        );
    }

    #[test]
    fn a_grant_changed_mid_interval_is_followed_up_within_three_months_of_the_change() {
        // Ringsted, next follow-up 1 September; the hours change from 15 April: due 15 July.
        assert_eq!(
            after_change(d(2027, 9, 1), d(2027, 4, 15), RINGSTED),
            Ok(d(2027, 7, 15))
        );
        // A change shortly before a follow-up that is already due sooner moves nothing.
        assert_eq!(
            after_change(d(2027, 5, 1), d(2027, 4, 15), RINGSTED),
            Ok(d(2027, 5, 1))
        );
        // Changed on 30 November: due at the latest 28 February.
        assert_eq!(
            after_change(d(2027, 6, 1), d(2026, 11, 30), ISHOJ),
            Ok(d(2027, 2, 28))
        );
    }

    #[test]
    fn a_worklist_reaches_as_far_as_the_reminders_that_went_out() {
        let today = d(2027, 2, 15);
        assert_eq!(reminded_until(today, 14), d(2027, 3, 1));
        assert_eq!(reminded_until(today, 0), today);
        assert_eq!(reminded_until(today, -3), today);
        // What the worklist reaches is due by the standing rule.
        assert_eq!(
            standing(reminded_until(today, 14), today, 14),
            Standing::Due
        );
        assert!(LEAD_DAYS.contains(&0) && LEAD_DAYS.contains(&90) && !LEAD_DAYS.contains(&91));
    }

    #[test]
    fn a_stored_interval_of_zero_means_the_policy_states_none() {
        assert_eq!(Rules::from_stored(3, 0), ISHOJ);
        assert_eq!(Rules::from_stored(3, 6), RINGSTED);
    }

    #[test]
    fn a_follow_up_is_due_inside_the_lead_time_and_overdue_after_its_day() {
        let due = d(2027, 3, 1);
        assert_eq!(standing(due, d(2027, 2, 14), 14), Standing::Scheduled);
        assert_eq!(standing(due, d(2027, 2, 15), 14), Standing::Due);
        assert_eq!(standing(due, due, 14), Standing::Due);
        assert_eq!(standing(due, d(2027, 3, 2), 14), Standing::Overdue);
    }

    #[test]
    fn r_fu_1_an_imported_grant_continues_from_the_follow_ups_held_in_the_old_system() {
        let d = |s: &str| s.parse::<NaiveDate>().expect("a date");
        let ringsted = Rules {
            statutory_first_months: 6,
            policy_interval_months: Some(6),
        };
        let ishoej = Rules {
            statutory_first_months: 6,
            policy_interval_months: None,
        };
        let held = [d("2022-08-01"), d("2026-09-15")];
        // After the last held: the date it set, or the policy's interval from it.
        assert_eq!(
            after_import(d("2022-03-01"), ringsted, &held, None, None),
            Ok(d("2027-03-15"))
        );
        assert_eq!(
            after_import(
                d("2022-03-01"),
                ringsted,
                &held,
                Some(d("2027-01-10")),
                None
            ),
            Ok(d("2027-01-10"))
        );
        assert_eq!(
            after_import(d("2022-03-01"), ishoej, &held, None, None),
            Err(DueError::NextDateRequired)
        );
        // None held: the first follow-up by the start's rule, long past if the start is.
        assert_eq!(
            after_import(d("2022-03-01"), ringsted, &[], None, None),
            Ok(d("2022-09-01"))
        );
        assert_eq!(
            after_import(d("2022-03-01"), ringsted, &[], Some(d("2022-05-01")), None),
            Ok(d("2022-05-01"))
        );
    }
}
