//! SubmitReferral with `validate_only` (AIP-163): the same rules as a real submission, every
//! broken one named with its field, and nothing written: the referral stays a DRAFT with its
//! etag, no ReferralSubmitted is sent, and the call is in the access log as a READ.

use super::*;
use kontakt_harness::bad_request_fields;

const M: &str = "329";

async fn read(counsellor: &mut Client, name: &str) -> Referral {
    counsellor
        .get_referral(GetReferralRequest { name: name.into() })
        .await
        .expect("read")
        .into_inner()
}

/// The count a `SELECT count(*) … $1` query gives for `bind`.
async fn count(db: &TestDatabase, sql: &'static str, bind: &str) -> i64 {
    let mut conn = db.connect().await.expect("connect");
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(bind)
        .fetch_one(&mut conn)
        .await
        .expect("count");
    n
}

#[tokio::test]
async fn validating_a_draft_names_what_a_submission_would_and_changes_nothing() {
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    grants::with_policy(&running, M, ringsted_policy()).await;
    let mut counsellor = as_role(&running, Role::Counsellor, M);
    let (_case, referral) = draft(&mut counsellor, M, "010114-4234", "VO-1").await;

    // The empty draft: the check lists exactly what the real submission refuses with.
    let checked = counsellor
        .submit_referral(submit(&referral.name, &referral.etag, true))
        .await
        .expect_err("incomplete");
    let refused = counsellor
        .submit_referral(submit(&referral.name, &referral.etag, false))
        .await
        .expect_err("incomplete");
    assert_eq!(checked.code(), Code::FailedPrecondition);
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let listed = violations(&checked);
    assert_eq!(listed, violations(&refused));
    for expected in [
        ("R-RV-1", "assessments"),
        ("R-RV-2", "recipient"),
        ("R-RV-2", "purpose"),
        ("R-RV-2", "legal_basis"),
        ("R-RV-3", "consent"),
        ("R-RV-7", "network_statement"),
    ] {
        assert!(
            listed.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {listed:?}"
        );
    }
    let after = read(&mut counsellor, &referral.name).await;
    assert_eq!(after.state(), ReferralState::Draft);
    assert_eq!(after.etag, referral.etag);

    // Bad input is refused as the real call refuses it, and a stale etag loses the same way.
    let bad = counsellor
        .submit_referral(submit("municipalities/329/nonsense", "", true))
        .await
        .expect_err("bad name");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(bad_request_fields(&bad), ["name"]);

    // Completed: the check passes and answers with the referral as it is, still a draft.
    let completed = counsellor
        .update_referral(update(
            complete_fields(&referral.name, &referral.etag, ""),
            &["*"],
        ))
        .await
        .expect("complete")
        .into_inner();
    add_assessment(&mut counsellor, &referral.name).await;
    let stale = counsellor
        .submit_referral(submit(&referral.name, &referral.etag, true))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    let ok = counsellor
        .submit_referral(submit(&referral.name, &completed.etag, true))
        .await
        .expect("validates")
        .into_inner();
    assert_eq!(ok.state(), ReferralState::Draft);
    assert_eq!(ok.etag, completed.etag);
    assert!(ok.submit_time.is_none());
    assert_eq!(ok.purpose, completed.purpose);
    let after = read(&mut counsellor, &referral.name).await;
    assert_eq!(after.state(), ReferralState::Draft);
    assert_eq!(after.etag, completed.etag);
    let submitted_events = "SELECT count(*) FROM referral.outbox WHERE subject = $1";
    assert_eq!(count(&db, submitted_events, &referral.name).await, 0);

    // Each check is a read of the referral in the access log, none a change.
    let logged = "SELECT count(*) FROM referral.audit_log WHERE method = 'SubmitReferral' AND action = 'READ' AND resource = $1";
    assert_eq!(count(&db, logged, &referral.name).await, 2);
    let changes = "SELECT count(*) FROM referral.audit_log WHERE method = 'SubmitReferral' AND action <> 'READ' AND resource = $1";
    assert_eq!(count(&db, changes, &referral.name).await, 0);

    // The real submission then goes through with the etag the check left alone.
    let submitted = counsellor
        .submit_referral(submit(&referral.name, &completed.etag, false))
        .await
        .expect("submitted")
        .into_inner();
    assert_eq!(submitted.state(), ReferralState::Submitted);
    assert_eq!(count(&db, submitted_events, &referral.name).await, 1);
    assert_eq!(count(&db, changes, &referral.name).await, 1);
    assert_eq!(
        events(&running, M, 1).await,
        ["ReferralSubmitted"],
        "one event, from the real submission"
    );

    // A submitted referral cannot be submitted again; the check says so too.
    let again = counsellor
        .submit_referral(submit(&referral.name, "", true))
        .await
        .expect_err("already submitted");
    assert_eq!(again.code(), Code::FailedPrecondition);
    running.stop().await.expect("stop");
}
