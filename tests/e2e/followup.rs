//! Follow-up scheduling over gRPC on a real PostgreSQL: schedules made from the referral
//! service's grant events (applied with the service's own handler, as the consumer applies
//! them), due dates under Ringsted's and Ishøj's policies, due and overdue notices published
//! exactly once by two schedulers at once on a clock the test moves, and access per role.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kontakt::Service;
use kontakt_harness::{
    AuthedChannel, TestDatabase, TestService, fresh_database, start_with, test_db_settings,
    test_server_settings, token,
};
use kontakt_platform::auth::Role;
use kontakt_platform::clock::ManualClock;
use kontakt_platform::schedule::run_once;
use kontakt_proto::common::v1::Date;
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::followup::v1::*;
use kontakt_proto::referral::v1::{GrantApproved, GrantChanged, GrantEnded};
use tonic::Code;

type FollowUps = FollowUpServiceClient<AuthedChannel>;

const ISHOJ: &str = "183";
const RINGSTED: &str = "329";

fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

fn at(year: i32, month: u32, day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 10, 0, 0).unwrap()
}

async fn start(db: &TestDatabase, clock: Arc<ManualClock>) -> TestService {
    start_with(
        Service::Followup,
        db.options.clone(),
        test_server_settings(),
        clock,
    )
    .await
    .expect("followup")
}

fn envelope<M: prost::Name>(message: &M, subject: &str) -> Envelope {
    Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: M::full_name(),
        subject: subject.into(),
        payload: Some(prost_types::Any::from_msg(message).expect("any")),
        ..Envelope::default()
    }
}

/// Applies `events` in one transaction, as the consumer does.
async fn apply(db: &TestDatabase, events: &[Envelope]) {
    let pool = kontakt_platform::db::pool(db.options.clone(), "followup", &test_db_settings());
    let handler = kontakt_followup::grant_events();
    let mut tx = pool.begin().await.expect("tx");
    for event in events {
        handler.handle(&mut tx, event).await.expect("applied");
    }
    tx.commit().await.expect("commit");
    pool.close().await;
}

fn approved(m: &str, grant: &str, start: Option<Date>, interval: i32) -> Envelope {
    let name = format!("municipalities/{m}/grants/{grant}");
    envelope(
        &GrantApproved {
            grant: name.clone(),
            version: format!("{name}/versions/v1"),
            person: format!("municipalities/{m}/persons/child-{grant}"),
            municipality: m.into(),
            minutes_per_week: 180,
            start_date: start,
            expected_end_date: date(2027, 11, 30),
            counsellor: format!("counsellor-{m}"),
            follow_up_interval_months: interval,
            ..GrantApproved::default()
        },
        &name,
    )
}

fn client(service: &TestService, role: Role, m: &str) -> FollowUps {
    FollowUpServiceClient::new(service.with_token(&token(&[role], &[m])))
}

async fn outbox(db: &TestDatabase, kind: &str) -> Vec<String> {
    let mut conn = db.connect().await.expect("connect");
    sqlx::query_scalar("SELECT subject FROM followup.outbox WHERE type = $1 ORDER BY subject")
        .bind(format!("kontakt.followup.v1.{kind}"))
        .fetch_all(&mut conn)
        .await
        .expect("outbox")
}

