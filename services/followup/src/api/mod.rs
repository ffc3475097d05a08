//! The gRPC surface: proto <-> domain and who may see what, one file per aggregate — a grant's
//! schedule and its follow-ups in `schedules`, recording a follow-up and the due lists in
//! `follow_ups` (R-FU-1..4), the statutory deadlines besides them in `deadlines` (R-RV-5), the
//! municipalities' reminder settings in `settings`, the frames' yearly evaluations in
//! `frame_evaluations` (R-FU-5). The rules live in `domain`. Every read of a child's follow-ups
//! and deadlines is in the access log.

mod deadlines;
mod follow_ups;
mod frame_evaluations;
mod schedules;
mod settings;

use chrono::NaiveDate;
use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::error::answer;
use kontakt_platform::resource::etag;
use kontakt_proto::followup::v1::follow_up_service_server::FollowUpService;
use kontakt_proto::followup::v1::*;
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::domain::follow_up::{self, Stage};
use crate::store::{FollowUpRow, Store};
use kontakt_proto::names;

pub(crate) use deadlines::deadline_kind;

pub struct FollowUpApi {
    pub store: Store,
    pub clock: SharedClock,
    pub audit: AuditLog,
}

/// A follow-up as it stands on `today` (shared by the schedule's list and the follow-up's own
/// methods).
fn follow_up_to_proto(row: FollowUpRow, today: NaiveDate) -> FollowUp {
    // A completed follow-up's record holds what was recorded; a stored record that cannot be
    // decoded is shown without it rather than hiding the follow-up.
    let recorded = row
        .record
        .as_deref()
        .and_then(|r| FollowUp::decode(r).ok())
        .unwrap_or_default();
    let stage = Stage::from_stored(&row.state);
    let state = match follow_up::state(stage, row.due_date, today, row.lead_days) {
        follow_up::State::Scheduled => FollowUpState::Scheduled,
        follow_up::State::Due => FollowUpState::Due,
        follow_up::State::Overdue => FollowUpState::Overdue,
        follow_up::State::Completed => FollowUpState::Completed,
        follow_up::State::Cancelled => FollowUpState::Cancelled,
    };
    FollowUp {
        name: names::follow_up(&row.municipality, &row.id),
        grant: names::grant(&row.municipality, &row.grant_id),
        due_date: Some(row.due_date.into()),
        state: state as i32,
        counsellor: row.counsellor,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
        completed_by: row.completed_by.unwrap_or_default(),
        ..recorded
    }
}

/// Each method answers with the inherent method of its aggregate's file; the names differ, so a
/// reader (or a tool) following one lands in its body.
#[tonic::async_trait]
impl FollowUpService for FollowUpApi {
    async fn get_schedule(
        &self,
        request: Request<GetScheduleRequest>,
    ) -> Result<Response<Schedule>, Status> {
        answer(self.read_schedule(request).await)
    }

    async fn list_follow_ups(
        &self,
        request: Request<ListFollowUpsRequest>,
    ) -> Result<Response<ListFollowUpsResponse>, Status> {
        answer(self.read_follow_ups(request).await)
    }

    async fn list_due_follow_ups(
        &self,
        request: Request<ListDueFollowUpsRequest>,
    ) -> Result<Response<ListDueFollowUpsResponse>, Status> {
        answer(self.read_due_follow_ups(request).await)
    }

    async fn get_follow_up(
        &self,
        request: Request<GetFollowUpRequest>,
    ) -> Result<Response<FollowUp>, Status> {
        answer(self.read_follow_up(request).await)
    }

    async fn complete_follow_up(
        &self,
        request: Request<CompleteFollowUpRequest>,
    ) -> Result<Response<FollowUp>, Status> {
        answer(self.record_follow_up(request).await)
    }

    async fn list_deadlines(
        &self,
        request: Request<ListDeadlinesRequest>,
    ) -> Result<Response<ListDeadlinesResponse>, Status> {
        answer(self.read_deadlines(request).await)
    }

    async fn complete_deadline(
        &self,
        request: Request<CompleteDeadlineRequest>,
    ) -> Result<Response<Deadline>, Status> {
        answer(self.record_deadline(request).await)
    }

    async fn get_follow_up_settings(
        &self,
        request: Request<GetFollowUpSettingsRequest>,
    ) -> Result<Response<FollowUpSettings>, Status> {
        answer(self.read_settings(request).await)
    }

    async fn update_follow_up_settings(
        &self,
        request: Request<UpdateFollowUpSettingsRequest>,
    ) -> Result<Response<FollowUpSettings>, Status> {
        answer(self.change_settings(request).await)
    }

    async fn list_frame_evaluations(
        &self,
        request: Request<ListFrameEvaluationsRequest>,
    ) -> Result<Response<ListFrameEvaluationsResponse>, Status> {
        answer(self.read_frame_evaluations(request).await)
    }

    async fn complete_frame_evaluation(
        &self,
        request: Request<CompleteFrameEvaluationRequest>,
    ) -> Result<Response<FrameEvaluation>, Status> {
        answer(self.record_frame_evaluation(request).await)
    }

    async fn get_frame_evaluation_settings(
        &self,
        request: Request<GetFrameEvaluationSettingsRequest>,
    ) -> Result<Response<FrameEvaluationSettings>, Status> {
        answer(self.read_frame_evaluation_settings(request).await)
    }

    async fn update_frame_evaluation_settings(
        &self,
        request: Request<UpdateFrameEvaluationSettingsRequest>,
    ) -> Result<Response<FrameEvaluationSettings>, Status> {
        answer(self.change_frame_evaluation_settings(request).await)
    }
}
