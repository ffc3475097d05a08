//! A budget frame's yearly evaluation (R-FU-5): every year the frame covers, from the year it
//! became known, gets an evaluation due on a day that is data (`frame_evaluation_settings`);
//! the committee's conclusion is recorded once.

use chrono::{Datelike as _, NaiveDate};
use tonic_types::FieldViolation;

use super::Step;
use super::due::{self, Standing};
use super::record::text_ok;

const MAX_COMMITTEE: usize = 200;
const MAX_SUMMARY: usize = 4000;

/// When a frame's evaluations fall due, how long ahead the reminder goes, and to which
/// committee (each frame its own; `frame_evaluation_settings` is the default a frame gets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvaluationRule {
    pub due_month: i32,
    pub due_day: i32,
    pub lead_days: i32,
    pub committee: String,
}

impl EvaluationRule {
    /// Settings as a caller sends them, checked: a month, a day of a month (one the month
    /// lacks means its last), a lead time of 0 to 180 days and a committee; every wrong field
    /// named.
    pub fn parse(
        due_month: i32,
        due_day: i32,
        lead_days: i32,
        committee_text: &str,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut wrong = Vec::new();
        if !(1..=12).contains(&due_month) {
            wrong.push(FieldViolation::new("settings.due_month", "1 to 12"));
        }
        if !(1..=31).contains(&due_day) {
            wrong.push(FieldViolation::new(
                "settings.due_day",
                "1 to 31 (a day the month lacks means its last)",
            ));
        }
        if !(0..=180).contains(&lead_days) {
            wrong.push(FieldViolation::new(
                "settings.lead_days",
                "0 to 180 days before the due date",
            ));
        }
        let committee = committee(committee_text).map_err(|mut v| {
            v.field = format!("settings.{}", v.field);
            v
        });
        match committee {
            Ok(committee) if wrong.is_empty() => Ok(Self {
                due_month,
                due_day,
                lead_days,
                committee: committee.to_owned(),
            }),
            Ok(_) => Err(wrong),
            Err(v) => {
                wrong.push(v);
                Err(wrong)
            }
        }
    }

    /// `year`'s due day, clamped to the month's last day.
    pub fn due_in(&self, year: i32) -> Option<NaiveDate> {
        due_date(year, self.due_month, self.due_day)
    }

    /// The first year a frame learnt of on `today` is evaluated (R-FU-5): a frame owes the
    /// evaluation of every year it is in force on that year's due date. So one that has run
    /// all year owes this year's even when learnt of after the due date (overdue at once: the
    /// committee still wants it in December), one that begins after the due date is first
    /// evaluated the year after, and none before its period.
    pub fn first_year(&self, today: NaiveDate, period_start: NaiveDate) -> i32 {
        let year = today.year().max(period_start.year());
        match self.due_in(year) {
            Some(due) if period_start > due => year + 1,
            _ => year,
        }
    }
}

fn due_date(year: i32, month: i32, day: i32) -> Option<NaiveDate> {
    let month = u32::try_from(month).ok()?;
    let day = u32::try_from(day).ok()?;
    (1..=day)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

/// Where an evaluation is in its life, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Scheduled,
    Completed,
}

impl Stage {
    /// The stored state (`frame_evaluations.state`); anything but COMPLETED is open.
    pub fn from_stored(state: &str) -> Self {
        if state == "COMPLETED" {
            Self::Completed
        } else {
            Self::Scheduled
        }
    }
}

/// What a reader is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Scheduled,
    Due,
    Overdue,
    Completed,
}

/// An evaluation due on `due` as it stands on `today`, reminders going out `lead_days` ahead
/// (a stored lead time below zero counts as none).
pub fn state(stage: Stage, due: NaiveDate, today: NaiveDate, lead_days: i32) -> State {
    match stage {
        Stage::Completed => State::Completed,
        Stage::Scheduled => {
            match due::standing(due, today, u32::try_from(lead_days).unwrap_or(0)) {
                Standing::Scheduled => State::Scheduled,
                Standing::Due => State::Due,
                Standing::Overdue => State::Overdue,
            }
        }
    }
}

/// What the committee concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conclusion<'a> {
    pub committee: &'a str,
    pub summary: &'a str,
    pub completed_date: NaiveDate,
}

/// The committee that evaluated, trimmed: 1 to 200 characters.
pub fn committee(input: &str) -> Result<&str, FieldViolation> {
    let committee = input.trim();
    if committee.is_empty() || !text_ok(input, MAX_COMMITTEE) {
        return Err(FieldViolation::new("committee", "1 to 200 characters"));
    }
    Ok(committee)
}

/// The conclusion's summary, trimmed: 1 to 4000 characters.
pub fn summary(input: &str) -> Result<&str, FieldViolation> {
    let summary = input.trim();
    if summary.is_empty() || !text_ok(input, MAX_SUMMARY) {
        return Err(FieldViolation::new("summary", "1 to 4000 characters"));
    }
    Ok(summary)
}

