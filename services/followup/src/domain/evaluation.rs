//! When a budget frame's yearly evaluation falls due (R-FU-5): every year the frame covers, from
//! the year it became known, on a day that is data (`frame_evaluation_settings`).

use chrono::NaiveDate;

/// When evaluations fall due (`frame_evaluation_settings`).
pub struct EvaluationRule {
    pub due_month: i32,
    pub due_day: i32,
    pub committee: String,
}

impl EvaluationRule {
    /// `year`'s due day, clamped to the month's last day.
    pub fn due_in(&self, year: i32) -> Option<NaiveDate> {
        due_date(year, self.due_month, self.due_day)
    }
}

fn due_date(year: i32, month: i32, day: i32) -> Option<NaiveDate> {
    let month = u32::try_from(month).ok()?;
    let day = u32::try_from(day).ok()?;
    (1..=day)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_day_is_clamped_to_the_month() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        assert_eq!(due_date(2026, 11, 30), d(2026, 11, 30));
        assert_eq!(due_date(2026, 2, 31), d(2026, 2, 28));
        assert_eq!(due_date(2028, 2, 31), d(2028, 2, 29));
    }
}
