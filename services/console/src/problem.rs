//! What went wrong, in plain Danish: every gRPC status a service can answer becomes a
//! [`Problem`] a page shows. Bad input keeps its field names so the form shows each message
//! next to its field; a refused step lists the rules (with their R- ids) that stop it. Never a
//! stack trace, never a token.

use axum::http::StatusCode;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::grpc::Which;

/// A refusal or failure, ready to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status of the page.
    pub status: u16,
    /// One line, e.g. "Der er fejl i det indtastede".
    pub title: String,
    /// What the person can do about it.
    pub detail: String,
    /// (field, message) for each field the service named.
    pub fields: Vec<(String, String)>,
    /// (rule id, what it means) for each rule that stops the step.
    pub rules: Vec<(String, String)>,
    /// The incident id of an unexpected failure, to quote to support.
    pub incident: Option<String>,
    /// The person must sign in again.
    pub sign_in_again: bool,
}

impl Problem {
    pub fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A problem of the console's own (bad form input before any call).
    pub fn invalid(field: &str, message: &str) -> Self {
        Self {
            status: 400,
            title: "Der er fejl i det indtastede".into(),
            detail: "Ret de markerede felter og prøv igen.".into(),
            fields: vec![(field.to_owned(), message.to_owned())],
            ..Self::default()
        }
    }

    pub fn not_found() -> Self {
        Self {
            status: 404,
            title: "Siden findes ikke".into(),
            detail: "Det, du leder efter, findes ikke, eller du har ikke adgang til det.".into(),
            ..Self::default()
        }
    }

