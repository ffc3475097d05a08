//! The access log as the database sees it: batched, durable, append-only.

use kontakt::Service;
use kontakt_harness::{fresh_database, test_db_settings};
use kontakt_platform::audit::{Action, AuditLog, Entry};
use kontakt_platform::auth::{MunicipalityCode, Principal, Role};

fn counsellor() -> Principal {
    Principal {
        subject: "counsellor-1".into(),
        display_name: String::new(),
        roles: [Role::Counsellor].into(),
        municipalities: [MunicipalityCode::parse("183").expect("code")].into(),
        service_units: Default::default(),
        contact_person: None,
    }
}

fn read_of(person: &str) -> Entry {
    Entry::new(
        &counsellor(),
        "GetPerson",
        Action::Read,
        person,
        "case work".into(),
    )
    .municipality("183")
    .person(person)
}

/// A migrated referral schema and a pool on it.
async fn referral_pool() -> sqlx::PgPool {
    let db = fresh_database().await.expect("database");
    kontakt_harness::migrated_pool(&db, Service::Referral, &test_db_settings()).await
}

#[tokio::test]
async fn concurrent_reads_share_inserts_and_every_row_is_durable_when_the_call_returns() {
    let pool = referral_pool().await;
    let log = AuditLog::start(pool.clone());
    let calls = (0..300).map(|i| {
        let log = log.clone();
        tokio::spawn(async move {
            log.record(vec![read_of(&format!("municipalities/183/persons/p{i}"))])
                .await
        })
    });
    for call in futures_util::future::join_all(calls).await {
        call.expect("join").expect("recorded");
    }
    // Every acknowledged row is there...
    let (rows, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM audit_log")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(rows, 300);
    // ...and concurrent calls shared commits instead of paying one each.
    assert!(
        transactions < rows / 2,
        "{rows} rows in {transactions} transactions"
    );

    let row: (String, Vec<String>, String, String, String, String) = sqlx::query_as(
        "SELECT subject, roles, municipality, person, action, purpose FROM audit_log WHERE person = $1",
    )
    .bind("municipalities/183/persons/p7")
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(
        row,
        (
            "counsellor-1".into(),
            vec!["counsellor".into()],
            "183".into(),
            "municipalities/183/persons/p7".into(),
            "READ".into(),
            "case work".into()
        )
    );
}

#[tokio::test]
async fn nobody_can_update_delete_or_truncate_the_audit_log() {
    let pool = referral_pool().await;
    AuditLog::start(pool.clone())
        .record(vec![read_of("municipalities/183/persons/p1")])
        .await
        .expect("recorded");
    for statement in [
        "UPDATE audit_log SET purpose = 'nothing to see'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let error = sqlx::query(statement)
            .execute(&pool)
            .await
            .expect_err(statement);
        assert_eq!(
            kontakt_harness::sqlstate(&error).as_deref(),
            Some("42501"),
            "{statement}: {error}"
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn rows_written_with_a_change_roll_back_with_it() {
    let pool = referral_pool().await;
    let mut tx = pool.begin().await.expect("begin");
    AuditLog::record_in(&mut tx, &[read_of("municipalities/183/persons/p1")])
        .await
        .expect("insert");
    tx.rollback().await.expect("rollback");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}
