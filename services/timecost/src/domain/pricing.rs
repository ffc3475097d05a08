//! What time costs (R-TC-3): minutes × the hourly rate valid on the day, in integer money.
//!
//! The rounding rule, written down here and applied once: an entry's cost is kept exact, as
//! minutes × the rate in eighths of an øre per hour (the eighth carries the 12.5 % holiday pay
//! of an hourly wage, ×9/8, without loss). Sums are taken of those exact figures; only a figure
//! shown or exported is turned into øre, by [`to_ore`], rounding half up — once, at the end.
//! So a month's cost never differs from the sum of its days by a rounding error.

/// How a contact person's time is priced (from matching's assignment events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Permanent staff: the staff cost rate per hour.
    StaffCost,
    /// Hourly hire: the hourly wage plus holiday pay (feriegodtgørelse) of 12.5 %.
    HourlyWage,
    /// A provider's person: the agreed or contract price per hour.
    ProviderPrice,
}

/// Exact cost units per øre: 60 minutes × 8 eighths.
pub const UNITS_PER_ORE: i64 = 480;

/// The rate in eighths of an øre per hour for a rate of `hourly_ore` on `basis`.
pub fn eighths_per_hour(basis: Basis, hourly_ore: i64) -> i64 {
    match basis {
        // Wage × 1.125 = wage × 9 / 8.
        Basis::HourlyWage => hourly_ore * 9,
        Basis::StaffCost | Basis::ProviderPrice => hourly_ore * 8,
    }
}

/// The exact cost of `minutes` at `hourly_ore` on `basis`, in 1/480 øre. Negative minutes (a
/// reversing entry) give a negative cost that cancels the original exactly.
pub fn cost_units(basis: Basis, hourly_ore: i64, minutes: i64) -> i64 {
    minutes * eighths_per_hour(basis, hourly_ore)
}

/// Exact units to øre, rounding half up (away from zero) — the one rounding.
pub fn to_ore(units: i64) -> i64 {
    let magnitude = (units.abs() * 2 + UNITS_PER_ORE) / (UNITS_PER_ORE * 2);
    if units < 0 { -magnitude } else { magnitude }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_costs_the_rate_and_an_hourly_hire_costs_the_wage_plus_holiday_pay() {
        assert_eq!(to_ore(cost_units(Basis::StaffCost, 32_000, 60)), 32_000);
        assert_eq!(to_ore(cost_units(Basis::ProviderPrice, 52_500, 90)), 78_750);
        // DKK 200 wage: 225.00 an hour with 12.5 % holiday pay.
        assert_eq!(to_ore(cost_units(Basis::HourlyWage, 20_000, 60)), 22_500);
    }

    #[test]
    fn rounding_happens_once_on_the_sum_not_per_entry() {
        // 7 minutes at a DKK 199.99 wage: exactly 2,624.86875 øre → 2,625.
        let one = cost_units(Basis::HourlyWage, 19_999, 7);
        assert_eq!(to_ore(one), 2_625);
        assert_eq!(to_ore(3 * one), 7_875, "exactly 7,874.60625");
        // Where per-entry rounding drifts: 1 minute at DKK 1.00 is 1.67 øre → 2, but three
        // such minutes are 5 øre, not 6.
        assert_eq!(to_ore(cost_units(Basis::StaffCost, 100, 1)), 2);
        assert_eq!(to_ore(3 * cost_units(Basis::StaffCost, 100, 1)), 5);
    }

    #[test]
    fn a_reversing_entry_cancels_the_original_exactly() {
        let entry = cost_units(Basis::HourlyWage, 19_500, 45);
        let reversal = cost_units(Basis::HourlyWage, 19_500, -45);
        assert_eq!(entry + reversal, 0);
        assert_eq!(to_ore(reversal), -to_ore(entry));
    }
}
