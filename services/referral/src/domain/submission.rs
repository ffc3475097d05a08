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
mod tests {
    use super::*;
    use crate::domain::policy::examples;
    use kontakt_proto::common::v1::Date;
    use kontakt_proto::referral::v1::{
        AssessmentKind, CompulsoryCondition, Consent, Goal, Needs, Referral,
    };

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn date(d: NaiveDate) -> Option<Date> {
        Some(d.into())
    }

    const TODAY: (i32, u32, u32) = (2026, 11, 24);

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    fn catalogue() -> HashMap<String, LegalBasisFacts> {
        let basis = |code: &str, from, until, ages: (Option<u32>, Option<u32>), without| {
            (
                code.to_owned(),
                LegalBasisFacts {
                    code: code.to_owned(),
                    valid_from: from,
                    valid_until: until,
                    min_age_years: ages.0,
                    max_age_years: ages.1,
                    without_consent: without,
                    compulsory: code.starts_with("strfl-"),
                },
            )
        };
        let bl = day(2024, 1, 1);
        let sel_end = Some(day(2023, 12, 31));
        HashMap::from([
            basis("bl-32-1-3", bl, None, (None, Some(17)), false),
            basis("bl-39", bl, None, (Some(10), Some(17)), true),
            basis("bl-113-116", bl, None, (Some(18), Some(22)), false),
            basis(
                "sel-52-3-6",
                day(1998, 7, 1),
                sel_end,
                (None, Some(17)),
                false,
            ),
            basis("strfl-74a", day(2001, 7, 1), None, (None, None), false),
        ])
    }

    /// A complete referral for a 13-year-old that every example policy accepts.
    fn complete() -> Referral {
        Referral {
            recipient: Recipient::Child as i32,
            target_groups: vec![TargetGroup::CrimeRisk as i32],
            needs: Some(Needs {
                description: "a calm adult who plays football".into(),
                ..Needs::default()
            }),
            requested_minutes_per_week: 180,
            purpose: "stable school attendance".into(),
            expected_duration_months: 12,
            legal_basis: "legalBases/bl-32-1-3".into(),
            consent: Some(Consent {
                custody_holder_consented: true,
                consent_date: date(day(2026, 11, 1)),
                child_view: "wants someone to talk to".into(),
                young_person_consented: true,
                ..Consent::default()
            }),
            plan: "municipalities/183/cases/c-1/plans/pl-1".into(),
            network_statement: "the grandparents live abroad".into(),
            ..Referral::default()
        }
    }

    /// A completed børnefaglig undersøgelse, which every example policy accepts.
    fn assessment() -> Assessment {
        Assessment {
            kind: AssessmentKind::ChildAssessment as i32,
            completion_date: date(day(2026, 10, 1)),
            conclusion: "needs a fixed adult".into(),
            ..Assessment::default()
        }
    }

    fn plan() -> Plan {
        Plan {
            goals: vec![Goal {
                goal_id: "g1".into(),
                description: "attends school 4 days a week".into(),
                ..Goal::default()
            }],
            ..Plan::default()
        }
    }

    /// The rule ids and fields broken by `referral` for a child born on `birth` under `policy`.
    fn broken(
        referral: &Referral,
        policy: &Policy,
        birth: NaiveDate,
        assessments: &[Assessment],
        plan: Option<&Plan>,
    ) -> Vec<(String, String)> {
        let catalogue = catalogue();
        check(&Submission {
            referral,
            policy,
            birth_date: birth,
            day: today(),
            assessments,
            plan,
            legal_bases: &catalogue,
        })
        .into_iter()
        .map(|v| (v.rule, v.subject))
        .collect()
    }

    fn thirteen() -> NaiveDate {
        day(2013, 6, 1)
    }

    /// A young adult's own consent: no custody holder.
    fn adult_consent() -> Consent {
        Consent {
            young_person_consented: true,
            consent_date: date(day(2026, 11, 1)),
            child_view: "wants help finding an apprenticeship".into(),
            ..Consent::default()
        }
    }

