//! Frames, indexation rates and budget status (R-BF-1..4), for finance.

use chrono::{Datelike as _, NaiveDate};
use kontakt_platform::auth::{MunicipalityCode, Principal};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, day, etag, valid_id};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::timecost::v1::{
    BudgetStatus, CategorySpend, CreateFrameRequest, CreateIndexationRateRequest, Frame,
    FrameCreated, FrameThresholdPassed, GetBudgetStatusRequest, GetFrameRequest, IndexationRate,
    ListIndexationRatesRequest, ListIndexationRatesResponse, MonthSpend, MunicipalityBudget,
    MunicipalityShare,
};
use tonic::Request;
use tonic_types::FieldViolation;

use super::{SCHEMA, TimeCostApi};
use crate::domain::budget::{self, Category, Forecast, Inputs, Spend};
use crate::domain::frame::{self, Amount, FrameError, Share};
use crate::store::{AmountRow, FrameRow, IndexRateRow as RateRow, ShareRow};

pub(super) const FRAMES: &str = "frames";

pub(super) fn money(ore: i64) -> Option<Money> {
    Some(Money { ore })
}

fn frame_to_proto(row: FrameRow, shares: &[ShareRow], amounts: Vec<AmountRow>) -> Frame {
    Frame {
        amounts: amounts
            .into_iter()
            .map(super::frame_amounts::amount_to_proto)
            .collect(),
        name: format!("{FRAMES}/{}", row.id),
        display_name: row.display_name,
        base_amount: money(row.base_ore),
        base_year: row.base_year,
        period: Some(DateRange {
            start: Some(row.period_start.into()),
            end: row.period_end.map(Into::into),
        }),
        shares: shares.iter().map(share_to_proto).collect(),
        service_units: row
            .service_units
            .iter()
            .map(|u| format!("serviceUnits/{u}"))
            .collect(),
        coordinator_cost_per_year: money(row.coordinator_cost_per_year_ore),
        warning_threshold_basis_points: row.threshold_basis_points,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
    }
}

fn share_to_proto(s: &ShareRow) -> MunicipalityShare {
    share(
        &s.municipality,
        Share {
            numerator: s.numerator,
            denominator: s.denominator,
        },
    )
}

pub(super) fn share(municipality: &str, s: Share) -> MunicipalityShare {
    MunicipalityShare {
        municipality: municipality.to_owned(),
        numerator: s.numerator,
        denominator: s.denominator,
    }
}

fn rate_to_proto(r: RateRow) -> IndexationRate {
    IndexationRate {
        name: format!("indexationRates/{}", r.year),
        year: r.year,
        rate_basis_points: r.rate_basis_points,
        source: r.source,
        create_time: Some(kontakt_proto::timestamp(r.create_time)),
        update_time: Some(kontakt_proto::timestamp(r.update_time)),
        etag: etag(r.revision),
    }
}

/// Whether the caller acts for one of the frame's municipalities.
pub(super) fn may_see(principal: &Principal, shares: &[ShareRow]) -> bool {
    shares
        .iter()
        .filter_map(|s| MunicipalityCode::parse(&s.municipality))
        .any(|m| principal.serves(m))
}

pub(super) fn frame_error(err: FrameError) -> ApiError {
    match err {
        FrameError::MissingRate(year) => Refusal::rule(
            "R-BF-1",
            &format!("indexationRates/{year}"),
            "every year after the base year needs its rate",
        )
        .with_reason("INDEXATION_RATE_MISSING")
        .with_message(format!(
            "no PL indexation rate for {year}: finance records it (CreateIndexationRate)"
        ))
        .into(),
        FrameError::BeforeBaseYear => {
            ApiError::invalid("as_of", "the frame's base year comes after this day")
        }
        FrameError::Shares(why) => ApiError::invalid("frame.shares", why),
        FrameError::Overflow => ApiError::invalid("frame.base_amount", "too large"),
    }
}

