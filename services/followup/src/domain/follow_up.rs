//! A follow-up's life (R-FU-2, R-FU-4): scheduled until it is held (completed) or its grant
//! ends (cancelled, and the grant's schedule ended); while scheduled it stands scheduled, due
//! or overdue by the day.

use chrono::NaiveDate;

use super::Step;
use super::due::{self, Standing};

/// Where a follow-up is in its life, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Scheduled,
    Completed,
    Cancelled,
}

impl Stage {
    /// The stored state (`follow_ups.state`); anything but COMPLETED and CANCELLED is open.
    pub fn from_stored(state: &str) -> Self {
        match state {
            "COMPLETED" => Self::Completed,
            "CANCELLED" => Self::Cancelled,
            _ => Self::Scheduled,
        }
    }
}

/// Where a grant's schedule is, as stored: active until the grant ends, which cancels its open
/// follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleStage {
    Active,
    Ended,
}

impl ScheduleStage {
    /// The stored state (`schedules.state`); anything but ENDED is active.
    pub fn from_stored(state: &str) -> Self {
        if state == "ENDED" {
            Self::Ended
        } else {
            Self::Active
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
    Cancelled,
}

/// A follow-up due on `due` as it stands on `today`, reminders going out `lead_days` ahead (a
/// stored lead time below zero counts as none).
pub fn state(stage: Stage, due: NaiveDate, today: NaiveDate, lead_days: i32) -> State {
    match stage {
        Stage::Completed => State::Completed,
        Stage::Cancelled => State::Cancelled,
        Stage::Scheduled => {
            match due::standing(due, today, u32::try_from(lead_days).unwrap_or(0)) {
                Standing::Scheduled => State::Scheduled,
                Standing::Due => State::Due,
                Standing::Overdue => State::Overdue,
            }
        }
    }
}

/// Why a follow-up cannot be recorded as held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotRecorded {
    /// It was held and recorded otherwise; the grant's open follow-up is the next one.
    AlreadyHeld,
    /// Its grant ended.
    Cancelled,
}

/// Recording a held follow-up (R-FU-2): an open one is recorded; a completed one answers again
/// only to a retry of the same record (`same_record`).
pub fn record(stage: Stage, same_record: bool) -> Result<Step, NotRecorded> {
    match stage {
        Stage::Scheduled => Ok(Step::Record),
        Stage::Completed if same_record => Ok(Step::Retry),
        Stage::Completed => Err(NotRecorded::AlreadyHeld),
        Stage::Cancelled => Err(NotRecorded::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn a_scheduled_follow_up_is_shown_due_inside_the_lead_time_and_overdue_after_its_day() {
        let due = d(2027, 3, 1);
        let open = Stage::from_stored("SCHEDULED");
        assert_eq!(state(open, due, d(2027, 2, 14), 14), State::Scheduled);
        assert_eq!(state(open, due, d(2027, 2, 15), 14), State::Due);
        assert_eq!(state(open, due, d(2027, 3, 2), 14), State::Overdue);
        // A lead time below zero is none: due only on the day.
        assert_eq!(state(open, due, d(2027, 2, 28), -1), State::Scheduled);
        assert_eq!(state(open, due, due, -1), State::Due);
    }

    #[test]
    fn a_held_or_cancelled_follow_up_stays_so_whatever_the_day() {
        let due = d(2027, 3, 1);
        let late = d(2027, 6, 1);
        assert_eq!(
            state(Stage::from_stored("COMPLETED"), due, late, 14),
            State::Completed
        );
        assert_eq!(
            state(Stage::from_stored("CANCELLED"), due, late, 14),
            State::Cancelled
        );
    }

    #[test]
    fn a_schedule_is_active_until_its_grant_ends() {
        assert_eq!(ScheduleStage::from_stored("ACTIVE"), ScheduleStage::Active);
        assert_eq!(ScheduleStage::from_stored("ENDED"), ScheduleStage::Ended);
    }

    #[test]
    fn a_follow_up_is_recorded_once_and_a_retry_of_the_same_record_answers_again() {
        assert_eq!(record(Stage::Scheduled, false), Ok(Step::Record));
        assert_eq!(record(Stage::Completed, true), Ok(Step::Retry));
        assert_eq!(
            record(Stage::Completed, false),
            Err(NotRecorded::AlreadyHeld)
        );
        assert_eq!(record(Stage::Cancelled, true), Err(NotRecorded::Cancelled));
        assert_eq!(record(Stage::Cancelled, false), Err(NotRecorded::Cancelled));
    }
}
