//! Resource names matching writes into its answers and events (AIP-122).

pub(crate) use kontakt_platform::resource::contact_person_name as person_name;

pub(crate) const REQUESTS: &str = "matchingRequests";
pub(crate) const ASSIGNMENTS: &str = "assignments";
pub(crate) const PROCUREMENTS: &str = "procurements";

pub(crate) fn request_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{REQUESTS}/{id}")
}

pub(crate) fn assignment_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{ASSIGNMENTS}/{id}")
}

pub(crate) fn procurement_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{PROCUREMENTS}/{id}")
}

/// A request has its grant's id.
pub(crate) fn grant_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/grants/{id}")
}
