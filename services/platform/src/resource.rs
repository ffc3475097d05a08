//! AIP-122 resource names: `collection/{id}` parsing with errors that name the request field.

use crate::ApiError;
use crate::auth::{MunicipalityCode, Principal};

// The names themselves are wire contract, built and parsed in `kontakt_proto::names`; this
// module turns a wrong name into the error that names the request's field.
pub use kontakt_proto::names::{MAX_ID_LEN, valid_id};

/// A write's `request_id` (AIP-155): 1 to 100 characters, no control characters, the same on
/// every retry.
pub fn request_id(id: &str) -> Result<(), ApiError> {
    if id.trim().is_empty() || id.chars().count() > 100 || id.chars().any(char::is_control) {
        Err(ApiError::invalid(
            "request_id",
            "1 to 100 characters without control characters, the same on every retry",
        ))
    } else {
        Ok(())
    }
}

/// (unit, id) from a contact person's name (`kontakt_proto::names::contact_person`), or
/// INVALID_ARGUMENT naming `field`.
pub fn parse_contact_person(name: &str, field: &str) -> Result<(String, String), ApiError> {
    kontakt_proto::names::parse_contact_person(name)
        .map(|(unit, id)| (unit.to_owned(), id.to_owned()))
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                "must be `serviceUnits/{unit}/contactPersons/{contact_person}`",
            )
        })
}

/// A resource's etag (AIP-154) from its revision counter.
pub fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

/// AIP-154: an empty etag skips the check; a stale one is ABORTED.
pub fn check_etag(given: &str, revision: i64) -> Result<(), ApiError> {
    if given.is_empty() || given == etag(revision) {
        Ok(())
    } else {
        Err(ApiError::Aborted {
            reason: "ETAG_MISMATCH",
            message: "the resource changed since it was read; read it again and retry".into(),
        })
    }
}

/// An optional date field: unset is `None`, an impossible date is INVALID_ARGUMENT.
pub fn day(
    date: Option<&kontakt_proto::common::v1::Date>,
    field: &str,
) -> Result<Option<chrono::NaiveDate>, ApiError> {
    match date {
        None => Ok(None),
        Some(d) => d
            .to_naive()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(field, "not a valid calendar date")),
    }
}

/// Returns `{id}` from `{collection}/{id}`, or INVALID_ARGUMENT naming `field`.
/// Ids are lowercase letters, digits and `-` (AIP-122), 1 to 63 characters.
pub fn parse_top_level<'a>(
    name: &'a str,
    collection: &str,
    field: &str,
) -> Result<&'a str, ApiError> {
    let expected = || {
        ApiError::invalid(
            field,
            format!("must be `{collection}/{{id}}`, got `{}`", truncate(name)),
        )
    };
    let id = name
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(expected)?;
    if valid_id(id) {
        Ok(id)
    } else {
        Err(expected())
    }
}

/// Returns the municipality of `municipalities/{code}`.
pub fn parse_municipality(parent: &str, field: &str) -> Result<MunicipalityCode, ApiError> {
    parent
        .strip_prefix("municipalities/")
        .and_then(MunicipalityCode::parse)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!(
                    "must be `municipalities/{{3-digit code}}`, got `{}`",
                    truncate(parent)
                ),
            )
        })
}

/// Returns (municipality, id) from `municipalities/{code}/{collection}/{id}`.
pub fn parse_in_municipality<'a>(
    name: &'a str,
    collection: &str,
    field: &str,
) -> Result<(MunicipalityCode, &'a str), ApiError> {
    let expected = || {
        ApiError::invalid(
            field,
            format!(
                "must be `municipalities/{{code}}/{collection}/{{id}}`, got `{}`",
                truncate(name)
            ),
        )
    };
    let rest = name.strip_prefix("municipalities/").ok_or_else(expected)?;
    let (code, rest) = rest.split_once('/').ok_or_else(expected)?;
    let municipality = MunicipalityCode::parse(code).ok_or_else(expected)?;
    let id = parse_top_level(rest, collection, field).map_err(|_| expected())?;
    Ok((municipality, id))
}

/// `municipalities/{m}/{collection}/{id}` within the caller's municipalities; elsewhere it is
/// NOT_FOUND, as if it did not exist (nothing tells a caller what another municipality holds).
pub fn scoped<'a>(
    principal: &Principal,
    name: &'a str,
    collection: &str,
    field: &str,
) -> Result<(MunicipalityCode, &'a str), ApiError> {
    let (municipality, id) = parse_in_municipality(name, collection, field)?;
    if principal.serves(municipality) {
        Ok((municipality, id))
    } else {
        Err(ApiError::not_found(name))
    }
}

