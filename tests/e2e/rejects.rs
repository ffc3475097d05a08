//! Nothing silently dropped (issue 27): an event a consumer refused is kept with its envelope,
//! listed by `ConsumerRejectService`, and applied again once its cause is mended — exactly once.
//!
//! The follow-up service is the case in point: an earlier release refused a `GrantApproved`
//! whose start was before Barnets Lov (no deadline table row in force then), so that grant got
//! no follow-up schedule; this release follows it up by Serviceloven §70 stk.2. Here two rejects
//! stand in its `consumer_rejects` as the earlier release recorded them: that one, which the
//! handler now accepts (its cause mended), and one it still refuses (not a grant's name).

use kontakt::Service;
use kontakt_harness::messages::{date, envelope, grant_approved};
use kontakt_harness::{StartTogether, TestService, fresh_database, token};
use kontakt_platform::auth::Role;
use kontakt_proto::events::v1::consumer_reject_service_client::ConsumerRejectServiceClient;
use kontakt_proto::events::v1::{
    ConsumerReject, Envelope, ListConsumerRejectsRequest, ReapplyConsumerRejectRequest,
};
use kontakt_proto::referral::v1::GrantApproved;
use prost::Message as _;
use tonic::Code;

const ISHOJ: &str = "183";
const RINGSTED: &str = "329";
const CONSUMER: &str = "grants-from-referral";

fn rejects(
    service: &TestService,
    role: Role,
    municipality: &str,
) -> ConsumerRejectServiceClient<kontakt_harness::AuthedChannel> {
    ConsumerRejectServiceClient::new(service.with_token(&token(&[role], &[municipality])))
}

