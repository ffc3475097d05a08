//! The auditor's (data-protection officer's) screen: one person's access log from all four
//! services, newest first, filtered by who, when, what and purpose.

use axum::extract::{Query, State};
use chrono::NaiveDate;
use kontakt_proto::audit::v1 as a;
use maud::html;
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{page, problem_box};
use crate::problem::Problem;
use crate::web::{Answer, AppState, Signed};

const PURPOSE: &str = "console: data protection audit";

/// The most entries read from the services for one person (newest first from each).
const READ_LIMIT: usize = 2_000;

/// The most entries shown; the filters narrow them down.
const SHOWN: usize = 200;

#[derive(Deserialize, Default)]
pub struct LogQuery {
    #[serde(default)]
    person: String,
    #[serde(default)]
    hvem: String,
    #[serde(default)]
    fra: String,
    #[serde(default)]
    til: String,
    #[serde(default)]
    handling: String,
    #[serde(default)]
    formaal: String,
}

/// Whether an entry passes the filters (all optional; text filters ignore case).
fn passes(
    entry: &a::AccessLogEntry,
    query: &LogQuery,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> bool {
    let day = entry
        .time
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.with_timezone(&chrono_tz::Europe::Copenhagen).date_naive());
    let contains = |hay: &str, needle: &str| {
        needle.trim().is_empty() || hay.to_lowercase().contains(&needle.trim().to_lowercase())
    };
    contains(&entry.subject, &query.hvem)
        && contains(&entry.purpose, &query.formaal)
        && (query.handling.is_empty() || entry.action == query.handling)
        && from.is_none_or(|from| day.is_some_and(|d| d >= from))
        && to.is_none_or(|to| day.is_some_and(|d| d <= to))
}

/// `GET /adgangslog`.
pub async fn log(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<LogQuery>,
) -> Answer {
    let current = "/adgangslog";
    let person = query.person.trim().to_owned();
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    if !person.is_empty() {
        for which in [
            Which::Referral,
            Which::Matching,
            Which::Timecost,
            Which::Followup,
        ] {
            let mut page_token = String::new();
            loop {
                match state
                    .services
                    .access_log(which)
                    .list_access_log_entries(request(
                        &session,
                        PURPOSE,
                        a::ListAccessLogEntriesRequest {
                            person: person.clone(),
                            page_size: 500,
                            page_token: page_token.clone(),
                        },
                    ))
                    .await
                {
                    Ok(response) => {
                        let response = response.into_inner();
                        entries.extend(response.entries);
                        if response.next_page_token.is_empty() || entries.len() >= READ_LIMIT {
                            break;
                        }
                        page_token = response.next_page_token;
                    }
                    Err(status) => {
                        let problem = Problem::from_status(&status, which);
                        if problem.sign_in_again {
                            return Err(crate::web::problem_page(&session, &problem, current));
                        }
                        problems.push(problem);
                        break;
                    }
                }
            }
        }
    }
    let from = format::parse_date(&query.fra);
    let to = format::parse_date(&query.til);
    entries.retain(|e| passes(e, &query, from, to));
    entries.sort_by_key(|e| std::cmp::Reverse(e.time.as_ref().map_or(0, |t| t.seconds)));
    let matching = entries.len();
    entries.truncate(SHOWN);
    let body = html! {
        form method="get" action=(current) {
            div.field {
                label for="person" { "Person" }
                span.hint id="person-hint" { "Personens ressourcenavn, fx municipalities/183/persons/…" }
                input id="person" name="person" type="text" value=(person) aria-describedby="person-hint" required;
            }
            details open[!query.hvem.is_empty() || !query.fra.is_empty() || !query.til.is_empty() || !query.handling.is_empty() || !query.formaal.is_empty()] {
                summary { "Filtre" }
                div.field { label for="hvem" { "Hvem (bruger-id)" } input id="hvem" name="hvem" type="text" value=(query.hvem); }
                div.field { label for="fra" { "Fra dato" } input id="fra" name="fra" type="date" value=(query.fra); }
                div.field { label for="til" { "Til dato" } input id="til" name="til" type="date" value=(query.til); }
                div.field { label for="handling" { "Handling" }
                    select id="handling" name="handling" {
                        option value="" { "Alle" }
                        @for (value, label) in [("READ", "Læst"), ("SEARCH", "Søgt"), ("CREATE", "Oprettet"), ("UPDATE", "Ændret"), ("DELETE", "Slettet")] {
                            option value=(value) selected[query.handling == value] { (label) }
                        }
                    }
                }
                div.field { label for="formaal" { "Formål indeholder" } input id="formaal" name="formaal" type="text" value=(query.formaal); }
            }
            button type="submit" { "Vis adgangslog" }
        }
        @for problem in &problems { (problem_box(problem)) }
        @if !person.is_empty() {
            p { (matching) " registreringer, nyeste først" @if matching > entries.len() { "; de " (entries.len()) " nyeste vises – brug filtrene for at finde ældre" } "." }
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Tidspunkt" } th scope="col" { "Hvem" } th scope="col" { "Roller" } th scope="col" { "Handling" } th scope="col" { "Hvad" } th scope="col" { "Formål" } th scope="col" { "Tjeneste" } } }
                tbody {
                    @for e in &entries {
                        tr data-subject=(e.subject) {
                            td { (format::timestamp(e.time.as_ref())) }
                            td { (e.subject) }
                            td { (e.roles.join(", ")) }
                            td { (e.action) }
                            td { (e.method) br; span.muted { (e.resource) } }
                            td { (e.purpose) }
                            td { (e.service) }
                        }
                    }
                }
            } }
        }
    };
    Ok(page(&session, "Adgangslog", current, body))
}
