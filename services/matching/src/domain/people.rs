//! What makes a contact person, provider or contract record valid: the rules an input must meet
//! before it is stored, each failure naming its field (R-MP-1, R-MP-4, R-MP-6, R-TC-3).

use chrono::NaiveDate;
use kontakt_platform::Refusal;

/// A period with an inclusive end; `None` = open-ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Period {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }

    fn overlaps(&self, other: &Period) -> bool {
        let ends_before = |a: &Period, b: &Period| a.to.is_some_and(|to| to < b.from);
        !ends_before(self, other) && !ends_before(other, self)
    }
}

/// Holiday pay on an hourly wage (R-TC-3: 12.5 %), in thousandths.
const HOLIDAY_PAY_PER_MILLE: i64 = 125;

/// An hourly hire's cost per hour: wage plus 12.5 % holiday pay, rounded half up to whole øre
/// once, here.
pub fn hourly_hire_cost_ore(wage_ore: i64) -> i64 {
    (wage_ore * (1_000 + HOLIDAY_PAY_PER_MILLE) + 500) / 1_000
}

/// The first pair of periods that overlap, as indexes into `periods`.
pub fn first_overlap(periods: &[Period]) -> Option<(usize, usize)> {
    for (i, a) in periods.iter().enumerate() {
        for (j, b) in periods.iter().enumerate().skip(i + 1) {
            if a.overlaps(b) {
                return Some((i, j));
            }
        }
    }
    None
}

/// A Danish CVR number: 8 digits, not starting with 0, whose weighted sum (2, 7, 6, 5, 4, 3,
/// 2, 1) is divisible by 11 (the register's modulus-11 check).
pub fn valid_cvr(cvr: &str) -> bool {
    const WEIGHTS: [u32; 8] = [2, 7, 6, 5, 4, 3, 2, 1];
    let digits: Vec<u32> = cvr.chars().filter_map(|c| c.to_digit(10)).collect();
    digits.len() == 8
        && cvr.len() == 8
        && digits[0] != 0
        && digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum::<u32>() % 11 == 0
}

/// Capacity left for assignments once other duties are counted (R-MP-4); negative = the duties
/// alone exceed the capacity.
pub fn capacity_for_assignments(weekly_capacity: i32, duties: &[i32]) -> i64 {
    i64::from(weekly_capacity) - duties.iter().map(|&m| i64::from(m)).sum::<i64>()
}

/// R-MP-4: a person's capacity, less other duties, still holds what their active assignments
/// book; otherwise the change is refused (end or change assignments first).
pub fn capacity_covers_bookings(
    weekly_capacity: i32,
    duties: &[i32],
    booked: i32,
) -> Result<(), Refusal> {
    let room = capacity_for_assignments(weekly_capacity, duties);
    if room >= i64::from(booked) {
        return Ok(());
    }
    Err(
        Refusal::rule("R-MP-4", "weekly_capacity_minutes", "never overbooked")
            .with_reason("CAPACITY_BELOW_BOOKINGS")
            .with_message(format!(
                "active assignments book {booked} minutes a week; capacity less other duties \
                 would leave {room} (R-MP-4): end or change assignments first"
            )),
    )
}

/// R-MP-4: `person` does not have `minutes` more free minutes a week (the booking said so).
pub fn no_capacity(person: &str, minutes: i32) -> Refusal {
    Refusal::rule("R-MP-4", "contact_person", "never overbooked")
        .with_reason("NO_CAPACITY")
        .with_message(format!(
            "{person} does not have {minutes} free minutes a week (R-MP-4)"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn holiday_pay_is_added_and_rounded_half_up_once() {
        assert_eq!(hourly_hire_cost_ore(20_000), 22_500);
        // 199.99 × 1.125 = 224.98875 → 224.99
        assert_eq!(hourly_hire_cost_ore(19_999), 22_499);
        // 0.04 × 1.125 = 0.045 → 0.05 (half up)
        assert_eq!(hourly_hire_cost_ore(4), 5);
    }

    #[test]
    fn periods_that_share_a_day_overlap_and_adjacent_ones_do_not() {
        let jan = Period {
            from: day(2026, 1, 1),
            to: Some(day(2026, 1, 31)),
        };
        let feb_on = Period {
            from: day(2026, 2, 1),
            to: None,
        };
        let last_of_jan = Period {
            from: day(2026, 1, 31),
            to: None,
        };
        assert_eq!(first_overlap(&[jan, feb_on]), None);
        assert_eq!(first_overlap(&[jan, feb_on, last_of_jan]), Some((0, 2)));
        assert!(feb_on.contains(day(2030, 1, 1)));
        assert!(!jan.contains(day(2026, 2, 1)));
    }

    #[test]
    fn cvr_numbers_pass_the_modulus_11_check() {
        // 2·1 + 7·2 + 6·3 + 5·4 + 4·5 + 3·6 + 2·7 + 1·4 = 110 = 10 · 11.
        assert!(valid_cvr("12345674"));
        assert!(valid_cvr("31415926"));
        assert!(!valid_cvr("12345671"));
        assert!(!valid_cvr("1234567"));
        assert!(!valid_cvr("1234567a"));
        assert!(!valid_cvr("02345674"));
        assert!(!valid_cvr("１2345674"));
    }

    #[test]
    fn other_duties_use_capacity() {
        assert_eq!(capacity_for_assignments(1_200, &[300, 120]), 780);
        assert_eq!(capacity_for_assignments(100, &[300]), -200);
    }

    #[test]
    fn capacity_may_not_fall_below_what_assignments_book_r_mp_4() {
        assert_eq!(capacity_covers_bookings(1_200, &[300], 900), Ok(()));
        let refusal = capacity_covers_bookings(1_200, &[300, 120], 900).expect_err("overbooked");
        assert_eq!(refusal.reason, "CAPACITY_BELOW_BOOKINGS");
        assert_eq!(
            refusal.message,
            "active assignments book 900 minutes a week; capacity less other duties would leave \
             780 (R-MP-4): end or change assignments first"
        );
        assert_eq!(refusal.violations[0].rule, "R-MP-4");
        assert_eq!(refusal.violations[0].subject, "weekly_capacity_minutes");
    }

    #[test]
    fn a_booking_without_room_is_refused_as_no_capacity_r_mp_4() {
        let refusal = no_capacity("serviceUnits/u/contactPersons/anna", 180);
        assert_eq!(refusal.reason, "NO_CAPACITY");
        assert_eq!(
            refusal.message,
            "serviceUnits/u/contactPersons/anna does not have 180 free minutes a week (R-MP-4)"
        );
        assert_eq!(
            (
                refusal.violations[0].rule.as_str(),
                refusal.violations[0].subject.as_str(),
                refusal.violations[0].description.as_str()
            ),
            ("R-MP-4", "contact_person", "never overbooked")
        );
    }
}
