//! Arrangements already running in a municipality's old system, brought over through the API
//! (issue 28 item 3) with all four services running and following each other: a Serviceloven
//! § 52 stk. 3 nr. 6 grant from 2022 with its history comes in on the Barnets Lov basis that
//! replaced it, keeps its versions, and gets a follow-up schedule that goes on from the
//! follow-ups held there (not overdue from the start) and a matching request; the same
//! arrangement again changes nothing; a wrong one is refused field by field and leaves nothing.

use kontakt::Service;
use kontakt_harness::messages::date;
use kontakt_harness::{
    AuthedChannel, bad_request_fields, channel_to, clock_at, eventually, fresh_database,
    with_demo_data,
};
use kontakt_platform::auth::Role;
use kontakt_proto::followup::v1 as followup;
use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::*;
use tonic::Code;

/// Ringsted's arrangement in its old system: granted in February 2022 under SEL § 52 stk. 3
/// nr. 6 for a boy born 15 March 2012, 4 hours a week, 3 from June 2023, followed up three
/// times, the last on 1 September 2026.
fn ringsted_arrangement() -> ImportedArrangement {
    ImportedArrangement {
        source_system: "sbsys".into(),
        source_id: "KP-2022-017".into(),
        cpr: "150312-4821".into(),
        display_name: "Mikkel Holm".into(),
        case_external_id: "S-2022-0417".into(),
        kle_number: "27.27.24".into(),
        counsellor: "counsellor-329".into(),
        recipient: Recipient::Child as i32,
        legal_basis: "legalBases/sel-52-3-6".into(),
        purpose: "Støtte til skolegang og fritid".into(),
        needs: Some(Needs {
            competences: vec!["competences/school-support".into()],
            ..Needs::default()
        }),
        decision_date: date(2022, 2, 15),
        decider: "Birgit Sørensen".into(),
        approval_level: ApprovalLevel::TeamLeader as i32,
        start_date: date(2022, 3, 1),
        expected_end_date: date(2027, 6, 30),
        terms: vec![
            ImportedTerms {
                effective_from: date(2022, 3, 1),
                minutes_per_week: 240,
                justification: "Tæt støtte i starten".into(),
            },
            ImportedTerms {
                effective_from: date(2023, 6, 1),
                minutes_per_week: 180,
                justification: String::new(),
            },
        ],
        follow_ups_held: vec![
            date(2022, 6, 1).expect("date"),
            date(2023, 5, 15).expect("date"),
            date(2026, 9, 1).expect("date"),
        ],
        next_follow_up_date: None,
    }
}

fn import(
    m: &str,
    arrangement: ImportedArrangement,
    validate_only: bool,
) -> ImportArrangementRequest {
    ImportArrangementRequest {
        parent: format!("municipalities/{m}"),
        arrangement: Some(arrangement),
        validate_only,
    }
}

async fn grant_count(referrals: &mut ReferralServiceClient<AuthedChannel>, m: &str) -> usize {
    referrals
        .list_grants(ListGrantsRequest {
            parent: format!("municipalities/{m}"),
            page_size: 100,
            ..ListGrantsRequest::default()
        })
        .await
        .expect("list grants")
        .into_inner()
        .grants
        .len()
}

