//! The one source of "now". Rules that depend on the date take a [`Clock`], so tests move time
//! instead of sleeping. Calendar dates are Danish dates (Europe/Copenhagen), whatever the host's
//! time zone is.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in Denmark.
    fn today(&self) -> NaiveDate {
        self.now()
            .with_timezone(&chrono_tz::Europe::Copenhagen)
            .date_naive()
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system's time"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_danish_date_turns_at_danish_midnight() {
        // 23:30 UTC on 31 December is already New Year's Day in Copenhagen (UTC+1 in winter).
        let clock = ManualClock::new("2025-12-31T23:30:00Z".parse().expect("timestamp"));
        assert_eq!(
            clock.today(),
            NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
        );
        // In summer (UTC+2) 21:59 UTC is still the same day.
        clock.set("2026-06-30T21:59:00Z".parse().expect("timestamp"));
        assert_eq!(
            clock.today(),
            NaiveDate::from_ymd_opt(2026, 6, 30).expect("date")
        );
    }
}
