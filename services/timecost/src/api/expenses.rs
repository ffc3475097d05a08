//! Expenses (R-TC-5): mileage at the municipality's rate of the day, activity money and
//! interpreter, each checked against the grant's supplementary allowance of its kind and
//! flagged — never silently accepted — above it. Corrections are reversals, as for time.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, day, scoped_parent};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::common::v1::DateRange;
use kontakt_proto::timecost::v1::{
    AllowanceUse, CreateMileageRateRequest, Expense, ExpenseKind, ExpenseRegistered,
    ListExpensesRequest, ListExpensesResponse, ListMileageRatesRequest, ListMileageRatesResponse,
    MileageRate, RegisterExpenseRequest, ReverseExpenseRequest,
};
use tonic::Request;
use tonic_types::FieldViolation;

use super::frames::money;
use super::time::{Parent, Registering, Reversible, Reversing, assignment_name, person_name};
use super::{SCHEMA, TimeCostApi};
use crate::domain::budget::Category;
use crate::domain::expense::{self, Allowance, Period};
use crate::domain::pricing::UNITS_PER_ORE;
use crate::store::{AssignmentRow, ExpenseRow, MileageRateRow};

const MAX_NOTE: usize = 500;
/// 2,000 km: far above any trip, low enough that no sum overflows.
const MAX_METRES: i32 = 2_000_000;
/// DKK 1,000,000 for one expense.
const MAX_AMOUNT_ORE: i64 = 100_000_000;

fn expense_name(m: &str, assignment: &str, id: &str) -> String {
    format!("{}/expenses/{id}", assignment_name(m, assignment))
}

fn kind_code(kind: ExpenseKind) -> Option<&'static str> {
    match kind {
        ExpenseKind::Mileage => Some("MILEAGE"),
        ExpenseKind::Activity => Some("ACTIVITY"),
        ExpenseKind::Interpreter => Some("INTERPRETER"),
        ExpenseKind::Unspecified => None,
    }
}

fn kind_of(code: &str) -> ExpenseKind {
    match code {
        "MILEAGE" => ExpenseKind::Mileage,
        "ACTIVITY" => ExpenseKind::Activity,
        "INTERPRETER" => ExpenseKind::Interpreter,
        _ => ExpenseKind::Unspecified,
    }
}

fn allowance_use(row: &ExpenseRow) -> AllowanceUse {
    AllowanceUse {
        granted: row.allowance_limit_ore.is_some(),
        limit: row.allowance_limit_ore.and_then(money),
        period: Some(DateRange {
            start: Some(row.allowance_from.into()),
            end: row.allowance_to.map(Into::into),
        }),
        used: money(row.allowance_used_ore),
    }
}

fn expense_to_proto(row: ExpenseRow) -> Expense {
    let m = &row.municipality;
    Expense {
        name: expense_name(m, &row.assignment_id, &row.id),
        kind: kind_of(&row.kind) as i32,
        expense_date: Some(row.expense_date.into()),
        distance_metres: row.distance_metres.abs(),
        amount: money(row.amount_ore.abs()),
        note: row.note.clone(),
        reverses: row
            .reverses
            .as_deref()
            .map(|r| expense_name(m, &row.assignment_id, r))
            .unwrap_or_default(),
        exceeds_allowance: row.exceeds_allowance,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        allowance: Some(allowance_use(&row)),
        mileage_rate: row
            .mileage_rate_id
            .as_deref()
            .map(|r| format!("municipalities/{m}/mileageRates/{r}"))
            .unwrap_or_default(),
        contact_person: person_name(&row.unit, &row.contact_person_id),
    }
}

fn rate_to_proto(r: MileageRateRow) -> MileageRate {
    MileageRate {
        name: format!("municipalities/{}/mileageRates/{}", r.municipality, r.id),
        valid_from: Some(r.valid_from.into()),
        amount_per_km: money(r.ore_per_km),
        source: r.source,
        create_time: Some(kontakt_proto::timestamp(r.create_time)),
    }
}

/// The checked input of a RegisterExpense.
struct NewExpense {
    kind: &'static str,
    date: NaiveDate,
    metres: i32,
    amount_ore: i64,
    note: String,
}

