//! The backup and restore drill (deploy/README.md, "Backup and restore"), on real PostgreSQL
//! servers of the test's own: the four services on cluster A with the demo data loaded and
//! traffic run (access-log reads, a grant changed just before the backup while the services
//! that follow its feed are down, so that their consumers have events still to apply); a `pg_dump` of the whole database (custom format, all schemas) taken in a
//! snapshot exported from A while A keeps running; `pg_restore` into a new cluster B; every
//! row of every table of the services' schemas compared with the snapshot (lost, duplicated);
//! the suite started on B with the CPR keys read back from the backup, every CPR number
//! decrypted there and found through the API; then the consumers on B resume from their
//! restored cursors, and the same new grant change is made on A and on B: when both have
//! settled, every table holds as many rows on B as on A, and every consumer stands at the
//! same place, so nothing was applied twice or skipped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::embedded_pg::{EmbeddedPostgres, find_binaries};
use kontakt_harness::faults::world_readable_tempdir;
use kontakt_harness::{
    Start, StartTogether, TestDatabase, TestService, admin_token, claims_token, own_postgres,
};
use kontakt_platform::auth::Role;
use kontakt_platform::clock::{Clock as _, SystemClock};
use kontakt_platform::cpr_vault::{CprKeySettings, CprVault, SealedCpr, generate_key};
use kontakt_proto::common::v1::Date;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{
    ApprovalLevel, ChangeGrantRequest, Grant, GrantState, ListGrantsRequest, LookupPersonRequest,
};
use sqlx::{Connection as _, PgConnection};

/// The database the suite runs on, in each cluster.
const DATABASE: &str = "kontakt";

/// A new cluster with an empty database for the suite.
async fn cluster(dir: &Path) -> (EmbeddedPostgres, TestDatabase) {
    let pg = own_postgres(dir).await.expect("own postgres");
    let mut admin = PgConnection::connect_with(&pg.connect_options("postgres"))
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
        .execute(&mut admin)
        .await
        .expect("create the database");
    let db = TestDatabase {
        name: DATABASE.into(),
        options: pg.connect_options(DATABASE),
        url: pg.url(DATABASE),
    };
    (pg, db)
}

/// Runs one of PostgreSQL's client programs (from the server's own installation).
async fn run(program: &'static str, args: Vec<String>) {
    let bin = find_binaries().expect("PostgreSQL binaries").join(program);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&bin)
            .args(&args)
            .output()
            .expect("run a PostgreSQL client program")
    })
    .await
    .expect("join");
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn schemas() -> Vec<String> {
    Service::ALL
        .iter()
        .map(|s| s.def().schema.to_owned())
        .collect()
}

/// The tables of the services' schemas, `schema.table`.
async fn tables(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema = ANY($1) ORDER BY 1",
    )
    .bind(schemas())
    .fetch_all(&mut *conn)
    .await
    .expect("tables")
}

/// Every row of every table: per table, the md5 of each row's text, sorted.
async fn rows(conn: &mut PgConnection) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for table in tables(conn).await {
        let hashes: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT md5(t::text) FROM {table} t ORDER BY 1"
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("rows");
        all.insert(table, hashes);
    }
    all
}

/// Rows per table.
async fn counts(conn: &mut PgConnection) -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    for table in tables(conn).await {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *conn)
                .await
                .expect("count");
        all.insert(table, n);
    }
    all
}

/// Each consumer's cursor (`schema.consumer` → last sequence) and how far its producer's
/// feed goes.
async fn cursors(conn: &mut PgConnection) -> BTreeMap<String, (i64, i64)> {
    let mut all = BTreeMap::new();
    for schema in schemas() {
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT consumer, last_sequence FROM {schema}.consumer_cursors"
        )))
        .fetch_all(&mut *conn)
        .await
        .expect("cursors");
        for (consumer, cursor) in rows {
            let producer = consumer.rsplit("-from-").next().expect("a producer");
            let head: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT coalesce(max(sequence), 0) FROM {producer}.outbox"
            )))
            .fetch_one(&mut *conn)
            .await
            .expect("head");
            all.insert(format!("{schema}.{consumer}"), (cursor, head));
        }
    }
    all
}

/// Events written to an outbox and not yet given their place on the feed.
async fn unsequenced(conn: &mut PgConnection) -> i64 {
    let mut unsequenced = 0;
    for schema in schemas() {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {schema}.outbox WHERE sequence IS NULL"
        )))
        .fetch_one(&mut *conn)
        .await
        .expect("unsequenced");
        unsequenced += n;
    }
    unsequenced
}

