//! The referral rules (DOMAIN.md R-RV-1..13) as pure functions over plain data: no I/O, so each
//! rule is tested on its own under every policy. `api` gathers the facts, calls these, and
//! stores what they allow.

pub mod age;
pub mod decision;
pub mod grant;
pub mod policy;
pub mod submission;

use kontakt_platform::Refusal;
pub use kontakt_platform::error::RuleViolation;
use kontakt_platform::refusal::RULES_NOT_MET;

/// Every rule in `violations` broken, refused as the referral service words it: "{what}: R-RV-6
/// minutes_per_week, …" (the clients show that line; the rule list is the same as ever).
pub fn refused(what: &str, violations: Vec<RuleViolation>) -> Refusal {
    let summary: Vec<String> = violations
        .iter()
        .map(|v| format!("{} {}", v.rule, v.subject))
        .collect();
    Refusal {
        reason: RULES_NOT_MET,
        message: format!("{what}: {}", summary.join(", ")),
        violations,
    }
}

/// One broken rule: its id, the field it is about and what to do.
pub fn violation(
    rule: &str,
    field: impl Into<String>,
    description: impl Into<String>,
) -> RuleViolation {
    RuleViolation {
        rule: rule.to_owned(),
        subject: field.into(),
        description: description.into(),
    }
}

/// What the catalogue says about a legal basis (DOMAIN.md §3), as far as the rules need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegalBasisFacts {
    pub code: String,
    pub valid_from: chrono::NaiveDate,
    pub valid_until: Option<chrono::NaiveDate>,
    /// Ages (whole years) the basis applies to, inclusive; `None` = no limit.
    pub min_age_years: Option<u32>,
    pub max_age_years: Option<u32>,
    /// Whether the measure may be taken without the custody holder's consent (BL §39, SEL §56).
    pub without_consent: bool,
}

impl LegalBasisFacts {
    pub fn in_force_on(&self, day: chrono::NaiveDate) -> bool {
        self.valid_from <= day && self.valid_until.is_none_or(|until| day <= until)
    }

    pub fn covers_age(&self, age: u32) -> bool {
        self.min_age_years.is_none_or(|min| age >= min)
            && self.max_age_years.is_none_or(|max| age <= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_refusal_names_each_rule_and_field_after_what_was_refused() {
        let refusal = refused(
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
