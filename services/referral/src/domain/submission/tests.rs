//! The rules of `submission`, one test or more per rule id.

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
