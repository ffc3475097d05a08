//! The draft form as typed (`DraftInput`): text, read from the form's fields and from the
//! stored referral, and turned into the referral's new values for the fields the form writes.

use kontakt_proto::referral::v1 as r;

use super::{invalid_fields, iso, whole};
use crate::format;
use crate::problem::Problem;

/// The referral fields the draft form writes (UpdateReferral's mask). Not `*`: the plan and a
/// compulsory condition, which this form does not show, stay as they are.
pub(super) const FORM_FIELDS: [&str; 12] = [
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
pub(super) const RECIPIENTS: [(&str, r::Recipient, &str); 2] = [
    ("child", r::Recipient::Child, "Barnet eller den unge"),
    ("family", r::Recipient::Family, "Hele familien"),
];

pub(super) const TARGET_GROUPS: [(&str, r::TargetGroup, &str); 6] = [
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

pub(super) const GENDERS: [(&str, r::GenderPreference, &str); 4] = [
    ("", r::GenderPreference::Unspecified, "Ikke angivet"),
    ("none", r::GenderPreference::None, "Ingen præference"),
    ("female", r::GenderPreference::Female, "En kvinde"),
    ("male", r::GenderPreference::Male, "En mand"),
];

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

#[cfg(test)]
mod tests {
    use kontakt_proto::common::v1::Date;

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
}
