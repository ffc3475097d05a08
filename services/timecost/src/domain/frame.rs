//! Budget frames: indexation to current prices (R-BF-1) and the expected split between the
//! municipalities sharing a frame (R-BF-2), computed exactly and rounded once.
//!
//! Rounding rules, written down here and applied nowhere else:
//! - **Indexation**: base × Π(1 + rate of each year after the base year), as an exact fraction,
//!   rounded half up to whole øre once at the end (never year by year).
//! - **Split**: each municipality's expected amount is the indexed amount × its exact share
//!   (a fraction, e.g. 2/3), rounded *down* to whole kroner — as the municipalities write their
//!   own figures (the seed's DKK 4,000,000 → 2,666,666 and 1,333,333). What rounding leaves over
//!   (at most one krone per municipality) stays in the frame unallocated.

use chrono::{Datelike as _, NaiveDate};
use num_bigint::BigInt;
use num_integer::Integer as _;
use num_traits::{Signed as _, ToPrimitive as _, Zero as _};

/// An exact share, e.g. 2/3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub numerator: i64,
    pub denominator: i64,
}

/// Why a frame's figures cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A year between the base year and the target year has no indexation rate yet.
    MissingRate(i32),
    /// The target year is before the base year.
    BeforeBaseYear,
    /// A share is not a positive fraction at most one, or the shares do not sum to one.
    Shares(String),
    /// The result does not fit in øre as i64.
    Overflow,
}

/// An amount in the prices of a year: a frame's own base, or one decided from a later year on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount {
    pub base_ore: i64,
    pub base_year: i32,
}

/// The amount in force in `year` (R-BF-1): of the amounts decided `(from_year, amount)`, the one
/// with the latest from_year not after `year`; before any, the frame's own.
pub fn amount_in_force(own: Amount, decided: &[(i32, Amount)], year: i32) -> Amount {
    decided
        .iter()
        .filter(|(from, _)| *from <= year)
        .max_by_key(|(from, _)| *from)
        .map_or(own, |(_, amount)| *amount)
}

/// Whether an amount may be decided from `from_year` on, on `today` (R-BF-1): only for a year
/// that has not begun (a year's figures stand once it runs) and inside the frame's period.
pub fn check_amount_year(
    from_year: i32,
    base_year: i32,
    today_year: i32,
    period: (NaiveDate, Option<NaiveDate>),
) -> Result<(), (&'static str, String)> {
    if from_year <= today_year {
        return Err((
            "frame_amount.from_year",
            format!("a year that has not begun: after {today_year}"),
        ));
    }
    if from_year <= period.0.year() || period.1.is_some_and(|end| from_year > end.year()) {
        return Err((
            "frame_amount.from_year",
            "a later year inside the frame's period".to_owned(),
        ));
    }
    if !(1990..=from_year).contains(&base_year) {
        return Err((
            "frame_amount.base_year",
            "the year whose prices the amount is in, at most from_year".to_owned(),
        ));
    }
    Ok(())
}

/// Rates in basis points per year: `rate(year)` indexes year−1 prices to `year`'s.
pub fn indexed_amount_ore(
    base_ore: i64,
    base_year: i32,
    year: i32,
    rate: impl Fn(i32) -> Option<i32>,
) -> Result<i64, FrameError> {
    if year < base_year {
        return Err(FrameError::BeforeBaseYear);
    }
    let mut numerator = BigInt::from(base_ore);
    let mut denominator = BigInt::from(1);
    for y in base_year + 1..=year {
        let bp = rate(y).ok_or(FrameError::MissingRate(y))?;
        numerator *= 10_000 + i64::from(bp);
        denominator *= 10_000;
    }
    round_half_up(&numerator, &denominator)
        .to_i64()
        .ok_or(FrameError::Overflow)
}

/// `n / d` rounded to the nearest integer, halves away from zero; `d > 0`.
fn round_half_up(n: &BigInt, d: &BigInt) -> BigInt {
    let twice: BigInt = n.abs() * 2 + d;
    let magnitude = twice.div_floor(&(d * 2));
    if n.is_negative() {
        -magnitude
    } else {
        magnitude
    }
}

