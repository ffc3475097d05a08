//! AIP-122 resource names: `collection/{id}` parsing with errors that name the request field.

use crate::ApiError;

/// Longest resource id accepted; longer input is refused before it reaches a query.
pub const MAX_ID_LEN: usize = 63;

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
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid { Ok(id) } else { Err(expected()) }
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
    fn huge_input_is_refused_with_a_short_message() {
        let huge = "x".repeat(100_000);
        let err = parse_top_level(&huge, "legalBases", "name").expect_err("refused");
        assert!(err.to_string().len() < 300);
    }
}
