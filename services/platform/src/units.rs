//! The units every service counts in — minutes a week and øre — each bounded once, here.
//!
//! A value is parsed into its newtype where it enters (a request field, a policy, an event);
//! what holds one has a value in range. The bounds are facts (a week has 10,080 minutes) or a
//! guard against typing errors, never a municipality's policy (that is data).

use kontakt_proto::common::v1::Money;

/// The minutes of a week (7 × 24 × 60): no weekly figure — requested, granted, a policy's
/// maximum, a person's capacity — can be more.
pub const MINUTES_IN_A_WEEK: i32 = 7 * 24 * 60;

/// Minutes a week, 0 to [`MINUTES_IN_A_WEEK`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeeklyMinutes(i32);

impl WeeklyMinutes {
    pub const ZERO: Self = Self(0);
    pub const WEEK: Self = Self(MINUTES_IN_A_WEEK);

    /// 0 to 10,080 minutes (0: none, or "no maximum" where a limit is meant).
    pub fn new(minutes: i32) -> Option<Self> {
        (0..=MINUTES_IN_A_WEEK)
            .contains(&minutes)
            .then_some(Self(minutes))
    }

    /// 1 to 10,080 minutes: what a grant, an assignment or an adjustment gives.
    pub fn positive(minutes: i32) -> Option<Self> {
        Self::new(minutes).filter(|m| m.0 > 0)
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

impl From<WeeklyMinutes> for i32 {
    fn from(minutes: WeeklyMinutes) -> Self {
        minutes.0
    }
}

/// An amount in øre (1/100 krone), as stored and as [`Money`] carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ore(i64);

impl Ore {
    /// The highest price per hour accepted: DKK 100,000.00. No real rate comes near it; it
    /// catches an amount typed in kroner where øre were meant, or a stray digit.
    pub const MAX_HOURLY_PRICE: Self = Self(10_000_000);

    pub const fn new(ore: i64) -> Self {
        Self(ore)
    }

    /// A price per hour: required, above 0 and at most [`Ore::MAX_HOURLY_PRICE`].
    pub fn hourly_price(money: Option<&Money>) -> Option<Self> {
        money
            .map(|m| Self(m.ore))
            .filter(|ore| ore.0 > 0 && *ore <= Self::MAX_HOURLY_PRICE)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn to_money(self) -> Money {
        Money { ore: self.0 }
    }
}

impl From<Ore> for i64 {
    fn from(ore: Ore) -> Self {
        ore.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_minutes_run_from_none_to_a_whole_week() {
        assert_eq!(WeeklyMinutes::new(0), Some(WeeklyMinutes::ZERO));
        assert_eq!(WeeklyMinutes::new(10_080), Some(WeeklyMinutes::WEEK));
        assert_eq!(WeeklyMinutes::new(10_081), None);
        assert_eq!(WeeklyMinutes::new(-1), None);
        assert_eq!(WeeklyMinutes::positive(0), None);
        assert_eq!(WeeklyMinutes::positive(1).map(WeeklyMinutes::get), Some(1));
    }

    #[test]
    fn an_hourly_price_is_above_nothing_and_at_most_dkk_100000() {
        let money = |ore| Some(Money { ore });
        assert_eq!(Ore::hourly_price(money(1).as_ref()), Some(Ore::new(1)));
        assert_eq!(
            Ore::hourly_price(money(10_000_000).as_ref()),
            Some(Ore::MAX_HOURLY_PRICE)
        );
        assert_eq!(Ore::hourly_price(money(10_000_001).as_ref()), None);
        assert_eq!(Ore::hourly_price(money(0).as_ref()), None);
        assert_eq!(Ore::hourly_price(None), None);
    }
}
