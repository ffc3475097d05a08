//! screens: every console page over HTTP/1.1 on the largest municipality's data, and the
//! largest page of them all.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use kontakt_platform::auth::{Claims, Role};

use crate::load::Plan;
use crate::report::{Outcome, Target};
use crate::scale::{DECIDING, LARGEST, MUNICIPALITIES};
use crate::screens::{self, Screen};

use super::*;

/// What no console page may exceed (KiB).
const PAGE_LIMIT_KIB: u64 = 200;

/// `/proc/<pid>/stat` counts CPU time in these ticks per second (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// The CPU time (user and system, in ticks) the processes have used so far.
pub(super) fn cpu_ticks(pids: &[u32]) -> u64 {
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

impl Bench<'_> {
    /// A signed-in person's session cookie for the console, with a token the services trust.
    pub(super) fn signed_in(&self, claims: Claims) -> anyhow::Result<String> {
        let token = self.cluster.token(claims.clone())?;
        Ok(self.console.cookie(token, &claims))
    }

    /// Someone with `role` acting for `municipalities`, signed in to the console.
    pub(super) fn signed_in_as(
        &self,
        role: Role,
        municipalities: &[&str],
    ) -> anyhow::Result<String> {
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
    pub(super) async fn screens(
        &self,
        read_p99: f64,
    ) -> anyhow::Result<(Vec<Outcome>, Vec<String>)> {
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
    pub(super) async fn settle(&self) {
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
    pub(super) async fn screen_list(&self) -> anyhow::Result<Vec<Screen>> {
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