/// Waits until every event is sequenced and every consumer has reached its producer's head,
/// and nothing has moved for half a second (an applied event may publish another).
async fn settled(db: &TestDatabase) -> BTreeMap<String, i64> {
    let mut conn = db.connect().await.expect("connect");
    let mut last = None;
    let mut still = 0;
    for _ in 0..600 {
        let at = cursors(&mut conn).await;
        let caught_up =
            unsequenced(&mut conn).await == 0 && at.values().all(|(cursor, head)| cursor >= head);
        let now = (counts(&mut conn).await, at);
        if caught_up && last.as_ref() == Some(&now) {
            still += 1;
            if still == 5 {
                return now.0;
            }
        } else {
            still = 0;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the consumers did not settle");
}

/// (lost, duplicated) between two tables' rows, as multisets of row hashes.
fn compare(before: &[String], after: &[String]) -> (usize, usize) {
    let mut left: BTreeMap<&str, i64> = BTreeMap::new();
    for row in before {
        *left.entry(row).or_default() += 1;
    }
    for row in after {
        *left.entry(row).or_default() -= 1;
    }
    let lost = left.values().filter(|n| **n > 0).sum::<i64>();
    let duplicated = -left.values().filter(|n| **n < 0).sum::<i64>();
    (lost as usize, duplicated as usize)
}

/// Each person's resource name and sealed CPR number.
async fn sealed_cprs(db: &TestDatabase) -> Vec<(String, String, SealedCpr)> {
    let mut conn = db.connect().await.expect("connect");
    let rows: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, municipality, cpr_key_id, cpr_ciphertext FROM referral.persons ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("persons");
    rows.into_iter()
        .map(|(id, municipality, key_id, ciphertext)| {
            (
                kontakt_proto::names::person(&municipality, &id),
                municipality,
                SealedCpr { key_id, ciphertext },
            )
        })
        .collect()
}

/// Every person's CPR number decrypts with `vault` and finds that person through the API
/// (which also leaves an access-log row). Returns how many.
async fn every_cpr_opens(db: &TestDatabase, vault: &CprVault, referral: &TestService) -> usize {
    let mut client = ReferralServiceClient::new(referral.admin());
    let persons = sealed_cprs(db).await;
    for (name, municipality, sealed) in &persons {
        let cpr = vault.open(sealed, name).expect("the CPR number decrypts");
        let found = client
            .lookup_person(LookupPersonRequest {
                parent: format!("municipalities/{municipality}"),
                cpr: cpr.expose(),
            })
            .await
            .expect("found by CPR")
            .into_inner();
        assert_eq!(&found.name, name);
    }
    persons.len()
}

fn service(suite: &[TestService], service: Service) -> &TestService {
    suite
        .iter()
        .find(|s| s.service == service)
        .expect("running")
}

fn url(suite: &[TestService], s: Service) -> String {
    format!("http://{}", service(suite, s).addr)
}

/// The first active grant of Ishøj, by name.
async fn an_active_grant(referral: &TestService) -> Grant {
    let mut client = ReferralServiceClient::new(referral.admin());
    let mut grants = client
        .list_grants(ListGrantsRequest {
            parent: "municipalities/183".into(),
            page_size: 500,
            ..ListGrantsRequest::default()
        })
        .await
        .expect("grants")
        .into_inner()
        .grants;
    grants.retain(|g| g.state == GrantState::Active as i32);
    grants.sort_by(|a, b| a.name.cmp(&b.name));
    grants.into_iter().next().expect("an active demo grant")
}

/// The counsellor changes `grant` to `minutes` a week from `from`: GrantChanged on the feed.
async fn change(referral: &TestService, grant: &Grant, request_id: &str, minutes: i32, from: Date) {
    ReferralServiceClient::new(referral.as_role(Role::Counsellor, "183"))
        .change_grant(ChangeGrantRequest {
            name: grant.name.clone(),
            request_id: request_id.into(),
            effective_from: Some(from),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["minutes_per_week".into()],
            }),
            minutes_per_week: minutes,
            // Ishøj's policy: the committee decides.
            approval_level: ApprovalLevel::Committee as i32,
            justification: "backup drill".into(),
            ..ChangeGrantRequest::default()
        })
        .await
        .expect("the grant is changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_backup_has_every_row_and_cpr_and_its_consumers_resume_once() {
    let dir = world_readable_tempdir();
    let started = std::time::Instant::now();

    // The CPR keys are a secret of their own: backed up beside the database, as the runbook says.
    let keys = CprKeySettings {
        cpr_keys: Some(format!("drill-1={}", generate_key())),
        cpr_active_key: Some("drill-1".into()),
        cpr_index_key: Some(generate_key()),
    };
    let vault = Arc::new(CprVault::from_settings(&keys).expect("keys"));

    // Cluster A: the suite, the demo, traffic.
    let (_pg_a, db_a) = cluster(&dir.path().join("a")).await;
    let mut suite_a = StartTogether::new(&Service::ALL, &db_a)
        .cpr(vault.clone())
        .run()
        .await
        .expect("suite on A");
    kontakt::demo::load(
        &url(&suite_a, Service::Referral),
        &url(&suite_a, Service::Matching),
        &url(&suite_a, Service::Timecost),
        &admin_token(),
    )
    .await
    .expect("the demo reference data");
    let mint = |claims| Ok(claims_token(claims));
    let (referral_url, matching_url, timecost_url) = (
        url(&suite_a, Service::Referral),
        url(&suite_a, Service::Matching),
        url(&suite_a, Service::Timecost),
    );
    let today = SystemClock.today();
    let made = kontakt::demo::arrangements::load(
        &kontakt::demo::arrangements::Urls {
            referral: &referral_url,
            matching: &matching_url,
            timecost: &timecost_url,
        },
        &kontakt::demo::arrangements::Tokens { mint: &mint },
        today,
    )
    .await
    .expect("the demo arrangements");
    assert_eq!(made, kontakt::demo::arrangements::COUNT);
    settled(&db_a).await;
    every_cpr_opens(&db_a, &vault, service(&suite_a, Service::Referral)).await;
    let grant = an_active_grant(service(&suite_a, Service::Referral)).await;
    let in_a_week = today + chrono::Days::new(7);
    let from = |d: chrono::NaiveDate| {
        use chrono::Datelike as _;
        Date {
            year: d.year(),
            month: d.month() as i32,
            day: d.day() as i32,
        }
    };
    // The grant is changed and the backup taken while the services following the referral
    // service's feed are down (a rolling update, say), so the backup holds events their
    // consumers have yet to apply.
    let addrs: Vec<(Service, SocketAddr)> = suite_a.iter().map(|s| (s.service, s.addr)).collect();
    let followers = [Service::Matching, Service::Timecost, Service::Followup];
    let (down, up): (Vec<_>, Vec<_>) = suite_a
        .into_iter()
        .partition(|s| followers.contains(&s.service));
    suite_a = up;
    for stopped in down {
        stopped.stop().await.expect("stop");
    }
    change(
        service(&suite_a, Service::Referral),
        &grant,
        "drill-before",
        grant.minutes_per_week + 30,
        from(in_a_week),
    )
    .await;

    // The backup: pg_dump of the whole database in a snapshot exported from A, so that what
    // it holds can be compared row by row while A keeps running.
    kontakt_harness::eventually("the change's event on the feed", || {
        let db = db_a.clone();
        async move {
            let mut conn = db.connect().await.ok()?;
            (unsequenced(&mut conn).await == 0).then_some(())
        }
    })
    .await;
    let backup = dir.path().join("backup");
    std::fs::create_dir(&backup).expect("backup dir");
    std::fs::write(
        backup.join("cpr-keys.env"),
        format!(
            "KONTAKT_CPR_KEYS={}\nKONTAKT_CPR_ACTIVE_KEY={}\nKONTAKT_CPR_INDEX_KEY={}\n",
            keys.cpr_keys.as_deref().unwrap_or_default(),
            keys.cpr_active_key.as_deref().unwrap_or_default(),
            keys.cpr_index_key.as_deref().unwrap_or_default(),
        ),
    )
    .expect("the key backup");
    let dump = backup.join("kontakt.dump");
    let mut snapshot = db_a.connect().await.expect("connect");
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut snapshot)
        .await
        .expect("begin");
    let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut snapshot)
        .await
        .expect("snapshot");
    let backed_up = rows(&mut snapshot).await;
    // Events on the feeds past their consumers' cursors in the backup: B's consumers resume
    // with these (some may be of types they pass over).
    let pending: i64 = cursors(&mut snapshot)
        .await
        .values()
        .map(|(cursor, head)| (head - cursor).max(0))
        .sum();
    run(
        "pg_dump",
        vec![
            "--format=custom".into(),
            format!("--snapshot={id}"),
            format!("--file={}", dump.display()),
            format!("--dbname={}", db_a.url),
        ],
    )
    .await;
    sqlx::raw_sql("COMMIT")
        .execute(&mut snapshot)
        .await
        .expect("commit");
    let dump_bytes = std::fs::metadata(&dump).expect("the dump").len();
    for follower in followers {
        let (_, addr) = addrs
            .iter()
            .find(|(s, _)| *s == follower)
            .expect("its address");
        let again = Start::new(follower, &db_a)
            .on(*addr)
            .following(&addrs)
            .run()
            .await
            .expect("started again on A");
        suite_a.push(again);
    }

    // Cluster B: a new server, the dump restored into it.
    let (_pg_b, db_b) = cluster(&dir.path().join("b")).await;
    run(
        "pg_restore",
        vec![
            "--exit-on-error".into(),
            "--single-transaction".into(),
            format!("--dbname={}", db_b.url),
            dump.display().to_string(),
        ],
    )
    .await;
    let restored_rows = rows(&mut db_b.connect().await.expect("connect")).await;
    assert_eq!(
        backed_up.keys().collect::<Vec<_>>(),
        restored_rows.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    let (mut lost, mut duplicated) = (0, 0);
    for (table, before) in &backed_up {
        let (l, d) = compare(before, &restored_rows[table]);
        assert_eq!((l, d), (0, 0), "{table}: lost {l}, duplicated {d}");
        lost += l;
        duplicated += d;
    }
    let restored: usize = restored_rows.values().map(Vec::len).sum();
    let people = |table: &str| restored_rows.get(table).map_or(0, Vec::len);
    println!(
        "backup: dump of {dump_bytes} bytes restored: persons={} grants={} time_entries={} follow_ups={} access_log={} outbox={} cursors={}",
        people("referral.persons"),
        people("referral.grants"),
        people("timecost.time_entries"),
        people("followup.follow_ups"),
        schemas()
            .iter()
            .map(|s| people(&format!("{s}.audit_log")))
            .sum::<usize>(),
        schemas()
            .iter()
            .map(|s| people(&format!("{s}.outbox")))
            .sum::<usize>(),
        schemas()
            .iter()
            .map(|s| people(&format!("{s}.consumer_cursors")))
            .sum::<usize>(),
    );

    // The suite on B with the keys read back from the backup; its consumers resume.
    let restored_keys = std::fs::read_to_string(backup.join("cpr-keys.env")).expect("keys");
    let setting = |name: &str| {
        restored_keys
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let vault_b = Arc::new(
        CprVault::from_settings(&CprKeySettings {
            cpr_keys: setting("KONTAKT_CPR_KEYS"),
            cpr_active_key: setting("KONTAKT_CPR_ACTIVE_KEY"),
            cpr_index_key: setting("KONTAKT_CPR_INDEX_KEY"),
        })
        .expect("the backed-up keys"),
    );
    let suite_b = StartTogether::new(&Service::ALL, &db_b)
        .cpr(vault_b.clone())
        .run()
        .await
        .expect("suite on B");
    // Without its keys a backup's CPR numbers are unreadable.
    let other = CprVault::from_settings(&CprKeySettings {
        cpr_keys: Some(format!("drill-1={}", generate_key())),
        cpr_active_key: Some("drill-1".into()),
        cpr_index_key: Some(generate_key()),
    })
    .expect("other keys");
    let persons = sealed_cprs(&db_b).await;
    assert!(
        persons
            .iter()
            .all(|(name, _, sealed)| other.open(sealed, name).is_err())
    );
    let cprs = every_cpr_opens(&db_b, &vault_b, service(&suite_b, Service::Referral)).await;
    every_cpr_opens(&db_a, &vault, service(&suite_a, Service::Referral)).await;

    // The same new change on both; then B must hold what A holds.
    settled(&db_b).await;
    for (suite, db) in [(&suite_a, &db_a), (&suite_b, &db_b)] {
        change(
            service(suite, Service::Referral),
            &grant,
            "drill-after",
            grant.minutes_per_week + 60,
            from(in_a_week + chrono::Days::new(7)),
        )
        .await;
        settled(db).await;
    }
    let (at_a, at_b) = (settled(&db_a).await, settled(&db_b).await);
    for (table, a) in &at_a {
        let b = at_b.get(table).copied().unwrap_or_default();
        lost += (a - b).max(0) as usize;
        duplicated += (b - a).max(0) as usize;
    }
    let positions = |db: &TestDatabase| {
        let db = db.clone();
        async move {
            let mut conn = db.connect().await.expect("connect");
            cursors(&mut conn)
                .await
                .into_iter()
                .map(|(consumer, (cursor, _))| (consumer, cursor))
                .collect::<BTreeMap<_, _>>()
        }
    };
    let (cursors_a, cursors_b) = (positions(&db_a).await, positions(&db_b).await);
    println!(
        "backup: restored={restored} lost={lost} duplicated={duplicated} (tables={} rows={restored} cprs={cprs} consumers={} pending_at_backup={pending} in {:.1} s)",
        restored_rows.len(),
        cursors_b.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(at_a, at_b, "after the same change, B holds what A holds");
    assert_eq!(cursors_a, cursors_b, "every consumer stands where A's does");
    assert_eq!((lost, duplicated), (0, 0));
    assert_eq!(cprs, persons.len());

    for running in suite_b.into_iter().chain(suite_a) {
        running.stop().await.expect("stop");
    }
}
