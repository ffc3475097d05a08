//! Proposals ranked and explained, with who is excluded and why.

use kontakt_harness::messages::date;
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1::*;

use crate::*;

#[tokio::test]
async fn proposals_are_ranked_explained_and_say_who_is_excluded_and_why() {
    let (db, service, mut ishoj) = started().await;
    open_request(&db, ISHOJ, "g-1", 180, &["substance-abuse"]).await;

    create_person(
        &mut ishoj,
        "anna",
        staff("Anna", &["substance-abuse"], 1_200),
    )
    .await;
    create_person(&mut ishoj, "bent", staff("Bent", &[], 1_200)).await;
    let mut hourly = staff("Cille", &["substance-abuse"], 600);
    hourly.employment = Employment::Hourly as i32;
    hourly.rates[0].hourly_price = Some(Money { ore: 20_000 });
    create_person(&mut ishoj, "cille", hourly).await;
    let mut no_certificate = staff("Dorte", &["substance-abuse"], 1_200);
    no_certificate.child_protection_certificate = None;
    create_person(&mut ishoj, "dorte", no_certificate).await;
    let mut expired = staff("Erik", &["substance-abuse"], 1_200);
    expired.child_protection_certificate = Some(ChildProtectionCertificate {
        issue_date: date(2023, 1, 1),
        result: CertificateResult::Clear as i32,
        expiry_date: date(2026, 11, 30),
    });
    create_person(&mut ishoj, "erik", expired).await;
    let mut busy = staff("Frida", &["substance-abuse"], 600);
    busy.other_duties = vec![OtherDuty {
        kind: OtherDutyKind::ParentSupport as i32,
        minutes_per_week: 480,
        description: String::new(),
    }];
    create_person(&mut ishoj, "frida", busy).await;

    let request = request_name(ISHOJ, "g-1");
    let proposal = ishoj
        .propose_candidates(propose(&request, 0, true))
        .await
        .expect("proposal")
        .into_inner();
    let order: Vec<&str> = proposal
        .candidates
        .iter()
        .map(|c| c.display_name.as_str())
        .collect();
    // Anna (staff, competence) before Cille (hourly hire, competence) before Bent (no
    // competence): R-MP-3 needs first, then own staff before hourly hires (R-MP-1).
    assert_eq!(order, ["Anna", "Cille", "Bent"]);
    let anna = &proposal.candidates[0];
    assert_eq!(
        anna.score,
        anna.factors.iter().map(|f| f.points).sum::<i32>()
    );
    for factor in ["competences", "own people", "free capacity", "cost"] {
        let f = anna
            .factors
            .iter()
            .find(|f| f.factor == factor)
            .unwrap_or_else(|| panic!("{factor} explained"));
        assert!(!f.explanation.is_empty());
    }
    let cille_cost = proposal.candidates[1]
        .factors
        .iter()
        .find(|f| f.factor == "cost")
        .expect("cost");
    assert!(
        cille_cost.explanation.contains("225.00"),
        "wage DKK 200 + 12.5 % holiday pay: {}",
        cille_cost.explanation
    );
    assert_eq!(
        proposal.candidates[2].missing_competences,
        ["competences/substance-abuse"]
    );
    let excluded: Vec<(&str, Vec<&str>)> = proposal
        .excluded
        .iter()
        .map(|e| {
            (
                e.display_name.as_str(),
                e.reasons.iter().map(|r| r.rule.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        excluded,
        [
            ("Dorte", vec!["R-MP-6"]),
            ("Erik", vec!["R-MP-6"]),
            ("Frida", vec!["R-MP-4"]),
        ]
    );
    assert!(!proposal.unmet);
    // The same data gives the same answer; without include_excluded nobody excluded is listed.
    let again = ishoj
        .propose_candidates(propose(&request, 2, false))
        .await
        .expect("again")
        .into_inner();
    assert_eq!(again.candidates.len(), 2);
    assert_eq!(again.candidates[0], proposal.candidates[0]);
    assert!(again.excluded.is_empty());
    let stored = ishoj
        .get_matching_request(GetMatchingRequestRequest {
            name: request.clone(),
        })
        .await
        .expect("request")
        .into_inner();
    assert_eq!(stored.state(), MatchingRequestState::Proposed);
    assert_eq!(
        stored.proposed_contact_person,
        format!("{UNIT}/contactPersons/anna")
    );

    // Continuity: once Anna has worked with the child, a later request for the same child
    // weighs it.
    let assigned = ishoj
        .assign_contact_person(assign(
            &request,
            &format!("{UNIT}/contactPersons/anna"),
            "a-1",
        ))
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assigned.minutes_per_week, 180);
    ishoj
        .end_assignment(EndAssignmentRequest {
            name: assigned.name.clone(),
            end_date: date(2027, 1, 31),
            grant_continues: true,
            note: "Anna changes team".into(),
            etag: String::new(),
        })
        .await
        .expect("ended");
    let reopened = ishoj
        .propose_candidates(propose(&request, 0, false))
        .await
        .expect("proposal")
        .into_inner();
    assert!(
        reopened.candidates[0]
            .factors
            .iter()
            .any(|f| f.factor == "continuity" && f.points > 0),
        "{:?}",
        reopened.candidates[0]
    );
    service.stop().await.expect("stop");
}
