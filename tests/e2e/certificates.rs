//! R-MP-6 through the API with all four services (issue 28 item 6): the law asks a
//! child-protection certificate of whoever is in contact with a child under 15; how often it is
//! renewed, and whether older children need one too, is the municipality's policy, data with
//! an effective date. The grant carries what its policy asked, and the ranking's exclusion
//! names the rule that excluded a person.

use kontakt::Service;
use kontakt_harness::messages::date;
use kontakt_harness::{channel_to, clock_at, eventually, fresh_database, with_demo_data};
use kontakt_platform::auth::Role;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::*;

const SOFIE: &str = "serviceUnits/ringsted/contactPersons/sofie-lund";
const PETER: &str = "serviceUnits/ringsted/contactPersons/peter-dahl";

/// A running Ringsted arrangement for the person with `cpr`, brought over from the old system
/// (the quickest way to a grant with its GrantApproved).
fn running_arrangement(source_id: &str, cpr: &str) -> ImportArrangementRequest {
    ImportArrangementRequest {
        parent: "municipalities/329".into(),
        arrangement: Some(ImportedArrangement {
            source_system: "sbsys".into(),
            source_id: source_id.into(),
            cpr: cpr.into(),
            display_name: "Barn".into(),
            case_external_id: source_id.into(),
            kle_number: "27.27.24".into(),
            counsellor: "counsellor-329".into(),
            recipient: Recipient::Child as i32,
            legal_basis: "legalBases/bl-32-1-3".into(),
            purpose: "Støtte".into(),
            decision_date: date(2026, 11, 20),
            decider: "Birgit".into(),
            approval_level: ApprovalLevel::OwnAuthority as i32,
            start_date: date(2026, 12, 1),
            expected_end_date: date(2027, 11, 30),
            terms: vec![ImportedTerms {
                effective_from: date(2026, 12, 1),
                minutes_per_week: 120,
                justification: String::new(),
            }],
            ..ImportedArrangement::default()
        }),
        validate_only: false,
    }
}

/// Who can be assigned to the grant's request, and who not with which rules and reasons.
async fn ranked(
    coordinator: &mut MatchingServiceClient<kontakt_harness::AuthedChannel>,
    grant: &str,
) -> (Vec<String>, Vec<(String, Vec<(String, String)>)>) {
    let name = grant.replacen("/grants/", "/matchingRequests/", 1);
    let answer = eventually("the grant's matching request", || {
        let mut client = coordinator.clone();
        let name = name.clone();
        async move {
            client
                .propose_candidates(matching::ProposeCandidatesRequest {
                    matching_request: name,
                    max_candidates: 10,
                    include_excluded: true,
                })
                .await
                .ok()
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    (
        answer
            .candidates
            .into_iter()
            .map(|c| c.contact_person)
            .collect(),
        answer
            .excluded
            .into_iter()
            .map(|e| {
                (
                    e.contact_person,
                    e.reasons
                        .into_iter()
                        .map(|r| (r.rule, r.explanation))
                        .collect(),
                )
            })
            .collect(),
    )
}

#[tokio::test]
async fn r_mp_6_the_law_asks_a_certificate_under_15_and_the_policy_how_often_it_is_renewed() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 7, 10);
    let running = with_demo_data(&db, clock.clone()).await;
    let mut admin = ReferralServiceClient::new(channel_to(
        &running,
        Service::Referral,
        &[Role::Admin],
        "329",
    ));
    // Ringsted's standard from today: certificates renewed every 12 months, none asked beyond
    // the law's under 15. A new version of the policy, the old one kept.
    let mut policy = admin
        .list_policies(ListPoliciesRequest {
            parent: "municipalities/329".into(),
            ..ListPoliciesRequest::default()
        })
        .await
        .expect("policies")
        .into_inner()
        .policies
        .pop()
        .expect("the demo policy");
    policy.effective_from = date(2026, 12, 7);
    policy.certificate_renewal_months = 12;
    policy.certificate_for_all_ages = false;
    admin
        .create_policy(CreatePolicyRequest {
            parent: "municipalities/329".into(),
            policy: Some(policy.clone()),
        })
        .await
        .expect("the new version");
    let mut coordinator = MatchingServiceClient::new(channel_to(
        &running,
        Service::Matching,
        &[Role::Coordinator],
        "329",
    ));

    // A child of 12 (born 2014): a certificate is asked, and Sofie's of 10 January 2025 was to
    // be renewed by 10 January 2026; Peter has none.
    let young = admin
        .import_arrangement(running_arrangement("C-12", "010414-4234"))
        .await
        .expect("import")
        .into_inner();
    let (can, cannot) = ranked(&mut coordinator, &young.grant).await;
    assert!(!can.iter().any(|c| c == SOFIE || c == PETER), "{can:?}");
    let why = |who: &str| {
        cannot
            .iter()
            .find(|(c, _)| c == who)
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    };
    let sofie = why(SOFIE);
    assert_eq!(sofie.len(), 1, "{sofie:?}");
    assert_eq!(sofie[0].0, "R-MP-6");
    assert!(
        sofie[0].1.contains("2026-01-10") && sofie[0].1.contains("every 12 months"),
        "the exclusion names the policy's renewal: {sofie:?}"
    );
    assert_eq!(why(PETER)[0].0, "R-MP-6");
    // Assigning her anyway is refused for the same reason.
    let refused = coordinator
        .assign_contact_person(matching::AssignContactPersonRequest {
            matching_request: young.grant.replacen("/grants/", "/matchingRequests/", 1),
            contact_person: SOFIE.into(),
            start_date: date(2026, 12, 7),
            minutes_per_week: 0,
            request_id: "a-1".into(),
        })
        .await
        .expect_err("not renewed");
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(refused.message().contains("renewed"), "{refused:?}");

    // A young person of 16 (born 2010): the law asks none and this policy no more, so neither
    // Sofie's renewal nor Peter's missing certificate stands in the way.
    let older = admin
        .import_arrangement(running_arrangement("C-16", "020310-4235"))
        .await
        .expect("import")
        .into_inner();
    let (can, cannot) = ranked(&mut coordinator, &older.grant).await;
    assert!(can.iter().any(|c| c == SOFIE), "{can:?} / {cannot:?}");
    assert!(can.iter().any(|c| c == PETER), "{can:?} / {cannot:?}");

    // The policy may ask one for every age: from tomorrow's version, a 16-year-old's grant
    // asks a certificate again, and both are excluded under the rule.
    clock.set("2026-12-08T08:00:00Z".parse().expect("timestamp"));
    policy.effective_from = date(2026, 12, 8);
    policy.certificate_for_all_ages = true;
    admin
        .create_policy(CreatePolicyRequest {
            parent: "municipalities/329".into(),
            policy: Some(policy),
        })
        .await
        .expect("tomorrow's version");
    let strict = admin
        .import_arrangement(running_arrangement("C-16b", "150310-4821"))
        .await
        .expect("import")
        .into_inner();
    let (can, cannot) = ranked(&mut coordinator, &strict.grant).await;
    assert!(!can.iter().any(|c| c == SOFIE || c == PETER), "{can:?}");
    for who in [SOFIE, PETER] {
        let reasons = &cannot.iter().find(|(c, _)| c == who).expect(who).1;
        assert_eq!(reasons[0].0, "R-MP-6", "{who}: {reasons:?}");
    }
}