/// Checks that `shares` are positive fractions that sum to exactly one.
pub fn check_shares(shares: &[Share]) -> Result<(), FrameError> {
    let mut sum_n = BigInt::zero();
    let mut sum_d = BigInt::from(1);
    for (i, s) in shares.iter().enumerate() {
        if s.denominator <= 0 || s.numerator <= 0 || s.numerator > s.denominator {
            return Err(FrameError::Shares(format!(
                "share {i} must be a fraction above 0 and at most 1"
            )));
        }
        sum_n = sum_n * s.denominator + &sum_d * s.numerator;
        sum_d *= s.denominator;
    }
    if shares.is_empty() || sum_n != sum_d {
        return Err(FrameError::Shares(
            "the shares must sum to exactly one".into(),
        ));
    }
    Ok(())
}

/// Each share of `amount_ore`, rounded down to whole kroner (see the module's rules).
pub fn split_ore(amount_ore: i64, shares: &[Share]) -> Result<Vec<i64>, FrameError> {
    check_shares(shares)?;
    shares
        .iter()
        .map(|s| {
            let exact = BigInt::from(amount_ore) * s.numerator;
            let kroner: BigInt = exact.div_floor(&(BigInt::from(s.denominator) * 100));
            (kroner * BigInt::from(100))
                .to_i64()
                .ok_or(FrameError::Overflow)
        })
        .collect()
}

/// `amount_ore` apportioned by `shares` to the øre, the parts adding up to it exactly: each
/// share rounded down, and the øre left over given one each to the largest remainders (first
/// in order on a tie). For costs charged to the municipalities by the split, such as the
/// coordinator function (R-BF-3), where nothing may be lost or made up by rounding.
pub fn apportion_ore(amount_ore: i64, shares: &[Share]) -> Result<Vec<i64>, FrameError> {
    check_shares(shares)?;
    let mut parts = Vec::with_capacity(shares.len());
    let mut remainders = Vec::with_capacity(shares.len());
    for (i, s) in shares.iter().enumerate() {
        let exact = BigInt::from(amount_ore) * s.numerator;
        let denominator = BigInt::from(s.denominator);
        let floor: BigInt = exact.div_floor(&denominator);
        // The remainder as a fraction of a øre, compared across shares on one denominator.
        let rest = (exact - &floor * &denominator) * BigInt::from(DENOMINATOR_SCALE) / &denominator;
        parts.push(floor.to_i64().ok_or(FrameError::Overflow)?);
        remainders.push((rest, i));
    }
    let given: i64 = parts.iter().sum();
    let mut left = amount_ore - given;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left <= 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    Ok(parts)
}