fn check_input(input: &Expense, today: NaiveDate) -> Result<NewExpense, ApiError> {
    let mut wrong = Vec::new();
    let kind = ExpenseKind::try_from(input.kind).ok().and_then(kind_code);
    if kind.is_none() {
        wrong.push(FieldViolation::new(
            "expense.kind",
            "MILEAGE, ACTIVITY or INTERPRETER",
        ));
    }
    let date = day(input.expense_date.as_ref(), "expense.expense_date")?;
    match date {
        None => wrong.push(FieldViolation::new(
            "expense.expense_date",
            "the day is required",
        )),
        Some(d) if d > today => wrong.push(FieldViolation::new(
            "expense.expense_date",
            "expenses are registered after they happen, not before",
        )),
        Some(_) => {}
    }
    let amount = input.amount.as_ref().map_or(0, |m| m.ore);
    if kind == Some("MILEAGE") {
        if !(1..=MAX_METRES).contains(&input.distance_metres) {
            wrong.push(FieldViolation::new(
                "expense.distance_metres",
                "1 to 2,000,000 metres (a correction is a reversal)",
            ));
        }
    } else if kind.is_some() && !(1..=MAX_AMOUNT_ORE).contains(&amount) {
        wrong.push(FieldViolation::new(
            "expense.amount",
            "1 øre to DKK 1,000,000 (a correction is a reversal)",
        ));
    }
    if input.note.chars().count() > MAX_NOTE {
        wrong.push(FieldViolation::new(
            "expense.note",
            "at most 500 characters",
        ));
    }
    if !wrong.is_empty() {
        return Err(ApiError::InvalidArgument(wrong));
    }
    Ok(NewExpense {
        kind: kind.unwrap_or("MILEAGE"),
        date: date.unwrap_or(today),
        metres: if kind == Some("MILEAGE") {
            input.distance_metres
        } else {
            0
        },
        amount_ore: amount,
        note: input.note.trim().to_owned(),
    })
}

/// The allowance an expense of `kind` on `day` draws on, and its window.
struct AllowanceWindow {
    allowance: Option<Allowance>,
    from: NaiveDate,
    to: Option<NaiveDate>,
}

impl TimeCostApi {
    /// Takes the grant's allowance lock and finds the allowance in force on `day` with its
    /// period's window (R-TC-5). Without an allowance the window is the calendar month, so the
    /// flagged amount still has a period to be read against.
    async fn allowance_window(
        &self,
        tx: &mut sqlx::PgConnection,
        m: &str,
        a: &AssignmentRow,
        kind: &str,
        day: NaiveDate,
    ) -> Result<AllowanceWindow, ApiError> {
        self.store.lock_grant_allowances(tx, m, &a.grant_id).await?;
        let allowance = self
            .store
            .allowance_on(tx, m, &a.grant_id, kind, day)
            .await?
            .and_then(|(amount_ore, period)| {
                Period::from_code(&period).map(|period| Allowance { amount_ore, period })
            });
        let grant_start = self
            .store
            .grant_start(tx, m, &a.grant_id)
            .await?
            .unwrap_or(a.start_date);
        let period = allowance.map_or(Period::Month, |a| a.period);
        let (from, to) = expense::window(period, day, grant_start);
        Ok(AllowanceWindow {
            allowance,
            from,
            to,
        })
    }

