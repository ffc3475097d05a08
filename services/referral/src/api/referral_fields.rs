//! A referral draft's input: the fields the counsellor writes (UpdateReferral's mask), their
//! shape checks, and the body stored from them.

use kontakt_platform::resource::valid_id;
use kontakt_platform::units::WeeklyMinutes;
use kontakt_proto::referral::v1::{Recipient, Referral, TargetGroup};
use prost::Message as _;
use tonic_types::FieldViolation;

use super::common::{MAX_SHORT, MAX_TEXT, text_ok};

/// Fields of a referral the counsellor writes (UpdateReferral's mask).
pub(super) const EDITABLE: [&str; 14] = [
    "recipient",
    "target_groups",
    "target_group_other",
    "needs",
    "requested_minutes_per_week",
    "purpose",
    "expected_duration_months",
    "legal_basis",
    "consent",
    "compulsory_condition",
    "plan",
    "age_justification",
    "hours_justification",
    "network_statement",
];

/// Input checks on a draft's fields (INVALID_ARGUMENT): shapes and ranges, not the rules,
/// which a draft may still break until it is submitted.
pub(super) fn draft_field_errors(r: &Referral, prefix: &str) -> Vec<FieldViolation> {
    let mut wrong = Vec::new();
    let mut bad = |ok: bool, field: &str, what: &str| {
        if !ok {
            wrong.push(FieldViolation::new(format!("{prefix}{field}"), what));
        }
    };
    bad(
        Recipient::try_from(r.recipient).is_ok(),
        "recipient",
        "not a known recipient",
    );
    bad(
        r.target_groups
            .iter()
            .all(|t| TargetGroup::try_from(*t).is_ok_and(|t| t != TargetGroup::Unspecified)),
        "target_groups",
        "contains an unknown or unspecified target group",
    );
    bad(r.target_groups.len() <= 6, "target_groups", "at most 6");
    bad(
        WeeklyMinutes::new(r.requested_minutes_per_week).is_some(),
        "requested_minutes_per_week",
        "must be 0 to 10080 minutes",
    );
    bad(
        (0..=120).contains(&r.expected_duration_months),
        "expected_duration_months",
        "must be 0 to 120 months",
    );
    for (field, value) in [
        ("target_group_other", &r.target_group_other),
        ("purpose", &r.purpose),
        ("age_justification", &r.age_justification),
        ("hours_justification", &r.hours_justification),
        ("network_statement", &r.network_statement),
    ] {
        bad(text_ok(value, MAX_TEXT), field, "at most 4000 characters");
    }
    bad(
        r.legal_basis.is_empty()
            || r.legal_basis
                .strip_prefix("legalBases/")
                .is_some_and(valid_id),
        "legal_basis",
        "must be `legalBases/{code}`",
    );
    if let Some(needs) = &r.needs {
        bad(
            text_ok(&needs.description, MAX_TEXT),
            "needs.description",
            "at most 4000 characters",
        );
        bad(
            needs.competences.len() <= 30
                && needs
                    .competences
                    .iter()
                    .all(|c| c.strip_prefix("competences/").is_some_and(valid_id)),
            "needs.competences",
            "at most 30 names of the form `competences/{code}`",
        );
    }
    if let Some(consent) = &r.consent {
        bad(
            consent
                .consent_date
                .as_ref()
                .is_none_or(|d| d.to_naive().is_some()),
            "consent.consent_date",
            "not a valid calendar date",
        );
        bad(
            text_ok(&consent.child_view, MAX_TEXT)
                && text_ok(&consent.no_consent_decision_reference, MAX_SHORT),
            "consent",
            "child_view at most 4000, no_consent_decision_reference at most 200 characters",
        );
    }
    if let Some(condition) = &r.compulsory_condition {
        bad(
            condition
                .end_date
                .as_ref()
                .is_none_or(|d| d.to_naive().is_some()),
            "compulsory_condition.end_date",
            "not a valid calendar date",
        );
        bad(
            text_ok(&condition.reference, MAX_SHORT),
            "compulsory_condition.reference",
            "at most 200 characters",
        );
    }
    wrong
}

/// Copies the chosen fields (each one of [`EDITABLE`]) of `from` onto `to`.
pub(super) fn apply_fields(to: &mut Referral, from: Referral, chosen: &[&str]) {
    for path in chosen {
        match *path {
            "recipient" => to.recipient = from.recipient,
            "target_groups" => to.target_groups.clone_from(&from.target_groups),
            "target_group_other" => to.target_group_other.clone_from(&from.target_group_other),
            "needs" => to.needs.clone_from(&from.needs),
            "requested_minutes_per_week" => {
                to.requested_minutes_per_week = from.requested_minutes_per_week;
            }
            "purpose" => to.purpose.clone_from(&from.purpose),
            "expected_duration_months" => {
                to.expected_duration_months = from.expected_duration_months;
            }
            "legal_basis" => to.legal_basis.clone_from(&from.legal_basis),
            "consent" => to.consent.clone_from(&from.consent),
            "compulsory_condition" => to
                .compulsory_condition
                .clone_from(&from.compulsory_condition),
            "plan" => to.plan.clone_from(&from.plan),
            "age_justification" => to.age_justification.clone_from(&from.age_justification),
            "hours_justification" => to.hours_justification.clone_from(&from.hours_justification),
            "network_statement" => to.network_statement.clone_from(&from.network_statement),
            _ => {}
        }
    }
}

/// Only what the counsellor writes is stored in the body; names, state and times come from
/// the row.
pub(super) fn draft_body(r: &Referral) -> Vec<u8> {
    let mut body = Referral::default();
    apply_fields(&mut body, r.clone(), &EDITABLE);
    body.encode_to_vec()
}
