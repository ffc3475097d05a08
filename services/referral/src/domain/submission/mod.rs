//! What a referral must hold before it is submitted for visitation (R-RV-1..7). Every broken
//! rule is reported at once, each with its rule id and the field to fix, so a counsellor (or a
//! case system) can correct everything in one round.

use std::collections::HashMap;

use chrono::NaiveDate;
use kontakt_proto::names::legal_basis_code as basis_code;
use kontakt_proto::referral::v1::{
    Assessment, AssessmentKind, Consent, Plan, Recipient, Referral, TargetGroup,
};

use super::age::{ADULT, age_years};
use super::policy::Policy;
use super::{LegalBasisFacts, RuleViolation, violation};

/// Everything the submission rules look at.
pub struct Submission<'a> {
    pub referral: &'a Referral,
    /// The policy in force on `day`.
    pub policy: &'a Policy,
    pub birth_date: NaiveDate,
    /// The day of submission; ages and validity are judged on it.
    pub day: NaiveDate,
    pub assessments: &'a [Assessment],
    /// The plan the referral names, if it exists.
    pub plan: Option<&'a Plan>,
    /// The legal-basis catalogue by code.
    pub legal_bases: &'a HashMap<String, LegalBasisFacts>,
}

/// The oldest age a contact-person arrangement can be granted for (BL §§113–116: to 22).
const MAX_AGE: u32 = 22;

pub fn check(s: &Submission<'_>) -> Vec<RuleViolation> {
    let mut found = Vec::new();
    let age = age_years(s.birth_date, s.day);
    documentation(s, &mut found);
    contents(s, &mut found);
    consent(s, age, &mut found);
    compulsory(s, &mut found);
    age_rules(s, age, &mut found);
    hours(s, &mut found);
    network(s, &mut found);
    found
}

fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Whether `a` is completed on or before `day`, with its conclusion.
fn completed_by(a: &Assessment, day: NaiveDate) -> bool {
    a.completion_date
        .as_ref()
        .and_then(|d| d.to_naive())
        .is_some_and(|d| d <= day)
        && !blank(&a.conclusion)
}

fn is_child_assessment(a: &Assessment) -> bool {
    a.kind == AssessmentKind::ChildAssessment as i32
}

/// The børnefaglig undersøgelse still running beside a completed afdækning, if support is to
/// start while it runs (BL § 32 stk. 4): the one with the earliest 4-month deadline.
pub fn running_child_assessment(assessments: &[Assessment], day: NaiveDate) -> Option<&Assessment> {
    if !assessments.iter().any(|a| completed_by(a, day)) {
        return None;
    }
    assessments
        .iter()
        .filter(|a| is_child_assessment(a) && a.completion_date.is_none())
        .filter(|a| {
            a.need_known_date
                .as_ref()
                .and_then(|d| d.to_naive())
                .is_some()
        })
        .min_by_key(|a| a.need_known_date.as_ref().and_then(|d| d.to_naive()))
}

/// BL § 20 stk. 3: a børnefaglig undersøgelse is finished within 4 months of the municipality
/// learning of the need.
pub const CHILD_ASSESSMENT_MONTHS: u32 = 4;

/// BL § 91: the child's plan is made within 3 months (DOMAIN.md §3).
pub const PLAN_MONTHS: u32 = 3;

/// The day a running børnefaglig undersøgelse must be finished by (BL § 20 stk. 3).
pub fn assessment_deadline(a: &Assessment) -> Option<NaiveDate> {
    a.need_known_date
        .as_ref()
        .and_then(|d| d.to_naive())?
        .checked_add_months(chrono::Months::new(CHILD_ASSESSMENT_MONTHS))
}

/// R-RV-1: a completed assessment — where the policy says so, a børnefaglig undersøgelse, or
/// one still running beside a completed afdækning (BL § 32 stk. 4) — and, where the policy
/// says so, a plan with a goal.
fn documentation(s: &Submission<'_>, found: &mut Vec<RuleViolation>) {
    let any_completed = s.assessments.iter().any(|a| completed_by(a, s.day));
    if !any_completed {
        found.push(violation(
            "R-RV-1",
            "assessments",
            "a completed assessment (afdækning or børnefaglig undersøgelse) with its date and conclusion is required",
        ));
    } else if s.policy.child_assessment_required
        && !s
            .assessments
            .iter()
            .any(|a| is_child_assessment(a) && completed_by(a, s.day))
        && running_child_assessment(s.assessments, s.day).is_none()
    {
        found.push(violation(
            "R-RV-1",
            "assessments",
            "the policy requires a børnefaglig undersøgelse (§ 20), done or running beside the afdækning",
        ));
    }
    if s.policy.plan_required {
        match s.plan {
            None => found.push(violation(
                "R-RV-1",
                "plan",
                "the municipality's policy requires an action plan before visitation",
            )),
            Some(plan) if plan.goals.iter().all(|g| blank(&g.description)) => found.push(
                violation("R-RV-1", "plan", "the action plan needs at least one goal"),
            ),
            Some(_) => {}
        }
    }
}

