//! Reading the ID token's claims: the Kontakt roles, municipalities and contact person, by
//! configurable (and dotted) names.

use std::collections::BTreeMap;

use serde_json::Value;

use super::OidcError;

/// A claim by name; a dotted name (`realm_access.roles`) reaches into objects when no claim
/// has the whole name.
pub(super) fn claim<'a>(claims: &'a BTreeMap<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// A list claim: an array of strings (or whole numbers), or one string separated by spaces or
/// commas. A missing claim is an empty list.
pub(super) fn strings(
    claims: &BTreeMap<String, Value>,
    name: &str,
) -> Result<Vec<String>, OidcError> {
    fn split(text: &str, out: &mut Vec<String>) {
        out.extend(
            text.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|part| !part.is_empty())
                .map(str::to_owned),
        );
    }
    let malformed = || OidcError::Claims(format!("`{name}` is not a list of strings or numbers"));
    let mut out = Vec::new();
    match claim(claims, name) {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => split(text, &mut out),
        Some(Value::Number(number)) => out.push(whole_number(number).ok_or_else(malformed)?),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(text) => split(text, &mut out),
                    Value::Number(number) => {
                        out.push(whole_number(number).ok_or_else(malformed)?);
                    }
                    _ => return Err(malformed()),
                }
            }
        }
        Some(_) => return Err(malformed()),
    }
    Ok(out)
}

fn whole_number(number: &serde_json::Number) -> Option<String> {
    number.as_u64().map(|n| n.to_string())
}
