//! Time registration (R-TC-1): entries priced by the rate of the day (R-TC-3), weeks above the
//! granted minutes flagged (R-TC-2), corrections as reversals. Each entry commits with its week
//! total, its events and its audit row, or not at all.

use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::{Principal, Role};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, day, scoped, scoped_parent, valid_id};
use kontakt_platform::{ApiError, Refusal, pagination};
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::timecost::v1::{
    ListOverrunsRequest, ListOverrunsResponse, ListTimeEntriesRequest, ListTimeEntriesResponse,
    OverrunFlagged, RegisterTimeRequest, ReverseTimeEntryRequest, TimeEntry, TimeRegistered,
    WeekOverrun,
};
use tonic::Request;

use super::{ACTIVITY_KINDS, SCHEMA, TimeCostApi};
use crate::domain::pricing::{self, Basis};
use crate::domain::reversal;
use crate::domain::week;
use crate::store::{AssignmentRow, EntryRow, Ledger};

const ASSIGNMENTS: &str = "assignments";
const MAX_NOTE: usize = 500;

pub(super) fn assignment_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{ASSIGNMENTS}/{id}")
}

fn entry_name(m: &str, assignment: &str, id: &str) -> String {
    format!("{}/timeEntries/{id}", assignment_name(m, assignment))
}

pub(super) use kontakt_proto::names::contact_person as person_name;

/// A reversal request of either kind, its name parsed.
struct Reversal<'a> {
    pub code: String,
    pub assignment_id: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub request_id: &'a str,
    pub note: &'a str,
}

impl<'a> Reversal<'a> {
    /// A reversal of `municipalities/{m}/assignments/{a}/{collection}/{id}` (`collection` is
    /// `timeEntries` or `expenses`), in the caller's municipalities.
    fn parse(
        principal: &Principal,
        collection: &str,
        name: &'a str,
        request_id: &'a str,
        note: &'a str,
    ) -> Result<Self, ApiError> {
        let wrong = || {
            ApiError::invalid(
                "name",
                format!("must be `municipalities/{{code}}/assignments/{{id}}/{collection}/{{id}}`"),
            )
        };
        let (parent, id) = name
            .rsplit_once(&format!("/{collection}/"))
            .ok_or_else(wrong)?;
        if !valid_id(id) {
            return Err(wrong());
        }
        let (m, assignment_id) =
            scoped(principal, parent, ASSIGNMENTS, "name").map_err(|e| match e {
                ApiError::NotFound { .. } => ApiError::not_found(name),
                _ => wrong(),
            })?;
        Ok(Reversal {
            code: m.to_string(),
            assignment_id,
            id,
            name,
            request_id,
            note,
        })
    }
}

/// Where a reversal stands once [`TimeCostApi::begin_reversal`] has checked it.
pub(super) enum Reversing<R> {
    /// The request id made this very reversal before: the stored reversal, sent back again.
    Done(R),
    /// The original, checked and locked: the reversal is to be written.
    Fresh(Box<Reversible<R>>),
}

/// The original, locked in `tx`, reversible, on an assignment `a` open for entries in
/// municipality `code`.
pub(super) struct Reversible<R> {
    pub tx: kontakt_platform::db::CallTx,
    pub a: AssignmentRow,
    pub code: String,
    pub original: R,
}

/// The assignment a new row is registered on: its municipality and id as parsed from its
/// `name`, in the caller's municipalities.
pub(super) struct Parent<'a> {
    pub code: String,
    pub assignment_id: &'a str,
    pub name: &'a str,
}

impl<'a> Parent<'a> {
    pub fn parse(principal: &Principal, name: &'a str) -> Result<Self, ApiError> {
        let (m, assignment_id) = scoped(principal, name, ASSIGNMENTS, "parent")?;
        Ok(Parent {
            code: m.to_string(),
            assignment_id,
            name,
        })
    }
}

/// Where a registration stands once [`TimeCostApi::begin_registration`] has checked it.
pub(super) enum Registering<R> {
    /// The request id registered this very row before: the stored row, sent back again.
    Done(R),
    /// The assignment `a` as the caller may register on it, open for entries on the day; `tx`
    /// holds the day's timesheet until it commits.
    Fresh {
        tx: kontakt_platform::db::CallTx,
        a: AssignmentRow,
    },
}

/// A contact person's own token: only their own assignments (R-TC-1); NOT_FOUND otherwise.
fn may_register(principal: &Principal, a: &AssignmentRow) -> bool {
    let only_contact_person = principal.roles.iter().all(|r| *r == Role::ContactPerson);
    !only_contact_person
        || principal.contact_person.as_deref()
            == Some(person_name(&a.unit, &a.contact_person_id).as_str())
}