/// R-RV-2: recipient, target groups, needs, hours, purpose, duration and legal basis.
fn contents(s: &Submission<'_>, found: &mut Vec<RuleViolation>) {
    let r = s.referral;
    if Recipient::try_from(r.recipient).unwrap_or(Recipient::Unspecified) == Recipient::Unspecified
    {
        found.push(violation(
            "R-RV-2",
            "recipient",
            "say whether the contact person is for the CHILD or the FAMILY",
        ));
    }
    if r.target_groups.is_empty() {
        found.push(violation(
            "R-RV-2",
            "target_groups",
            "at least one target group is required",
        ));
    }
    if r.target_groups.contains(&(TargetGroup::Other as i32)) && blank(&r.target_group_other) {
        found.push(violation(
            "R-RV-2",
            "target_group_other",
            "describe the OTHER target group",
        ));
    }
    let needs_stated = r
        .needs
        .as_ref()
        .is_some_and(|n| !n.competences.is_empty() || !blank(&n.description));
    if !needs_stated {
        found.push(violation(
            "R-RV-2",
            "needs",
            "state the needs that matter for matching (competences or a description)",
        ));
    }
    if r.requested_minutes_per_week <= 0 {
        found.push(violation(
            "R-RV-2",
            "requested_minutes_per_week",
            "the requested hours per week are required",
        ));
    }
    if blank(&r.purpose) {
        found.push(violation(
            "R-RV-2",
            "purpose",
            "the purpose of the measure is required (BL §32 stk.3)",
        ));
    }
    if r.expected_duration_months <= 0 {
        found.push(violation(
            "R-RV-2",
            "expected_duration_months",
            "the expected duration is required (BL §32 stk.3)",
        ));
    }
    match basis_code(&r.legal_basis).and_then(|c| s.legal_bases.get(c)) {
        None => found.push(violation(
            "R-RV-2",
            "legal_basis",
            "a legal basis from the catalogue is required, e.g. legalBases/bl-32-1-3",
        )),
        Some(basis) if !basis.in_force_on(s.day) => found.push(violation(
            "R-RV-2",
            "legal_basis",
            format!(
                "{} is not in force on {}; new grants use Barnets Lov",
                r.legal_basis, s.day
            ),
        )),
        Some(_) => {}
    }
}

/// R-RV-3: under 18, the custody holder's consent or a no-consent basis with its decision, the
/// child's view, and the young person's own consent where policy requires it; from 18 the young
/// person's own consent and no custody holder (there is none). A compulsory condition (R-RV-4)
/// asks no consent.
fn consent(s: &Submission<'_>, age: u32, found: &mut Vec<RuleViolation>) {
    let Some(consent) = s.referral.consent.as_ref() else {
        found.push(violation(
            "R-RV-3",
            "consent",
            if age >= ADULT {
                "record the young person's own consent"
            } else {
                "record the custody holder's consent or the basis for acting without it"
            },
        ));
        return;
    };
    let compulsory = s.referral.compulsory_condition.is_some();
    if age >= ADULT {
        adult_consent(s, consent, compulsory, found);
        return;
    }
    if !compulsory {
        custody_consent(s, consent, age, found);
    }
    if blank(&consent.child_view) {
        found.push(violation(
            "R-RV-3",
            "consent.child_view",
            "the child's own view is always recorded",
        ));
    }
    if let Some(from) = s.policy.own_consent_age_years
        && age >= from
        && consent.custody_holder_consented
        && !compulsory
        && !consent.young_person_consented
    {
        found.push(violation(
            "R-RV-3",
            "consent.young_person_consented",
            format!("the policy requires the young person's own consent from age {from}"),
        ));
    }
}

/// The consent date given is a day on or before the submission.
fn dated(consent: &Consent, day: NaiveDate) -> bool {
    consent
        .consent_date
        .as_ref()
        .and_then(|d| d.to_naive())
        .is_some_and(|d| d <= day)
}

/// Under 18: the custody holder consented on a date, or a basis allows acting without consent
/// at the child's age and its decision is referred to.
fn custody_consent(
    s: &Submission<'_>,
    consent: &Consent,
    age: u32,
    found: &mut Vec<RuleViolation>,
) {
    if consent.custody_holder_consented {
        if !dated(consent, s.day) {
            found.push(violation(
                "R-RV-3",
                "consent.consent_date",
                "the date the custody holder consented is required (not in the future)",
            ));
        }
        return;
    }
    match basis_code(&consent.no_consent_legal_basis).and_then(|c| s.legal_bases.get(c)) {
        Some(basis) if basis.without_consent && basis.in_force_on(s.day) && basis.covers_age(age) => {
        }
        Some(basis) if basis.without_consent && !basis.covers_age(age) => found.push(violation(
            "R-RV-3",
            "consent.no_consent_legal_basis",
            format!(
                "{} does not apply at the child's age ({age})",
                consent.no_consent_legal_basis
            ),
        )),
        _ => found.push(violation(
            "R-RV-3",
            "consent.no_consent_legal_basis",
            "without the custody holder's consent, a basis that allows it (e.g. legalBases/bl-39) is required",
        )),
    }
    if blank(&consent.no_consent_decision_reference) {
        found.push(violation(
            "R-RV-3",
            "consent.no_consent_decision_reference",
            "the reference to the decision to act without consent is required",
        ));
    }
}

