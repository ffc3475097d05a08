//! The load generator: N concurrent streams calling as fast as answers come (closed loop), or
//! calls started at a fixed rate (open loop), each with a warm-up whose calls are not counted.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one measured run gives.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub calls: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted.
    latencies: Vec<u64>,
}

impl Stats {
    pub fn from_latencies(
        mut latencies: Vec<u64>,
        errors: u64,
        first_error: Option<String>,
        elapsed: Duration,
    ) -> Self {
        latencies.sort_unstable();
        Self {
            calls: latencies.len() as u64 + errors,
            errors,
            first_error,
            elapsed,
            latencies,
        }
    }

    /// Successful calls per second.
    pub fn throughput(&self) -> f64 {
        let ok = self.calls - self.errors;
        if self.elapsed.is_zero() {
            0.0
        } else {
            ok as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// The `q` quantile (0..=1) of the successful calls' latency, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.latencies, q) as f64 / 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.quantile_ms(0.50)
    }

    pub fn p99(&self) -> f64 {
        self.quantile_ms(0.99)
    }

    pub fn max(&self) -> f64 {
        self.latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// The nearest-rank quantile of sorted values; 0 when there are none.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// How long to warm up and to measure, and with how many streams.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub streams: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What a call reports about its own latency.
pub trait Measured: Send + 'static {
    /// Given the whole call's time: the latency to count, or `None` not to count the call.
    fn latency(self, whole: Duration) -> Option<Duration>;
}

/// The whole call is the latency.
impl Measured for () {
    fn latency(self, whole: Duration) -> Option<Duration> {
        Some(whole)
    }
}

/// The call timed the part that matters itself.
impl Measured for Duration {
    fn latency(self, _: Duration) -> Option<Duration> {
        Some(self)
    }
}

/// As `Duration`, or not counted at all (e.g. nothing left to do).
impl Measured for Option<Duration> {
    fn latency(self, _: Duration) -> Option<Duration> {
        self
    }
}

/// One call of a workload; `seq` numbers the calls of a run from 0 (for unique request ids and
/// spreading over the data).
pub trait Call: Send + Sync + 'static {
    type Out: Measured;
    fn call(&self, seq: u64) -> impl Future<Output = Result<Self::Out, String>> + Send;
}

impl<F, Fut, M> Call for F
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<M, String>> + Send,
    M: Measured,
{
    type Out = M;
    fn call(&self, seq: u64) -> impl Future<Output = Result<M, String>> + Send {
        self(seq)
    }
}

/// Each stream calls, waits for the answer, calls again: the highest throughput the system
/// gives at this concurrency, and the latency it gives it at.
pub async fn closed_loop<C: Call>(plan: Plan, call: C) -> Stats {
    let call = Arc::new(call);
    let seq = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut streams = Vec::with_capacity(plan.streams);
    for _ in 0..plan.streams {
        let (call, seq, measuring, stop) =
            (call.clone(), seq.clone(), measuring.clone(), stop.clone());
        streams.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let counted = measuring.load(Ordering::Relaxed);
                let started = Instant::now();
                let outcome = call.call(n).await;
                // A call that straddles the end still counts: it was started while measuring.
                if counted {
                    tally.record(outcome, started.elapsed());
                }
            }
            tally
        }));
    }
    tokio::time::sleep(plan.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(plan.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    collect(streams, elapsed).await
}

/// As [`closed_loop`], for calls that may each take longer than the whole run (a slow page):
/// each stream calls uncounted until `plan.warmup` has passed (at least once), then counted
/// until `plan.duration` has passed since it began counting (at least once), so that every
/// stream gives a figure however slow the call. A failed call counts even in the warm-up.
pub async fn closed_loop_each<C: Call>(plan: Plan, call: C) -> Stats {
    let call = Arc::new(call);
    let seq = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let mut streams = Vec::with_capacity(plan.streams);
    for _ in 0..plan.streams {
        let (call, seq) = (call.clone(), seq.clone());
        streams.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                if let Err(e) = call.call(seq.fetch_add(1, Ordering::Relaxed)).await {
                    tally.failed(e);
                }
                if begin.elapsed() >= plan.warmup {
                    break;
                }
            }
            let from = Instant::now();
            loop {
                let started = Instant::now();
                let outcome = call.call(seq.fetch_add(1, Ordering::Relaxed)).await;
                tally.record(outcome, started.elapsed());
                if from.elapsed() >= plan.duration {
                    break;
                }
            }
            (from, tally)
        }));
    }
    let mut all = Tally::default();
    let mut first_from: Option<Instant> = None;
    for stream in streams {
        match stream.await {
            Ok((from, tally)) => {
                first_from = Some(first_from.map_or(from, |f| f.min(from)));
                all.add(tally);
            }
            Err(e) => all.failed(e.to_string()),
        }
    }
    let elapsed = first_from.map_or(Duration::ZERO, |from| from.elapsed());
    all.stats(elapsed)
}

