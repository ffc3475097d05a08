//! A contact person's own view: their assignments and nothing else.

use kontakt_harness::claims_token;
use kontakt_platform::auth::Claims;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::matching::v1::*;
use tonic::Code;

use crate::*;

#[tokio::test]
async fn a_contact_person_sees_their_own_assignments_and_nothing_else() {
    let (db, service, mut ishoj) = started().await;
    let anna = create_person(&mut ishoj, "anna", staff("Anna", &[], 600)).await;
    let bent = create_person(&mut ishoj, "bent", staff("Bent", &[], 600)).await;
    open_request(&db, ISHOJ, "g-a", 120, &[]).await;
    open_request(&db, ISHOJ, "g-b", 120, &[]).await;
    let own = ishoj
        .assign_contact_person(assign(&request_name(ISHOJ, "g-a"), &anna.name, "a"))
        .await
        .expect("a")
        .into_inner();
    let theirs = ishoj
        .assign_contact_person(assign(&request_name(ISHOJ, "g-b"), &bent.name, "b"))
        .await
        .expect("b")
        .into_inner();
    let mut as_anna = MatchingServiceClient::new(service.with_token(&claims_token(Claims {
        sub: "anna@ishoej.dk".into(),
        kontakt_roles: vec!["contact_person".into()],
        kontakt_municipalities: vec![ISHOJ.into()],
        kontakt_contact_person: Some(anna.name.clone()),
        ..Claims::default()
    })));
    // Asking for Bent's list still gives Anna's own.
    let listed = as_anna
        .list_assignments(ListAssignmentsRequest {
            parent: format!("municipalities/{ISHOJ}"),
            contact_person: bent.name.clone(),
            ..ListAssignmentsRequest::default()
        })
        .await
        .expect("list")
        .into_inner()
        .assignments;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [own.name.as_str()]
    );
    as_anna
        .get_assignment(assignment_named(&own.name))
        .await
        .expect("own");
    let hidden = as_anna
        .get_assignment(assignment_named(&theirs.name))
        .await
        .expect_err("Bent's");
    assert_eq!(hidden.code(), Code::NotFound);
    let colleague = as_anna
        .get_contact_person(person_named(&bent.name))
        .await
        .expect_err("Bent's record");
    assert_eq!(colleague.code(), Code::NotFound);
    for denied in [
        as_anna
            .list_matching_requests(ListMatchingRequestsRequest {
                parent: format!("municipalities/{ISHOJ}"),
                ..ListMatchingRequestsRequest::default()
            })
            .await
            .map(|_| ()),
        as_anna
            .propose_candidates(ProposeCandidatesRequest {
                matching_request: request_name(ISHOJ, "g-a"),
                ..ProposeCandidatesRequest::default()
            })
            .await
            .map(|_| ()),
    ] {
        assert_eq!(
            denied.expect_err("not theirs").code(),
            Code::PermissionDenied
        );
    }
    service.stop().await.expect("stop");
}
