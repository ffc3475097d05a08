//! Whole years of age on a day, as Danish law counts them (the birthday itself counts; a child
//! born on 29 February turns a year older on 1 March in other years).

use chrono::{Datelike, NaiveDate};

/// The age of majority: from 18 there is no custody holder (R-RV-3).
pub const ADULT: u32 = 18;

/// The day a person born on `birth` turns `years` old: the same date that year, or 1 March for
/// someone born on 29 February in a year without one. `None` beyond the calendar.
pub fn birthday(birth: NaiveDate, years: u32) -> Option<NaiveDate> {
    let year = birth.year().checked_add(i32::try_from(years).ok()?)?;
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
}

pub fn age_years(birth: NaiveDate, on: NaiveDate) -> u32 {
    if on < birth {
        return 0;
    }
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn a_child_is_a_year_older_on_the_birthday_not_the_day_before() {
        assert_eq!(age_years(d(2014, 5, 10), d(2026, 5, 9)), 11);
        assert_eq!(age_years(d(2014, 5, 10), d(2026, 5, 10)), 12);
        assert_eq!(age_years(d(2012, 2, 29), d(2026, 2, 28)), 13);
        assert_eq!(age_years(d(2012, 2, 29), d(2026, 3, 1)), 14);
        assert_eq!(age_years(d(2026, 5, 10), d(2020, 1, 1)), 0);
    }

    #[test]
    fn r_rv_5_the_birthday_a_limit_is_counted_from_agrees_with_age_years() {
        assert_eq!(birthday(d(2008, 5, 10), 18), Some(d(2026, 5, 10)));
        assert_eq!(birthday(d(2008, 2, 29), 18), Some(d(2026, 3, 1)));
        assert_eq!(birthday(d(2008, 2, 29), 20), Some(d(2028, 2, 29)));
        for (birth, years) in [
            (d(2008, 5, 10), 18),
            (d(2008, 2, 29), 18),
            (d(2004, 2, 29), 23),
        ] {
            let day = birthday(birth, years).expect("in range");
            assert_eq!(age_years(birth, day), years);
            assert_eq!(age_years(birth, day.pred_opt().expect("day")), years - 1);
        }
    }
}
