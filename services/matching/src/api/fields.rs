//! Checks of input shared by people and providers: competence and municipality lists, text,
//! prices and periods, each wrong one named by its field (AIP-193); and the catalogue check.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use kontakt_platform::ApiError;
use kontakt_platform::auth::MunicipalityCode;
use kontakt_platform::resource::valid_id;
use kontakt_platform::units::Ore;
use kontakt_proto::common::v1::{DateRange, Money};
use tonic_types::FieldViolation;

use super::MatchingApi;
use crate::domain::people::Period;

pub(super) fn money(ore: i64) -> Option<Money> {
    Some(Money { ore })
}

pub(super) fn range(from: NaiveDate, to: Option<NaiveDate>) -> Option<DateRange> {
    Some(DateRange {
        start: Some(from.into()),
        end: to.map(Into::into),
    })
}

/// `competences/{code}` names → codes, sorted and unique; every wrong one is reported.
pub(super) fn competence_codes(
    names: &[String],
    field: &str,
    wrong: &mut Vec<FieldViolation>,
) -> Vec<String> {
    if names.len() > 50 {
        wrong.push(FieldViolation::new(field, "at most 50 competences"));
        return Vec::new();
    }
    let mut codes = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        match name
            .strip_prefix("competences/")
            .filter(|code| valid_id(code))
        {
            Some(code) => {
                codes.insert(code.to_owned());
            }
            None => wrong.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "must be `competences/{code}`",
            )),
        }
    }
    codes.into_iter().collect()
}

pub(super) fn municipality_codes(
    codes: &[String],
    field: &str,
    allow_empty: bool,
    wrong: &mut Vec<FieldViolation>,
) -> Vec<String> {
    if codes.len() > 98 || (!allow_empty && codes.is_empty()) {
        wrong.push(FieldViolation::new(
            field,
            if allow_empty {
                "at most 98 municipality codes"
            } else {
                "1 to 98 municipality codes"
            },
        ));
        return Vec::new();
    }
    let mut valid = BTreeSet::new();
    for (i, code) in codes.iter().enumerate() {
        match MunicipalityCode::parse(code) {
            Some(m) => {
                valid.insert(m.to_string());
            }
            None => wrong.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "must be a 3-digit municipality code",
            )),
        }
    }
    valid.into_iter().collect()
}

pub(super) fn text(
    value: &str,
    field: &str,
    max: usize,
    required: bool,
    wrong: &mut Vec<FieldViolation>,
) {
    let len = value.trim().chars().count();
    if (required && len == 0) || value.chars().count() > max {
        wrong.push(FieldViolation::new(
            field,
            format!("{} to {max} characters", u8::from(required)),
        ));
    }
}

pub(super) fn price(money: Option<&Money>, field: &str, wrong: &mut Vec<FieldViolation>) -> i64 {
    match Ore::hourly_price(money) {
        Some(ore) => ore.get(),
        _ => {
            wrong.push(FieldViolation::new(
                field,
                "required, above 0 and at most DKK 100,000.00 (in øre)",
            ));
            0
        }
    }
}

pub(super) fn period(
    validity: Option<&DateRange>,
    field: &str,
    wrong: &mut Vec<FieldViolation>,
) -> Period {
    let start = validity.and_then(|v| v.start.as_ref());
    let end = validity.and_then(|v| v.end.as_ref());
    let from = match start.map(|d| d.to_naive()) {
        Some(Some(d)) => d,
        _ => {
            wrong.push(FieldViolation::new(
                format!("{field}.start"),
                "a valid first day is required",
            ));
            NaiveDate::MIN
        }
    };
    let to = match end.map(|d| d.to_naive()) {
        None => None,
        Some(Some(d)) if d >= from => Some(d),
        Some(_) => {
            wrong.push(FieldViolation::new(
                format!("{field}.end"),
                "a valid day, not before the start",
            ));
            None
        }
    };
    Period { from, to }
}

impl MatchingApi {
    /// Refuses competences the catalogue does not have, naming them.
    /// Checks `codes` against the catalogue on `conn`: the transaction of a call that holds
    /// one (a second connection could wait on a pool its own call keeps full), else one taken
    /// for the check alone.
    pub(super) async fn known_competences(
        &self,
        conn: &mut sqlx::PgConnection,
        codes: &[String],
        field: &str,
    ) -> Result<(), ApiError> {
        let unknown = self.store.unknown_competences(conn, codes).await?;
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                field,
                format!("not in the competence catalogue: {}", unknown.join(", ")),
            ))
        }
    }
}
