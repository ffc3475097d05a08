//! The rules of `ranking`, one test or more per rule id.

use super::*;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

const CHILD: &str = "municipalities/183/persons/p-1";

fn needs() -> Vec<String> {
    vec!["substance-abuse".into()]
}

fn demand(competences: &[String]) -> Demand<'_> {
    Demand {
        municipality: "183",
        competences,
        preferred_gender: Gender::Unspecified,
        age_years: 15,
        minutes_per_week: 180,
        start_date: day(2026, 12, 1),
        person: CHILD,
        certificate_rule: CertificateRule::default(),
    }
}

/// A staff member who can take the child, with the needed competence, at DKK 300 an hour.
fn staff(id: &str) -> Candidate {
    Candidate {
        id: id.into(),
        employment: Employment::Staff,
        competences: vec!["substance-abuse".into()],
        gender: Gender::Female,
        municipalities: vec!["183".into(), "187".into()],
        active: true,
        weekly_capacity_minutes: 1_200,
        other_duties_minutes: 0,
        booked_minutes: 600,
        certificate: Some(Certificate {
            result: CertificateResult::Clear,
            issued: Some(day(2025, 1, 1)),
            expiry: Some(day(2028, 1, 1)),
        }),
        known_persons: Vec::new(),
        hourly_cost_ore: Some(30_000),
    }
}

fn order(ranking: &Ranking) -> Vec<&str> {
    ranking
        .proposals
        .iter()
        .map(|p| p.candidate.as_str())
        .collect()
}

#[test]
fn each_factor_is_explained_and_the_score_is_their_sum() {
    let needs = needs();
    let ranking = rank(&demand(&needs), &[staff("a")]);
    let p = &ranking.proposals[0];
    let names: Vec<_> = p.factors.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        ["competences", "own people", "free capacity", "cost"]
    );
    assert_eq!(p.score, p.factors.iter().map(|f| f.points).sum::<i32>());
    assert_eq!(p.score, 40 + 30 + 7 - 12);
    assert_eq!(p.factors[3].explanation, "DKK 300.00 an hour");
    assert_eq!(
        p.factors[2].explanation,
        "420 minutes a week free after this assignment"
    );
}

#[test]
fn the_needed_competence_moves_a_candidate_up() {
    let needs = needs();
    let mut without = staff("a");
    without.competences.clear();
    let ranking = rank(&demand(&needs), &[without, staff("b")]);
    assert_eq!(order(&ranking), ["b", "a"]);
    assert_eq!(
        ranking.proposals[1].missing_competences,
        ["substance-abuse"]
    );
    assert!(
        ranking.proposals[1].factors[0]
            .explanation
            .contains("missing: substance-abuse")
    );
}

#[test]
fn continuity_outweighs_a_missing_competence() {
    let needs = needs();
    let mut known = staff("b");
    known.competences.clear();
    known.known_persons = vec![CHILD.into()];
    let ranking = rank(&demand(&needs), &[staff("a"), known]);
    assert_eq!(order(&ranking), ["b", "a"]);
}

#[test]
fn own_people_come_before_a_provider_r_mp_1() {
    let needs = needs();
    let mut provider = staff("a");
    provider.employment = Employment::Provider;
    provider.hourly_cost_ore = Some(30_000);
    let mut hourly = staff("b");
    hourly.employment = Employment::Hourly;
    let ranking = rank(&demand(&needs), &[provider, hourly, staff("c")]);
    assert_eq!(order(&ranking), ["c", "b", "a"]);
}

#[test]
fn the_cheaper_one_wins_when_all_else_is_equal() {
    let needs = needs();
    let mut dear = staff("a");
    dear.hourly_cost_ore = Some(54_300);
    let mut cheap = staff("b");
    cheap.hourly_cost_ore = Some(42_500);
    assert_eq!(order(&rank(&demand(&needs), &[dear, cheap])), ["b", "a"]);
}

#[test]
fn a_gender_preference_and_the_age_group_count() {
    let needs = needs();
    let mut wanted = demand(&needs);
    wanted.preferred_gender = Gender::Male;
    let mut male = staff("b");
    male.gender = Gender::Male;
    assert_eq!(order(&rank(&wanted, &[staff("a"), male])), ["b", "a"]);
    let mut teen = staff("d");
    teen.competences.push("age-15-17".into());
    let mut younger = staff("c");
    younger.competences.push("age-6-11".into());
    assert_eq!(order(&rank(&demand(&needs), &[younger, teen])), ["d", "c"]);
}

#[test]
fn more_free_capacity_ranks_higher_and_ties_go_by_id() {
    let needs = needs();
    let mut busy = staff("a");
    busy.booked_minutes = 900;
    assert_eq!(
        order(&rank(&demand(&needs), &[busy, staff("b")])),
        ["b", "a"]
    );
    assert_eq!(
        order(&rank(&demand(&needs), &[staff("z"), staff("m")])),
        ["m", "z"]
    );
}

