//! Fault injection helpers: a load's tally of retried and refused calls.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tonic::Code;

/// How long one test may keep retrying before it gives up (a bound, not a measurement).
const PATIENCE: Duration = Duration::from_secs(60);

/// The statuses a client retries a write on (with the same `request_id`): the service's
/// UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED and RESOURCE_EXHAUSTED (at its concurrency limit),
/// and the client's own "transport error" when the connection died with the call in flight
/// (tonic reports it as UNKNOWN; whether the write landed is unknown, which is what the request
/// id is for) and "operation was canceled" when it closed before the call was sent (CANCELLED).
pub fn retryable(status: &tonic::Status) -> bool {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::ResourceExhausted => {
            true
        }
        Code::Unknown => status.message() == "transport error",
        // The client's own: the connection closed under a call not yet sent (a replica
        // draining in a rolling restart). Never answered by a server.
        Code::Cancelled => status.message() == "operation was canceled",
        _ => false,
    }
}

/// What the load saw.
#[derive(Default)]
pub struct Tally {
    /// Calls refused with a retryable status while the fault lasted.
    faults: AtomicUsize,
    /// Calls refused with anything else (INTERNAL above all): each fails the test.
    unexpected: Mutex<Vec<String>>,
    /// How long each acknowledged call's answering attempt took.
    latencies: Mutex<Vec<Duration>>,
}

impl Tally {
    /// Retryable refusals seen.
    pub fn faults(&self) -> usize {
        self.faults.load(Ordering::Relaxed)
    }

    /// Counts `n` refusals the fault itself caused (e.g. calls it timed out on purpose).
    pub fn add_faults(&self, n: usize) {
        self.faults.fetch_add(n, Ordering::Relaxed);
    }

    /// The 99th percentile of the acknowledged calls' answering attempts (zero if none).
    pub fn p99(&self) -> Duration {
        let mut latencies = self
            .latencies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        latencies.sort_unstable();
        percentile(&latencies, 99)
    }

    /// Non-retryable refusals seen, each described.
    pub fn unexpected(&self) -> Vec<String> {
        self.unexpected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Calls `call` until it is answered, retrying (the same request, so the same
    /// `request_id`) on the statuses a client is told to retry.
    pub async fn until_acknowledged<T, F, Fut>(&self, what: &str, mut call: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        loop {
            let attempt = Instant::now();
            match call().await {
                Ok(answer) => {
                    self.latencies
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(attempt.elapsed());
                    return Some(answer.into_inner());
                }
                Err(status) if retryable(&status) && started.elapsed() < PATIENCE => {
                    self.faults.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(status) => {
                    self.unexpected
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(format!("{what}: {:?} {}", status.code(), status.message()));
                    return None;
                }
            }
        }
    }
}

/// The `p`th percentile of `sorted` (nearest rank; zero for none).
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[((n * p).div_ceil(100)).clamp(1, n) - 1],
    }
}

/// A connection holding `table` locked ACCESS EXCLUSIVE in an open transaction, so every call
/// that reads it waits in PostgreSQL: a slow database, on demand. [`release`] ends it.
pub async fn lock_table(db: &crate::TestDatabase, table: &str) -> sqlx::PgConnection {
    let mut conn = db.connect().await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut conn)
        .await
        .expect("begin");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut conn)
    .await
    .expect("lock");
    conn
}

/// Ends the transaction of [`lock_table`].
pub async fn release(mut lock: sqlx::PgConnection) {
    use sqlx::Connection as _;
    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("release");
    lock.close().await.expect("close");
}

/// A temporary directory PostgreSQL can reach: it runs as an unprivileged user when the tests
/// run as root.
pub fn world_readable_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// One unit of the referral write load, acknowledged: a case (idempotent by its external id)
/// and its draft referral (idempotent by its request id).
#[derive(Clone, Debug)]
pub struct Acknowledged {
    pub external_id: String,
    pub case: String,
    pub request_id: String,
    pub referral: String,
}

/// Writer `writer` of the referral load: creates cases and referrals for `person` in 183 until
/// `fault_over` is set and it has made at least 20, each call retried until acknowledged.
pub fn referral_writer(
    writer: usize,
    channel: crate::AuthedChannel,
    person: String,
    tally: std::sync::Arc<Tally>,
    fault_over: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Acknowledged>> {
    use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
    tokio::spawn(async move {
        let client = ReferralServiceClient::new(channel);
        let mut acknowledged = Vec::new();
        let mut i = 0;
        while !(fault_over.load(Ordering::Relaxed) && i >= 20) && i < 2_000 {
            let external_id = format!("w{writer}-{i}");
            let request = crate::fixtures::case_request("183", &external_id, &person);
            let Some(case) = tally
                .until_acknowledged("CreateCase", || {
                    let (mut client, request) = (client.clone(), request.clone());
                    async move { client.create_case(request).await }
                })
                .await
            else {
                break;
            };
            let request_id = format!("req-{external_id}");
            let request = crate::fixtures::referral_request("183", &case.name, &request_id);
            let Some(referral) = tally
                .until_acknowledged("CreateReferral", || {
                    let (mut client, request) = (client.clone(), request.clone());
                    async move { client.create_referral(request).await }
                })
                .await
            else {
                break;
            };
            acknowledged.push(Acknowledged {
                external_id,
                case: case.name,
                request_id,
                referral: referral.name,
            });
            i += 1;
        }
        acknowledged
    })
}

/// (lost, duplicated) among `acknowledged`, counted in the referral schema of `db`: each case
/// and referral must be stored exactly once, under the name the caller was given.
async fn lost_and_duplicated(
    db: &mut sqlx::PgConnection,
    acknowledged: &[Acknowledged],
) -> anyhow::Result<(usize, usize)> {
    let cases = ids_by_key(
        db,
        "SELECT external_id, id FROM referral.cases WHERE municipality = '183'",
    )
    .await?;
    let referrals = ids_by_key(
        db,
        "SELECT request_id, id FROM referral.referrals WHERE municipality = '183'",
    )
    .await?;
    let (mut lost, mut duplicated) = (0, 0);
    for unit in acknowledged {
        for (stored, name) in [
            (cases.get(&unit.external_id), &unit.case),
            (referrals.get(&unit.request_id), &unit.referral),
        ] {
            match stored.map(Vec::as_slice) {
                Some([id]) if name.ends_with(&format!("/{id}")) => {}
                None | Some([] | [_]) => lost += 1,
                Some(_) => duplicated += 1,
            }
        }
    }
    Ok((lost, duplicated))
}

async fn ids_by_key(
    db: &mut sqlx::PgConnection,
    query: &'static str,
) -> anyhow::Result<std::collections::HashMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(query).fetch_all(db).await?;
    let mut by_key: std::collections::HashMap<String, Vec<String>> = Default::default();
    for (key, id) in rows {
        by_key.entry(key).or_default().push(id);
    }
    Ok(by_key)
}

