//! `kontakt ctl`: the everyday questions of a coordinator, a counsellor or finance, asked over
//! gRPC with the caller's own token (so access rules and the access log apply as for any
//! client) and printed as tables.

use std::io::Write as _;
use std::path::PathBuf;

use crate::cli::Endpoints;
use crate::client::{Authed, Bearer, channel};
use crate::progress::Progress;
use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use kontakt_platform::clock::{Clock as _, SystemClock};
use kontakt_proto::common::v1::{Date, DateRange, Money};
use kontakt_proto::followup::v1 as followup;
use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1 as referral;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::timecost::v1 as timecost;
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Your token (in development: `kontakt token --role ... --municipality ...`).
    #[arg(long, env = "KONTAKT_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Follow-ups due (or overdue) in a municipality: the counsellors' worklist.
    DueFollowUps {
        /// Municipality code, e.g. 183.
        #[arg(long)]
        municipality: String,
        /// Due within this many days from today (default: the municipality's reminder lead
        /// time).
        #[arg(long)]
        within_days: Option<u32>,
    },
    /// A frame's budget status: indexed amount, spent, committed and free, per municipality
    /// against its share.
    Budget {
        /// The frame's id, e.g. `ishoj-vallensbaek`, or its name `frames/{id}`.
        #[arg(long)]
        frame: String,
        /// The day to compute for (YYYY-MM-DD; default today).
        #[arg(long, value_parser = parse_date)]
        as_of: Option<NaiveDate>,
    },
    /// Grants nobody has been found for, oldest first, with what is missing.
    UnmetDemand {
        /// Municipality code, e.g. 183.
        #[arg(long)]
        municipality: String,
    },
    /// A grant and every version of its terms: who decided what, from when, and why.
    GrantHistory {
        /// The grant: `municipalities/{code}/grants/{id}`.
        grant: String,
    },
    /// The events the services' consumers refused and passed over, from all four services
    /// (administrators). Nothing is lost: each is kept and can be applied again.
    Rejects {
        /// Also those already applied again.
        #[arg(long)]
        include_reapplied: bool,
    },
    /// Applies refused events again once their cause is mended (a policy, a catalogue row, a
    /// release): one by its name, or every open one of a service. Each is applied exactly once.
    Reapply {
        /// referral, matching, timecost or followup.
        #[arg(long)]
        service: String,
        /// The reject, `consumers/{consumer}/rejects/{sequence}` (as `kontakt ctl rejects`
        /// lists it).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Every open reject of the service.
        #[arg(long)]
        all: bool,
    },
    /// Brings over arrangements from the municipality's old system: a CSV file (one a row,
    /// columns as the README lists them) or JSON lines (`.jsonl`, one ImportedArrangement a
    /// line). Every row is checked first; if any is refused, nothing is imported and each
    /// refused row is listed with its reason. Run again after a break: what is there is kept.
    /// The token needs `admin` (or `case_system`), and `coordinator` to assign contact persons.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// The approved hours of a period as the payroll CSV, written to a file.
    ExportPayroll(ExportArgs),
    /// The municipality's preventive measures of a period as the CSV for its report to
    /// Danmarks Statistik (every child's CPR number; each read is in the access log). The
    /// token needs `counsellor`, `case_system` or `admin`.
    ExportStatistics(ExportArgs),
}

/// What an export is of and where it goes.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Municipality code, e.g. 183.
    #[arg(long)]
    municipality: String,
    /// First day of the period (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    from: NaiveDate,
    /// Last day of the period (YYYY-MM-DD); at most 366 days in all.
    #[arg(long, value_parser = parse_date)]
    to: NaiveDate,
    /// Where to write the CSV.
    #[arg(long)]
    out: PathBuf,
}

impl ExportArgs {
    fn parent(&self) -> String {
        format!("municipalities/{}", self.municipality)
    }

    fn period(&self) -> Option<DateRange> {
        Some(DateRange {
            start: Some(self.from.into()),
            end: Some(self.to.into()),
        })
    }
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("not a YYYY-MM-DD date: {text}"))
}

/// A failed call as the error the user reads: the service, the code and its message.
pub(crate) fn failed(service: &str) -> impl Fn(tonic::Status) -> anyhow::Error + '_ {
    move |status| anyhow::anyhow!("{service}: {:?}: {}", status.code(), status.message())
}

pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let bearer = Bearer::new(&args.token)?;
    let e = &args.endpoints;
    match args.command {
        CtlCommand::DueFollowUps {
            municipality,
            within_days,
        } => {
            let client = FollowUpServiceClient::with_interceptor(channel(&e.followup_url)?, bearer);
            print!(
                "{}",
                due_follow_ups(client, &municipality, within_days).await?
            );
        }
        CtlCommand::Budget { frame, as_of } => {
            let client = TimeCostServiceClient::with_interceptor(channel(&e.timecost_url)?, bearer);
            print!("{}", budget(client, &frame, as_of).await?);
        }
        CtlCommand::UnmetDemand { municipality } => {
            let client = MatchingServiceClient::with_interceptor(channel(&e.matching_url)?, bearer);
            print!("{}", unmet_demand(client, &municipality).await?);
        }
        CtlCommand::GrantHistory { grant } => {
            let client = ReferralServiceClient::with_interceptor(channel(&e.referral_url)?, bearer);
            print!("{}", grant_history(client, &grant).await?);
        }
        CtlCommand::Rejects { include_reapplied } => {
            print!(
                "{}",
                crate::ctl_rejects::rejects(e, &bearer, include_reapplied).await?
            );
        }
        CtlCommand::Reapply { service, name, .. } => {
            print!(
                "{}",
                crate::ctl_rejects::reapply(e, &bearer, &service, name).await?
            );
        }
        CtlCommand::Import { file } => {
            let referral =
                ReferralServiceClient::with_interceptor(channel(&e.referral_url)?, bearer.clone());
            let matching =
                MatchingServiceClient::with_interceptor(channel(&e.matching_url)?, bearer);
            print!(
                "{}",
                crate::ctl_import::import(referral, matching, &file).await?
            );
        }
        CtlCommand::ExportPayroll(export) => {
            let client = TimeCostServiceClient::with_interceptor(channel(&e.timecost_url)?, bearer);
            export_payroll(client, &export).await?;
        }
        CtlCommand::ExportStatistics(export) => {
            let client = ReferralServiceClient::with_interceptor(channel(&e.referral_url)?, bearer);
            export_statistics(client, &export).await?;
        }
    }
    Ok(())
}

