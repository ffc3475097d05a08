//! Persons: the first personal data in the suite. CPR numbers go in and never come out; every
//! access is in the access log; another municipality's person does not exist for the caller.

use kontakt::Service;
use kontakt_harness::{Start, TestService, fresh_database, start, token};
use kontakt_platform::auth::Role;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{CreatePersonRequest, GetPersonRequest, LookupPersonRequest};
use tonic::Code;
use tonic_types::StatusExt as _;

const CPR: &str = "150312-4821";

fn client(
    running: &TestService,
    role: Role,
    municipality: &str,
) -> ReferralServiceClient<kontakt_harness::AuthedChannel> {
    ReferralServiceClient::new(running.as_role(role, municipality))
}

fn create(parent: &str, cpr: &str) -> CreatePersonRequest {
    CreatePersonRequest {
        parent: parent.into(),
        cpr: cpr.into(),
        display_name: "Ali Hansen".into(),
    }
}

/// Ali Hansen, registered in Ishøj with [`CPR`].
async fn registered(
    client: &mut ReferralServiceClient<kontakt_harness::AuthedChannel>,
) -> kontakt_proto::referral::v1::Person {
    client
        .create_person(create("municipalities/183", CPR))
        .await
        .expect("created")
        .into_inner()
}

fn get(name: &str) -> GetPersonRequest {
    GetPersonRequest { name: name.into() }
}

fn lookup(parent: &str, cpr: &str) -> LookupPersonRequest {
    LookupPersonRequest {
        parent: parent.into(),
        cpr: cpr.into(),
    }
}

#[tokio::test]
async fn a_person_is_created_found_by_cpr_and_read_only_inside_its_municipality() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut ishoej = client(&running, Role::Counsellor, "183");

    let person = registered(&mut ishoej).await;
    assert!(
        person.name.starts_with("municipalities/183/persons/p-"),
        "{}",
        person.name
    );
    let born = person
        .birth_date
        .and_then(|d| d.to_naive())
        .expect("birth date");
    assert_eq!(born.to_string(), "2012-03-15");
    assert!(
        !format!("{person:?}").contains("4821"),
        "the CPR number is never returned"
    );

    let got = ishoej
        .get_person(get(&person.name))
        .await
        .expect("read")
        .into_inner();
    assert_eq!(got.name, person.name);
    let found = ishoej
        .lookup_person(lookup("municipalities/183", "1503124821"))
        .await
        .expect("found by CPR in either written form")
        .into_inner();
    assert_eq!(found.name, person.name);

    // The same CPR number twice in one municipality: ALREADY_EXISTS naming the person.
    let again = ishoej
        .create_person(create("municipalities/183", CPR))
        .await
        .expect_err("duplicate");
    assert_eq!(again.code(), Code::AlreadyExists);
    let info = again
        .get_error_details()
        .error_info()
        .cloned()
        .expect("error info");
    assert_eq!(info.metadata["resource"], person.name);

    // Ringsted's counsellor cannot read or find Ishøj's child: NOT_FOUND, as if it did not exist.
    let mut ringsted = client(&running, Role::Counsellor, "329");
    let denied = ringsted
        .get_person(get(&person.name))
        .await
        .expect_err("another municipality");
    assert_eq!(denied.code(), Code::NotFound, "{denied:?}");
    let denied = ringsted
        .lookup_person(lookup("municipalities/183", CPR))
        .await
        .expect_err("another municipality");
    assert_eq!(denied.code(), Code::NotFound);
    let nobody = ringsted
        .lookup_person(lookup("municipalities/329", CPR))
        .await
        .expect_err("not registered in Ringsted");
    assert_eq!(nobody.code(), Code::NotFound);

    // A contact person may not read persons at all.
    let mut contact_person = client(&running, Role::ContactPerson, "183");
    let refused = contact_person
        .get_person(get(&person.name))
        .await
        .expect_err("role");
    assert_eq!(refused.code(), Code::PermissionDenied);
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn bad_input_names_the_field_and_never_echoes_the_digits() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut ishoej = client(&running, Role::Counsellor, "183");
    let cases = [
        (create("municipalities/183", "311312-4821"), "cpr"),
        (create("municipalities/183", "15031248"), "cpr"),
        (create("municipality/183", CPR), "parent"),
        (
            CreatePersonRequest {
                display_name: "x".repeat(201),
                ..create("municipalities/183", CPR)
            },
            "display_name",
        ),
        (
            CreatePersonRequest {
                display_name: "  ".into(),
                ..create("municipalities/183", CPR)
            },
            "display_name",
        ),
    ];
    for (request, field) in cases {
        let error = ishoej.create_person(request).await.expect_err(field);
        assert_eq!(error.code(), Code::InvalidArgument, "{field}: {error:?}");
        let details = error.get_error_details();
        assert_eq!(
            details.bad_request().expect("violations").field_violations[0].field,
            field
        );
        assert!(
            !error.message().contains("4821") && !error.message().contains("311312"),
            "{}",
            error.message()
        );
    }
    running.stop().await.expect("stop");
}

