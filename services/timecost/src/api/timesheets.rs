//! Timesheets (R-TC-4): a contact person's period, submitted by them (or a coordinator for
//! them) and approved by the coordinator; approved entries are final (see `time`).

use kontakt_platform::auth::{MunicipalityCode, Principal, Role};
use kontakt_platform::resource::{check_etag, day, etag, valid_id};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::common::v1::DateRange;
use kontakt_proto::timecost::v1::{
    ApproveTimesheetRequest, CreateTimesheetRequest, GetTimesheetRequest, ListTimesheetsRequest,
    ListTimesheetsResponse, ReturnTimesheetRequest, SubmitTimesheetRequest, Timesheet,
    TimesheetState,
};
use sqlx::PgConnection;
use tonic::Request;

use super::TimeCostApi;
use super::time::person_name;
use crate::store::TimesheetRow;

/// The parent that lists every contact person's timesheets (AIP-159).
const ALL_PERSONS: &str = "serviceUnits/-/contactPersons/-";

/// The longest reason a returned timesheet carries.
const MAX_RETURN_REASON: usize = 500;

/// The longest period one timesheet covers.
const MAX_PERIOD_DAYS: i64 = 31;

use kontakt_platform::resource::parse_contact_person as parse_person;

/// `…/contactPersons/{id}/timesheets/{timesheet}` → (unit, person, timesheet).
fn parse_timesheet(name: &str) -> Result<(String, String, String), ApiError> {
    let wrong = || {
        ApiError::invalid(
            "name",
            "must be `serviceUnits/{unit}/contactPersons/{contact_person}/timesheets/{timesheet}`",
        )
    };
    let (person, id) = name.rsplit_once("/timesheets/").ok_or_else(wrong)?;
    if !valid_id(id) {
        return Err(wrong());
    }
    let (unit, person) = parse_person(person, "name").map_err(|_| wrong())?;
    Ok((unit, person, id.to_owned()))
}

fn to_proto(row: TimesheetRow) -> Timesheet {
    Timesheet {
        name: format!(
            "{}/timesheets/{}",
            person_name(&row.unit, &row.person_id),
            row.id
        ),
        period: Some(DateRange {
            start: Some(row.period_start.into()),
            end: Some(row.period_end.into()),
        }),
        state: TimesheetState::from_str_name(&format!("TIMESHEET_STATE_{}", row.state))
            .unwrap_or(TimesheetState::Unspecified) as i32,
        total_minutes: i32::try_from(row.total_minutes).unwrap_or(i32::MAX),
        submit_time: row.submit_time.map(kontakt_proto::timestamp),
        approver: row.approver,
        approve_time: row.approve_time.map(kontakt_proto::timestamp),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
        return_reason: row.return_reason,
    }
}

fn wrong_state(row: &TimesheetRow, needed: &str) -> ApiError {
    Refusal::new(
        "TIMESHEET_STATE",
        format!(
            "the timesheet is {}; this needs it {needed}",
            row.state.to_lowercase()
        ),
    )
    .into()
}

impl TimeCostApi {
    /// Whether the caller may handle this person's timesheets: the person themselves, or a
    /// coordinator acting for a municipality the person works in. NOT_FOUND otherwise.
    async fn may_handle(
        &self,
        conn: &mut PgConnection,
        principal: &Principal,
        unit: &str,
        person: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if principal.contact_person.as_deref() == Some(person_name(unit, person).as_str()) {
            return Ok(());
        }
        let coordinator = principal
            .roles
            .iter()
            .any(|r| *r == Role::Coordinator || *r == Role::Finance);
        let serves = self
            .store
            .person_municipalities(conn, unit, person)
            .await?
            .iter()
            .filter_map(|m| MunicipalityCode::parse(m))
            .any(|m| principal.serves(m));
        if coordinator && serves {
            Ok(())
        } else {
            Err(ApiError::not_found(name))
        }
    }