async fn due_follow_ups(
    mut client: FollowUpServiceClient<Authed>,
    municipality: &str,
    within_days: Option<u32>,
) -> anyhow::Result<String> {
    let due_on_or_before = within_days
        .map(|days| Date::from(SystemClock.today() + chrono::Days::new(u64::from(days))));
    let mut rows = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_due_follow_ups(followup::ListDueFollowUpsRequest {
                parent: format!("municipalities/{municipality}"),
                due_on_or_before,
                page_size: 200,
                page_token,
                ..followup::ListDueFollowUpsRequest::default()
            })
            .await
            .map_err(failed("followup"))?
            .into_inner();
        for f in page.follow_ups {
            rows.push(vec![
                day(f.due_date.as_ref()),
                state_name(f.state().as_str_name(), "FOLLOW_UP_STATE_"),
                f.grant.clone(),
                f.counsellor.clone(),
                f.name.clone(),
            ]);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let count = rows.len();
    Ok(format!(
        "{}{count} follow-up(s) due in {municipality}\n",
        table(
            &["DUE", "STATE", "GRANT", "COUNSELLOR", "FOLLOW-UP"],
            &[],
            &rows
        )
    ))
}

async fn budget(
    mut client: TimeCostServiceClient<Authed>,
    frame: &str,
    as_of: Option<NaiveDate>,
) -> anyhow::Result<String> {
    let frame = if frame.starts_with("frames/") {
        frame.to_owned()
    } else {
        format!("frames/{frame}")
    };
    let status = client
        .get_budget_status(timecost::GetBudgetStatusRequest {
            name: format!("{frame}/budgetStatus"),
            as_of: as_of.map(Date::from),
        })
        .await
        .map_err(failed("timecost"))?
        .into_inner();
    let mut rows: Vec<Vec<String>> = status
        .municipalities
        .iter()
        .map(|m| {
            vec![
                m.municipality.clone(),
                m.share.as_ref().map_or_else(String::new, |s| {
                    format!("{}/{}", s.numerator, s.denominator)
                }),
                kroner(m.expected.as_ref()),
                kroner(m.spent.as_ref()),
                kroner(m.committed.as_ref()),
                kroner(m.free.as_ref()),
            ]
        })
        .collect();
    rows.push(vec![
        "frame".into(),
        "1".into(),
        kroner(status.indexed_amount.as_ref()),
        kroner(status.spent.as_ref()),
        kroner(status.committed.as_ref()),
        kroner(status.free.as_ref()),
    ]);
    let mut out = format!(
        "{} — budget {} as of {}{}\n",
        status.frame,
        status.year,
        day(status.as_of.as_ref()),
        if status.threshold_passed {
            "  (WARNING: the threshold is passed)"
        } else {
            ""
        }
    );
    out.push_str(&table(
        &[
            "MUNICIPALITY",
            "SHARE",
            "EXPECTED",
            "SPENT",
            "COMMITTED",
            "FREE",
        ],
        &[2, 3, 4, 5],
        &rows,
    ));
    if let Some(c) = &status.spent_by_category {
        out.push_str(&format!(
            "spent by category: contact persons {}, providers {}, coordinator function {}, expenses {}\n",
            kroner(c.contact_person_pay.as_ref()),
            kroner(c.external_purchases.as_ref()),
            kroner(c.coordinator_function.as_ref()),
            kroner(c.expenses.as_ref()),
        ));
    }
    Ok(out)
}

async fn unmet_demand(
    mut client: MatchingServiceClient<Authed>,
    municipality: &str,
) -> anyhow::Result<String> {
    let demand = client
        .list_unmet_demand(matching::ListUnmetDemandRequest {
            parent: format!("municipalities/{municipality}"),
        })
        .await
        .map_err(failed("matching"))?
        .into_inner()
        .demands;
    let rows: Vec<Vec<String>> = demand
        .iter()
        .map(|d| {
            vec![
                d.age_days.to_string(),
                hours(d.minutes_per_week),
                d.missing_competences
                    .iter()
                    .map(|c| c.trim_start_matches("competences/"))
                    .collect::<Vec<_>>()
                    .join(", "),
                d.partial_candidates.to_string(),
                d.matching_request.clone(),
            ]
        })
        .collect();
    Ok(format!(
        "{}{} request(s) nobody can take in {municipality}\n",
        table(
            &[
                "DAYS OPEN",
                "HOURS/WEEK",
                "MISSING",
                "PARTIAL CANDIDATES",
                "REQUEST"
            ],
            &[0, 1, 3],
            &rows
        ),
        rows.len()
    ))
}

async fn grant_history(
    mut client: ReferralServiceClient<Authed>,
    grant: &str,
) -> anyhow::Result<String> {
    let g = client
        .get_grant(referral::GetGrantRequest { name: grant.into() })
        .await
        .map_err(failed("referral"))?
        .into_inner();
    let mut versions = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_grant_versions(referral::ListGrantVersionsRequest {
                parent: grant.into(),
                page_size: 100,
                page_token,
            })
            .await
            .map_err(failed("referral"))?
            .into_inner();
        versions.extend(page.versions);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut out = format!(
        "{}  {}  {} hours/week  {} – {}\n",
        g.name,
        state_name(g.state().as_str_name(), "GRANT_STATE_"),
        hours(g.minutes_per_week),
        day(g.start_date.as_ref()),
        if g.end_date.is_some() {
            format!(
                "{} (ended: {})",
                day(g.end_date.as_ref()),
                state_name(g.end_reason().as_str_name(), "GRANT_END_REASON_")
            )
        } else {
            format!("{} (expected)", day(g.expected_end_date.as_ref()))
        }
    );
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let effective = v.effective.as_ref();
            vec![
                v.name.rsplit('/').next().unwrap_or_default().to_owned(),
                day(effective.and_then(|e| e.start.as_ref())),
                day(effective.and_then(|e| e.end.as_ref())),
                hours(v.minutes_per_week),
                state_name(v.approval_level().as_str_name(), "APPROVAL_LEVEL_"),
                v.decider.clone(),
                if v.withdrawn {
                    "withdrawn".into()
                } else if !v.follow_up.is_empty() {
                    format!("from {}", v.follow_up)
                } else {
                    v.justification.clone()
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "VERSION",
            "FROM",
            "TO",
            "HOURS/WEEK",
            "LEVEL",
            "DECIDED BY",
            "NOTE",
        ],
        &[3],
        &rows,
    ));
    Ok(out)
}

async fn export_payroll(
    mut client: TimeCostServiceClient<Authed>,
    export: &ExportArgs,
) -> anyhow::Result<()> {
    let stream = client
        .export_payroll(timecost::ExportPayrollRequest {
            parent: export.parent(),
            period: export.period(),
        })
        .await
        .map_err(failed("timecost"))?
        .into_inner();
    let rows = write_export(
        stream,
        |c: timecost::CsvChunk| (c.data, c.rows),
        "timecost",
        "Exporting payroll",
        &export.out,
    )
    .await?;
    println!("{rows} rows written to {}", export.out.display());
    Ok(())
}

