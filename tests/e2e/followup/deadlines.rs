//! The counsellor's statutory deadlines besides the follow-ups, made from the grant events:
//! ungestøtte before 18 (R-RV-5), a running undersøgelse's end (BL § 20 stk. 3, with § 95
//! stk. 2's earlier first follow-up) and the child's plan (§ 91).

use super::*;

/// R-RV-5: a grant on a child basis ends the day before the 18th birthday, so the counsellor
/// gets a deadline to decide on ungestøtte, due three months ahead and pushed once then (to the
/// case system too); it is marked met with what was decided, and a grant that ends first
/// cancels its own.
#[tokio::test]
async fn r_rv_5_a_child_basis_ending_at_18_gives_the_counsellor_an_ungestotte_deadline() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 1, 10);
    let service = start(&db, clock.clone()).await;
    let reaching_18 = |grant: &str, at_age: i32| {
        let approved = GrantApproved {
            start_date: date(2026, 12, 1),
            expected_end_date: date(2027, 3, 14),
            counsellor: format!("counsellor-{RINGSTED}"),
            follow_up_interval_months: 6,
            basis_ends_date: date(2027, 3, 14),
            basis_ends_at_age: at_age,
            ..grant_approved(RINGSTED, grant, 180)
        };
        envelope(&approved, &approved.grant)
    };
    apply(
        &db,
        &[
            reaching_18("g-17", 18),
            reaching_18("g-17", 18),
            reaching_18("g-22", 23),
            reaching_18("g-ends", 18),
        ],
    )
    .await;
    let mut counsellor = client(&service, Role::Counsellor, RINGSTED);
    let list = |grant: &str, include_closed: bool| ListDeadlinesRequest {
        parent: format!("municipalities/{RINGSTED}"),
        grant: if grant.is_empty() {
            String::new()
        } else {
            format!("municipalities/{RINGSTED}/grants/{grant}")
        },
        include_closed,
        ..ListDeadlinesRequest::default()
    };
    let open = counsellor
        .list_deadlines(list("", false))
        .await
        .expect("deadlines")
        .into_inner()
        .deadlines;
    // One per grant reaching 18 (the replay made none more); none for the one reaching 23.
    assert_eq!(open.len(), 2, "{open:?}");
    let first = open
        .iter()
        .find(|d| d.grant.ends_with("/g-17"))
        .expect("g-17's")
        .clone();
    assert_eq!(first.kind(), DeadlineKind::UngestoetteDecision);
    assert_eq!(first.deadline_date, date(2027, 3, 14));
    assert_eq!(first.due_date, date(2026, 12, 15));
    assert_eq!(first.state(), DeadlineState::Scheduled);
    assert_eq!(first.counsellor, "counsellor-329");
    assert!(
        first.description.contains("ungestøtte"),
        "{}",
        first.description
    );

    // The grant that ends first takes its deadline with it.
    apply(
        &db,
        &[envelope(
            &GrantEnded {
                grant: format!("municipalities/{RINGSTED}/grants/g-ends"),
                municipality: RINGSTED.into(),
                end_date: date(2026, 12, 10),
                ..GrantEnded::default()
            },
            "g-ends",
        )],
    )
    .await;
    let ended = counsellor
        .list_deadlines(list("g-ends", true))
        .await
        .expect("closed too")
        .into_inner()
        .deadlines;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].state(), DeadlineState::Cancelled);

    // Nothing is pushed before its due date; on it, DeadlineDue goes out once, however often the
    // scheduler ticks.
    let notices = kontakt_followup::notices(clock.clone());
    let pool = kontakt_platform::db::pool(db.options.clone(), "followup", &test_db_settings());
    run_once(&pool, notices.as_ref()).await.expect("run");
    assert!(outbox(&db, "DeadlineDue").await.is_empty());
    clock.set(at(2026, 12, 15));
    for _ in 0..3 {
        run_once(&pool, notices.as_ref()).await.expect("run");
    }
    assert_eq!(outbox(&db, "DeadlineDue").await, [first.name.as_str()]);
    let due = counsellor
        .list_deadlines(list("g-17", false))
        .await
        .expect("due")
        .into_inner()
        .deadlines;
    assert_eq!(due[0].state(), DeadlineState::Due);

    // Marked met with what was decided; the same again is a retry, another note is refused.
    let blank = counsellor
        .complete_deadline(CompleteDeadlineRequest {
            name: first.name.clone(),
            note: "  ".into(),
        })
        .await
        .expect_err("no note");
    assert_eq!(blank.code(), Code::InvalidArgument);
    let met = CompleteDeadlineRequest {
        name: first.name.clone(),
        note: "ungestøtte granted from the 18th birthday".into(),
    };
    let done = counsellor
        .complete_deadline(met.clone())
        .await
        .expect("met")
        .into_inner();
    assert_eq!(done.state(), DeadlineState::Completed);
    assert_eq!(done.completed_by, "test-counsellor");
    let again = counsellor
        .complete_deadline(met)
        .await
        .expect("a retry")
        .into_inner();
    assert_eq!(again, done);
    let other = counsellor
        .complete_deadline(CompleteDeadlineRequest {
            name: first.name.clone(),
            note: "something else".into(),
        })
        .await
        .expect_err("already met");
    assert_eq!(other.code(), Code::FailedPrecondition);
    assert!(
        counsellor
            .list_deadlines(list("", false))
            .await
            .expect("open")
            .into_inner()
            .deadlines
            .is_empty()
    );

    // Another municipality sees none of it; a contact person may not look.
    let outsider = client(&service, Role::Counsellor, ISHOJ)
        .list_deadlines(list("", true))
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    let denied = client(&service, Role::ContactPerson, RINGSTED)
        .list_deadlines(list("", true))
        .await
        .expect_err("not a reader");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

