//! The contact persons with their capacity and certificates.

use axum::extract::State;
use axum::response::Response;
use kontakt_proto::matching::v1 as m;
use maud::html;
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{capacity_bar, page};
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, or_page};

use super::*;

#[derive(Deserialize)]
pub struct PeopleQuery {
    #[serde(default)]
    tilknyttet: String,
    /// The page (the service's page token).
    #[serde(default)]
    side: String,
}

/// `GET /kontaktpersoner`: capacity (booked / other duties / free) and certificate warnings.
pub async fn people(
    State(state): State<AppState>,
    Signed(session): Signed,
    axum::extract::Query(query): axum::extract::Query<PeopleQuery>,
) -> Answer {
    let current = "/kontaktpersoner";
    // One page at a time: a municipality of the capital region has thousands.
    let listed = or_page(
        state
            .services
            .matching()
            .list_contact_persons(request(
                &session,
                PURPOSE,
                m::ListContactPersonsRequest {
                    parent: "serviceUnits/-".into(),
                    page_size: PEOPLE_PAGE,
                    page_token: query.side.clone(),
                    municipality: String::new(),
                },
            ))
            .await,
        &session,
        Which::Matching,
        current,
    )?;
    let persons = listed.contact_persons;
    let next = listed.next_page_token;
    let today = state.today();
    let names = state.competence_names(&session).await;
    let body = html! {
        @if !query.tilknyttet.is_empty() {
            div.notice role="status" { p { "Tilknyttet: " strong { (person_label(&persons, &query.tilknyttet)) } ". Kapaciteten herunder er opdateret." } }
        }
        div.cards {
            @for p in &persons {
                @let other: i32 = p.other_duties.iter().map(|d| d.minutes_per_week).sum();
                @let expiry = p.child_protection_certificate.as_ref().and_then(|c| c.expiry_date.as_ref()).and_then(kontakt_proto::common::v1::Date::to_naive);
                section.card data-person=(p.name) aria-labelledby={"p-" (p.name.rsplit('/').next().unwrap_or(""))} {
                    h2 id={"p-" (p.name.rsplit('/').next().unwrap_or(""))} { (p.display_name) }
                    p { (employment_label(p.employment)) " · " (crate::page::municipalities(&p.municipalities)) }
                    (capacity_bar(p.weekly_capacity_minutes, p.booked_minutes_per_week, other))
                    @match (&p.child_protection_certificate, expiry) {
                        (None, _) => p { span.tag.bad { "Ingen børneattest" } " Kan ikke tilknyttes (R-MP-6)." },
                        (Some(_), Some(day)) if day < today => p { span.tag.bad { "Børneattest udløbet" } " " (format::date(day)) " – kan ikke tilknyttes (R-MP-6)." },
                        (Some(_), Some(day)) if (day - today).num_days() <= 60 => p { span.tag.bad { "Børneattest udløber snart" } " " (format::date(day)) },
                        (Some(_), Some(day)) => p { span.tag.good { "Børneattest" } " gyldig til " (format::date(day)) },
                        (Some(_), None) => p { span.tag.good { "Børneattest" } " uden udløb" },
                    }
                    p { (competences(&names, &p.competences)) }
                }
            }
        }
        div.actions {
            @if !query.side.is_empty() { a.button.secondary href="/kontaktpersoner" { "Første side" } }
            @if !next.is_empty() { a.button.secondary href={"/kontaktpersoner?side=" (crate::web::encode(&next))} { "Næste side" } }
        }
    };
    Ok(page(&session, "Kontaktpersoner", current, body))
}

fn person_label(persons: &[m::ContactPerson], name: &str) -> String {
    persons
        .iter()
        .find(|p| p.name == name)
        .map_or_else(|| name.to_owned(), |p| p.display_name.clone())
}

/// Every contact person serving the coordinator's municipalities.
pub async fn list_people(
    state: &AppState,
    session: &Session,
    current: &str,
) -> Result<Vec<m::ContactPerson>, Response> {
    crate::grpc::all_pages(PEOPLE_LIMIT, |page_token| {
        let mut client = state.services.matching();
        let call = request(
            session,
            PURPOSE,
            m::ListContactPersonsRequest {
                parent: "serviceUnits/-".into(),
                page_size: 500,
                page_token,
                municipality: String::new(),
            },
        );
        async move {
            let page = client.list_contact_persons(call).await?.into_inner();
            Ok((page.contact_persons, page.next_page_token))
        }
    })
    .await
    .map_err(|status| crate::web::status_page(session, &status, Which::Matching, current))
}
