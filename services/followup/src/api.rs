//! The gRPC surface: schedules, a grant's follow-ups and the due lists (R-FU-1, R-FU-4). Every
//! read of a child's follow-ups is in the access log.

use chrono::{Days, NaiveDate};
use kontakt_platform::audit::{Action, AuditLog, Caller};
use kontakt_platform::clock::SharedClock;
use kontakt_platform::error::answer;
use kontakt_platform::resource::{day, etag, scoped, scoped_parent};
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::followup::v1::follow_up_service_server::FollowUpService;
use kontakt_proto::followup::v1::*;
use tonic::{Request, Response, Status};

use crate::domain::due::{self, Standing};
use crate::store::{FollowUpRow, ScheduleRow, Store};

const GRANTS: &str = "grants";

pub struct FollowUpApi {
    pub store: Store,
    pub clock: SharedClock,
    pub audit: AuditLog,
}

fn grant_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/{GRANTS}/{id}")
}

fn follow_up_to_proto(row: FollowUpRow, today: NaiveDate) -> FollowUp {
    let state = match row.state.as_str() {
        "COMPLETED" => FollowUpState::Completed,
        "CANCELLED" => FollowUpState::Cancelled,
        _ => match due::standing(
            row.due_date,
            today,
            u32::try_from(row.lead_days).unwrap_or(0),
        ) {
            Standing::Scheduled => FollowUpState::Scheduled,
            Standing::Due => FollowUpState::Due,
            Standing::Overdue => FollowUpState::Overdue,
        },
    };
    FollowUp {
        name: format!("municipalities/{}/followUps/{}", row.municipality, row.id),
        grant: grant_name(&row.municipality, &row.grant_id),
        due_date: Some(row.due_date.into()),
        state: state as i32,
        counsellor: row.counsellor,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
        ..FollowUp::default()
    }
}

/// `follow_ups` are the schedule's, by due date: the first is the first follow-up as it was
/// scheduled, the open one the next.
fn schedule_to_proto(row: ScheduleRow, follow_ups: &[FollowUpRow]) -> Schedule {
    let next = follow_ups.iter().find(|f| f.state == "SCHEDULED");
    Schedule {
        name: format!(
            "{}/followUpSchedule",
            grant_name(&row.municipality, &row.grant_id)
        ),
        state: if row.state == "ENDED" {
            ScheduleState::Ended
        } else {
            ScheduleState::Active
        } as i32,
        start_date: Some(row.start_date.into()),
        first_due_date: follow_ups.first().map(|f| f.due_date.into()),
        interval_months: row.interval_months,
        next_follow_up: next
            .map(|f| format!("municipalities/{}/followUps/{}", f.municipality, f.id))
            .unwrap_or_default(),
        counsellor: row.counsellor,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
    }
}

impl FollowUpApi {
    async fn get_schedule(
        &self,
        request: Request<GetScheduleRequest>,
    ) -> Result<Schedule, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let name = &request.get_ref().name;
        let grant = name.strip_suffix("/followUpSchedule").ok_or_else(|| {
            ApiError::invalid(
                "name",
                "must be `municipalities/{code}/grants/{id}/followUpSchedule`",
            )
        })?;
        let (m, id) = scoped(&caller.principal, grant, GRANTS, "name")?;
        let code = m.to_string();
        let row = self
            .store
            .schedule(&code, id)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let follow_ups = self.store.follow_ups_of(&code, id).await?;
        self.audit
            .record(vec![caller.entry(
                "GetSchedule",
                Action::Read,
                name,
                m,
                &row.person,
            )])
            .await?;
        Ok(schedule_to_proto(row, &follow_ups))
    }

    async fn list_follow_ups(
        &self,
        request: Request<ListFollowUpsRequest>,
    ) -> Result<ListFollowUpsResponse, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let parent = &request.get_ref().parent;
        let (m, id) = scoped(&caller.principal, parent, GRANTS, "parent")?;
        let code = m.to_string();
        let schedule = self
            .store
            .schedule(&code, id)
            .await?
            .ok_or_else(|| ApiError::not_found(parent))?;
        let rows = self.store.follow_ups_of(&code, id).await?;
        self.audit
            .record(vec![caller.entry(
                "ListFollowUps",
                Action::Read,
                parent,
                m,
                &schedule.person,
            )])
            .await?;
        let today = self.clock.today();
        Ok(ListFollowUpsResponse {
            follow_ups: rows
                .into_iter()
                .map(|r| follow_up_to_proto(r, today))
                .collect(),
        })
    }

    async fn list_due_follow_ups(
        &self,
        request: Request<ListDueFollowUpsRequest>,
    ) -> Result<ListDueFollowUpsResponse, ApiError> {
        let caller = Caller::of(&request, "follow-up worklist")?;
        let body = request.get_ref();
        let m = scoped_parent(&caller.principal, &body.parent)?;
        let code = m.to_string();
        if body.counsellor.chars().count() > 200 {
            return Err(ApiError::invalid("counsellor", "at most 200 characters"));
        }
        let page_size = pagination::page_size(body.page_size)?;
        let today = self.clock.today();
        let last = match day(body.due_on_or_before.as_ref(), "due_on_or_before")? {
            Some(last) => last,
            None => {
                let lead = self.store.lead_days(&code).await?;
                today
                    .checked_add_days(Days::new(u64::try_from(lead).unwrap_or(0)))
                    .unwrap_or(today)
            }
        };
        let scope = format!("due?{}&{}&{last}", body.parent, body.counsellor);
        let after = pagination::decode_token(&scope, &body.page_token)?
            .map(|key| {
                key.split_once('/')
                    .and_then(|(d, id)| {
                        NaiveDate::parse_from_str(d, "%Y-%m-%d")
                            .ok()
                            .map(|d| (d, id.to_owned()))
                    })
                    .ok_or_else(|| ApiError::invalid("page_token", "not from this query"))
            })
            .transpose()?;
        let counsellor = Some(body.counsellor.as_str()).filter(|c| !c.is_empty());
        let rows = self
            .store
            .due(
                &code,
                counsellor,
                last,
                after.as_ref().map(|(d, id)| (*d, id.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            format!("{}/{}", r.due_date, r.id)
        });
        let entries = rows
            .iter()
            .map(|r| {
                caller.entry(
                    "ListDueFollowUps",
                    Action::Read,
                    &format!("municipalities/{}/followUps/{}", r.municipality, r.id),
                    m,
                    &r.person,
                )
            })
            .collect();
        self.audit.record(entries).await?;
        Ok(ListDueFollowUpsResponse {
            follow_ups: rows
                .into_iter()
                .map(|r| follow_up_to_proto(r, today))
                .collect(),
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl FollowUpService for FollowUpApi {
    async fn get_schedule(
        &self,
        request: Request<GetScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        answer(self.get_schedule(request).await)
    }

    async fn list_follow_ups(
        &self,
        request: Request<ListFollowUpsRequest>,
    ) -> Result<Response<ListFollowUpsResponse>, Status> {
        answer(self.list_follow_ups(request).await)
    }

    async fn list_due_follow_ups(
        &self,
        request: Request<ListDueFollowUpsRequest>,
    ) -> Result<Response<ListDueFollowUpsResponse>, Status> {
        answer(self.list_due_follow_ups(request).await)
    }
}
