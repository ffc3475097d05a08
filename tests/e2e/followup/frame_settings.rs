//! Each frame's own evaluation settings (R-FU-5): its due day, reminder lead time and
//! committee; a change moves its open evaluations and no other frame's.

use super::*;

fn frame_created(id: &str, municipalities: &[&str]) -> Envelope {
    let name = format!("frames/{id}");
    envelope(
        &kontakt_proto::timecost::v1::FrameCreated {
            frame: name.clone(),
            display_name: id.into(),
            municipalities: municipalities.iter().map(|m| (*m).to_owned()).collect(),
            period: Some(kontakt_proto::common::v1::DateRange {
                start: date(2018, 1, 1),
                end: None,
            }),
        },
        &name,
    )
}

fn settings(id: &str, due_month: i32, due_day: i32, lead_days: i32) -> FrameEvaluationSettings {
    FrameEvaluationSettings {
        name: format!("frames/{id}/evaluationSettings"),
        due_month,
        due_day,
        lead_days,
        committee: "Økonomiudvalget".into(),
        etag: String::new(),
    }
}

#[tokio::test]
async fn each_frame_is_evaluated_by_its_own_due_day_and_committee() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 10, 1, 10);
    let service = start(&db, clock.clone()).await;
    let pool = kontakt_platform::db::pool(db.options.clone(), "followup", &test_db_settings());
    let handler = kontakt_followup::frame_events(clock.clone());
    for created in [
        frame_created("ishoj-vallensbaek", &[ISHOJ, "187"]),
        frame_created("ishoj-familie", &[ISHOJ]),
    ] {
        let mut tx = pool.begin().await.expect("tx");
        handler.handle(&mut tx, &created).await.expect("frame");
        tx.commit().await.expect("commit");
    }
    let mut finance = client(&service, Role::Finance, ISHOJ);
    let first = finance
        .get_frame_evaluation_settings(GetFrameEvaluationSettingsRequest {
            name: "frames/ishoj-vallensbaek/evaluationSettings".into(),
        })
        .await
        .expect("settings")
        .into_inner();
    // Learnt of with the installation's default.
    assert_eq!(
        (first.due_month, first.due_day, first.lead_days),
        (11, 30, 30)
    );
    assert_eq!(first.committee, "Børne- og Undervisningsudvalget");

    // This frame goes to the finance committee by 31 October, reminded 14 days ahead.
    let changed = finance
        .update_frame_evaluation_settings(UpdateFrameEvaluationSettingsRequest {
            settings: Some(FrameEvaluationSettings {
                etag: first.etag.clone(),
                ..settings("ishoj-vallensbaek", 10, 31, 14)
            }),
        })
        .await
        .expect("changed")
        .into_inner();
    assert_ne!(changed.etag, first.etag);
    let evaluations = |frame: &str| {
        let mut f = finance.clone();
        let parent = format!("frames/{frame}");
        async move {
            f.list_frame_evaluations(ListFrameEvaluationsRequest { parent })
                .await
                .expect("evaluations")
                .into_inner()
                .frame_evaluations
        }
    };
    let moved = evaluations("ishoj-vallensbaek").await;
    assert_eq!(moved[0].due_date, date(2026, 10, 31));
    assert_eq!(moved[0].committee, "Økonomiudvalget");
    let other = evaluations("ishoj-familie").await;
    assert_eq!(
        other[0].due_date,
        date(2026, 11, 30),
        "the other frame keeps its own"
    );

    // 17 October: the changed frame's reminder is owed, the other's is not yet.
    clock.set(at(2026, 10, 17));
    let notices = kontakt_followup::frame_notices(clock.clone());
    run_once(&pool, notices.as_ref()).await.expect("tick");
    assert_eq!(
        outbox(&db, "FrameEvaluationDue").await,
        ["frames/ishoj-vallensbaek/evaluations/2026"]
    );
    // The next year's task comes by the frame's own settings.
    clock.set(at(2027, 1, 2));
    run_once(&pool, notices.as_ref()).await.expect("tick");
    let next = evaluations("ishoj-vallensbaek").await;
    assert_eq!((next[0].year, next[0].due_date), (2027, date(2027, 10, 31)));
    assert_eq!(next[0].committee, "Økonomiudvalget");
    pool.close().await;

    // A stale etag, impossible settings, and who may not.
    let stale = finance
        .update_frame_evaluation_settings(UpdateFrameEvaluationSettingsRequest {
            settings: Some(FrameEvaluationSettings {
                etag: first.etag.clone(),
                ..settings("ishoj-vallensbaek", 9, 30, 14)
            }),
        })
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    let wrong = finance
        .update_frame_evaluation_settings(UpdateFrameEvaluationSettingsRequest {
            settings: Some(FrameEvaluationSettings {
                committee: String::new(),
                ..settings("ishoj-vallensbaek", 13, 0, 181)
            }),
        })
        .await
        .expect_err("impossible");
    assert_eq!(
        kontakt_harness::bad_request_fields(&wrong),
        [
            "settings.due_month",
            "settings.due_day",
            "settings.lead_days",
            "settings.committee"
        ]
    );
    let coordinator = client(&service, Role::Coordinator, ISHOJ)
        .update_frame_evaluation_settings(UpdateFrameEvaluationSettingsRequest {
            settings: Some(settings("ishoj-vallensbaek", 10, 31, 14)),
        })
        .await
        .expect_err("the coordinator reads them, finance keeps them");
    assert_eq!(coordinator.code(), Code::PermissionDenied);
    let ringsted = client(&service, Role::Finance, RINGSTED)
        .get_frame_evaluation_settings(GetFrameEvaluationSettingsRequest {
            name: "frames/ishoj-vallensbaek/evaluationSettings".into(),
        })
        .await
        .expect_err("Ringsted's finance");
    assert_eq!(ringsted.code(), Code::NotFound);
}
