//! Registering time (R-TC-1..3): priced by the rate of the day, retried safely, flagged above
//! the granted minutes and corrected by reversal.

use super::*;

#[tokio::test]
async fn a_contact_person_registers_priced_time_on_their_own_assignment_and_retries_safely() {
    let (db, service) = started().await;
    let staff = arrangement(&db, "g-1", ANNA, Employment::Staff, 180, 32_000).await;
    let hourly = arrangement(&db, "g-2", LEYLA, Employment::Hourly, 180, 20_000).await;
    let mut anna = contact_person(&service, ANNA);

    let entry = anna
        .registered(
            register(&staff, 7, 90, "face-to-face", "phone-1"),
            "registered",
        )
        .await;
    assert_eq!(entry.cost.map(|m| m.ore), Some(48_000), "1.5 h × DKK 320");
    assert_eq!(entry.contact_person, ANNA);
    assert!(!entry.overrun);
    // The phone retries: same entry, nothing doubled.
    let again = anna
        .registered(register(&staff, 7, 90, "face-to-face", "phone-1"), "retry")
        .await;
    assert_eq!(again.name, entry.name);
    assert_eq!(outbox_count(&db, "TimeRegistered").await, 1);

    // Leyla is an hourly hire: DKK 200 + 12.5 % holiday pay.
    let leyla = contact_person(&service, LEYLA)
        .registered(register(&hourly, 8, 60, "phone-online", "l-1"), "leyla")
        .await;
    assert_eq!(leyla.cost.map(|m| m.ore), Some(22_500));

    // Anna cannot register on Leyla's assignment; it does not exist for her.
    let theirs = anna
        .refused(register(&hourly, 8, 60, "face-to-face", "a-2"), "not hers")
        .await;
    assert_eq!(theirs.code(), Code::NotFound);
    // Before the assignment started (R-TC-1), in the future, or zero minutes: refused.
    let before = anna
        .register_time(RegisterTimeRequest {
            time_entry: Some(TimeEntry {
                work_date: date(2026, 11, 30),
                minutes: 60,
                activity_kind: "activityKinds/face-to-face".into(),
                ..TimeEntry::default()
            }),
            ..register(&staff, 1, 60, "face-to-face", "a-3")
        })
        .await
        .expect_err("before the start");
    assert_eq!(before.code(), Code::FailedPrecondition);
    assert_eq!(rules(&before), ["R-TC-1"]);
    let future = anna
        .refused(register(&staff, 21, 60, "face-to-face", "a-4"), "future")
        .await;
    assert_eq!(future.code(), Code::InvalidArgument);
    let zero = anna
        .refused(register(&staff, 9, 0, "face-to-face", "a-5"), "zero")
        .await;
    assert_eq!(zero.code(), Code::InvalidArgument);
    let kind = anna
        .refused(
            register(&staff, 9, 30, "sightseeing", "a-6"),
            "unknown kind",
        )
        .await;
    assert_eq!(kind.code(), Code::InvalidArgument);

    // The coordinator registers on her behalf; Ringsted's coordinator sees nothing.
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    coordinator
        .registered(
            register(&staff, 9, 30, "documentation", "c-1"),
            "on her behalf",
        )
        .await;
    let listed = coordinator
        .list_time_entries(entries_of(&staff))
        .await
        .expect("list")
        .into_inner()
        .time_entries;
    assert_eq!(listed.len(), 2);
    let outsider = as_role(&service, Role::Coordinator, &["329"])
        .list_time_entries(entries_of(&staff))
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn a_week_above_the_granted_minutes_is_flagged_once_and_a_reversal_corrects_it() {
    let (db, service, staff, mut anna) = anna_on_staff().await;
    // Week of Monday 7 December: 120 + 90 face to face = 210 > 180; transport does not count.
    let first = anna
        .registered(register(&staff, 7, 120, "face-to-face", "w-1"), "first")
        .await;
    anna.registered(register(&staff, 8, 240, "transport", "w-2"), "transport")
        .await;
    let over = anna
        .registered(register(&staff, 9, 90, "face-to-face", "w-3"), "over")
        .await;
    assert!(
        over.overrun,
        "the week is flagged, not silently accepted (R-TC-2)"
    );
    let more = anna
        .registered(register(&staff, 10, 30, "face-to-face", "w-4"), "more")
        .await;
    assert!(more.overrun);
    assert_eq!(
        outbox_count(&db, "OverrunFlagged").await,
        1,
        "once per week"
    );
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    let overruns = coordinator
        .list_overruns(overruns_in(ISHOJ))
        .await
        .expect("overruns")
        .into_inner()
        .overruns;
    assert_eq!(overruns.len(), 1);
    assert_eq!(
        overruns[0].week.as_ref().and_then(|w| w.start),
        date(2026, 12, 7)
    );
    assert_eq!(
        (
            overruns[0].granted_minutes,
            overruns[0].registered_minutes,
            overruns[0].overrun_minutes
        ),
        (180, 240, 60)
    );

    // The first entry was a mistake: reversed, not edited; the week is back within the grant.
    let reversal = anna
        .reverse_time_entry(reverse(&first.name, "wrong day", "r-1"))
        .await
        .expect("reversed")
        .into_inner();
    assert_eq!(reversal.reverses, first.name);
    assert_eq!(reversal.minutes, 120);
    assert_eq!(reversal.cost.map(|m| m.ore), Some(-60_000));
    let overruns = coordinator
        .list_overruns(overruns_in(ISHOJ))
        .await
        .expect("overruns")
        .into_inner()
        .overruns;
    assert!(overruns.is_empty(), "{overruns:?}");
    let twice = anna
        .reverse_time_entry(reverse(&first.name, "", "r-2"))
        .await
        .expect_err("once");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    // The entry itself is unchanged; the list shows both.
    let listed = anna
        .list_time_entries(entries_of(&staff))
        .await
        .expect("list")
        .into_inner()
        .time_entries;
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0], first);
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn time_without_a_rate_on_the_day_is_refused_with_the_rule() {
    let (db, service) = started().await;
    let provider = arrangement(&db, "g-p", ANNA, Employment::Provider, 240, 52_500).await;
    let mut anna = contact_person(&service, ANNA);
    let priced = anna
        .registered(
            register(&provider, 7, 60, "face-to-face", "p-1"),
            "the agreed price applies",
        )
        .await;
    assert_eq!(priced.cost.map(|m| m.ore), Some(52_500));
    // A staff member whose rates change to start in 2027 has no rate in December 2026.
    let staff = arrangement(&db, "g-s", LEYLA, Employment::Staff, 180, 30_000).await;
    let changed = ContactPersonRatesChanged {
        contact_person: LEYLA.into(),
        employment: Employment::Staff as i32,
        rates: vec![hourly_rate(30_000, date(2027, 1, 1))],
    };
    apply(
        &db,
        Service::Timecost,
        |_| kontakt_timecost::arrangement_events(),
        &[envelope(&changed, LEYLA)],
    )
    .await;
    let unpriced = contact_person(&service, LEYLA)
        .refused(register(&staff, 7, 60, "face-to-face", "s-1"), "no rate")
        .await;
    assert_eq!(unpriced.code(), Code::FailedPrecondition);
    assert_eq!(rules(&unpriced), ["R-TC-3"]);
    service.stop().await.expect("stop");
}