/// `municipalities/{m}` as a list's parent, if the caller acts for it; NOT_FOUND otherwise, as
/// for a municipality with nothing in it.
pub fn scoped_parent(principal: &Principal, parent: &str) -> Result<MunicipalityCode, ApiError> {
    let municipality = parse_municipality(parent, "parent")?;
    if principal.serves(municipality) {
        Ok(municipality)
    } else {
        Err(ApiError::not_found(parent))
    }
}

/// Keeps error messages short even when the input is huge.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_name_yields_its_id() {
        assert_eq!(
            parse_top_level("legalBases/bl-32-1-3", "legalBases", "name").ok(),
            Some("bl-32-1-3")
        );
    }

    #[test]
    fn a_malformed_name_names_the_field() {
        for bad in [
            "",
            "legalBases",
            "legalBases/",
            "competences/x",
            "legalBases/UPPER",
            "legalBases/a/b",
        ] {
            match parse_top_level(bad, "legalBases", "name") {
                Err(ApiError::InvalidArgument(v)) => assert_eq!(v[0].field, "name", "{bad}"),
                other => panic!("{bad}: expected INVALID_ARGUMENT, got {other:?}"),
            }
        }
    }

    #[test]
    fn names_inside_a_municipality_yield_the_code_and_the_id() {
        let (code, id) = parse_in_municipality("municipalities/183/persons/p-1", "persons", "name")
            .expect("valid");
        assert_eq!((code.to_string().as_str(), id), ("183", "p-1"));
        for bad in [
            "municipalities/18/persons/p",
            "municipalities/183/cases/p",
            "persons/p",
            "municipalities/183/persons/",
        ] {
            assert!(
                parse_in_municipality(bad, "persons", "name").is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            parse_municipality("municipalities/329", "parent")
                .expect("valid")
                .to_string(),
            "329"
        );
        assert!(parse_municipality("municipalities/329/x", "parent").is_err());
    }

    #[test]
    fn huge_input_is_refused_with_a_short_message() {
        let huge = "x".repeat(100_000);
        let err = parse_top_level(&huge, "legalBases", "name").expect_err("refused");
        assert!(err.to_string().len() < 300);
    }
}

/// The fields an update names (AIP-134): `*` for every one of `allowed`, else each path given,
/// which must be one of `allowed`. An empty or unknown path is INVALID_ARGUMENT on
/// `update_mask`, listing what may be changed.
pub fn update_mask<'a>(
    mask: Option<&'a prost_types::FieldMask>,
    allowed: &[&'static str],
) -> Result<Vec<&'a str>, ApiError> {
    let paths: Vec<&str> = mask
        .map(|m| m.paths.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let chosen: Vec<&str> = if paths == ["*"] {
        allowed.to_vec()
    } else {
        paths
    };
    if chosen.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            format!("name the fields to change, or `*`: {}", allowed.join(", ")),
        ));
    }
    if let Some(other) = chosen.iter().find(|p| !allowed.contains(p)) {
        return Err(ApiError::invalid(
            "update_mask",
            format!(
                "`{other}` cannot be changed; changeable: {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(chosen)
}

#[cfg(test)]
mod update_mask_tests {
    use super::*;

    fn mask(paths: &[&str]) -> prost_types::FieldMask {
        prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn a_star_chooses_every_allowed_field_and_paths_choose_themselves() {
        let allowed = ["a", "b", "c"];
        assert_eq!(
            update_mask(Some(&mask(&["*"])), &allowed).expect("star"),
            ["a", "b", "c"]
        );
        assert_eq!(
            update_mask(Some(&mask(&["c", "a"])), &allowed).expect("paths"),
            ["c", "a"]
        );
    }

    #[test]
    fn no_path_or_an_unknown_one_names_the_update_mask_and_what_may_change() {
        for given in [None, Some(mask(&[])), Some(mask(&["a", "z"]))] {
            let err = update_mask(given.as_ref(), &["a", "b"]).expect_err("refused");
            let ApiError::InvalidArgument(violations) = &err else {
                panic!("{err:?}");
            };
            assert_eq!(violations[0].field, "update_mask");
            assert!(violations[0].description.contains("a, b"), "{err:?}");
        }
    }
}
