//! The `kontakt` binary as an operator runs it: as a child process, driven by signals.

use std::process::Stdio;
use std::time::Duration;

use kontakt_harness::{connect, fresh_database, wait_for_health};
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{GetGrantRequest, ListLegalBasesRequest, ListPoliciesRequest};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::Connection as _;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tonic_health::pb::health_check_response::ServingStatus;

const KONTAKT: &str = env!("CARGO_BIN_EXE_kontakt");

fn kontakt() -> Command {
    let mut command = Command::new(KONTAKT);
    command
        .env("KONTAKT_HEALTH_INTERVAL", "100ms")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .envs(kontakt_harness::auth_env())
        .envs(kontakt_harness::cpr_env())
        .kill_on_drop(true);
    command
}

/// Reads stdout until `count` lines saying "<name> listening on <addr>"; returns (name, addr).
async fn listening(
    lines: &mut Lines<BufReader<ChildStdout>>,
    count: usize,
) -> Vec<(String, std::net::SocketAddr)> {
    let mut found = Vec::new();
    let read = async {
        while found.len() < count {
            let line = lines
                .next_line()
                .await
                .expect("read stdout")
                .expect("kontakt exited early");
            if let Some((before, addr)) = line.split_once(" listening on ") {
                let name = before.trim().to_owned();
                let addr = addr
                    .split_whitespace()
                    .next()
                    .expect("address")
                    .parse()
                    .expect("socket address");
                found.push((name, addr));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("kontakt printed where it listens");
    found
}

/// A different number on each call, for file names.
fn rand_suffix() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `kontakt serve referral` on `db` as a child process, SERVING, with a channel to it.
async fn serve_referral(
    db: &kontakt_harness::TestDatabase,
    env: &[(&str, &str)],
) -> (Child, tonic::transport::Channel) {
    serve_referral_on(db, env, "127.0.0.1:0").await
}

/// The same, listening on `listen` (so a restarted process is found where it was).
async fn serve_referral_on(
    db: &kontakt_harness::TestDatabase,
    env: &[(&str, &str)],
    listen: &str,
) -> (Child, tonic::transport::Channel) {
    // The referral service follows follow-up's outcomes; no follow-up service runs here, so
    // its consumer retries quietly against a closed port.
    let token_file = std::env::temp_dir().join(format!(
        "kontakt-service-token-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::write(
        &token_file,
        kontakt_harness::claims_token(kontakt_platform::auth::Claims {
            sub: "kontakt-test-services".into(),
            kontakt_roles: vec!["service".into()],
            ..kontakt_platform::auth::Claims::default()
        }),
    )
    .expect("token file");
    let mut child = kontakt()
        .args(["serve", "referral", "--listen", listen])
        .env("DATABASE_URL", &db.url)
        .env("KONTAKT_FOLLOWUP_URL", "http://127.0.0.1:1")
        .env("KONTAKT_SERVICE_TOKEN_FILE", &token_file)
        .envs(env.iter().copied())
        .spawn()
        .expect("start kontakt serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = listening(&mut lines, 1).await[0].1;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let channel = connect(addr).await.expect("connect");
    wait_for_health(
        &channel,
        "kontakt.referral.v1.ReferralService",
        ServingStatus::Serving,
        Duration::from_secs(30),
    )
    .await
    .expect("SERVING");
    (child, channel)
}

/// `kontakt dev` on `data_dir`, every service on a free port.
fn dev_on(data_dir: &std::path::Path) -> Command {
    let mut command = kontakt();
    command.arg("dev").arg("--data-dir").arg(data_dir);
    for service in ["referral", "matching", "timecost", "followup", "console"] {
        command
            .arg(format!("--{service}-listen"))
            .arg("127.0.0.1:0");
    }
    command
}

fn terminate(child: &Child) {
    let pid = Pid::from_raw(child.id().expect("still running") as i32);
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "--help"])
        .output()
        .expect("run kontakt");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "DATABASE_URL",
        "KONTAKT_LISTEN",
        "KONTAKT_DB_MAX_CONNECTIONS",
        "KONTAKT_DB_ACQUIRE_TIMEOUT",
        "KONTAKT_MIGRATE_ON_START",
        "KONTAKT_SHUTDOWN_GRACE",
        "KONTAKT_MAX_MESSAGE_BYTES",
        "KONTAKT_REQUEST_TIMEOUT",
        "KONTAKT_CONCURRENCY_LIMIT",
        "KONTAKT_HEALTH_INTERVAL",
        "KONTAKT_SCHEDULER_INTERVAL",
        "KONTAKT_OUTBOX_RETENTION",
        "KONTAKT_ACCESS_LOG_RETENTION",
        "KONTAKT_LOG_FORMAT",
        "KONTAKT_TRACE_FILTER",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "KONTAKT_REFERRAL_URL",
        "KONTAKT_FOLLOWUP_URL",
        "KONTAKT_JWKS_FILE",
        "KONTAKT_JWKS_URL",
        "KONTAKT_JWT_ISSUER",
        "KONTAKT_JWT_AUDIENCE",
        "KONTAKT_JWT_LEEWAY",
    ] {
        assert!(
            help.contains(variable),
            "`kontakt serve --help` does not mention {variable}"
        );
    }
}

#[test]
fn token_refuses_an_unknown_role_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("dir");
    let output = std::process::Command::new(KONTAKT)
        .arg("token")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--role", "superuser"])
        .output()
        .expect("run kontakt token");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown role `superuser`") && stderr.contains("contact_person"),
        "{stderr}"
    );
}