/// The scale remainders are compared on (a share's denominator is far below it).
const DENOMINATOR_SCALE: i64 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_bf_1_a_years_amount_is_the_latest_decided_from_it_or_before_else_the_frames_own() {
        let own = Amount {
            base_ore: 400_000_000,
            base_year: 2017,
        };
        let adjusted = Amount {
            base_ore: 520_000_000,
            base_year: 2027,
        };
        let later = Amount {
            base_ore: 540_000_000,
            base_year: 2029,
        };
        let decided = [(2029, later), (2027, adjusted)];
        assert_eq!(amount_in_force(own, &decided, 2026), own);
        assert_eq!(amount_in_force(own, &decided, 2027), adjusted);
        assert_eq!(amount_in_force(own, &decided, 2028), adjusted);
        assert_eq!(amount_in_force(own, &decided, 2030), later);
        assert_eq!(amount_in_force(own, &[], 2030), own);
    }

    #[test]
    fn r_bf_1_an_amount_is_decided_only_for_a_year_not_begun_inside_the_period() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("day");
        let open = (day(2018, 2, 1), None);
        assert_eq!(check_amount_year(2027, 2027, 2026, open), Ok(()));
        assert_eq!(check_amount_year(2027, 2017, 2026, open), Ok(()));
        assert!(check_amount_year(2026, 2026, 2026, open).is_err(), "begun");
        assert!(
            check_amount_year(2027, 2028, 2026, open).is_err(),
            "prices of a later year"
        );
        let ends = (day(2018, 2, 1), Some(day(2027, 12, 31)));
        assert_eq!(check_amount_year(2027, 2027, 2026, ends), Ok(()));
        assert!(
            check_amount_year(2028, 2028, 2026, ends).is_err(),
            "after the period"
        );
        let starts = (day(2030, 1, 1), None);
        assert!(
            check_amount_year(2030, 2030, 2026, starts).is_err(),
            "its first year is its own"
        );
    }

    const DKK: i64 = 100;

    fn third(n: i64) -> Share {
        Share {
            numerator: n,
            denominator: 3,
        }
    }

    #[test]
    fn the_seeds_frame_splits_two_thirds_one_third_into_whole_kroner_r_bf_2() {
        let split = split_ore(4_000_000 * DKK, &[third(2), third(1)]).expect("split");
        assert_eq!(split, [2_666_666 * DKK, 1_333_333 * DKK]);
    }

    #[test]
    fn shares_must_be_fractions_summing_to_one() {
        assert!(check_shares(&[third(2), third(1)]).is_ok());
        assert!(matches!(
            check_shares(&[third(2), third(2)]),
            Err(FrameError::Shares(_))
        ));
        // 6667 + 3333 basis points is one; 6667 + 3334 is not.
        let bp = |n| Share {
            numerator: n,
            denominator: 10_000,
        };
        assert!(check_shares(&[bp(6_667), bp(3_333)]).is_ok());
        assert!(check_shares(&[bp(6_667), bp(3_334)]).is_err());
        assert!(check_shares(&[]).is_err());
        assert!(
            check_shares(&[Share {
                numerator: 1,
                denominator: 0
            }])
            .is_err()
        );
    }

    #[test]
    fn indexation_multiplies_the_years_exactly_and_rounds_once_r_bf_1() {
        // Hand-computed: 4,000,000 × 1.018 × 1.021 = 4,157,512.00.
        let rates = |y| match y {
            2018 => Some(180),
            2019 => Some(210),
            _ => None,
        };
        assert_eq!(
            indexed_amount_ore(4_000_000 * DKK, 2017, 2019, rates),
            Ok(415_751_200)
        );
        assert_eq!(
            indexed_amount_ore(4_000_000 * DKK, 2017, 2017, rates),
            Ok(400_000_000)
        );
        assert_eq!(
            indexed_amount_ore(4_000_000 * DKK, 2017, 2020, rates),
            Err(FrameError::MissingRate(2020))
        );
        assert_eq!(
            indexed_amount_ore(100, 2017, 2016, rates),
            Err(FrameError::BeforeBaseYear)
        );
    }

    #[test]
    fn rounding_happens_once_not_year_by_year() {
        // 1 øre × 1.5 × 1.5 = 2.25 → 2 øre; rounding each year would give 2 → 3.
        let rates = |_| Some(5_000);
        assert_eq!(indexed_amount_ore(1, 2020, 2022, rates), Ok(2));
        // Half rounds up: 1 × 1.5 = 1.5 → 2; a fall below zero rounds away from zero.
        assert_eq!(indexed_amount_ore(1, 2020, 2021, rates), Ok(2));
        assert_eq!(indexed_amount_ore(-1, 2020, 2021, rates), Ok(-2));
        // A negative rate (prices fell) is data like any other.
        assert_eq!(
            indexed_amount_ore(1_000_000, 2020, 2021, |_| Some(-150)),
            Ok(985_000)
        );
    }

    #[test]
    fn r_bf_3_a_cost_apportioned_by_the_split_adds_up_to_the_oere() {
        // DKK 550,000.01 by 2/3–1/3: 366,666.67 and 183,333.34, together exactly the cost.
        let parts = apportion_ore(55_000_001, &[third(2), third(1)]).expect("split");
        assert_eq!(parts, [36_666_667, 18_333_334]);
        assert_eq!(parts.iter().sum::<i64>(), 55_000_001);
        let parts = apportion_ore(100, &[third(1), third(1), third(1)]).expect("split");
        assert_eq!(parts, [34, 33, 33]);
        assert_eq!(
            apportion_ore(0, &[third(2), third(1)]).expect("zero"),
            [0, 0]
        );
    }
}
