//! The coordinator's timesheets: every submitted timesheet of the contact persons serving
//! the coordinator's municipalities, to approve (final, R-TC-4) or return.

use crate::web::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::timecost::v1 as t;
use maud::html;
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::page;
use crate::web::{Answer, AppState, Signed, check_csrf, or_page, status_page};

const PURPOSE: &str = "console: timesheet approval";

/// How many waiting timesheets the page shows (the oldest submissions).
const SHOWN: usize = 50;

/// `GET /timesedler`.
pub async fn list(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let current = "/timesedler";
    let sheets = or_page(
        state
            .services
            .timecost()
            .list_timesheets(request(
                &session,
                PURPOSE,
                t::ListTimesheetsRequest {
                    parent: "serviceUnits/-/contactPersons/-".into(),
                    state: t::TimesheetState::Submitted as i32,
                    municipality: String::new(),
                },
            ))
            .await,
        &session,
        Which::Timecost,
        current,
    )?
    .timesheets;
    let total = sheets.len();
    let mut sheets = sheets;
    sheets.truncate(SHOWN);
    // The names of the people on this page only.
    let persons: Vec<String> = sheets
        .iter()
        .filter_map(|s| {
            s.name
                .rsplit_once("/timesheets/")
                .map(|(p, _)| p.to_owned())
        })
        .collect();
    let names = person_names(&state, &session, &persons).await;
    let waiting: Vec<(String, t::Timesheet)> = sheets
        .into_iter()
        .map(|sheet| {
            let person = sheet
                .name
                .rsplit_once("/timesheets/")
                .map_or("", |(p, _)| p);
            let who = names
                .get(person)
                .cloned()
                .unwrap_or_else(|| person.rsplit('/').next().unwrap_or(person).to_owned());
            (who, sheet)
        })
        .collect();
    let body = html! {
        @if waiting.is_empty() { div.notice { p { "Ingen timesedler venter på godkendelse." } } }
        @if total > waiting.len() { p { "Viser de " (waiting.len()) " ældste af " (total) " indsendte timesedler." } }
        @else {
            div.table-wrap tabindex="0" { table {
                thead { tr { th scope="col" { "Kontaktperson" } th scope="col" { "Periode" } th.num scope="col" { "Timer" } th scope="col" { "Indsendt" } th scope="col" { "" } } }
                tbody {
                    @for (who, sheet) in &waiting {
                        tr data-timesheet=(sheet.name) {
                            td { (who) }
                            td { (format::proto_date(sheet.period.as_ref().and_then(|p| p.start.as_ref()))) "–" (format::proto_date(sheet.period.as_ref().and_then(|p| p.end.as_ref()))) }
                            td.num { (format::minutes(i64::from(sheet.total_minutes))) }
                            td { (format::timestamp(sheet.submit_time.as_ref())) }
                            td {
                                div.actions {
                                    form.inline method="post" action="/timesedler/godkend" {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        input type="hidden" name="name" value=(sheet.name);
                                        input type="hidden" name="etag" value=(sheet.etag);
                                        button type="submit" { "Godkend" }
                                    }
                                }
                                details {
                                    summary { "Send retur med en begrundelse" }
                                    form method="post" action="/timesedler/retur" {
                                        input type="hidden" name="csrf" value=(session.csrf);
                                        input type="hidden" name="name" value=(sheet.name);
                                        input type="hidden" name="etag" value=(sheet.etag);
                                        @let id = format!("reason-{}", sheet.name.rsplit('/').next().unwrap_or(""));
                                        div.field {
                                            label for=(id) { "Hvad skal rettes?" }
                                            input id=(id) name="reason" type="text" maxlength="500" required placeholder="Fx tirsdag mangler";
                                        }
                                        button.secondary type="submit" { "Send retur" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    Ok(page(&session, "Timesedler til godkendelse", current, body))
}

/// Contact persons' display names, each asked for once.
async fn person_names(
    state: &AppState,
    session: &crate::session::Session,
    persons: &[String],
) -> std::collections::HashMap<String, String> {
    let mut unique: Vec<&String> = persons.iter().collect();
    unique.sort_unstable();
    unique.dedup();
    futures_util::future::join_all(unique.into_iter().map(|name| {
        let mut client = state.services.matching();
        let call = request(
            session,
            PURPOSE,
            kontakt_proto::matching::v1::GetContactPersonRequest { name: name.clone() },
        );
        async move {
            client
                .get_contact_person(call)
                .await
                .ok()
                .map(|p| (name.clone(), p.into_inner().display_name))
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}

#[derive(Deserialize)]
pub struct SheetForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    etag: String,
    #[serde(default)]
    reason: String,
}

/// `POST /timesedler/godkend`: approved, final (R-TC-4).
pub async fn approve(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(form): Form<SheetForm>,
) -> Response {
    step(state, session, form, true).await
}

/// `POST /timesedler/retur`: back to the contact person, open again, with the reason.
pub async fn send_back(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(form): Form<SheetForm>,
) -> Response {
    step(state, session, form, false).await
}

async fn step(
    state: AppState,
    session: crate::session::Session,
    form: SheetForm,
    approve: bool,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let mut timecost = state.services.timecost();
    let answer = if approve {
        timecost
            .approve_timesheet(request(
                &session,
                PURPOSE,
                t::ApproveTimesheetRequest {
                    name: form.name,
                    etag: form.etag,
                },
            ))
            .await
    } else {
        timecost
            .return_timesheet(request(
                &session,
                PURPOSE,
                t::ReturnTimesheetRequest {
                    name: form.name,
                    etag: form.etag,
                    reason: form.reason,
                },
            ))
            .await
    };
    match answer {
        Ok(_) => Redirect::to("/timesedler").into_response(),
        Err(status) => status_page(&session, &status, Which::Timecost, "/timesedler"),
    }
}
