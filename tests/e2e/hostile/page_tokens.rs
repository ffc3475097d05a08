//! Genuine page tokens used where they do not belong.

use kontakt::Service;
use kontakt_harness::fresh_database;
use tonic::Code;

/// Genuine page tokens used where they do not belong: under another filter, on another
/// method, and by a counsellor of another municipality (on their own list and on the issuer's).
/// Each is refused, naming `page_token` or the municipality, and never lists a row.
#[tokio::test]
async fn a_real_page_token_from_another_query_or_municipality_is_refused() {
    use kontakt_harness::{fixtures, token};
    use kontakt_platform::auth::Role;
    use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
    use kontakt_proto::referral::v1::{ListGrantsRequest, ListReferralsRequest, ReferralState};
    let db = fresh_database().await.expect("database");
    let running = kontakt_harness::start(Service::Referral, &db)
        .await
        .expect("referral");
    let counsellor =
        |m: &str| ReferralServiceClient::new(running.with_token(&token(&[Role::Counsellor], &[m])));
    for (m, cpr) in [("183", "010114-4234"), ("101", "020213-4235")] {
        let mut client = counsellor(m);
        let person = fixtures::register_child(&mut client, m, cpr).await;
        for i in 0..3 {
            let (external_id, request_id) = (format!("{m}-{i}"), format!("r-{m}-{i}"));
            fixtures::draft_referral(&mut client, m, &person, &external_id, &request_id).await;
        }
    }
    let list = |parent: &str, page_token: &str| ListReferralsRequest {
        parent: parent.into(),
        page_size: 1,
        page_token: page_token.into(),
        ..ListReferralsRequest::default()
    };
    let mut ours = counsellor("183");
    let first = ours
        .list_referrals(list("municipalities/183", ""))
        .await
        .expect("first page")
        .into_inner();
    let token_183 = first.next_page_token;
    assert!(!token_183.is_empty(), "a page token to abuse");
    let second = ours
        .list_referrals(list("municipalities/183", &token_183))
        .await
        .expect("the token works where it was issued")
        .into_inner();
    assert_ne!(second.referrals, first.referrals, "the next page");

    let refused = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            kontakt_harness::bad_request_fields(&status),
            [field],
            "{status:?}"
        );
    };
    // Another filter on the same list.
    let drafts = ListReferralsRequest {
        state: ReferralState::Draft.into(),
        ..list("municipalities/183", &token_183)
    };
    refused(
        ours.list_referrals(drafts)
            .await
            .expect_err("another filter"),
        "page_token",
    );
    let someone = ListReferralsRequest {
        counsellor: "someone-else".into(),
        ..list("municipalities/183", &token_183)
    };
    refused(
        ours.list_referrals(someone)
            .await
            .expect_err("another filter"),
        "page_token",
    );
    // Another list.
    let grants = ListGrantsRequest {
        parent: "municipalities/183".into(),
        page_token: token_183.clone(),
        ..ListGrantsRequest::default()
    };
    refused(
        ours.list_grants(grants).await.expect_err("another list"),
        "page_token",
    );
    // Another municipality: on its own list the token is foreign; on 183's list, the caller is.
    let mut theirs = counsellor("101");
    refused(
        theirs
            .list_referrals(list("municipalities/101", &token_183))
            .await
            .expect_err("another municipality's token"),
        "page_token",
    );
    let status = theirs
        .list_referrals(list("municipalities/183", &token_183))
        .await
        .expect_err("not their municipality");
    assert!(
        matches!(status.code(), Code::PermissionDenied | Code::NotFound),
        "{status:?}"
    );
    running.stop().await.expect("stop");
}