/// Registers the load's child in 183, then runs `fault` under four referral writers and returns
/// what they had acknowledged once it is over (the caller prints the figures). `channel` calls
/// as a counsellor of 183.
pub async fn under_referral_load<F, Fut>(
    channel: crate::AuthedChannel,
    tally: &std::sync::Arc<Tally>,
    fault: F,
) -> Vec<Acknowledged>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
    let person = crate::fixtures::register_child(
        &mut ReferralServiceClient::new(channel.clone()),
        "183",
        "010114-4234",
    )
    .await;
    let fault_over = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            referral_writer(
                w,
                channel.clone(),
                person.clone(),
                tally.clone(),
                fault_over.clone(),
            )
        })
        .collect();
    // Let the load run, then inject the fault under it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    fault().await;
    fault_over.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer"));
    }
    acknowledged
}

/// The promise after `fault`: counts `acknowledged` in `db`, prints the figures line
/// (`<fault>: faults=N acknowledged=N lost=N duplicated=N`) and fails unless every call was
/// answered or refused retryably, the fault was felt, and nothing is lost or duplicated.
pub async fn assert_nothing_lost(
    fault: &str,
    db: &mut sqlx::PgConnection,
    acknowledged: &[Acknowledged],
    tally: &Tally,
) {
    let (lost, duplicated) = lost_and_duplicated(db, acknowledged)
        .await
        .expect("counting the acknowledged writes");
    let faults = tally.faults();
    println!(
        "{fault}: faults={faults} acknowledged={} lost={lost} duplicated={duplicated}",
        acknowledged.len() * 2
    );
    let unexpected = tally.unexpected();
    assert!(
        unexpected.is_empty(),
        "calls around the {fault} got non-retryable answers:\n{}",
        unexpected.join("\n")
    );
    assert!(
        faults > 0,
        "the {fault} was not felt: the test proves nothing"
    );
    assert!(!acknowledged.is_empty(), "nothing was acknowledged");
    assert_eq!((lost, duplicated), (0, 0), "lost, duplicated");
}

/// The referral service on a PostgreSQL of the test's own in `dir` (for tests that stop and
/// restart the server), SERVING.
pub async fn referral_on_own_postgres(
    dir: &std::path::Path,
) -> (
    std::sync::Arc<kontakt_platform::embedded_pg::EmbeddedPostgres>,
    crate::TestService,
) {
    let pg = std::sync::Arc::new(
        crate::own_postgres(&dir.join("pg"))
            .await
            .expect("own postgres"),
    );
    let running = crate::Start::new(kontakt::Service::Referral, pg.connect_options("postgres"))
        .run()
        .await
        .expect("referral SERVING on its own PostgreSQL");
    (pg, running)
}

/// A loopback TCP link to a service that a test can cut and mend: a network partition on
/// demand. While cut, nothing flows either way and connections stay open (a lost route tells
/// neither end), and new connections are accepted but lead nowhere; mending closes what was
/// cut, as the ends' keep-alives would have, and carries new connections again.
pub struct Cable {
    addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Cable {
    /// A cable from a fresh loopback port to `target`.
    pub async fn to(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the cable");
        let addr = listener.local_addr().expect("address");
        let (cut, watching) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(carry(inbound, target, watching.clone()));
            }
        });
        Self { addr, cut, task }
    }

    /// Where to connect instead of the service.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn mend(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection through a [`Cable`].
async fn carry(
    mut inbound: tokio::net::TcpStream,
    target: std::net::SocketAddr,
    mut cut: tokio::sync::watch::Receiver<bool>,
) {
    enum Ended {
        Closed,
        Cut,
    }
    if !*cut.borrow() {
        let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
            return;
        };
        let ended = tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => Ended::Closed,
            _ = cut.wait_for(|cut| *cut) => Ended::Cut,
        };
        if let Ended::Closed = ended {
            return;
        }
    }
    // Cut: hold the connection silent until the cable is mended (or dropped: the error), then
    // close it either way.
    let _mended_or_gone = cut.wait_for(|cut| !*cut).await.is_ok();
}
