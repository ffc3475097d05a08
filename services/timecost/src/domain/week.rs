//! Weeks for overrun (R-TC-2): granted hours are per week, Monday to Sunday.

use chrono::{Datelike as _, Days, NaiveDate};

/// The Monday and Sunday of the week `day` falls in.
pub fn week_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = day - Days::new(u64::from(day.weekday().num_days_from_monday()));
    (monday, monday + Days::new(6))
}

/// Minutes above the granted ones, if any (R-TC-2: flagged, not silently accepted).
pub fn overrun(registered: i32, granted: i32) -> Option<i32> {
    (registered > granted).then_some(registered - granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn a_week_runs_monday_to_sunday() {
        // 24 November 2026 is a Tuesday.
        assert_eq!(
            week_of(day(2026, 11, 24)),
            (day(2026, 11, 23), day(2026, 11, 29))
        );
        assert_eq!(week_of(day(2026, 11, 23)).0, day(2026, 11, 23));
        assert_eq!(week_of(day(2026, 11, 29)).0, day(2026, 11, 23));
        // Across a year end.
        assert_eq!(
            week_of(day(2027, 1, 1)),
            (day(2026, 12, 28), day(2027, 1, 3))
        );
    }

    #[test]
    fn only_minutes_above_the_granted_are_an_overrun_r_tc_2() {
        assert_eq!(overrun(180, 180), None);
        assert_eq!(overrun(181, 180), Some(1));
        assert_eq!(overrun(0, 180), None);
    }
}
