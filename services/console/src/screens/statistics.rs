//! The report of preventive measures to Danmarks Statistik, for the counsellors of the
//! municipality (myndigheden): a period and a municipality in, the referral service's CSV out
//! (every child's CPR number in it, each read logged by the service with this purpose).

use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike as _, NaiveDate};
use kontakt_proto::common::v1::DateRange;
use kontakt_proto::referral::v1 as r;
use maud::{Markup, html};
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{AppState, Signed};

use super::finance::download;

const PURPOSE: &str = "console: report of preventive measures to Danmarks Statistik";

/// The form on the counsellor's page: last year by default, one municipality of the session's.
pub fn form(session: &Session, today: NaiveDate) -> Markup {
    let last = today.year() - 1;
    html! {
        form.card method="get" action="/raadgiver/statistik.csv" {
            p { "Forebyggende foranstaltninger i en periode som CSV til indberetningen. Filen indeholder børnenes CPR-numre; hvert opslag logges." }
            div.field {
                label for="kommune" { "Kommune" }
                select id="kommune" name="kommune" {
                    @for code in &session.person.municipalities {
                        option value=(code) { (format::municipality(code)) }
                    }
                }
            }
            div.field {
                label for="fra" { "Fra" }
                input id="fra" name="fra" type="date" required value=(format!("{last}-01-01"));
            }
            div.field {
                label for="til" { "Til" }
                input id="til" name="til" type="date" required value=(format!("{last}-12-31"));
            }
            button type="submit" { "Hent CSV til Danmarks Statistik" }
        }
    }
}

#[derive(Deserialize)]
pub struct Period {
    #[serde(default)]
    kommune: String,
    #[serde(default)]
    fra: String,
    #[serde(default)]
    til: String,
}

/// `GET /raadgiver/statistik.csv?kommune=…&fra=…&til=…`.
pub async fn csv(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(period): Query<Period>,
) -> Response {
    let current = "/raadgiver";
    let (Some(from), Some(to)) = (
        format::parse_date(&period.fra),
        format::parse_date(&period.til),
    ) else {
        return crate::web::problem_page(
            &session,
            &Problem::invalid("period", "Skriv periodens første og sidste dag"),
            current,
        );
    };
    let answer = state
        .services
        .referral()
        .export_preventive_measures(request(
            &session,
            PURPOSE,
            r::ExportPreventiveMeasuresRequest {
                parent: format!("municipalities/{}", period.kommune.trim()),
                period: Some(DateRange {
                    start: Some(from.into()),
                    end: Some(to.into()),
                }),
            },
        ))
        .await;
    let collected = match answer {
        Ok(stream) => collect(stream.into_inner()).await,
        Err(status) => Err(status),
    };
    match collected {
        Ok((bytes, filename)) => download(bytes, "text/csv; charset=utf-8", filename),
        Err(status) => crate::web::problem_page(
            &session,
            &Problem::from_status(&status, Which::Referral),
            current,
        ),
    }
}

/// The whole file and its name: a download is sent complete or not at all.
async fn collect(
    mut stream: tonic::Streaming<r::ExportChunk>,
) -> Result<(Vec<u8>, String), tonic::Status> {
    let (mut bytes, mut filename) = (Vec::new(), String::new());
    while let Some(chunk) = stream.message().await? {
        bytes.extend(chunk.data);
        if filename.is_empty() {
            filename = chunk.filename;
        }
    }
    Ok((bytes, filename))
}
