//! Starting a draft: the child by CPR number (found, or registered when not), the case in the
//! console's case system, and the draft referral, then on to the draft's page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::referral::v1 as r;
use maud::html;
use serde::Deserialize;
use tonic::Code;
use tonic_types::StatusExt as _;

use super::{PURPOSE, described, draft_path, invalid, invalid_fields};
use crate::format;
use crate::grpc::{Which, request};
use crate::page::{Page, field, page_with_status, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{AppState, Form, Signed, check_csrf, sign_in_url};

/// The case system a case started in the console is registered under.
const CASE_SYSTEM: &str = "kontakt-console";
/// KLE 27.27.24: contact person for the child or young person (DOMAIN §3).
const KLE_CHILD: &str = "27.27.24";
/// KLE 27.27.21: contact person for the whole family.
const KLE_FAMILY: &str = "27.27.21";
const NEW_PATH: &str = "/raadgiver/ny-henvisning";

/// `DDMMYY-SSSS`, also without the dash or with spaces around, as `DDMMYY-SSSS`; anything else
/// is `None`. Only the shape: the service checks the date and century (R-DP-1).
pub fn cpr_shape(text: &str) -> Option<String> {
    let digits: String = text.trim().chars().filter(|c| *c != '-').collect();
    let dashes = text.trim().chars().filter(|c| *c == '-').count();
    let dash_in_place = dashes == 0 || text.trim().find('-') == Some(6);
    if digits.len() == 10
        && dashes <= 1
        && dash_in_place
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        Some(format!("{}-{}", &digits[..6], &digits[6..]))
    } else {
        None
    }
}

/// The resource an ALREADY_EXISTS names (ErrorInfo metadata `resource`).
fn existing_resource(status: &tonic::Status) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get("resource").cloned())
        .filter(|name| !name.is_empty())
}

/// The start form. Every field is text, so a form that cannot be read never reaches a log
/// with what was typed in it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    municipality: String,
    /// Sent to the service, never shown again.
    #[serde(default)]
    cpr: String,
    #[serde(default)]
    child_name: String,
    #[serde(default)]
    external_id: String,
    #[serde(default)]
    kle_number: String,
}

/// `GET /raadgiver/ny-henvisning`.
pub async fn new_draft(Signed(session): Signed) -> Page {
    let values = StartForm {
        // Made when the form is drawn: sending the same form twice makes one draft (R-RV-10).
        request_id: uuid::Uuid::new_v4().to_string(),
        municipality: session
            .person
            .municipalities
            .first()
            .cloned()
            .unwrap_or_default(),
        kle_number: KLE_CHILD.to_owned(),
        ..StartForm::default()
    };
    start_page(&session, &values, None)
}

fn start_page(session: &Session, values: &StartForm, problem: Option<&Problem>) -> Page {
    let p = problem;
    let body = html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        p { "Find barnet eller den unge, og opret sagen. Derefter udfylder du henvisningen og ser, hvad der mangler, før den kan sendes." }
        form method="post" action=(NEW_PATH) novalidate {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="request_id" value=(values.request_id);
            (field(p, "municipality", "Kommune", None, html! {
                select id="municipality" name="municipality" aria-invalid=[invalid(p, "municipality")] {
                    @for code in &session.person.municipalities {
                        option value=(code) selected[*code == values.municipality] { (format::municipality(code)) }
                    }
                }
            }))
            fieldset {
                legend { "Barnet eller den unge" }
                (field(p, "cpr", "CPR-nummer", Some("DDMMÅÅ-SSSS. Findes barnet ikke i kommunen, bliver det oprettet."), html! {
                    // Never filled in from a previous answer: the number is not written into a page.
                    input id="cpr" name="cpr" type="text" inputmode="numeric" autocomplete="off"
                        spellcheck="false" maxlength="11" required
                        aria-describedby=[described(p, "cpr", true)] aria-invalid=[invalid(p, "cpr")];
                }))
                (field(p, "child_name", "Navn", Some("Bruges kun, når barnet oprettes nu."), html! {
                    input id="child_name" name="child_name" type="text" autocomplete="off" maxlength="200"
                        value=(values.child_name) aria-describedby=[described(p, "child_name", true)]
                        aria-invalid=[invalid(p, "child_name")];
                }))
            }
            fieldset {
                legend { "Sagen" }
                (field(p, "external_id", "Sagsnummer", Some("Sagens nummer i kommunens sagssystem."), html! {
                    input id="external_id" name="external_id" type="text" autocomplete="off" maxlength="100" required
                        value=(values.external_id) aria-describedby=[described(p, "external_id", true)]
                        aria-invalid=[invalid(p, "external_id")];
                }))
                (field(p, "kle_number", "KLE-nummer", None, html! {
                    select id="kle_number" name="kle_number" aria-invalid=[invalid(p, "kle_number")] {
                        option value=(KLE_CHILD) selected[values.kle_number != KLE_FAMILY] { "27.27.24 Kontaktperson for barnet eller den unge" }
                        option value=(KLE_FAMILY) selected[values.kle_number == KLE_FAMILY] { "27.27.21 Kontaktperson for hele familien" }
                    }
                }))
            }
            div.actions {
                button type="submit" { "Opret kladde til henvisning" }
                a href="/raadgiver" { "Annullér" }
            }
        }
    };
    let status = problem.map_or(StatusCode::OK, Problem::http_status);
    page_with_status(session, status, "Ny henvisning", NEW_PATH, body)
}

