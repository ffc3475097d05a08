//! How the console writes numbers, dates and amounts for Danish users: `dd.mm.åååå`,
//! `1.234,56 kr.`, hours as `3 t 30 min`. Pure functions; every page uses these and no other.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use kontakt_proto::common::v1::{Date, Money};

/// `03.12.2026`.
pub fn date(date: NaiveDate) -> String {
    format!("{:02}.{:02}.{:04}", date.day(), date.month(), date.year())
}

/// A protobuf date as `dd.mm.åååå`; an unset or impossible one as `–`.
pub fn proto_date(value: Option<&Date>) -> String {
    value
        .and_then(Date::to_naive)
        .map_or_else(|| "–".to_owned(), date)
}

/// A point in time in Danish local time, `03.12.2026 kl. 14:05`.
pub fn timestamp(value: Option<&prost_types::Timestamp>) -> String {
    let Some(at) = value.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, 0)) else {
        return "–".to_owned();
    };
    let local = at.with_timezone(&chrono_tz::Europe::Copenhagen);
    format!("{} kl. {}", date(local.date_naive()), local.format("%H:%M"))
}

/// A whole number with `.` between thousands: `1.234.567`, `-12.000`.
pub fn integer(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if value < 0 {
        out.insert(0, '-');
    }
    out
}

/// Øre as kroner: `1.234,56 kr.`.
pub fn kroner(ore: i64) -> String {
    format!("{} kr.", kroner_number(ore))
}

/// Øre as a Danish decimal without the unit: `1.234,56`.
pub fn kroner_number(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let abs = ore.unsigned_abs();
    let whole = i64::try_from(abs / 100).unwrap_or(i64::MAX);
    format!("{sign}{},{:02}", integer(whole), abs % 100)
}

/// A protobuf amount, or `–` when absent.
pub fn money(value: Option<&Money>) -> String {
    value.map_or_else(|| "–".to_owned(), |m| kroner(m.ore))
}

/// Minutes as hours and minutes: `3 t 30 min`, `45 min`, `2 t`.
pub fn minutes(total: i64) -> String {
    let sign = if total < 0 { "-" } else { "" };
    let abs = total.unsigned_abs();
    match (abs / 60, abs % 60) {
        (0, m) => format!("{sign}{m} min"),
        (h, 0) => format!("{sign}{h} t"),
        (h, m) => format!("{sign}{h} t {m} min"),
    }
}

/// Minutes a week as hours, Danish decimals: `4,5 t/uge`.
pub fn hours_per_week(minutes: i32) -> String {
    let tenths = (i64::from(minutes) * 10 + 30) / 60;
    if tenths % 10 == 0 {
        format!("{} t/uge", tenths / 10)
    } else {
        format!("{},{} t/uge", tenths / 10, tenths % 10)
    }
}

/// `dd.mm.åååå` (also `d.m.åååå`, and the ISO `åååå-mm-dd` a date picker sends) as a date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%d.%m.%Y"))
        .ok()
}

/// A Danish amount in kroner (`1.234,56`, `1234,5`, `1234`) as øre.
pub fn parse_kroner(text: &str) -> Option<i64> {
    let cleaned: String = text
        .trim()
        .trim_end_matches("kr.")
        .trim()
        .chars()
        .filter(|c| *c != '.' && !c.is_whitespace())
        .collect();
    let (whole, fraction) = cleaned.split_once(',').unwrap_or((&cleaned, ""));
    if whole.is_empty() || fraction.len() > 2 || !whole.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

/// The official name of a municipality by its code (Danmarks Statistik's codes), or the code.
pub fn municipality(code: &str) -> String {
    let code = code.rsplit('/').next().unwrap_or(code);
    let name = match code {
        "101" => "København",
        "147" => "Frederiksberg",
        "151" => "Ballerup",
        "153" => "Brøndby",
        "165" => "Albertslund",
        "167" => "Hvidovre",
        "169" => "Høje-Taastrup",
        "175" => "Rødovre",
        "183" => "Ishøj",
        "187" => "Vallensbæk",
        "253" => "Greve",
        "259" => "Køge",
        "265" => "Roskilde",
        "329" => "Ringsted",
        "330" => "Slagelse",
        "751" => "Aarhus",
        "851" => "Aalborg",
        "461" => "Odense",
        _ => return format!("Kommune {code}"),
    };
    name.to_owned()
}

/// Danish month names, for tables and the budget plot.
pub const MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
];

/// The short month, `jan.`, `feb.` … (`maj` and `juni`/`juli` are written out).
pub fn short_month(month: u32) -> &'static str {
    const SHORT: [&str; 12] = [
        "jan.", "feb.", "mar.", "apr.", "maj", "juni", "juli", "aug.", "sep.", "okt.", "nov.",
        "dec.",
    ];
    SHORT
        .get(month.wrapping_sub(1) as usize)
        .copied()
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a real date")
    }

    #[test]
    fn dates_are_written_day_month_year_with_points() {
        assert_eq!(date(day(2026, 3, 7)), "07.03.2026");
        assert_eq!(proto_date(None), "–");
        let impossible = Date {
            year: 2026,
            month: 2,
            day: 30,
        };
        assert_eq!(proto_date(Some(&impossible)), "–");
    }

    #[test]
    fn amounts_are_kroner_with_thousands_points_and_a_decimal_comma() {
        assert_eq!(kroner(123_456), "1.234,56 kr.");
        assert_eq!(kroner(5), "0,05 kr.");
        assert_eq!(kroner(-100_000_000), "-1.000.000,00 kr.");
        assert_eq!(kroner(i64::MIN), "-92.233.720.368.547.758,08 kr.");
        assert_eq!(integer(999), "999");
        assert_eq!(integer(1000), "1.000");
    }

    #[test]
    fn minutes_read_as_hours_and_minutes() {
        assert_eq!(minutes(210), "3 t 30 min");
        assert_eq!(minutes(45), "45 min");
        assert_eq!(minutes(120), "2 t");
        assert_eq!(minutes(-90), "-1 t 30 min");
        assert_eq!(hours_per_week(270), "4,5 t/uge");
        assert_eq!(hours_per_week(180), "3 t/uge");
    }

    #[test]
    fn danish_and_iso_dates_and_amounts_parse() {
        assert_eq!(parse_date("07.03.2026"), Some(day(2026, 3, 7)));
        assert_eq!(parse_date("7.3.2026"), Some(day(2026, 3, 7)));
        assert_eq!(parse_date("2026-03-07"), Some(day(2026, 3, 7)));
        assert_eq!(parse_date("30.02.2026"), None);
        assert_eq!(parse_kroner("1.234,56"), Some(123_456));
        assert_eq!(parse_kroner("450 kr."), Some(45_000));
        assert_eq!(parse_kroner("12,5"), Some(1_250));
        assert_eq!(parse_kroner("12,555"), None);
        assert_eq!(parse_kroner("-5"), None);
        assert_eq!(parse_kroner("abc"), None);
    }

    #[test]
    fn municipalities_are_named_by_their_code() {
        assert_eq!(municipality("183"), "Ishøj");
        assert_eq!(municipality("municipalities/329"), "Ringsted");
        assert_eq!(municipality("999"), "Kommune 999");
        assert_eq!(short_month(5), "maj");
        assert_eq!(short_month(13), "");
    }
}
