//! AIP-158 pagination: page sizes with a default and a cap, and opaque page tokens that carry the
//! last key seen (keyset pagination, so a page is cheap however deep it is).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};

use crate::ApiError;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;
/// Longest page token accepted; ours are far shorter.
pub const MAX_TOKEN_LEN: usize = 1024;

/// 0 means the default; above the cap is lowered to the cap (AIP-158); negative is refused.
pub fn page_size(requested: i32) -> Result<i64, ApiError> {
    match i64::from(requested) {
        n if n < 0 => Err(ApiError::invalid("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

/// A token is bound to the list it came from (`scope`, e.g. the method and its filter), so a
/// token from another query is refused instead of silently skipping rows.
pub fn encode_token(scope: &str, last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1\n{scope}\n{last_key}"))
}

/// The last key of the previous page, or `None` for the first page.
pub fn decode_token(scope: &str, token: &str) -> Result<Option<String>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || ApiError::invalid("page_token", "not a page token returned by this list");
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(s), Some(key)) if s == scope => Ok(Some(key.to_owned())),
        _ => Err(invalid()),
    }
}

/// A list position `(create_time, id)` as a token key, for lists ordered by creation.
pub fn time_key(time: DateTime<Utc>, id: &str) -> String {
    format!("{},{id}", time.timestamp_micros())
}

/// The position [`time_key`] wrote; anything else is a page token this list did not issue.
pub fn parse_time_key(key: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let invalid = || ApiError::invalid("page_token", "not a page token returned by this list");
    let (micros, id) = key.split_once(',').ok_or_else(invalid)?;
    let time = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    Ok((time, id.to_owned()))
}

/// Where a list ordered by creation goes on: the [`time_key`] in a page token of `scope`, or
/// `None` for the first page.
pub fn decode_time_token(
    scope: &str,
    token: &str,
) -> Result<Option<(DateTime<Utc>, String)>, ApiError> {
    decode_token(scope, token)?
        .map(|key| parse_time_key(&key))
        .transpose()
}

/// A list position `(day, id)` as a token key, for lists ordered by a date (due lists).
pub fn date_key(day: NaiveDate, id: &str) -> String {
    format!("{day}/{id}")
}

/// Where a list ordered by a date goes on: the [`date_key`] in a page token of `scope`, or
/// `None` for the first page.
pub fn decode_date_token(
    scope: &str,
    token: &str,
) -> Result<Option<(NaiveDate, String)>, ApiError> {
    decode_token(scope, token)?
        .map(|key| {
            key.split_once('/')
                .and_then(|(d, id)| {
                    NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .ok()
                        .map(|d| (d, id.to_owned()))
                })
                .ok_or_else(|| ApiError::invalid("page_token", "not from this query"))
        })
        .transpose()
}

/// Turns rows fetched with `LIMIT page_size + 1` into one page and the token for the next:
/// the extra row only tells that more exist.
pub fn finish_page<T, K: std::fmt::Display>(
    mut rows: Vec<T>,
    page_size: i64,
    scope: &str,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, String) {
    let page_size = usize::try_from(page_size).unwrap_or(usize::MAX);
    if rows.len() <= page_size {
        return (rows, String::new());
    }
    rows.truncate(page_size);
    let token = rows.last().map_or_else(String::new, |last| {
        encode_token(scope, &key(last).to_string())
    });
    (rows, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_key_round_trips_and_nothing_else_parses() {
        let time = DateTime::from_timestamp_micros(1_795_493_590_123_456).expect("time");
        let key = time_key(time, "g-1");
        assert_eq!(parse_time_key(&key).ok(), Some((time, "g-1".to_owned())));
        for bad in ["", "g-1", "x,g-1", "99999999999999999999,g"] {
            assert!(parse_time_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_time_token_gives_back_the_position_it_was_made_from() {
        let time = DateTime::from_timestamp_micros(1_795_493_590_123_456).expect("time");
        let token = encode_token("grants", &time_key(time, "g-1"));
        assert_eq!(
            decode_time_token("grants", &token).ok().flatten(),
            Some((time, "g-1".to_owned()))
        );
        assert_eq!(decode_time_token("grants", "").ok(), Some(None));
        assert!(decode_time_token("grants", &encode_token("grants", "g-1")).is_err());
        assert!(decode_time_token("referrals", &token).is_err());
    }

    #[test]
    fn a_date_token_gives_back_the_position_it_was_made_from() {
        let day = NaiveDate::from_ymd_opt(2027, 2, 15).expect("day");
        let token = encode_token("due?x", &date_key(day, "f-1"));
        assert_eq!(
            decode_date_token("due?x", &token).expect("ours"),
            Some((day, "f-1".to_owned()))
        );
        assert_eq!(decode_date_token("due?x", "").expect("first page"), None);
        assert!(
            decode_date_token("due?y", &token).is_err(),
            "another query's"
        );
        let not_a_day = encode_token("due?x", "tomorrow/f-1");
        assert!(decode_date_token("due?x", &not_a_day).is_err());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(7).ok(), Some(7));
        assert_eq!(page_size(10_000).ok(), Some(MAX_PAGE_SIZE));
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn a_token_round_trips_only_within_its_own_list() {
        let token = encode_token("legalBases", "sel-52-3-6");
        assert_eq!(
            decode_token("legalBases", &token).ok().flatten().as_deref(),
            Some("sel-52-3-6")
        );
        assert!(decode_token("competences", &token).is_err());
        assert!(decode_token("legalBases", "garbage!").is_err());
        assert_eq!(decode_token("legalBases", "").ok(), Some(None));
        assert!(decode_token("legalBases", &"A".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }

    #[test]
    fn a_full_page_gets_a_token_and_the_last_page_none() {
        let (page, token) = finish_page(vec!["a", "b", "c"], 2, "s", |s| *s);
        assert_eq!(page, ["a", "b"]);
        assert_eq!(
            decode_token("s", &token).ok().flatten().as_deref(),
            Some("b")
        );
        let (page, token) = finish_page(vec!["a", "b"], 2, "s", |s| *s);
        assert_eq!(page, ["a", "b"]);
        assert!(token.is_empty());
    }
}
