//! The coordinator's screens: the queue of open matching requests (oldest first), one
//! request's ranked candidates with the explanation and the excluded with their reasons,
//! assigning (a capacity refusal in plain words), buying from a provider (request → offer →
//! order), unmet demand, and the contact persons with their capacity and certificates.
//!
//! One file a screen: [`queue`] (and unmet demand), a [`request`], its [`procurement`], and the
//! contact [`people`]; the labels and paths they share are here.

mod people;
mod procurement;
mod queue;
mod request;

pub use people::{PeopleQuery, list_people, people};
pub use procurement::{PriceForm, ProcurementForm, offer, order, procure};
pub use queue::{queue, unmet};
pub use request::{AssignForm, assign, show};

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use kontakt_proto::matching::v1 as m;
use maud::{Markup, html};

use crate::web::{Answer, AppState};

const PURPOSE: &str = "console: matching and procurement";

/// The most requests the queue shows (the oldest open ones).
const QUEUE_SIZE: usize = 100;

/// A request is waiting for the coordinator in these states.
const OPEN_STATES: [m::MatchingRequestState; 4] = [
    m::MatchingRequestState::Open,
    m::MatchingRequestState::Proposed,
    m::MatchingRequestState::Procurement,
    m::MatchingRequestState::Ordered,
];

/// The most contact persons a screen reads.
const PEOPLE_LIMIT: usize = 10_000;

/// Contact persons on one page of the list.
const PEOPLE_PAGE: i32 = 30;

/// `municipalities/183/matchingRequests/g-1` → `/koordinator/anmodning/183/g-1`.
pub fn request_path(name: &str) -> String {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["municipalities", code, "matchingRequests", id] => {
            format!("/koordinator/anmodning/{code}/{id}")
        }
        _ => "/koordinator".to_owned(),
    }
}

fn state_label(state: i32) -> &'static str {
    match m::MatchingRequestState::try_from(state) {
        Ok(m::MatchingRequestState::Open) => "Åben",
        Ok(m::MatchingRequestState::Proposed) => "Foreslået",
        Ok(m::MatchingRequestState::Procurement) => "Indkøb i gang",
        Ok(m::MatchingRequestState::Ordered) => "Bestilt",
        Ok(m::MatchingRequestState::Assigned) => "Tilknyttet",
        Ok(m::MatchingRequestState::Closed) => "Lukket",
        _ => "Ukendt",
    }
}

fn employment_label(employment: i32) -> &'static str {
    match m::Employment::try_from(employment) {
        Ok(m::Employment::Staff) => "Fastansat",
        Ok(m::Employment::Hourly) => "Timeansat",
        Ok(m::Employment::Provider) => "Leverandør",
        _ => "–",
    }
}

/// Competences as tags with their Danish names (the code when the catalogue lacks one).
fn competences(names: &HashMap<String, String>, codes: &[String]) -> Markup {
    html! {
        @for code in codes {
            @let code = code.rsplit('/').next().unwrap_or(code);
            span.tag data-code=(code) { (names.get(code).map_or(code, String::as_str)) } " "
        }
    }
}

fn days_open(state: &AppState, open: Option<&prost_types::Timestamp>) -> i64 {
    open.map_or(0, |t| (state.now() - t.seconds).max(0) / 86_400)
}

/// The last part of a resource name, shortened for a table.
pub fn short_id(name: &str) -> String {
    let id = name.rsplit('/').next().unwrap_or(name);
    if id.chars().count() > 14 {
        format!("{}…", id.chars().take(12).collect::<String>())
    } else {
        id.to_owned()
    }
}

fn answer(page: Answer) -> Response {
    match page {
        Ok(page) => page.into_response(),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_become_console_paths() {
        assert_eq!(
            request_path("municipalities/183/matchingRequests/g-1"),
            "/koordinator/anmodning/183/g-1"
        );
        assert_eq!(request_path("nonsense"), "/koordinator");
        assert_eq!(
            short_id("municipalities/183/matchingRequests/g-0123456789abcdef"),
            "g-0123456789…"
        );
    }
}