/// `POST /raadgiver/ny-henvisning`: the child (found or registered), the case and the draft.
pub async fn start_draft(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(form): Form<StartForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let shown = StartForm {
        cpr: String::new(),
        ..form.clone()
    };
    let again = |problem: Problem| {
        if problem.sign_in_again {
            return Redirect::to(&sign_in_url(NEW_PATH, "udloebet")).into_response();
        }
        start_page(&session, &shown, Some(&problem)).into_response()
    };
    let mut wrong = Vec::new();
    if !session.person.municipalities.contains(&form.municipality) {
        wrong.push(("municipality", "Vælg en af dine kommuner."));
    }
    let cpr = cpr_shape(&form.cpr);
    if cpr.is_none() {
        wrong.push(("cpr", "Skriv CPR-nummeret som DDMMÅÅ-SSSS."));
    }
    let child_name = form.child_name.trim();
    if child_name.chars().count() > 200 {
        wrong.push(("child_name", "Højst 200 tegn."));
    }
    let external_id = form.external_id.trim();
    if external_id.is_empty() || external_id.chars().count() > 100 {
        wrong.push(("external_id", "Skriv sagsnummeret (1 til 100 tegn)."));
    }
    if ![KLE_CHILD, KLE_FAMILY].contains(&form.kle_number.as_str()) {
        wrong.push(("kle_number", "Vælg 27.27.24 eller 27.27.21."));
    }
    let Some(cpr) = cpr.filter(|_| wrong.is_empty()) else {
        return again(invalid_fields(wrong));
    };
    let parent = format!("municipalities/{}", form.municipality);
    let person = match find_or_register(&state, &session, &parent, cpr, child_name).await {
        Ok(person) => person,
        Err(problem) => return again(problem),
    };
    let mut client = state.services.referral();
    let case = match client
        .create_case(request(
            &session,
            PURPOSE,
            r::CreateCaseRequest {
                parent: parent.clone(),
                case: Some(r::Case {
                    case_system: CASE_SYSTEM.into(),
                    external_id: external_id.into(),
                    kle_number: form.kle_number.clone(),
                    person,
                    ..r::Case::default()
                }),
            },
        ))
        .await
    {
        Ok(case) => case.into_inner(),
        Err(status) if status.code() == Code::AlreadyExists => {
            return again(Problem::invalid(
                "external_id",
                "Sagsnummeret bruges allerede til et andet barn i kommunen.",
            ));
        }
        Err(status) => return again(Problem::from_status(&status, Which::Referral)),
    };
    let recipient = if form.kle_number == KLE_FAMILY {
        r::Recipient::Family
    } else {
        r::Recipient::Child
    };
    match client
        .create_referral(request(
            &session,
            PURPOSE,
            r::CreateReferralRequest {
                parent,
                referral: Some(r::Referral {
                    case: case.name,
                    recipient: recipient as i32,
                    ..r::Referral::default()
                }),
                request_id: form.request_id.clone(),
            },
        ))
        .await
    {
        Ok(made) => Redirect::to(&draft_path(&made.into_inner().name)).into_response(),
        // The case already has an open referral: that one is the draft to work on.
        Err(status) if status.code() == Code::AlreadyExists => match existing_resource(&status) {
            Some(open) => Redirect::to(&format!("{}?findes=1", draft_path(&open))).into_response(),
            None => again(Problem::from_status(&status, Which::Referral)),
        },
        Err(status) => again(Problem::from_status(&status, Which::Referral)),
    }
}

/// The person with this CPR number in the municipality, registered under `display_name` when
/// there is none. Both calls are in the service's access log (R-DP-2).
async fn find_or_register(
    state: &AppState,
    session: &Session,
    parent: &str,
    cpr: String,
    display_name: &str,
) -> Result<String, Problem> {
    let mut client = state.services.referral();
    let found = client
        .lookup_person(request(
            session,
            PURPOSE,
            r::LookupPersonRequest {
                parent: parent.to_owned(),
                cpr: cpr.clone(),
            },
        ))
        .await;
    match found {
        Ok(person) => return Ok(person.into_inner().name),
        Err(status) if status.code() == Code::NotFound => {}
        Err(status) => return Err(Problem::from_status(&status, Which::Referral)),
    }
    if display_name.is_empty() {
        return Err(Problem::invalid(
            "child_name",
            "Barnet findes ikke i kommunen endnu: skriv navnet, så det kan oprettes.",
        ));
    }
    let created = client
        .create_person(request(
            session,
            PURPOSE,
            r::CreatePersonRequest {
                parent: parent.to_owned(),
                cpr,
                display_name: display_name.to_owned(),
            },
        ))
        .await;
    match created {
        Ok(person) => Ok(person.into_inner().name),
        // Registered by someone else a moment ago: that is the child.
        Err(status) if status.code() == Code::AlreadyExists => {
            existing_resource(&status).ok_or_else(|| Problem::from_status(&status, Which::Referral))
        }
        Err(status) => Err(Problem::from_status(&status, Which::Referral)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpr_number_is_taken_in_its_usual_shapes_only() {
        assert_eq!(cpr_shape("010114-4234").as_deref(), Some("010114-4234"));
        assert_eq!(cpr_shape(" 0101144234 ").as_deref(), Some("010114-4234"));
        assert_eq!(cpr_shape("0101-144234"), None);
        assert_eq!(cpr_shape("010114-423"), None);
        assert_eq!(cpr_shape("01011a-4234"), None);
        assert_eq!(cpr_shape("010114--4234"), None);
        assert_eq!(cpr_shape(""), None);
    }
}
