//! CPR numbers (R-DP-1): parsed, never printed, encrypted at rest, found by a keyed hash.
//!
//! A CPR number is `DDMMYY-SSSS`: a real calendar date whose century follows from the 7th digit.
//! Modulus 11 is deliberately NOT checked: numbers without it have been issued since 2007.
//! [`Cpr`]'s `Debug` and `Display` print no digit of it, so it cannot leak into logs, traces or
//! error messages by accident; [`Cpr::expose`] is the one, greppable way to read it.

use std::fmt;

use chrono::NaiveDate;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cpr {
    /// The ten digits, without the hyphen.
    digits: [u8; 10],
    birth_date: NaiveDate,
}

/// Why a text is not a CPR number. Deliberately says nothing about the digits themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CprError {
    #[error("a CPR number is 10 digits, written DDMMYY-SSSS or DDMMYYSSSS")]
    Format,
    #[error("the first six digits of a CPR number must be a real date (DDMMYY)")]
    Date,
}

impl Cpr {
    /// Parses `DDMMYY-SSSS` or `DDMMYYSSSS` (surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self, CprError> {
        let text = text.trim();
        let compact: String = match text.len() {
            11 if text.as_bytes()[6] == b'-' => format!("{}{}", &text[..6], &text[7..]),
            10 => text.to_owned(),
            _ => return Err(CprError::Format),
        };
        if !compact.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CprError::Format);
        }
        let mut digits = [0u8; 10];
        for (slot, byte) in digits.iter_mut().zip(compact.bytes()) {
            *slot = byte - b'0';
        }
        let day = u32::from(digits[0] * 10 + digits[1]);
        let month = u32::from(digits[2] * 10 + digits[3]);
        let yy = i32::from(digits[4] * 10 + digits[5]);
        let year = century_start(digits[6], yy) + yy;
        let birth_date = NaiveDate::from_ymd_opt(year, month, day).ok_or(CprError::Date)?;
        Ok(Self { digits, birth_date })
    }

    /// The birth date the number encodes.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The ten digits (no hyphen). Only for encryption, the blind index and an authorised
    /// display; never log or trace the result.
    pub fn expose(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

/// The first year of the century a CPR number's birth year falls in, from the 7th digit and
/// the two-digit year (the CPR office's rule).
fn century_start(seventh: u8, yy: i32) -> i32 {
    match seventh {
        0..=3 => 1900,
        4 | 9 => {
            if yy <= 36 {
                2000
            } else {
                1900
            }
        }
        // 5 to 8
        _ => {
            if yy <= 57 {
                2000
            } else {
                1800
            }
        }
    }
}

impl fmt::Debug for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cpr(<redacted>)")
    }
}

impl fmt::Display for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<CPR redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn the_century_follows_the_seventh_digit() {
        // (7th digit, YY, expected year) for every band edge of the CPR office's table.
        let cases = [
            (0, 0, 1900),
            (3, 99, 1999),
            (4, 0, 2000),
            (4, 36, 2036),
            (4, 37, 1937),
            (4, 99, 1999),
            (5, 0, 2000),
            (5, 57, 2057),
            (5, 58, 1858),
            (8, 99, 1899),
            (9, 0, 2000),
            (9, 36, 2036),
            (9, 37, 1937),
            (9, 99, 1999),
        ];
        for (seventh, yy, year) in cases {
            let text = format!("0101{yy:02}-{seventh}000");
            let cpr = Cpr::parse(&text).expect("valid");
            assert_eq!(cpr.birth_date().year(), year, "{seventh} with {yy:02}");
        }
    }

    #[test]
    fn both_written_forms_are_accepted_and_mean_the_same() {
        let with = Cpr::parse("010203-1234").expect("with hyphen");
        let without = Cpr::parse(" 0102031234 ").expect("without hyphen");
        assert_eq!(with, without);
        assert_eq!(with.birth_date(), date(1903, 2, 1));
        assert_eq!(with.expose(), "0102031234");
    }

    #[test]
    fn malformed_numbers_and_impossible_dates_are_refused() {
        for bad in [
            "",
            "01020312345",
            "0102-031234",
            "010203-12a4",
            "010203 1234",
            "0102031234x",
        ] {
            assert_eq!(Cpr::parse(bad), Err(CprError::Format), "{bad:?}");
        }
        for bad in [
            "320101-1234",
            "001201-1234",
            "011301-1234",
            "290200-1234",
            "310401-1234",
        ] {
            assert_eq!(Cpr::parse(bad), Err(CprError::Date), "{bad:?}");
        }
        // 29 February: 1900 was no leap year, 2000 was.
        assert!(Cpr::parse("290200-4000").is_ok());
        assert!(Cpr::parse("290200-0000").is_err());
    }

    #[test]
    fn debug_and_display_show_no_digit() {
        let cpr = Cpr::parse("241124-4321").expect("valid");
        for shown in [
            format!("{cpr:?}"),
            format!("{cpr}"),
            format!("{:?}", Some(&cpr)),
        ] {
            assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
        }
        // Refusals never echo the input.
        let refused = Cpr::parse("241324-4321").expect_err("month 13");
        assert!(!refused.to_string().contains("241324"));
    }

    /// Weighted sum modulo 11 of the old check rule.
    fn passes_modulus_11(digits: &str) -> bool {
        let weights = [4, 3, 2, 7, 6, 5, 4, 3, 2, 1];
        let sum: u32 = digits
            .bytes()
            .zip(weights)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        sum.is_multiple_of(11)
    }

    /// Any birth date in the CPR range with a 7th digit whose band covers it.
    fn valid_cpr() -> impl Strategy<Value = (NaiveDate, String)> {
        (1858i32..=2057, 1u32..=12, 1u32..=31, 0u32..1000).prop_filter_map(
            "real dates",
            |(y, m, d, tail)| {
                let born = NaiveDate::from_ymd_opt(y, m, d)?;
                let yy = y % 100;
                let candidates: Vec<u8> = (0..=9)
                    .filter(|&s| century_start(s, yy) + yy == y)
                    .collect();
                let seventh = *candidates.get(tail as usize % candidates.len().max(1))?;
                Some((born, format!("{d:02}{m:02}{yy:02}-{seventh}{tail:03}")))
            },
        )
    }

    proptest! {
        #[test]
        fn every_valid_number_parses_to_its_birth_date((born, text) in valid_cpr()) {
            let cpr = Cpr::parse(&text).expect("valid");
            prop_assert_eq!(cpr.birth_date(), born);
            prop_assert_eq!(cpr.expose(), text.replace('-', ""));
        }

        #[test]
        fn numbers_failing_modulus_11_are_accepted((born, text) in valid_cpr()) {
            let compact = text.replace('-', "");
            prop_assume!(!passes_modulus_11(&compact));
            let cpr = Cpr::parse(&compact);
            prop_assert_eq!(cpr.map(|c| c.birth_date()).ok(), Some(born));
        }

        #[test]
        fn any_text_is_answered_without_panic_and_only_ten_digits_pass(text in ".{0,16}") {
            if let Ok(cpr) = Cpr::parse(&text) {
                prop_assert_eq!(cpr.expose().len(), 10);
                prop_assert!(text.trim().replace('-', "") == cpr.expose());
            }
        }
    }

    #[test]
    fn a_number_without_modulus_11_is_valid() {
        // 010180-4001 fails the old rule and is a real number format since 2007.
        assert!(!passes_modulus_11("0101804001"));
        assert!(Cpr::parse("010180-4001").is_ok());
    }
}
