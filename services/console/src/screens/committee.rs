//! The committee's screens: the agenda (referrals submitted or scheduled for a meeting) and
//! deciding one: approve, return or reject, with level and justification.

use crate::web::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::referral::v1 as r;
use maud::html;
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{field, page, page_with_status, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, check_csrf, or_page};

const PURPOSE: &str = "console: visitation committee";

/// `GET /udvalg`: what awaits a decision, oldest first.
pub async fn agenda(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let current = "/udvalg";
    let mut waiting = Vec::new();
    for code in &session.person.municipalities {
        for wanted in [r::ReferralState::Submitted, r::ReferralState::InCommittee] {
            waiting.extend(
                or_page(
                    state
                        .services
                        .referral()
                        .list_referrals(request(
                            &session,
                            PURPOSE,
                            r::ListReferralsRequest {
                                parent: format!("municipalities/{code}"),
                                page_size: 50,
                                state: wanted as i32,
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
    }
    waiting.sort_by_key(|x| x.submit_time.as_ref().map_or(0, |t| t.seconds));
    let names = crate::grpc::person_names(
        &state.services,
        &session,
        PURPOSE,
        waiting.iter().map(|x| x.person.as_str()),
    )
    .await;
    let body = html! {
        @if waiting.is_empty() { div.notice { p { "Der er ingen sager på dagsordenen." } } }
        @else {
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Barn" } th scope="col" { "Henvisning" } th scope="col" { "Kommune" } th scope="col" { "Indsendt" } th.num scope="col" { "Ønskede timer" } th scope="col" { "Formål" } th scope="col" { "" } } }
                tbody {
                    @for x in &waiting {
                        tr data-referral=(x.name) {
                            td { (names.get(&x.person).map_or("", String::as_str)) }
                            td { (crate::screens::coordinator::short_id(&x.name)) }
                            td { (format::municipality(x.name.split('/').nth(1).unwrap_or(""))) }
                            td { (format::timestamp(x.submit_time.as_ref())) }
                            td.num { (format::hours_per_week(x.requested_minutes_per_week)) }
                            td { (x.purpose) }
                            td { a.button href=(decide_path(&x.name)) { "Behandl" } }
                        }
                    }
                }
            } }
        }
    };
    Ok(page(
        &session,
        "Visitationsudvalgets dagsorden",
        current,
        body,
    ))
}

fn decide_path(name: &str) -> String {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", code, "referrals", id] => format!("/udvalg/{code}/{id}"),
        _ => "/udvalg".to_owned(),
    }
}

/// `GET /udvalg/{municipality}/{id}`.
pub async fn referral(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
) -> Answer {
    decide_page(&state, &session, &code, &id, None).await
}

async fn decide_page(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    problem: Option<&Problem>,
) -> Answer {
    let current = format!("/udvalg/{code}/{id}");
    let x = or_page(
        state
            .services
            .referral()
            .get_referral(request(
                session,
                PURPOSE,
                r::GetReferralRequest {
                    name: format!("municipalities/{code}/referrals/{id}"),
                },
            ))
            .await,
        session,
        Which::Referral,
        &current,
    )?;
    let start = state.today().format("%Y-%m-%d").to_string();
    let end = state
        .today()
        .checked_add_months(chrono::Months::new(
            x.expected_duration_months.clamp(1, 60) as u32
        ))
        .unwrap_or_else(|| state.today())
        .format("%Y-%m-%d")
        .to_string();
    let names =
        crate::grpc::person_names(&state.services, session, PURPOSE, [x.person.as_str()]).await;
    let body = html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        div.card {
            dl {
                dt { "Barn" } dd { (names.get(&x.person).map_or("–", String::as_str)) }
                dt { "Status" } dd { (crate::screens::counsellor::referral_state(x.state)) }
                dt { "Formål" } dd { (x.purpose) }
                dt { "Ønskede timer" } dd { (format::hours_per_week(x.requested_minutes_per_week)) }
                dt { "Forventet varighed" } dd { (x.expected_duration_months) " måneder" }
                @if !x.hours_justification.is_empty() { dt { "Begrundelse for timer" } dd { (x.hours_justification) } }
                @if !x.network_statement.is_empty() { dt { "Netværket" } dd { (x.network_statement) } }
            }
        }
        form method="post" action=(current) {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="etag" value=(x.etag);
            fieldset {
                legend { "Afgørelse" }
                @for (value, label) in [("approve", "Bevilg"), ("return", "Send retur"), ("reject", "Afslå")] {
                    div.choice { input type="radio" id={"outcome-" (value)} name="outcome" value=(value) required checked[value == "approve"]; " " label for={"outcome-" (value)} { (label) } }
                }
            }
            (field(problem, "approval_level", "Kompetence", None, html! {
                select id="approval_level" name="approval_level" {
                    option value="4" { "Visitationsudvalget" }
                    option value="1" { "Egen kompetence" }
                    option value="2" { "Teammøde" }
                    option value="3" { "Teamleder" }
                }
            }))
            (field(problem, "minutes_per_week", "Bevilgede minutter om ugen", None,
                html! { input id="minutes_per_week" name="minutes_per_week" type="number" min="0" value=(x.requested_minutes_per_week); }))
            (field(problem, "start_date", "Start", None, html! { input id="start_date" name="start_date" type="date" value=(start); }))
            (field(problem, "expected_end_date", "Forventet ophør", None, html! { input id="expected_end_date" name="expected_end_date" type="date" value=(end); }))
            (field(problem, "reason", "Begrundelse ved retur eller afslag", None, html! { textarea id="reason" name="reason" {} }))
            (field(problem, "justification", "Begrundelse for afvigelse fra standarden", None, html! { textarea id="justification" name="justification" {} }))
            @if !x.plan.is_empty() {
                @let error = problem.and_then(|p| p.field("goals_realistic"));
                fieldset.field.invalid[error.is_some()] {
                    legend { "Planens mål (kræves for at bevilge)" }
                    @if let Some(error) = error {
                        span.error id="goals_realistic-error" { span.visually-hidden { "Fejl: " } (error) }
                    }
                    div.choice { input type="checkbox" id="goals_realistic" name="goals_realistic" value="ja"; " " label for="goals_realistic" { "Udvalget har vurderet, at målene i barnets plan er realistiske" } }
                }
            }
            button type="submit" { "Gem afgørelse" }
        }
    };
    let status = problem.map_or(axum::http::StatusCode::OK, Problem::http_status);
    Ok(page_with_status(
        session,
        status,
        "Afgørelse",
        &current,
        body,
    ))
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    etag: String,
    outcome: String,
    approval_level: i32,
    #[serde(default)]
    minutes_per_week: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    expected_end_date: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    justification: String,
    /// "ja" when the committee ticked that the plan's goals are realistic (R-RV-8).
    #[serde(default)]
    goals_realistic: String,
}

/// `POST /udvalg/{municipality}/{id}`.
pub async fn decide(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let outcome = match form.outcome.as_str() {
        "approve" => r::DecisionOutcome::Approve,
        "return" => r::DecisionOutcome::Return,
        "reject" => r::DecisionOutcome::Reject,
        _ => r::DecisionOutcome::Unspecified,
    };
    let approve = outcome == r::DecisionOutcome::Approve;
    let result = state
        .services
        .referral()
        .decide_referral(request(
            &session,
            PURPOSE,
            r::DecideReferralRequest {
                name: format!("municipalities/{code}/referrals/{id}"),
                etag: form.etag,
                outcome: outcome as i32,
                approval_level: form.approval_level,
                reason: form.reason,
                minutes_per_week: if approve {
                    form.minutes_per_week.trim().parse().unwrap_or(0)
                } else {
                    0
                },
                start_date: approve
                    .then(|| format::parse_date(&form.start_date))
                    .flatten()
                    .map(Into::into),
                expected_end_date: approve
                    .then(|| format::parse_date(&form.expected_end_date))
                    .flatten()
                    .map(Into::into),
                justification: form.justification,
                goals_realistic: approve && form.goals_realistic == "ja",
                ..r::DecideReferralRequest::default()
            },
        ))
        .await;
    match result {
        Ok(_) => Redirect::to("/udvalg").into_response(),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Referral);
            match decide_page(&state, &session, &code, &id, Some(&problem)).await {
                Ok(page) => page.into_response(),
                Err(response) => response,
            }
        }
    }
}