#[test]
fn serve_without_authentication_settings_refuses_to_start() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "referral", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env_remove("KONTAKT_JWKS_FILE")
        .env_remove("KONTAKT_JWT_ISSUER")
        .output()
        .expect("run kontakt");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("KONTAKT_JWKS_FILE"), "{stderr}");
}

#[test]
fn serve_without_a_database_says_what_is_missing() {
    let output = std::process::Command::new(KONTAKT)
        .args(["serve", "referral", "--listen", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run kontakt");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish_before_the_process_exits() {
    let db = fresh_database().await.expect("database");
    let (mut child, channel) = serve_referral(&db, &[]).await;

    // Hold the catalogue table so the call waits inside PostgreSQL.
    let mut lock = db.connect().await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut lock)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE referral.legal_bases IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .expect("lock");
    let mut client = ReferralServiceClient::new(kontakt_harness::authed(
        channel.clone(),
        &kontakt_harness::admin_token(),
    ));
    let call = tokio::spawn(async move {
        client
            .list_legal_bases(ListLegalBasesRequest::default())
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the call is in flight");

    terminate(&child);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        child.try_wait().expect("status").is_none(),
        "the process waits for the call"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("release");
    let answer = call
        .await
        .expect("join")
        .expect("the in-flight call completes");
    assert!(!answer.get_ref().legal_bases.is_empty());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after draining")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
}

/// A service killed outright (SIGKILL: no drain, no goodbye) under a write load and started
/// again where it was: every write it acknowledged is stored once, and the clients' retries
/// with the same request id made no second one.
#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_write_and_retries_duplicate_nothing() {
    use kontakt_harness::faults::{Tally, assert_nothing_lost, under_referral_load};
    use kontakt_platform::auth::Role;

    let db = fresh_database().await.expect("database");
    let listen = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        free.local_addr().expect("address").to_string()
    };
    let (child, channel) = serve_referral_on(&db, &[], &listen).await;
    let channel = kontakt_harness::authed(
        channel,
        &kontakt_harness::token(&[Role::Counsellor], &["183"]),
    );

    // A consumer follows the feed of the process that will be killed, while events keep being
    // published to its outbox.
    let events = kontakt_harness::events::consumer_pool(&db).await;
    let (consumer, stop_consumer) =
        kontakt_harness::events::follow(&events, listen.parse().expect("address"), Duration::ZERO);
    let breaks = kontakt_harness::events::count_breaks(&consumer);
    let (stop_publishing, publisher) = kontakt_harness::events::publish_steadily(
        &kontakt_harness::events::producer_pool(&db),
        10,
        Duration::from_millis(50),
    );

    let tally = std::sync::Arc::new(Tally::default());
    let mut restarted = None;
    let (slot, db_ref, listen_ref) = (&mut restarted, &db, &listen);
    let acknowledged = under_referral_load(channel, &tally, move || async move {
        let mut killed = child;
        let pid = Pid::from_raw(killed.id().expect("still running") as i32);
        kill(pid, Signal::SIGKILL).expect("SIGKILL");
        let status = killed.wait().await.expect("reaped");
        assert!(!status.success(), "killed, not exited: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        *slot = Some(serve_referral_on(db_ref, &[], listen_ref).await.0);
    })
    .await;
    let mut restarted = restarted.expect("restarted");

    let mut conn = db.connect().await.expect("connect");
    assert_nothing_lost("sigkill", &mut conn, &acknowledged, &tally).await;

    // The consumer caught up with the restarted process: every event once, in order.
    stop_publishing.send_replace(true);
    let published = publisher.await.expect("publisher");
    kontakt_harness::events::wait_for_cursor(&events, published, Duration::from_secs(60)).await;
    stop_consumer.send_replace(true);
    consumer.join().await;
    kontakt_harness::events::assert_events_once(
        "sigkill consumer",
        &kontakt_harness::events::applied(&events).await,
        published,
        breaks.load(std::sync::atomic::Ordering::Relaxed),
    );
    terminate(&restarted);
    let status = tokio::time::timeout(Duration::from_secs(15), restarted.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
}

#[tokio::test]
async fn dev_starts_from_nothing_without_any_postgresql_server_running_for_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    // PostgreSQL runs unprivileged when we are root; it must reach the directory.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let data_dir = dir.path().join("dev");

    let mut child = dev_on(&data_dir)
        // Nothing to fall back on: no DATABASE_URL, and libpq defaults point nowhere.
        .env_remove("DATABASE_URL")
        .env("PGHOST", "/nonexistent")
        .spawn()
        .expect("start kontakt dev");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let services = listening(&mut lines, 4).await;
    let names: Vec<_> = services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["referral", "matching", "timecost", "followup"]);
    for (name, addr) in &services {
        let channel = connect(*addr).await.expect("connect");
        let grpc_name = format!(
            "kontakt.{name}.v1.{}",
            match name.as_str() {
                "referral" => "ReferralService",
                "matching" => "MatchingService",
                "timecost" => "TimeCostService",
                _ => "FollowUpService",
            }
        );
        wait_for_health(
            &channel,
            &grpc_name,
            ServingStatus::Serving,
            Duration::from_secs(60),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
    // The banner carries an admin token that the running suite accepts.
    let admin_token = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("kontakt dev printed a token");
        if let Some(token) = line.trim().strip_prefix("export TOKEN=") {
            break token.to_owned();
        }
    };
    let referral = connect(services[0].1).await.expect("connect");
    let list = || tonic::Request::new(ListLegalBasesRequest::default());
    ReferralServiceClient::new(kontakt_harness::authed(referral.clone(), &admin_token))
        .list_legal_bases(list())
        .await
        .expect("the printed admin token works");
    let refused = ReferralServiceClient::new(referral.clone())
        .list_legal_bases(list())
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // `kontakt token` mints with the same data directory's key.
    let minted = std::process::Command::new(KONTAKT)
        .arg("token")
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "--role",
            "coordinator",
            "--municipality",
            "183",
            "--service-unit",
            "ishoejgaard",
        ])
        .output()
        .expect("kontakt token");
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let coordinator = String::from_utf8(minted.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    ReferralServiceClient::new(kontakt_harness::authed(referral.clone(), &coordinator))
        .list_legal_bases(list())
        .await
        .expect("a minted coordinator token works");
    // The demo data: the reference policies, loaded as data (DOMAIN.md §10).
    let mut admin = ReferralServiceClient::new(kontakt_harness::authed(referral, &admin_token));
    for (municipality, committee, min_age) in
        [("183", true, 0), ("187", true, 0), ("329", false, 12)]
    {
        let policies = admin
            .list_policies(ListPoliciesRequest {
                parent: format!("municipalities/{municipality}"),
                ..ListPoliciesRequest::default()
            })
            .await
            .expect("list policies")
            .into_inner()
            .policies;
        assert_eq!(policies.len(), 1, "{municipality}");
        assert_eq!(policies[0].committee_required, committee, "{municipality}");
        assert_eq!(policies[0].min_age_years, min_age, "{municipality}");
    }

    // The demo arrangements, seen through `kontakt ctl` as an operator would see them.
    let ctl_run = |args: &[&str]| {
        let token = std::process::Command::new(KONTAKT)
            .arg("token")
            .arg("--data-dir")
            .arg(&data_dir)
            .args([
                "--role",
                "counsellor",
                "--role",
                "coordinator",
                "--role",
                "finance",
                "--role",
                "admin",
            ])
            .args([
                "--municipality",
                "183",
                "--municipality",
                "187",
                "--municipality",
                "329",
            ])
            .output()
            .expect("kontakt token");
        let url = |i: usize| format!("http://{}", services[i].1);
        std::process::Command::new(KONTAKT)
            .arg("ctl")
            .args(["--referral-url", &url(0), "--matching-url", &url(1)])
            .args(["--timecost-url", &url(2), "--followup-url", &url(3)])
            .args(args)
            .env(
                "KONTAKT_TOKEN",
                String::from_utf8_lossy(&token.stdout).trim(),
            )
            .output()
            .expect("kontakt ctl")
    };
    let ctl = |args: &[&str]| {
        let out = ctl_run(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let due = ctl(&["due-follow-ups", "--municipality", "329"]);
    assert!(due.starts_with("DUE ") && due.contains("overdue"), "{due}");
    let unmet = ctl(&["unmet-demand", "--municipality", "183"]);
    assert!(unmet.contains("language-somali"), "{unmet}");
    let budget = ctl(&["budget", "--frame", "ishoj-vallensbaek"]);
    assert!(
        budget.contains("\n183  ") && budget.contains("2/3"),
        "{budget}"
    );
    let grant = due
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .expect("a grant in the table")
        .to_owned();
    let history = ctl(&["grant-history", &grant]);
    assert!(history.contains("\nv1  "), "{history}");
    // The demo's events were all applied: no consumer of the four passed one over.
    let rejects = ctl(&["rejects"]);
    assert!(
        rejects.starts_with("SERVICE ") && rejects.contains("\n0 open reject(s)"),
        "{rejects}"
    );
    let reapplied = ctl(&["reapply", "--service", "followup", "--all"]);
    assert_eq!(reapplied, "0 applied, 0 not\n");

    // Arrangements from Ishøj's old system: one bad row and nothing is imported; mended, both
    // are, with the contact person the old system had; run again, nothing new.
    let file = data_dir.join("fra-sbsys.csv");
    let header = "municipality,source_system,source_id,cpr,display_name,case_external_id,kle_number,counsellor,recipient,legal_basis,purpose,competences,decision_date,decider,approval_level,start_date,expected_end_date,terms,follow_ups_held,next_follow_up_date,contact_person";
    let first = "183,sbsys,KP-1,240312-4821,Ida Berg,S-1,27.27.24,demo-counsellor,child,sel-52-3-6,Skolegang,,2023-05-10,Birgit,team_meeting,2023-06-01,2027-06-30,2023-06-01=240;2024-08-01=180,2023-09-01;2026-10-01,2027-01-15,serviceUnits/ishoejgaard/contactPersons/jonas-berg";
    let second = |decided: &str| {
        format!(
            "183,sbsys,KP-2,120413-4822,Noah Lind,S-2,27.27.24,demo-counsellor,family,bl-32-1-3,Familiestøtte,,{decided},Birgit,own_authority,2026-11-01,2027-10-31,2026-11-01=120,,,"
        )
    };
    std::fs::write(
        &file,
        format!("{header}\n{first}\n{}\n", second("2026-13-20")),
    )
    .expect("csv");
    let refused = ctl_run(&["import", file.to_str().expect("path")]);
    let said = String::from_utf8_lossy(&refused.stderr);
    let report = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{said}");
    assert!(
        report.contains("KP-2") && report.contains("decision_date"),
        "{report}"
    );
    assert!(
        said.contains("nothing was imported: 1 of 2 rows refused"),
        "{said}"
    );
    assert!(said.contains("Checking ["), "a progress bar: {said}");
    std::fs::write(
        &file,
        format!("{header}\n{first}\n{}\n", second("2026-10-20")),
    )
    .expect("csv");
    let imported = ctl(&["import", file.to_str().expect("path")]);
    assert_eq!(
        imported,
        "Imported 2 arrangements (0 were already there); 1 contact persons assigned.\n"
    );
    let again = ctl(&["import", file.to_str().expect("path")]);
    assert_eq!(
        again,
        "Imported 0 arrangements (2 were already there); 1 contact persons assigned.\n"
    );

    let postmaster = data_dir.join("pgdata").join("postmaster.pid");
    assert!(
        postmaster.exists(),
        "the embedded PostgreSQL runs from the data directory"
    );

    terminate(&child);
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
    assert!(rest.contains("PostgreSQL stopped."), "{rest}");
    assert!(!postmaster.exists(), "PostgreSQL shut down cleanly");

    // A second start reuses the data directory.
    let mut again = dev_on(&data_dir)
        .env_remove("DATABASE_URL")
        .spawn()
        .expect("start kontakt dev again");
    let mut lines = BufReader::new(again.stdout.take().expect("stdout")).lines();
    let demo = loop {
        let line = lines.next_line().await.expect("read").expect("a demo line");
        if line.starts_with("Demo data:") {
            break line;
        }
    };
    assert!(demo.contains("(0 loaded, 3 already there)"), "{demo}");
    // 10 PL rates, the frame and 3 mileage rates, all there from the first start.
    assert!(demo.contains("(new: 0 of 14)"), "{demo}");
    let stories = lines.next_line().await.expect("read").expect("a line");
    assert_eq!(stories, "Demo arrangements: the 12 are there already.");
    let services = listening(&mut lines, 4).await;
    let channel = connect(services[0].1).await.expect("connect");
    wait_for_health(
        &channel,
        "",
        ServingStatus::Serving,
        Duration::from_secs(60),
    )
    .await
    .expect("SERVING on the reused data directory");
    terminate(&again);
    let status = tokio::time::timeout(Duration::from_secs(60), again.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "clean exit: {status}");
}

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

/// A minimal OTLP/gRPC collector: it keeps every span it is sent, and of metrics each data
/// point's metric name and attributes.
#[derive(Clone, Default)]
struct Collector {
    spans: std::sync::Arc<std::sync::Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>,
    points: std::sync::Arc<std::sync::Mutex<Vec<MetricPoint>>>,
}

#[derive(Clone, Debug)]
struct MetricPoint {
    name: String,
    attributes: Vec<(String, String)>,
}

impl MetricPoint {
    fn has(&self, key: &str, value: &str) -> bool {
        self.attributes.iter().any(|(k, v)| k == key && v == value)
    }
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
        >,
        tonic::Status,
    > {
        use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let text = |attributes: &[KeyValue]| -> Vec<(String, String)> {
            attributes
                .iter()
                .map(|kv| {
                    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                        Some(Value::StringValue(s)) => s.clone(),
                        Some(Value::IntValue(i)) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    (kv.key.clone(), value)
                })
                .collect()
        };
        let mut points = self.points.lock().expect("lock");
        let metrics = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|r| r.scope_metrics)
            .flat_map(|s| s.metrics);
        for metric in metrics {
            let attributes: Vec<Vec<(String, String)>> = match &metric.data {
                Some(Data::Histogram(h)) => {
                    h.data_points.iter().map(|p| text(&p.attributes)).collect()
                }
                Some(Data::Gauge(g)) => g.data_points.iter().map(|p| text(&p.attributes)).collect(),
                Some(Data::Sum(s)) => s.data_points.iter().map(|p| text(&p.attributes)).collect(),
                _ => Vec::new(),
            };
            points.extend(attributes.into_iter().map(|attributes| MetricPoint {
                name: metric.name.clone(),
                attributes,
            }));
        }
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService
    for Collector
{
    async fn export(
        &self,
        request: tonic::Request<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        >,
    ) -> Result<
        tonic::Response<
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
        >,
        tonic::Status,
    > {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.spans.lock().expect("lock").extend(spans);
        Ok(tonic::Response::new(Default::default()))
    }
}

#[tokio::test]
async fn spans_and_metrics_are_exported_over_otlp_and_spans_continue_the_callers_trace() {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::MetricsServiceServer;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;

    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let db = fresh_database().await.expect("database");
    let endpoint = format!("http://{collector_addr}");
    let (mut child, channel) = serve_referral(
        &db,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    )
    .await;

    // A caller that is itself part of a trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span = "00f067aa0ba902b7";
    let mut request = tonic::Request::new(ListLegalBasesRequest::default());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_span}-01")
            .parse()
            .expect("header"),
    );
    let channel_for_metrics = channel.clone();
    ReferralServiceClient::new(kontakt_harness::authed(
        channel,
        &kontakt_harness::admin_token(),
    ))
    .list_legal_bases(request)
    .await
    .expect("call");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let span = loop {
        let found = collector
            .spans
            .lock()
            .expect("lock")
            .iter()
            .find(|s| s.name == "grpc.call" && hex(&s.trace_id) == trace_id)
            .cloned();
        if let Some(span) = found {
            break span;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span of the call reached the collector"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        hex(&span.parent_span_id),
        parent_span,
        "the server span is a child of the caller's"
    );

    // Metrics: a refused call is counted under its code beside the successful one; the pool's
    // use is reported; probes are not counted.
    let refused = ReferralServiceClient::new(kontakt_harness::authed(
        channel_for_metrics,
        &kontakt_harness::admin_token(),
    ))
    .get_grant(GetGrantRequest {
        name: "not a grant name".into(),
    })
    .await
    .expect_err("a malformed name is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let points = kontakt_harness::eventually("the call metrics to reach the collector", || {
        let points = collector.points.clone();
        async move {
            let points = points.lock().expect("lock").clone();
            let duration = |method: &str, code: &str| {
                points.iter().any(|p| {
                    p.name == "rpc.server.duration"
                        && p.has("rpc.service", "kontakt.referral.v1.ReferralService")
                        && p.has("rpc.method", method)
                        && p.has("rpc.grpc.status_code", code)
                })
            };
            (duration("ListLegalBases", "0") && duration("GetGrant", "3")).then_some(points)
        }
    })
    .await;
    assert!(
        points
            .iter()
            .any(|p| p.name == "kontakt.db.pool.connections" && p.has("state", "idle")),
        "pool use is exported"
    );
    assert!(
        points.iter().any(|p| p.name == "kontakt.db.pool.max"),
        "pool size is exported"
    );
    assert!(
        !points
            .iter()
            .any(|p| p.has("rpc.service", "grpc.health.v1.Health")),
        "health probes are not counted"
    );

    terminate(&child);
    let status = child.wait().await.expect("status");
    assert!(status.success());
    server.abort();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Production's database roles: `deploy/sql/roles.sql` makes them, `kontakt migrate <service>
/// --grant-to` migrates as the schema's owner and grants the runtime role its rights, and the
/// service runs as that role: its own tables only, no DDL, and the audit log append-only.
#[tokio::test]
async fn services_run_as_roles_with_only_the_rights_they_need() {
    const SERVICES: [&str; 4] = ["referral", "matching", "timecost", "followup"];
    let db = fresh_database().await.expect("database");
    let mut admin = db.connect().await.expect("connect");
    let roles_sql = include_str!("../../../deploy/sql/roles.sql");
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