    pub(super) async fn register_expense(
        &self,
        request: Request<RegisterExpenseRequest>,
    ) -> Result<Expense, ApiError> {
        let caller = Caller::of(&request, "expense registration")?;
        let body = request.into_inner();
        let parent = Parent::parse(&caller.principal, &body.parent)?;
        let (code, assignment_id) = (parent.code.clone(), parent.assignment_id);
        resource::request_id(&body.request_id)?;
        let input = body
            .expense
            .as_ref()
            .ok_or_else(|| ApiError::invalid("expense", "required"))?;
        let new = check_input(input, self.clock.today())?;
        let (mut tx, a) = match self
            .begin_registration::<ExpenseRow>(
                &caller,
                &parent,
                &body.request_id,
                new.date,
                "expense.expense_date",
            )
            .await?
        {
            Registering::Done(done) => return Ok(expense_to_proto(done)),
            Registering::Fresh { tx, a } => (tx, a),
        };
        let (amount_ore, rate_id) = if new.kind == "MILEAGE" {
            let rate = self
                .store
                .mileage_rate_on(&mut tx, &code, new.date)
                .await?
                .ok_or_else(|| {
                    ApiError::from(Refusal::broken(
                        "NO_MILEAGE_RATE",
                        "R-TC-5",
                        "expense.expense_date",
                        format!(
                            "municipality {code} has no mileage rate on {}: finance records it (CreateMileageRate)",
                            new.date
                        ),
                    ))
                })?;
            (
                expense::mileage_ore(new.metres, rate.ore_per_km),
                Some(rate.id),
            )
        } else {
            (new.amount_ore, None)
        };
        if amount_ore <= 0 {
            return Err(ApiError::invalid(
                "expense.distance_metres",
                "too short to be worth an øre",
            ));
        }
        let w = self
            .allowance_window(&mut tx, &code, &a, new.kind, new.date)
            .await?;
        let used = self
            .store
            .used_allowance(&mut tx, &code, &a.grant_id, new.kind, w.from, w.to)
            .await?
            + amount_ore;
        let row = self
            .store
            .insert_expense(
                &mut tx,
                &ExpenseRow {
                    municipality: code.clone(),
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    assignment_id: assignment_id.to_owned(),
                    grant_id: a.grant_id.clone(),
                    kind: new.kind.to_owned(),
                    expense_date: new.date,
                    distance_metres: new.metres,
                    amount_ore,
                    mileage_rate_id: rate_id,
                    note: new.note,
                    reverses: None,
                    unit: a.unit.clone(),
                    contact_person_id: a.contact_person_id.clone(),
                    exceeds_allowance: expense::exceeds(w.allowance, used),
                    allowance_limit_ore: w.allowance.map(|a| a.amount_ore),
                    allowance_from: w.from,
                    allowance_to: w.to,
                    allowance_used_ore: used,
                    request_id: body.request_id.clone(),
                    registered_by: caller.principal.subject.clone(),
                    create_time: self.clock.now(),
                },
            )
            .await?;
        self.record_expense(&mut tx, &caller, &a, &row, "RegisterExpense")
            .await?;
        tx.commit().await?;
        Ok(expense_to_proto(row))
    }

    /// What every expense and reversal writes with it: the month's cost aggregate, the event
    /// and the audit row.
    async fn record_expense(
        &self,
        tx: &mut kontakt_platform::db::CallTx,
        caller: &Caller,
        a: &AssignmentRow,
        row: &ExpenseRow,
        method: &str,
    ) -> Result<(), ApiError> {
        let m = &row.municipality;
        self.store
            .add_cost(
                tx,
                m,
                &row.unit,
                row.expense_date,
                Category::Expenses.code(),
                row.amount_ore * UNITS_PER_ORE,
                0,
            )
            .await?;
        let name = expense_name(m, &row.assignment_id, &row.id);
        let event = ExpenseRegistered {
            expense: name.clone(),
            assignment: assignment_name(m, &row.assignment_id),
            grant: format!("municipalities/{m}/grants/{}", row.grant_id),
            contact_person: person_name(&row.unit, &row.contact_person_id),
            municipality: m.clone(),
            kind: kind_of(&row.kind) as i32,
            expense_date: Some(row.expense_date.into()),
            amount: money(row.amount_ore.abs()),
            reverses: row
                .reverses
                .as_deref()
                .map(|r| expense_name(m, &row.assignment_id, r))
                .unwrap_or_default(),
            exceeds_allowance: row.exceeds_allowance,
            allowance: Some(allowance_use(row)),
        };
        outbox::write(tx, SCHEMA, &NewEvent::new(&event, Some(m.clone()), &name)).await?;
        caller
            .wrote(tx, method, Action::Create, &name, m, &a.person)
            .await
    }

