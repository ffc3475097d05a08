//! Expenses against a grant's supplementary allowances (R-TC-5): what mileage costs, which
//! period an allowance's amount applies to, and whether an expense takes it above.

use chrono::{Datelike as _, NaiveDate};

/// The period an allowance amount applies to (referral's AllowancePeriod).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Month,
    Quarter,
    Year,
    /// The whole grant, from its start.
    Grant,
}

impl Period {
    pub fn code(self) -> &'static str {
        match self {
            Period::Month => "MONTH",
            Period::Quarter => "QUARTER",
            Period::Year => "YEAR",
            Period::Grant => "GRANT",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "MONTH" => Some(Period::Month),
            "QUARTER" => Some(Period::Quarter),
            "YEAR" => Some(Period::Year),
            "GRANT" => Some(Period::Grant),
            _ => None,
        }
    }
}

/// An allowance in force on a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    pub amount_ore: i64,
    pub period: Period,
}

/// The calendar window `period` puts `day` in: first and last day (`None` = open, for a
/// whole-grant allowance counted from the grant's start).
pub fn window(
    period: Period,
    day: NaiveDate,
    grant_start: NaiveDate,
) -> (NaiveDate, Option<NaiveDate>) {
    let first_of = |year: i32, month: u32| NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(day);
    let month_span = |start: NaiveDate, months: u32| {
        let end = start
            .checked_add_months(chrono::Months::new(months))
            .and_then(|d| d.pred_opt());
        (start, end)
    };
    match period {
        Period::Month => month_span(first_of(day.year(), day.month()), 1),
        Period::Quarter => month_span(first_of(day.year(), (day.month0() / 3) * 3 + 1), 3),
        Period::Year => month_span(first_of(day.year(), 1), 12),
        Period::Grant => (grant_start, None),
    }
}

/// Mileage in øre: metres × øre per km / 1000, rounded half up once — the amount paid out for
/// the trip, so it is fixed on registration.
pub fn mileage_ore(metres: i32, ore_per_km: i64) -> i64 {
    let exact_thousandths = i64::from(metres) * ore_per_km;
    (exact_thousandths * 2 + 1000) / 2000
}

/// Whether an expense is above its allowance: `used_ore` is the period's net amount with the
/// expense included. No allowance on the day means any expense is above it.
pub fn exceeds(allowance: Option<Allowance>, used_ore: i64) -> bool {
    allowance.is_none_or(|a| used_ore > a.amount_ore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn windows_are_calendar_months_quarters_and_years_or_the_whole_grant() {
        let start = d(2025, 11, 3);
        assert_eq!(
            window(Period::Month, d(2026, 2, 14), start),
            (d(2026, 2, 1), Some(d(2026, 2, 28)))
        );
        assert_eq!(
            window(Period::Month, d(2028, 2, 29), start),
            (d(2028, 2, 1), Some(d(2028, 2, 29)))
        );
        assert_eq!(
            window(Period::Quarter, d(2026, 5, 31), start),
            (d(2026, 4, 1), Some(d(2026, 6, 30)))
        );
        assert_eq!(
            window(Period::Quarter, d(2026, 12, 31), start),
            (d(2026, 10, 1), Some(d(2026, 12, 31)))
        );
        assert_eq!(
            window(Period::Quarter, d(2026, 1, 1), start),
            (d(2026, 1, 1), Some(d(2026, 3, 31)))
        );
        assert_eq!(
            window(Period::Year, d(2026, 7, 4), start),
            (d(2026, 1, 1), Some(d(2026, 12, 31)))
        );
        assert_eq!(window(Period::Grant, d(2026, 7, 4), start), (start, None));
    }

    #[test]
    fn mileage_is_km_times_the_rate_rounded_half_up_once() {
        // 12.3 km at DKK 3.81: 46.863 → 46.86.
        assert_eq!(mileage_ore(12_300, 381), 4_686);
        // 1.5 km at DKK 3.81: 5.715 → 5.72 (half up).
        assert_eq!(mileage_ore(1_500, 381), 572);
        assert_eq!(mileage_ore(1_000, 381), 381);
        assert_eq!(mileage_ore(1, 1), 0);
    }

    #[test]
    fn an_expense_above_the_allowance_or_without_one_is_flagged() {
        // Activity money DKK 600 per quarter (Ringsted-style cap, R-RV-9).
        let cap = Some(Allowance {
            amount_ore: 60_000,
            period: Period::Quarter,
        });
        assert!(!exceeds(cap, 60_000), "exactly the allowance is within it");
        assert!(exceeds(cap, 60_001));
        assert!(exceeds(None, 1), "no allowance granted");
        assert!(!exceeds(cap, -500), "after a reversal");
    }
}