/// subject, roles, municipality, person, action, purpose, method
type AuditRow = (
    String,
    Vec<String>,
    String,
    Option<String>,
    String,
    String,
    String,
);

#[tokio::test]
async fn every_access_to_a_person_is_in_the_access_log_with_its_purpose() {
    let db = fresh_database().await.expect("database");
    let running = start(Service::Referral, &db).await.expect("service");
    let mut counsellor = client(&running, Role::Counsellor, "183");
    let person = registered(&mut counsellor).await;
    let mut read = tonic::Request::new(get(&person.name));
    read.metadata_mut().insert(
        "x-kontakt-purpose",
        "follow-up meeting".parse().expect("metadata"),
    );
    counsellor.get_person(read).await.expect("read");
    counsellor
        .lookup_person(lookup("municipalities/183", CPR))
        .await
        .expect("found");
    counsellor
        .lookup_person(lookup("municipalities/183", "010101-1234"))
        .await
        .expect_err("nobody");

    let mut conn = db.connect().await.expect("connect");
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT subject, roles, municipality, person, action, purpose, method FROM referral.audit_log ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("audit rows");
    let summary: Vec<(&str, Option<&str>, &str)> = rows
        .iter()
        .map(|r| (r.4.as_str(), r.3.as_deref(), r.5.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "CREATE",
                Some(person.name.as_str()),
                "registering a child or young person"
            ),
            ("READ", Some(person.name.as_str()), "follow-up meeting"),
            (
                "SEARCH",
                Some(person.name.as_str()),
                "finding a child or young person by CPR number"
            ),
            (
                "SEARCH",
                None,
                "finding a child or young person by CPR number"
            ),
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.0 == "test-counsellor" && r.1 == ["counsellor"] && r.2 == "183")
    );

    // The stored row holds no CPR digits, only ciphertext and a keyed index.
    let stored: (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT cpr_ciphertext, cpr_index FROM referral.persons")
            .fetch_one(&mut conn)
            .await
            .expect("row");
    for bytes in [&stored.0, &stored.1] {
        assert!(!bytes.windows(10).any(|w| w == b"1503124821"));
    }
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn an_auditor_gets_one_persons_access_log_from_all_four_services() {
    let db = fresh_database().await.expect("database");
    let mut running = Vec::new();
    for service in Service::ALL {
        running.push(start(service, &db).await.expect("service"));
    }
    let mut counsellor = client(&running[0], Role::Counsellor, "183");
    let person = registered(&mut counsellor).await;
    counsellor
        .get_person(get(&person.name))
        .await
        .expect("read");

    let endpoints: Vec<(&str, String)> = running
        .iter()
        .map(|s| (s.service.def().name, format!("http://{}", s.addr)))
        .collect();
    let auditor = token(&[Role::Auditor], &["183"]);
    let log = kontakt::access_log::gather(&endpoints, &auditor, &person.name)
        .await
        .expect("the auditor reads the log");
    let seen: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| (e.service.as_str(), e.action.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("referral", "READ", "test-counsellor"),
            ("referral", "CREATE", "test-counsellor")
        ],
        "newest first, from every service that holds something"
    );
    assert!(
        log.iter()
            .all(|e| e.time.is_some() && !e.purpose.is_empty())
    );
    assert!(kontakt::access_log::format_entry(&log[0]).contains("purpose: case work"));

    // Another municipality's auditor, and a counsellor, get nothing.
    let foreign =
        kontakt::access_log::gather(&endpoints, &token(&[Role::Auditor], &["329"]), &person.name)
            .await
            .expect_err("not their municipality");
    assert!(foreign.to_string().contains("not found"), "{foreign}");
    let counsellor_token = token(&[Role::Counsellor], &["183"]);
    let refused = kontakt::access_log::gather(&endpoints, &counsellor_token, &person.name)
        .await
        .expect_err("not an auditor");
    assert!(refused.to_string().contains("permission"), "{refused}");
    for service in running {
        service.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn after_a_key_rotation_rekeying_moves_every_cpr_number_to_the_new_key() {
    use kontakt_platform::cpr_vault::{CprKeySettings, CprVault, SealedCpr, generate_key};
    let (old_key, new_key, index_key) = (generate_key(), generate_key(), generate_key());
    let vault = |keys: String, active: &str| {
        std::sync::Arc::new(
            CprVault::from_settings(&CprKeySettings {
                cpr_keys: Some(keys),
                cpr_active_key: Some(active.into()),
                cpr_index_key: Some(index_key.clone()),
            })
            .expect("vault"),
        )
    };
    let db = fresh_database().await.expect("database");
    let before = Start::new(Service::Referral, &db)
        .cpr(vault(format!("old={old_key}"), "old"))
        .run()
        .await
        .expect("service");
    let mut counsellor = client(&before, Role::Counsellor, "183");
    for cpr in ["150312-4821", "010110-4001", "241124-4321"] {
        counsellor
            .create_person(create("municipalities/183", cpr))
            .await
            .expect("created");
    }
    before.stop().await.expect("stop");

    // Rotation: the new key becomes active; the old one stays configured until rekeyed.
    let rotated = vault(format!("old={old_key},new={new_key}"), "new");
    let pool = Service::Referral.pool(db.options.clone(), &kontakt_harness::test_db_settings());
    assert_eq!(
        kontakt_referral::reencrypt_cprs(pool.clone(), &rotated)
            .await
            .expect("rekey"),
        3
    );
    assert_eq!(
        kontakt_referral::reencrypt_cprs(pool.clone(), &rotated)
            .await
            .expect("again"),
        0
    );

    // Now the old key can be retired: every row opens with the new key alone.
    let retired = vault(format!("new={new_key}"), "new");
    let rows: Vec<(String, String, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, municipality, cpr_key_id, cpr_ciphertext FROM persons")
            .fetch_all(&pool)
            .await
            .expect("rows");
    for (id, municipality, key_id, ciphertext) in rows {
        let record = format!("municipalities/{municipality}/persons/{id}");
        assert_eq!(key_id, "new");
        retired
            .open(&SealedCpr { key_id, ciphertext }, &record)
            .expect("opens with the new key");
    }
    // And lookups still find people: the blind index did not change.
    let after = Start::new(Service::Referral, &db)
        .cpr(retired)
        .run()
        .await
        .expect("service");
    client(&after, Role::Counsellor, "183")
        .lookup_person(lookup("municipalities/183", "010110-4001"))
        .await
        .expect("found after rekeying");
    after.stop().await.expect("stop");
}