/// The day the evaluation was completed: required, and not after `today`.
pub fn completed_date(
    day: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<NaiveDate, FieldViolation> {
    let day = day.ok_or_else(|| {
        FieldViolation::new("completed_date", "the day it was completed is required")
    })?;
    if day > today {
        return Err(FieldViolation::new(
            "completed_date",
            format!("not in the future (today is {today})"),
        ));
    }
    Ok(day)
}

/// The evaluation was completed with another conclusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyCompleted;

/// Completing an evaluation with `new`: an open one is recorded; a completed one (with
/// `recorded`) answers again only when the same conclusion comes again, a retry — anything
/// else would rewrite history.
pub fn complete(
    stage: Stage,
    recorded: Option<&Conclusion<'_>>,
    new: &Conclusion<'_>,
) -> Result<Step, AlreadyCompleted> {
    match stage {
        Stage::Scheduled => Ok(Step::Record),
        Stage::Completed if recorded == Some(new) => Ok(Step::Retry),
        Stage::Completed => Err(AlreadyCompleted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn rule() -> EvaluationRule {
        EvaluationRule {
            due_month: 11,
            due_day: 30,
            lead_days: 30,
            committee: "Budget committee".into(),
        }
    }

    #[test]
    fn r_fu_5_a_frames_settings_are_a_day_of_a_month_a_lead_time_and_a_committee() {
        let ok = EvaluationRule::parse(10, 31, 14, "  Økonomiudvalget ").expect("settings");
        assert_eq!(ok.committee, "Økonomiudvalget");
        // 31 September is its last day.
        assert_eq!(
            EvaluationRule::parse(9, 31, 0, "Udvalget")
                .expect("ok")
                .due_in(2026),
            Some(d(2026, 9, 30))
        );
        let wrong: Vec<String> = EvaluationRule::parse(13, 0, 181, "")
            .expect_err("all wrong")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            wrong,
            [
                "settings.due_month",
                "settings.due_day",
                "settings.lead_days",
                "settings.committee"
            ]
        );
    }

    #[test]
    fn the_due_day_is_clamped_to_the_month() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(due_date(2026, 11, 30), d(2026, 11, 30));
        assert_eq!(due_date(2026, 2, 31), d(2026, 2, 28));
        assert_eq!(due_date(2028, 2, 31), d(2028, 2, 29));
    }

    #[test]
    fn r_fu_5_a_frame_owes_the_evaluation_of_each_year_it_is_in_force_on_the_due_date() {
        let start = d(2026, 1, 1);
        assert_eq!(rule().first_year(d(2026, 11, 30), start), 2026);
        // Learnt of in December, in force all year: this year's is owed (and overdue).
        assert_eq!(rule().first_year(d(2026, 12, 1), start), 2026);
        assert_eq!(rule().first_year(d(2026, 12, 8), d(2018, 2, 1)), 2026);
        // Begun after this year's due date: first evaluated next year.
        assert_eq!(rule().first_year(d(2026, 12, 8), d(2026, 12, 1)), 2027);
        assert_eq!(rule().first_year(d(2026, 11, 1), d(2026, 12, 1)), 2027);
        // Never before the frame's own period.
        assert_eq!(rule().first_year(d(2026, 3, 1), d(2028, 1, 1)), 2028);
    }

    #[test]
    fn an_open_evaluation_is_due_inside_the_lead_time_and_a_completed_one_stays_completed() {
        let due = d(2026, 11, 30);
        let open = Stage::from_stored("SCHEDULED");
        assert_eq!(state(open, due, d(2026, 10, 1), 30), State::Scheduled);
        assert_eq!(state(open, due, d(2026, 10, 31), 30), State::Due);
        assert_eq!(state(open, due, d(2026, 12, 1), 30), State::Overdue);
        assert_eq!(
            state(Stage::from_stored("COMPLETED"), due, d(2026, 12, 1), 30),
            State::Completed
        );
    }

    #[test]
    fn a_conclusion_names_its_committee_and_summary_and_is_not_dated_in_the_future() {
        assert_eq!(
            committee("  Budget committee ").ok(),
            Some("Budget committee")
        );
        assert_eq!(
            committee("   ").map_err(|v| v.field),
            Err("committee".to_owned())
        );
        assert!(committee(&"x".repeat(201)).is_err());
        assert!(committee("tab\there").is_err());
        assert_eq!(
            summary(" Kept within the frame. ").ok(),
            Some("Kept within the frame.")
        );
        assert!(summary("").is_err());
        assert!(summary(&"x".repeat(4001)).is_err());
        let today = d(2026, 11, 24);
        assert_eq!(completed_date(Some(today), today).ok(), Some(today));
        assert!(completed_date(None, today).is_err());
        assert_eq!(
            completed_date(Some(d(2026, 11, 25)), today).map_err(|v| v.field),
            Err("completed_date".to_owned())
        );
    }

    #[test]
    fn an_evaluation_is_completed_once_and_the_same_conclusion_again_is_a_retry() {
        let done = Conclusion {
            committee: "Budget committee",
            summary: "Kept within the frame.",
            completed_date: d(2026, 11, 20),
        };
        let other = Conclusion {
            summary: "Overran.",
            ..done
        };
        assert_eq!(complete(Stage::Scheduled, None, &done), Ok(Step::Record));
        assert_eq!(
            complete(Stage::Completed, Some(&done), &done),
            Ok(Step::Retry)
        );
        assert_eq!(
            complete(Stage::Completed, Some(&done), &other),
            Err(AlreadyCompleted)
        );
        assert_eq!(
            complete(Stage::Completed, None, &done),
            Err(AlreadyCompleted)
        );
    }
}