/// Records `event` as refused by the follow-up service's grant consumer, as the consumer does.
async fn rejected(
    db: &kontakt_harness::TestDatabase,
    sequence: i64,
    event: &Envelope,
    reason: &str,
) {
    let mut conn = db.connect().await.expect("connect");
    sqlx::query(
        "INSERT INTO followup.consumer_rejects
                (consumer, sequence, event_id, type, subject, reason, envelope, municipality)
         VALUES ($1, $2, $3::uuid, $4, $5, $6, $7, $8)",
    )
    .bind(CONSUMER)
    .bind(sequence)
    .bind(&event.event_id)
    .bind(&event.r#type)
    .bind(&event.subject)
    .bind(reason)
    .bind(event.encode_to_vec())
    .bind(&event.municipality)
    .execute(&mut conn)
    .await
    .expect("reject recorded");
}

fn approved(grant: &str, start: (i32, i32, i32)) -> Envelope {
    let approved = GrantApproved {
        start_date: date(start.0, start.1, start.2),
        follow_up_interval_months: 6,
        counsellor: "counsellor-1".into(),
        ..grant_approved(ISHOJ, grant, 120)
    };
    Envelope {
        sequence: 0,
        municipality: ISHOJ.into(),
        ..envelope(&approved, &approved.grant)
    }
}

async fn open_rejects(
    client: &mut ConsumerRejectServiceClient<kontakt_harness::AuthedChannel>,
) -> Vec<ConsumerReject> {
    client
        .list_consumer_rejects(ListConsumerRejectsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .rejects
}

#[tokio::test]
async fn a_rejected_event_is_listed_and_applied_again_exactly_once_when_its_cause_is_mended() {
    let db = fresh_database().await.expect("database");
    let running = StartTogether::new(&Service::ALL, &db)
        .run()
        .await
        .expect("services");
    let followup = running
        .iter()
        .find(|s| s.service == Service::Followup)
        .expect("followup");
    let mended = approved("mended", (2023, 6, 1));
    let orphan = GrantApproved {
        grant: "grants/orphan".into(),
        ..grant_approved(ISHOJ, "orphan", 120)
    };
    let orphan = Envelope {
        sequence: 0,
        municipality: ISHOJ.into(),
        ..envelope(&orphan, &orphan.grant)
    };
    rejected(&db, 7, &mended, "no BL §95 deadline in force on 2023-06-01").await;
    rejected(&db, 9, &orphan, "not a grant name: \"grants/orphan\"").await;

    // Listed, oldest first, to an administrator of the municipality; not to another one's.
    let mut admin = rejects(followup, Role::Admin, ISHOJ);
    let listed = open_rejects(&mut admin).await;
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "consumers/grants-from-referral/rejects/7",
            "consumers/grants-from-referral/rejects/9"
        ]
    );
    assert_eq!(listed[0].r#type, "kontakt.referral.v1.GrantApproved");
    assert_eq!(listed[0].service, "followup");
    assert_eq!(listed[0].municipality, ISHOJ);
    assert!(listed[0].reapply_time.is_none());
    let mut other = rejects(followup, Role::Admin, RINGSTED);
    assert!(open_rejects(&mut other).await.is_empty());
    let hidden = other
        .reapply_consumer_reject(ReapplyConsumerRejectRequest {
            name: listed[0].name.clone(),
        })
        .await
        .expect_err("another municipality's");
    assert_eq!(hidden.code(), Code::NotFound);
    // Only administrators.
    let denied = rejects(followup, Role::Coordinator, ISHOJ)
        .list_consumer_rejects(ListConsumerRejectsRequest::default())
        .await
        .expect_err("a coordinator");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The mended one applies: the grant gets its schedule and first follow-up.
    let applied = admin
        .reapply_consumer_reject(ReapplyConsumerRejectRequest {
            name: listed[0].name.clone(),
        })
        .await
        .expect("applied")
        .into_inner();
    assert!(applied.reapply_time.is_some());
    assert_eq!(applied.attempts, 1);
    let count = |grant: &'static str| {
        let db = &db;
        async move {
            let mut conn = db.connect().await.expect("connect");
            let (n,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM followup.follow_ups WHERE grant_id = $1")
                    .bind(grant)
                    .fetch_one(&mut conn)
                    .await
                    .expect("count");
            n
        }
    };
    assert_eq!(count("mended").await, 1);
    // Asking again (a retry, a second operator) applies nothing more: the same answer.
    let again = admin
        .reapply_consumer_reject(ReapplyConsumerRejectRequest {
            name: listed[0].name.clone(),
        })
        .await
        .expect("answered again")
        .into_inner();
    assert_eq!(again, applied);
    assert_eq!(count("mended").await, 1);

    // The one still refused stays open, its attempt counted and the reason given.
    let refused = admin
        .reapply_consumer_reject(ReapplyConsumerRejectRequest {
            name: listed[1].name.clone(),
        })
        .await
        .expect_err("still refused");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("grants/orphan"),
        "{}",
        refused.message()
    );
    let still = open_rejects(&mut admin).await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0].name, listed[1].name);
    assert_eq!(still[0].attempts, 1);
    assert_eq!(count("orphan").await, 0);
    let all = admin
        .list_consumer_rejects(ListConsumerRejectsRequest {
            include_reapplied: true,
            ..ListConsumerRejectsRequest::default()
        })
        .await
        .expect("all")
        .into_inner()
        .rejects;
    assert_eq!(all.len(), 2);

    // Unknown rejects and names of another shape.
    for (name, code) in [
        ("consumers/grants-from-referral/rejects/8", Code::NotFound),
        ("consumers/no-such-consumer/rejects/7", Code::NotFound),
        ("grants-from-referral/7", Code::InvalidArgument),
    ] {
        let status = admin
            .reapply_consumer_reject(ReapplyConsumerRejectRequest { name: name.into() })
            .await
            .expect_err(name);
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
    println!(
        "rejects: listed=2 reapplied=1 applied_twice=0 still_rejected=1 other_municipality_hidden=1"
    );
    for service in running {
        service.stop().await.expect("stop");
    }
}
