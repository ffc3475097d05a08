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

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::common::v1::Date;
use kontakt_proto::referral::v1 as r;
use maud::{Markup, html};
use serde::Deserialize;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{Page, field, page_with_status, problem_box};
use crate::problem::{Problem, rule_meaning};
use crate::session::Session;
use crate::web::{Answer, AppState, Form, Signed, check_csrf, or_page, sign_in_url};

const PURPOSE: &str = "console: referral drafting";
/// The case system a case started in the console is registered under.
const CASE_SYSTEM: &str = "kontakt-console";
/// KLE 27.27.24: contact person for the child or young person (DOMAIN §3).
const KLE_CHILD: &str = "27.27.24";
/// KLE 27.27.21: contact person for the whole family.
const KLE_FAMILY: &str = "27.27.21";
const NEW_PATH: &str = "/raadgiver/ny-henvisning";

/// The referral fields the draft form writes (UpdateReferral's mask). Not `*`: the plan and a
/// compulsory condition, which this form does not show, stay as they are.
const FORM_FIELDS: [&str; 12] = [
    "recipient",
    "target_groups",
    "target_group_other",
    "needs",
    "requested_minutes_per_week",
    "purpose",
    "expected_duration_months",
    "legal_basis",
    "consent",
    "age_justification",
    "hours_justification",
    "network_statement",
];

/// Form value, enum, Danish label.
const RECIPIENTS: [(&str, r::Recipient, &str); 2] = [
    ("child", r::Recipient::Child, "Barnet eller den unge"),
    ("family", r::Recipient::Family, "Hele familien"),
];

const TARGET_GROUPS: [(&str, r::TargetGroup, &str); 6] = [
    (
        "psychological_difficulties",
        r::TargetGroup::PsychologicalDifficulties,
        "Psykiske vanskeligheder",
    ),
    (
        "psychiatric_conditions",
        r::TargetGroup::PsychiatricConditions,
        "Psykiatriske lidelser",
    ),
    (
        "disability",
        r::TargetGroup::Disability,
        "Fysisk eller psykisk funktionsnedsættelse",
    ),
    ("substance_use", r::TargetGroup::SubstanceUse, "Misbrug"),
    (
        "crime_risk",
        r::TargetGroup::CrimeRisk,
        "Risiko for kriminalitet",
    ),
    ("other", r::TargetGroup::Other, "Andet"),
];

const GENDERS: [(&str, r::GenderPreference, &str); 4] = [
    ("", r::GenderPreference::Unspecified, "Ikke angivet"),
    ("none", r::GenderPreference::None, "Ingen præference"),
    ("female", r::GenderPreference::Female, "En kvinde"),
    ("male", r::GenderPreference::Male, "En mand"),
];

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

/// The resource an ALREADY_EXISTS names (ErrorInfo metadata `resource`).
fn existing_resource(status: &tonic::Status) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|info| info.metadata.get("resource").cloned())
        .filter(|name| !name.is_empty())
}

/// The page, or the response that replaces it.
fn respond(answer: Answer) -> Response {
    match answer {
        Ok(page) => page.into_response(),
        Err(response) => response,
    }
}

// ---------------------------------------------------------------------------------------------
// Starting a draft
// ---------------------------------------------------------------------------------------------

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

/// `aria-invalid` for a field the problem names.
fn invalid(problem: Option<&Problem>, name: &str) -> Option<&'static str> {
    problem.and_then(|p| p.field(name)).map(|_| "true")
}

/// `aria-describedby` for a field drawn by [`field`]: its hint and its error, when present.
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

// ---------------------------------------------------------------------------------------------
// What still stops the referral
// ---------------------------------------------------------------------------------------------

/// One thing that stops the submission, as the service named it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Missing {
    /// The rule id (`R-RV-2`); empty for bad input.
    pub rule: String,
    /// The service's field path (`consent.child_view`); empty when no field is named.
    pub subject: String,
    /// What to do, in Danish.
    pub text: String,
    /// The service's own words (English), shown as a detail where they say more than the
    /// Danish text (the numbers of R-RV-5 and R-RV-6, which basis is wrong) or there is none.
    pub detail: String,
}

/// Whether the service's words add to the Danish text of a rule on a field.
fn detail_adds(rule: &str, subject: &str) -> bool {
    danish_text(rule, subject).is_none()
        || matches!(rule, "R-RV-5" | "R-RV-6")
        || subject.ends_with("legal_basis")
}

/// Every rule and field a refused (or validated) submission names, in the service's order.
pub fn missing(status: &tonic::Status) -> Vec<Missing> {
    let mut found = Vec::new();
    if let Some(failure) = status.get_details_precondition_failure() {
        for v in failure.violations {
            let text = danish_text(&v.r#type, &v.subject).map_or_else(
                || {
                    rule_meaning(&v.r#type)
                        .unwrap_or("Der mangler mere")
                        .to_owned()
                },
                str::to_owned,
            );
            let detail = if detail_adds(&v.r#type, &v.subject) {
                v.description
            } else {
                String::new()
            };
            found.push(Missing {
                rule: v.r#type,
                subject: v.subject,
                text,
                detail,
            });
        }
    }
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            found.push(Missing {
                rule: String::new(),
                subject: v.field,
                text: "Feltet har en værdi, tjenesten ikke kan bruge.".into(),
                detail: v.description,
            });
        }
    }
    if found.is_empty() {
        let reason = status
            .get_details_error_info()
            .map(|info| info.reason)
            .unwrap_or_default();
        let text = match reason.as_str() {
            "NO_POLICY" => "Kommunen har ingen kvalitetsstandard i kraft i dag. En administrator skal oprette den, før en henvisning kan sendes.".to_owned(),
            "NOT_SUBMITTABLE" => "Kun en kladde eller en henvisning, der er sendt retur, kan sendes.".to_owned(),
            _ => Problem::from_status(status, Which::Referral).detail,
        };
        found.push(Missing {
            text,
            ..Missing::default()
        });
    }
    found
}

/// The items grouped by rule, in the order each rule first appears (bad input under `""`).
pub fn by_rule(items: &[Missing]) -> Vec<(&str, Vec<&Missing>)> {
    let mut groups: Vec<(&str, Vec<&Missing>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(rule, _)| *rule == item.rule) {
            Some((_, list)) => list.push(item),
            None => groups.push((item.rule.as_str(), vec![item])),
        }
    }
    groups
}

