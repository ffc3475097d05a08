//! The counsellor's screens: my referrals and grants, due and overdue follow-ups (days
//! overdue), the statutory deadlines that have come due (ungestøtte before 18, a running
//! undersøgelse, the child's plan) marked met with what was decided, recording a follow-up
//! (continue / adjust / end), and a grant's history.

use crate::web::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::common::v1::Date;
use kontakt_proto::followup::v1 as f;
use kontakt_proto::referral::v1 as r;
use maud::html;
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{field, page, page_with_status, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, check_csrf, or_page};

const PURPOSE: &str = "console: case work and follow-up";

/// How many due follow-ups and referrals a list shows per municipality (the earliest due and
/// the newest first, as the services order them).
const LIST_SIZE: i32 = 50;

/// `municipalities/329/grants/g-1` → `/raadgiver/bevilling/329/g-1`.
pub fn grant_path(name: &str) -> String {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", code, "grants", id] => format!("/raadgiver/bevilling/{code}/{id}"),
        _ => "/raadgiver".to_owned(),
    }
}

fn follow_up_path(name: &str) -> String {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", code, "followUps", id] => format!("/raadgiver/opfoelgning/{code}/{id}"),
        _ => "/raadgiver".to_owned(),
    }
}

pub fn referral_state(state: i32) -> &'static str {
    match r::ReferralState::try_from(state) {
        Ok(r::ReferralState::Draft) => "Kladde",
        Ok(r::ReferralState::Submitted) => "Indsendt",
        Ok(r::ReferralState::InCommittee) => "På udvalgets dagsorden",
        Ok(r::ReferralState::Approved) => "Bevilget",
        Ok(r::ReferralState::Rejected) => "Afslået",
        Ok(r::ReferralState::Returned) => "Sendt retur",
        _ => "–",
    }
}

#[derive(Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    henvisning: String,
    #[serde(default)]
    frist: String,
}

/// What a deadline asks of the counsellor, in Danish.
fn deadline_kind(kind: f::DeadlineKind) -> &'static str {
    match kind {
        f::DeadlineKind::UngestoetteDecision => {
            "Beslut om ungestøtte før det fyldte 18. år (Barnets Lov §§ 113-116)"
        }
        f::DeadlineKind::ChildAssessment => {
            "Afslut den børnefaglige undersøgelse (Barnets Lov § 20, stk. 3)"
        }
        f::DeadlineKind::ChildsPlan => "Beslut om og udarbejd barnets plan (Barnets Lov § 91)",
        f::DeadlineKind::Unspecified => "–",
    }
}

