//! The referral service's grant events reach matching as separate services: GrantApproved opens
//! a matching request, GrantChanged gives it and its assignment the new hours, GrantEnded closes
//! it and ends the assignment, giving the contact person's time back.

use kontakt_harness::Start;
use kontakt_proto::common::v1::Date;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::matching::v1::{
    AssignContactPersonRequest, Assignment, AssignmentState, CertificateResult,
    ChildProtectionCertificate, ContactPerson, CreateContactPersonRequest, Employment,
    GetAssignmentRequest, GetContactPersonRequest, GetMatchingRequestRequest,
    ListMatchingRequestsRequest, MatchingRequest, MatchingRequestState,
};

use super::grants::{RINGSTED, change, end, granted, with_policy};
use super::*;

type Matching = MatchingServiceClient<AuthedChannel>;

/// The request once `ready` holds for it, within 10 s (events arrive asynchronously).
async fn eventually(
    client: &mut Matching,
    name: &str,
    ready: impl Fn(&MatchingRequest) -> bool,
) -> MatchingRequest {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = client
            .get_matching_request(GetMatchingRequestRequest { name: name.into() })
            .await;
        match got {
            Ok(response) if ready(response.get_ref()) => return response.into_inner(),
            Ok(_) => {}
            Err(status) => assert_eq!(status.code(), Code::NotFound, "{status:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not get there within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assignment_of(client: &mut Matching, name: &str) -> Assignment {
    client
        .get_assignment(GetAssignmentRequest { name: name.into() })
        .await
        .expect("assignment")
        .into_inner()
}

#[tokio::test]
async fn grant_events_open_change_and_close_a_matching_request() {
    let db = fresh_database().await.expect("database");
    let referral = start_today(&db).await;
    let matching = Start::new(Service::Matching, &db)
        .following(&[(Service::Referral, referral.addr)])
        .clock(clock_today())
        .run()
        .await
        .expect("matching");
    with_policy(&referral, RINGSTED, ringsted_policy()).await;
    let mut counsellor = as_role(&referral, Role::Counsellor, RINGSTED);
    let grant = granted(&mut counsellor, "010114-4234", "M-1", None).await;
    let mut coordinator = MatchingServiceClient::new(matching.as_role(Role::Coordinator, RINGSTED));
    let name = grant.name.replace("/grants/", "/matchingRequests/");

    let opened = eventually(&mut coordinator, &name, |_| true).await;
    assert_eq!(opened.state(), MatchingRequestState::Open);
    assert_eq!(opened.grant, grant.name);
    assert_eq!(opened.person, grant.person);
    assert_eq!(opened.minutes_per_week, 180);
    assert_eq!(opened.start_date, date(2026, 12, 1));
    let needs = opened.needs.clone().expect("needs");
    assert_eq!(
        needs.age_years, 12,
        "born 1 January 2014, starts 1 December 2026"
    );
    assert!(needs.description.contains("football"));
    let open = coordinator
        .list_matching_requests(ListMatchingRequestsRequest {
            parent: format!("municipalities/{RINGSTED}"),
            state: MatchingRequestState::Open as i32,
            ..ListMatchingRequestsRequest::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(open.matching_requests.len(), 1);

    let person = coordinator
        .create_contact_person(CreateContactPersonRequest {
            parent: "serviceUnits/ringsted".into(),
            contact_person_id: "lise".into(),
            contact_person: Some(ContactPerson {
                display_name: "Lise".into(),
                employment: Employment::Staff as i32,
                municipalities: vec![RINGSTED.into()],
                weekly_capacity_minutes: 600,
                child_protection_certificate: Some(ChildProtectionCertificate {
                    issue_date: Some(Date {
                        year: 2026,
                        month: 1,
                        day: 5,
                    }),
                    result: CertificateResult::Clear as i32,
                    expiry_date: None,
                }),
                ..ContactPerson::default()
            }),
        })
        .await
        .expect("contact person")
        .into_inner();
    let assignment = coordinator
        .assign_contact_person(AssignContactPersonRequest {
            matching_request: name.clone(),
            contact_person: person.name.clone(),
            start_date: date(2026, 12, 1),
            minutes_per_week: 0,
            request_id: "assign-lise".into(),
        })
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assignment.minutes_per_week, 180);

    counsellor
        .change_grant(change(&grant.name, "", "m-chg-1", 120))
        .await
        .expect("changed");
    let changed = eventually(&mut coordinator, &name, |r| r.minutes_per_week == 120).await;
    assert_eq!(changed.minutes_from, date(2027, 3, 1));
    assert!(changed.grant_version.ends_with("/versions/v2"));
    assert_eq!(changed.state(), MatchingRequestState::Assigned);
    let follows = assignment_of(&mut coordinator, &assignment.name).await;
    assert_eq!(
        follows.minutes_per_week, 120,
        "the assignment follows the grant"
    );

    counsellor
        .end_grant(end(&grant.name, GrantEndReason::PurposeMet))
        .await
        .expect("ended");
    let closed = eventually(&mut coordinator, &name, |r| {
        r.state() == MatchingRequestState::Closed
    })
    .await;
    assert_eq!(closed.end_date, date(2027, 2, 15));
    let ended = assignment_of(&mut coordinator, &assignment.name).await;
    assert_eq!(ended.state(), AssignmentState::Ended);
    assert_eq!(ended.period.and_then(|p| p.end), date(2027, 2, 15));
    let freed = coordinator
        .get_contact_person(GetContactPersonRequest {
            name: person.name.clone(),
        })
        .await
        .expect("person")
        .into_inner();
    assert_eq!(freed.booked_minutes_per_week, 0, "the time is given back");

    // Another municipality's coordinator sees nothing of it.
    let outsider = MatchingServiceClient::new(matching.as_role(Role::Coordinator, "183"))
        .get_matching_request(GetMatchingRequestRequest { name: name.clone() })
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    matching.stop().await.expect("stop matching");
    referral.stop().await.expect("stop referral");
}