/// The id of the input on the draft's page for a field the service names
/// (`referral.needs.description` → `needs`) or for an input id itself; `None` for what this
/// page has no input for (the plan, a compulsory condition, the child's age).
pub fn input_for(subject: &str) -> Option<&'static str> {
    let path = subject
        .strip_prefix("referral.")
        .or_else(|| subject.strip_prefix("assessment."))
        .unwrap_or(subject);
    Some(match path {
        "recipient" => "recipient",
        "target_groups" => "target_groups",
        "target_group_other" => "target_group_other",
        "needs" | "needs.description" | "needs.competences" => "needs",
        "needs.gender_preference" => "gender_preference",
        "requested_minutes_per_week" => "requested_minutes_per_week",
        "purpose" => "purpose",
        "expected_duration_months" => "expected_duration_months",
        "legal_basis" => "legal_basis",
        "consent" | "consent.custody_holder_consented" | "consent_kind" => "consent_kind",
        "consent.consent_date" | "consent_date" => "consent_date",
        "consent.no_consent_legal_basis" | "no_consent_legal_basis" => "no_consent_legal_basis",
        "consent.no_consent_decision_reference" | "no_consent_decision_reference" => {
            "no_consent_decision_reference"
        }
        "consent.child_view" | "child_view" => "child_view",
        "consent.young_person_consented" | "young_person_consented" => "young_person_consented",
        "gender_preference" => "gender_preference",
        "assessment" => "assessment",
        "age_justification" => "age_justification",
        "hours_justification" => "hours_justification",
        "network_statement" => "network_statement",
        "assessments" => "assessment",
        "kind" => "kind",
        "need_known_date" => "need_known_date",
        "completion_date" => "completion_date",
        "conclusion" => "conclusion",
        _ => return None,
    })
}

/// The Danish name of an input (or of a field the page has no input for).
fn label_of(subject: &str) -> &'static str {
    if subject == "plan" || subject == "referral.plan" {
        return "Handleplan";
    }
    if subject == "person" {
        return "Barnets alder";
    }
    if subject.starts_with("compulsory_condition") {
        return "Tvungen foranstaltning";
    }
    match input_for(subject).unwrap_or("") {
        "recipient" => "Modtager",
        "target_groups" => "Målgruppe",
        "target_group_other" => "Anden målgruppe",
        "needs" => "Behov",
        "gender_preference" => "Ønsket køn",
        "requested_minutes_per_week" => "Timer om ugen",
        "purpose" => "Formål",
        "expected_duration_months" => "Forventet varighed",
        "legal_basis" => "Lovgrundlag",
        "consent_kind" => "Samtykke",
        "consent_date" => "Dato for samtykket",
        "no_consent_legal_basis" => "Grundlag uden samtykke",
        "no_consent_decision_reference" => "Afgørelsens reference",
        "child_view" => "Barnets egen holdning",
        "young_person_consented" => "Den unges eget samtykke",
        "age_justification" => "Begrundelse for alderen",
        "hours_justification" => "Begrundelse for timetallet",
        "network_statement" => "Netværket",
        "assessment" => "Undersøgelse",
        "kind" => "Type af undersøgelse",
        "need_known_date" => "Behovet kendt",
        "completion_date" => "Afsluttet",
        "conclusion" => "Konklusion",
        _ => "",
    }
}

/// What to do about a broken rule on a field, in the words a caseworker uses.
fn danish_text(rule: &str, subject: &str) -> Option<&'static str> {
    Some(match (rule, subject) {
        ("R-RV-1", "assessments") => {
            "Registrér en afsluttet afdækning eller børnefaglig undersøgelse med dato og konklusion."
        }
        ("R-RV-1", "plan") => {
            "Kommunens kvalitetsstandard kræver en handleplan med mindst ét mål før visitationen."
        }
        ("R-RV-2", "recipient") => "Vælg, om kontaktpersonen er for barnet eller hele familien.",
        ("R-RV-2", "target_groups") => "Vælg mindst én målgruppe.",
        ("R-RV-2", "target_group_other") => "Beskriv den anden målgruppe.",
        ("R-RV-2", "needs") => "Beskriv de behov, der betyder noget for matchningen.",
        ("R-RV-2", "requested_minutes_per_week") => "Angiv de ønskede timer om ugen.",
        ("R-RV-2", "purpose") => "Angiv formålet med indsatsen (Barnets Lov § 32, stk. 3).",
        ("R-RV-2", "expected_duration_months") => {
            "Angiv den forventede varighed (Barnets Lov § 32, stk. 3)."
        }
        ("R-RV-2", "legal_basis") => "Vælg et lovgrundlag, der gælder i dag.",
        ("R-RV-3", "consent") => {
            "Registrér forældremyndighedsindehaverens samtykke eller grundlaget for at handle uden."
        }
        ("R-RV-3", "consent.consent_date") => {
            "Angiv datoen for samtykket (ikke en dato i fremtiden)."
        }
        ("R-RV-3", "consent.no_consent_legal_basis") => {
            "Vælg et grundlag, der tillader indsatsen uden samtykke og passer til barnets alder (fx Barnets Lov § 39)."
        }
        ("R-RV-3", "consent.no_consent_decision_reference") => {
            "Angiv referencen til afgørelsen om at handle uden samtykke."
        }
        ("R-RV-3", "consent.child_view") => "Barnets egen holdning skal altid registreres.",
        ("R-RV-3", "consent.young_person_consented") => {
            "Kommunens kvalitetsstandard kræver også den unges eget samtykke."
        }
        ("R-RV-4", _) => {
            "Den tvungne foranstaltning skal have sit grundlag, myndighedens reference og en slutdato, der ikke er passeret."
        }
        ("R-RV-5", "person") => "Der kan kun bevilges en kontaktperson til og med 22 år.",
        ("R-RV-5", "age_justification") => {
            "Barnet er yngre end kommunens minimumsalder: begrund henvisningen."
        }
        ("R-RV-5", "legal_basis") => {
            "Lovgrundlaget passer ikke til barnets alder (fra 18 år: ungestøtte)."
        }
        ("R-RV-6", "hours_justification") => {
            "Timetallet er over kommunens grænse: skriv en individuel begrundelse."
        }
        ("R-RV-7", "network_statement") => {
            "Beskriv, hvorfor familiens eget netværk ikke kan dække behovet."
        }
        _ => return None,
    })
}