    pub(super) async fn reverse_expense(
        &self,
        request: Request<ReverseExpenseRequest>,
    ) -> Result<Expense, ApiError> {
        let caller = Caller::of(&request, "expense registration")?;
        let body = request.into_inner();
        let Reversible {
            mut tx,
            a,
            code,
            original,
        } = match self
            .begin_reversal::<ExpenseRow>(
                &caller,
                "expenses",
                &body.name,
                &body.request_id,
                &body.note,
            )
            .await?
        {
            Reversing::Done(done) => return Ok(expense_to_proto(done)),
            Reversing::Fresh(r) => *r,
        };
        let w = self
            .allowance_window(&mut tx, &code, &a, &original.kind, original.expense_date)
            .await?;
        let used = self
            .store
            .used_allowance(&mut tx, &code, &a.grant_id, &original.kind, w.from, w.to)
            .await?
            - original.amount_ore;
        let row = self
            .store
            .insert_expense(
                &mut tx,
                &ExpenseRow {
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    distance_metres: -original.distance_metres,
                    amount_ore: -original.amount_ore,
                    note: body.note.trim().to_owned(),
                    reverses: Some(original.id.clone()),
                    // Taking an amount back never exceeds an allowance.
                    exceeds_allowance: false,
                    allowance_limit_ore: w.allowance.map(|a| a.amount_ore),
                    allowance_from: w.from,
                    allowance_to: w.to,
                    allowance_used_ore: used,
                    request_id: body.request_id.clone(),
                    registered_by: caller.principal.subject.clone(),
                    create_time: self.clock.now(),
                    ..original
                },
            )
            .await?;
        self.record_expense(&mut tx, &caller, &a, &row, "ReverseExpense")
            .await?;
        tx.commit().await?;
        Ok(expense_to_proto(row))
    }

    pub(super) async fn list_expenses(
        &self,
        request: Request<ListExpensesRequest>,
    ) -> Result<ListExpensesResponse, ApiError> {
        let caller = Caller::of(&request, "expense registration")?;
        let body = request.into_inner();
        let (rows, next_page_token) = self
            .list_page::<ExpenseRow>(
                &caller,
                "expenses",
                "ListExpenses",
                &body.parent,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(ListExpensesResponse {
            expenses: rows.into_iter().map(expense_to_proto).collect(),
            next_page_token,
        })
    }

    pub(super) async fn create_mileage_rate(
        &self,
        request: Request<CreateMileageRateRequest>,
    ) -> Result<MileageRate, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let m = scoped_parent(principal, &body.parent)?;
        let input = body
            .mileage_rate
            .as_ref()
            .ok_or_else(|| ApiError::invalid("mileage_rate", "required"))?;
        let mut wrong = Vec::new();
        let from = day(input.valid_from.as_ref(), "mileage_rate.valid_from")?;
        if from.is_none() {
            wrong.push(FieldViolation::new(
                "mileage_rate.valid_from",
                "the first day is required",
            ));
        }
        let per_km = input.amount_per_km.as_ref().map_or(0, |m| m.ore);
        if !(1..=10_000).contains(&per_km) {
            wrong.push(FieldViolation::new(
                "mileage_rate.amount_per_km",
                "1 øre to DKK 100 per km",
            ));
        }
        let source_len = input.source.trim().chars().count();
        if source_len == 0 || input.source.chars().count() > 200 {
            wrong.push(FieldViolation::new(
                "mileage_rate.source",
                "where the rate comes from, 1 to 200 characters",
            ));
        }
        let Some(from) = from.filter(|_| wrong.is_empty()) else {
            return Err(ApiError::InvalidArgument(wrong));
        };
        self.store
            .insert_mileage_rate(&m.to_string(), from, per_km, input.source.trim())
            .await?
            .map(rate_to_proto)
            .ok_or_else(|| ApiError::AlreadyExists {
                resource: format!("{}/mileageRates/{from}", body.parent),
            })
    }

    pub(super) async fn list_mileage_rates(
        &self,
        request: Request<ListMileageRatesRequest>,
    ) -> Result<ListMileageRatesResponse, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let m = scoped_parent(principal, &request.get_ref().parent)?;
        Ok(ListMileageRatesResponse {
            mileage_rates: self
                .store
                .mileage_rates(&m.to_string())
                .await?
                .into_iter()
                .map(rate_to_proto)
                .collect(),
        })
    }
}
