//! What still stops the submission: the service's answer to `SubmitReferral` with
//! `validate_only`, read into items by rule and field, in Danish, and drawn as the checklist at
//! the top of the draft's page and as messages next to the fields.

use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::referral::v1 as r;
use maud::{Markup, html};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::PURPOSE;
use crate::grpc::{Which, request};
use crate::problem::{Problem, rule_meaning};
use crate::session::Session;
use crate::web::{AppState, sign_in_url};

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
pub(super) fn field_messages(items: &[Missing], action: Option<&Problem>) -> Problem {
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
pub(super) enum Check {
    Ready,
    Missing(Vec<Missing>),
    /// The check itself failed (the service is down, …).
    Failed(Problem),
}

pub(super) async fn check(
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

/// "Det mangler, før henvisningen kan sendes", or "Klar til at sende" with the send button.
pub(super) fn checklist(
    session: &Session,
    current: &str,
    referral: &r::Referral,
    checked: &Check,
) -> Markup {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    use super::super::input::FORM_FIELDS;

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
}
