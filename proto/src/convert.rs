//! Conversions between generated messages and the Rust types the services compute with.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::common::v1::Date;

impl From<NaiveDate> for Date {
    fn from(date: NaiveDate) -> Self {
        Date {
            year: date.year(),
            month: date.month() as i32,
            day: date.day() as i32,
        }
    }
}

/// A point in time as protobuf carries it.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

impl Date {
    /// The calendar date, or `None` when the fields do not form one (e.g. 31 February) or the
    /// year is outside 1900..=2199, which no date in this domain can be (year 0 is the unset
    /// date).
    pub fn to_naive(&self) -> Option<NaiveDate> {
        if !(1900..=2199).contains(&self.year) {
            return None;
        }
        let month = u32::try_from(self.month).ok()?;
        let day = u32::try_from(self.day).ok()?;
        NaiveDate::from_ymd_opt(self.year, month, day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_impossible_dates_are_none() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).expect("leap day");
        assert_eq!(Date::from(date).to_naive(), Some(date));
        let impossible = Date {
            year: 2023,
            month: 2,
            day: 29,
        };
        assert_eq!(impossible.to_naive(), None);
        let negative = Date {
            year: 2023,
            month: -1,
            day: 1,
        };
        assert_eq!(negative.to_naive(), None);
        for year in [0, 1899, 2200, i32::MAX] {
            let far = Date {
                year,
                month: 1,
                day: 1,
            };
            assert_eq!(far.to_naive(), None, "{year}");
        }
    }
}