/// R-TC-1: time and expenses land only inside the assignment's dates.
fn inside_assignment(
    a: &AssignmentRow,
    day: chrono::NaiveDate,
    field: &str,
) -> Result<(), ApiError> {
    if day < a.start_date || a.end_date.is_some_and(|end| day > end) {
        return Err(ApiError::from(Refusal::broken(
            "OUTSIDE_ASSIGNMENT",
            "R-TC-1",
            field,
            format!(
                "the assignment runs from {}{}; time and expenses are registered only inside it",
                a.start_date,
                a.end_date.map(|e| format!(" to {e}")).unwrap_or_default()
            ),
        )));
    }
    Ok(())
}

fn entry_to_proto(row: EntryRow) -> TimeEntry {
    let m = &row.municipality;
    TimeEntry {
        name: entry_name(m, &row.assignment_id, &row.id),
        work_date: Some(row.work_date.into()),
        minutes: row.minutes.abs(),
        activity_kind: format!("{ACTIVITY_KINDS}/{}", row.activity_kind),
        note: row.note,
        reverses: row
            .reverses
            .map(|r| entry_name(m, &row.assignment_id, &r))
            .unwrap_or_default(),
        contact_person: person_name(&row.unit, &row.contact_person_id),
        timesheet: row
            .timesheet_id
            .map(|t| {
                format!(
                    "{}/timesheets/{t}",
                    person_name(&row.unit, &row.contact_person_id)
                )
            })
            .unwrap_or_default(),
        cost: Some(Money {
            ore: pricing::to_ore(row.cost_units),
        }),
        overrun: row.overrun,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
    }
}

pub(super) fn basis(employment: &str) -> Basis {
    match employment {
        "STAFF" => Basis::StaffCost,
        "HOURLY" => Basis::HourlyWage,
        _ => Basis::ProviderPrice,
    }
}

