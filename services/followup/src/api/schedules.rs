//! A grant's follow-up schedule and its follow-ups (R-FU-1), read by the counsellor, the
//! coordinator and case systems; each read is in the access log.

use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::resource::{etag, scoped};
use kontakt_proto::followup::v1::{
    GetScheduleRequest, ListFollowUpsRequest, ListFollowUpsResponse, Schedule, ScheduleState,
};
use tonic::Request;

use super::{FollowUpApi, follow_up_to_proto};
use crate::domain::follow_up::{ScheduleStage, Stage};
use crate::store::{FollowUpRow, ScheduleRow};
use kontakt_proto::names;

/// `follow_ups` are the schedule's, by due date: the first is the first follow-up as it was
/// scheduled, the open one the next.
fn schedule_to_proto(row: ScheduleRow, follow_ups: &[FollowUpRow]) -> Schedule {
    let next = follow_ups
        .iter()
        .find(|f| Stage::from_stored(&f.state) == Stage::Scheduled);
    Schedule {
        name: names::follow_up_schedule(&row.municipality, &row.grant_id),
        state: match ScheduleStage::from_stored(&row.state) {
            ScheduleStage::Active => ScheduleState::Active,
            ScheduleStage::Ended => ScheduleState::Ended,
        } as i32,
        start_date: Some(row.start_date.into()),
        first_due_date: follow_ups.first().map(|f| f.due_date.into()),
        interval_months: row.interval_months,
        next_follow_up: next
            .map(|f| names::follow_up(&f.municipality, &f.id))
            .unwrap_or_default(),
        counsellor: row.counsellor,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
    }
}

impl FollowUpApi {
    pub(super) async fn read_schedule(
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
        let (m, id) = scoped(&caller.principal, grant, names::GRANTS, "name")?;
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

    pub(super) async fn read_follow_ups(
        &self,
        request: Request<ListFollowUpsRequest>,
    ) -> Result<ListFollowUpsResponse, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let parent = &request.get_ref().parent;
        let (m, id) = scoped(&caller.principal, parent, names::GRANTS, "parent")?;
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
}
