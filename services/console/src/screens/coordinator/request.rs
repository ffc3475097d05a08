//! One request's page: its ranked candidates with the explanation, the excluded with their
//! reasons, and assigning (a capacity refusal in plain words).

use crate::web::Form;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::matching::v1 as m;
use maud::html;
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{capacity_bar, field, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, check_csrf, or_page};

use super::procurement::procurement_section;
use super::*;

/// `GET /koordinator/anmodning/{municipality}/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
) -> Answer {
    request_page(&state, &session, &code, &id, None, None).await
}

pub(super) async fn request_page(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    problem: Option<&Problem>,
    notice: Option<&str>,
) -> Answer {
    let name = format!("municipalities/{code}/matchingRequests/{id}");
    let current = format!("/koordinator/anmodning/{code}/{id}");
    let matching = state.services.matching();
    let req = or_page(
        matching
            .clone()
            .get_matching_request(request(
                session,
                PURPOSE,
                m::GetMatchingRequestRequest { name: name.clone() },
            ))
            .await,
        session,
        Which::Matching,
        &current,
    )?;
    let open = !matches!(
        m::MatchingRequestState::try_from(req.state),
        Ok(m::MatchingRequestState::Assigned | m::MatchingRequestState::Closed)
    );
    // Candidates are ranked while the request is open or proposed; during a purchase the
    // provider's person is assigned once it is ordered (R-MP-2).
    let rankable = matches!(
        m::MatchingRequestState::try_from(req.state),
        Ok(m::MatchingRequestState::Open | m::MatchingRequestState::Proposed)
    );
    let proposal = if rankable {
        Some(or_page(
            matching
                .clone()
                .propose_candidates(request(
                    session,
                    PURPOSE,
                    m::ProposeCandidatesRequest {
                        matching_request: name.clone(),
                        max_candidates: 10,
                        include_excluded: true,
                    },
                ))
                .await,
            session,
            Which::Matching,
            &current,
        )?)
    } else {
        None
    };
    let procurement = if req.procurement.is_empty() {
        None
    } else {
        Some(or_page(
            matching
                .clone()
                .get_procurement(request(
                    session,
                    PURPOSE,
                    m::GetProcurementRequest {
                        name: req.procurement.clone(),
                    },
                ))
                .await,
            session,
            Which::Matching,
            &current,
        )?)
    };
    let providers = if open && procurement.is_none() {
        or_page(
            matching
                .clone()
                .list_providers(request(
                    session,
                    PURPOSE,
                    m::ListProvidersRequest {
                        page_size: 100,
                        page_token: String::new(),
                    },
                ))
                .await,
            session,
            Which::Matching,
            &current,
        )?
        .providers
    } else {
        Vec::new()
    };
    let ordered = req.state == m::MatchingRequestState::Ordered as i32;
    let provider_people: Vec<m::ContactPerson> = match (&procurement, ordered) {
        (Some(p), true) => list_people(state, session, &current)
            .await?
            .into_iter()
            .filter(|person| person.provider == p.provider)
            .collect(),
        _ => Vec::new(),
    };
    let start = req
        .start_date
        .as_ref()
        .and_then(kontakt_proto::common::v1::Date::to_naive)
        .map(|d| d.max(state.today()))
        .unwrap_or_else(|| state.today());
    let request_id = uuid::Uuid::new_v4().to_string();
    let names = state.competence_names(session).await;
    let child =
        crate::grpc::person_names(&state.services, session, PURPOSE, [req.person.as_str()]).await;
    let body = html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        @if let Some(notice) = notice { div.notice role="status" { p { (notice) } } }
        div.card {
            dl {
                dt { "Barn" } dd { (child.get(&req.person).map_or("–", String::as_str)) }
                dt { "Status" } dd { (state_label(req.state)) }
                dt { "Timer" } dd { (format::hours_per_week(req.minutes_per_week)) }
                dt { "Start" } dd { (format::proto_date(req.start_date.as_ref())) }
                dt { "Forventet ophør" } dd { (format::proto_date(req.expected_end_date.as_ref())) }
                @if let Some(needs) = &req.needs {
                    dt { "Behov" } dd { (competences(&names, &needs.competences)) }
                    @if needs.age_years > 0 { dt { "Alder" } dd { (needs.age_years) " år" } }
                    @if !needs.description.is_empty() { dt { "Beskrivelse" } dd { (needs.description) } }
                }
            }
        }
        @if let Some(proposal) = &proposal {
            h2 { "Kandidater" }
            @if proposal.unmet {
                div.warning role="status" {
                    p { strong { "Ingen kan dække hele behovet." } " Der mangler: " (competences(&names, &proposal.missing_competences)) " (R-MP-5). Overvej indkøb hos en leverandør." }
                }
            }
            @if proposal.candidates.is_empty() {
                p { "Ingen kandidater." }
            } @else {
                ol.cards {
                    @for c in &proposal.candidates {
                        li.card data-candidate=(c.contact_person) {
                            h3 { (c.display_name) }
                            p { (employment_label(c.employment)) " · " strong { (c.score) " point" } " · ledig " (format::minutes(i64::from(c.free_minutes_per_week))) " om ugen" }
                            @if !c.missing_competences.is_empty() {
                                p { "Mangler: " (competences(&names, &c.missing_competences)) }
                            }
                            details {
                                summary { "Hvorfor " (c.score) " point?" }
                                ul { @for f in &c.factors { li { (f.explanation) " (" (f.points) ")" } } }
                            }
                            @if c.employment == m::Employment::Provider as i32 && req.state != m::MatchingRequestState::Ordered as i32 {
                                p.muted { "Leverandørens medarbejder: kun gennem et indkøb (R-MP-2)." }
                            } @else {
                            form method="post" action={(current) "/tilknyt"} {
                                input type="hidden" name="csrf" value=(session.csrf);
                                input type="hidden" name="request_id" value=(request_id);
                                input type="hidden" name="contact_person" value=(c.contact_person);
                                input type="hidden" name="start_date" value=(start.format("%Y-%m-%d"));
                                input type="hidden" name="minutes_per_week" value=(req.minutes_per_week);
                                button type="submit" { "Tilknyt " (c.display_name) }
                            }
                            }
                        }
                    }
                }
            }
            @if !proposal.excluded.is_empty() {
                h2 { "Udelukket" }
                ul {
                    @for x in &proposal.excluded {
                        li data-excluded=(x.contact_person) {
                            strong { (x.display_name) } ": "
                            @for (i, r) in x.reasons.iter().enumerate() {
                                @if i > 0 { "; " }
                                strong { (r.rule) } ": " (crate::problem::rule_meaning(&r.rule).unwrap_or("")) " "
                                span.muted { "(" (r.explanation) ")" }
                            }
                        }
                    }
                }
            }
            details id="anden" open[problem.is_some_and(|p| p.field("contact_person").is_some())] {
                summary { "Tilknyt en anden kontaktperson" }
                form method="post" action={(current) "/tilknyt"} {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="request_id" value=(request_id);
                    (field(problem, "contact_person", "Kontaktperson", Some("Ressourcenavn, fx serviceUnits/ishoejgaard/contactPersons/anna-holm"),
                        html! { input id="contact_person" name="contact_person" type="text" required; }))
                    (field(problem, "start_date", "Første dag", None,
                        html! { input id="start_date" name="start_date" type="date" value=(start.format("%Y-%m-%d")) required; }))
                    (field(problem, "minutes_per_week", "Minutter om ugen", Some("0 = bevillingens timer"),
                        html! { input id="minutes_per_week" name="minutes_per_week" type="number" min="0" value=(req.minutes_per_week); }))
                    button type="submit" { "Tilknyt" }
                }
            }
        }
        @if !provider_people.is_empty() {
            h2 { "Leverandørens medarbejdere" }
            p { "Indkøbet er bestilt: tilknyt den medarbejder, leverandøren stiller." }
            ul.cards {
                @for person in &provider_people {
                    li.card data-candidate=(person.name) {
                        h3 { (person.display_name) }
                        (capacity_bar(person.weekly_capacity_minutes, person.booked_minutes_per_week, person.other_duties.iter().map(|d| d.minutes_per_week).sum()))
                        form method="post" action={(current) "/tilknyt"} {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="request_id" value=(request_id);
                            input type="hidden" name="contact_person" value=(person.name);
                            input type="hidden" name="start_date" value=(start.format("%Y-%m-%d"));
                            input type="hidden" name="minutes_per_week" value=(req.minutes_per_week);
                            button type="submit" { "Tilknyt " (person.display_name) }
                        }
                    }
                }
            }
        }
        (procurement_section(session, &current, &req, procurement.as_ref(), &providers, problem))
    };
    let title = format!(
        "Anmodning fra {} · {}",
        format::municipality(code),
        format::hours_per_week(req.minutes_per_week)
    );
    let status = problem.map_or(axum::http::StatusCode::OK, Problem::http_status);
    Ok(crate::page::page_with_status(
        session, status, &title, &current, body,
    ))
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    request_id: String,
    contact_person: String,
    start_date: String,
    #[serde(default)]
    minutes_per_week: String,
}

/// `POST …/tilknyt`: assigns; a refusal is shown on the request's page in plain words.
pub async fn assign(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<AssignForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let Some(start) = format::parse_date(&form.start_date) else {
        let problem = Problem::invalid("start_date", "Skriv datoen som dd.mm.åååå.");
        return answer(request_page(&state, &session, &code, &id, Some(&problem), None).await);
    };
    let minutes = form.minutes_per_week.trim().parse::<i32>().unwrap_or(0);
    let result = state
        .services
        .matching()
        .assign_contact_person(request(
            &session,
            PURPOSE,
            m::AssignContactPersonRequest {
                matching_request: format!("municipalities/{code}/matchingRequests/{id}"),
                contact_person: form.contact_person.clone(),
                start_date: Some(start.into()),
                minutes_per_week: minutes,
                request_id: form.request_id,
            },
        ))
        .await;
    match result {
        Ok(_) => Redirect::to(&format!(
            "/kontaktpersoner?tilknyttet={}",
            crate::web::encode(&form.contact_person)
        ))
        .into_response(),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Matching);
            answer(request_page(&state, &session, &code, &id, Some(&problem), None).await)
        }
    }
}
