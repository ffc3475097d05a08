//! Follow-up scheduling over gRPC on a real PostgreSQL: schedules made from the referral
//! service's grant events (applied with the service's own handler, as the consumer applies
//! them), due dates under Ringsted's and Ishøj's policies, due and overdue notices published
//! exactly once by two schedulers at once on a clock the test moves, and access per role.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use kontakt::Service;
use kontakt_harness::messages::{date, envelope, grant_approved};
use kontakt_harness::{
    AuthedChannel, Start, TestDatabase, TestService, clock_at, fresh_database, test_db_settings,
    token,
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

/// The counsellor's statutory deadlines besides the follow-ups.
mod deadlines;
mod frame_settings;

type FollowUps = FollowUpServiceClient<AuthedChannel>;

const ISHOJ: &str = "183";
const RINGSTED: &str = "329";

fn at(year: i32, month: u32, day: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 10, 0, 0).unwrap()
}

async fn start(db: &TestDatabase, clock: Arc<ManualClock>) -> TestService {
    Start::new(Service::Followup, db)
        .clock(clock)
        .run()
        .await
        .expect("followup")
}

/// Applies `events` in one transaction, as the consumer does.
async fn apply(db: &TestDatabase, events: &[Envelope]) {
    let grant_events = |_| kontakt_followup::grant_events();
    kontakt_harness::messages::apply(db, Service::Followup, grant_events, events).await;
}

fn approved(m: &str, grant: &str, start: Option<Date>, interval: i32) -> Envelope {
    let approved = GrantApproved {
        start_date: start,
        counsellor: format!("counsellor-{m}"),
        follow_up_interval_months: interval,
        ..grant_approved(m, grant, 180)
    };
    envelope(&approved, &approved.grant)
}

fn client(service: &TestService, role: Role, m: &str) -> FollowUps {
    FollowUpServiceClient::new(service.as_role(role, m))
}

fn follow_ups_of(m: &str, grant: &str) -> ListFollowUpsRequest {
    ListFollowUpsRequest {
        parent: format!("municipalities/{m}/grants/{grant}"),
    }
}

fn frame_evaluations() -> ListFrameEvaluationsRequest {
    ListFrameEvaluationsRequest {
        parent: "frames/ishoj-vallensbaek".into(),
    }
}

/// The subjects of the `kind` events in the outbox, sorted.
async fn outbox(db: &TestDatabase, kind: &str) -> Vec<String> {
    let events = kontakt_harness::events::outbox(db, Service::Followup, kind).await;
    let mut subjects: Vec<String> = events.into_iter().map(|(subject, _)| subject).collect();
    subjects.sort();
    subjects
}

/// Two schedulers' rounds at once, each in its own transaction without the advisory lock, so
/// only SKIP LOCKED keeps them apart; how many things each did.
async fn at_once(
    pool: &sqlx::PgPool,
    a: &dyn kontakt_platform::schedule::Job,
    b: &dyn kontakt_platform::schedule::Job,
) -> (usize, usize) {
    let (mut tx_a, mut tx_b) = (
        pool.begin().await.expect("a"),
        pool.begin().await.expect("b"),
    );
    let (done_a, done_b) = tokio::join!(a.run(&mut tx_a), b.run(&mut tx_b));
    tx_a.commit().await.expect("commit a");
    tx_b.commit().await.expect("commit b");
    (done_a.expect("a"), done_b.expect("b"))
}

/// What a case system of `m` receives on the follow-up feed's FollowUpDue, up to the present.
async fn feed_for_case_system(service: &TestService, m: &str) -> Vec<Envelope> {
    use kontakt_proto::events::v1::SubscribeRequest;
    use kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient;
    use kontakt_proto::events::v1::subscribe_response::Item;
    use tokio_stream::StreamExt as _;
    let mut feed =
        EventFeedServiceClient::new(service.with_token(&token(&[Role::CaseSystem], &[m])));
    let mut stream = feed
        .subscribe(SubscribeRequest {
            after_sequence: 0,
            types: vec![<FollowUpDue as prost::Name>::full_name()],
        })
        .await
        .expect("subscribe")
        .into_inner();
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item.expect("item").item {
            Some(Item::Event(e)) => events.push(e),
            Some(Item::Progress(_)) => break,
            None => {}
        }
    }
    events
}

