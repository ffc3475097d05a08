//! The workloads, each against the services over gRPC with real tokens, and the order they
//! run in: references first, then each workload, its figure beside its reference. One file a
//! workload; what they share (channels, bearers, the load plan) is here.

mod budget;
mod list;
mod pages;
mod propagate;
mod propose;
mod read;
mod write;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike as _, NaiveDate};
use kontakt::client::{Bearer, channel};
use kontakt_platform::auth::Role;
use kontakt_proto::common::v1::Date;
use sqlx::PgPool;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::console::Console;
use crate::load::{self, Plan, Stats};
use crate::references::{self, PgBench};
use crate::report::{Outcome, Target};
use crate::scale::{self, Loaded, MUNICIPALITIES, Size};

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
    /// Each console screen's warm-up and measurement (ten screens: shorter than a workload's).
    pub screen_warmup: Duration,
    pub screen_duration: Duration,
}

/// A few connections per service, as a case system's client pool would hold.
struct Channels(Vec<Channel>);

impl Channels {
    fn new(url: &str, n: usize) -> anyhow::Result<Self> {
        Ok(Self(
            (0..n.max(1))
                .map(|_| channel(url))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn pick(&self, seq: u64) -> Channel {
        self.0[seq as usize % self.0.len()].clone()
    }
}

pub struct Bench<'a> {
    cluster: &'a Cluster,
    console: &'a Console,
    pool: PgPool,
    size: Size,
    timing: Timing,
    streams: usize,
    referral: Arc<Channels>,
    matching: Arc<Channels>,
    timecost: Arc<Channels>,
    loaded: Option<Loaded>,
}

fn authed(channel: Channel, bearer: &Bearer) -> InterceptedService<Channel, Bearer> {
    InterceptedService::new(channel, bearer.clone())
}

fn date(day: NaiveDate) -> Option<Date> {
    Some(Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    })
}

fn status_text(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// A call's answer as a load run counts it: its content does not matter, a failure's status does.
fn answered<T>(answer: Result<T, tonic::Status>) -> Result<(), String> {
    answer.map(|_| ()).map_err(status_text)
}

impl<'a> Bench<'a> {
    pub fn new(
        cluster: &'a Cluster,
        console: &'a Console,
        pool: PgPool,
        size: Size,
        timing: Timing,
        streams: usize,
    ) -> anyhow::Result<Self> {
        let connections = streams.div_ceil(4);
        Ok(Self {
            referral: Arc::new(Channels::new(&cluster.urls["referral"], connections)?),
            matching: Arc::new(Channels::new(&cluster.urls["matching"], connections)?),
            timecost: Arc::new(Channels::new(&cluster.urls["timecost"], connections)?),
            cluster,
            console,
            pool,
            size,
            timing,
            streams,
            loaded: None,
        })
    }

    fn plan(&self, streams: usize) -> Plan {
        Plan {
            streams,
            warmup: self.timing.warmup,
            duration: self.timing.duration,
        }
    }

    /// `call` in a closed loop on every stream, or in an open loop at `rate` calls a second.
    async fn at_rate<C: load::Call>(&self, rate: Option<f64>, call: C) -> Stats {
        match rate {
            None => load::closed_loop(self.plan(self.streams), call).await,
            Some(rate) => {
                load::open_loop(rate, self.timing.warmup, self.timing.duration, call).await
            }
        }
    }

    fn loaded(&self) -> &Loaded {
        self.loaded.as_ref().expect("the data is loaded first")
    }

    pub async fn load_base_data(&mut self) -> anyhow::Result<()> {
        eprintln!("==> data at scale");
        let started = Instant::now();
        self.loaded = Some(scale::load_base(&self.pool, self.size).await?);
        eprintln!("    loaded in {:.0} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    fn bearer(&self, role: Role, municipalities: &[&str]) -> anyhow::Result<Bearer> {
        Bearer::new(&self.cluster.role_token(role, municipalities)?)
    }

    /// One bearer per municipality for `role`, in `MUNICIPALITIES` order.
    fn per_municipality(&self, role: Role) -> anyhow::Result<Vec<(String, Bearer)>> {
        MUNICIPALITIES
            .iter()
            .map(|(m, _)| Ok(((*m).to_owned(), self.bearer(role, &[m])?)))
            .collect()
    }

    /// Runs everything in order. Returns the references (as printed lines), the results, and
    /// the console pages that failed (any answer but 200: the run fails once all is printed).
    pub async fn run_all(
        &mut self,
        pgbench: &PgBench,
    ) -> anyhow::Result<(Vec<String>, Vec<Outcome>, Vec<String>)> {
        let mut results = Vec::new();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = crate::report::memory(&self.cluster.pids());

        let plan = self.plan(self.streams);
        eprintln!("==> references: pgbench -S, pgbench tpcb-like, a bare tonic RPC");
        let select = pgbench
            .run(true, self.streams, self.timing.duration)
            .await?;
        let tpcb = pgbench
            .run(false, self.streams, self.timing.duration)
            .await?;
        let bare_server = references::BareServer::start().await?;
        let bare = bare_server.call(plan).await?;
        let h2load = bare_server.h2load(plan).await?;
        drop(bare_server);
        eprintln!(
            "    pgbench -S {:.0} tps, tpcb-like {:.0} tps, bare RPC {:.0} calls/s p99 {:.2} ms (h2load: {:.0} req/s)",
            select.tps,
            tpcb.tps,
            bare.throughput(),
            bare.p99(),
            h2load.rps
        );
        results.push(Outcome::throughput(
            "yardstick",
            "the benchmark's own client on the bare RPC vs h2load on the same server, as many calls in flight",
            &bare,
            h2load.rps,
            Target::AtLeast(0.8),
        ));

        eprintln!("==> budget status at {} entries", self.size.first_entries);
        let budget_small = self.budget().await?;
        let loaded = self.loaded().clone();
        eprintln!("==> the rest of the time entries");
        scale::load_more_entries(
            &self.pool,
            self.size.first_entries + 1,
            self.size.time_entries,
            loaded.assignments,
        )
        .await?;
        eprintln!("==> budget status at {} entries", self.size.time_entries);
        let budget_large = self.budget().await?;

        eprintln!("==> read: GetGrant");
        let read = self.read(None).await?;
        let read_half = self.read(Some(read.throughput() / 2.0)).await?;
        eprintln!("==> write: RegisterTime");
        let write = self.write(None).await?;
        let write_half = self.write(Some(write.throughput() / 2.0)).await?;
        eprintln!("==> match: ProposeCandidates");
        let proposals = self.propose().await?;
        eprintln!("==> list: ListGrants page 1 and page 1,000");
        let (page_size, first_page, far_page) = self.list().await?;
        // Before propagate, which decides the referrals the committee's screen lists.
        eprintln!(
            "==> screens: the console's pages over HTTP/1.1, {} streams",
            self.streams
        );
        let (screen_results, failures) = self.screens(read.p99()).await?;
        let console_memory = self
            .console
            .pid()
            .map(|pid| crate::report::memory(&[("console", pid)]))
            .and_then(|m| m.first().map(|(_, m)| *m))
            .unwrap_or_default();
        eprintln!("==> propagate: DecideReferral → matching request readable");
        let propagate = self.propagate().await?;
        let peak = crate::report::memory(&self.cluster.pids());

        results.push(Outcome::throughput(
            "read",
            "GetGrant (auth, durable audit) vs pgbench -S",
            &read,
            select.tps,
            Target::AtLeast(0.5),
        ));
        results.push(Outcome::latency(
            "read_p99_half_load",
            "GetGrant p99, open loop at half the max throughput, vs closed-loop p99 at max",
            &read_half,
            read.p99(),
            Target::AtMost(1.5),
        ));
        results.push(Outcome::throughput(
            "write",
            "RegisterTime vs pgbench tpcb-like",
            &write,
            tpcb.tps,
            Target::AtLeast(1.0),
        ));
        results.push(Outcome::latency(
            "write_p99_half_load",
            "RegisterTime p99, open loop at half the max throughput, vs closed-loop p99 at max",
            &write_half,
            write.p99(),
            Target::AtMost(1.5),
        ));
        results.push(Outcome::median(
            "budget",
            &format!(
                "GetBudgetStatus p50 at {} entries vs at {}",
                self.size.time_entries, self.size.first_entries
            ),
            &budget_large,
            budget_small.p50(),
            Target::AtMost(1.5),
        ));
        results.push(Outcome::latency(
            "match",
            &format!(
                "ProposeCandidates over {} contact persons, p99 vs read p99",
                self.size.contact_persons
            ),
            &proposals,
            read.p99(),
            Target::AtMost(10.0),
        ));
        results.push(Outcome::median(
            "list",
            &format!("ListGrants page 1,000 vs page 1 (page size {page_size}), p50"),
            &far_page,
            first_page.p50(),
            Target::AtMost(1.5),
        ));
        results.push(Outcome::latency(
            "propagate",
            "GrantApproved committed → matching request readable, p99 vs read p99",
            &propagate,
            read.p99(),
            Target::AtMost(10.0),
        ));
        results.extend(screen_results);
        for ((service, peak), (_, idle)) in peak.iter().zip(&idle) {
            results.push(Outcome::memory(
                &format!("memory_{service}_load"),
                peak.peak_kib,
                150,
                &format!("{service}: peak RSS under load vs 150 MiB"),
            ));
            results.push(Outcome::memory(
                &format!("memory_{service}_idle"),
                idle.rss_kib,
                40,
                &format!("{service}: RSS idle vs 40 MiB"),
            ));
        }
        let references = vec![
            format!(
                "pgbench -S: {:.0} tps (latency average {:.2} ms), {} clients",
                select.tps, select.latency_ms, self.streams
            ),
            format!(
                "pgbench tpcb-like: {:.0} tps (latency average {:.2} ms), {} clients",
                tpcb.tps, tpcb.latency_ms, self.streams
            ),
            format!(
                "bare tonic unary RPC: {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, {} streams",
                bare.throughput(),
                bare.p50(),
                bare.p99(),
                self.streams
            ),
            format!(
                "h2load on the same bare RPC: {:.0} req/s, mean {:.2} ms, {} streams on {} connections",
                h2load.rps,
                h2load.mean_ms,
                self.streams,
                self.streams.div_ceil(4)
            ),
            format!(
                "console (kontakt serve console): peak RSS {:.1} MiB after the screens",
                console_memory.peak_kib as f64 / 1024.0
            ),
        ];
        Ok((references, results, failures))
    }
}