/// A problem whose fields are the page's input ids, each with every message about it: the
/// checklist's and an action's (a refused save), so each shows next to its field.
fn field_messages(items: &[Missing], action: Option<&Problem>) -> Problem {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut add = |input: &str, message: String| match fields.iter_mut().find(|(f, _)| f == input) {
        Some((_, existing)) => {
            existing.push_str(" · ");
            existing.push_str(&message);
        }
        None => fields.push((input.to_owned(), message)),
    };
    if let Some(action) = action {
        for (name, message) in &action.fields {
            if let Some(input) = input_for(name) {
                add(input, message.clone());
            }
        }
    }
    for item in items {
        if let Some(input) = input_for(&item.subject) {
            let message = if item.rule.is_empty() {
                item.text.clone()
            } else {
                format!("{}: {}", item.rule, item.text)
            };
            add(input, message);
        }
    }
    Problem {
        fields,
        ..Problem::default()
    }
}

/// The service's answer to "could it be sent now?".
enum Check {
    Ready,
    Missing(Vec<Missing>),
    /// The check itself failed (the service is down, …).
    Failed(Problem),
}

async fn check(
    state: &AppState,
    session: &Session,
    referral: &r::Referral,
    current: &str,
) -> Result<Check, Response> {
    let answer = state
        .services
        .referral()
        .submit_referral(request(
            session,
            PURPOSE,
            r::SubmitReferralRequest {
                name: referral.name.clone(),
                etag: referral.etag.clone(),
                validate_only: true,
            },
        ))
        .await;
    Ok(match answer {
        Ok(_) => Check::Ready,
        Err(status)
            if matches!(
                status.code(),
                Code::FailedPrecondition | Code::InvalidArgument
            ) =>
        {
            Check::Missing(missing(&status))
        }
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Referral);
            if problem.sign_in_again {
                return Err(Redirect::to(&sign_in_url(current, "udloebet")).into_response());
            }
            Check::Failed(problem)
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The draft's form
// ---------------------------------------------------------------------------------------------

/// The draft form as typed: text, so a refused save comes back as the person wrote it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftInput {
    pub etag: String,
    pub recipient: String,
    pub target_groups: Vec<String>,
    pub target_group_other: String,
    pub needs: String,
    pub gender_preference: String,
    pub requested_minutes_per_week: String,
    pub purpose: String,
    pub expected_duration_months: String,
    pub legal_basis: String,
    /// `custody` (the custody holder consented), `without` (a no-consent basis) or empty.
    pub consent_kind: String,
    /// `åååå-mm-dd` as a date picker sends it.
    pub consent_date: String,
    pub no_consent_legal_basis: String,
    pub no_consent_decision_reference: String,
    pub child_view: String,
    pub young_person_consented: bool,
    pub network_statement: String,
    pub hours_justification: String,
    pub age_justification: String,
}

impl DraftInput {
    /// The form's fields (a checkbox group repeats its name) and its CSRF token.
    pub fn from_pairs(pairs: &[(String, String)]) -> (Self, String) {
        let mut input = Self::default();
        let mut csrf = String::new();
        for (key, value) in pairs {
            let value = value.clone();
            match key.as_str() {
                "csrf" => csrf = value,
                "etag" => input.etag = value,
                "recipient" => input.recipient = value,
                "target_groups" if !input.target_groups.contains(&value) => {
                    input.target_groups.push(value);
                }
                "target_group_other" => input.target_group_other = value,
                "needs" => input.needs = value,
                "gender_preference" => input.gender_preference = value,
                "requested_minutes_per_week" => input.requested_minutes_per_week = value,
                "purpose" => input.purpose = value,
                "expected_duration_months" => input.expected_duration_months = value,
                "legal_basis" => input.legal_basis = value,
                "consent_kind" => input.consent_kind = value,
                "consent_date" => input.consent_date = value,
                "no_consent_legal_basis" => input.no_consent_legal_basis = value,
                "no_consent_decision_reference" => input.no_consent_decision_reference = value,
                "child_view" => input.child_view = value,
                "young_person_consented" => input.young_person_consented = !value.is_empty(),
                "network_statement" => input.network_statement = value,
                "hours_justification" => input.hours_justification = value,
                "age_justification" => input.age_justification = value,
                _ => {}
            }
        }
        (input, csrf)
    }

    /// The form filled in from a stored referral.
    pub fn from_referral(referral: &r::Referral) -> Self {
        let value_of = |n: i32| if n == 0 { String::new() } else { n.to_string() };
        let consent = referral.consent.clone().unwrap_or_default();
        let consent_kind = if consent.custody_holder_consented {
            "custody"
        } else if !consent.no_consent_legal_basis.is_empty()
            || !consent.no_consent_decision_reference.is_empty()
        {
            "without"
        } else {
            ""
        };
        let needs = referral.needs.clone().unwrap_or_default();
        Self {
            etag: referral.etag.clone(),
            recipient: RECIPIENTS
                .iter()
                .find(|(_, e, _)| *e as i32 == referral.recipient)
                .map(|(v, _, _)| (*v).to_owned())
                .unwrap_or_default(),
            target_groups: TARGET_GROUPS
                .iter()
                .filter(|(_, e, _)| referral.target_groups.contains(&(*e as i32)))
                .map(|(v, _, _)| (*v).to_owned())
                .collect(),
            target_group_other: referral.target_group_other.clone(),
            needs: needs.description,
            gender_preference: GENDERS
                .iter()
                .find(|(_, e, _)| *e as i32 == needs.gender_preference)
                .map(|(v, _, _)| (*v).to_owned())
                .unwrap_or_default(),
            requested_minutes_per_week: value_of(referral.requested_minutes_per_week),
            purpose: referral.purpose.clone(),
            expected_duration_months: value_of(referral.expected_duration_months),
            legal_basis: referral.legal_basis.clone(),
            consent_kind: consent_kind.to_owned(),
            consent_date: iso(consent.consent_date.as_ref()),
            no_consent_legal_basis: consent.no_consent_legal_basis,
            no_consent_decision_reference: consent.no_consent_decision_reference,
            child_view: consent.child_view,
            young_person_consented: consent.young_person_consented,
            network_statement: referral.network_statement.clone(),
            hours_justification: referral.hours_justification.clone(),
            age_justification: referral.age_justification.clone(),
        }
    }

    /// The referral's new values for [`FORM_FIELDS`], or the fields that cannot be read.
    /// Only the chosen consent's own fields are kept (no stale no-consent basis under a
    /// custody holder's consent).
    pub fn to_referral(&self, name: &str) -> Result<r::Referral, Problem> {
        let mut wrong = Vec::new();
        let recipient = match self.recipient.as_str() {
            "" => r::Recipient::Unspecified,
            value => RECIPIENTS.iter().find(|(v, _, _)| *v == value).map_or_else(
                || {
                    wrong.push(("recipient", "Vælg barnet eller hele familien."));
                    r::Recipient::Unspecified
                },
                |(_, e, _)| *e,
            ),
        };
        let mut target_groups = Vec::new();
        for value in &self.target_groups {
            match TARGET_GROUPS.iter().find(|(v, _, _)| v == value) {
                Some((_, e, _)) => target_groups.push(*e as i32),
                None => wrong.push(("target_groups", "Vælg målgrupper fra listen.")),
            }
        }
        let gender = GENDERS
            .iter()
            .find(|(v, _, _)| *v == self.gender_preference)
            .map_or(r::GenderPreference::Unspecified, |(_, e, _)| *e);
        let minutes = whole(&self.requested_minutes_per_week).unwrap_or_else(|()| {
            wrong.push((
                "requested_minutes_per_week",
                "Skriv minutter om ugen som et helt tal, fx 180 for 3 timer.",
            ));
            0
        });
        let months = whole(&self.expected_duration_months).unwrap_or_else(|()| {
            wrong.push((
                "expected_duration_months",
                "Skriv antal måneder som et helt tal, fx 12.",
            ));
            0
        });
        let custody = self.consent_kind == "custody";
        let without = self.consent_kind == "without";
        let consent_date = if custody && !self.consent_date.trim().is_empty() {
            match format::parse_date(&self.consent_date) {
                Some(day) => Some(day.into()),
                None => {
                    wrong.push(("consent_date", "Skriv datoen som dd.mm.åååå."));
                    None
                }
            }
        } else {
            None
        };
        if !["", "custody", "without"].contains(&self.consent_kind.as_str()) {
            wrong.push(("consent_kind", "Vælg, hvordan samtykket er givet."));
        }
        let consent_given =
            custody || without || !self.child_view.trim().is_empty() || self.young_person_consented;
        let consent = consent_given.then(|| r::Consent {
            custody_holder_consented: custody,
            consent_date,
            no_consent_legal_basis: if without {
                self.no_consent_legal_basis.clone()
            } else {
                String::new()
            },
            no_consent_decision_reference: if without {
                self.no_consent_decision_reference.trim().to_owned()
            } else {
                String::new()
            },
            child_view: self.child_view.trim().to_owned(),
            young_person_consented: self.young_person_consented,
        });
        if !wrong.is_empty() {
            return Err(invalid_fields(wrong));
        }
        Ok(r::Referral {
            name: name.to_owned(),
            etag: self.etag.clone(),
            recipient: recipient as i32,
            target_groups,
            target_group_other: self.target_group_other.trim().to_owned(),
            needs: Some(r::Needs {
                competences: Vec::new(),
                gender_preference: gender as i32,
                description: self.needs.trim().to_owned(),
            }),
            requested_minutes_per_week: minutes,
            purpose: self.purpose.trim().to_owned(),
            expected_duration_months: months,
            legal_basis: self.legal_basis.clone(),
            consent,
            age_justification: self.age_justification.trim().to_owned(),
            hours_justification: self.hours_justification.trim().to_owned(),
            network_statement: self.network_statement.trim().to_owned(),
            ..r::Referral::default()
        })
    }
}

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

/// What a page is drawn with besides the referral itself.
#[derive(Default)]
struct View<'a> {
    /// Why the last step did not happen.
    problem: Option<&'a Problem>,
    /// What the last step did.
    notice: Option<&'a str>,
    /// The draft form as typed (after a refused save) instead of the stored referral.
    values: Option<&'a DraftInput>,
    /// The assessment form as typed (after a refused assessment).
    assessment: Option<&'a AssessmentForm>,
}