#[tokio::test]
async fn approved_grants_get_schedules_and_due_and_overdue_notices_go_out_once() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 1, 10);
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
        .list_follow_ups(follow_ups_of(ISHOJ, "g-i"))
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
    let (a, b) = at_once(&pool, notices.as_ref(), second.as_ref()).await;
    assert_eq!(a + b, 2, "each reminder once");
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
    // ...and subscribes to the follow-up feed: it gets its own municipality's notices only.
    let pushed = feed_for_case_system(&service, ISHOJ).await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    let notice: FollowUpDue = pushed[0]
        .payload
        .as_ref()
        .expect("payload")
        .to_msg()
        .expect("FollowUpDue");
    assert_eq!(notice.municipality, ISHOJ);
    assert_eq!(notice.counsellor, "counsellor-183");

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
                .list_follow_ups(follow_ups_of(RINGSTED, "g-r"))
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
        .list_follow_ups(follow_ups_of(ISHOJ, "g-i"))
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

/// R-FU-1 with Barnets Lov's transition: an arrangement granted under Serviceloven before 2024
/// (brought over from an old system) gets its schedule; its first follow-up fell due by
/// Serviceloven §70 stk.2, three months after its start, so it shows as overdue today.
#[tokio::test]
async fn r_fu_1_an_arrangement_granted_before_2024_gets_a_schedule_by_the_rule_of_its_day() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 1, 10);
    let service = start(&db, clock).await;
    apply(&db, &[approved(RINGSTED, "g-sel", date(2022, 8, 31), 6)]).await;
    let mut ringsted = client(&service, Role::Counsellor, RINGSTED);
    let schedule = ringsted
        .get_schedule(GetScheduleRequest {
            name: format!("municipalities/{RINGSTED}/grants/g-sel/followUpSchedule"),
        })
        .await
        .expect("a schedule for a pre-2024 grant")
        .into_inner();
    assert_eq!(schedule.state(), ScheduleState::Active);
    assert_eq!(schedule.first_due_date, date(2022, 11, 30));
    let listed = ringsted
        .list_follow_ups(follow_ups_of(RINGSTED, "g-sel"))
        .await
        .expect("follow-ups")
        .into_inner();
    assert_eq!(listed.follow_ups.len(), 1);
    assert_eq!(listed.follow_ups[0].due_date, date(2022, 11, 30));
}