async fn export_statistics(
    mut client: ReferralServiceClient<Authed>,
    export: &ExportArgs,
) -> anyhow::Result<()> {
    let mut request = tonic::Request::new(referral::ExportPreventiveMeasuresRequest {
        parent: export.parent(),
        period: export.period(),
    });
    request.metadata_mut().insert(
        kontakt_platform::audit::PURPOSE_HEADER,
        tonic::metadata::MetadataValue::from_static(
            "report of preventive measures to Danmarks Statistik",
        ),
    );
    let stream = client
        .export_preventive_measures(request)
        .await
        .map_err(failed("referral"))?
        .into_inner();
    let rows = write_export(
        stream,
        |c: referral::ExportChunk| (c.data, c.rows),
        "referral",
        "Exporting preventive measures",
        &export.out,
    )
    .await?;
    println!("{rows} measures written to {}", export.out.display());
    Ok(())
}

/// Writes a streamed export to `out`, showing the rows as they come; `parts` takes a chunk's
/// bytes and its running row count. Written next to the target and renamed at the end, so an
/// interrupted export leaves no half file where the full one is expected.
async fn write_export<T>(
    mut stream: tonic::Streaming<T>,
    parts: impl Fn(T) -> (Vec<u8>, i64),
    service: &str,
    label: &str,
    out: &std::path::Path,
) -> anyhow::Result<i64> {
    let partial = out.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    // The total is not known up front: the indicator counts rows as they arrive.
    let mut progress = Progress::new(label, 0);
    let mut rows = 0;
    while let Some(chunk) = stream.message().await.map_err(failed(service))? {
        let (data, so_far) = parts(chunk);
        file.write_all(&data)?;
        rows = so_far;
        progress.step(&format!("{rows} rows"));
    }
    progress.finish();
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, out)?;
    Ok(rows)
}

/// A plain-text table: columns as wide as their widest cell, the `right` columns right-aligned
/// (amounts), two spaces between columns.
pub(crate) fn table(headers: &[&str], right: &[usize], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                text.push_str("  ");
            }
            if right.contains(&i) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Danish kroner: `1.234.567,89 kr.`
fn kroner(money: Option<&Money>) -> String {
    let ore = money.map_or(0, |m| m.ore);
    let whole = (ore.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    let sign = if ore < 0 { "-" } else { "" };
    format!("{sign}{grouped},{:02} kr.", ore.unsigned_abs() % 100)
}

/// Minutes a week as hours: `4`, `2,5`, `1:20`.
fn hours(minutes: i32) -> String {
    match minutes % 60 {
        0 => (minutes / 60).to_string(),
        30 => format!("{},5", minutes / 60),
        rest => format!("{}:{rest:02}", minutes / 60),
    }
}

fn day(date: Option<&Date>) -> String {
    date.map_or_else(
        || "—".into(),
        |d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day),
    )
}

/// `FOLLOW_UP_STATE_OVERDUE` → `overdue`.
fn state_name(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix)
        .to_lowercase()
        .replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_by_characters_not_bytes_and_right_align_amounts() {
        let rows = vec![
            vec!["Ishøj".to_owned(), "1,00 kr.".to_owned()],
            vec!["Vallensbæk".to_owned(), "12.345,00 kr.".to_owned()],
        ];
        assert_eq!(
            table(&["NAME", "AMOUNT"], &[1], &rows),
            "NAME               AMOUNT\n\
             Ishøj            1,00 kr.\n\
             Vallensbæk  12.345,00 kr.\n"
        );
        assert_eq!(table(&["A", "B"], &[], &[]), "A  B\n");
    }

    #[test]
    fn kroner_are_grouped_in_thousands_with_a_decimal_comma() {
        let k = |ore| kroner(Some(&Money { ore }));
        assert_eq!(k(0), "0,00 kr.");
        assert_eq!(k(5), "0,05 kr.");
        assert_eq!(k(123_456), "1.234,56 kr.");
        assert_eq!(k(48_812_345_678), "488.123.456,78 kr.");
        assert_eq!(k(-100_000), "-1.000,00 kr.");
        assert_eq!(kroner(None), "0,00 kr.");
    }

    #[test]
    fn hours_read_as_people_say_them() {
        assert_eq!(hours(180), "3");
        assert_eq!(hours(150), "2,5");
        assert_eq!(hours(80), "1:20");
        assert_eq!(state_name("FOLLOW_UP_STATE_DUE", "FOLLOW_UP_STATE_"), "due");
        assert_eq!(
            state_name("GRANT_END_REASON_PURPOSE_MET", "GRANT_END_REASON_"),
            "purpose met"
        );
    }
}