/// From 18: the young person's own dated consent (unless a compulsory condition), and nothing
/// recorded of a custody holder, who no longer exists.
fn adult_consent(
    s: &Submission<'_>,
    consent: &Consent,
    compulsory: bool,
    found: &mut Vec<RuleViolation>,
) {
    if consent.custody_holder_consented
        || !blank(&consent.no_consent_legal_basis)
        || !blank(&consent.no_consent_decision_reference)
    {
        found.push(violation(
            "R-RV-3",
            "consent.custody_holder_consented",
            "the young person is 18 or more: there is no custody holder to ask; record the young person's own consent",
        ));
    }
    if compulsory {
        return;
    }
    if !consent.young_person_consented {
        found.push(violation(
            "R-RV-3",
            "consent.young_person_consented",
            "from 18 the young person's own consent is what counts (ungestøtte, Barnets Lov § 113)",
        ));
    } else if !dated(consent, s.day) {
        found.push(violation(
            "R-RV-3",
            "consent.consent_date",
            "the date the young person consented is required (not in the future)",
        ));
    }
}

/// R-RV-4: a compulsory condition cites a compulsory basis and names its reference and end.
fn compulsory(s: &Submission<'_>, found: &mut Vec<RuleViolation>) {
    let Some(condition) = s.referral.compulsory_condition.as_ref() else {
        return;
    };
    match basis_code(&condition.legal_basis).and_then(|c| s.legal_bases.get(c)) {
        None => found.push(violation(
            "R-RV-4",
            "compulsory_condition.legal_basis",
            "the basis of the condition (e.g. legalBases/strfl-74a) is required",
        )),
        Some(basis) if !basis.compulsory => found.push(violation(
            "R-RV-4",
            "compulsory_condition.legal_basis",
            format!(
                "{} is not a compulsory basis; cite a tiltalefrafald (legalBases/rpl-722-723), a sentence (legalBases/strfl-57), a youth sanction (legalBases/strfl-74a) or Ungdomskriminalitetsnævnet (legalBases/ukl-13-1-7)",
                condition.legal_basis
            ),
        )),
        Some(_) => {}
    }
    if blank(&condition.reference) {
        found.push(violation(
            "R-RV-4",
            "compulsory_condition.reference",
            "the court or prosecution reference is required",
        ));
    }
    let ends = condition.end_date.as_ref().and_then(|d| d.to_naive());
    if ends.is_none_or(|end| end < s.day) {
        found.push(violation(
            "R-RV-4",
            "compulsory_condition.end_date",
            "the condition's end date is required and must not have passed",
        ));
    }
}

/// R-RV-5: the policy's minimum age unless justified; 18–22 only on a basis for that age.
fn age_rules(s: &Submission<'_>, age: u32, found: &mut Vec<RuleViolation>) {
    if age > MAX_AGE {
        found.push(violation(
            "R-RV-5",
            "person",
            format!("the person is {age}; a contact person can be granted up to age {MAX_AGE}"),
        ));
        return;
    }
    let groups: Vec<TargetGroup> = s
        .referral
        .target_groups
        .iter()
        .filter_map(|g| TargetGroup::try_from(*g).ok())
        .collect();
    if let Some(why) = s.policy.age_deviation(age, &groups)
        && blank(&s.referral.age_justification)
    {
        found.push(violation(
            "R-RV-5",
            "age_justification",
            format!("the child is {age}, {why}: record why"),
        ));
    }
    if let Some(basis) = basis_code(&s.referral.legal_basis).and_then(|c| s.legal_bases.get(c))
        && !basis.covers_age(age)
    {
        found.push(violation(
            "R-RV-5",
            "legal_basis",
            if age >= 18 {
                format!(
                    "at {age} an ungestøtte basis (legalBases/bl-113-116) is required, not {}",
                    s.referral.legal_basis
                )
            } else {
                format!("{} does not apply at age {age}", s.referral.legal_basis)
            },
        ));
    }
}

/// R-RV-6: hours outside the policy's band (above its maximum, below its expected lower end)
/// need an individual justification.
fn hours(s: &Submission<'_>, found: &mut Vec<RuleViolation>) {
    let minutes = s.referral.requested_minutes_per_week;
    if let Some(why) = s.policy.hours_deviation(i64::from(minutes))
        && blank(&s.referral.hours_justification)
    {
        found.push(violation(
            "R-RV-6",
            "hours_justification",
            format!("{minutes} minutes a week is {why}: record an individual justification"),
        ));
    }
}

/// R-RV-7: the family's own network cannot meet the need, where the policy asks.
fn network(s: &Submission<'_>, found: &mut Vec<RuleViolation>) {
    if s.policy.network_statement_required && blank(&s.referral.network_statement) {
        found.push(violation(
            "R-RV-7",
            "network_statement",
            "the policy requires a statement that the family's own network cannot meet the need",
        ));
    }
}

#[cfg(test)]
mod tests;
