//! One way to refuse: a rule (or the state a thing is in) does not allow what was asked.
//!
//! Domain code returns a [`Refusal`]; it knows neither tonic nor [`ApiError`]. The API turns it
//! into `FAILED_PRECONDITION` in one place (`From<Refusal> for ApiError`), with one `ErrorInfo`
//! carrying the reason and a `PreconditionFailure` listing every broken rule by its id.
//!
//! ```
//! use kontakt_platform::Refusal;
//! let refusal = Refusal::rule("R-MP-4", "contact_person", "never overbooked")
//!     .with_reason("NO_CAPACITY")
//!     .with_message("anna does not have 180 free minutes a week (R-MP-4)");
//! assert_eq!(refusal.violations[0].rule, "R-MP-4");
//! ```

use std::fmt;

use crate::error::{ApiError, RuleViolation};

/// `ErrorInfo.reason` of a refusal that names rules and no reason of its own.
pub const RULES_NOT_MET: &str = "RULES_NOT_MET";

/// A request refused because a rule or a state does not allow it (a client can fix it by
/// changing the state first; retrying as is will not help).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `ErrorInfo.reason`: what a client branches on, e.g. `NO_CAPACITY`.
    pub reason: &'static str,
    /// What a person reads. Empty: said from the violations (each "description (rule)").
    pub message: String,
    /// Every rule broken, each by its DOMAIN.md id; empty for a refusal by state alone.
    pub violations: Vec<RuleViolation>,
}

impl Refusal {
    /// A refusal by state, naming no rule (e.g. `REQUEST_NOT_OPEN`).
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            violations: Vec::new(),
        }
    }

    /// One broken rule: its id, the field or resource it is about, and what it requires.
    pub fn rule(rule: &str, subject: &str, description: impl Into<String>) -> Self {
        Self {
            reason: RULES_NOT_MET,
            message: String::new(),
            violations: Vec::new(),
        }
        .and(rule, subject, description)
    }

    /// One broken rule told in one sentence: `message` is both what a person reads and the
    /// rule's description, and `reason` what a client branches on.
    pub fn broken(
        reason: &'static str,
        rule: &str,
        subject: &str,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Self::rule(rule, subject, message.clone())
            .with_reason(reason)
            .with_message(message)
    }

    /// Every rule in `violations` broken: "`what`: R-RV-6 minutes_per_week, R-RV-12 …".
    pub fn rules(what: &str, violations: Vec<RuleViolation>) -> Self {
        let summary: Vec<String> = violations
            .iter()
            .map(|v| format!("{} {}", v.rule, v.subject))
            .collect();
        Self {
            reason: RULES_NOT_MET,
            message: format!("{what}: {}", summary.join(", ")),
            violations,
        }
    }

    /// One more broken rule.
    #[must_use]
    pub fn and(mut self, rule: &str, subject: &str, description: impl Into<String>) -> Self {
        self.violations.push(RuleViolation {
            rule: rule.into(),
            subject: subject.into(),
            description: description.into(),
        });
        self
    }

    #[must_use]
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = reason;
        self
    }

    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The message a person reads: the one given, or each violation as "description (rule)".
    pub fn describe(&self) -> String {
        if !self.message.is_empty() {
            return self.message.clone();
        }
        self.violations
            .iter()
            .map(|v| format!("{} ({})", v.description, v.rule))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let message = refusal.describe();
        ApiError::FailedPrecondition {
            reason: refusal.reason,
            message,
            violations: refusal.violations,
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};
    use tonic_types::StatusExt;

    use super::*;

    fn violation(rule: &str, subject: &str, description: &str) -> RuleViolation {
        RuleViolation {
            rule: rule.into(),
            subject: subject.into(),
            description: description.into(),
        }
    }

    /// Code, message and the encoded details: what a client receives.
    fn wire(error: ApiError) -> (Code, String, Vec<u8>) {
        let status = Status::from(error);
        (
            status.code(),
            status.message().to_owned(),
            status.details().to_vec(),
        )
    }

    #[test]
    fn a_refusal_answers_byte_for_byte_what_the_failed_precondition_it_replaces_did() {
        let refusal = Refusal::rule("R-MP-4", "contact_person", "never overbooked")
            .with_reason("NO_CAPACITY")
            .with_message("anna does not have 180 free minutes a week (R-MP-4)");
        let before = ApiError::FailedPrecondition {
            reason: "NO_CAPACITY",
            message: "anna does not have 180 free minutes a week (R-MP-4)".into(),
            violations: vec![violation("R-MP-4", "contact_person", "never overbooked")],
        };
        assert_eq!(wire(refusal.into()), wire(before));
    }

    #[test]
    fn a_refusal_by_state_names_no_rule_and_sends_no_precondition_failure() {
        let refusal = Refusal::new("REQUEST_NOT_OPEN", "the request is CLOSED");
        let before = ApiError::FailedPrecondition {
            reason: "REQUEST_NOT_OPEN",
            message: "the request is CLOSED".into(),
            violations: Vec::new(),
        };
        assert_eq!(wire(refusal.clone().into()), wire(before));
        let status = Status::from(ApiError::from(refusal));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        assert!(details.precondition_failure().is_none());
        assert_eq!(
            details.error_info().map(|i| i.reason.clone()),
            Some("REQUEST_NOT_OPEN".into())
        );
    }

    #[test]
    fn every_broken_rule_is_listed_by_its_id_under_one_error_info() {
        let refusal = Refusal::rule("R-MP-6", "contact_person", "no certificate")
            .and("R-MP-3", "contact_person", "outside the area")
            .with_reason("CANNOT_BE_ASSIGNED");
        let status = Status::from(ApiError::from(refusal));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "no certificate (R-MP-6); outside the area (R-MP-3)",
            "without a message of its own, the violations say it"
        );
        let details = status.get_error_details();
        let rules: Vec<String> = details
            .precondition_failure()
            .expect("PreconditionFailure")
            .violations
            .iter()
            .map(|v| v.r#type.clone())
            .collect();
        assert_eq!(rules, ["R-MP-6", "R-MP-3"]);
        assert_eq!(
            details.error_info().map(|i| i.reason.clone()),
            Some("CANNOT_BE_ASSIGNED".into())
        );
    }

    #[test]
    fn a_rule_alone_is_refused_as_rules_not_met() {
        let refusal = Refusal::rule("R-TC-1", "time_entry", "own assignment only");
        assert_eq!(refusal.reason, RULES_NOT_MET);
        assert_eq!(refusal.to_string(), "own assignment only (R-TC-1)");
    }

    #[test]
    fn a_rule_refusal_names_each_rule_and_field_after_what_was_refused() {
        let refusal = Refusal::rules(
            "the grant cannot be changed so",
            vec![
                violation("R-RV-12", "approval_level", "the committee decides"),
                violation("R-RV-6", "minutes_per_week", "within the policy's range"),
            ],
        );
        assert_eq!(refusal.reason, "RULES_NOT_MET");
        assert_eq!(
            refusal.to_string(),
            "the grant cannot be changed so: R-RV-12 approval_level, R-RV-6 minutes_per_week"
        );
        let rules: Vec<&str> = refusal.violations.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, ["R-RV-12", "R-RV-6"]);
    }
}
