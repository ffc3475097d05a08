//! Grants after the decision: listed with filters and pages, changed as new versions (R-RV-11)
//! with idempotent retries and etags, ended with a reason (R-RV-4 for compulsory arrangements),
//! and GrantChanged / GrantEnded on the feed.

use super::*;
use kontakt_harness::bad_request_fields as bad_field;

pub(super) const RINGSTED: &str = "329";

pub(super) async fn with_policy(
    running: &TestService,
    municipality: &str,
    policy: MunicipalityPolicy,
) {
    as_role(running, Role::Admin, municipality)
        .create_policy(policy_in(municipality, policy))
        .await
        .expect("policy");
}

/// A fresh database, the referral service on it with Ringsted's policy, and a counsellor of
/// Ringsted.
async fn ringsted_counsellor() -> (TestDatabase, TestService, Client) {
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    with_policy(&running, RINGSTED, ringsted_policy()).await;
    let counsellor = as_role(&running, Role::Counsellor, RINGSTED);
    (db, running, counsellor)
}

/// A child referred, submitted and granted 3 hours a week from 1 December in Ringsted.
pub(super) async fn granted(
    counsellor: &mut Client,
    cpr: &str,
    external_id: &str,
    compulsory: Option<CompulsoryCondition>,
) -> Grant {
    let (_case, referral) = draft(counsellor, RINGSTED, cpr, external_id).await;
    let mut fields = complete_fields(&referral.name, "", "");
    fields.compulsory_condition = compulsory;
    counsellor
        .update_referral(update(fields, &["*"]))
        .await
        .expect("complete");
    add_assessment(counsellor, &referral.name).await;
    counsellor
        .submit_referral(submit(&referral.name, "", false))
        .await
        .expect("submitted");
    let decision = counsellor
        .decide_referral(fixtures::approve(
            &referral.name,
            ApprovalLevel::OwnAuthority,
            180,
        ))
        .await
        .expect("approved")
        .into_inner();
    counsellor
        .get_grant(get_grant(&decision.grant))
        .await
        .expect("grant")
        .into_inner()
}

fn list(page_size: i32, page_token: &str) -> ListGrantsRequest {
    ListGrantsRequest {
        parent: format!("municipalities/{RINGSTED}"),
        page_size,
        page_token: page_token.into(),
        ..ListGrantsRequest::default()
    }
}

pub(super) fn change(
    grant: &str,
    etag: &str,
    request_id: &str,
    minutes: i32,
) -> ChangeGrantRequest {
    ChangeGrantRequest {
        name: grant.into(),
        etag: etag.into(),
        request_id: request_id.into(),
        effective_from: date(2027, 3, 1),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["minutes_per_week".into()],
        }),
        minutes_per_week: minutes,
        approval_level: ApprovalLevel::OwnAuthority as i32,
        justification: "follow-up: school attendance is stable".into(),
        ..ChangeGrantRequest::default()
    }
}

pub(super) fn end(grant: &str, reason: GrantEndReason) -> EndGrantRequest {
    EndGrantRequest {
        name: grant.into(),
        end_date: date(2027, 2, 15),
        reason: reason as i32,
        ..EndGrantRequest::default()
    }
}

use fixtures::grant_versions as versions_of;

fn decoded<M: prost::Message + Default>(envelope: &kontakt_proto::events::v1::Envelope) -> M {
    let any = envelope.payload.as_ref().expect("payload");
    M::decode(any.value.as_slice()).expect("payload decodes")
}