#[test]
fn those_who_cannot_be_assigned_are_excluded_with_every_reason() {
    let needs = needs();
    let mut none = staff("a");
    none.certificate = None;
    let mut entries = staff("b");
    entries.certificate = Some(Certificate {
        result: CertificateResult::Entries,
        issued: None,
        expiry: None,
    });
    let mut expired = staff("c");
    expired.certificate = Some(Certificate {
        result: CertificateResult::Clear,
        issued: None,
        expiry: Some(day(2026, 11, 30)),
    });
    let mut elsewhere = staff("d");
    elsewhere.municipalities = vec!["329".into()];
    let mut full = staff("e");
    full.other_duties_minutes = 300;
    full.booked_minutes = 780;
    let mut everything = staff("f");
    everything.active = false;
    everything.certificate = None;
    everything.municipalities.clear();
    let ranking = rank(
        &demand(&needs),
        &[
            none,
            entries,
            expired,
            elsewhere,
            full,
            everything,
            staff("g"),
        ],
    );
    assert_eq!(order(&ranking), ["g"]);
    let excluded: Vec<(&str, Vec<Exclusion>)> = ranking
        .excluded
        .iter()
        .map(|(id, r)| (id.as_str(), r.clone()))
        .collect();
    assert_eq!(
        excluded,
        [
            ("a", vec![Exclusion::NoCertificate]),
            ("b", vec![Exclusion::CertificateEntries]),
            ("c", vec![Exclusion::CertificateExpired(day(2026, 11, 30))]),
            ("d", vec![Exclusion::OutsideArea]),
            (
                "e",
                vec![Exclusion::NoCapacity {
                    free: 120,
                    needed: 180
                }]
            ),
            (
                "f",
                vec![
                    Exclusion::Inactive,
                    Exclusion::NoCertificate,
                    Exclusion::OutsideArea
                ]
            ),
        ]
    );
    assert_eq!(
        Exclusion::NoCapacity {
            free: 120,
            needed: 180
        }
        .rule(),
        "R-MP-4"
    );
    assert_eq!(Exclusion::CertificateEntries.rule(), "R-MP-6");
}

#[test]
fn the_hard_rules_look_only_at_the_facts_they_check_r_mp_3_r_mp_4_r_mp_6() {
    let start = day(2026, 12, 1);
    let clear = Certificate {
        result: CertificateResult::Clear,
        issued: Some(day(2024, 6, 1)),
        expiry: Some(day(2026, 12, 1)),
    };
    let law = CertificateRule::default();
    assert_eq!(certificate_exclusions(Some(&clear), law, start), []);
    assert_eq!(
        certificate_exclusions(Some(&clear), law, day(2026, 12, 2)),
        [Exclusion::CertificateExpired(day(2026, 12, 1))]
    );
    assert_eq!(
        certificate_exclusions(None, law, start),
        [Exclusion::NoCertificate]
    );
    let area = ["183".to_owned(), "187".to_owned()];
    assert_eq!(outside_area(&area, "187"), None);
    assert_eq!(outside_area(&area, "329"), Some(Exclusion::OutsideArea));
    assert_eq!(lacks_capacity(180, 180), None);
    assert_eq!(
        lacks_capacity(-20, 180),
        Some(Exclusion::NoCapacity {
            free: 0,
            needed: 180
        })
    );
    let nobody = Eligibility {
        active: false,
        certificate: None,
        municipalities: &[],
    };
    assert_eq!(
        ineligibility(&nobody, "183", law, start),
        [
            Exclusion::Inactive,
            Exclusion::NoCertificate,
            Exclusion::OutsideArea
        ]
    );
    let fit = Eligibility {
        active: true,
        certificate: Some(&clear),
        municipalities: &area,
    };
    assert_eq!(ineligibility(&fit, "183", law, start), []);
}

