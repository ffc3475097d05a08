//! `kontakt-bench`: Kontakt's services at national scale, each figure a ratio to a reference
//! measured in the same run on the same machine (ENGINEERING.md, "Performance method").

mod cluster;
mod console;
mod db;
mod load;
mod references;
mod report;
mod scale;
mod screens;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Benchmarks the Kontakt services against PostgreSQL's and tonic's ceilings")]
struct Args {
    /// Smaller data and shorter runs (under 5 minutes); the full run takes under 20.
    #[arg(long)]
    quick: bool,
    /// The `kontakt` binary to run the services with (a release build).
    #[arg(long, default_value = "target/release/kontakt")]
    kontakt: PathBuf,
    /// Concurrent streams for the throughput and latency workloads (and pgbench clients).
    #[arg(long, default_value_t = 16)]
    streams: usize,
    /// Where the services' logs and the dev signing key go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Keep the benchmark database afterwards (for EXPLAIN ANALYZE and the like).
    #[arg(long)]
    keep: bool,
}

const DATABASE: &str = "kontakt_bench";
const PGBENCH_DATABASE: &str = "kontakt_pgbench";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.kontakt.exists(),
        "{} is missing: build it with `cargo build --release -p kontakt` (bench/run does)",
        args.kontakt.display()
    );
    std::fs::create_dir_all(&args.out)?;
    let size = if args.quick {
        scale::Size::QUICK
    } else {
        scale::Size::FULL
    };
    let timing = if args.quick {
        workloads::Timing {
            warmup: Duration::from_secs(2),
            duration: Duration::from_secs(5),
            screen_warmup: Duration::from_secs(1),
            screen_duration: Duration::from_secs(3),
        }
    } else {
        workloads::Timing {
            warmup: Duration::from_secs(3),
            duration: Duration::from_secs(15),
            screen_warmup: Duration::from_secs(2),
            screen_duration: Duration::from_secs(10),
        }
    };

    let out = std::path::absolute(&args.out)?;
    let server = tokio::task::block_in_place(|| db::Server::open(&out))?;
    let outcome = run(&args, &server, size, timing, &out).await;
    if !args.keep {
        warn_unless_dropped(db::drop_database(&server.options, DATABASE).await, DATABASE);
    }
    warn_unless_dropped(
        db::drop_database(&server.options, PGBENCH_DATABASE).await,
        PGBENCH_DATABASE,
    );
    tokio::task::block_in_place(|| server.stop());
    outcome
}

async fn run(
    args: &Args,
    server: &db::Server,
    size: scale::Size,
    timing: workloads::Timing,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let machine = report::Machine::here();
    eprintln!(
        "kontakt-bench: {} on {machine}",
        if args.quick { "quick run" } else { "full run" }
    );
    db::recreate_database(&server.options, DATABASE).await?;
    eprintln!("==> the four services as separate processes (auth and audit on)");
    let cluster = cluster::Cluster::start(&args.kontakt, &server.url(DATABASE), out).await?;
    let outcome = async {
        eprintln!("==> the console as a fifth process");
        let console = console::Console::start(&args.kontakt, &cluster, out).await?;
        let outcome = async {
            eprintln!("==> demo data through the API (the templates for the data at scale)");
            cluster.load_demo(&args.kontakt).await?;
            let pool = server.pool(DATABASE).await?;
            let mut bench =
                workloads::Bench::new(&cluster, &console, pool, size, timing, args.streams)?;
            bench.load_base_data().await?;
            eprintln!("==> references");
            let pgbench = references::PgBench::init(server, PGBENCH_DATABASE, 10).await?;
            bench.run_all(&pgbench).await
        }
        .await;
        console.stop().await;
        outcome
    }
    .await;
    cluster.stop().await;
    let (references, results, failures) = outcome?;
    report::print(&machine, size, args.streams, &references, &results);
    // A page that is not a page is no figure: its RESULT line is FAIL (value 0 when no call
    // answered 200) and every failure is listed here, but the figures are reported, not gated
    // (the benchmark's rule; CI counts the RESULT lines).
    if !failures.is_empty() {
        println!(
            "SCREEN ERRORS: console screens answered other than 200 OK:\n  {}",
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Teardown goes on after a failed drop, but says what it left behind.
fn warn_unless_dropped(outcome: anyhow::Result<()>, database: &str) {
    if let Err(err) = outcome {
        eprintln!("warning: the database {database} is left on the server: {err:#}");
    }
}