impl TimeCostApi {
    pub(super) async fn create_frame(
        &self,
        request: Request<CreateFrameRequest>,
    ) -> Result<Frame, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let body = request.into_inner();
        let input = body
            .frame
            .ok_or_else(|| ApiError::invalid("frame", "required"))?;
        let mut wrong = Vec::new();
        if !valid_id(&body.frame_id) {
            wrong.push(FieldViolation::new(
                "frame_id",
                "1 to 63 characters of a-z, 0-9 and -",
            ));
        }
        let name_len = input.display_name.trim().chars().count();
        if name_len == 0 || input.display_name.chars().count() > 200 {
            wrong.push(FieldViolation::new(
                "frame.display_name",
                "1 to 200 characters",
            ));
        }
        let base = input.base_amount.map_or(0, |m| m.ore);
        if base <= 0 {
            wrong.push(FieldViolation::new(
                "frame.base_amount",
                "a positive amount in øre, in base-year prices (R-BF-1)",
            ));
        }
        if !(1990..=2199).contains(&input.base_year) {
            wrong.push(FieldViolation::new(
                "frame.base_year",
                "a year, 1990 to 2199",
            ));
        }
        let period = input.period.unwrap_or_default();
        let start = day(period.start.as_ref(), "frame.period.start")?;
        let end = day(period.end.as_ref(), "frame.period.end")?;
        if start.is_none() {
            wrong.push(FieldViolation::new(
                "frame.period.start",
                "the first day is required",
            ));
        }
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            wrong.push(FieldViolation::new(
                "frame.period.end",
                "not before the start",
            ));
        }
        let mut shares = Vec::new();
        for (i, s) in input.shares.iter().enumerate() {
            if MunicipalityCode::parse(&s.municipality).is_none() {
                wrong.push(FieldViolation::new(
                    format!("frame.shares[{i}].municipality"),
                    "a 3-digit municipality code",
                ));
            }
            shares.push(Share {
                numerator: s.numerator,
                denominator: s.denominator,
            });
        }
        if let Err(FrameError::Shares(why)) = frame::check_shares(&shares) {
            wrong.push(FieldViolation::new("frame.shares", why));
        }
        let mut units = Vec::new();
        for (i, u) in input.service_units.iter().enumerate() {
            match u.strip_prefix("serviceUnits/").filter(|id| valid_id(id)) {
                Some(id) => units.push(id.to_owned()),
                None => wrong.push(FieldViolation::new(
                    format!("frame.service_units[{i}]"),
                    "must be `serviceUnits/{unit}`",
                )),
            }
        }
        let coordinator = input.coordinator_cost_per_year.map_or(0, |m| m.ore);
        if coordinator < 0 {
            wrong.push(FieldViolation::new(
                "frame.coordinator_cost_per_year",
                "must not be negative",
            ));
        }
        if !(1..=10_000).contains(&input.warning_threshold_basis_points) {
            wrong.push(FieldViolation::new(
                "frame.warning_threshold_basis_points",
                "1 to 10000 (e.g. 9000 = warn at 90 %)",
            ));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let rows: Vec<ShareRow> = input
            .shares
            .iter()
            .map(|s| ShareRow {
                municipality: s.municipality.clone(),
                numerator: s.numerator,
                denominator: s.denominator,
            })
            .collect();
        let foreign: Vec<&str> = rows
            .iter()
            .filter(|s| {
                MunicipalityCode::parse(&s.municipality).is_none_or(|m| !principal.serves(m))
            })
            .map(|s| s.municipality.as_str())
            .collect();
        if !foreign.is_empty() {
            return Err(ApiError::PermissionDenied(format!(
                "you do not act for municipality {}",
                foreign.join(", ")
            )));
        }
        let now = self.clock.now();
        let row = FrameRow {
            id: body.frame_id.clone(),
            display_name: input.display_name.trim().to_owned(),
            base_ore: base,
            base_year: input.base_year,
            period_start: start.unwrap_or(NaiveDate::MIN),
            period_end: end,
            service_units: units,
            coordinator_cost_per_year_ore: coordinator,
            threshold_basis_points: input.warning_threshold_basis_points,
            revision: 1,
            create_time: now,
            update_time: now,
        };
        let mut tx = self.store.begin().await?;
        if !self.store.insert_frame(&mut tx, &row, &rows).await? {
            return Err(ApiError::AlreadyExists {
                resource: format!("{FRAMES}/{}", body.frame_id),
            });
        }
        let (row, shares) = self
            .store
            .get_frame(&mut tx, &body.frame_id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("inserted frame not found")))?;
        let frame = frame_to_proto(row, &shares, Vec::new());
        // The follow-up service schedules the frame's yearly evaluation from this (R-FU-5).
        let created = FrameCreated {
            frame: frame.name.clone(),
            display_name: frame.display_name.clone(),
            municipalities: shares.iter().map(|s| s.municipality.clone()).collect(),
            period: frame.period,
        };
        outbox::write(&mut tx, SCHEMA, &NewEvent::new(&created, None, &frame.name)).await?;
        tx.commit().await?;
        Ok(frame)
    }

    pub(super) async fn get_frame(
        &self,
        request: Request<GetFrameRequest>,
    ) -> Result<Frame, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let id = resource::parse_top_level(name, FRAMES, "name")?;
        let mut tx = self.store.begin().await?;
        let (row, shares) = self
            .store
            .get_frame(&mut tx, id)
            .await?
            .filter(|(_, shares)| may_see(principal, shares))
            .ok_or_else(|| ApiError::not_found(name))?;
        let amounts = self.store.frame_amounts(&mut tx, id).await?;
        tx.commit().await?;
        Ok(frame_to_proto(row, &shares, amounts))
    }

    pub(super) async fn create_indexation_rate(
        &self,
        request: Request<CreateIndexationRateRequest>,
    ) -> Result<IndexationRate, ApiError> {
        let input = request
            .into_inner()
            .indexation_rate
            .ok_or_else(|| ApiError::invalid("indexation_rate", "required"))?;
        let mut wrong = Vec::new();
        if !(1990..=2199).contains(&input.year) {
            wrong.push(FieldViolation::new(
                "indexation_rate.year",
                "a year, 1990 to 2199",
            ));
        }
        if !(-5_000..=5_000).contains(&input.rate_basis_points) {
            wrong.push(FieldViolation::new(
                "indexation_rate.rate_basis_points",
                "-5000 to 5000 (e.g. 180 = 1.80 %)",
            ));
        }
        let source_len = input.source.trim().chars().count();
        if source_len == 0 || input.source.chars().count() > 200 {
            wrong.push(FieldViolation::new(
                "indexation_rate.source",
                "where the rate comes from, 1 to 200 characters",
            ));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        self.store
            .insert_rate(input.year, input.rate_basis_points, input.source.trim())
            .await?
            .map(rate_to_proto)
            .ok_or_else(|| ApiError::AlreadyExists {
                resource: format!("indexationRates/{}", input.year),
            })
    }

    pub(super) async fn list_indexation_rates(
        &self,
        _request: Request<ListIndexationRatesRequest>,
    ) -> Result<ListIndexationRatesResponse, ApiError> {
        let mut tx = self.store.begin().await?;
        let rates = self.store.rates(&mut tx).await?;
        tx.commit().await?;
        Ok(ListIndexationRatesResponse {
            indexation_rates: rates.into_iter().map(rate_to_proto).collect(),
        })
    }

    pub(super) async fn get_budget_status(
        &self,
        request: Request<GetBudgetStatusRequest>,
    ) -> Result<BudgetStatus, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let frame_name = body
            .name
            .strip_suffix("/budgetStatus")
            .ok_or_else(|| ApiError::invalid("name", "must be `frames/{frame}/budgetStatus`"))?;
        let id = resource::parse_top_level(frame_name, FRAMES, "name")?;
        let as_of = day(body.as_of.as_ref(), "as_of")?.unwrap_or_else(|| self.clock.today());
        let mut tx = self.store.begin().await?;
        let (status, _) = self
            .budget_status(&mut tx, Some(principal), id, as_of)
            .await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Frame `id`'s budget status on `as_of` (R-BF-4), publishing FrameThresholdPassed in `tx`
    /// the first time a year's status passes the frame's threshold (then `true`). `principal` =
    /// the caller who must act for one of the frame's municipalities; `None` = the service's
    /// own scheduled check.
    pub(super) async fn budget_status(
        &self,
        tx: &mut sqlx::PgConnection,
        principal: Option<&Principal>,
        id: &str,
        as_of: NaiveDate,
    ) -> Result<(BudgetStatus, bool), ApiError> {
        let frame_name = format!("{FRAMES}/{id}");
        let year = as_of.year();
        let FrameYear {
            row,
            named_shares,
            municipalities,
            indexed,
        } = self
            .frame_year(
                tx,
                principal,
                id,
                &format!("{frame_name}/budgetStatus"),
                year,
            )
            .await?;
        let year_start = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(as_of);
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(as_of);
        let from = year_start.max(row.period_start);
        let last = row.period_end.map_or(year_end, |end| end.min(year_end));
        if as_of < row.period_start || row.period_end.is_some_and(|end| as_of > end) {
            return Err(ApiError::invalid("as_of", "outside the frame's period"));
        }
        let spend = self
            .spend(tx, &municipalities, &row.service_units, from, as_of)
            .await?;
        let forecast = self
            .forecast(tx, &municipalities, &row.service_units, as_of, last)
            .await?;
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
        .map_err(frame_error)?;
        // R-BF-4: the warning fires once per frame and year, when a status first shows it.
        let publish = status.threshold_passed && self.store.threshold_passed(tx, id, year).await?;
        if publish {
            let event = FrameThresholdPassed {
                frame: frame_name.clone(),
                municipalities: municipalities.clone(),
                year,
                threshold_basis_points: row.threshold_basis_points,
                indexed_amount: money(indexed),
                spent: money(status.spent_ore),
                committed: money(status.committed_ore),
                free: money(status.free_ore),
                as_of: Some(as_of.into()),
            };
            outbox::write(tx, SCHEMA, &NewEvent::new(&event, None, &frame_name)).await?;
        }
        let status = BudgetStatus {
            months: month_spend(&status.months),
            spent_by_category: Some(category_spend(&status.categories)),
            name: format!("{frame_name}/budgetStatus"),
            year,
            as_of: Some(as_of.into()),
            indexed_amount: money(indexed),
            spent: money(status.spent_ore),
            committed: money(status.committed_ore),
            free: money(status.free_ore),
            threshold_passed: status.threshold_passed,
            municipalities: status
                .municipalities
                .into_iter()
                .map(|m| MunicipalityBudget {
                    share: Some(share(&m.municipality, m.share)),
                    municipality: m.municipality,
                    expected: money(m.expected_ore),
                    spent: money(m.spent_ore),
                    committed: money(m.committed_ore),
                    free: money(m.free_ore),
                })
                .collect(),
            frame: frame_name,
        };
        Ok((status, publish))
    }
}

