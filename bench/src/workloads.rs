//! The workloads, each against the services over gRPC with real tokens, and the order they
//! run in: references first, then each workload, its figure beside its reference.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
use crate::load::{self, Plan, Stats};
use crate::references::{self, PgBench};
use crate::report::{Outcome, Target};
use crate::scale::{self, DECIDING, LARGEST, Loaded, MUNICIPALITIES, Size};

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
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

impl<'a> Bench<'a> {
    pub fn new(
        cluster: &'a Cluster,
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

    /// Runs everything in order and returns the results.
    /// Returns the references (as printed lines) and the results.
    pub async fn run_all(
        &mut self,
        pgbench: &PgBench,
    ) -> anyhow::Result<(Vec<String>, Vec<Outcome>)> {
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
        ];
        Ok((references, results))
    }

    async fn budget(&self) -> anyhow::Result<Stats> {
        let municipalities: Vec<&str> = MUNICIPALITIES.iter().map(|(m, _)| *m).collect();
        let bearer = self.bearer(Role::Finance, &municipalities)?;
        let channels = self.timecost.clone();
        let as_of = chrono::Utc::now().date_naive();
        // One caller: the latency of the computation itself, not of queueing.
        let stats = load::closed_loop(self.plan(1), move |seq| {
            let mut client = TimeCostServiceClient::new(authed(channels.pick(seq), &bearer));
            async move {
                client
                    .get_budget_status(timecost::GetBudgetStatusRequest {
                        name: "frames/national/budgetStatus".into(),
                        as_of: date(as_of),
                    })
                    .await
                    .map(|_| ())
                    .map_err(status_text)
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
            async move {
                client
                    .get_grant(referral::GetGrantRequest { name })
                    .await
                    .map(|_| ())
                    .map_err(status_text)
            }
        };
        Ok(match rate {
            None => load::closed_loop(self.plan(self.streams), call).await,
            Some(rate) => {
                load::open_loop(rate, self.timing.warmup, self.timing.duration, call).await
            }
        })
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
        let today = chrono::Utc::now().date_naive();
        let run = format!("{}", chrono::Utc::now().timestamp_micros());
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
            async move {
                client
                    .register_time(request)
                    .await
                    .map(|_| ())
                    .map_err(status_text)
            }
        };
        Ok(match rate {
            None => load::closed_loop(self.plan(self.streams), call).await,
            Some(rate) => {
                load::open_loop(rate, self.timing.warmup, self.timing.duration, call).await
            }
        })
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
                client
                    .propose_candidates(matching::ProposeCandidatesRequest {
                        matching_request: name,
                        max_candidates: 10,
                        ..matching::ProposeCandidatesRequest::default()
                    })
                    .await
                    .map(|_| ())
                    .map_err(status_text)
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
            let today = chrono::Utc::now().date_naive();
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