    fn all_policies() -> [(&'static str, Policy); 3] {
        [
            ("Ishøj", examples::committee_with_plan()),
            ("Ringsted", examples::counsellor_decides()),
            ("third", examples::third()),
        ]
    }

    fn rv(rule: &str, field: &str) -> (String, String) {
        (rule.to_owned(), field.to_owned())
    }

    #[test]
    fn a_complete_referral_passes_under_every_policy() {
        for (name, policy) in all_policies() {
            let plan = plan();
            assert_eq!(
                broken(
                    &complete(),
                    &policy,
                    thirteen(),
                    &[assessment()],
                    Some(&plan)
                ),
                [],
                "{name}"
            );
        }
    }

    #[test]
    fn r_rv_1_a_referral_without_a_completed_assessment_cannot_be_submitted() {
        let ongoing = Assessment {
            completion_date: None,
            ..assessment()
        };
        let unconcluded = Assessment {
            conclusion: " ".into(),
            ..assessment()
        };
        for (name, policy) in all_policies() {
            for assessments in [vec![], vec![ongoing.clone()], vec![unconcluded.clone()]] {
                let plan = plan();
                assert_eq!(
                    broken(&complete(), &policy, thirteen(), &assessments, Some(&plan)),
                    [rv("R-RV-1", "assessments")],
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn r_rv_1_a_policy_may_require_a_child_assessment_which_may_still_run_beside_an_afdaekning() {
        let plan = plan();
        let afdaekning = Assessment {
            kind: AssessmentKind::Preliminary as i32,
            ..assessment()
        };
        let running = Assessment {
            need_known_date: date(day(2026, 10, 15)),
            completion_date: None,
            conclusion: String::new(),
            ..assessment()
        };
        for (name, policy) in all_policies() {
            let check = |assessments: &[Assessment]| {
                broken(&complete(), &policy, thirteen(), assessments, Some(&plan))
            };
            // An afdækning alone is enough only where the policy does not ask for more.
            let expected = if policy.child_assessment_required {
                vec![rv("R-RV-1", "assessments")]
            } else {
                vec![]
            };
            assert_eq!(check(std::slice::from_ref(&afdaekning)), expected, "{name}");
            // A completed undersøgelse always is; one still running is, beside the afdækning.
            assert_eq!(check(&[assessment()]), [], "{name}");
            assert_eq!(check(&[afdaekning.clone(), running.clone()]), [], "{name}");
            // A running one alone is no completed assessment at all.
            assert_eq!(
                check(std::slice::from_ref(&running)),
                [rv("R-RV-1", "assessments")],
                "{name}"
            );
        }
        // The running undersøgelse support starts beside (BL § 32 stk. 4), due 4 months after
        // the need was known (§ 20 stk. 3).
        assert_eq!(assessment_deadline(&running), Some(day(2027, 2, 15)));
        assert_eq!(
            running_child_assessment(&[afdaekning.clone(), running.clone()], today()),
            Some(&running)
        );
        assert_eq!(running_child_assessment(&[running], today()), None);
        assert_eq!(running_child_assessment(&[afdaekning], today()), None);
    }

    #[test]
    fn r_rv_1_a_plan_with_a_goal_is_required_only_where_the_policy_says_so() {
        let no_goals = Plan::default();
        for (name, policy) in all_policies() {
            let expected = if policy.plan_required {
                vec![rv("R-RV-1", "plan")]
            } else {
                vec![]
            };
            assert_eq!(
                broken(&complete(), &policy, thirteen(), &[assessment()], None),
                expected,
                "{name}: no plan"
            );
            assert_eq!(
                broken(
                    &complete(),
                    &policy,
                    thirteen(),
                    &[assessment()],
                    Some(&no_goals)
                ),
                expected,
                "{name}: a plan without goals"
            );
        }
    }

    #[test]
    fn r_rv_2_every_missing_part_of_the_referral_is_named() {
        let empty = Referral {
            consent: complete().consent,
            network_statement: "n".into(),
            target_groups: vec![TargetGroup::Other as i32],
            ..Referral::default()
        };
        let plan = plan();
        let got = broken(
            &empty,
            &examples::counsellor_decides(),
            thirteen(),
            &[assessment()],
            Some(&plan),
        );
        for field in [
            "recipient",
            "target_group_other",
            "needs",
            "requested_minutes_per_week",
            "purpose",
            "expected_duration_months",
            "legal_basis",
        ] {
            assert!(got.contains(&rv("R-RV-2", field)), "{field} in {got:?}");
        }
        let none = Referral {
            target_groups: vec![],
            ..complete()
        };
        assert!(
            broken(
                &none,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                None
            )
            .contains(&rv("R-RV-2", "target_groups"))
        );
    }

    #[test]
    fn r_rv_2_a_new_referral_cannot_cite_a_repealed_serviceloven_basis() {
        let old = Referral {
            legal_basis: "legalBases/sel-52-3-6".into(),
            ..complete()
        };
        let plan = plan();
        for (name, policy) in all_policies() {
            assert_eq!(
                broken(&old, &policy, thirteen(), &[assessment()], Some(&plan)),
                [rv("R-RV-2", "legal_basis")],
                "{name}"
            );
        }
    }

    #[test]
    fn r_rv_3_without_consent_a_basis_allowing_it_and_its_decision_are_required() {
        let plan = plan();
        let policy = examples::committee_with_plan();
        let mut referral = complete();
        referral.consent = Some(Consent {
            custody_holder_consented: false,
            child_view: "ok".into(),
            ..Consent::default()
        });
        assert_eq!(
            broken(&referral, &policy, thirteen(), &[assessment()], Some(&plan)),
            [
                rv("R-RV-3", "consent.no_consent_legal_basis"),
                rv("R-RV-3", "consent.no_consent_decision_reference")
            ]
        );
        referral.consent = Some(Consent {
            custody_holder_consented: false,
            no_consent_legal_basis: "legalBases/bl-39".into(),
            no_consent_decision_reference: "BU-2026-17".into(),
            child_view: "ok".into(),
            ..Consent::default()
        });
        assert_eq!(
            broken(&referral, &policy, thirteen(), &[assessment()], Some(&plan)),
            []
        );
        // BL §39 is for ages 10–17: not for a 9-year-old.
        let mut young = referral.clone();
        young.age_justification = "n/a".into();
        assert_eq!(
            broken(
                &young,
                &policy,
                day(2017, 1, 1),
                &[assessment()],
                Some(&plan)
            ),
            [rv("R-RV-3", "consent.no_consent_legal_basis")]
        );
    }

    #[test]
    fn r_rv_3_the_consent_date_and_the_childs_view_are_always_recorded() {
        let plan = plan();
        let mut referral = complete();
        referral.consent = Some(Consent {
            custody_holder_consented: true,
            ..Consent::default()
        });
        for (name, policy) in all_policies() {
            let got = broken(&referral, &policy, thirteen(), &[assessment()], Some(&plan));
            assert!(
                got.contains(&rv("R-RV-3", "consent.consent_date")),
                "{name}"
            );
            assert!(got.contains(&rv("R-RV-3", "consent.child_view")), "{name}");
        }
        referral.consent = None;
        assert_eq!(
            broken(
                &referral,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                None
            ),
            [rv("R-RV-3", "consent")]
        );
    }

    #[test]
    fn r_rv_3_the_young_persons_own_consent_from_the_policys_age() {
        let plan = plan();
        let mut referral = complete();
        if let Some(c) = referral.consent.as_mut() {
            c.young_person_consented = false;
        }
        let sixteen = day(2010, 1, 1);
        for (name, policy) in all_policies() {
            let expected = if policy.own_consent_age_years.is_some() {
                vec![rv("R-RV-3", "consent.young_person_consented")]
            } else {
                vec![]
            };
            assert_eq!(
                broken(&referral, &policy, sixteen, &[assessment()], Some(&plan)),
                expected,
                "{name}"
            );
        }
        // Under that age it is not asked for.
        assert_eq!(
            broken(
                &referral,
                &examples::third(),
                thirteen(),
                &[assessment()],
                Some(&plan)
            ),
            []
        );
    }

    #[test]
    fn r_rv_3_from_18_the_young_persons_own_consent_and_no_custody_holder() {
        let plan = plan();
        let nineteen = day(2007, 1, 1);
        let with = |consent: Consent| Referral {
            legal_basis: "legalBases/bl-113-116".into(),
            consent: Some(consent),
            ..complete()
        };
        for (name, policy) in all_policies() {
            let check = |r: &Referral| broken(r, &policy, nineteen, &[assessment()], Some(&plan));
            assert_eq!(check(&with(adult_consent())), [], "{name}");
            // The custody holder is not asked: recording their consent is refused.
            let asked = Consent {
                custody_holder_consented: true,
                ..adult_consent()
            };
            assert_eq!(
                check(&with(asked)),
                [rv("R-RV-3", "consent.custody_holder_consented")],
                "{name}"
            );
            // Nor is a no-consent basis for children any use from 18.
            let order = Consent {
                no_consent_legal_basis: "legalBases/bl-39".into(),
                no_consent_decision_reference: "BU 2026-17".into(),
                ..adult_consent()
            };
            assert_eq!(
                check(&with(order)),
                [rv("R-RV-3", "consent.custody_holder_consented")],
                "{name}"
            );
            // Without the young person's own consent there is no ungestøtte, whatever the policy.
            let refused = Consent {
                young_person_consented: false,
                ..adult_consent()
            };
            assert_eq!(
                check(&with(refused)),
                [rv("R-RV-3", "consent.young_person_consented")],
                "{name}"
            );
            let undated = Consent {
                consent_date: None,
                ..adult_consent()
            };
            assert_eq!(
                check(&with(undated)),
                [rv("R-RV-3", "consent.consent_date")],
                "{name}"
            );
        }
    }

    #[test]
    fn r_rv_4_a_compulsory_condition_asks_no_consent_and_cites_a_compulsory_basis() {
        let plan = plan();
        let condition = CompulsoryCondition {
            legal_basis: "legalBases/strfl-74a".into(),
            reference: "Retten i Glostrup 123/2026".into(),
            end_date: date(day(2027, 6, 30)),
        };
        // No custody consent is asked; the child's view still is.
        let referral = Referral {
            compulsory_condition: Some(condition.clone()),
            consent: Some(Consent {
                child_view: "does not want it, but will come".into(),
                ..Consent::default()
            }),
            ..complete()
        };
        for (name, policy) in all_policies() {
            assert_eq!(
                broken(&referral, &policy, thirteen(), &[assessment()], Some(&plan)),
                [],
                "{name}"
            );
        }
        // A basis that is not compulsory cannot carry a compulsory condition.
        let not_compulsory = Referral {
            compulsory_condition: Some(CompulsoryCondition {
                legal_basis: "legalBases/bl-32-1-3".into(),
                ..condition
            }),
            ..referral
        };
        assert_eq!(
            broken(
                &not_compulsory,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                Some(&plan)
            ),
            [rv("R-RV-4", "compulsory_condition.legal_basis")]
        );
    }

    #[test]
    fn r_rv_4_a_compulsory_condition_needs_its_basis_reference_and_future_end() {
        let plan = plan();
        let mut referral = complete();
        referral.compulsory_condition = Some(CompulsoryCondition {
            end_date: date(day(2026, 1, 1)),
            ..CompulsoryCondition::default()
        });
        assert_eq!(
            broken(
                &referral,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                Some(&plan)
            ),
            [
                rv("R-RV-4", "compulsory_condition.legal_basis"),
                rv("R-RV-4", "compulsory_condition.reference"),
                rv("R-RV-4", "compulsory_condition.end_date"),
            ]
        );
        referral.compulsory_condition = Some(CompulsoryCondition {
            legal_basis: "legalBases/strfl-74a".into(),
            reference: "Retten i Glostrup 123/2026".into(),
            end_date: date(day(2027, 6, 30)),
        });
        assert_eq!(
            broken(
                &referral,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                Some(&plan)
            ),
            []
        );
    }

    #[test]
    fn r_rv_5_under_the_policys_minimum_age_only_with_a_justification() {
        let plan = plan();
        let eleven = day(2015, 6, 1);
        let twelve = day(2014, 6, 1);
        let ringsted = examples::counsellor_decides();
        assert_eq!(
            broken(&complete(), &ringsted, eleven, &[assessment()], None),
            [rv("R-RV-5", "age_justification")],
            "an 11-year-old in Ringsted"
        );
        assert_eq!(
            broken(&complete(), &ringsted, twelve, &[assessment()], None),
            [],
            "a 12-year-old in Ringsted"
        );
        let justified = Referral {
            age_justification: "mature for their age; the school asks for it".into(),
            ..complete()
        };
        assert_eq!(
            broken(&justified, &ringsted, eleven, &[assessment()], None),
            []
        );
        // Ishøj states no minimum; the third standard's is 10.
        assert_eq!(
            broken(
                &complete(),
                &examples::committee_with_plan(),
                day(2020, 1, 1),
                &[assessment()],
                Some(&plan)
            ),
            []
        );
        assert_eq!(
            broken(
                &complete(),
                &examples::third(),
                day(2017, 1, 1),
                &[assessment()],
                Some(&plan)
            ),
            [rv("R-RV-5", "age_justification")]
        );
    }

    #[test]
    fn r_rv_5_young_adults_need_an_ungestotte_basis_and_none_is_granted_after_22() {
        let plan = plan();
        let nineteen = day(2007, 1, 1);
        let child_basis = Referral {
            consent: Some(adult_consent()),
            ..complete()
        };
        for (name, policy) in all_policies() {
            assert_eq!(
                broken(
                    &child_basis,
                    &policy,
                    nineteen,
                    &[assessment()],
                    Some(&plan)
                ),
                [rv("R-RV-5", "legal_basis")],
                "{name}"
            );
            let ungestotte = Referral {
                legal_basis: "legalBases/bl-113-116".into(),
                consent: Some(adult_consent()),
                ..complete()
            };
            assert_eq!(
                broken(&ungestotte, &policy, nineteen, &[assessment()], Some(&plan)),
                [],
                "{name}"
            );
            assert_eq!(
                broken(
                    &ungestotte,
                    &policy,
                    day(2000, 1, 1),
                    &[assessment()],
                    Some(&plan)
                ),
                [rv("R-RV-5", "person")],
                "{name}"
            );
        }
    }

    #[test]
    fn r_rv_6_hours_above_the_policys_maximum_need_a_justification() {
        let plan = plan();
        let four_hours = Referral {
            requested_minutes_per_week: 240,
            ..complete()
        };
        assert_eq!(
            broken(
                &four_hours,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                None
            ),
            [rv("R-RV-6", "hours_justification")],
            "4 hours in Ringsted"
        );
        let justified = Referral {
            hours_justification: "two settings: school and home".into(),
            ..four_hours.clone()
        };
        assert_eq!(
            broken(
                &justified,
                &examples::counsellor_decides(),
                thirteen(),
                &[assessment()],
                None
            ),
            []
        );
        // Ishøj has no maximum (the committee sets the hours); the third allows 5 hours.
        for policy in [examples::committee_with_plan(), examples::third()] {
            assert_eq!(
                broken(
                    &four_hours,
                    &policy,
                    thirteen(),
                    &[assessment()],
                    Some(&plan)
                ),
                []
            );
        }
    }

    #[test]
    fn r_rv_7_a_network_statement_only_where_the_policy_asks() {
        let plan = plan();
        let without = Referral {
            network_statement: String::new(),
            ..complete()
        };
        for (name, policy) in all_policies() {
            let expected = if policy.network_statement_required {
                vec![rv("R-RV-7", "network_statement")]
            } else {
                vec![]
            };
            assert_eq!(
                broken(&without, &policy, thirteen(), &[assessment()], Some(&plan)),
                expected,
                "{name}"
            );
        }
    }
}
