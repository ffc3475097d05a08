//! The four services as separate `kontakt serve` processes on the benchmark's database, with
//! authentication (a dev signing key's JWKS) and the audit log on, as in production.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use kontakt_platform::auth::dev_key::{DEV_ISSUER, DevKey};
use kontakt_platform::auth::{Claims, Role};
use kontakt_platform::cpr_vault;
use tokio::process::{Child, Command};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

pub const SERVICES: [&str; 4] = ["referral", "matching", "timecost", "followup"];

pub struct Cluster {
    pub urls: BTreeMap<&'static str, String>,
    pub key: DevKey,
    processes: Vec<(&'static str, Child)>,
    logs: PathBuf,
}

impl Cluster {
    /// Starts the four services on `database_url` (migrating on start) and waits until each
    /// reports SERVING. Their logs go to `out/<service>.log`.
    pub async fn start(kontakt: &Path, database_url: &str, out: &Path) -> anyhow::Result<Self> {
        let keys = out.join("keys");
        let key = DevKey::load_or_create(&keys).map_err(anyhow::Error::msg)?;
        let service_token = key
            .mint(
                Claims {
                    sub: "bench-services".into(),
                    kontakt_roles: vec![Role::Service.as_str().into()],
                    ..Claims::default()
                },
                Duration::from_secs(24 * 3600),
            )
            .map_err(anyhow::Error::msg)?;
        let token_file = keys.join("service-token");
        std::fs::write(&token_file, service_token)?;

        let ports = free_ports(SERVICES.len())?;
        let urls: BTreeMap<_, _> = SERVICES
            .iter()
            .zip(&ports)
            .map(|(s, p)| (*s, format!("http://127.0.0.1:{p}")))
            .collect();
        let mut processes = Vec::new();
        for (service, port) in SERVICES.iter().zip(&ports) {
            let log = std::fs::File::create(out.join(format!("{service}.log")))?;
            let mut command = Command::new(kontakt);
            command
                .args(["serve", service])
                .env_clear()
                .env("DATABASE_URL", database_url)
                .env("KONTAKT_LISTEN", format!("127.0.0.1:{port}"))
                .env("KONTAKT_JWKS_FILE", key.jwks_path())
                .env("KONTAKT_JWT_ISSUER", DEV_ISSUER)
                .env("KONTAKT_SERVICE_TOKEN_FILE", &token_file)
                .env("KONTAKT_SHUTDOWN_GRACE", "2s")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                // The services log to stdout.
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true);
            for (peer, url) in &urls {
                command.env(format!("KONTAKT_{}_URL", peer.to_uppercase()), url);
            }
            if *service == "referral" {
                // Throwaway keys: the benchmark's people are made up and dropped with the database.
                command
                    .env(
                        "KONTAKT_CPR_KEYS",
                        format!("k1={}", cpr_vault::generate_key()),
                    )
                    .env("KONTAKT_CPR_ACTIVE_KEY", "k1")
                    .env("KONTAKT_CPR_INDEX_KEY", cpr_vault::generate_key());
            }
            let child = command
                .spawn()
                .with_context(|| format!("cannot start {}", kontakt.display()))?;
            processes.push((*service, child));
        }
        let cluster = Self {
            urls,
            key,
            processes,
            logs: out.to_owned(),
        };
        for service in SERVICES {
            cluster.wait_serving(service).await?;
        }
        Ok(cluster)
    }

    async fn wait_serving(&self, service: &str) -> anyhow::Result<()> {
        let channel = kontakt::client::channel(&self.urls[service])?;
        let mut health = HealthClient::new(channel);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let answer = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            if matches!(&answer, Ok(r) if r.get_ref().status == ServingStatus::Serving as i32) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "{service} did not report SERVING within 2 minutes; see {}",
                    self.logs.join(format!("{service}.log")).display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The process ids, by service.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.processes
            .iter()
            .filter_map(|(s, c)| c.id().map(|pid| (*s, pid)))
            .collect()
    }

    /// A token signed by the key the services trust.
    pub fn token(&self, claims: Claims) -> anyhow::Result<String> {
        self.key
            .mint(claims, Duration::from_secs(8 * 3600))
            .map_err(anyhow::Error::msg)
    }

    /// A token for `role` acting for `municipalities`.
    pub fn role_token(&self, role: Role, municipalities: &[&str]) -> anyhow::Result<String> {
        self.token(Claims {
            sub: format!("bench-{}", role.as_str()),
            name: format!("Bench {}", role.as_str()),
            kontakt_roles: vec![role.as_str().into()],
            kontakt_municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
            ..Claims::default()
        })
    }

    /// Loads the demo data (`kontakt demo`): the templates the data at scale is made from.
    pub async fn load_demo(&self, kontakt: &Path) -> anyhow::Result<()> {
        let output = Command::new(kontakt)
            .arg("demo")
            .arg(format!("--referral-url={}", self.urls["referral"]))
            .arg(format!("--matching-url={}", self.urls["matching"]))
            .arg(format!("--timecost-url={}", self.urls["timecost"]))
            .arg("--data-dir")
            .arg(self.key.jwks_path().parent().unwrap_or(Path::new(".")))
            .env("RUST_LOG", "warn")
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "kontakt demo failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// Stops every service with SIGTERM and waits for them.
    pub async fn stop(mut self) {
        for (service, child) in &self.processes {
            terminate(service, child);
        }
        for (service, child) in &mut self.processes {
            reap(service, child, &self.logs.join(format!("{service}.log"))).await;
        }
    }
}

/// Sends SIGTERM to a `kontakt serve` process (a graceful stop).
pub fn terminate(name: &str, child: &Child) {
    if let Some(pid) = child.id()
        && let Err(err) = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
    {
        eprintln!("warning: cannot stop {name} (pid {pid}): {err}");
    }
}

/// Waits for a process told to stop, killing it after 10 s; says so when it did not exit
/// cleanly (its log is `log`).
pub async fn reap(name: &str, child: &mut Child, log: &Path) {
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => eprintln!(
            "warning: {name} exited with {status}; see {}",
            log.display()
        ),
        Ok(Err(err)) => eprintln!("warning: waiting for {name}: {err}"),
        Err(_) => {
            eprintln!("warning: {name} did not stop within 10 s of SIGTERM; killing it");
            if let Err(err) = child.kill().await {
                eprintln!("warning: cannot kill {name}: {err}");
            }
        }
    }
}

/// Ports free right now (the services are told them before they start, so each knows its
/// peers' addresses).
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()?)
}
