//! Finance's screens: a frame's budget status per municipality and month, a plot drawn on the
//! server as SVG next to the table, and the same figures as CSV (Danish spreadsheet
//! conventions) and XLSX downloads.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kontakt_proto::timecost::v1 as t;
use maud::{PreEscaped, html};
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::page;
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, or_page};

const PURPOSE: &str = "console: budget follow-up";

#[derive(Deserialize)]
pub struct FrameQuery {
    #[serde(default)]
    ramme: String,
}

/// A frame id as the services name it (`frames/{id}`): lower-case letters, digits and `-`.
pub(super) fn frame_id(text: &str) -> Option<&str> {
    let id = text.trim().trim_start_matches("frames/");
    (!id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(id)
}

/// `GET /oekonomi`: the frames this installation follows, or the one asked for.
pub async fn home(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<FrameQuery>,
) -> Answer {
    if let Some(id) = frame_id(&query.ramme) {
        return budget_page(&state, &session, id).await;
    }
    let body = html! {
        @if state.frames.is_empty() {
            p { "Skriv rammens id for at se dens budget." }
        } @else {
            ul { @for id in &state.frames { li { a href={"/oekonomi/" (id)} { (id) } } } }
        }
        form method="get" action="/oekonomi" {
            div.field {
                label for="ramme" { "Ramme" }
                input id="ramme" name="ramme" type="text" required;
            }
            button type="submit" { "Vis budget" }
        }
    };
    Ok(page(&session, "Økonomi", "/oekonomi", body))
}

/// `GET /oekonomi/{frame}`.
pub async fn frame(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Answer {
    match frame_id(&id) {
        Some(id) => budget_page(&state, &session, id).await,
        None => Err(no_such_frame(&session)),
    }
}

pub(super) fn no_such_frame(session: &Session) -> Response {
    crate::web::problem_page(session, &crate::problem::Problem::not_found(), "/oekonomi")
}

async fn status(
    state: &AppState,
    session: &Session,
    id: &str,
) -> Result<t::BudgetStatus, Response> {
    or_page(
        state
            .services
            .timecost()
            .get_budget_status(request(
                session,
                PURPOSE,
                t::GetBudgetStatusRequest {
                    name: format!("frames/{id}/budgetStatus"),
                    as_of: None,
                },
            ))
            .await,
        session,
        Which::Timecost,
        "/oekonomi",
    )
}

/// The budget status of the frame a download names (`text`), with its id; or the page that
/// says why there is none.
async fn download_status<'a>(
    state: &AppState,
    session: &Session,
    text: &'a str,
) -> Result<(&'a str, t::BudgetStatus), Response> {
    let id = frame_id(text).ok_or_else(|| no_such_frame(session))?;
    Ok((id, status(state, session, id).await?))
}

/// The frame, for its name and amounts beside a page's figures; `None` when it cannot be read
/// (the page then names it by its id).
pub(super) async fn frame_of(
    state: &AppState,
    session: &Session,
    purpose: &'static str,
    id: &str,
) -> Option<t::Frame> {
    state
        .services
        .timecost()
        .get_frame(request(
            session,
            purpose,
            t::GetFrameRequest {
                name: format!("frames/{id}"),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
        .ok()
}

async fn budget_page(state: &AppState, session: &Session, id: &str) -> Answer {
    let current = format!("/oekonomi/{id}");
    let status = status(state, session, id).await?;
    let frame = frame_of(state, session, PURPOSE, id)
        .await
        .map(|f| f.display_name)
        .unwrap_or_default();
    let title = if frame.is_empty() {
        format!("Budget: {id}")
    } else {
        format!("Budget: {frame}")
    };
    let body = html! {
        p { "Budget " (status.year) " opgjort pr. " (format::proto_date(status.as_of.as_ref())) "." }
        @if status.threshold_passed {
            div.warning role="status" { p { strong { "Advarsel:" } " Forbruget har passeret rammens varslingsgrænse." } }
        }
        div.actions {
            a.button.secondary href={(current) "/budget.csv"} download { "Hent CSV" }
            a.button.secondary href={(current) "/budget.xlsx"} download { "Hent Excel (XLSX)" }
            a.button.secondary href={(current) "/evaluering/" (status.year)} { "Årsevaluering " (status.year) }
        }
        figure {
            (PreEscaped(crate::budget_files::svg(&status)))
        }
        h2 { "Kommunerne" }
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Kommune" } th.num scope="col" { "Andel" } th.num scope="col" { "Forventet" }
                th.num scope="col" { "Forbrugt" } th.num scope="col" { "Disponeret" } th.num scope="col" { "Fri" }
            } }
            tbody {
                @for mb in &status.municipalities {
                    tr data-municipality=(mb.municipality) data-spent-ore=(mb.spent.as_ref().map_or(0, |m| m.ore)) {
                        th scope="row" { (format::municipality(&mb.municipality)) }
                        td.num { @if let Some(s) = &mb.share { (s.numerator) "/" (s.denominator) } }
                        td.num { (format::money(mb.expected.as_ref())) }
                        td.num { (format::money(mb.spent.as_ref())) }
                        td.num { (format::money(mb.committed.as_ref())) }
                        td.num { (format::money(mb.free.as_ref())) }
                    }
                }
                tr data-frame-total="true" {
                    th scope="row" { "Rammen i alt" }
                    td.num { "1" }
                    td.num { (format::money(status.indexed_amount.as_ref())) }
                    td.num { (format::money(status.spent.as_ref())) }
                    td.num { (format::money(status.committed.as_ref())) }
                    td.num { (format::money(status.free.as_ref())) }
                }
            }
        } }
        h2 { "Måned for måned" }
        div.table-wrap tabindex="0" { table {
            thead { tr { th scope="col" { "Måned" } th.num scope="col" { "Forbrugt" } th.num scope="col" { "Timer" } } }
            tbody {
                @for month in &status.months {
                    tr {
                        th scope="row" { (month.month.as_ref().map_or_else(String::new, |d| format!("{} {}", format::MONTHS.get((d.month - 1).clamp(0, 11) as usize).copied().unwrap_or(""), d.year))) }
                        td.num { (format::money(month.spent.as_ref())) }
                        td.num { (format::minutes(month.minutes)) }
                    }
                }
            }
        } }
    };
    Ok(page(session, &title, &current, body))
}

pub(super) fn download(bytes: Vec<u8>, content_type: &'static str, filename: String) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `GET /oekonomi/{frame}/budget.csv`.
pub async fn csv(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    match download_status(&state, &session, &id).await {
        Ok((id, status)) => download(
            crate::budget_files::csv(&status),
            "text/csv; charset=utf-8",
            format!("budget-{id}-{}.csv", status.year),
        ),
        Err(response) => response,
    }
}

/// `GET /oekonomi/{frame}/budget.xlsx`.
pub async fn xlsx(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    let (id, status) = match download_status(&state, &session, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match crate::budget_files::xlsx(&status) {
        Ok(bytes) => download(
            bytes,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("budget-{id}-{}.xlsx", status.year),
        ),
        Err(err) => {
            tracing::error!(error = %err, "writing the budget workbook");
            crate::web::problem_page(
                &session,
                &crate::problem::Problem {
                    status: 500,
                    title: "Regnearket kunne ikke laves".into(),
                    detail: "Prøv CSV-filen i stedet.".into(),
                    ..Default::default()
                },
                "/oekonomi",
            )
        }
    }
}
