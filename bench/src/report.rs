//! The results: a table for people and one `RESULT` line per figure for machines.

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::fmt;

use crate::load::Stats;
use crate::scale::Size;

/// What a figure must be, as a ratio of its value to its reference.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn met(self, ratio: f64) -> bool {
        match self {
            Self::AtLeast(t) => ratio >= t,
            Self::AtMost(t) => ratio <= t,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AtLeast(t) => write!(f, ">={t}"),
            Self::AtMost(t) => write!(f, "<={t}"),
        }
    }
}

/// One result: a value beside the reference measured in the same run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub name: String,
    pub what: String,
    pub value: f64,
    pub reference: f64,
    pub unit: &'static str,
    pub target: Target,
    pub detail: String,
    pub error: Option<String>,
}

impl Outcome {
    fn from_stats(
        name: &str,
        what: &str,
        stats: &Stats,
        value: f64,
        reference: f64,
        unit: &'static str,
        target: Target,
    ) -> Self {
        Self {
            name: name.into(),
            what: what.into(),
            value,
            reference,
            unit,
            target,
            detail: summary(stats),
            error: match (stats.errors, &stats.first_error) {
                (0, _) if stats.calls > 0 => None,
                (0, _) => Some("no calls completed".into()),
                (n, first) => Some(format!(
                    "{n} of {} calls failed, first: {}",
                    stats.calls,
                    first.as_deref().unwrap_or("?")
                )),
            },
        }
    }

    /// Successful calls per second against a reference rate.
    pub fn throughput(
        name: &str,
        what: &str,
        stats: &Stats,
        reference: f64,
        target: Target,
    ) -> Self {
        Self::from_stats(
            name,
            what,
            stats,
            stats.throughput(),
            reference,
            "calls/s",
            target,
        )
    }

    /// p99 latency against a reference latency (ms).
    pub fn latency(name: &str, what: &str, stats: &Stats, reference: f64, target: Target) -> Self {
        Self::from_stats(name, what, stats, stats.p99(), reference, "ms", target)
    }

    /// p50 latency against a reference latency (ms).
    pub fn median(name: &str, what: &str, stats: &Stats, reference: f64, target: Target) -> Self {
        Self::from_stats(name, what, stats, stats.p50(), reference, "ms", target)
    }

    /// A process's memory (KiB) against its limit (MiB).
    pub fn memory(name: &str, kib: u64, limit_mib: u64, what: &str) -> Self {
        Self {
            name: name.into(),
            what: what.into(),
            value: kib as f64 / 1024.0,
            reference: limit_mib as f64,
            unit: "MiB",
            target: Target::AtMost(1.0),
            detail: String::new(),
            error: (kib == 0).then(|| "could not read /proc".to_owned()),
        }
    }

    /// A page's size (bytes) against its limit (KiB).
    pub fn size(name: &str, bytes: usize, limit_kib: u64, what: &str) -> Self {
        Self {
            name: name.into(),
            what: what.into(),
            value: bytes as f64 / 1024.0,
            reference: limit_kib as f64,
            unit: "KiB",
            target: Target::AtMost(1.0),
            detail: String::new(),
            error: (bytes == 0).then(|| "no page was measured".to_owned()),
        }
    }

    pub fn ratio(&self) -> f64 {
        if self.reference > 0.0 {
            self.value / self.reference
        } else {
            f64::NAN
        }
    }

    pub fn passed(&self) -> bool {
        self.error.is_none() && self.target.met(self.ratio())
    }
}

fn summary(stats: &Stats) -> String {
    format!(
        "{} calls, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        stats.calls,
        stats.throughput(),
        stats.p50(),
        stats.p99(),
        stats.max()
    )
}

/// A process's resident memory now and at its peak (KiB), from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

pub fn memory(pids: &[(&'static str, u32)]) -> Vec<(&'static str, Memory)> {
    pids.iter()
        .map(|(service, pid)| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            (
                *service,
                Memory {
                    rss_kib: field("VmRSS:"),
                    peak_kib: field("VmHWM:"),
                },
            )
        })
        .collect()
}

/// The machine the run is on.
pub struct Machine {
    cores: usize,
    memory_gib: f64,
    date: chrono::NaiveDate,
}

impl Machine {
    pub fn here() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: kib / 1024.0 / 1024.0,
            date: SystemClock.today(),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cores, {:.0} GiB, {}",
            self.cores, self.memory_gib, self.date
        )
    }
}

/// The table, then the RESULT lines.
pub fn print(
    machine: &Machine,
    size: Size,
    streams: usize,
    references: &[String],
    results: &[Outcome],
) {
    println!();
    println!(
        "Kontakt benchmark — {machine}; {} grants, {} contact persons, {} time entries, 98 municipalities; {streams} streams",
        size.grants, size.contact_persons, size.time_entries
    );
    println!();
    for line in references {
        println!("reference: {line}");
    }
    println!();
    println!("| result | what | value | reference | ratio | target | |");
    println!("|---|---|---|---|---|---|---|");
    for r in results {
        println!(
            "| {} | {} | {} | {} | {:.2} | {} | {} |",
            r.name,
            r.what,
            format_value(r.value, r.unit),
            format_value(r.reference, r.unit),
            r.ratio(),
            r.target,
            if r.passed() { "PASS" } else { "FAIL" }
        );
    }
    println!();
    for r in results {
        if !r.detail.is_empty() {
            println!("{}: {}", r.name, r.detail);
        }
        if let Some(error) = &r.error {
            println!("{}: ERROR {error}", r.name);
        }
    }
    println!();
    for r in results {
        println!(
            "RESULT {} value={:.3} reference={:.3} ratio={:.3} target={} {}",
            r.name,
            r.value,
            r.reference,
            r.ratio(),
            r.target,
            if r.passed() { "PASS" } else { "FAIL" }
        );
    }
}

fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "calls/s" => format!("{value:.0} calls/s"),
        "MiB" | "KiB" => format!("{value:.1} {unit}"),
        _ => format!("{value:.2} {unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_passes_only_when_its_ratio_meets_the_target_and_nothing_failed() {
        let stats =
            Stats::from_latencies(vec![1000, 2000], 0, None, std::time::Duration::from_secs(1));
        let ok = Outcome::throughput("read", "", &stats, 3.0, Target::AtLeast(0.5));
        assert!((ok.ratio() - 2.0 / 3.0).abs() < 1e-9);
        assert!(ok.passed());
        assert!(!Outcome::throughput("read", "", &stats, 5.0, Target::AtLeast(0.5)).passed());
        let failing = Stats::from_latencies(
            vec![1000],
            1,
            Some("UNAVAILABLE".into()),
            std::time::Duration::from_secs(1),
        );
        assert!(!Outcome::latency("match", "", &failing, 10.0, Target::AtMost(10.0)).passed());
        assert!(Outcome::memory("referral_peak", 100 * 1024, 150, "").passed());
        assert!(!Outcome::memory("referral_peak", 200 * 1024, 150, "").passed());
        assert!(Outcome::size("screen_size_max", 200 * 1024, 200, "").passed());
        assert!(!Outcome::size("screen_size_max", 200 * 1024 + 1, 200, "").passed());
        assert!(!Outcome::size("screen_size_max", 0, 200, "").passed());
    }
}