#[tokio::test]
async fn a_grant_is_listed_changed_and_ended_and_its_history_stays_readable() {
    let (_db, running, mut counsellor) = ringsted_counsellor().await;
    let first = granted(&mut counsellor, "010114-4234", "G-1", None).await;
    let second = granted(&mut counsellor, "020213-4235", "G-2", None).await;

    // Newest first, a page at a time; the token belongs to its own query.
    let page1 = counsellor
        .list_grants(list(1, ""))
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(page1.grants.len(), 1);
    assert_eq!(page1.grants[0].name, second.name);
    let page2 = counsellor
        .list_grants(list(1, &page1.next_page_token))
        .await
        .expect("page 2")
        .into_inner();
    assert_eq!(page2.grants[0].name, first.name);
    assert!(page2.next_page_token.is_empty(), "the last page says so");
    let other_query = counsellor
        .list_grants(ListGrantsRequest {
            state: GrantState::Active as i32,
            ..list(1, &page1.next_page_token)
        })
        .await
        .expect_err("a token from another query");
    assert_eq!(other_query.code(), Code::InvalidArgument);
    // Filters: person, counsellor, state.
    let by_person = counsellor
        .list_grants(ListGrantsRequest {
            person: first.person.clone(),
            ..list(0, "")
        })
        .await
        .expect("by person")
        .into_inner();
    assert_eq!(by_person.grants.len(), 1);
    assert_eq!(by_person.grants[0].name, first.name);
    for (counsellor_id, expected) in [(first.counsellor.as_str(), 2), ("someone-else", 0)] {
        let by_counsellor = counsellor
            .list_grants(ListGrantsRequest {
                counsellor: counsellor_id.into(),
                ..list(0, "")
            })
            .await
            .expect("by counsellor")
            .into_inner();
        assert_eq!(by_counsellor.grants.len(), expected, "{counsellor_id}");
    }
    let approved = counsellor
        .list_referrals(ListReferralsRequest {
            parent: format!("municipalities/{RINGSTED}"),
            state: ReferralState::Approved as i32,
            ..ListReferralsRequest::default()
        })
        .await
        .expect("referrals")
        .into_inner();
    assert_eq!(approved.referrals.len(), 2);

    // Fewer hours from March: a new version; today the first still applies.
    let changed = counsellor
        .change_grant(change(&first.name, &first.etag, "chg-1", 120))
        .await
        .expect("changed")
        .into_inner();
    assert_eq!(changed.minutes_per_week, 180, "v1 is in force today");
    assert_ne!(changed.etag, first.etag);
    // A retry with the same request_id is the same change, not a second one.
    let retried = counsellor
        .change_grant(change(&first.name, &first.etag, "chg-1", 120))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retried.etag, changed.etag);
    // A new change on the stale etag loses.
    let stale = counsellor
        .change_grant(change(&first.name, &first.etag, "chg-2", 60))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    // Four hours on the counsellor's own authority without a justification: R-RV-6, R-RV-12.
    let over = counsellor
        .change_grant(ChangeGrantRequest {
            effective_from: date(2027, 5, 1),
            justification: String::new(),
            ..change(&first.name, &changed.etag, "chg-3", 240)
        })
        .await
        .expect_err("over the standard");
    assert_eq!(over.code(), Code::FailedPrecondition);
    let broken = violations(&over);
    assert!(broken.contains(&("R-RV-6".into(), "justification".into())));
    assert!(broken.contains(&("R-RV-12".into(), "approval_level".into())));
    // Not on or before the latest version's first day (R-RV-11).
    let backwards = counsellor
        .change_grant(ChangeGrantRequest {
            effective_from: date(2027, 3, 1),
            ..change(&first.name, &changed.etag, "chg-4", 90)
        })
        .await
        .expect_err("versions are never edited");
    assert_eq!(
        violations(&backwards),
        [("R-RV-11".to_owned(), "effective_from".to_owned())]
    );

    let versions = versions_of(&mut counsellor, &first.name).await;
    assert_eq!(versions.len(), 2);
    let range = |v: &GrantVersion| {
        let e = v.effective.expect("effective");
        (e.start, e.end)
    };
    assert_eq!(versions[0].minutes_per_week, 180);
    assert_eq!(range(&versions[0]), (date(2026, 12, 1), date(2027, 2, 28)));
    assert_eq!(versions[1].minutes_per_week, 120);
    assert_eq!(range(&versions[1]), (date(2027, 3, 1), None));
    assert_eq!(versions[1].approval_level(), ApprovalLevel::OwnAuthority);
    assert!(!versions[1].decider.is_empty());

    // Ending: OTHER needs a note; the purpose met ends it and withdraws the March version.
    let no_note = counsellor
        .end_grant(end(&first.name, GrantEndReason::Other))
        .await
        .expect_err("a note");
    assert_eq!(
        violations(&no_note),
        [("R-RV-11".to_owned(), "note".to_owned())]
    );
    let ended = counsellor
        .end_grant(end(&first.name, GrantEndReason::PurposeMet))
        .await
        .expect("ended")
        .into_inner();
    assert_eq!(ended.state(), GrantState::Ended);
    assert_eq!(ended.end_reason(), GrantEndReason::PurposeMet);
    assert_eq!(ended.end_date, date(2027, 2, 15));
    assert!(!ended.ended_by.is_empty());
    let again = counsellor
        .end_grant(end(&first.name, GrantEndReason::PurposeMet))
        .await
        .expect("the same end again is a retry")
        .into_inner();
    assert_eq!(again.etag, ended.etag);
    let otherwise = counsellor
        .end_grant(end(&first.name, GrantEndReason::Moved))
        .await
        .expect_err("already ended");
    assert_eq!(otherwise.code(), Code::FailedPrecondition);
    let after_end = counsellor
        .change_grant(change(&first.name, "", "chg-5", 60))
        .await
        .expect_err("ended grants do not change");
    assert_eq!(
        violations(&after_end),
        [("R-RV-11".to_owned(), "name".to_owned())]
    );
    let versions = versions_of(&mut counsellor, &first.name).await;
    assert_eq!(range(&versions[0]), (date(2026, 12, 1), date(2027, 2, 15)));
    assert!(versions[1].withdrawn, "{versions:?}");
    let ended_list = counsellor
        .list_grants(ListGrantsRequest {
            state: GrantState::Ended as i32,
            ..list(0, "")
        })
        .await
        .expect("ended")
        .into_inner();
    assert_eq!(ended_list.grants.len(), 1);

    // The feed carries both, with what matching, time and follow-up need and no CPR.
    let events = payloads(&running, RINGSTED, &["GrantChanged", "GrantEnded"], 2).await;
    let grant_changed: GrantChanged = decoded(&events[0]);
    assert_eq!(grant_changed.grant, first.name);
    assert_eq!(grant_changed.minutes_per_week, 120);
    assert_eq!(grant_changed.previous_minutes_per_week, 180);
    assert_eq!(grant_changed.effective_from, date(2027, 3, 1));
    assert_eq!(grant_changed.person, first.person);
    let grant_ended: GrantEnded = decoded(&events[1]);
    assert_eq!(grant_ended.end_date, date(2027, 2, 15));
    assert_eq!(grant_ended.reason(), GrantEndReason::PurposeMet);
    assert_eq!(
        grant_ended.withdrawn_versions,
        [format!("{}/versions/v2", first.name)]
    );
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn concurrent_changes_on_one_etag_make_exactly_one_version() {
    let (_db, running, mut counsellor) = ringsted_counsellor().await;
    let grant = granted(&mut counsellor, "010114-4234", "C-1", None).await;
    let calls = (0..8).map(|i| {
        let mut client = counsellor.clone();
        let request = change(&grant.name, &grant.etag, &format!("race-{i}"), 60 + i);
        tokio::spawn(async move { client.change_grant(request).await })
    });
    let mut won = 0;
    for call in calls.collect::<Vec<_>>() {
        match call.await.expect("task") {
            Ok(_) => won += 1,
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert_eq!(won, 1);
    let versions = versions_of(&mut counsellor, &grant.name).await;
    assert_eq!(versions.len(), 2);
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn a_compulsory_arrangement_is_not_ended_early_by_the_counsellor_alone() {
    let (_db, running, mut counsellor) = ringsted_counsellor().await;
    let grant = granted(
        &mut counsellor,
        "010114-4234",
        "K-1",
        Some(CompulsoryCondition {
            legal_basis: "legalBases/strfl-74a".into(),
            reference: "Anklagemyndigheden 4100-81234".into(),
            end_date: date(2027, 6, 30),
        }),
    )
    .await;
    assert_eq!(grant.compulsory_until, date(2027, 6, 30));
    let alone = counsellor
        .end_grant(end(&grant.name, GrantEndReason::CannotBeMet))
        .await
        .expect_err("R-RV-4");
    assert_eq!(
        violations(&alone),
        [
            ("R-RV-4".to_owned(), "approval_level".to_owned()),
            ("R-RV-4".to_owned(), "authority_reference".to_owned())
        ]
    );
    let ended = counsellor
        .end_grant(EndGrantRequest {
            approval_level: ApprovalLevel::TeamLeader as i32,
            authority_reference: "Anklagemyndigheden 4100-81234, brev af 10.2.2027".into(),
            ..end(&grant.name, GrantEndReason::CannotBeMet)
        })
        .await
        .expect("ended with the team leader and the prosecution's agreement")
        .into_inner();
    assert_eq!(ended.end_approval_level(), ApprovalLevel::TeamLeader);
    assert!(
        ended
            .end_authority_reference
            .starts_with("Anklagemyndigheden")
    );
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn every_bad_field_of_the_grant_methods_is_named() {
    let (_db, running, mut counsellor) = ringsted_counsellor().await;
    let grant = granted(&mut counsellor, "010114-4234", "F-1", None).await;
    let good = change(&grant.name, "", "bad-1", 120);
    let mask = |paths: &[&str]| {
        Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        })
    };
    let long = "x".repeat(4001);
    let changes: Vec<(&str, ChangeGrantRequest)> = vec![
        (
            "name",
            ChangeGrantRequest {
                name: "grants/1".into(),
                ..good.clone()
            },
        ),
        (
            "request_id",
            ChangeGrantRequest {
                request_id: String::new(),
                ..good.clone()
            },
        ),
        (
            "request_id",
            ChangeGrantRequest {
                request_id: "r".repeat(101),
                ..good.clone()
            },
        ),
        (
            "effective_from",
            ChangeGrantRequest {
                effective_from: None,
                ..good.clone()
            },
        ),
        (
            "effective_from",
            ChangeGrantRequest {
                effective_from: date(2027, 2, 30),
                ..good.clone()
            },
        ),
        (
            "update_mask",
            ChangeGrantRequest {
                update_mask: None,
                ..good.clone()
            },
        ),
        (
            "update_mask",
            ChangeGrantRequest {
                update_mask: mask(&["purpose"]),
                ..good.clone()
            },
        ),
        (
            "expected_end_date",
            ChangeGrantRequest {
                update_mask: mask(&["expected_end_date"]),
                ..good.clone()
            },
        ),
        (
            "approval_level",
            ChangeGrantRequest {
                approval_level: 0,
                ..good.clone()
            },
        ),
        (
            "approval_level",
            ChangeGrantRequest {
                approval_level: 99,
                ..good.clone()
            },
        ),
        (
            "justification",
            ChangeGrantRequest {
                justification: long.clone(),
                ..good.clone()
            },
        ),
        (
            "follow_up",
            ChangeGrantRequest {
                follow_up: "municipalities/183/followUps/f-1".into(),
                ..good.clone()
            },
        ),
        (
            "allowances[0].end_date",
            ChangeGrantRequest {
                allowances: vec![Allowance {
                    end_date: date(2027, 13, 1),
                    ..Allowance::default()
                }],
                ..good.clone()
            },
        ),
    ];
    for (field, request) in changes {
        let status = counsellor.change_grant(request).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(bad_field(&status), [field], "{status:?}");
    }
    let good_end = end(&grant.name, GrantEndReason::PurposeMet);
    let ends: Vec<(&str, EndGrantRequest)> = vec![
        (
            "name",
            EndGrantRequest {
                name: "municipalities/329/grants/NOT VALID".into(),
                ..good_end.clone()
            },
        ),
        (
            "end_date",
            EndGrantRequest {
                end_date: None,
                ..good_end.clone()
            },
        ),
        (
            "reason",
            EndGrantRequest {
                reason: 0,
                ..good_end.clone()
            },
        ),
        (
            "reason",
            EndGrantRequest {
                reason: 42,
                ..good_end.clone()
            },
        ),
        (
            "note",
            EndGrantRequest {
                note: long.clone(),
                ..good_end.clone()
            },
        ),
        (
            "authority_reference",
            EndGrantRequest {
                authority_reference: "r".repeat(201),
                ..good_end.clone()
            },
        ),
        (
            "approval_level",
            EndGrantRequest {
                approval_level: -3,
                ..good_end.clone()
            },
        ),
        (
            "follow_up",
            EndGrantRequest {
                follow_up: "followUps/1".into(),
                ..good_end.clone()
            },
        ),
    ];
    for (field, request) in ends {
        let status = counsellor.end_grant(request).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(bad_field(&status), [field], "{status:?}");
    }
    let lists: Vec<(&str, ListGrantsRequest)> = vec![
        (
            "parent",
            ListGrantsRequest {
                parent: "municipalities/ringsted".into(),
                ..list(0, "")
            },
        ),
        ("page_size", list(-1, "")),
        ("page_token", list(0, "not-a-token")),
        (
            "state",
            ListGrantsRequest {
                state: 7,
                ..list(0, "")
            },
        ),
        (
            "person",
            ListGrantsRequest {
                person: "persons/p-1".into(),
                ..list(0, "")
            },
        ),
        (
            "counsellor",
            ListGrantsRequest {
                counsellor: "c".repeat(201),
                ..list(0, "")
            },
        ),
    ];
    for (field, request) in lists {
        let status = counsellor.list_grants(request).await.expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(bad_field(&status), [field], "{status:?}");
    }
    for (field, request) in [
        (
            "state",
            ListReferralsRequest {
                parent: format!("municipalities/{RINGSTED}"),
                state: 77,
                ..ListReferralsRequest::default()
            },
        ),
        (
            "case",
            ListReferralsRequest {
                parent: format!("municipalities/{RINGSTED}"),
                case: "cases/c-1".into(),
                ..ListReferralsRequest::default()
            },
        ),
    ] {
        let status = counsellor
            .list_referrals(request)
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(bad_field(&status), [field], "{status:?}");
    }
    let status = counsellor
        .list_grant_versions(ListGrantVersionsRequest {
            parent: "municipalities/329/grant/g-1".into(),
            ..ListGrantVersionsRequest::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(bad_field(&status), ["parent"], "{status:?}");
    // Nothing of it was written: the grant is as it was.
    let unchanged = counsellor
        .get_grant(get_grant(&grant.name))
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(unchanged.etag, grant.etag);
    running.stop().await.expect("stop");
}
