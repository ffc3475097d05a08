//! Follow-up outcomes acting on the grant (R-FU-2), with referral and follow-up as separate
//! services following each other's feeds: a grant approved in referral gets a schedule in
//! follow-up; an ADJUST the policy does not let the recorded level decide is refused with the
//! rule named and changes nothing; an allowed ADJUST makes a new grant version from the next
//! day; END ends the grant (purpose met), which ends the schedule. Roles are checked.

use kontakt_harness::{StartTogether, eventually};
use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::followup::v1::{
    CompleteFollowUpRequest, FollowUp, FollowUpOutcome, FollowUpState, GetFollowUpRequest,
    GetScheduleRequest, Participant, ParticipantRole, Schedule, ScheduleState,
};

use super::grants::{RINGSTED, granted, with_policy};
use super::*;

type FollowUps = FollowUpServiceClient<AuthedChannel>;

async fn schedule(client: &mut FollowUps, grant: &str) -> Option<Schedule> {
    client
        .get_schedule(GetScheduleRequest {
            name: format!("{grant}/followUpSchedule"),
        })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

async fn open_follow_up(client: &mut FollowUps, grant: &str) -> FollowUp {
    fixtures::follow_ups(client, grant)
        .await
        .into_iter()
        .find(|f| f.completed_date.is_none() && f.state() != FollowUpState::Cancelled)
        .expect("an open follow-up")
}

fn held(name: &str, outcome: FollowUpOutcome, minutes: i32) -> CompleteFollowUpRequest {
    CompleteFollowUpRequest {
        follow_up: Some(FollowUp {
            name: name.into(),
            participants: vec![Participant {
                role: ParticipantRole::Counsellor as i32,
                principal: "test-user".into(),
                display_name: "Rådgiver".into(),
            }],
            outcome: outcome as i32,
            adjusted_minutes_per_week: minutes,
            completed_date: date(2027, 2, 20),
            summary: "Går i skole igen.".into(),
            approval_level: ApprovalLevel::OwnAuthority as i32,
            ..FollowUp::default()
        }),
    }
}

/// The payloads of the `kind` events in the outbox, oldest first.
async fn outbox(db: &TestDatabase, kind: &str) -> Vec<Vec<u8>> {
    let events = kontakt_harness::events::outbox(db, Service::Referral, kind).await;
    events.into_iter().map(|(_, payload)| payload).collect()
}

#[tokio::test]
async fn adjust_and_end_outcomes_change_and_end_the_grant_in_referral() {
    let db = fresh_database().await.expect("database");
    let clock = clock_today();
    let services = StartTogether::new(&[Service::Referral, Service::Followup], &db)
        .clock(clock.clone())
        .run()
        .await
        .expect("services");
    let (referral, followup) = (&services[0], &services[1]);
    with_policy(referral, RINGSTED, ringsted_policy()).await;
    let mut counsellor = as_role(referral, Role::Counsellor, RINGSTED);
    let grant = granted(&mut counsellor, "010114-4234", "FU-1", None).await;
    let mut follow_ups = FollowUpServiceClient::new(followup.as_role(Role::Counsellor, RINGSTED));

    // Approved 1 December: BL §95's 3 months beat Ringsted's 6.
    let made = eventually("the schedule", || {
        let mut c = follow_ups.clone();
        let g = grant.name.clone();
        async move { schedule(&mut c, &g).await }
    })
    .await;
    assert_eq!(made.first_due_date, date(2027, 3, 1));
    assert_eq!(made.interval_months, 6);

    clock.set("2027-02-20T10:00:00Z".parse().expect("time"));
    // Roles: a coordinator reads but does not record; another municipality's counsellor
    // cannot see it.
    let first = open_follow_up(&mut follow_ups, &grant.name).await;
    let mut coordinator = FollowUpServiceClient::new(followup.as_role(Role::Coordinator, RINGSTED));
    let denied = coordinator
        .complete_follow_up(held(&first.name, FollowUpOutcome::Continue, 0))
        .await
        .expect_err("coordinator");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut stranger = FollowUpServiceClient::new(followup.as_role(Role::Counsellor, "183"));
    let hidden = stranger
        .get_follow_up(GetFollowUpRequest {
            name: first.name.clone(),
        })
        .await
        .expect_err("another municipality");
    assert_eq!(hidden.code(), Code::NotFound);

    // 5 hours at the counsellor's own authority: Ringsted's policy says no (R-RV-12). The
    // follow-up is recorded; the grant does not change and the refusal names the rule.
    let refused = follow_ups
        .complete_follow_up(held(&first.name, FollowUpOutcome::Adjust, 300))
        .await
        .expect("recorded")
        .into_inner();
    assert_eq!(refused.state(), FollowUpState::Completed);
    assert_eq!(refused.next_due_date, date(2027, 8, 20));
    let refusals = eventually("the refusal", || {
        let db = &db;
        async move {
            let found = outbox(db, "FollowUpOutcomeRefused").await;
            (!found.is_empty()).then_some(found)
        }
    })
    .await;
    let refusal: FollowUpOutcomeRefused =
        prost::Message::decode(refusals[0].as_slice()).expect("refusal");
    assert_eq!(refusal.follow_up, first.name);
    assert!(
        refusal.violations.iter().any(|v| v.starts_with("R-RV-12")),
        "{:?}",
        refusal.violations
    );

    // A retry of the same record is answered as it is; a different one is refused.
    let again = follow_ups
        .complete_follow_up(held(&first.name, FollowUpOutcome::Adjust, 300))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again.etag, refused.etag);
    let other = follow_ups
        .complete_follow_up(held(&first.name, FollowUpOutcome::Continue, 0))
        .await
        .expect_err("recorded already");
    assert_eq!(other.code(), Code::FailedPrecondition);

    // 2 hours: allowed. The new version starts the day after the follow-up and names it.
    let second = open_follow_up(&mut follow_ups, &grant.name).await;
    assert_eq!(second.due_date, date(2027, 8, 20));
    follow_ups
        .complete_follow_up(held(&second.name, FollowUpOutcome::Adjust, 120))
        .await
        .expect("adjust");
    let versions = eventually("the new version", || {
        let mut c = counsellor.clone();
        let g = grant.name.clone();
        async move {
            let v = fixtures::grant_versions(&mut c, &g).await;
            (v.len() == 2).then_some(v)
        }
    })
    .await;
    assert_eq!(versions[1].minutes_per_week, 120);
    assert_eq!(versions[1].follow_up, second.name);
    assert_eq!(
        versions[1].effective.as_ref().and_then(|e| e.start),
        date(2027, 2, 21)
    );
    assert_eq!(versions[1].approval_level(), ApprovalLevel::OwnAuthority);
    // The change came from a follow-up, which already set the next date: it stays.
    let third = open_follow_up(&mut follow_ups, &grant.name).await;
    assert_eq!(third.due_date, date(2027, 8, 20));

    // END: the purpose is met; the measure's last day is the one the follow-up set.
    let mut end = held(&third.name, FollowUpOutcome::End, 0);
    if let Some(f) = end.follow_up.as_mut() {
        f.outcome_effective_date = date(2027, 2, 28);
    }
    follow_ups.complete_follow_up(end).await.expect("end");
    let ended = eventually("the end", || {
        let mut c = counsellor.clone();
        let g = grant.name.clone();
        async move {
            let grant = c
                .get_grant(GetGrantRequest { name: g })
                .await
                .expect("grant")
                .into_inner();
            (grant.state() == GrantState::Ended).then_some(grant)
        }
    })
    .await;
    assert_eq!(ended.end_date, date(2027, 2, 28));
    assert_eq!(ended.end_reason(), GrantEndReason::PurposeMet);
    let closed = eventually("the schedule to end", || {
        let mut c = follow_ups.clone();
        let g = grant.name.clone();
        async move {
            schedule(&mut c, &g)
                .await
                .filter(|s| s.state() == ScheduleState::Ended)
        }
    })
    .await;
    assert!(closed.next_follow_up.is_empty());
    assert_eq!(outbox(&db, "GrantEnded").await.len(), 1);
}
