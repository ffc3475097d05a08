//! Reports: the annual frame evaluation dataset (R-FU-5) and the CSV exports finance takes to
//! payroll and to invoice reconciliation. Read-only; the figures come from the same aggregates
//! and rounding rule as the budget status.

use std::fmt::Write as _;
use std::pin::Pin;

use chrono::{Datelike as _, NaiveDate};
use kontakt_platform::resource::{self, scoped_parent};
use kontakt_platform::{ApiError, export};
use kontakt_proto::timecost::v1::{
    CsvChunk, ExportPayrollRequest, ExportProviderPurchasesRequest, FrameEvaluation,
    GetFrameEvaluationRequest, MonthCategorySpend, MunicipalityEvaluation, ProviderPurchase,
};
use tokio_stream::Stream;
use tonic::{Request, Status};

use super::TimeCostApi;
use super::frames::{FRAMES, FrameYear, category_spend, money, month_spend, share};
use super::time::person_name;
use crate::domain::budget::{self, Inputs};
use crate::domain::pricing::{self, Basis};

pub type CsvStream = Pin<Box<dyn Stream<Item = Result<CsvChunk, Status>> + Send>>;

/// Øre as kroner with two decimals ("1234.50", "-0.05"): what spreadsheets and payroll read.
fn kroner(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        ore.unsigned_abs() / 100,
        ore.unsigned_abs() % 100
    )
}

/// Minutes as hours with two decimals, rounded half up ("1.25" for 75 minutes).
fn hours(minutes: i64) -> String {
    let hundredths = (minutes.abs() * 100 * 2 + 60) / 120;
    let sign = if minutes < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", hundredths / 100, hundredths % 100)
}

/// The CSV text as a stream of chunks carrying the running row count, the file's name on the
/// first. Every field written is a resource id, a date or a number, so none needs quoting.
fn stream_csv(filename: String, header: &str, rows: Vec<String>) -> CsvStream {
    let items: Vec<Result<CsvChunk, Status>> = export::csv_chunks(&filename, header, rows)
        .into_iter()
        .map(|c| {
            Ok(CsvChunk {
                data: c.data,
                rows: c.rows,
                filename: c.filename,
            })
        })
        .collect();
    Box::pin(tokio_stream::iter(items))
}

impl TimeCostApi {
    pub(super) async fn get_frame_evaluation(
        &self,
        request: Request<GetFrameEvaluationRequest>,
    ) -> Result<FrameEvaluation, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let wrong = || ApiError::invalid("name", "must be `frames/{frame}/evaluations/{year}`");
        let (frame_name, year) = name.rsplit_once("/evaluations/").ok_or_else(wrong)?;
        let year: i32 = year
            .parse()
            .ok()
            .filter(|y| (1990..=2199).contains(y))
            .ok_or_else(wrong)?;
        let id = resource::parse_top_level(frame_name, FRAMES, "name")?;
        let today = self.clock.today();
        if year > today.year() {
            return Err(ApiError::invalid("name", "that year has not begun"));
        }
        let mut tx = self.store.begin().await?;
        let FrameYear {
            row,
            named_shares,
            municipalities,
            indexed,
        } = self
            .frame_year(&mut tx, Some(principal), id, name, year)
            .await?;
        let year_start = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(wrong)?;
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(wrong)?;
        let from = year_start.max(row.period_start);
        let as_of = [Some(year_end), row.period_end, Some(today)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(year_end);
        if from > as_of {
            return Err(ApiError::invalid(
                "name",
                "the frame has no days in that year up to today",
            ));
        }
        let spend = self
            .spend(&mut tx, &municipalities, &row.service_units, from, as_of)
            .await?;
        // What the active grants will still cost this year: nothing for a year that is over.
        let last = row.period_end.map_or(year_end, |end| end.min(year_end));
        let forecast = if as_of < last {
            self.forecast(&mut tx, &municipalities, &row.service_units, as_of, last)
                .await?
        } else {
            Vec::new()
        };
        let status = budget::status(&Inputs {
            indexed_ore: indexed,
            shares: &named_shares,
            spend: &spend,
            forecast: &forecast,
            coordinator_per_year_ore: row.coordinator_cost_per_year_ore,
            days_elapsed: i64::from(as_of.ordinal()),
            days_in_year: if year_start.leap_year() { 366 } else { 365 },
            threshold_basis_points: row.threshold_basis_points,
        })
        .map_err(super::frames::frame_error)?;
        let grants = self
            .store
            .grant_days(&mut tx, &municipalities, &row.service_units, from, as_of)
            .await?;
        let purchases = self
            .store
            .purchases_by_reason(&mut tx, &municipalities, &row.service_units, from, as_of)
            .await?;
        tx.commit().await?;
        let delivered = |m: Option<&str>| -> i64 {
            spend
                .iter()
                .filter(|s| m.is_none_or(|m| s.municipality == m))
                .map(|s| s.minutes)
                .sum()
        };
        let grant_days = |m: &str| grants.iter().find(|g| g.municipality == m);
        Ok(FrameEvaluation {
            name: name.clone(),
            frame: frame_name.to_owned(),
            year,
            as_of: Some(as_of.into()),
            indexed_amount: money(indexed),
            spent: money(status.spent_ore),
            committed: money(status.committed_ore),
            spent_by_category: Some(category_spend(&status.categories)),
            purchases: purchases
                .into_iter()
                .map(|p| ProviderPurchase {
                    municipality: p.municipality,
                    provider: format!("providers/{}", p.provider_id),
                    reason: if p.reason.is_empty() {
                        "UNKNOWN".to_owned()
                    } else {
                        p.reason
                    },
                    assignments: i32::try_from(p.assignments).unwrap_or(i32::MAX),
                    minutes: p.minutes,
                    amount: money(pricing::to_ore(p.cost_units)),
                })
                .collect(),
            arrangements: grants.iter().map(|g| g.arrangements).sum::<i64>() as i32,
            granted_minutes: budget::granted_minutes(grants.iter().map(|g| g.minute_days).sum()),
            delivered_minutes: delivered(None),
            months: month_spend(&status.months),
            municipalities: status
                .municipalities
                .iter()
                .map(|m| {
                    let g = grant_days(&m.municipality);
                    MunicipalityEvaluation {
                        municipality: m.municipality.clone(),
                        share: Some(share(&m.municipality, m.share)),
                        expected: money(m.expected_ore),
                        spent: money(m.spent_ore),
                        committed: money(m.committed_ore),
                        spent_by_category: Some(category_spend(&m.categories)),
                        months: month_spend(&m.months),
                        month_categories: spend
                            .iter()
                            .filter(|s| s.municipality == m.municipality)
                            .map(|s| MonthCategorySpend {
                                month: Some(s.month.into()),
                                category: s.category.code().to_owned(),
                                spent: money(pricing::to_ore(s.cost_units)),
                                minutes: s.minutes,
                            })
                            .collect(),
                        arrangements: g.map_or(0, |g| g.arrangements) as i32,
                        granted_minutes: budget::granted_minutes(g.map_or(0, |g| g.minute_days)),
                        delivered_minutes: delivered(Some(&m.municipality)),
                    }
                })
                .collect(),
        })
    }