#[tokio::test]
async fn transition_a_running_sel_arrangement_comes_over_with_its_history_and_its_schedule_goes_on()
{
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 7, 10);
    let running = with_demo_data(&db, clock).await;
    let mut importer = ReferralServiceClient::new(channel_to(
        &running,
        Service::Referral,
        &[Role::Admin],
        "329",
    ));
    let before = grant_count(&mut importer, "329").await;

    // A dry run checks everything and keeps nothing.
    let checked = importer
        .import_arrangement(import("329", ringsted_arrangement(), true))
        .await
        .expect("validate only")
        .into_inner();
    assert!(
        checked.validated_only && checked.grant.is_empty(),
        "{checked:?}"
    );
    assert_eq!(checked.legal_basis, "legalBases/bl-32-1-3");
    assert_eq!(grant_count(&mut importer, "329").await, before);

    let done = importer
        .import_arrangement(import("329", ringsted_arrangement(), false))
        .await
        .expect("import")
        .into_inner();
    assert!(!done.already_imported);
    // Barnets Lov's transition: the SEL basis as decided, the grant on what replaced it.
    assert_eq!(done.legal_basis, "legalBases/bl-32-1-3");
    let grant = importer
        .get_grant(GetGrantRequest {
            name: done.grant.clone(),
        })
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(grant.legal_basis, "legalBases/bl-32-1-3");
    assert_eq!(grant.minutes_per_week, 180, "the terms in force today");
    assert_eq!(grant.start_date, date(2022, 3, 1));
    let versions = importer
        .list_grant_versions(ListGrantVersionsRequest {
            parent: done.grant.clone(),
            ..ListGrantVersionsRequest::default()
        })
        .await
        .expect("versions")
        .into_inner()
        .versions;
    assert_eq!(
        versions
            .iter()
            .map(|v| (
                v.minutes_per_week,
                v.effective.as_ref().and_then(|e| e.start)
            ))
            .collect::<Vec<_>>(),
        [(240, date(2022, 3, 1)), (180, date(2023, 6, 1))]
    );
    assert!(
        versions[0].decider.starts_with("sbsys:"),
        "{:?}",
        versions[0]
    );

    // The same arrangement again: what the first import made, nothing more.
    let again = importer
        .import_arrangement(import("329", ringsted_arrangement(), false))
        .await
        .expect("import again")
        .into_inner();
    assert!(again.already_imported);
    assert_eq!(
        (&again.grant, &again.person, &again.case),
        (&done.grant, &done.person, &done.case)
    );
    assert_eq!(grant_count(&mut importer, "329").await, before + 1);
    // Other content under the same old id is not a retry.
    let changed = ImportedArrangement {
        purpose: "Noget andet".into(),
        ..ringsted_arrangement()
    };
    let status = importer
        .import_arrangement(import("329", changed, false))
        .await
        .expect_err("other content, same id");
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    // Follow-up: the three held in the old system are history, and the next is due six months
    // (Ringsted's interval) after the last one, 1 March 2027: not overdue from the start.
    let mut followups = FollowUpServiceClient::new(channel_to(
        &running,
        Service::Followup,
        &[Role::Counsellor],
        "329",
    ));
    let listed = eventually("the imported grant's schedule", || {
        let mut client = followups.clone();
        let parent = done.grant.clone();
        async move {
            let list = client
                .list_follow_ups(followup::ListFollowUpsRequest { parent })
                .await
                .ok()?
                .into_inner()
                .follow_ups;
            (!list.is_empty()).then_some(list)
        }
    })
    .await;
    let held: Vec<_> = listed
        .iter()
        .filter(|f| f.state == followup::FollowUpState::Completed as i32)
        .map(|f| f.completed_date)
        .collect();
    assert_eq!(
        held,
        [date(2022, 6, 1), date(2023, 5, 15), date(2026, 9, 1)]
    );
    let open: Vec<_> = listed
        .iter()
        .filter(|f| f.state != followup::FollowUpState::Completed as i32)
        .collect();
    assert_eq!(open.len(), 1, "{listed:?}");
    assert_eq!(open[0].due_date, date(2027, 3, 1));
    assert_eq!(
        open[0].state,
        followup::FollowUpState::Scheduled as i32,
        "{:?}",
        open[0]
    );
    let due_now = followups
        .list_due_follow_ups(followup::ListDueFollowUpsRequest {
            parent: "municipalities/329".into(),
            ..Default::default()
        })
        .await
        .expect("due")
        .into_inner()
        .follow_ups;
    assert!(
        due_now.iter().all(|f| f.grant != done.grant),
        "nothing of the imported grant is due today: {due_now:?}"
    );

    // Matching: a request with today's hours, for the coordinator to staff (or `ctl import` to
    // assign the contact person the old system had).
    let mut coordinator = MatchingServiceClient::new(channel_to(
        &running,
        Service::Matching,
        &[Role::Coordinator],
        "329",
    ));
    let request_name = done.grant.replacen("/grants/", "/matchingRequests/", 1);
    let request = eventually("the imported grant's matching request", || {
        let mut client = coordinator.clone();
        let name = request_name.clone();
        async move {
            client
                .get_matching_request(matching::GetMatchingRequestRequest { name })
                .await
                .ok()
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    assert_eq!(request.minutes_per_week, 180);
    let assigned = coordinator
        .assign_contact_person(matching::AssignContactPersonRequest {
            matching_request: request_name.clone(),
            contact_person: "serviceUnits/ringsted/contactPersons/sofie-lund".into(),
            start_date: date(2026, 12, 7),
            minutes_per_week: 0,
            request_id: "import-sbsys-KP-2022-017".into(),
        })
        .await
        .expect("the old system's contact person assigned")
        .into_inner();
    assert_eq!(assigned.minutes_per_week, 180);
}

#[tokio::test]
async fn transition_a_wrong_arrangement_is_refused_field_by_field_and_leaves_nothing() {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 7, 10);
    let running = with_demo_data(&db, clock).await;
    let mut admin = ReferralServiceClient::new(channel_to(
        &running,
        Service::Referral,
        &[Role::Admin],
        "329",
    ));
    let before = grant_count(&mut admin, "329").await;
    let refused = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        bad_request_fields(&status)
    };

    // Ended already, terms that do not start with the grant, a follow-up in the future.
    let wrong = ImportedArrangement {
        expected_end_date: date(2026, 6, 30),
        terms: vec![ImportedTerms {
            effective_from: date(2022, 4, 1),
            minutes_per_week: 240,
            justification: String::new(),
        }],
        follow_ups_held: vec![date(2027, 1, 1).expect("date")],
        ..ringsted_arrangement()
    };
    let fields = refused(
        admin
            .import_arrangement(import("329", wrong, false))
            .await
            .expect_err("wrong"),
    );
    assert_eq!(
        fields,
        [
            "arrangement.expected_end_date",
            "arrangement.terms[0].effective_from",
            "arrangement.follow_ups_held[0]",
        ]
    );
    // R-RV-5: born 7 August 2009, the child basis ends on 6 August 2027.
    let too_long = ImportedArrangement {
        cpr: "070809-4567".into(),
        expected_end_date: date(2027, 12, 31),
        ..ringsted_arrangement()
    };
    assert_eq!(
        refused(
            admin
                .import_arrangement(import("329", too_long, false))
                .await
                .expect_err("past the 18th birthday")
        ),
        ["arrangement.expected_end_date"]
    );
    // The shapes, all at once: no CPR, no basis of the catalogue, no terms.
    let empty = ImportedArrangement {
        cpr: "12345".into(),
        legal_basis: "legalBases/no-such".into(),
        source_id: String::new(),
        terms: Vec::new(),
        ..ringsted_arrangement()
    };
    let fields = refused(
        admin
            .import_arrangement(import("329", empty, false))
            .await
            .expect_err("shapes"),
    );
    for field in [
        "arrangement.source_id",
        "arrangement.cpr",
        "arrangement.legal_basis",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    // Nothing of them was kept: the child is not a person here.
    let lookup = admin
        .lookup_person(LookupPersonRequest {
            parent: "municipalities/329".into(),
            cpr: "150312-4821".into(),
        })
        .await
        .expect_err("no person");
    assert_eq!(lookup.code(), Code::NotFound);
    assert_eq!(grant_count(&mut admin, "329").await, before);

    // Not a counsellor's own call, and not into another municipality.
    let mut counsellor = ReferralServiceClient::new(channel_to(
        &running,
        Service::Referral,
        &[Role::Counsellor],
        "329",
    ));
    let denied = counsellor
        .import_arrangement(import("329", ringsted_arrangement(), false))
        .await
        .expect_err("counsellor");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let elsewhere = admin
        .import_arrangement(import("183", ringsted_arrangement(), false))
        .await
        .expect_err("another municipality");
    assert_eq!(elsewhere.code(), Code::NotFound);
}

/// The whole streamed file.
async fn file_of(stream: tonic::Response<tonic::Streaming<ExportChunk>>) -> (String, String, i64) {
    let mut stream = stream.into_inner();
    let (mut data, mut filename, mut rows) = (Vec::new(), String::new(), 0);
    while let Some(chunk) = stream.message().await.expect("chunk") {
        data.extend(chunk.data);
        if filename.is_empty() {
            filename = chunk.filename;
        }
        rows = chunk.rows;
    }
    (String::from_utf8(data).expect("utf-8"), filename, rows)
}

#[tokio::test]
async fn statistics_the_years_preventive_measures_for_danmarks_statistik_hold_each_childs_cpr_and_each_read_is_logged()
 {
    let db = fresh_database().await.expect("database");
    let clock = clock_at(2026, 12, 7, 10);
    let running = with_demo_data(&db, clock).await;
    let as_role = |role: Role, m: &str| {
        ReferralServiceClient::new(channel_to(&running, Service::Referral, &[role], m))
    };
    as_role(Role::Admin, "329")
        .import_arrangement(import("329", ringsted_arrangement(), false))
        .await
        .expect("import");
    let mut counsellor = as_role(Role::Counsellor, "329");
    let export = |from: (i32, i32, i32), to: (i32, i32, i32)| {
        let mut request = tonic::Request::new(ExportPreventiveMeasuresRequest {
            parent: "municipalities/329".into(),
            period: Some(kontakt_proto::common::v1::DateRange {
                start: date(from.0, from.1, from.2),
                end: date(to.0, to.1, to.2),
            }),
        });
        request.metadata_mut().insert(
            "x-kontakt-purpose",
            "DST-indberetning 2026".parse().expect("metadata"),
        );
        request
    };
    let answer = counsellor
        .export_preventive_measures(export((2026, 1, 1), (2026, 12, 31)))
        .await
        .expect("export");
    let (text, filename, rows) = file_of(answer).await;
    assert_eq!(
        filename,
        "forebyggende-foranstaltninger-329-2026-01-01-2026-12-31.csv"
    );
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "kommunekode,foranstaltning_id,udsat_barn_cpr,rettet_mod,hjemmel_kode,hjemmel,startdato,slutdato"
        )
    );
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len() as i64, rows);
    let mikkel = body
        .iter()
        .find(|l| l.contains(",1503124821,"))
        .unwrap_or_else(|| panic!("the imported boy's measure in {body:?}"));
    assert!(
        mikkel.starts_with("329,municipalities/329/grants/"),
        "{mikkel}"
    );
    // Brought over from SEL § 52 stk. 3 nr. 6: reported on the basis that replaced it, from
    // its first day, still running at the period's end.
    assert!(
        mikkel.ends_with(",BARN,bl-32-1-3,\"Barnets Lov § 32, stk. 1, nr. 3\",2022-03-01,"),
        "{mikkel}"
    );
    assert!(body.iter().all(|l| l.starts_with("329,")), "{body:?}");

    // Every child in the file is a logged read with the call's purpose.
    let mut conn = db.connect().await.expect("connect");
    let logged: Vec<(String, String)> = sqlx::query_as(
        "SELECT person, purpose FROM referral.audit_log
          WHERE method = 'ExportPreventiveMeasures' ORDER BY person",
    )
    .fetch_all(&mut conn)
    .await
    .expect("audit rows");
    let children: std::collections::BTreeSet<&str> =
        body.iter().filter_map(|l| l.split(',').nth(2)).collect();
    assert_eq!(logged.len(), children.len(), "{logged:?}");
    assert!(
        logged
            .iter()
            .all(|(_, purpose)| purpose == "DST-indberetning 2026")
    );

    // More than a year, the coordinator, another municipality's counsellor: refused.
    let long = counsellor
        .export_preventive_measures(export((2025, 1, 1), (2026, 12, 31)))
        .await
        .expect_err("two years");
    assert_eq!(long.code(), Code::InvalidArgument);
    let coordinator = as_role(Role::Coordinator, "329")
        .export_preventive_measures(export((2026, 1, 1), (2026, 12, 31)))
        .await
        .expect_err("coordinator");
    assert_eq!(coordinator.code(), Code::PermissionDenied);
    let ishoj = as_role(Role::Counsellor, "183")
        .export_preventive_measures(export((2026, 1, 1), (2026, 12, 31)))
        .await
        .expect_err("Ishøj's counsellor");
    assert_eq!(ishoj.code(), Code::NotFound);
}
