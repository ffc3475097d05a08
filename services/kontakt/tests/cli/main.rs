//! The `kontakt` binary as an operator runs it: as a child process, driven by signals.

mod dev;
mod migrate;
mod settings;
mod signals;
mod telemetry;

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
