//! The ceilings measured in the same run: PostgreSQL's own (`pgbench -S`, `pgbench` tpcb-like)
//! and an RPC's (a bare tonic unary call served by the benchmark itself).

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

/// A bare unary RPC (grpc.health.v1 Check) served by this process on loopback, called with
/// the same load plan as the workloads: what tonic, HTTP/2 and the loopback cost at best.
pub async fn bare_rpc(plan: Plan) -> anyhow::Result<Stats> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let client = HealthClient::new(kontakt::client::channel(&format!("http://{addr}"))?);
    let stats = load::closed_loop(plan, move |_| {
        let mut client = client.clone();
        async move {
            client
                .check(HealthCheckRequest::default())
                .await
                .map(|_| ())
                .map_err(|s| s.to_string())
        }
    })
    .await;
    server.abort();
    Ok(stats)
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
}