/// `municipalities/329/deadlines/d-1` → `/raadgiver/frist/329/d-1`.
fn deadline_path(name: &str) -> String {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", code, "deadlines", id] => format!("/raadgiver/frist/{code}/{id}"),
        _ => "/raadgiver".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct DeadlineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /raadgiver/frist/{municipality}/{id}`: marks the deadline met with what was decided.
pub async fn complete_deadline(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<DeadlineForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let answer = state
        .services
        .followup()
        .complete_deadline(request(
            &session,
            PURPOSE,
            f::CompleteDeadlineRequest {
                name: format!("municipalities/{code}/deadlines/{id}"),
                note: form.note,
            },
        ))
        .await;
    match answer {
        Ok(_) => Redirect::to("/raadgiver?frist=afgjort").into_response(),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Followup);
            let body = html! {
                (problem_box(&problem))
                p { a href="/raadgiver" { "Tilbage til mine sager" } }
            };
            page_with_status(&session, problem.http_status(), "Frist", "/raadgiver", body)
                .into_response()
        }
    }
}

/// `GET /raadgiver`.
pub async fn home(
    State(state): State<AppState>,
    Signed(session): Signed,
    axum::extract::Query(query): axum::extract::Query<HomeQuery>,
) -> Answer {
    let current = "/raadgiver";
    let today = state.today();
    let mut due = Vec::new();
    let mut deadlines = Vec::new();
    let mut referrals = Vec::new();
    for code in &session.person.municipalities {
        let parent = format!("municipalities/{code}");
        deadlines.extend(
            or_page(
                state
                    .services
                    .followup()
                    .list_deadlines(request(
                        &session,
                        PURPOSE,
                        f::ListDeadlinesRequest {
                            parent: parent.clone(),
                            counsellor: session.person.subject.clone(),
                            page_size: LIST_SIZE,
                            ..f::ListDeadlinesRequest::default()
                        },
                    ))
                    .await,
                &session,
                Which::Followup,
                current,
            )?
            .deadlines
            .into_iter()
            // What has come due: the others show when their time comes.
            .filter(|d| matches!(d.state(), f::DeadlineState::Due | f::DeadlineState::Overdue)),
        );
        due.extend(
            or_page(
                state
                    .services
                    .followup()
                    .list_due_follow_ups(request(
                        &session,
                        PURPOSE,
                        f::ListDueFollowUpsRequest {
                            parent: parent.clone(),
                            counsellor: session.person.subject.clone(),
                            due_on_or_before: None,
                            page_size: LIST_SIZE,
                            page_token: String::new(),
                        },
                    ))
                    .await,
                &session,
                Which::Followup,
                current,
            )?
            .follow_ups,
        );
        referrals.extend(
            or_page(
                state
                    .services
                    .referral()
                    .list_referrals(request(
                        &session,
                        PURPOSE,
                        r::ListReferralsRequest {
                            parent,
                            page_size: LIST_SIZE,
                            counsellor: session.person.subject.clone(),
                            ..r::ListReferralsRequest::default()
                        },
                    ))
                    .await,
                &session,
                Which::Referral,
                current,
            )?
            .referrals,
        );
    }
    // Whose follow-ups they are: each grant's child, by name.
    use futures_util::StreamExt as _;
    let mut grant_names: Vec<&str> = due
        .iter()
        .map(|fu| fu.grant.as_str())
        .chain(deadlines.iter().map(|d| d.grant.as_str()))
        .collect();
    grant_names.sort_unstable();
    grant_names.dedup();
    let calls: Vec<_> = grant_names
        .iter()
        .map(|grant| {
            let mut client = state.services.referral();
            let call = request(
                &session,
                PURPOSE,
                r::GetGrantRequest {
                    name: (*grant).to_owned(),
                },
            );
            async move {
                client
                    .get_grant(call)
                    .await
                    .ok()
                    .map(tonic::Response::into_inner)
            }
        })
        .collect();
    let grants: Vec<r::Grant> = futures_util::stream::iter(calls)
        .buffer_unordered(crate::grpc::PAGE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    let names = crate::grpc::person_names(
        &state.services,
        &session,
        PURPOSE,
        grants
            .iter()
            .map(|g| g.person.as_str())
            .chain(referrals.iter().map(|x| x.person.as_str())),
    )
    .await;
    let child_of = |grant: &str| {
        grants
            .iter()
            .find(|g| g.name == grant)
            .and_then(|g| names.get(&g.person))
            .cloned()
            .unwrap_or_default()
    };
    let body = html! {
        @if query.henvisning == "sendt" {
            div.notice role="status" { p { "Henvisningen er sendt til visitation." } }
        }
        div.actions { a.button href="/raadgiver/ny-henvisning" { "Ny henvisning" } }
        h2 { "Opfølgninger, der forfalder" }
        @if due.is_empty() { p { "Ingen opfølgninger forfalder." } }
        @else {
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Frist" } th scope="col" { "Barn" } th scope="col" { "Status" } th scope="col" { "Bevilling" } th scope="col" { "" } } }
                tbody {
                    @for fu in &due {
                        @let date = fu.due_date.as_ref().and_then(Date::to_naive);
                        @let late = date.map_or(0, |d| (today - d).num_days());
                        tr data-follow-up=(fu.name) {
                            td { (format::proto_date(fu.due_date.as_ref())) }
                            td { (child_of(&fu.grant)) }
                            td { @if late > 0 { span.tag.bad { "Overskredet med " (late) " dage" } } @else { span.tag { "Forfalder" } } }
                            td { a href=(grant_path(&fu.grant)) { (crate::screens::coordinator::short_id(&fu.grant)) } }
                            td { a.button href=(follow_up_path(&fu.name)) { "Registrér opfølgning" } }
                        }
                    }
                }
            } }
        }
        h2 { "Frister" }
        @if query.frist == "afgjort" {
            div.notice role="status" { p { "Fristen er markeret som afgjort." } }
        }
        @if deadlines.is_empty() { p { "Ingen frister forfalder." } }
        @else {
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Frist" } th scope="col" { "Barn" } th scope="col" { "Hvad" } th scope="col" { "Status" } th scope="col" { "Bevilling" } th scope="col" { "Afgørelse" } } }
                tbody {
                    @for d in &deadlines {
                        @let note_id = format!("note-{}", crate::screens::coordinator::short_id(&d.name));
                        tr data-deadline=(d.name) {
                            td { (format::proto_date(d.deadline_date.as_ref())) }
                            td { (child_of(&d.grant)) }
                            td { (deadline_kind(d.kind())) }
                            td { @if d.state() == f::DeadlineState::Overdue { span.tag.bad { "Overskredet" } } @else { span.tag { "Forfalder" } } }
                            td { a href=(grant_path(&d.grant)) { (crate::screens::coordinator::short_id(&d.grant)) } }
                            td {
                                form method="post" action=(deadline_path(&d.name)) {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    label for=(note_id) { "Hvad blev besluttet" }
                                    textarea id=(note_id) name="note" required maxlength="4000" {}
                                    button type="submit" { "Markér som afgjort" }
                                }
                            }
                        }
                    }
                }
            } }
        }
        h2 { "Mine henvisninger" }
        @if referrals.is_empty() { p { "Ingen." } }
        @else {
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Barn" } th scope="col" { "Henvisning" } th scope="col" { "Kommune" } th scope="col" { "Status" } th.num scope="col" { "Timer" } th scope="col" { "Formål" } } }
                tbody {
                    @for rf in &referrals {
                        tr {
                            td { (names.get(&rf.person).map_or("", String::as_str)) }
                            td {
                                @if matches!(r::ReferralState::try_from(rf.state), Ok(r::ReferralState::Draft | r::ReferralState::Returned)) {
                                    a href=(crate::screens::referral_draft::draft_path(&rf.name)) { (crate::screens::coordinator::short_id(&rf.name)) }
                                } @else {
                                    (crate::screens::coordinator::short_id(&rf.name))
                                }
                            }
                            td { (format::municipality(rf.name.split('/').nth(1).unwrap_or(""))) }
                            td { (referral_state(rf.state)) }
                            td.num { (format::hours_per_week(rf.requested_minutes_per_week)) }
                            td { (rf.purpose) }
                        }
                    }
                }
            } }
        }
        h2 { "Indberetning til Danmarks Statistik" }
        (crate::screens::statistics::form(&session, state.today()))
    };
    Ok(page(&session, "Mine sager", current, body))
}

#[derive(Deserialize)]
pub struct GrantQuery {
    #[serde(default)]
    opfoelgning: String,
}

/// `GET /raadgiver/bevilling/{municipality}/{id}`: the grant and its versions.
pub async fn grant(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<GrantQuery>,
) -> Answer {
    let name = format!("municipalities/{code}/grants/{id}");
    let current = format!("/raadgiver/bevilling/{code}/{id}");
    let grant = or_page(
        state
            .services
            .referral()
            .get_grant(request(
                &session,
                PURPOSE,
                r::GetGrantRequest { name: name.clone() },
            ))
            .await,
        &session,
        Which::Referral,
        &current,
    )?;
    let versions = or_page(
        state
            .services
            .referral()
            .list_grant_versions(request(
                &session,
                PURPOSE,
                r::ListGrantVersionsRequest {
                    parent: name.clone(),
                    page_size: 100,
                    page_token: String::new(),
                },
            ))
            .await,
        &session,
        Which::Referral,
        &current,
    )?
    .versions;
    let child =
        crate::grpc::person_names(&state.services, &session, PURPOSE, [grant.person.as_str()])
            .await;
    let body = html! {
        @if query.opfoelgning == "gemt" {
            div.notice role="status" { p { "Opfølgningen er gemt. En ændring af timerne vises her som en ny version, så snart visitationen har registreret den." } }
        }
        div.card data-person=(grant.person) {
            dl {
                dt { "Barn" } dd { (child.get(&grant.person).map_or("–", String::as_str)) }
                dt { "Timer nu" } dd { (format::hours_per_week(grant.minutes_per_week)) }
                dt { "Start" } dd { (format::proto_date(grant.start_date.as_ref())) }
                dt { "Forventet ophør" } dd { (format::proto_date(grant.expected_end_date.as_ref())) }
                @if grant.end_date.is_some() { dt { "Ophørt" } dd { (format::proto_date(grant.end_date.as_ref())) } }
                dt { "Formål" } dd { (grant.purpose) }
            }
        }
        h2 { "Historik" }
        div.table-wrap tabindex="0" { table {
            thead { tr { th scope="col" { "Version" } th scope="col" { "Fra" } th scope="col" { "Til" } th.num scope="col" { "Timer" } th scope="col" { "Besluttet af" } th scope="col" { "Note" } } }
            tbody {
                @for (i, v) in versions.iter().enumerate() {
                    tr data-version=(i + 1) data-minutes=(v.minutes_per_week) {
                        td { "Version " (i + 1) }
                        td { (format::proto_date(v.effective.as_ref().and_then(|e| e.start.as_ref()))) }
                        td { (format::proto_date(v.effective.as_ref().and_then(|e| e.end.as_ref()))) }
                        td.num { (format::hours_per_week(v.minutes_per_week)) }
                        td { (v.decider) }
                        td { @if !v.follow_up.is_empty() { "Efter opfølgning" } (v.justification) }
                    }
                }
            }
        } }
        p { a href="/raadgiver" { "Tilbage til mine sager" } }
    };
    Ok(page(
        &session,
        &format!("Bevilling {}", crate::screens::coordinator::short_id(&name)),
        &current,
        body,
    ))
}

/// `GET /raadgiver/opfoelgning/{municipality}/{id}`.
pub async fn follow_up(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
) -> Answer {
    follow_up_page(&state, &session, &code, &id, None).await
}

async fn follow_up_page(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    problem: Option<&Problem>,
) -> Answer {
    let name = format!("municipalities/{code}/followUps/{id}");
    let current = format!("/raadgiver/opfoelgning/{code}/{id}");
    let fu = or_page(
        state
            .services
            .followup()
            .get_follow_up(request(session, PURPOSE, f::GetFollowUpRequest { name }))
            .await,
        session,
        Which::Followup,
        &current,
    )?;
    let today = state.today().format("%Y-%m-%d").to_string();
    let body = html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        p { "Frist: " strong { (format::proto_date(fu.due_date.as_ref())) } " · bevilling " a href=(grant_path(&fu.grant)) { (crate::screens::coordinator::short_id(&fu.grant)) } }
        form method="post" action=(current) {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="etag" value=(fu.etag);
            fieldset {
                legend { "Udfald" }
                @for (value, label) in [("continue", "Fortsæt uændret"), ("adjust", "Justér timerne"), ("end", "Afslut (formålet er nået)")] {
                    div.choice { input type="radio" id={"outcome-" (value)} name="outcome" value=(value) required checked[value == "continue"]; " " label for={"outcome-" (value)} { (label) } }
                }
            }
            (field(problem, "adjusted_minutes_per_week", "Nye minutter om ugen (ved justering)", Some("Fx 120 for 2 timer"),
                html! { input id="adjusted_minutes_per_week" name="adjusted_minutes_per_week" type="number" min="0" inputmode="numeric"; }))
            (field(problem, "approval_level", "Kompetence", None, html! {
                select id="approval_level" name="approval_level" {
                    option value="1" { "Egen kompetence" }
                    option value="2" { "Teammøde" }
                    option value="3" { "Teamleder" }
                    option value="4" { "Visitationsudvalget" }
                }
            }))
            (field(problem, "completed_date", "Dato for opfølgningen", None,
                html! { input id="completed_date" name="completed_date" type="date" value=(today) max=(today) required; }))
            (field(problem, "summary", "Resumé", None, html! { textarea id="summary" name="summary" required {} }))
            (field(problem, "justification", "Begrundelse", Some("Kræves, når timerne afviger fra standarden"), html! { textarea id="justification" name="justification" {} }))
            button type="submit" { "Gem opfølgning" }
        }
    };
    let status = problem.map_or(axum::http::StatusCode::OK, Problem::http_status);
    Ok(page_with_status(
        session,
        status,
        "Registrér opfølgning",
        &current,
        body,
    ))
}

#[derive(Deserialize)]
pub struct FollowUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    etag: String,
    outcome: String,
    #[serde(default)]
    adjusted_minutes_per_week: String,
    #[serde(default)]
    approval_level: i32,
    completed_date: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    justification: String,
}

/// `POST /raadgiver/opfoelgning/{municipality}/{id}`: records it; the grant follows.
pub async fn complete(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<FollowUpForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let again = |problem: Problem| {
        let state = state.clone();
        let session = session.clone();
        let (code, id) = (code.clone(), id.clone());
        async move {
            match follow_up_page(&state, &session, &code, &id, Some(&problem)).await {
                Ok(page) => page.into_response(),
                Err(response) => response,
            }
        }
    };
    let Some(completed) = format::parse_date(&form.completed_date) else {
        return again(Problem::invalid(
            "completed_date",
            "Skriv datoen som dd.mm.åååå.",
        ))
        .await;
    };
    let outcome = match form.outcome.as_str() {
        "continue" => f::FollowUpOutcome::Continue,
        "adjust" => f::FollowUpOutcome::Adjust,
        "end" => f::FollowUpOutcome::End,
        _ => return again(Problem::invalid("outcome", "Vælg et udfald.")).await,
    };
    let adjusted = form.adjusted_minutes_per_week.trim();
    let adjusted = if adjusted.is_empty() {
        0
    } else {
        match adjusted.parse::<i32>() {
            Ok(minutes) => minutes,
            Err(_) => {
                return again(Problem::invalid(
                    "adjusted_minutes_per_week",
                    "Skriv minutter som et helt tal.",
                ))
                .await;
            }
        }
    };
    let name = format!("municipalities/{code}/followUps/{id}");
    let fu = f::FollowUp {
        name: name.clone(),
        etag: form.etag,
        participants: vec![f::Participant {
            role: f::ParticipantRole::Counsellor as i32,
            principal: session.person.subject.clone(),
            display_name: session.person.name.clone(),
        }],
        outcome: outcome as i32,
        adjusted_minutes_per_week: adjusted,
        approval_level: form.approval_level,
        completed_date: Some(completed.into()),
        summary: form.summary,
        justification: form.justification,
        ..f::FollowUp::default()
    };
    match state
        .services
        .followup()
        .complete_follow_up(request(
            &session,
            PURPOSE,
            f::CompleteFollowUpRequest {
                follow_up: Some(fu),
            },
        ))
        .await
    {
        Ok(done) => Redirect::to(&format!(
            "{}?opfoelgning=gemt",
            grant_path(&done.into_inner().grant)
        ))
        .into_response(),
        Err(status) => again(Problem::from_status(&status, Which::Followup)).await,
    }
}
