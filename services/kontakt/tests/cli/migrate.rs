//! `kontakt migrate` and production's database roles: each service's schema as its owner, the
//! service running as its runtime role with only the rights it needs.

use super::*;

#[tokio::test]
async fn migrate_applies_the_named_services_schemas_and_only_those() {
    let db = fresh_database().await.expect("database");
    let output = kontakt()
        .args(["migrate", "referral", "timecost"])
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .expect("run kontakt migrate");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("referral: schema `referral` at migration"),
        "{stdout}"
    );
    assert!(
        stdout.contains("timecost: schema `timecost` at migration"),
        "{stdout}"
    );

    let mut conn = db.connect().await.expect("connect");
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname IN ('referral', 'matching', 'timecost', 'followup') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("schemas");
    assert_eq!(schemas, ["referral", "timecost"]);

    // Running it again is harmless.
    let again = kontakt()
        .args(["migrate"])
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .expect("run kontakt migrate");
    assert!(again.status.success());
}

/// Production's database roles: `deploy/sql/roles.sql` makes them, `kontakt migrate <service>
/// --grant-to` migrates as the schema's owner and grants the runtime role its rights, and the
/// service runs as that role: its own tables only, no DDL, and the audit log append-only.
#[tokio::test]
async fn services_run_as_roles_with_only_the_rights_they_need() {
    const SERVICES: [&str; 4] = ["referral", "matching", "timecost", "followup"];
    let db = fresh_database().await.expect("database");
    let mut admin = db.connect().await.expect("connect");
    let roles_sql = include_str!("../../../../deploy/sql/roles.sql");
    for _ in 0..2 {
        // Twice: running it again must change nothing.
        sqlx::raw_sql(sqlx::AssertSqlSafe(roles_sql))
            .execute(&mut admin)
            .await
            .expect("roles.sql runs");
    }

    let refused = kontakt()
        .args([
            "migrate",
            "referral",
            "matching",
            "--grant-to",
            "kontakt_referral",
        ])
        .env("DATABASE_URL", db.url_as("kontakt_referral_owner"))
        .output()
        .await
        .expect("run kontakt migrate");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exactly one service"));

    for service in SERVICES {
        let output = kontakt()
            .args([
                "migrate",
                service,
                "--grant-to",
                &format!("kontakt_{service}"),
            ])
            .env(
                "DATABASE_URL",
                db.url_as(&format!("kontakt_{service}_owner")),
            )
            .output()
            .await
            .expect("run kontakt migrate");
        assert!(
            output.status.success(),
            "{service}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Every table of every schema, checked for every runtime role.
    let rights: Vec<(String, String, String, bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT r.rolname::text, t.schemaname::text, t.tablename::text,
                has_table_privilege(r.rolname, format('%I.%I', t.schemaname, t.tablename), 'SELECT'),
                has_table_privilege(r.rolname, format('%I.%I', t.schemaname, t.tablename), 'INSERT'),
                has_table_privilege(r.rolname, format('%I.%I', t.schemaname, t.tablename), 'UPDATE'),
                has_table_privilege(r.rolname, format('%I.%I', t.schemaname, t.tablename), 'DELETE')
         FROM pg_roles r, pg_tables t
         WHERE r.rolname IN ('kontakt_referral', 'kontakt_matching', 'kontakt_timecost', 'kontakt_followup')
           AND t.schemaname IN ('referral', 'matching', 'timecost', 'followup')
         ORDER BY 1, 2, 3",
    )
    .fetch_all(&mut admin)
    .await
    .expect("privileges");
    assert!(
        rights.len() > 40,
        "every table is checked: {}",
        rights.len()
    );
    for (role, schema, table, select, insert, update, delete) in rights {
        let expected = if role != format!("kontakt_{schema}") {
            (false, false, false, false)
        } else if table == "audit_log" {
            (true, true, false, false)
        } else if table.starts_with("_kontakt_platform_migrations")
            || table == "_sqlx_migrations"
            // The access log's floor is the owner's to set (migration 0006).
            || table == "audit_log_floor"
        {
            (true, false, false, false)
        } else {
            (true, true, true, true)
        };
        assert_eq!(
            (select, insert, update, delete),
            expected,
            "{role} on {schema}.{table}: (select, insert, update, delete)"
        );
    }

    // As the runtime role itself: no DDL, no rewriting the audit log (refused by privilege,
    // before the append-only trigger is even asked), no other schema.
    let mut runtime =
        sqlx::PgConnection::connect_with(&db.options.clone().username("kontakt_referral"))
            .await
            .expect("connect as kontakt_referral");
    for statement in [
        "CREATE TABLE referral.intruder (id int)",
        "UPDATE referral.audit_log SET purpose = 'rewritten'",
        "DELETE FROM referral.audit_log",
        "TRUNCATE referral.audit_log",
        "DROP TABLE referral.legal_bases",
        "SELECT count(*) FROM matching.audit_log",
        "CREATE TABLE public.intruder (id int)",
    ] {
        let error = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut runtime)
            .await
            .expect_err(statement);
        assert_eq!(
            kontakt_harness::sqlstate(&error).as_deref(),
            Some("42501"),
            "{statement}: {error}"
        );
    }

    // And the service itself runs as that role, with migrations left to the job.
    let runtime_url = db.url_as("kontakt_referral");
    let (mut child, channel) = serve_referral(
        &db,
        &[
            ("DATABASE_URL", runtime_url.as_str()),
            ("KONTAKT_MIGRATE_ON_START", "false"),
        ],
    )
    .await;
    let answer = ReferralServiceClient::new(kontakt_harness::authed(
        channel,
        &kontakt_harness::admin_token(),
    ))
    .list_legal_bases(ListLegalBasesRequest::default())
    .await
    .expect("a call as the runtime role");
    assert!(!answer.get_ref().legal_bases.is_empty());
    terminate(&child);
    assert!(child.wait().await.expect("status").success());
}
