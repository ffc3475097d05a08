//! The assessment on the draft's page: its form and recording it (CreateAssessment).

use axum::extract::{Path, State};
use axum::response::Response;
use kontakt_proto::common::v1::Date;
use kontakt_proto::referral::v1 as r;
use maud::{Markup, html};
use serde::Deserialize;

use super::checklist::Missing;
use super::form::{View, choice, draft_page, group, text_area};
use super::{PURPOSE, described, invalid, invalid_fields, referral_name, respond};
use crate::format;
use crate::grpc::{Which, request};
use crate::page::field;
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{AppState, Form, Signed, check_csrf};

const ASSESSMENT_KINDS: [(&str, r::AssessmentKind, &str); 2] = [
    (
        "preliminary",
        r::AssessmentKind::Preliminary,
        "Afdækning (Barnets Lov § 19)",
    ),
    (
        "child_assessment",
        r::AssessmentKind::ChildAssessment,
        "Børnefaglig undersøgelse (Barnets Lov § 20)",
    ),
];

/// The assessment form.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AssessmentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    need_known_date: String,
    #[serde(default)]
    completion_date: String,
    #[serde(default)]
    conclusion: String,
}

pub(super) fn assessment_form(
    session: &Session,
    current: &str,
    typed: Option<&AssessmentForm>,
    today: chrono::NaiveDate,
    p: &Problem,
    items: &[Missing],
) -> Markup {
    let some = Some(p);
    let empty = AssessmentForm::default();
    let a = typed.unwrap_or(&empty);
    let today_iso = today.format("%Y-%m-%d").to_string();
    let needed = items.iter().find(|i| i.subject == "assessments");
    html! {
        section id="assessment" tabindex="-1" aria-labelledby="assessment-title" {
            h2 id="assessment-title" { "Afdækning eller børnefaglig undersøgelse" }
            @if let Some(item) = needed {
                p.error { span.visually-hidden { "Fejl: " } (item.rule) ": " (item.text) }
            } @else {
                p.muted { "Der er registreret en afsluttet undersøgelse. Du kan registrere flere." }
            }
            form method="post" action={(current) "/undersoegelse"} novalidate {
                input type="hidden" name="csrf" value=(session.csrf);
                (group(p, "kind", "Type", None, html! {
                    @for (value, _, label) in ASSESSMENT_KINDS {
                        (choice("radio", "kind", value, label, a.kind == value))
                    }
                }))
                (field(some, "need_known_date", "Dato, hvor kommunen fik kendskab til behovet", Some("En børnefaglig undersøgelse skal være færdig inden 4 måneder (Barnets Lov § 20, stk. 3)."), html! {
                    input id="need_known_date" name="need_known_date" type="date" max=(today_iso) value=(a.need_known_date)
                        aria-describedby=[described(some, "need_known_date", true)] aria-invalid=[invalid(some, "need_known_date")];
                }))
                (field(some, "completion_date", "Afsluttet den", Some("Tom, hvis undersøgelsen ikke er afsluttet."), html! {
                    input id="completion_date" name="completion_date" type="date" max=(today_iso) value=(a.completion_date)
                        aria-describedby=[described(some, "completion_date", true)] aria-invalid=[invalid(some, "completion_date")];
                }))
                (text_area(p, "conclusion", "Konklusion", None, &a.conclusion))
                div.actions { button.secondary type="submit" { "Registrér undersøgelsen" } }
            }
        }
    }
}

/// `POST /raadgiver/henvisning/{municipality}/{id}/undersoegelse`: records an assessment.
pub async fn add_assessment(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<AssessmentForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let again = |problem: Problem| {
        let (state, session, code, id, form) = (&state, &session, &code, &id, &form);
        async move {
            respond(
                draft_page(
                    state,
                    session,
                    code,
                    id,
                    View {
                        problem: Some(&problem),
                        assessment: Some(form),
                        ..View::default()
                    },
                )
                .await,
            )
        }
    };
    let mut wrong = Vec::new();
    let kind = ASSESSMENT_KINDS
        .iter()
        .find(|(v, _, _)| *v == form.kind)
        .map(|(_, e, _)| *e);
    if kind.is_none() {
        wrong.push(("kind", "Vælg afdækning eller børnefaglig undersøgelse."));
    }
    let mut date = |text: &str, field: &'static str| -> Option<Date> {
        if text.trim().is_empty() {
            return None;
        }
        let parsed = format::parse_date(text).map(Into::into);
        if parsed.is_none() {
            wrong.push((field, "Skriv datoen som dd.mm.åååå."));
        }
        parsed
    };
    let need_known = date(&form.need_known_date, "need_known_date");
    let completed = date(&form.completion_date, "completion_date");
    if !wrong.is_empty() {
        return again(invalid_fields(wrong)).await;
    }
    let result = state
        .services
        .referral()
        .create_assessment(request(
            &session,
            PURPOSE,
            r::CreateAssessmentRequest {
                parent: referral_name(&code, &id),
                assessment: Some(r::Assessment {
                    kind: kind.unwrap_or(r::AssessmentKind::Unspecified) as i32,
                    need_known_date: need_known,
                    completion_date: completed,
                    conclusion: form.conclusion.trim().to_owned(),
                    ..r::Assessment::default()
                }),
            },
        ))
        .await;
    match result {
        Ok(made) => {
            let made = made.into_inner();
            let notice = if made.completion_date.is_some() {
                format!(
                    "Undersøgelsen er registreret, afsluttet {}.",
                    format::proto_date(made.completion_date.as_ref())
                )
            } else {
                "Undersøgelsen er registreret som igangværende.".to_owned()
            };
            respond(
                draft_page(
                    &state,
                    &session,
                    &code,
                    &id,
                    View {
                        notice: Some(&notice),
                        ..View::default()
                    },
                )
                .await,
            )
        }
        Err(status) => again(Problem::from_status(&status, Which::Referral)).await,
    }
}