    /// The message for `field` (the service's field path, e.g. `time_entry.minutes`, or the
    /// last part of it), if it was named.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field || name.rsplit('.').next() == Some(field))
            .map(|(_, message)| message.as_str())
    }

    /// A status from `service` as a problem.
    pub fn from_status(status: &tonic::Status, service: Which) -> Self {
        let incident = status
            .get_details_error_info()
            .and_then(|info| info.metadata.get("incident").cloned());
        let fields: Vec<(String, String)> = status
            .get_details_bad_request()
            .map(|bad| {
                bad.field_violations
                    .into_iter()
                    .map(|v| (v.field, v.description))
                    .collect()
            })
            .unwrap_or_default();
        let rules: Vec<(String, String)> = status
            .get_details_precondition_failure()
            .map(|failure| {
                failure
                    .violations
                    .into_iter()
                    .map(|v| {
                        let meaning = rule_meaning(&v.r#type).map_or_else(
                            || v.description.clone(),
                            |danish| format!("{danish} ({})", v.description),
                        );
                        (v.r#type, meaning)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (code, title, detail) = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => (
                400,
                "Der er fejl i det indtastede",
                "Ret de markerede felter og prøv igen.",
            ),
            Code::FailedPrecondition => (
                409,
                "Det kan ikke lade sig gøre",
                "Reglerne herunder forhindrer det. Ret det, de peger på, og prøv igen.",
            ),
            Code::NotFound => (
                404,
                "Findes ikke",
                "Det, du leder efter, findes ikke, eller du har ikke adgang til det.",
            ),
            Code::PermissionDenied => (
                403,
                "Du har ikke adgang",
                "Din rolle eller kommune giver ikke adgang til dette.",
            ),
            Code::Unauthenticated => (
                401,
                "Du er ikke logget ind længere",
                "Log ind igen for at fortsætte.",
            ),
            Code::AlreadyExists => (
                409,
                "Findes allerede",
                "Det er allerede oprettet. Hent siden igen for at se det.",
            ),
            Code::Aborted => (
                409,
                "Nogen har ændret det imens",
                "Hent siden igen, så du ser det nyeste, og prøv så igen.",
            ),
            // Cancelled: the console's own deadline passed first (tonic's "Timeout expired").
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Cancelled => (503, "Tjenesten svarer ikke lige nu", ""),
            _ => (
                500,
                "Der gik noget galt hos os",
                "Prøv igen om lidt. Sker det igen, så kontakt support og oplys fejl-id'et.",
            ),
        };
        // A refusal that names no rule or field: the service's own words are all there is.
        let detail = if fields.is_empty()
            && rules.is_empty()
            && matches!(code, 400 | 409)
            && !status.message().is_empty()
        {
            let said: String = status.message().chars().take(300).collect();
            format!("{detail} Tjenesten svarede: »{said}«")
        } else {
            detail.to_owned()
        };
        let detail = if code == 503 {
            format!(
                "Tjenesten for {} svarer ikke lige nu. Resten af Kontakt virker; prøv igen om lidt.",
                service.danish()
            )
        } else {
            detail
        };
        Self {
            status: code,
            title: title.to_owned(),
            detail,
            fields,
            rules,
            incident,
            sign_in_again: status.code() == Code::Unauthenticated,
        }
    }
}

/// What a rule of DOMAIN.md means, in the words a caseworker uses.
pub fn rule_meaning(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "R-RV-1" => "Henvisningen kræver en afsluttet afdækning eller børnefaglig undersøgelse",
        "R-RV-2" => "Henvisningen skal angive modtager, målgruppe og formål",
        "R-RV-3" => {
            "Samtykke fra forældremyndighedsindehaver mangler, eller et grundlag uden samtykke"
        }
        "R-RV-4" => "En tvungen foranstaltning kræver grundlag, ophør og myndighedens reference",
        "R-RV-5" => "Barnets alder ligger uden for kommunens aldersgrænser",
        "R-RV-6" => "Timetallet ligger over kommunens grænse pr. uge",
        "R-RV-7" => "Det skal beskrives, hvorfor netværket ikke kan dække behovet",
        "R-RV-8" => "Sagen skal behandles i visitationsudvalget",
        "R-RV-9" => "Aktivitetspenge bevilges ikke som udgangspunkt",
        "R-RV-10" => "Samme henvisning er sendt før",
        "R-RV-11" => "En bevilling ændres med en ny version, ikke ved at rette den gamle",
        "R-RV-12" => "Bevillingen overskrider kommunens loft",
        "R-RV-13" => "Tillægget kræver en bevilling",
        "R-MP-1" => "Koordinatoren vælger, hvem der udfører opgaven",
        "R-MP-2" => "En leverandørs medarbejder kan kun tilknyttes gennem et indkøb",
        "R-MP-3" => "Kandidaterne rangeres efter barnets behov",
        "R-MP-4" => "Kontaktpersonen har ikke timer nok ledige om ugen (aldrig overbooket)",
        "R-MP-5" => "Ingen egnet kandidat: anmodningen står som udækket behov",
        "R-MP-6" => "Kontaktpersonen mangler en gyldig børneattest",
        "R-TC-1" => "Der kan kun registreres tid på egen aktive tilknytning inden for dens datoer",
        "R-TC-2" => "Timer ud over de bevilgede markeres som overskridelse",
        "R-TC-3" => "Prisen er minutter gange den sats, der gælder på dagen",
        "R-TC-4" => "Godkendte timesedler er endelige",
        "R-TC-5" => "Udgiften ligger uden for det bevilgede",
        "R-FU-1" => "Opfølgningen skal ske inden for lovens frist",
        "R-FU-2" => "Opfølgningen skal have et udfald",
        "R-FU-3" => "Rådgiveren følger op sammen med koordinatoren",
        "R-FU-4" => "Forfaldne opfølgninger vises for rådgiveren",
        "R-FU-5" => "Rammen evalueres én gang om året",
        "R-BF-1" => "Rammen har et beløb i basisårets priser",
        "R-BF-2" => "Rammen deles mellem kommunerne efter fordelingen",
        "R-BF-3" => "Rammen dækker løn, køb og koordinatorfunktionen",
        "R-BF-4" => "Budgetstatus viser forbrugt, disponeret og frit",
        "R-DP-1" => "CPR-nummeret er ikke gyldigt",
        "R-DP-2" => "Adgang til personoplysninger logges",
        "R-DP-3" => "Personoplysninger slettes efter opbevaringsperioden",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt as _};

    use super::*;

    #[test]
    fn bad_input_keeps_each_field_for_its_form_field() {
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request_violation("time_entry.minutes", "1 to 1440"),
        );
        let problem = Problem::from_status(&status, Which::Timecost);
        assert_eq!(problem.status, 400);
        assert_eq!(problem.field("minutes"), Some("1 to 1440"));
        assert_eq!(problem.field("time_entry.minutes"), Some("1 to 1440"));
        assert_eq!(problem.field("note"), None);
    }

    #[test]
    fn a_refused_step_lists_its_rules_in_danish_with_their_ids() {
        let mut details = ErrorDetails::new();
        details.add_precondition_failure_violation(
            "R-MP-4",
            "contact_person",
            "never overbooked: 60 minutes free",
        );
        let status = tonic::Status::with_error_details(Code::FailedPrecondition, "no", details);
        let problem = Problem::from_status(&status, Which::Matching);
        assert_eq!(problem.status, 409);
        assert_eq!(problem.rules.len(), 1);
        assert_eq!(problem.rules[0].0, "R-MP-4");
        assert!(problem.rules[0].1.contains("timer nok ledige"));
        assert!(problem.rules[0].1.contains("60 minutes free"));
    }

    #[test]
    fn a_service_that_is_down_is_named_and_an_expired_token_asks_for_sign_in() {
        let down = Problem::from_status(&tonic::Status::unavailable("x"), Which::Followup);
        assert_eq!(down.status, 503);
        assert!(down.detail.contains("opfølgning"));
        // The console's own deadline passing reads the same, not as our failure.
        let slow = Problem::from_status(
            &tonic::Status::cancelled("Timeout expired"),
            Which::Matching,
        );
        assert_eq!(slow.status, 503);
        let expired = Problem::from_status(&tonic::Status::unauthenticated("exp"), Which::Referral);
        assert!(expired.sign_in_again);
        let internal = Problem::from_status(
            &tonic::Status::internal("panicked at src/x.rs:1"),
            Which::Referral,
        );
        assert!(!internal.detail.contains("src/x.rs"));
    }
}