/// Calls start at `rate` per second whether or not earlier ones have answered; each call's
/// latency counts from when it was due, so a stall shows as latency, not as fewer calls.
pub async fn open_loop<C: Call>(rate: f64, warmup: Duration, duration: Duration, call: C) -> Stats {
    let call = Arc::new(call);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    let mut n = 0u64;
    loop {
        let due = begin + interval.mul_f64(n as f64);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let call = call.clone();
        let counted = due >= measure_from;
        tasks.push(tokio::spawn(async move {
            let outcome = call.call(n).await;
            (counted, outcome, due.elapsed())
        }));
        n += 1;
    }
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok((true, outcome, whole)) => tally.record(outcome, whole),
            Ok((false, ..)) => {}
            Err(e) => tally.failed(e.to_string()),
        }
    }
    tally.stats(duration)
}

/// What a stream (or the open loop) counted: the latencies of its successful calls in
/// microseconds, and its failures.
#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    /// A counted call's outcome; `whole` is the call's time.
    fn record<M: Measured>(&mut self, outcome: Result<M, String>, whole: Duration) {
        match outcome {
            Ok(m) => {
                if let Some(latency) = m.latency(whole) {
                    self.latencies.push(latency.as_micros() as u64);
                }
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// Another stream's tally, counted with this one (the first error stays the first).
    fn add(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn stats(self, elapsed: Duration) -> Stats {
        Stats::from_latencies(self.latencies, self.errors, self.first_error, elapsed)
    }
}

async fn collect(streams: Vec<tokio::task::JoinHandle<Tally>>, elapsed: Duration) -> Stats {
    let mut all = Tally::default();
    for stream in streams {
        match stream.await {
            Ok(tally) => all.add(tally),
            Err(e) => all.failed(e.to_string()),
        }
    }
    all.stats(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[tokio::test]
    async fn a_closed_loop_counts_only_after_the_warm_up_and_reports_errors() {
        let plan = Plan {
            streams: 2,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        };
        let stats = closed_loop(plan, |seq: u64| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if seq.is_multiple_of(10) {
                Err(format!("call {seq} failed"))
            } else {
                Ok(())
            }
        })
        .await;
        // Two streams of 5 ms calls for 200 ms: about 80 calls, not the warm-up's 20 more.
        assert!((40..=100).contains(&stats.calls), "{stats:?}");
        assert!(stats.errors > 0 && stats.first_error.is_some());
        assert!(stats.p50() >= 5.0, "{}", stats.p50());
    }

    #[tokio::test]
    async fn each_stream_of_a_slow_closed_loop_counts_at_least_one_call() {
        let plan = Plan {
            streams: 3,
            warmup: Duration::from_millis(10),
            duration: Duration::from_millis(20),
        };
        // Every call takes longer than warm-up and measurement together.
        let stats = closed_loop_each(plan, |_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        })
        .await;
        assert_eq!(stats.calls, 3, "{stats:?}");
        assert_eq!(stats.errors, 0);
        assert!(stats.p50() >= 50.0, "{}", stats.p50());
        let failing =
            closed_loop_each(plan, |_| async { Err::<(), _>("HTTP 500".to_owned()) }).await;
        assert!(
            failing.errors >= 6,
            "warm-up failures count too: {failing:?}"
        );
        assert_eq!(failing.first_error.as_deref(), Some("HTTP 500"));
    }

    #[tokio::test]
    async fn an_open_loop_starts_calls_at_the_rate_and_times_them_from_when_they_were_due() {
        let stats = open_loop(
            200.0,
            Duration::from_millis(50),
            Duration::from_millis(250),
            |_| async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok(())
            },
        )
        .await;
        assert!((40..=60).contains(&stats.calls), "{stats:?}");
        assert!(stats.p50() >= 2.0);
    }
}