pub(super) fn category_spend(c: &budget::Categories) -> CategorySpend {
    CategorySpend {
        contact_person_pay: money(c.contact_person_pay_ore),
        external_purchases: money(c.external_purchases_ore),
        coordinator_function: money(c.coordinator_ore),
        expenses: money(c.expenses_ore),
    }
}

pub(super) fn month_spend(months: &[(NaiveDate, i64, i64)]) -> Vec<MonthSpend> {
    months
        .iter()
        .map(|&(month, spent, minutes)| MonthSpend {
            month: Some(month.into()),
            spent: money(spent),
            minutes,
        })
        .collect()
}

/// A frame as seen for one year: its row, its shares by municipality and its indexed amount.
pub(super) struct FrameYear {
    pub row: FrameRow,
    pub named_shares: Vec<(String, Share)>,
    pub municipalities: Vec<String>,
    pub indexed: i64,
}

impl TimeCostApi {
    /// The frame `id` if the caller acts for one of its municipalities (NOT_FOUND as `name`
    /// otherwise), indexed to `year` (R-BF-1).
    pub(super) async fn frame_year(
        &self,
        tx: &mut sqlx::PgConnection,
        principal: Option<&Principal>,
        id: &str,
        name: &str,
        year: i32,
    ) -> Result<FrameYear, ApiError> {
        let (row, shares) = self
            .store
            .get_frame(tx, id)
            .await?
            .filter(|(_, shares)| principal.is_none_or(|p| may_see(p, shares)))
            .ok_or_else(|| ApiError::not_found(name))?;
        let rates = self.store.rates(tx).await?;
        let decided: Vec<(i32, Amount)> = self
            .store
            .frame_amounts(tx, id)
            .await?
            .into_iter()
            .map(|a| {
                let amount = Amount {
                    base_ore: a.base_ore,
                    base_year: a.base_year,
                };
                (a.from_year, amount)
            })
            .collect();
        let own = Amount {
            base_ore: row.base_ore,
            base_year: row.base_year,
        };
        let Amount {
            base_ore,
            base_year,
        } = frame::amount_in_force(own, &decided, year);
        let indexed = frame::indexed_amount_ore(base_ore, base_year, year, |y| {
            rates
                .iter()
                .find(|r| r.year == y)
                .map(|r| r.rate_basis_points)
        })
        .map_err(frame_error)?;
        Ok(FrameYear {
            row,
            municipalities: shares.iter().map(|s| s.municipality.clone()).collect(),
            named_shares: shares
                .iter()
                .map(|s| {
                    (
                        s.municipality.clone(),
                        Share {
                            numerator: s.numerator,
                            denominator: s.denominator,
                        },
                    )
                })
                .collect(),
            indexed,
        })
    }

