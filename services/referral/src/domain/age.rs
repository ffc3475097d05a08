//! Whole years of age on a day, as Danish law counts them (the birthday itself counts; a child
//! born on 29 February turns a year older on 1 March in other years).

use chrono::{Datelike, NaiveDate};

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
}
