//! The ceilings measured in the same run: PostgreSQL's own (`pgbench -S`, `pgbench` tpcb-like)
//! and an RPC's (a bare tonic unary call served by the benchmark itself, called by the
//! benchmark's own client and by h2load).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::Command;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::load::{self, Plan, Stats};

/// `pgbench` against its own database on the benchmark's server.
pub struct PgBench {
    bin: PathBuf,
    /// The database's URL (a socket directory for the embedded server travels in it).
    url: String,
}

/// What a pgbench run gives.
#[derive(Clone, Copy, Debug)]
pub struct PgBenchResult {
    pub tps: f64,
    pub latency_ms: f64,
}

impl PgBench {
    /// Creates (or re-creates) `database` on `server` and fills it at `scale` (100,000 accounts
    /// per unit).
    pub async fn init(
        server: &crate::db::Server,
        database: &str,
        scale: u32,
    ) -> anyhow::Result<Self> {
        let bin = kontakt_platform::embedded_pg::find_binaries()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .join("pgbench");
        anyhow::ensure!(bin.exists(), "pgbench is not at {}", bin.display());
        crate::db::recreate_database(&server.options, database).await?;
        let bench = Self {
            bin,
            url: server.url(database),
        };
        let output = Command::new(&bench.bin)
            .args(["-i", "-q", "-s", &scale.to_string()])
            .arg(&bench.url)
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(bench)
    }

    /// `pgbench -S` (select only) when `select_only`, else the built-in tpcb-like script, with
    /// `clients` connections on two threads for `duration`.
    pub async fn run(
        &self,
        select_only: bool,
        clients: usize,
        duration: Duration,
    ) -> anyhow::Result<PgBenchResult> {
        let mut command = Command::new(&self.bin);
        if select_only {
            command.arg("-S");
        }
        let output = command
            .args(["-n", "-c", &clients.to_string(), "-j", "2", "-T"])
            .arg(duration.as_secs().max(1).to_string())
            .arg(&self.url)
            .output()
            .await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "pgbench failed: {}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_pgbench(&stdout).with_context(|| format!("unexpected pgbench output:\n{stdout}"))
    }
}

/// Reads `latency average = 1.234 ms` and `tps = 5678.9 (without initial connection time)`.
fn parse_pgbench(stdout: &str) -> anyhow::Result<PgBenchResult> {
    let number_after = |prefix: &str| -> anyhow::Result<f64> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .with_context(|| format!("no `{prefix}` line"))?;
        Ok(line[prefix.len()..]
            .split_whitespace()
            .next()
            .context("no number")?
            .parse()?)
    };
    Ok(PgBenchResult {
        tps: number_after("tps = ")?,
        latency_ms: number_after("latency average = ")?,
    })
}

/// A bare unary RPC (grpc.health.v1 Check) served by this process on loopback: what tonic,
/// HTTP/2 and the loopback cost at best. The benchmark's own client and `h2load` (a C client
/// whose own cost is small) both call it, so the two figures say how much of a workload's
/// figure the load generator itself takes.
pub struct BareServer {
    pub addr: std::net::SocketAddr,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl BareServer {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (_reporter, health) = tonic_health::server::health_reporter();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        Ok(Self { addr, server })
    }

