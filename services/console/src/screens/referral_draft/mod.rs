//! The counsellor's referral draft: starting one (the child by CPR number, the case, the
//! draft), filling it in, recording the assessment, and — always at the top — every rule that
//! still stops it from being sent, each next to its field. The list is the service's own
//! answer to `SubmitReferral` with `validate_only` (AIP-163), so the console repeats no rule.
//!
//! Routes (the router in `lib.rs`):
//! - `GET  /raadgiver/ny-henvisning` → [`new_draft`]: the form that starts a draft
//! - `POST /raadgiver/ny-henvisning` → [`start_draft`]: LookupPerson (CreatePerson when not
//!   found), CreateCase, CreateReferral → the draft's page
//! - `GET  /raadgiver/henvisning/{code}/{id}` → [`draft`]: the draft with its checklist
//! - `POST /raadgiver/henvisning/{code}/{id}` → [`save`]: UpdateReferral, then the page again
//! - `POST /raadgiver/henvisning/{code}/{id}/undersoegelse` → [`add_assessment`]:
//!   CreateAssessment, then the page again
//! - `POST /raadgiver/henvisning/{code}/{id}/send` → [`submit`]: SubmitReferral →
//!   `/raadgiver?henvisning=sendt`
//!
//! The CPR number is only ever sent to the service: never logged, never written back into a
//! page (a refused start form comes back with the field empty).
//!
//! One file per concern: `start` (the start form), `checklist` (what still stops the
//! submission), `input` (the draft form as typed), `form` (the draft's page and its form,
//! saving and sending) and `assessment` (the assessment form).

use axum::response::{IntoResponse, Response};
use kontakt_proto::common::v1::Date;

use crate::problem::Problem;
use crate::web::Answer;

mod assessment;
mod checklist;
mod form;
mod input;
mod start;

pub use assessment::{AssessmentForm, add_assessment};
pub use checklist::{Missing, by_rule, input_for, missing};
pub use form::{DraftQuery, SendForm, draft, save, submit};
pub use input::DraftInput;
pub use start::{StartForm, cpr_shape, new_draft, start_draft};

const PURPOSE: &str = "console: referral drafting";

fn referral_name(code: &str, id: &str) -> String {
    format!("municipalities/{code}/referrals/{id}")
}

/// `municipalities/329/referrals/r-1` → `/raadgiver/henvisning/329/r-1`.
pub fn draft_path(name: &str) -> String {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", code, "referrals", id] => format!("/raadgiver/henvisning/{code}/{id}"),
        _ => "/raadgiver".to_owned(),
    }
}

/// A whole number from a form field; an empty field is 0.
fn whole(text: &str) -> Result<i32, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<i32>()
        .map_err(|_| ())
        .and_then(|n| if n < 0 { Err(()) } else { Ok(n) })
}

/// Age in whole years on `day`.
fn age_on(birth: chrono::NaiveDate, day: chrono::NaiveDate) -> i32 {
    use chrono::Datelike as _;
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// A problem naming several fields of the console's own form.
fn invalid_fields(fields: Vec<(&str, &str)>) -> Problem {
    Problem {
        status: 400,
        title: "Der er fejl i det indtastede".into(),
        detail: "Ret de markerede felter og prøv igen.".into(),
        fields: fields
            .into_iter()
            .map(|(f, m)| (f.to_owned(), m.to_owned()))
            .collect(),
        ..Problem::default()
    }
}

fn iso(date: Option<&Date>) -> String {
    date.and_then(Date::to_naive)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The page, or the response that replaces it.
fn respond(answer: Answer) -> Response {
    match answer {
        Ok(page) => page.into_response(),
        Err(response) => response,
    }
}

/// `aria-invalid` for a field the problem names.
fn invalid(problem: Option<&Problem>, name: &str) -> Option<&'static str> {
    problem.and_then(|p| p.field(name)).map(|_| "true")
}

/// `aria-describedby` for a field drawn by [`field`](crate::page::field): its hint and its
/// error, when present.
fn described(problem: Option<&Problem>, name: &str, hint: bool) -> Option<String> {
    let mut ids = Vec::new();
    if hint {
        ids.push(format!("{name}-hint"));
    }
    if problem.and_then(|p| p.field(name)).is_some() {
        ids.push(format!("{name}-error"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_ages_and_whole_numbers() {
        assert_eq!(
            draft_path("municipalities/329/referrals/r-1"),
            "/raadgiver/henvisning/329/r-1"
        );
        assert_eq!(draft_path("nonsense"), "/raadgiver");
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(age_on(day(2014, 1, 1), day(2026, 11, 24)), 12);
        assert_eq!(age_on(day(2014, 11, 25), day(2026, 11, 24)), 11);
        assert_eq!(whole(""), Ok(0));
        assert_eq!(whole(" 180 "), Ok(180));
        assert_eq!(whole("-1"), Err(()));
        assert_eq!(whole("1,5"), Err(()));
    }
}