#[derive(Deserialize)]
pub struct DraftQuery {
    #[serde(default)]
    findes: String,
}

/// `GET /raadgiver/henvisning/{municipality}/{id}`.
pub async fn draft(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Query(query): Query<DraftQuery>,
) -> Answer {
    let notice = (query.findes == "1").then_some(
        "Sagen har allerede en åben henvisning. Her er den, så du kan arbejde videre på den.",
    );
    draft_page(
        &state,
        &session,
        &code,
        &id,
        View {
            notice,
            ..View::default()
        },
    )
    .await
}

async fn draft_page(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    view: View<'_>,
) -> Answer {
    let name = referral_name(code, id);
    let current = draft_path(&name);
    if view.problem.is_some_and(|p| p.sign_in_again) {
        return Err(Redirect::to(&sign_in_url(&current, "udloebet")).into_response());
    }
    let referral = or_page(
        state
            .services
            .referral()
            .get_referral(request(
                session,
                PURPOSE,
                r::GetReferralRequest { name: name.clone() },
            ))
            .await,
        session,
        Which::Referral,
        &current,
    )?;
    let editable = matches!(
        r::ReferralState::try_from(referral.state),
        Ok(r::ReferralState::Draft | r::ReferralState::Returned)
    );
    let child = state
        .services
        .referral()
        .get_person(request(
            session,
            PURPOSE,
            r::GetPersonRequest {
                name: referral.person.clone(),
            },
        ))
        .await
        .ok()
        .map(tonic::Response::into_inner);
    let case = state
        .services
        .referral()
        .get_case(request(
            session,
            PURPOSE,
            r::GetCaseRequest {
                name: referral.case.clone(),
            },
        ))
        .await
        .ok()
        .map(tonic::Response::into_inner);
    let today = state.today();
    let summary = html! {
        div.card {
            dl {
                dt { "Barn" }
                dd {
                    @if let Some(child) = &child {
                        (child.display_name)
                        @if let Some(born) = child.birth_date.as_ref().and_then(Date::to_naive) {
                            span.muted { " · født " (format::date(born)) ", " (age_on(born, today)) " år" }
                        }
                    } @else { "–" }
                }
                dt { "Kommune" } dd { (format::municipality(code)) }
                dt { "Status" } dd { (crate::screens::counsellor::referral_state(referral.state)) }
                dt { "Sag" }
                dd {
                    @match &case {
                        Some(case) => { (case.external_id) span.muted { " · KLE " (case.kle_number) } }
                        None => { (crate::screens::coordinator::short_id(&referral.case)) }
                    }
                }
                dt { "Senest gemt" } dd { (format::timestamp(referral.update_time.as_ref())) }
            }
        }
    };
    if !editable {
        let body = html! {
            @if let Some(problem) = view.problem { (problem_box(problem)) }
            @if let Some(notice) = view.notice { div.notice role="status" { p { (notice) } } }
            (summary)
            p { "Henvisningen er ikke længere en kladde og kan ikke ændres her." }
            p { a href="/raadgiver" { "Tilbage til mine sager" } }
        };
        return Ok(page_with_status(
            session,
            view.problem.map_or(StatusCode::OK, Problem::http_status),
            "Henvisning",
            &current,
            body,
        ));
    }
    let bases = or_page(
        state
            .services
            .referral()
            .list_legal_bases(request(
                session,
                PURPOSE,
                r::ListLegalBasesRequest {
                    page_size: 500,
                    page_token: String::new(),
                    include_repealed: true,
                },
            ))
            .await,
        session,
        Which::Referral,
        &current,
    )?
    .legal_bases;
    let checked = check(state, session, &referral, &current).await?;
    let items: &[Missing] = match &checked {
        Check::Missing(items) => items,
        _ => &[],
    };
    let inline = field_messages(items, view.problem);
    let stored = DraftInput::from_referral(&referral);
    let values = view.values.unwrap_or(&stored);
    // A refused save keeps the etag it was made against, so a change by someone else in
    // between still loses (ABORTED) instead of being overwritten.
    let body = html! {
        @if let Some(problem) = view.problem {
            (problem_box(&Problem {
                // Fields with an input are shown next to it.
                fields: problem.fields.iter().filter(|(f, _)| input_for(f).is_none()).cloned().collect(),
                ..problem.clone()
            }))
        }
        @if let Some(notice) = view.notice { div.notice role="status" { p { (notice) } } }
        (checklist(session, &current, &referral, &checked))
        (summary)
        (draft_form(session, &current, values, &bases, today, &inline))
        (assessment_form(session, &current, view.assessment, today, &inline, items))
        p { a href="/raadgiver" { "Tilbage til mine sager" } }
    };
    let status = view.problem.map_or(StatusCode::OK, Problem::http_status);
    Ok(page_with_status(
        session,
        status,
        "Kladde til henvisning",
        &current,
        body,
    ))
}