    pub(super) async fn create_timesheet(
        &self,
        request: Request<CreateTimesheetRequest>,
    ) -> Result<Timesheet, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let body = request.into_inner();
        let (unit, person) = parse_person(&body.parent, "parent")?;
        let period = body.period.unwrap_or_default();
        let start = day(period.start.as_ref(), "period.start")?
            .ok_or_else(|| ApiError::invalid("period.start", "the first day is required"))?;
        let end = day(period.end.as_ref(), "period.end")?
            .ok_or_else(|| ApiError::invalid("period.end", "the last day is required"))?;
        if end < start || (end - start).num_days() >= MAX_PERIOD_DAYS {
            return Err(ApiError::invalid(
                "period",
                format!("1 to {MAX_PERIOD_DAYS} days, the end not before the start"),
            ));
        }
        let mut tx = self.store.begin().await?;
        self.may_handle(&mut tx, &principal, &unit, &person, &body.parent)
            .await?;
        self.store
            .lock_person_timesheets(&mut tx, &unit, &person)
            .await?;
        if let Some(other) = self
            .store
            .overlapping_timesheet(&mut tx, &unit, &person, start, end)
            .await?
        {
            return Err(ApiError::AlreadyExists {
                resource: format!("{}/timesheets/{other} (overlapping period)", body.parent),
            });
        }
        let id = format!("{start}-{end}");
        self.store
            .insert_timesheet(&mut tx, &unit, &person, &id, start, end)
            .await?;
        let row = self
            .store
            .get_timesheet(&mut tx, &unit, &person, &id, false)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("inserted timesheet not found")))?;
        tx.commit().await?;
        Ok(to_proto(row))
    }

    pub(super) async fn get_timesheet(
        &self,
        request: Request<GetTimesheetRequest>,
    ) -> Result<Timesheet, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let (unit, person, id) = parse_timesheet(name)?;
        let mut tx = self.store.begin().await?;
        self.may_handle(&mut tx, principal, &unit, &person, name)
            .await?;
        let row = self
            .store
            .get_timesheet(&mut tx, &unit, &person, &id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        tx.commit().await?;
        Ok(to_proto(row))
    }

    /// The municipalities a coordinator's (or finance's) approval queue covers: the one asked
    /// for, which the caller must act for, or all of the caller's.
    fn queue_municipalities(
        &self,
        principal: &Principal,
        asked: &str,
    ) -> Result<Vec<String>, ApiError> {
        if !principal
            .roles
            .iter()
            .any(|r| *r == Role::Coordinator || *r == Role::Finance)
        {
            return Err(ApiError::PermissionDenied(
                "only coordinators and finance list every contact person's timesheets".into(),
            ));
        }
        if asked.is_empty() {
            return Ok(principal
                .municipalities
                .iter()
                .map(ToString::to_string)
                .collect());
        }
        let code = MunicipalityCode::parse(asked).ok_or_else(|| {
            ApiError::invalid("municipality", "must be a 3-digit municipality code")
        })?;
        if !principal.serves(code) {
            return Err(ApiError::PermissionDenied(format!(
                "the caller does not act for municipality {code}"
            )));
        }
        Ok(vec![code.to_string()])
    }

    pub(super) async fn list_timesheets(
        &self,
        request: Request<ListTimesheetsRequest>,
    ) -> Result<ListTimesheetsResponse, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let parent = &body.parent;
        let state = match TimesheetState::try_from(body.state) {
            Ok(TimesheetState::Unspecified) => None,
            Ok(state) => state
                .as_str_name()
                .strip_prefix("TIMESHEET_STATE_")
                .map(str::to_owned),
            Err(_) => {
                return Err(ApiError::invalid(
                    "state",
                    "must be a TimesheetState (or unspecified for all)",
                ));
            }
        };
        if parent == ALL_PERSONS {
            let municipalities = self.queue_municipalities(principal, &body.municipality)?;
            let mut tx = self.store.begin().await?;
            let rows = self
                .store
                .list_timesheets_for(&mut tx, &municipalities, state.as_deref())
                .await?;
            tx.commit().await?;
            return Ok(ListTimesheetsResponse {
                timesheets: rows.into_iter().map(to_proto).collect(),
            });
        }
        if !body.municipality.is_empty() {
            return Err(ApiError::invalid(
                "municipality",
                "only with the parent `serviceUnits/-/contactPersons/-`",
            ));
        }
        let (unit, person) = parse_person(parent, "parent")?;
        let mut tx = self.store.begin().await?;
        self.may_handle(&mut tx, principal, &unit, &person, parent)
            .await?;
        let mut rows = self.store.list_timesheets(&mut tx, &unit, &person).await?;
        tx.commit().await?;
        if let Some(state) = &state {
            rows.retain(|row| &row.state == state);
        }
        Ok(ListTimesheetsResponse {
            timesheets: rows.into_iter().map(to_proto).collect(),
        })
    }

    /// Moves a timesheet from `from` to `to`; only coordinators approve or return.
    async fn step(
        &self,
        principal: &Principal,
        name: &str,
        given_etag: &str,
        from: &str,
        to: &str,
        return_reason: &str,
    ) -> Result<Timesheet, ApiError> {
        let (unit, person, id) = parse_timesheet(name)?;
        let mut tx = self.store.begin().await?;
        self.may_handle(&mut tx, principal, &unit, &person, name)
            .await?;
        if to != "SUBMITTED" && !principal.roles.contains(&Role::Coordinator) {
            return Err(ApiError::PermissionDenied(
                "the coordinator approves or returns timesheets (R-TC-4)".into(),
            ));
        }
        let row = self
            .store
            .get_timesheet(&mut tx, &unit, &person, &id, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(given_etag, row.revision)?;
        if row.state != from {
            return Err(wrong_state(&row, &from.to_lowercase()));
        }
        self.store
            .step_timesheet(&mut tx, &row, to, &principal.subject, return_reason)
            .await?;
        let row = self
            .store
            .get_timesheet(&mut tx, &unit, &person, &id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        tx.commit().await?;
        Ok(to_proto(row))
    }

    pub(super) async fn submit_timesheet(
        &self,
        request: Request<SubmitTimesheetRequest>,
    ) -> Result<Timesheet, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        self.step(principal, &body.name, &body.etag, "OPEN", "SUBMITTED", "")
            .await
    }

    pub(super) async fn approve_timesheet(
        &self,
        request: Request<ApproveTimesheetRequest>,
    ) -> Result<Timesheet, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        self.step(
            principal,
            &body.name,
            &body.etag,
            "SUBMITTED",
            "APPROVED",
            "",
        )
        .await
    }

    pub(super) async fn return_timesheet(
        &self,
        request: Request<ReturnTimesheetRequest>,
    ) -> Result<Timesheet, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let body = request.get_ref();
        let reason = body.reason.trim();
        if reason.chars().count() > MAX_RETURN_REASON {
            return Err(ApiError::invalid(
                "reason",
                format!("at most {MAX_RETURN_REASON} characters"),
            ));
        }
        if reason.contains('\0') {
            return Err(ApiError::invalid("reason", "must not contain NUL"));
        }
        self.step(
            principal,
            &body.name,
            &body.etag,
            "SUBMITTED",
            "OPEN",
            reason,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timesheet_names_parse_and_bad_ones_name_the_field() {
        assert_eq!(
            parse_timesheet("serviceUnits/u/contactPersons/anna/timesheets/2026-12-01-2026-12-31")
                .ok(),
            Some((
                "u".to_owned(),
                "anna".to_owned(),
                "2026-12-01-2026-12-31".to_owned()
            ))
        );
        for bad in [
            "serviceUnits/u/contactPersons/anna/timesheets/",
            "serviceUnits/u/persons/anna/timesheets/t",
            "contactPersons/anna/timesheets/t",
        ] {
            assert!(parse_timesheet(bad).is_err(), "{bad}");
        }
    }
}
