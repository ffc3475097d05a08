//! The referral rules (DOMAIN.md R-RV-1..13) as pure functions over plain data: no I/O, so each
//! rule is tested on its own under every policy. `api` gathers the facts, calls these, and
//! stores what they allow.

pub mod age;
pub mod decision;
pub mod grant;
pub mod import;
pub mod policy;
pub mod statistics;
pub mod submission;

pub use kontakt_platform::error::RuleViolation;

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
    /// Whether the basis is a compulsory condition (tiltalefrafald, a sentence, a youth
    /// sanction, Ungdomskriminalitetsnævnet; R-RV-4).
    pub compulsory: bool,
}

impl LegalBasisFacts {
    pub fn in_force_on(&self, day: chrono::NaiveDate) -> bool {
        self.valid_from <= day && self.valid_until.is_none_or(|until| day <= until)
    }

    pub fn covers_age(&self, age: u32) -> bool {
        self.min_age_years.is_none_or(|min| age >= min)
            && self.max_age_years.is_none_or(|max| age <= max)
    }

    /// The last day a measure on this basis may run for a person born on `birth` (R-RV-5): the
    /// day before the birthday after the basis's oldest age (a child basis: the day before the
    /// 18th birthday; ungestøtte: the day before the 23rd). `None` when the basis has no upper
    /// age.
    pub fn last_day_for(&self, birth: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
        let max = self.max_age_years?;
        age::birthday(birth, max + 1).and_then(|b| b.pred_opt())
    }
}