/// "Det mangler, før henvisningen kan sendes", or "Klar til at sende" with the send button.
fn checklist(session: &Session, current: &str, referral: &r::Referral, checked: &Check) -> Markup {
    html! {
        section aria-labelledby="tjekliste" {
            @match checked {
                Check::Ready => {
                    div.notice data-check="ready" {
                        h2 id="tjekliste" { "Klar til at sende" }
                        p { "Alle regler for at sende henvisningen er opfyldt, som den er gemt nu." }
                        form method="post" action={(current) "/send"} {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="etag" value=(referral.etag);
                            button type="submit" { "Send henvisningen" }
                        }
                    }
                }
                Check::Missing(items) => {
                    div.warning data-check="missing" data-count=(items.len()) {
                        h2 id="tjekliste" { "Det mangler, før henvisningen kan sendes" }
                        p {
                            @if items.len() == 1 { "1 punkt" } @else { (items.len()) " punkter" }
                            " efter kommunens regler, som henvisningen er gemt nu. Listen opdateres, når du gemmer."
                        }
                        @for (rule, group) in by_rule(items) {
                            h3.rule {
                                @if rule.is_empty() { "Fejl i felterne" }
                                @else { (rule) " · " (rule_meaning(rule).unwrap_or("")) }
                            }
                            ul {
                                @for item in group {
                                    li data-rule=(item.rule) data-field=(item.subject) {
                                        @let label = label_of(&item.subject);
                                        @match input_for(&item.subject) {
                                            Some(input) => { a href={"#" (input)} { (if label.is_empty() { item.subject.as_str() } else { label }) } ": " }
                                            None if !label.is_empty() => { strong { (label) } ": " }
                                            None => {}
                                        }
                                        (item.text)
                                        @if !item.detail.is_empty() {
                                            " " span.muted lang="en" { "(" (item.detail) ")" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                Check::Failed(problem) => {
                    div.warning data-check="failed" {
                        h2 id="tjekliste" { "Det mangler, før henvisningen kan sendes" }
                        p { strong { (problem.title) } ". " (problem.detail) }
                        p { "Tjekket kunne ikke gennemføres lige nu. Du kan stadig gemme kladden." }
                    }
                }
            }
        }
    }
}

/// A radio or checkbox group with its legend, hint and error.
fn group(problem: &Problem, name: &str, legend: &str, hint: Option<&str>, body: Markup) -> Markup {
    let error = problem.field(name);
    html! {
        fieldset.field.invalid[error.is_some()] id=(name) tabindex="-1" {
            legend { (legend) }
            @if let Some(hint) = hint { span.hint { (hint) } }
            @if let Some(error) = error {
                span.error { span.visually-hidden { "Fejl: " } (error) }
            }
            (body)
        }
    }
}

/// One radio button or checkbox with its label beside it, the whole row a touch target.
fn choice(kind: &str, name: &str, value: &str, label: &str, checked: bool) -> Markup {
    let id = format!("{name}-{value}");
    html! {
        div.choice {
            input type=(kind) id=(id) name=(name) value=(value) checked[checked];
            label for=(id) { (label) }
        }
    }
}

/// A labelled textarea.
fn text_area(
    problem: &Problem,
    name: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
) -> Markup {
    let p = Some(problem);
    field(
        p,
        name,
        label,
        hint,
        html! {
            textarea id=(name) name=(name) maxlength="4000"
                aria-describedby=[described(p, name, hint.is_some())] aria-invalid=[invalid(p, name)] { (value) }
        },
    )
}

/// A select among legal bases; a repealed one is offered only when it is the one chosen.
fn basis_select(
    name: &str,
    chosen: &str,
    bases: &[&r::LegalBasis],
    today: chrono::NaiveDate,
    p: &Problem,
) -> Markup {
    let repealed = |b: &r::LegalBasis| {
        b.valid_until
            .as_ref()
            .and_then(Date::to_naive)
            .is_some_and(|until| until < today)
    };
    html! {
        select id=(name) name=(name) aria-invalid=[invalid(Some(p), name)] {
            option value="" selected[chosen.is_empty()] { "Vælg …" }
            @for basis in bases {
                @if !repealed(basis) || basis.name == chosen {
                    option value=(basis.name) selected[basis.name == chosen] {
                        (basis.citation) " – " (basis.title)
                        @if repealed(basis) { " (ophævet)" }
                    }
                }
            }
        }
    }
}

fn draft_form(
    session: &Session,
    current: &str,
    v: &DraftInput,
    bases: &[r::LegalBasis],
    today: chrono::NaiveDate,
    p: &Problem,
) -> Markup {
    let some = Some(p);
    let all: Vec<&r::LegalBasis> = bases.iter().collect();
    let without_consent: Vec<&r::LegalBasis> = bases.iter().filter(|b| b.without_consent).collect();
    let today_iso = today.format("%Y-%m-%d").to_string();
    let minutes_hint = match v.requested_minutes_per_week.trim().parse::<i32>() {
        Ok(minutes) if minutes > 0 => format!(
            "Fx 180 for 3 timer. Nu: {}.",
            format::hours_per_week(minutes)
        ),
        _ => "Fx 180 for 3 timer.".to_owned(),
    };
    html! {
        h2 { "Henvisningen" }
        form method="post" action=(current) novalidate {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="etag" value=(v.etag);
            (group(p, "recipient", "Hvem er kontaktpersonen for?", None, html! {
                @for (value, _, label) in RECIPIENTS {
                    (choice("radio", "recipient", value, label, v.recipient == value))
                }
            }))
            (group(p, "target_groups", "Målgruppe", Some("Vælg alle, der passer."), html! {
                @for (value, _, label) in TARGET_GROUPS {
                    (choice("checkbox", "target_groups", value, label, v.target_groups.iter().any(|t| t == value)))
                }
            }))
            (field(some, "target_group_other", "Anden målgruppe", Some("Udfyldes, når »Andet« er valgt."), html! {
                input id="target_group_other" name="target_group_other" type="text" maxlength="4000" value=(v.target_group_other)
                    aria-describedby=[described(some, "target_group_other", true)] aria-invalid=[invalid(some, "target_group_other")];
            }))
            (text_area(p, "needs", "Behov, der betyder noget for matchningen", Some("Fx interesser, sprog, og hvad kontaktpersonen skal kunne."), &v.needs))
            (field(some, "gender_preference", "Ønsket køn på kontaktpersonen", None, html! {
                select id="gender_preference" name="gender_preference" {
                    @for (value, _, label) in GENDERS {
                        option value=(value) selected[v.gender_preference == value] { (label) }
                    }
                }
            }))
            (field(some, "requested_minutes_per_week", "Ønskede minutter om ugen", Some(minutes_hint.as_str()), html! {
                input id="requested_minutes_per_week" name="requested_minutes_per_week" type="number" min="0" max="10080" step="15" inputmode="numeric"
                    value=(v.requested_minutes_per_week)
                    aria-describedby=[described(some, "requested_minutes_per_week", true)] aria-invalid=[invalid(some, "requested_minutes_per_week")];
            }))
            (text_area(p, "purpose", "Formål", Some("Står i afgørelsen (Barnets Lov § 32, stk. 3)."), &v.purpose))
            (field(some, "expected_duration_months", "Forventet varighed i måneder", None, html! {
                input id="expected_duration_months" name="expected_duration_months" type="number" min="0" max="120" inputmode="numeric"
                    value=(v.expected_duration_months)
                    aria-describedby=[described(some, "expected_duration_months", false)] aria-invalid=[invalid(some, "expected_duration_months")];
            }))
            (field(some, "legal_basis", "Lovgrundlag", Some("Normalt Barnets Lov § 32, stk. 1, nr. 3; fra 18 år ungestøtte."), basis_select("legal_basis", &v.legal_basis, &all, today, p)))
            fieldset {
                legend { "Samtykke" }
                (group(p, "consent_kind", "Hvordan er indsatsen samtykket?", None, html! {
                    (choice("radio", "consent_kind", "custody", "Forældremyndighedsindehaveren har givet samtykke", v.consent_kind == "custody"))
                    (choice("radio", "consent_kind", "without", "Uden samtykke, på et grundlag der tillader det", v.consent_kind == "without"))
                }))
                (field(some, "consent_date", "Dato for samtykket", Some("Ved samtykke."), html! {
                    input id="consent_date" name="consent_date" type="date" max=(today_iso) value=(v.consent_date)
                        aria-describedby=[described(some, "consent_date", true)] aria-invalid=[invalid(some, "consent_date")];
                }))
                (field(some, "no_consent_legal_basis", "Grundlag uden samtykke", Some("Uden samtykke, fx Barnets Lov § 39 (10–17 år)."), basis_select("no_consent_legal_basis", &v.no_consent_legal_basis, &without_consent, today, p)))
                (field(some, "no_consent_decision_reference", "Afgørelsens reference", Some("Uden samtykke: referencen til afgørelsen."), html! {
                    input id="no_consent_decision_reference" name="no_consent_decision_reference" type="text" maxlength="200" value=(v.no_consent_decision_reference)
                        aria-describedby=[described(some, "no_consent_decision_reference", true)] aria-invalid=[invalid(some, "no_consent_decision_reference")];
                }))
                (text_area(p, "child_view", "Barnets egen holdning", Some("Registreres altid."), &v.child_view))
                (group(p, "young_person_consented", "Den unges eget samtykke", Some("Hvis kommunen kræver det fra en bestemt alder."), html! {
                    (choice("checkbox", "young_person_consented", "yes", "Den unge har selv givet samtykke", v.young_person_consented))
                }))
            }
            (text_area(p, "network_statement", "Netværket", Some("Hvorfor kan familiens eget netværk ikke dække behovet?"), &v.network_statement))
            (text_area(p, "hours_justification", "Begrundelse for timetallet", Some("Når timerne er over kommunens grænse."), &v.hours_justification))
            (text_area(p, "age_justification", "Begrundelse for alderen", Some("Når barnet er yngre end kommunens minimumsalder."), &v.age_justification))
            div.actions { button type="submit" { "Gem kladden" } }
        }
    }
}

fn assessment_form(
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

// ---------------------------------------------------------------------------------------------
// Saving, the assessment, sending
// ---------------------------------------------------------------------------------------------

/// `POST /raadgiver/henvisning/{municipality}/{id}`: saves the form, then the page again with
/// the new checklist.
pub async fn save(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (input, csrf) = DraftInput::from_pairs(&pairs);
    if let Err(refused) = check_csrf(&session, &csrf) {
        return refused;
    }
    let name = referral_name(&code, &id);
    let again = |problem: Problem, values: Option<&DraftInput>| {
        let (state, session, code, id) = (&state, &session, &code, &id);
        let values = values.cloned();
        async move {
            respond(
                draft_page(
                    state,
                    session,
                    code,
                    id,
                    View {
                        problem: Some(&problem),
                        values: values.as_ref(),
                        ..View::default()
                    },
                )
                .await,
            )
        }
    };
    let mut fields = match input.to_referral(&name) {
        Ok(fields) => fields,
        Err(problem) => return again(problem, Some(&input)).await,
    };
    // The form shows no competences: those a case system gave the needs are kept.
    let mut client = state.services.referral();
    let stored = match client
        .get_referral(request(
            &session,
            PURPOSE,
            r::GetReferralRequest { name: name.clone() },
        ))
        .await
    {
        Ok(stored) => stored.into_inner(),
        Err(status) => {
            return again(Problem::from_status(&status, Which::Referral), Some(&input)).await;
        }
    };
    if let (Some(needs), Some(kept)) = (fields.needs.as_mut(), stored.needs) {
        needs.competences = kept.competences;
    }
    let result = client
        .update_referral(request(
            &session,
            PURPOSE,
            r::UpdateReferralRequest {
                referral: Some(fields),
                update_mask: Some(prost_types::FieldMask {
                    paths: FORM_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
                }),
            },
        ))
        .await;
    match result {
        Ok(_) => respond(
            draft_page(
                &state,
                &session,
                &code,
                &id,
                View {
                    notice: Some("Kladden er gemt. Tjeklisten øverst er opdateret."),
                    ..View::default()
                },
            )
            .await,
        ),
        // Someone else saved in between: their version is shown, to be edited again.
        Err(status) if status.code() == Code::Aborted => {
            again(Problem::from_status(&status, Which::Referral), None).await
        }
        Err(status) => again(Problem::from_status(&status, Which::Referral), Some(&input)).await,
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

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    etag: String,
}

/// `POST /raadgiver/henvisning/{municipality}/{id}/send`: submits it for visitation.
pub async fn submit(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<SendForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let result = state
        .services
        .referral()
        .submit_referral(request(
            &session,
            PURPOSE,
            r::SubmitReferralRequest {
                name: referral_name(&code, &id),
                etag: form.etag,
                validate_only: false,
            },
        ))
        .await;
    match result {
        Ok(_) => Redirect::to("/raadgiver?henvisning=sendt").into_response(),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Referral);
            respond(
                draft_page(
                    &state,
                    &session,
                    &code,
                    &id,
                    View {
                        problem: Some(&problem),
                        ..View::default()
                    },
                )
                .await,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_checkbox_group_of_target_groups_is_read_from_its_repeated_name() {
        let (input, csrf) = DraftInput::from_pairs(&pairs(&[
            ("csrf", "t0ken"),
            ("target_groups", "crime_risk"),
            ("target_groups", "other"),
            ("target_groups", "crime_risk"),
            ("target_group_other", " school refusal "),
        ]));
        assert_eq!(csrf, "t0ken");
        assert_eq!(input.target_groups, ["crime_risk", "other"]);
        let referral = input
            .to_referral("municipalities/329/referrals/r-1")
            .expect("valid");
        assert_eq!(
            referral.target_groups,
            [
                r::TargetGroup::CrimeRisk as i32,
                r::TargetGroup::Other as i32
            ]
        );
        assert_eq!(referral.target_group_other, "school refusal");
    }

    #[test]
    fn an_unknown_target_group_or_a_word_for_minutes_names_its_field() {
        let (input, _) = DraftInput::from_pairs(&pairs(&[
            ("target_groups", "aliens"),
            ("requested_minutes_per_week", "tre timer"),
            ("expected_duration_months", "-2"),
        ]));
        let problem = input.to_referral("x").expect_err("refused");
        assert!(problem.field("target_groups").is_some());
        assert!(problem.field("requested_minutes_per_week").is_some());
        assert!(problem.field("expected_duration_months").is_some());
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn empty_numbers_are_zero_and_the_stored_referral_comes_back_as_the_form_showed_it() {
        let stored = r::Referral {
            name: "municipalities/329/referrals/r-1".into(),
            etag: "\"7\"".into(),
            recipient: r::Recipient::Family as i32,
            target_groups: vec![r::TargetGroup::Disability as i32],
            needs: Some(r::Needs {
                description: "likes football".into(),
                gender_preference: r::GenderPreference::Female as i32,
                competences: Vec::new(),
            }),
            requested_minutes_per_week: 180,
            purpose: "school".into(),
            expected_duration_months: 12,
            legal_basis: "legalBases/bl-32-1-3".into(),
            consent: Some(r::Consent {
                custody_holder_consented: true,
                consent_date: Some(Date {
                    year: 2026,
                    month: 11,
                    day: 1,
                }),
                child_view: "wants it".into(),
                ..r::Consent::default()
            }),
            network_statement: "no family nearby".into(),
            ..r::Referral::default()
        };
        let input = DraftInput::from_referral(&stored);
        assert_eq!(input.consent_kind, "custody");
        assert_eq!(input.consent_date, "2026-11-01");
        assert_eq!(input.recipient, "family");
        assert_eq!(input.gender_preference, "female");
        let again = input.to_referral(&stored.name).expect("valid");
        assert_eq!(again, stored);

        let (blank, _) = DraftInput::from_pairs(&pairs(&[("requested_minutes_per_week", " ")]));
        let referral = blank.to_referral("x").expect("valid");
        assert_eq!(referral.requested_minutes_per_week, 0);
        assert_eq!(referral.consent, None);
        assert_eq!(
            DraftInput::from_referral(&r::Referral::default()).requested_minutes_per_week,
            ""
        );
    }

    #[test]
    fn only_the_chosen_consents_own_fields_are_kept() {
        let (custody, _) = DraftInput::from_pairs(&pairs(&[
            ("consent_kind", "custody"),
            ("consent_date", "2026-11-01"),
            ("no_consent_legal_basis", "legalBases/bl-39"),
            ("no_consent_decision_reference", "old"),
            ("child_view", "ok"),
        ]));
        let consent = custody
            .to_referral("x")
            .expect("valid")
            .consent
            .expect("consent");
        assert!(consent.custody_holder_consented);
        assert!(consent.no_consent_legal_basis.is_empty());
        assert!(consent.no_consent_decision_reference.is_empty());
        let (without, _) = DraftInput::from_pairs(&pairs(&[
            ("consent_kind", "without"),
            ("consent_date", "2026-11-01"),
            ("no_consent_legal_basis", "legalBases/bl-39"),
            ("no_consent_decision_reference", "J.nr. 12"),
            ("young_person_consented", "yes"),
        ]));
        let consent = without
            .to_referral("x")
            .expect("valid")
            .consent
            .expect("consent");
        assert!(!consent.custody_holder_consented);
        assert_eq!(consent.consent_date, None);
        assert_eq!(consent.no_consent_legal_basis, "legalBases/bl-39");
        assert!(consent.young_person_consented);
        let (bad_date, _) = DraftInput::from_pairs(&pairs(&[
            ("consent_kind", "custody"),
            ("consent_date", "1. november"),
        ]));
        assert!(
            bad_date
                .to_referral("x")
                .expect_err("date")
                .field("consent_date")
                .is_some()
        );
    }

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

    #[test]
    fn every_rule_and_field_of_a_refusal_is_listed_in_danish_by_rule() {
        let mut details = ErrorDetails::new();
        details.add_precondition_failure_violation("R-RV-2", "purpose", "the purpose is required");
        details.add_precondition_failure_violation("R-RV-3", "consent.child_view", "always");
        details.add_precondition_failure_violation("R-RV-2", "legal_basis", "from the catalogue");
        details.add_precondition_failure_violation("R-RV-1", "plan", "policy");
        let status = tonic::Status::with_error_details(Code::FailedPrecondition, "no", details);
        let items = missing(&status);
        assert_eq!(items.len(), 4);
        assert_eq!(items[1].subject, "consent.child_view");
        assert!(items[1].text.contains("Barnets egen holdning"));
        // The Danish text says it all; the service's words are kept where they add numbers.
        assert_eq!(items[1].detail, "");
        assert_eq!(items[2].detail, "from the catalogue");
        let groups = by_rule(&items);
        let rules: Vec<&str> = groups.iter().map(|(rule, _)| *rule).collect();
        assert_eq!(rules, ["R-RV-2", "R-RV-3", "R-RV-1"]);
        assert_eq!(groups[0].1.len(), 2);

        // Next to their fields: each input gets its rule; the plan has no input here.
        let inline = field_messages(&items, None);
        assert_eq!(
            inline.field("purpose"),
            Some("R-RV-2: Angiv formålet med indsatsen (Barnets Lov § 32, stk. 3).")
        );
        assert!(
            inline
                .field("child_view")
                .is_some_and(|m| m.starts_with("R-RV-3"))
        );
        assert!(inline.field("plan").is_none());
    }

    #[test]
    fn a_refusal_without_violations_still_says_what_stops_it() {
        let status = tonic::Status::with_error_details(
            Code::FailedPrecondition,
            "no policy",
            ErrorDetails::with_error_info("NO_POLICY", "kontakt", HashMap::new()),
        );
        let items = missing(&status);
        assert_eq!(items.len(), 1);
        assert!(items[0].text.contains("kvalitetsstandard"));
        let bad = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request_violation("referral.needs.description", "at most 4000"),
        );
        let items = missing(&bad);
        assert_eq!(items[0].rule, "");
        let inline = field_messages(&items, None);
        assert!(inline.field("needs").is_some());
    }

    #[test]
    fn service_field_paths_point_at_the_inputs_of_the_page() {
        assert_eq!(input_for("referral.needs.description"), Some("needs"));
        assert_eq!(input_for("consent"), Some("consent_kind"));
        assert_eq!(input_for("consent.consent_date"), Some("consent_date"));
        assert_eq!(
            input_for("assessment.completion_date"),
            Some("completion_date")
        );
        assert_eq!(input_for("assessments"), Some("assessment"));
        assert_eq!(input_for("plan"), None);
        assert_eq!(input_for("compulsory_condition.reference"), None);
        // Every field the form writes has an input to show its error at.
        assert!(FORM_FIELDS.iter().all(|f| input_for(f).is_some()));
        assert_eq!(label_of("plan"), "Handleplan");
        assert_eq!(label_of("consent.child_view"), "Barnets egen holdning");
    }

    #[test]
    fn a_refused_save_shows_its_field_errors_next_to_the_checklists() {
        let action = Problem::invalid("referral.purpose", "at most 4000 characters");
        let items = vec![Missing {
            rule: "R-RV-2".into(),
            subject: "purpose".into(),
            text: "Angiv formålet.".into(),
            detail: String::new(),
        }];
        let inline = field_messages(&items, Some(&action));
        assert_eq!(
            inline.field("purpose"),
            Some("at most 4000 characters · R-RV-2: Angiv formålet.")
        );
    }

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