#[tokio::test]
async fn approved_grants_get_schedules_and_due_and_overdue_notices_go_out_once() {
    let db = fresh_database().await.expect("database");
    let clock = Arc::new(ManualClock::new(at(2026, 12, 1)));
    let service = start(&db, clock.clone()).await;
    // Ringsted: started on 30 November, every 6 months by policy → BL §95's 3 months win, and
    // 30 November + 3 months is 28 February. Ishøj: no policy interval → 1 March.
    apply(
        &db,
        &[
            approved(RINGSTED, "g-r", date(2026, 11, 30), 6),
            approved(ISHOJ, "g-i", date(2026, 12, 1), 0),
        ],
    )
    .await;
    // A replayed approval changes nothing.
    apply(&db, &[approved(RINGSTED, "g-r", date(2026, 11, 30), 6)]).await;

    let mut ringsted = client(&service, Role::Counsellor, RINGSTED);
    let schedule = ringsted
        .get_schedule(GetScheduleRequest {
            name: format!("municipalities/{RINGSTED}/grants/g-r/followUpSchedule"),
        })
        .await
        .expect("schedule")
        .into_inner();
    assert_eq!(schedule.state(), ScheduleState::Active);
    assert_eq!(schedule.first_due_date, date(2027, 2, 28));
    assert_eq!(schedule.interval_months, 6);
    assert_eq!(schedule.counsellor, "counsellor-329");
    let mut ishoj = client(&service, Role::Counsellor, ISHOJ);
    let listed = ishoj
        .list_follow_ups(ListFollowUpsRequest {
            parent: format!("municipalities/{ISHOJ}/grants/g-i"),
        })
        .await
        .expect("follow-ups")
        .into_inner();
    assert_eq!(listed.follow_ups.len(), 1);
    assert_eq!(listed.follow_ups[0].due_date, date(2027, 3, 1));
    assert_eq!(listed.follow_ups[0].state(), FollowUpState::Scheduled);

    // A change by the committee (not at a follow-up) never moves the follow-up later.
    apply(
        &db,
        &[envelope(
            &GrantChanged {
                grant: format!("municipalities/{RINGSTED}/grants/g-r"),
                municipality: RINGSTED.into(),
                effective_from: date(2027, 1, 10),
                minutes_per_week: 120,
                expected_end_date: date(2027, 11, 30),
                ..GrantChanged::default()
            },
            "g-r",
        )],
    )
    .await;

    // Nothing is due on 1 December; the worklist (today + 14 days) is empty.
    let notices = kontakt_followup::notices(clock.clone());
    let pool = kontakt_platform::db::pool(db.options.clone(), "followup", &test_db_settings());
    assert_eq!(
        run_once(&pool, notices.as_ref()).await.expect("run"),
        Some(0)
    );
    let due_request = |m: &str| ListDueFollowUpsRequest {
        parent: format!("municipalities/{m}"),
        ..ListDueFollowUpsRequest::default()
    };
    let empty = ringsted
        .list_due_follow_ups(due_request(RINGSTED))
        .await
        .expect("due")
        .into_inner();
    assert!(empty.follow_ups.is_empty());

    // 20 February: both inside the 14-day lead. Two schedulers tick at once, each in its own
    // transaction without the advisory lock, so only SKIP LOCKED keeps them apart.
    clock.set(at(2027, 2, 20));
    let second = kontakt_followup::notices(clock.clone());
    let (mut tx_a, mut tx_b) = (
        pool.begin().await.expect("a"),
        pool.begin().await.expect("b"),
    );
    let (a, b) = tokio::join!(notices.run(&mut tx_a), second.run(&mut tx_b));
    tx_a.commit().await.expect("commit a");
    tx_b.commit().await.expect("commit b");
    assert_eq!(a.expect("a") + b.expect("b"), 2, "each reminder once");
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            run_once(&pool, notices.as_ref()),
            run_once(&pool, second.as_ref())
        );
        assert_eq!(a.expect("a").unwrap_or(0) + b.expect("b").unwrap_or(0), 0);
    }
    assert_eq!(
        outbox(&db, "FollowUpDue").await.len(),
        2,
        "FollowUpDue for Ringsted and Ishøj"
    );
    let due = ishoj
        .list_due_follow_ups(ListDueFollowUpsRequest {
            counsellor: "counsellor-183".into(),
            ..due_request(ISHOJ)
        })
        .await
        .expect("due")
        .into_inner();
    assert_eq!(due.follow_ups.len(), 1);
    assert_eq!(due.follow_ups[0].state(), FollowUpState::Due);
    let someone_else = ishoj
        .list_due_follow_ups(ListDueFollowUpsRequest {
            counsellor: "another-counsellor".into(),
            ..due_request(ISHOJ)
        })
        .await
        .expect("due")
        .into_inner();
    assert!(someone_else.follow_ups.is_empty());
    // A case system lists its municipality's due follow-ups for its own worklists.
    let case_system = client(&service, Role::CaseSystem, ISHOJ)
        .list_due_follow_ups(due_request(ISHOJ))
        .await
        .expect("case system")
        .into_inner();
    assert_eq!(case_system.follow_ups.len(), 1);

    // Ishøj's grant ends in February: its follow-up is cancelled, nothing more goes out.
    apply(
        &db,
        &[envelope(
            &GrantEnded {
                grant: format!("municipalities/{ISHOJ}/grants/g-i"),
                municipality: ISHOJ.into(),
                end_date: date(2027, 2, 25),
                ..GrantEnded::default()
            },
            "g-i",
        )],
    )
    .await;
    // 2 March: Ringsted's is overdue, once.
    clock.set(at(2027, 3, 2));
    let (a, b) = tokio::join!(
        run_once(&pool, notices.as_ref()),
        run_once(&pool, second.as_ref())
    );
    assert_eq!(a.expect("a").unwrap_or(0) + b.expect("b").unwrap_or(0), 1);
    run_once(&pool, second.as_ref()).await.expect("again");
    assert_eq!(
        outbox(&db, "FollowUpOverdue").await,
        [format!("municipalities/{RINGSTED}/followUps/{}", {
            let f = ringsted
                .list_follow_ups(ListFollowUpsRequest {
                    parent: format!("municipalities/{RINGSTED}/grants/g-r"),
                })
                .await
                .expect("list")
                .into_inner();
            assert_eq!(f.follow_ups[0].state(), FollowUpState::Overdue);
            f.follow_ups[0]
                .name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })]
    );
    let ended = ishoj
        .list_follow_ups(ListFollowUpsRequest {
            parent: format!("municipalities/{ISHOJ}/grants/g-i"),
        })
        .await
        .expect("follow-ups")
        .into_inner();
    assert_eq!(ended.follow_ups[0].state(), FollowUpState::Cancelled);
    pool.close().await;

    // Another municipality's follow-ups do not exist for Ringsted's counsellor; a contact
    // person has no follow-up access at all.
    let hidden = ringsted
        .list_due_follow_ups(due_request(ISHOJ))
        .await
        .expect_err("Ishøj's");
    assert_eq!(hidden.code(), Code::NotFound);
    let denied = client(&service, Role::ContactPerson, ISHOJ)
        .list_due_follow_ups(due_request(ISHOJ))
        .await
        .expect_err("not a contact person's");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = ringsted
        .get_schedule(GetScheduleRequest {
            name: "municipalities/329/grants/g-r".into(),
        })
        .await
        .expect_err("not a schedule name");
    assert_eq!(bad.code(), Code::InvalidArgument);
}