    /// The active assignments' remaining time after `as_of` up to `last`, grouped for pricing
    /// (R-BF-4).
    pub(super) async fn forecast(
        &self,
        tx: &mut sqlx::PgConnection,
        municipalities: &[String],
        units: &[String],
        as_of: NaiveDate,
        last: NaiveDate,
    ) -> Result<Vec<Forecast>, ApiError> {
        Ok(self
            .store
            .forecast(tx, municipalities, units, as_of, last)
            .await?
            .into_iter()
            .map(|f| Forecast {
                municipality: f.municipality,
                basis: super::time::basis(&f.employment),
                minute_days: f.minute_days,
                rate_ore: f.rate_ore,
                assignments: f.assignments,
            })
            .collect())
    }

    /// The frame area's spend rows from `from`'s month to `to`.
    pub(super) async fn spend(
        &self,
        tx: &mut sqlx::PgConnection,
        municipalities: &[String],
        units: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Spend>, ApiError> {
        Ok(self
            .store
            .spend(tx, municipalities, units, from, to)
            .await?
            .into_iter()
            .map(|s| Spend {
                municipality: s.municipality,
                month: s.month,
                category: Category::from_code(&s.category).unwrap_or(Category::ContactPersonPay),
                cost_units: s.cost_units,
                minutes: s.minutes,
            })
            .collect())
    }
}

/// The scheduled budget check (R-BF-4): FrameThresholdPassed fires when spent + committed
/// passes a frame's threshold even if nobody asks for the status — each frame in its period is
/// looked at on today's date, one replica at a time (`kontakt_platform::schedule`).
pub struct ThresholdCheck(pub TimeCostApi);

#[tonic::async_trait]
impl kontakt_platform::schedule::Job for ThresholdCheck {
    fn name(&self) -> &'static str {
        "timecost.frame-thresholds"
    }

    async fn run(&self, tx: &mut sqlx::PgConnection) -> Result<usize, sqlx::Error> {
        let today = self.0.clock.today();
        let mut published = 0;
        for id in self.0.store.frames_in_period(tx, today).await? {
            // Each frame in a savepoint: one that cannot be computed (e.g. a missing PL rate,
            // which finance sees on GetBudgetStatus) does not hold up the others.
            let mut frame = sqlx::Connection::begin(&mut *tx).await?;
            match self.0.budget_status(&mut frame, None, &id, today).await {
                Ok((_, publish)) => {
                    frame.commit().await?;
                    published += usize::from(publish);
                }
                Err(err) => {
                    frame.rollback().await?;
                    tracing::debug!(frame = %id, error = %err, "budget status not computed");
                }
            }
        }
        Ok(published)
    }
}

/// The time-cost category an assignment's employment falls in (R-BF-3).
pub(super) fn category(employment: &str) -> &'static str {
    if employment == "PROVIDER" {
        Category::ExternalPurchases.code()
    } else {
        Category::ContactPersonPay.code()
    }
}
