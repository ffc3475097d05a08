//! The coordinator's screens: the queue of open matching requests (oldest first), one
//! request's ranked candidates with the explanation and the excluded with their reasons,
//! assigning (a capacity refusal in plain words), buying from a provider (request → offer →
//! order), unmet demand, and the contact persons with their capacity and certificates.

use crate::web::Form;
use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1 as m;
use maud::{Markup, html};
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{capacity_bar, field, page, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, check_csrf, or_page};

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

/// `GET /koordinator`: every open request of the coordinator's municipalities, oldest first,
/// and the unmet demand.
pub async fn queue(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let current = "/koordinator";
    // The oldest open requests of each municipality in each open state, merged: the first
    // page of each list, never the whole history.
    let mut calls = Vec::new();
    for code in &session.person.municipalities {
        for wanted in OPEN_STATES {
            let mut client = state.services.matching();
            let call = request(
                &session,
                PURPOSE,
                m::ListMatchingRequestsRequest {
                    parent: format!("municipalities/{code}"),
                    page_size: QUEUE_SIZE as i32,
                    page_token: String::new(),
                    state: wanted as i32,
                },
            );
            calls.push(async move { client.list_matching_requests(call).await });
        }
    }
    let mut requests = Vec::new();
    let mut more = false;
    for answer in futures_util::future::join_all(calls).await {
        let page = or_page(answer, &session, Which::Matching, current)?;
        more |= !page.next_page_token.is_empty();
        requests.extend(page.matching_requests);
    }
    requests.sort_by_key(|r| r.create_time.as_ref().map_or(0, |t| t.seconds));
    more |= requests.len() > QUEUE_SIZE;
    requests.truncate(QUEUE_SIZE);
    let names = state.competence_names(&session).await;
    let children = crate::grpc::person_names(
        &state.services,
        &session,
        PURPOSE,
        requests.iter().map(|r| r.person.as_str()),
    )
    .await;
    let body = html! {
        p.muted { "Ældste først. Vælg en anmodning for at se de bedst egnede kontaktpersoner." }
        @if more { p { "Viser de " (requests.len()) " ældste åbne anmodninger." } }
        p { a href="/koordinator/udaekket" { "Se udækket behov" } " – anmodninger, som ingen kan tage i dag." }
        @if requests.is_empty() {
            div.notice { p { "Der er ingen åbne anmodninger." } }
        } @else {
            div.table-wrap tabindex="0" {
                table {
                    caption.visually-hidden { "Åbne anmodninger" }
                    thead { tr {
                        th scope="col" { "Barn" }
                        th scope="col" { "Anmodning" }
                        th scope="col" { "Kommune" }
                        th.num scope="col" { "Dage åben" }
                        th.num scope="col" { "Timer" }
                        th scope="col" { "Behov" }
                        th scope="col" { "Start" }
                        th scope="col" { "Status" }
                    } }
                    tbody {
                        @for r in &requests {
                            tr data-request=(r.name) {
                                td { a href=(request_path(&r.name)) { (children.get(&r.person).map_or("Barn", String::as_str)) } }
                                td { (short_id(&r.name)) }
                                td { (format::municipality(r.name.split('/').nth(1).unwrap_or(""))) }
                                td.num { (days_open(&state, r.create_time.as_ref())) }
                                td.num { (format::hours_per_week(r.minutes_per_week)) }
                                td { @if let Some(needs) = &r.needs { (competences(&names, &needs.competences)) } }
                                td { (format::proto_date(r.start_date.as_ref())) }
                                td { (state_label(r.state)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&session, "Matchning", current, body))
}

/// `GET /koordinator/udaekket`: requests nobody can take today (R-MP-5), longest open first.
pub async fn unmet(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let current = "/koordinator/udaekket";
    let mut unmet = Vec::new();
    for code in &session.person.municipalities {
        let demand = or_page(
            state
                .services
                .matching()
                .list_unmet_demand(request(
                    &session,
                    PURPOSE,
                    m::ListUnmetDemandRequest {
                        parent: format!("municipalities/{code}"),
                    },
                ))
                .await,
            &session,
            Which::Matching,
            current,
        )?;
        unmet.extend(demand.demands);
    }
    unmet.sort_by_key(|d| std::cmp::Reverse(d.age_days));
    let total = unmet.len();
    unmet.truncate(QUEUE_SIZE);
    let names = state.competence_names(&session).await;
    let body = html! {
        @if total > unmet.len() { p { "Viser de " (unmet.len()) " af " (total) ", der har været åbne længst." } }
        @if unmet.is_empty() {
            p { "Intet udækket behov: alle åbne anmodninger har mindst én egnet kandidat." }
        } @else {
            p.muted { "Anmodninger, som ingen kan tage i dag (R-MP-5): det, der mangler, er det, der skal rekrutteres." }
            div.table-wrap tabindex="0" {
                table {
                    thead { tr {
                        th scope="col" { "Anmodning" }
                        th.num scope="col" { "Dage åben" }
                        th.num scope="col" { "Timer" }
                        th scope="col" { "Mangler" }
                        th.num scope="col" { "Delvise kandidater" }
                    } }
                    tbody {
                        @for d in &unmet {
                            tr {
                                td { a href=(request_path(&d.matching_request)) { (short_id(&d.matching_request)) } }
                                td.num { (d.age_days) }
                                td.num { (format::hours_per_week(d.minutes_per_week)) }
                                td { (competences(&names, &d.missing_competences)) }
                                td.num { (d.partial_candidates) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&session, "Udækket behov", current, body))
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

/// `GET /koordinator/anmodning/{municipality}/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
) -> Answer {
    request_page(&state, &session, &code, &id, None, None).await
}

async fn request_page(
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

fn procurement_label(state: i32) -> &'static str {
    match m::ProcurementState::try_from(state) {
        Ok(m::ProcurementState::Requested) => "Forespurgt",
        Ok(m::ProcurementState::Offered) => "Tilbud modtaget",
        Ok(m::ProcurementState::Ordered) => "Bestilt",
        Ok(m::ProcurementState::Cancelled) => "Annulleret",
        _ => "–",
    }
}

fn procurement_section(
    session: &Session,
    current: &str,
    req: &m::MatchingRequest,
    procurement: Option<&m::Procurement>,
    providers: &[m::Provider],
    problem: Option<&Problem>,
) -> Markup {
    html! {
        h2 { "Indkøb hos leverandør" }
        @if let Some(p) = procurement {
            div.card data-procurement=(p.name) {
                p { "Status: " strong { (procurement_label(p.state)) } " · " (p.provider.rsplit('/').next().unwrap_or("")) }
                @if let Some(price) = &p.offered_hourly_price { p { "Tilbudt timepris: " (format::kroner(price.ore)) } }
                @if let Some(price) = &p.agreed_hourly_price { p { "Aftalt timepris: " (format::kroner(price.ore)) } }
                @match m::ProcurementState::try_from(p.state) {
                    Ok(m::ProcurementState::Requested) => {
                        form method="post" action={(current) "/tilbud"} {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="etag" value=(p.etag);
                            (field(problem, "offered_hourly_price", "Tilbudt timepris (kr.)", Some("Fx 450,00"),
                                html! { input id="offered_hourly_price" name="price" inputmode="decimal" required; }))
                            (field(problem, "note", "Note", None, html! { input id="note" name="note" type="text"; }))
                            button type="submit" { "Registrér tilbud" }
                        }
                    }
                    Ok(m::ProcurementState::Offered) => {
                        form method="post" action={(current) "/bestil"} {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="etag" value=(p.etag);
                            (field(problem, "agreed_hourly_price", "Aftalt timepris (kr.)", None,
                                html! { input id="agreed_hourly_price" name="price" inputmode="decimal"
                                    value=(p.offered_hourly_price.as_ref().map(|m| format::kroner_number(m.ore)).unwrap_or_default()) required; }))
                            button type="submit" { "Bestil" }
                        }
                    }
                    Ok(m::ProcurementState::Ordered) => {
                        p { "Bestilt. Tilknyt leverandørens medarbejder som kandidat ovenfor." }
                    }
                    _ => {}
                }
            }
        } @else if !matches!(m::MatchingRequestState::try_from(req.state), Ok(m::MatchingRequestState::Assigned | m::MatchingRequestState::Closed)) {
            form method="post" action={(current) "/indkoeb"} {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="request_id" value=(uuid::Uuid::new_v4().to_string());
                (field(problem, "provider", "Leverandør", None, html! {
                    select id="provider" name="provider" required {
                        @for p in providers { option value=(p.name) { (p.display_name) } }
                    }
                }))
                (field(problem, "reason", "Begrundelse", Some("R-MP-2: leverandører bruges til særlige problemområder eller når egen kapacitet mangler"), html! {
                    select id="reason" name="reason" {
                        option value="1" { "Særligt problemområde" }
                        option value="2" { "Ingen ledig kapacitet" }
                    }
                }))
                (field(problem, "reason_note", "Uddybning", None, html! { textarea id="reason_note" name="reason_note" {} }))
                button.secondary type="submit" { "Forespørg hos leverandør" }
            }
        }
    }
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

fn answer(page: Answer) -> Response {
    match page {
        Ok(page) => page.into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct ProcurementForm {
    #[serde(default)]
    csrf: String,
    request_id: String,
    provider: String,
    reason: i32,
    #[serde(default)]
    reason_note: String,
}

/// `POST …/indkoeb`: asks a provider.
pub async fn procure(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<ProcurementForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let matching_request = format!("municipalities/{code}/matchingRequests/{id}");
    let result = state
        .services
        .matching()
        .create_procurement(request(
            &session,
            PURPOSE,
            m::CreateProcurementRequest {
                parent: format!("municipalities/{code}"),
                procurement: Some(m::Procurement {
                    matching_request: matching_request.clone(),
                    provider: form.provider,
                    reason: form.reason,
                    reason_note: form.reason_note,
                    ..m::Procurement::default()
                }),
                request_id: form.request_id,
            },
        ))
        .await;
    after(
        &state,
        &session,
        &code,
        &id,
        result.map(|_| ()),
        "Forespørgslen er sendt til leverandøren.",
    )
    .await
}

#[derive(Deserialize)]
pub struct PriceForm {
    #[serde(default)]
    csrf: String,
    etag: String,
    price: String,
    #[serde(default)]
    note: String,
}

/// `POST …/tilbud`: records the provider's offer.
pub async fn offer(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<PriceForm>,
) -> Response {
    procurement_step(state, session, code, id, form, false).await
}

/// `POST …/bestil`: orders at the agreed price.
pub async fn order(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<PriceForm>,
) -> Response {
    procurement_step(state, session, code, id, form, true).await
}

async fn procurement_step(
    state: AppState,
    session: Session,
    code: String,
    id: String,
    form: PriceForm,
    order: bool,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let field_name = if order {
        "agreed_hourly_price"
    } else {
        "offered_hourly_price"
    };
    let Some(ore) = format::parse_kroner(&form.price) else {
        let problem = Problem::invalid(field_name, "Skriv beløbet i kroner, fx 450,00.");
        return answer(request_page(&state, &session, &code, &id, Some(&problem), None).await);
    };
    let current = format!("/koordinator/anmodning/{code}/{id}");
    let req = match or_page(
        state
            .services
            .matching()
            .get_matching_request(request(
                &session,
                PURPOSE,
                m::GetMatchingRequestRequest {
                    name: format!("municipalities/{code}/matchingRequests/{id}"),
                },
            ))
            .await,
        &session,
        Which::Matching,
        &current,
    ) {
        Ok(req) => req,
        Err(response) => return response,
    };
    let mut matching = state.services.matching();
    let result = if order {
        matching
            .order_procurement(request(
                &session,
                PURPOSE,
                m::OrderProcurementRequest {
                    name: req.procurement,
                    agreed_hourly_price: Some(Money { ore }),
                    etag: form.etag,
                },
            ))
            .await
    } else {
        matching
            .record_offer(request(
                &session,
                PURPOSE,
                m::RecordOfferRequest {
                    name: req.procurement,
                    offered_hourly_price: Some(Money { ore }),
                    note: form.note,
                    etag: form.etag,
                },
            ))
            .await
    };
    let notice = if order {
        "Bestilt hos leverandøren."
    } else {
        "Tilbuddet er registreret."
    };
    after(&state, &session, &code, &id, result.map(|_| ()), notice).await
}

async fn after(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    result: Result<(), tonic::Status>,
    notice: &str,
) -> Response {
    match result {
        Ok(_) => answer(request_page(state, session, code, id, None, Some(notice)).await),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Matching);
            answer(request_page(state, session, code, id, Some(&problem), None).await)
        }
    }
}

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