/// BL § 95 stk. 2: support started beside a running børnefaglig undersøgelse is followed up by
/// the undersøgelse's deadline if that is earlier than three months; that deadline (§ 20 stk. 3)
/// and the child's plan's (§ 91) are the counsellor's, each due a month ahead.
#[tokio::test]
async fn bl_95_the_first_follow_up_is_held_by_a_running_assessments_end_and_both_deadlines_are_listed()
 {
    let db = fresh_database().await.expect("database");
    let service = start(&db, clock_at(2026, 12, 1, 10)).await;
    let approved = GrantApproved {
        start_date: date(2026, 12, 1),
        counsellor: format!("counsellor-{RINGSTED}"),
        follow_up_interval_months: 6,
        assessment_deadline: date(2027, 2, 15),
        plan_deadline: date(2027, 3, 1),
        ..grant_approved(RINGSTED, "g-parallel", 180)
    };
    apply(&db, &[envelope(&approved, &approved.grant)]).await;
    let mut counsellor = client(&service, Role::Counsellor, RINGSTED);
    let listed = counsellor
        .list_follow_ups(follow_ups_of(RINGSTED, "g-parallel"))
        .await
        .expect("follow-ups")
        .into_inner();
    assert_eq!(listed.follow_ups[0].due_date, date(2027, 2, 15));
    let deadlines = counsellor
        .list_deadlines(ListDeadlinesRequest {
            parent: format!("municipalities/{RINGSTED}"),
            ..ListDeadlinesRequest::default()
        })
        .await
        .expect("deadlines")
        .into_inner()
        .deadlines;
    let kinds: Vec<(DeadlineKind, Option<Date>, Option<Date>)> = deadlines
        .iter()
        .map(|d| (d.kind(), d.deadline_date, d.due_date))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                DeadlineKind::ChildAssessment,
                date(2027, 2, 15),
                date(2027, 1, 15)
            ),
            (DeadlineKind::ChildsPlan, date(2027, 3, 1), date(2027, 2, 1)),
        ]
    );
}
