//! The workloads, each against the services over gRPC with real tokens, and the order they
//! run in: references first, then each workload, its figure beside its reference.

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use chrono::{Datelike as _, Days, Months, NaiveDate};
use kontakt::client::{Authed, Bearer, channel};
use kontakt_platform::auth::{Claims, Role};
use kontakt_proto::common::v1::Date;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::referral::v1 as referral;
use kontakt_proto::timecost::v1 as timecost;
use matching::matching_service_client::MatchingServiceClient;
use referral::referral_service_client::ReferralServiceClient;
use sqlx::PgPool;
use timecost::time_cost_service_client::TimeCostServiceClient;
use tokio::sync::Mutex;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::console::Console;
use crate::load::{self, Plan, Stats};
use crate::references::{self, PgBench};
use crate::report::{Outcome, Target};
use crate::scale::{self, DECIDING, LARGEST, Loaded, MUNICIPALITIES, Size};
use crate::screens::{self, Screen};

/// What no console page may exceed (KiB).
const PAGE_LIMIT_KIB: u64 = 200;

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

/// `/proc/<pid>/stat` counts CPU time in these ticks per second (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// The CPU time (user and system, in ticks) the processes have used so far.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // After the command's name in parentheses: state is field 3, utime 14, stime 15.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .collect();
            let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
            field(14).unwrap_or(0) + field(15).unwrap_or(0)
        })
        .sum()
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
        let bare = references::bare_rpc(plan).await?;
        eprintln!(
            "    pgbench -S {:.0} tps, tpcb-like {:.0} tps, bare RPC {:.0} calls/s p99 {:.2} ms",
            select.tps,
            tpcb.tps,
            bare.throughput(),
            bare.p99()
        );

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
                "console (kontakt serve console): peak RSS {:.1} MiB after the screens",
                console_memory.peak_kib as f64 / 1024.0
            ),
        ];
        Ok((references, results, failures))
    }

    /// A signed-in person's session cookie for the console, with a token the services trust.
    fn signed_in(&self, claims: Claims) -> anyhow::Result<String> {
        let token = self.cluster.token(claims.clone())?;
        Ok(self.console.cookie(token, &claims))
    }

    /// Someone with `role` acting for `municipalities`, signed in to the console.
    fn signed_in_as(&self, role: Role, municipalities: &[&str]) -> anyhow::Result<String> {
        self.signed_in(Claims {
            sub: format!("bench-{}", role.as_str()),
            name: format!("Bench {}", role.as_str()),
            kontakt_roles: vec![role.as_str().into()],
            kontakt_municipalities: municipalities.iter().map(|m| m.to_string()).collect(),
            ..Claims::default()
        })
    }

    /// Every screen of the console on the largest municipality's data, each in a closed loop
    /// with as many streams as the read workload: p99 to the last byte against GetGrant's read
    /// p99 in this run, and the largest page of them all against 200 KiB. Returns the results
    /// and the failed pages.
    async fn screens(&self, read_p99: f64) -> anyhow::Result<(Vec<Outcome>, Vec<String>)> {
        let screens = self.screen_list().await?;
        let client = screens::client(self.streams);
        let plan = Plan {
            streams: self.streams,
            warmup: self.timing.screen_warmup,
            duration: self.timing.screen_duration,
        };
        let mut results = Vec::new();
        let mut failures = Vec::new();
        let mut largest: (usize, String) = (0, String::new());
        for screen in &screens {
            self.settle().await;
            let measured = screens::measure(&client, &self.console.url, screen, plan).await;
            let name = format!("screen_{}", screen.kind);
            let stats = &measured.stats;
            eprintln!(
                "    {name}: {} pages, p50 {:.1} ms, p99 {:.1} ms, largest {:.1} KiB{}",
                stats.calls,
                stats.p50(),
                stats.p99(),
                measured.largest.0 as f64 / 1024.0,
                if stats.errors > 0 { ", FAILED" } else { "" }
            );
            let mut outcome =
                Outcome::latency(&name, &screen.what, stats, read_p99, Target::AtMost(5.0));
            if stats.calls > 0 && stats.errors < stats.calls {
                outcome.detail.push_str(&format!(
                    "; largest page {} bytes ({})",
                    measured.largest.0, measured.largest.1
                ));
            }
            if let Some(error) = &outcome.error {
                failures.push(format!("{name}: {error}"));
            }
            if measured.largest.0 > largest.0 {
                largest = measured.largest.clone();
            }
            results.push(outcome);
        }
        let mut size = Outcome::size(
            "screen_size_max",
            largest.0,
            PAGE_LIMIT_KIB,
            &format!("the largest console page (bytes of HTML) vs {PAGE_LIMIT_KIB} KiB"),
        );
        size.detail = format!("{} bytes: {}", largest.0, largest.1);
        results.push(size);
        Ok((results, failures))
    }

    /// Waits (up to a minute) until the services and the console are idle: no statement
    /// running in their database and under a twentieth of a core between them. What one
    /// screen's timed-out pages left running (a service goes on with a call its caller gave up)
    /// is not the next screen's figure.
    async fn settle(&self) {
        const WINDOW: Duration = Duration::from_millis(500);
        let mut pids: Vec<u32> = self.cluster.pids().iter().map(|(_, pid)| *pid).collect();
        pids.extend(self.console.pid());
        let started = Instant::now();
        let mut busy = String::new();
        while started.elapsed() < Duration::from_secs(60) {
            let before = cpu_ticks(&pids);
            tokio::time::sleep(WINDOW).await;
            let cpu = (cpu_ticks(&pids) - before) as f64 / USER_HZ / WINDOW.as_secs_f64();
            let active: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap_or(0);
            if active == 0 && cpu < 0.05 {
                if started.elapsed() > Duration::from_secs(2) {
                    eprintln!(
                        "    (waited {:.0} s for the last screen's work to finish)",
                        started.elapsed().as_secs_f64()
                    );
                }
                return;
            }
            busy = format!(
                "{active} statements running, {:.0} % of a core",
                cpu * 100.0
            );
        }
        eprintln!("    (still busy after a minute, {busy}; measuring anyway)");
    }

    /// The screens, who asks for them and which pages, from the data as it is now.
    async fn screen_list(&self) -> anyhow::Result<Vec<Screen>> {
        let coordinator = self.signed_in_as(Role::Coordinator, &[LARGEST])?;
        // The contact person in Copenhagen with the most time registered (by now the write
        // workload's too), on their active assignments there.
        let person: String = sqlx::query_scalar(
            "SELECT contact_person_id FROM timecost.time_entries WHERE municipality = $1
              GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        )
        .bind(LARGEST)
        .fetch_one(&self.pool)
        .await
        .context("no time entries in the largest municipality")?;
        let assignments: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM matching.assignments
              WHERE municipality = $1 AND unit = 'bench' AND contact_person_id = $2
                AND state = 'ACTIVE' ORDER BY id",
        )
        .bind(LARGEST)
        .bind(&person)
        .fetch_all(&self.pool)
        .await?;
        let entries: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM timecost.time_entries
              WHERE municipality = $1 AND unit = 'bench' AND contact_person_id = $2",
        )
        .bind(LARGEST)
        .bind(&person)
        .fetch_one(&self.pool)
        .await?;
        let contact_person = self.signed_in(Claims {
            sub: person.clone(),
            name: format!("Kontaktperson {person}"),
            kontakt_roles: vec![Role::ContactPerson.as_str().into()],
            kontakt_municipalities: vec![LARGEST.into()],
            kontakt_contact_person: Some(format!("serviceUnits/bench/contactPersons/{person}")),
            ..Claims::default()
        })?;
        // The counsellor the cloned referrals name (every one of them is theirs).
        let counsellor: String = sqlx::query_scalar(
            "SELECT counsellor FROM referral.referrals WHERE municipality = $1 LIMIT 1",
        )
        .bind(LARGEST)
        .fetch_one(&self.pool)
        .await?;
        let counsellor = self.signed_in(Claims {
            sub: counsellor.clone(),
            name: "Bench rådgiver".into(),
            kontakt_roles: vec![Role::Counsellor.as_str().into()],
            kontakt_municipalities: vec![LARGEST.into()],
            ..Claims::default()
        })?;
        let everywhere: Vec<&str> = MUNICIPALITIES.iter().map(|(m, _)| *m).collect();
        let open = self.size.open_requests;
        let requests: Vec<String> = (1..=open)
            .map(|i| format!("/koordinator/anmodning/{LARGEST}/bg-{i}"))
            .collect();
        // The child at the head of the coordinator's queue: read on every queue page.
        let child = format!("municipalities/{LARGEST}/persons/bp-1");
        Ok(vec![
            Screen {
                kind: "queue",
                what: format!(
                    "/koordinator, Copenhagen's queue ({open} open requests of {})",
                    self.loaded().largest_grants
                ),
                cookie: coordinator.clone(),
                paths: vec!["/koordinator".into()],
            },
            Screen {
                kind: "unmet",
                what: "/koordinator/udaekket, Copenhagen's unmet demand (R-MP-5)".into(),
                cookie: coordinator.clone(),
                paths: vec!["/koordinator/udaekket".into()],
            },
            Screen {
                kind: "request",
                what:
                    "/koordinator/anmodning/…, an open request with its candidates and the excluded"
                        .into(),
                cookie: coordinator.clone(),
                paths: requests,
            },
            Screen {
                kind: "contact_persons",
                what: "/kontaktpersoner, the first page of everyone serving Copenhagen".into(),
                cookie: coordinator.clone(),
                paths: vec!["/kontaktpersoner".into()],
            },
            Screen {
                kind: "timesheets",
                what: "/timesedler, the submitted timesheets of Copenhagen's contact persons"
                    .into(),
                cookie: coordinator,
                paths: vec!["/timesedler".into()],
            },
            Screen {
                kind: "my_assignments",
                what: format!(
                    "/tid, {person}'s {} assignments ({entries} entries)",
                    assignments.len()
                ),
                cookie: contact_person.clone(),
                paths: vec!["/tid".into()],
            },
            Screen {
                kind: "assignment",
                what: format!("/tid/{LARGEST}/…, one of {person}'s assignments with its entries"),
                cookie: contact_person,
                paths: assignments
                    .iter()
                    .map(|id| format!("/tid/{LARGEST}/{id}"))
                    .collect(),
            },
            Screen {
                kind: "counsellor",
                what: "/raadgiver, the counsellor of Copenhagen's referrals".into(),
                cookie: counsellor,
                paths: vec!["/raadgiver".into()],
            },
            Screen {
                kind: "committee",
                what: format!(
                    "/udvalg, the committee of Copenhagen and of {DECIDING} (its submitted referrals)"
                ),
                cookie: self.signed_in_as(Role::Committee, &[LARGEST, DECIDING])?,
                paths: vec!["/udvalg".into()],
            },
            Screen {
                kind: "finance",
                what: "/oekonomi/national, the national frame's budget".into(),
                cookie: self.signed_in_as(Role::Finance, &everywhere)?,
                paths: vec!["/oekonomi/national".into()],
            },
            // Last: the child's log holds every screen's reads of them before it.
            Screen {
                kind: "access_log",
                what: format!("/adgangslog?person={child}, the child at the head of the queue"),
                cookie: self.signed_in_as(Role::Auditor, &[LARGEST])?,
                paths: vec![format!("/adgangslog?person={child}")],
            },
        ])
    }

    async fn budget(&self) -> anyhow::Result<Stats> {
        let municipalities: Vec<&str> = MUNICIPALITIES.iter().map(|(m, _)| *m).collect();
        let bearer = self.bearer(Role::Finance, &municipalities)?;
        let channels = self.timecost.clone();
        let as_of = SystemClock.today();
        // One caller: the latency of the computation itself, not of queueing.
        let stats = load::closed_loop(self.plan(1), move |seq| {
            let mut client = TimeCostServiceClient::new(authed(channels.pick(seq), &bearer));
            async move {
                answered(
                    client
                        .get_budget_status(timecost::GetBudgetStatusRequest {
                            name: "frames/national/budgetStatus".into(),
                            as_of: date(as_of),
                        })
                        .await,
                )
            }
        })
        .await;
        Ok(stats)
    }

    /// GetGrant on grants all over the country, each with its municipality's case system token.
    async fn read(&self, rate: Option<f64>) -> anyhow::Result<Stats> {
        let tokens = Arc::new(self.per_municipality(Role::CaseSystem)?);
        let grants: Arc<Vec<(usize, String)>> = Arc::new(
            sqlx::query_as::<_, (String, i64)>(
                "SELECT municipality, i FROM bench.grants ORDER BY md5(i::text) LIMIT 20000",
            )
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(m, i)| {
                let index = MUNICIPALITIES
                    .iter()
                    .position(|(c, _)| *c == m)
                    .unwrap_or(0);
                (index, format!("municipalities/{m}/grants/bg-{i}"))
            })
            .collect(),
        );
        let channels = self.referral.clone();
        let call = move |seq: u64| {
            let (index, name) = grants[seq as usize % grants.len()].clone();
            let mut client =
                ReferralServiceClient::new(authed(channels.pick(seq), &tokens[index].1));
            async move { answered(client.get_grant(referral::GetGrantRequest { name }).await) }
        };
        Ok(self.at_rate(rate, call).await)
    }

    /// RegisterTime by contact persons on their own assignments, each with a fresh request id.
    async fn write(&self, rate: Option<f64>) -> anyhow::Result<Stats> {
        // A thousand contact persons' own tokens, each with one of their assignments.
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (contact_person) municipality, i, contact_person
               FROM bench.assigned ORDER BY contact_person, i LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut registrars = Vec::with_capacity(rows.len());
        for (m, i, person) in rows {
            let name = format!("serviceUnits/bench/contactPersons/{person}");
            let token = self.cluster.token(Claims {
                sub: person.clone(),
                kontakt_roles: vec![Role::ContactPerson.as_str().into()],
                kontakt_municipalities: vec![m.clone()],
                kontakt_contact_person: Some(name),
                ..Claims::default()
            })?;
            registrars.push((
                Bearer::new(&token)?,
                format!("municipalities/{m}/assignments/ba-{i}"),
            ));
        }
        let registrars = Arc::new(registrars);
        let channels = self.timecost.clone();
        let today = SystemClock.today();
        let run = format!("{}", SystemClock.now().timestamp_micros());
        let call = move |seq: u64| {
            let (bearer, assignment) = &registrars[seq as usize % registrars.len()];
            let mut client = TimeCostServiceClient::new(authed(channels.pick(seq), bearer));
            let request = timecost::RegisterTimeRequest {
                parent: assignment.clone(),
                time_entry: Some(timecost::TimeEntry {
                    work_date: date(today - Days::new(seq % 14)),
                    minutes: 45,
                    activity_kind: "activityKinds/face-to-face".into(),
                    note: "samtale".into(),
                    ..timecost::TimeEntry::default()
                }),
                request_id: format!("bench-{run}-{seq}"),
            };
            async move { answered(client.register_time(request).await) }
        };
        Ok(self.at_rate(rate, call).await)
    }

    /// ProposeCandidates on open requests in the largest municipality, whose pool is its own
    /// contact persons and the capital region's.
    async fn propose(&self) -> anyhow::Result<Stats> {
        let bearer = self.bearer(Role::Coordinator, &[LARGEST])?;
        let requests: Arc<Vec<String>> = Arc::new(
            (0..self.size.open_requests)
                .map(|rank| format!("municipalities/{LARGEST}/matchingRequests/bg-{}", rank + 1))
                .collect(),
        );
        let channels = self.matching.clone();
        Ok(load::closed_loop(self.plan(self.streams), move |seq| {
            let name = requests[seq as usize % requests.len()].clone();
            let mut client = MatchingServiceClient::new(authed(channels.pick(seq), &bearer));
            async move {
                answered(
                    client
                        .propose_candidates(matching::ProposeCandidatesRequest {
                            matching_request: name,
                            max_candidates: 10,
                            ..matching::ProposeCandidatesRequest::default()
                        })
                        .await,
                )
            }
        })
        .await)
    }

    /// ListGrants in the largest municipality: page 1, and page 1,000 by its page token.
    async fn list(&self) -> anyhow::Result<(i32, Stats, Stats)> {
        let bearer = self.bearer(Role::CaseSystem, &[LARGEST])?;
        let page_size = (self.loaded().largest_grants / 1000).clamp(1, 10) as i32;
        let parent = format!("municipalities/{LARGEST}");
        let mut client = ReferralServiceClient::new(authed(self.referral.pick(0), &bearer));
        let mut token = String::new();
        for page in 1..1000 {
            let answer = client
                .list_grants(referral::ListGrantsRequest {
                    parent: parent.clone(),
                    page_size,
                    page_token: token.clone(),
                    ..referral::ListGrantsRequest::default()
                })
                .await?
                .into_inner();
            anyhow::ensure!(
                !answer.next_page_token.is_empty(),
                "the list ended at page {page}"
            );
            token = answer.next_page_token;
        }
        let mut pages = Vec::new();
        for token in [String::new(), token] {
            let (bearer, channels, parent) =
                (bearer.clone(), self.referral.clone(), parent.clone());
            // One caller: the latency of the page itself.
            pages.push(
                load::closed_loop(self.plan(1), move |seq| {
                    let mut client =
                        ReferralServiceClient::new(authed(channels.pick(seq), &bearer));
                    let request = referral::ListGrantsRequest {
                        parent: parent.clone(),
                        page_size,
                        page_token: token.clone(),
                        ..referral::ListGrantsRequest::default()
                    };
                    async move {
                        let answer = client.list_grants(request).await.map_err(status_text)?;
                        if answer.get_ref().grants.len() == page_size as usize {
                            Ok(())
                        } else {
                            Err(format!(
                                "a page of {} grants",
                                answer.get_ref().grants.len()
                            ))
                        }
                    }
                })
                .await,
            );
        }
        let far = pages.pop().unwrap_or_default();
        let first = pages.pop().unwrap_or_default();
        Ok((page_size, first, far))
    }

    /// Decides submitted referrals; each call's latency is from the decision's answer (the
    /// grant and its GrantApproved event committed) until matching answers GetMatchingRequest.
    async fn propagate(&self) -> anyhow::Result<Stats> {
        let decider = self.bearer(Role::Counsellor, &[DECIDING])?;
        let reader = self.bearer(Role::Coordinator, &[DECIDING])?;
        let next = Arc::new(Mutex::new(1i64));
        let available = self.size.pending_referrals;
        let start = {
            let today = SystemClock.today();
            NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
                + Months::new(1)
        };
        let referral_channels = self.referral.clone();
        let matching_channels = self.matching.clone();
        Ok(load::closed_loop(self.plan(self.streams), move |seq| {
            let mut decide =
                ReferralServiceClient::new(authed(referral_channels.pick(seq), &decider));
            let mut read: MatchingServiceClient<Authed> =
                MatchingServiceClient::new(authed(matching_channels.pick(seq), &reader));
            let next = next.clone();
            async move {
                let n = {
                    let mut next = next.lock().await;
                    let n = *next;
                    *next += 1;
                    n
                };
                if n > available {
                    // Out of referrals: wait out the run without counting.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Ok(None);
                }
                let decision = decide
                    .decide_referral(referral::DecideReferralRequest {
                        name: format!("municipalities/{DECIDING}/referrals/pr-{n}"),
                        outcome: referral::DecisionOutcome::Approve as i32,
                        approval_level: referral::ApprovalLevel::OwnAuthority as i32,
                        minutes_per_week: 180,
                        start_date: date(start),
                        expected_end_date: date(start + Months::new(12) - Days::new(1)),
                        ..referral::DecideReferralRequest::default()
                    })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                let committed = Instant::now();
                let grant = decision
                    .grant
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let name = format!("municipalities/{DECIDING}/matchingRequests/{grant}");
                loop {
                    match read
                        .get_matching_request(matching::GetMatchingRequestRequest {
                            name: name.clone(),
                        })
                        .await
                    {
                        Ok(_) => break,
                        Err(s) if s.code() == tonic::Code::NotFound => {
                            if committed.elapsed() > Duration::from_secs(30) {
                                return Err(format!("{name} not readable after 30 s"));
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(s) => return Err(status_text(s)),
                    }
                }
                Ok(Some(committed.elapsed()))
            }
        })
        .await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_cpu_time_is_read_from_proc() {
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert!(x != 1);
        assert!(cpu_ticks(&[std::process::id()]) > 0);
        assert_eq!(
            cpu_ticks(&[u32::MAX]),
            0,
            "a process that is gone counts nothing"
        );
    }
}