#[tokio::test]
async fn a_policy_wanting_the_coordinator_is_kept_and_the_reminder_lead_time_is_data() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2027, 2, 10, 10);
    let service = start(&db, clock.clone()).await;
    let mut grant = approved(ISHOJ, "g-c", date(2026, 12, 1), 0);
    let mut approval: GrantApproved = grant
        .payload
        .as_ref()
        .expect("payload")
        .to_msg()
        .expect("msg");
    approval.follow_up_coordinator_required = true;
    grant.payload = Some(prost_types::Any::from_msg(&approval).expect("any"));
    apply(&db, &[grant]).await;
    let mut counsellor = client(&service, Role::Counsellor, ISHOJ);
    let open = counsellor
        .list_follow_ups(follow_ups_of(ISHOJ, "g-c"))
        .await
        .expect("list")
        .into_inner()
        .follow_ups
        .remove(0);
    let record = |participants: Vec<ParticipantRole>, next: Option<Date>| CompleteFollowUpRequest {
        follow_up: Some(FollowUp {
            name: open.name.clone(),
            participants: participants
                .into_iter()
                .map(|role| Participant {
                    role: role as i32,
                    principal: String::new(),
                    display_name: "Deltager".into(),
                })
                .collect(),
            outcome: FollowUpOutcome::Continue as i32,
            completed_date: date(2027, 2, 9),
            next_due_date: next,
            ..FollowUp::default()
        }),
    };
    // Ishøj: the counsellor alone is not enough (R-FU-3), and without a policy interval the
    // follow-up sets the next date (R-FU-1). Both rules are named at once.
    let refused = counsellor
        .complete_follow_up(record(vec![ParticipantRole::Counsellor], None))
        .await
        .expect_err("no coordinator");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let details = tonic_types::StatusExt::get_error_details(&refused);
    let rules: Vec<String> = details
        .precondition_failure()
        .expect("violations")
        .violations
        .iter()
        .map(|v| format!("{} {}", v.r#type, v.subject))
        .collect();
    assert_eq!(
        rules,
        [
            "R-FU-3 follow_up.participants",
            "R-FU-1 follow_up.next_due_date"
        ]
    );
    let bad = counsellor
        .complete_follow_up(CompleteFollowUpRequest {
            follow_up: Some(FollowUp {
                name: open.name.clone(),
                ..FollowUp::default()
            }),
        })
        .await
        .expect_err("empty");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let done = counsellor
        .complete_follow_up(record(
            vec![ParticipantRole::Counsellor, ParticipantRole::Coordinator],
            date(2027, 5, 1),
        ))
        .await
        .expect("held")
        .into_inner();
    assert_eq!(done.state(), FollowUpState::Completed);
    assert_eq!(done.participants.len(), 2);
    assert!(!done.completed_by.is_empty());
    assert_eq!(outbox(&db, "FollowUpCompleted").await, [open.name.as_str()]);

    // The reminder lead time: the default 14 days until an administrator sets Ishøj's own.
    let settings_name = format!("municipalities/{ISHOJ}/followUpSettings");
    let read = counsellor
        .get_follow_up_settings(GetFollowUpSettingsRequest {
            name: settings_name.clone(),
        })
        .await
        .expect("settings")
        .into_inner();
    assert_eq!((read.due_lead_days, read.is_default), (14, true));
    let update = |days: i32, etag: &str| UpdateFollowUpSettingsRequest {
        settings: Some(FollowUpSettings {
            name: settings_name.clone(),
            due_lead_days: days,
            etag: etag.into(),
            ..FollowUpSettings::default()
        }),
    };
    let denied = counsellor
        .update_follow_up_settings(update(30, ""))
        .await
        .expect_err("administrators only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut admin = client(&service, Role::Admin, ISHOJ);
    let too_long = admin
        .update_follow_up_settings(update(91, ""))
        .await
        .expect_err("91 days");
    assert_eq!(too_long.code(), Code::InvalidArgument);
    let set = admin
        .update_follow_up_settings(update(30, &read.etag))
        .await
        .expect("set")
        .into_inner();
    assert_eq!((set.due_lead_days, set.is_default), (30, false));
    let stale = admin
        .update_follow_up_settings(update(20, &read.etag))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    // The next follow-up (1 May) is now inside the window from 1 April.
    clock.set(at(2027, 4, 1));
    let due = counsellor
        .list_due_follow_ups(ListDueFollowUpsRequest {
            parent: format!("municipalities/{ISHOJ}"),
            ..Default::default()
        })
        .await
        .expect("due")
        .into_inner();
    assert_eq!(due.follow_ups.len(), 1);
    assert_eq!(due.follow_ups[0].due_date, date(2027, 5, 1));
    assert_eq!(due.follow_ups[0].state(), FollowUpState::Due);
}

#[tokio::test]
async fn each_frame_is_evaluated_yearly_before_december_with_notices_once() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 10, 1, 10);
    let service = start(&db, clock.clone()).await;
    let created = envelope(
        &kontakt_proto::timecost::v1::FrameCreated {
            frame: "frames/ishoj-vallensbaek".into(),
            display_name: "Kontaktpersonramme Ishøj/Vallensbæk".into(),
            municipalities: vec![ISHOJ.into(), "187".into()],
            period: Some(kontakt_proto::common::v1::DateRange {
                start: date(2018, 1, 1),
                end: None,
            }),
        },
        "frames/ishoj-vallensbaek",
    );
    let pool = kontakt_platform::db::pool(db.options.clone(), "followup", &test_db_settings());
    let handler = kontakt_followup::frame_events(clock.clone());
    for _ in 0..2 {
        // Applied twice, as a replay would: one frame, one task.
        let mut tx = pool.begin().await.expect("tx");
        handler.handle(&mut tx, &created).await.expect("frame");
        tx.commit().await.expect("commit");
    }
    let mut finance = client(&service, Role::Finance, "187");
    let list = |finance: &mut FollowUps| {
        let mut f = finance.clone();
        async move {
            f.list_frame_evaluations(frame_evaluations())
                .await
                .expect("evaluations")
                .into_inner()
                .frame_evaluations
        }
    };
    // Known from 2026 on: this year's is due 30 November, linked to time & cost's dataset.
    let now = list(&mut finance).await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].name, "frames/ishoj-vallensbaek/evaluations/2026");
    assert_eq!(now[0].dataset, now[0].name);
    assert_eq!(now[0].due_date, date(2026, 11, 30));
    assert_eq!(now[0].state(), FrameEvaluationState::Scheduled);
    assert_eq!(now[0].committee, "Børne- og Undervisningsudvalget");

    // 1 November (30 days ahead): two schedulers at once, FrameEvaluationDue once.
    let (one, two) = (
        kontakt_followup::frame_notices(clock.clone()),
        kontakt_followup::frame_notices(clock.clone()),
    );
    clock.set(at(2026, 11, 1));
    let (a, b) = at_once(&pool, one.as_ref(), two.as_ref()).await;
    assert_eq!(a + b, 1);
    assert_eq!(
        outbox(&db, "FrameEvaluationDue").await,
        ["frames/ishoj-vallensbaek/evaluations/2026"]
    );
    // 1 December, not done: overdue, once.
    clock.set(at(2026, 12, 1));
    for _ in 0..2 {
        let (a, b) = tokio::join!(run_once(&pool, one.as_ref()), run_once(&pool, two.as_ref()));
        a.expect("a");
        b.expect("b");
    }
    assert_eq!(outbox(&db, "FrameEvaluationOverdue").await.len(), 1);
    assert_eq!(
        list(&mut finance).await[0].state(),
        FrameEvaluationState::Overdue
    );

    // Completed with its conclusion; the same again is a retry.
    let complete = CompleteFrameEvaluationRequest {
        name: "frames/ishoj-vallensbaek/evaluations/2026".into(),
        committee: "Børne- og Undervisningsudvalget".into(),
        summary: "Rammen holdt; 2/3–1/3 fordelingen svarede til forbruget.".into(),
        completed_date: date(2026, 12, 1),
        ..CompleteFrameEvaluationRequest::default()
    };
    let done = finance
        .complete_frame_evaluation(complete.clone())
        .await
        .expect("completed")
        .into_inner();
    assert_eq!(done.state(), FrameEvaluationState::Completed);
    let again = finance
        .complete_frame_evaluation(complete.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again.etag, done.etag);
    let future = finance
        .complete_frame_evaluation(CompleteFrameEvaluationRequest {
            name: "frames/ishoj-vallensbaek/evaluations/2026".into(),
            completed_date: date(2026, 12, 2),
            ..complete.clone()
        })
        .await
        .expect_err("tomorrow");
    assert_eq!(future.code(), Code::InvalidArgument);

    // A new year brings its own task.
    clock.set(at(2027, 1, 2));
    run_once(&pool, one.as_ref()).await.expect("tick");
    let years: Vec<i32> = list(&mut finance).await.iter().map(|e| e.year).collect();
    assert_eq!(years, [2027, 2026]);
    pool.close().await;

    // Not a frame of Ringsted's; not for counsellors.
    let hidden = client(&service, Role::Finance, RINGSTED)
        .list_frame_evaluations(frame_evaluations())
        .await
        .expect_err("another municipality's frame");
    assert_eq!(hidden.code(), Code::NotFound);
    let denied = client(&service, Role::Counsellor, ISHOJ)
        .list_frame_evaluations(frame_evaluations())
        .await
        .expect_err("counsellor");
    assert_eq!(denied.code(), Code::PermissionDenied);
}