impl TimeCostApi {
    pub(super) async fn register_time(
        &self,
        request: Request<RegisterTimeRequest>,
    ) -> Result<TimeEntry, ApiError> {
        let caller = Caller::of(&request, "time registration")?;
        let body = request.into_inner();
        let parent = Parent::parse(&caller.principal, &body.parent)?;
        let (code, assignment_id) = (parent.code.clone(), parent.assignment_id);
        resource::request_id(&body.request_id)?;
        let input = body
            .time_entry
            .ok_or_else(|| ApiError::invalid("time_entry", "required"))?;
        let work_date = day(input.work_date.as_ref(), "time_entry.work_date")?
            .ok_or_else(|| ApiError::invalid("time_entry.work_date", "the day is required"))?;
        if work_date > self.clock.today() {
            return Err(ApiError::invalid(
                "time_entry.work_date",
                "time is registered after the work, not before",
            ));
        }
        if !(1..=1440).contains(&input.minutes) {
            return Err(ApiError::invalid(
                "time_entry.minutes",
                "1 to 1440 minutes (a correction is a reversal, R-TC-1)",
            ));
        }
        let kind_code = resource::parse_top_level(
            &input.activity_kind,
            ACTIVITY_KINDS,
            "time_entry.activity_kind",
        )?;
        if input.note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid(
                "time_entry.note",
                "at most 500 characters",
            ));
        }
        let kind = self
            .store
            .get_activity_kind(kind_code)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "time_entry.activity_kind",
                    format!("no activity kind `{}`", input.activity_kind),
                )
            })?;
        let (mut tx, a) = match self
            .begin_registration::<EntryRow>(
                &caller,
                &parent,
                &body.request_id,
                work_date,
                "time_entry.work_date",
            )
            .await?
        {
            Registering::Done(done) => return Ok(entry_to_proto(done)),
            Registering::Fresh { tx, a } => (tx, a),
        };
        let rate = match a.employment.as_str() {
            "PROVIDER" => a.agreed_hourly_ore,
            _ => {
                self.store
                    .rate_on(&mut tx, &a.unit, &a.contact_person_id, work_date)
                    .await?
            }
        }
        .ok_or_else(|| {
            ApiError::from(Refusal::broken(
                "NO_RATE",
                "R-TC-3",
                "time_entry.work_date",
                format!(
                    "no hourly rate for {} on {work_date}: the coordinator records it in matching",
                    person_name(&a.unit, &a.contact_person_id)
                ),
            ))
        })?;
        let granted = self
            .store
            .granted_on(&mut tx, &code, &a.grant_id, work_date)
            .await?
            .unwrap_or(a.minutes_per_week);
        let (monday, sunday) = week::week_of(work_date);
        let counted = if kind.counts_toward_granted_hours {
            input.minutes
        } else {
            0
        };
        let totals = self
            .store
            .add_to_week(&mut tx, &code, assignment_id, monday, counted, granted)
            .await?;
        let over =
            week::overrun(totals.counted_minutes, totals.granted_minutes).filter(|_| counted > 0);
        let row = self
            .store
            .insert_entry(
                &mut tx,
                &EntryRow {
                    municipality: code.clone(),
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    assignment_id: assignment_id.to_owned(),
                    work_date,
                    minutes: input.minutes,
                    activity_kind: kind.code.clone(),
                    counts: kind.counts_toward_granted_hours,
                    note: input.note.trim().to_owned(),
                    reverses: None,
                    unit: a.unit.clone(),
                    contact_person_id: a.contact_person_id.clone(),
                    cost_units: pricing::cost_units(
                        basis(&a.employment),
                        rate,
                        i64::from(input.minutes),
                    ),
                    overrun: over.is_some(),
                    request_id: body.request_id.clone(),
                    registered_by: caller.principal.subject.clone(),
                    create_time: self.clock.now(),
                    timesheet_id: None,
                },
            )
            .await?;
        self.record_entry(&mut tx, &caller, &a, &row, "RegisterTime")
            .await?;
        if let Some(overrun_minutes) = over
            && !totals.flagged
        {
            self.store
                .mark_week_flagged(&mut tx, &code, assignment_id, monday)
                .await?;
            let flagged = OverrunFlagged {
                assignment: body.parent.clone(),
                grant: format!("municipalities/{code}/grants/{}", a.grant_id),
                contact_person: person_name(&a.unit, &a.contact_person_id),
                municipality: code.clone(),
                week: Some(DateRange {
                    start: Some(monday.into()),
                    end: Some(sunday.into()),
                }),
                granted_minutes: totals.granted_minutes,
                registered_minutes: totals.counted_minutes,
                overrun_minutes,
                time_entry: entry_name(&code, assignment_id, &row.id),
            };
            outbox::write(
                &mut tx,
                SCHEMA,
                &NewEvent::new(&flagged, Some(code.clone()), &body.parent),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(entry_to_proto(row))
    }

    /// What reversing a time entry (R-TC-1) and an expense (R-TC-5) have in common: the
    /// request checked, a repeated request answered with the reversal it made, the original
    /// locked and found reversible, and its day's timesheet open.
    pub(super) async fn begin_reversal<R: Ledger>(
        &self,
        caller: &Caller,
        collection: &str,
        name: &str,
        request_id: &str,
        note: &str,
    ) -> Result<Reversing<R>, ApiError> {
        let kind = R::KIND;
        let r = Reversal::parse(&caller.principal, collection, name, request_id, note)?;
        resource::request_id(r.request_id)?;
        if r.note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid("note", "at most 500 characters"));
        }
        let mut tx = self.store.begin().await?;
        if let Some(done) = self
            .store
            .by_request_id::<R>(&mut tx, &r.code, r.request_id)
            .await?
        {
            if done.reverses() != Some(r.id) {
                return Err(ApiError::invalid("request_id", kind.request_id_taken()));
            }
            tx.commit().await?;
            return Ok(Reversing::Done(done));
        }
        let a = self
            .registrable(&mut tx, caller, &r.code, r.assignment_id, r.name)
            .await?;
        let original = self
            .store
            .lock_for_reversal::<R>(&mut tx, &r.code, r.assignment_id, r.id)
            .await?
            .ok_or_else(|| ApiError::not_found(r.name))?;
        let already_reversed = original.reverses().is_none()
            && self.store.is_reversed::<R>(&mut tx, &r.code, r.id).await?;
        reversal::check(original.reverses(), already_reversed).map_err(|not| {
            ApiError::from(Refusal::broken(
                not.reason(),
                kind.rule,
                "name",
                not.message(kind),
            ))
        })?;
        self.open_for_entries(
            &mut tx,
            &a.unit,
            &a.contact_person_id,
            original.day(),
            "name",
        )
        .await?;
        Ok(Reversing::Fresh(Box::new(Reversible {
            tx,
            a,
            code: r.code,
            original,
        })))
    }

    /// What registering a time entry (R-TC-1) and an expense (R-TC-5) have in common once
    /// the input is checked: a repeated request answered with the row it made, the assignment
    /// as the caller may register on it, `day` (the `field`) inside it and its timesheet open.
    pub(super) async fn begin_registration<R: Ledger>(
        &self,
        caller: &Caller,
        parent: &Parent<'_>,
        request_id: &str,
        day: chrono::NaiveDate,
        field: &str,
    ) -> Result<Registering<R>, ApiError> {
        let mut tx = self.store.begin().await?;
        if let Some(done) = self
            .store
            .by_request_id::<R>(&mut tx, &parent.code, request_id)
            .await?
        {
            if done.assignment_id() != parent.assignment_id || done.reverses().is_some() {
                return Err(ApiError::invalid("request_id", R::KIND.request_id_taken()));
            }
            tx.commit().await?;
            return Ok(Registering::Done(done));
        }
        let a = self
            .registrable(
                &mut tx,
                caller,
                &parent.code,
                parent.assignment_id,
                parent.name,
            )
            .await?;
        inside_assignment(&a, day, field)?;
        self.open_for_entries(&mut tx, &a.unit, &a.contact_person_id, day, field)
            .await?;
        Ok(Registering::Fresh { tx, a })
    }

    /// The assignment as the caller may register on or read it (R-TC-1): a contact person
    /// only their own; NOT_FOUND as `name` otherwise.
    pub(super) async fn registrable(
        &self,
        conn: &mut sqlx::PgConnection,
        caller: &Caller,
        municipality: &str,
        id: &str,
        name: &str,
    ) -> Result<AssignmentRow, ApiError> {
        self.store
            .assignment(conn, municipality, id)
            .await?
            .filter(|a| may_register(&caller.principal, a))
            .ok_or_else(|| ApiError::not_found(name))
    }

    /// Refuses entries on a day whose timesheet is submitted or approved (R-TC-4); the
    /// timesheet is held until the caller commits, so an approval cannot slip in between.
    pub(super) async fn open_for_entries(
        &self,
        tx: &mut sqlx::PgConnection,
        unit: &str,
        person: &str,
        day: chrono::NaiveDate,
        field: &str,
    ) -> Result<(), ApiError> {
        match self.store.timesheet_state_on(tx, unit, person, day).await? {
            Some((id, state)) if state != "OPEN" => Err(ApiError::from(Refusal::broken(
                "TIMESHEET_CLOSED",
                "R-TC-4",
                field,
                format!(
                    "{day} is in timesheet {id}, which is {}: {}",
                    state.to_lowercase(),
                    if state == "APPROVED" {
                        "its entries are final"
                    } else {
                        "the coordinator returns it before anything changes"
                    }
                ),
            ))),
            _ => Ok(()),
        }
    }

    /// What every time entry and reversal writes with it: the month's cost aggregate, the
    /// event and the audit row.
    async fn record_entry(
        &self,
        tx: &mut sqlx::PgConnection,
        caller: &Caller,
        a: &AssignmentRow,
        row: &EntryRow,
        method: &str,
    ) -> Result<(), ApiError> {
        let m = &row.municipality;
        self.store
            .add_cost(
                tx,
                m,
                &a.unit,
                row.work_date,
                super::frames::category(&a.employment),
                row.cost_units,
                row.minutes,
            )
            .await?;
        let name = entry_name(m, &row.assignment_id, &row.id);
        let event = TimeRegistered {
            time_entry: name.clone(),
            assignment: assignment_name(m, &row.assignment_id),
            grant: format!("municipalities/{m}/grants/{}", a.grant_id),
            contact_person: person_name(&row.unit, &row.contact_person_id),
            municipality: m.clone(),
            work_date: Some(row.work_date.into()),
            minutes: row.minutes.abs(),
            reverses: row
                .reverses
                .as_deref()
                .map(|r| entry_name(m, &row.assignment_id, r))
                .unwrap_or_default(),
            activity_kind: format!("{ACTIVITY_KINDS}/{}", row.activity_kind),
            counts_toward_granted_hours: row.counts,
            cost: Some(Money {
                ore: pricing::to_ore(row.cost_units),
            }),
        };
        outbox::write(tx, SCHEMA, &NewEvent::new(&event, Some(m.clone()), &name)).await?;
        caller
            .wrote(tx, method, Action::Create, &name, m, &a.person)
            .await
    }

    pub(super) async fn reverse_time_entry(
        &self,
        request: Request<ReverseTimeEntryRequest>,
    ) -> Result<TimeEntry, ApiError> {
        let caller = Caller::of(&request, "time registration")?;
        let body = request.into_inner();
        let Reversible {
            mut tx,
            a,
            code,
            original,
        } = match self
            .begin_reversal::<EntryRow>(
                &caller,
                "timeEntries",
                &body.name,
                &body.request_id,
                &body.note,
            )
            .await?
        {
            Reversing::Done(done) => return Ok(entry_to_proto(done)),
            Reversing::Fresh(r) => *r,
        };
        let (monday, _) = week::week_of(original.work_date);
        let counted = if original.counts {
            -original.minutes
        } else {
            0
        };
        let granted = self
            .store
            .granted_on(&mut tx, &code, &a.grant_id, original.work_date)
            .await?
            .unwrap_or(a.minutes_per_week);
        self.store
            .add_to_week(
                &mut tx,
                &code,
                &original.assignment_id,
                monday,
                counted,
                granted,
            )
            .await?;
        let row = self
            .store
            .insert_entry(
                &mut tx,
                &EntryRow {
                    id: uuid::Uuid::now_v7().simple().to_string(),
                    minutes: -original.minutes,
                    note: body.note.trim().to_owned(),
                    reverses: Some(original.id.clone()),
                    cost_units: -original.cost_units,
                    overrun: false,
                    request_id: body.request_id.clone(),
                    registered_by: caller.principal.subject.clone(),
                    create_time: self.clock.now(),
                    ..original
                },
            )
            .await?;
        self.record_entry(&mut tx, &caller, &a, &row, "ReverseTimeEntry")
            .await?;
        tx.commit().await?;
        Ok(entry_to_proto(row))
    }

    pub(super) async fn list_time_entries(
        &self,
        request: Request<ListTimeEntriesRequest>,
    ) -> Result<ListTimeEntriesResponse, ApiError> {
        let caller = Caller::of(&request, "time registration")?;
        let body = request.into_inner();
        let (rows, next_page_token) = self
            .list_page::<EntryRow>(
                &caller,
                "timeEntries",
                "ListTimeEntries",
                &body.parent,
                body.page_size,
                &body.page_token,
            )
            .await?;
        Ok(ListTimeEntriesResponse {
            time_entries: rows.into_iter().map(entry_to_proto).collect(),
            next_page_token,
        })
    }

    /// A page of one assignment's time entries or expenses (`collection`): the assignment as
    /// the caller may read it, the rows after this query's token, and the read in the audit
    /// log as `method`.
    pub(super) async fn list_page<R: Ledger>(
        &self,
        caller: &Caller,
        collection: &str,
        method: &str,
        parent: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<R>, String), ApiError> {
        let (m, assignment_id) = scoped(&caller.principal, parent, ASSIGNMENTS, "parent")?;
        let code = m.to_string();
        let page_size = pagination::page_size(page_size)?;
        let scope = format!("{collection}?{parent}");
        let after = pagination::decode_time_token(&scope, page_token)?;
        let mut conn = self.store.begin().await?;
        let a = self
            .registrable(&mut conn, caller, &code, assignment_id, parent)
            .await?;
        conn.commit().await?;
        // One more row than the page, to know whether another follows.
        let rows = self
            .store
            .list_on_assignment::<R>(
                &code,
                assignment_id,
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next) = pagination::finish_page(rows, page_size, &scope, |r| {
            let (time, id) = r.cursor();
            pagination::time_key(time, id)
        });
        self.audit
            .record(vec![caller.entry(
                method,
                Action::Read,
                parent,
                m,
                &a.person,
            )])
            .await?;
        Ok((rows, next))
    }

    pub(super) async fn list_overruns(
        &self,
        request: Request<ListOverrunsRequest>,
    ) -> Result<ListOverrunsResponse, ApiError> {
        let caller = Caller::of(&request, "overrun follow-up")?;
        let m = scoped_parent(&caller.principal, &request.get_ref().parent)?;
        let code = m.to_string();
        let rows = self.store.overruns(&code).await?;
        let entries = rows
            .iter()
            .map(|r| {
                caller.entry(
                    "ListOverruns",
                    Action::Read,
                    &assignment_name(&code, &r.assignment_id),
                    m,
                    &r.person,
                )
            })
            .collect();
        self.audit.record(entries).await?;
        Ok(ListOverrunsResponse {
            overruns: rows
                .into_iter()
                .map(|r| {
                    let (monday, sunday) = week::week_of(r.week_start);
                    WeekOverrun {
                        assignment: assignment_name(&code, &r.assignment_id),
                        grant: format!("municipalities/{code}/grants/{}", r.grant_id),
                        contact_person: person_name(&r.unit, &r.contact_person_id),
                        week: Some(DateRange {
                            start: Some(monday.into()),
                            end: Some(sunday.into()),
                        }),
                        granted_minutes: r.granted_minutes,
                        registered_minutes: r.counted_minutes,
                        overrun_minutes: r.counted_minutes - r.granted_minutes,
                    }
                })
                .collect(),
        })
    }
}