    pub(super) async fn export_payroll(
        &self,
        request: Request<ExportPayrollRequest>,
    ) -> Result<CsvStream, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let m = scoped_parent(principal, &body.parent)?;
        let (from, to) = export::period(body.period.as_ref())?;
        let rows = self.store.payroll(&m.to_string(), from, to).await?;
        let lines = rows
            .into_iter()
            .map(|r| {
                // Wage and total are each rounded once; holiday pay is their difference, so the
                // three always add up.
                let wage = pricing::to_ore(pricing::cost_units(
                    Basis::StaffCost,
                    r.hourly_wage_ore,
                    r.minutes,
                ));
                let total = pricing::to_ore(r.cost_units);
                let mut line = String::new();
                let _ = write!(
                    line,
                    "{},{}/timesheets/{},{},{},{},{},{},{},{},{}",
                    person_name(&r.unit, &r.contact_person_id),
                    person_name(&r.unit, &r.contact_person_id),
                    r.timesheet_id,
                    r.period_start,
                    r.period_end,
                    kroner(r.hourly_wage_ore),
                    r.minutes,
                    hours(r.minutes),
                    kroner(wage),
                    kroner(total - wage),
                    kroner(total),
                );
                line
            })
            .collect();
        Ok(stream_csv(
            format!("payroll-{m}-{from}-{to}.csv"),
            "contact_person,timesheet,period_start,period_end,hourly_wage_dkk,minutes,hours,wage_dkk,holiday_pay_dkk,total_dkk",
            lines,
        ))
    }

    pub(super) async fn export_provider_purchases(
        &self,
        request: Request<ExportProviderPurchasesRequest>,
    ) -> Result<CsvStream, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let m = scoped_parent(principal, &body.parent)?;
        let (from, to) = export::period(body.period.as_ref())?;
        let rows = self
            .store
            .provider_purchases(&m.to_string(), from, to)
            .await?;
        let lines = rows
            .into_iter()
            .map(|r| {
                format!(
                    "providers/{},{},municipalities/{m}/assignments/{},{},{},{},{},{}",
                    r.provider_id,
                    r.month.format("%Y-%m"),
                    r.assignment_id,
                    person_name(&r.unit, &r.contact_person_id),
                    kroner(r.agreed_hourly_ore),
                    r.minutes,
                    hours(r.minutes),
                    kroner(pricing::to_ore(r.cost_units)),
                )
            })
            .collect();
        Ok(stream_csv(
            format!("provider-purchases-{m}-{from}-{to}.csv"),
            "provider,month,assignment,contact_person,hourly_price_dkk,minutes,hours,amount_dkk",
            lines,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_kroner_and_hours_with_two_decimals() {
        assert_eq!(kroner(123_450), "1234.50");
        assert_eq!(kroner(-5), "-0.05");
        assert_eq!(kroner(0), "0.00");
        assert_eq!(hours(75), "1.25");
        assert_eq!(hours(1), "0.02", "1/60 = 0.0167 rounds half up");
        assert_eq!(hours(-90), "-1.50");
    }

    #[test]
    fn a_csv_is_streamed_in_chunks_that_concatenate_to_the_file() {
        let rows: Vec<String> = (0..20_000).map(|i| format!("row-{i},1.00")).collect();
        let expected = format!("h\n{}\n", rows.join("\n"));
        let stream = stream_csv("f.csv".into(), "h", rows);
        let chunks: Vec<CsvChunk> = futures_executor(stream);
        assert!(chunks.len() > 1);
        assert_eq!(chunks[0].filename, "f.csv");
        assert!(chunks[1..].iter().all(|c| c.filename.is_empty()));
        assert_eq!(chunks.last().map(|c| c.rows), Some(20_000));
        let joined: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        assert_eq!(String::from_utf8(joined).ok(), Some(expected));
        let empty = futures_executor(stream_csv("e.csv".into(), "h", Vec::new()));
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].data, b"h\n");
    }

    fn futures_executor(stream: CsvStream) -> Vec<CsvChunk> {
        use tokio_stream::StreamExt as _;
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| {
                rt.block_on(
                    async move { stream.map(|c| c.expect("chunk")).collect::<Vec<_>>().await },
                )
            })
            .expect("runtime")
    }
}
