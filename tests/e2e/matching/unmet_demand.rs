//! Unmet demand (R-MP-5): requests nobody can take, their age and what is missing.

use kontakt::Service;

use crate::*;

#[tokio::test]
async fn unmet_demand_lists_requests_nobody_can_take_with_their_age_and_what_is_missing() {
    let (db, service, mut ishoj) = started().await;
    create_person(&mut ishoj, "anna", staff("Anna", &["substance-abuse"], 600)).await;
    open_request(
        &db,
        ISHOJ,
        "g-somali",
        180,
        &["language-somali", "substance-abuse"],
    )
    .await;
    open_request(&db, ISHOJ, "g-met", 180, &["substance-abuse"]).await;
    let request = request_name(ISHOJ, "g-somali");
    for _ in 0..2 {
        let proposal = ishoj
            .propose_candidates(propose(&request, 0, false))
            .await
            .expect("proposal")
            .into_inner();
        assert!(proposal.unmet);
        assert_eq!(
            proposal.missing_competences,
            ["competences/language-somali"]
        );
    }
    let unmet = unmet_demand(&mut ishoj).await;
    assert_eq!(unmet.len(), 1, "{unmet:?}");
    assert_eq!(unmet[0].matching_request, request);
    assert_eq!(
        unmet[0].missing_competences,
        ["competences/language-somali"]
    );
    assert_eq!(unmet[0].partial_candidates, 1);
    assert!(unmet[0].open_time.is_some());
    // DemandUnmet was published once, not once per proposal.
    let published = kontakt_harness::events::outbox(&db, Service::Matching, "DemandUnmet").await;
    assert_eq!(published.len(), 1);
    // Once someone with Somali is hired, the demand is met.
    create_person(
        &mut ishoj,
        "hodan",
        staff("Hodan", &["language-somali", "substance-abuse"], 600),
    )
    .await;
    let unmet = unmet_demand(&mut ishoj).await;
    assert!(unmet.is_empty(), "{unmet:?}");
    service.stop().await.expect("stop");
}