    /// The benchmark's own client with the workloads' load plan and connections (one per four
    /// streams).
    pub async fn call(&self, plan: Plan) -> anyhow::Result<Stats> {
        let url = format!("http://{}", self.addr);
        let clients = (0..connections(plan.streams))
            .map(|_| Ok(HealthClient::new(kontakt::client::channel(&url)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(load::closed_loop(plan, move |seq: u64| {
            let mut client = clients[seq as usize % clients.len()].clone();
            async move {
                client
                    .check(HealthCheckRequest::default())
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        })
        .await)
    }

    /// `h2load` with as many calls in flight on as many connections, for as long.
    pub async fn h2load(&self, plan: Plan) -> anyhow::Result<H2loadResult> {
        let body = std::env::temp_dir().join(format!("kontakt-bench-{}.grpc", std::process::id()));
        // A gRPC frame: uncompressed, length 0 (an empty HealthCheckRequest).
        std::fs::write(&body, [0u8, 0, 0, 0, 0])?;
        let conns = connections(plan.streams);
        let out = Command::new("h2load")
            .arg("--warm-up-time")
            .arg(format!("{}", plan.warmup.as_secs().max(1)))
            .arg("-D")
            .arg(format!("{}", plan.duration.as_secs().max(1)))
            .arg("-c")
            .arg(conns.to_string())
            .arg("-m")
            .arg(plan.streams.div_ceil(conns).to_string())
            .arg("-d")
            .arg(&body)
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .arg(format!("http://{}/grpc.health.v1.Health/Check", self.addr))
            .output()
            .await
            .context("running h2load (Debian's nghttp2-client; bench/run installs it)")?;
        let _ = std::fs::remove_file(&body);
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(out.status.success(), "h2load failed: {text}");
        parse_h2load(&text)
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One connection per four streams, as the workloads hold.
fn connections(streams: usize) -> usize {
    streams.div_ceil(4).max(1)
}

/// What an h2load run gives.
#[derive(Clone, Copy, Debug)]
pub struct H2loadResult {
    pub rps: f64,
    pub mean_ms: f64,
}

fn parse_h2load(out: &str) -> anyhow::Result<H2loadResult> {
    // "finished in 5.00s, 64971.18 req/s, 2.35MB/s"
    let rps = out
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|rest| rest.split(", ").nth(1))
        .and_then(|r| r.strip_suffix(" req/s"))
        .context("no `finished in` line")?
        .parse()?;
    // "requests: N total, N started, N done, N succeeded, F failed, ..."
    let failed: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("requests: "))
        .and_then(|rest| rest.split(", ").find_map(|p| p.strip_suffix(" failed")))
        .context("no `requests:` line")?
        .parse()?;
    anyhow::ensure!(failed == 0, "h2load: {failed} requests failed");
    // "time for request:  30us  7.17ms  231us  148us  93.04%" (min, max, mean, sd)
    let mean = out
        .lines()
        .find_map(|l| l.strip_prefix("time for request:"))
        .and_then(|rest| rest.split_whitespace().nth(2))
        .context("no `time for request` line")?;
    Ok(H2loadResult {
        rps,
        mean_ms: duration_ms(mean).with_context(|| format!("`{mean}` is not a duration"))?,
    })
}

fn duration_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pgbench_output_is_read() {
        let out = "pgbench (15.10)\ntransaction type: <builtin: select only>\nscaling factor: 10\n\
                   number of transactions actually processed: 12345\n\
                   latency average = 0.648 ms\ninitial connection time = 12.3 ms\n\
                   tps = 24691.358025 (without initial connection time)\n";
        let r = super::parse_pgbench(out).expect("parsed");
        assert!((r.tps - 24691.358025).abs() < 1e-6);
        assert!((r.latency_ms - 0.648).abs() < 1e-9);
        assert!(super::parse_pgbench("nothing").is_err());
    }

    #[test]
    fn h2load_output_is_read() {
        let out = "finished in 5.00s, 64971.18 req/s, 2.35MB/s\n\
                   requests: 324856 total, 324856 started, 324856 done, 324856 succeeded, 0 failed, 0 errored, 0 timeout\n\
                   time for request:       30us      7.17ms       231us       148us    93.04%\n";
        let r = super::parse_h2load(out).expect("parsed");
        assert!((r.rps - 64971.18).abs() < 1e-6);
        assert!((r.mean_ms - 0.231).abs() < 1e-9);
        let failing = out.replace(" 0 failed", " 3 failed");
        assert!(super::parse_h2load(&failing).is_err());
    }
}