#[test]
fn r_mp_6_the_certificate_asked_is_the_law_s_under_15_and_the_policy_s_renewal() {
    let start = day(2026, 12, 1);
    let issued_2024 = Certificate {
        result: CertificateResult::Clear,
        issued: Some(day(2024, 6, 1)),
        expiry: None,
    };
    // Renewed every 24 months: issued 1 June 2024, due by 1 June 2026, so not on 1 December.
    let every_two_years = CertificateRule {
        required: true,
        renewal_months: Some(24),
    };
    let refused = certificate_exclusions(Some(&issued_2024), every_two_years, start);
    assert_eq!(
        refused,
        [Exclusion::CertificateNotRenewed {
            issued: day(2024, 6, 1),
            renew_by: day(2026, 6, 1),
            months: 24
        }]
    );
    assert_eq!(refused[0].rule(), "R-MP-6");
    assert!(
        refused[0].explain().contains("every 24 months"),
        "the exclusion names the policy: {}",
        refused[0].explain()
    );
    // Every 36 months: still good.
    let every_three_years = CertificateRule {
        renewal_months: Some(36),
        ..every_two_years
    };
    assert_eq!(
        certificate_exclusions(Some(&issued_2024), every_three_years, start),
        []
    );
    // A child of 15 or more under a policy that keeps to the law: no certificate asked.
    let none_asked = CertificateRule {
        required: false,
        renewal_months: Some(24),
    };
    assert_eq!(certificate_exclusions(None, none_asked, start), []);
    let needs = needs();
    let mut sixteen = demand(&needs);
    sixteen.certificate_rule = none_asked;
    let mut without = staff("a");
    without.certificate = None;
    assert_eq!(order(&rank(&sixteen, &[without.clone()])), ["a"]);
    assert_eq!(
        order(&rank(&demand(&needs), &[without])),
        Vec::<&str>::new()
    );
}

#[test]
fn a_refused_assignment_names_every_rule_it_breaks_r_mp_6() {
    let refusal = cannot_be_assigned(
        "serviceUnits/u/contactPersons/a",
        &[Exclusion::NoCertificate, Exclusion::OutsideArea],
    );
    assert_eq!(refusal.reason, "CANNOT_BE_ASSIGNED");
    assert_eq!(
        refusal.message,
        "serviceUnits/u/contactPersons/a cannot be assigned: no child-protection certificate \
         on record; does not work in the child's municipality"
    );
    let rules: Vec<(&str, &str)> = refusal
        .violations
        .iter()
        .map(|v| (v.rule.as_str(), v.subject.as_str()))
        .collect();
    assert_eq!(
        rules,
        [("R-MP-6", "contact_person"), ("R-MP-3", "contact_person")]
    );
}

#[test]
fn demand_is_unmet_when_nobody_assignable_has_every_needed_competence_r_mp_5() {
    let needs: Vec<String> = vec!["language-arabic".into(), "substance-abuse".into()];
    let demand = demand(&needs);
    // b has substance abuse, c has Arabic but no capacity: nobody suitable, and Arabic is
    // what to hire for.
    let mut a = staff("a");
    a.competences.clear();
    let b = staff("b");
    let mut c = staff("c");
    c.competences = vec!["language-arabic".into(), "substance-abuse".into()];
    c.booked_minutes = 1_200;
    let ranking = rank(&demand, &[a, b, c.clone()]);
    assert_eq!(
        unmet(&demand, &ranking),
        Some(Unmet {
            missing_competences: vec!["language-arabic".into()],
            partial_candidates: 2,
        })
    );
    // Once c has room, the demand is met.
    c.booked_minutes = 0;
    assert_eq!(unmet(&demand, &rank(&demand, &[c])), None);
    // Nobody at all: every need is missing.
    assert_eq!(
        unmet(&demand, &rank(&demand, &[])).map(|u| u.missing_competences),
        Some(needs.clone())
    );
}

#[test]
fn the_same_data_gives_the_same_order_whatever_order_it_comes_in() {
    let needs = needs();
    let candidates: Vec<Candidate> = (0..50)
        .map(|i| {
            let mut c = staff(&format!("cp-{i:02}"));
            c.booked_minutes = (i % 7) * 60;
            c.hourly_cost_ore = Some(20_000 + i64::from(i % 5) * 5_000);
            c
        })
        .collect();
    let forwards = order(&rank(&demand(&needs), &candidates))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let mut reversed = candidates.clone();
    reversed.reverse();
    let backwards = order(&rank(&demand(&needs), &reversed))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    assert_eq!(forwards, backwards);
}

#[test]
fn r_mp_5_unmet_demand_in_one_pass_is_what_the_whole_ranking_says() {
    // Pools made from a fixed seed: people with some of four competences, some full, some
    // without a certificate, some elsewhere; demands needing none to three of them.
    let codes = ["a", "b", "c", "d"].map(String::from);
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        seed >> 33
    };
    for round in 0..200 {
        let pool: Vec<Candidate> = (0..(next() % 12))
            .map(|i| {
                let mut c = staff(&format!("p{i}"));
                c.competences = codes.iter().filter(|_| next() % 2 == 0).cloned().collect();
                if next() % 5 == 0 {
                    c.certificate = None;
                }
                if next() % 6 == 0 {
                    c.booked_minutes = c.weekly_capacity_minutes;
                }
                if next() % 7 == 0 {
                    c.municipalities = vec!["329".into()];
                }
                c
            })
            .collect();
        let needs: Vec<String> = codes.iter().filter(|_| next() % 3 == 0).cloned().collect();
        let d = demand(&needs);
        assert_eq!(
            unmet_among(&d, &pool),
            unmet(&d, &rank(&d, &pool)),
            "round {round}: needs {needs:?}"
        );
    }
}
