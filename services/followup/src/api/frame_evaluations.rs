//! A budget frame's yearly evaluations (R-FU-5), for coordination and finance in the frame's
//! municipalities.

use chrono::{Datelike as _, NaiveDate};
use kontakt_platform::auth::{MunicipalityCode, Principal};
use kontakt_platform::resource::{check_etag, day, etag, parse_top_level, valid_id};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::followup::v1::{
    CompleteFrameEvaluationRequest, FrameEvaluation, FrameEvaluationSettings, FrameEvaluationState,
    GetFrameEvaluationSettingsRequest, ListFrameEvaluationsRequest, ListFrameEvaluationsResponse,
    UpdateFrameEvaluationSettingsRequest,
};
use tonic::Request;

use super::FollowUpApi;
use crate::domain::Step;
use crate::domain::evaluation::{self, AlreadyCompleted, Conclusion, EvaluationRule};
use crate::store::{EvaluationDone, EvaluationRow, Store};
use kontakt_proto::names;

fn evaluation_to_proto(row: EvaluationRow, today: NaiveDate) -> FrameEvaluation {
    let stage = evaluation::Stage::from_stored(&row.state);
    let state = match evaluation::state(stage, row.due_date, today, row.lead_days) {
        evaluation::State::Scheduled => FrameEvaluationState::Scheduled,
        evaluation::State::Due => FrameEvaluationState::Due,
        evaluation::State::Overdue => FrameEvaluationState::Overdue,
        evaluation::State::Completed => FrameEvaluationState::Completed,
    };
    let name = names::frame_evaluation(&row.frame_id, row.year);
    FrameEvaluation {
        dataset: name.clone(),
        name,
        year: row.year,
        due_date: Some(row.due_date.into()),
        state: state as i32,
        committee: row.committee,
        summary: row.summary,
        completed_date: row.completed_date.map(Into::into),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: etag(row.revision),
        municipalities: row.municipalities,
        completed_by: row.completed_by,
    }
}

const SETTINGS: &str = "evaluationSettings";

fn settings_to_proto(id: &str, rule: EvaluationRule, revision: i64) -> FrameEvaluationSettings {
    FrameEvaluationSettings {
        name: format!("{}/{SETTINGS}", names::frame(id)),
        due_month: rule.due_month,
        due_day: rule.due_day,
        lead_days: rule.lead_days,
        committee: rule.committee,
        etag: etag(revision),
    }
}

/// The frame id of `frames/{frame}/evaluationSettings`.
fn settings_frame<'a>(name: &'a str, field: &str) -> Result<&'a str, ApiError> {
    name.strip_prefix("frames/")
        .and_then(|rest| rest.strip_suffix(&format!("/{SETTINGS}")))
        .filter(|id| valid_id(id))
        .ok_or_else(|| ApiError::invalid(field, "must be `frames/{frame}/evaluationSettings`"))
}

impl FollowUpApi {
    pub(super) async fn read_frame_evaluation_settings(
        &self,
        request: Request<GetFrameEvaluationSettingsRequest>,
    ) -> Result<FrameEvaluationSettings, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let id = settings_frame(name, "name")?;
        self.visible_frame(principal, id, name).await?;
        let mut tx = self.store.begin().await?;
        let (rule, revision) = Store::frame_evaluation_rule(&mut tx, id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        tx.commit().await?;
        Ok(settings_to_proto(id, rule, revision))
    }

    /// New settings for a frame (R-FU-5): its open evaluations from this year on move to the
    /// new due day and committee in the same transaction; completed ones keep what they had.
    pub(super) async fn change_frame_evaluation_settings(
        &self,
        request: Request<UpdateFrameEvaluationSettingsRequest>,
    ) -> Result<FrameEvaluationSettings, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let input = request
            .into_inner()
            .settings
            .ok_or_else(|| ApiError::invalid("settings", "required"))?;
        let id = settings_frame(&input.name, "settings.name")?;
        let rule = EvaluationRule::parse(
            input.due_month,
            input.due_day,
            input.lead_days,
            &input.committee,
        )
        .map_err(ApiError::InvalidArgument)?;
        self.visible_frame(&principal, id, &input.name).await?;
        let mut tx = self.store.begin().await?;
        let (now, revision) = Store::frame_evaluation_rule(&mut tx, id, true)
            .await?
            .ok_or_else(|| ApiError::not_found(&input.name))?;
        if now == rule {
            tx.commit().await?;
            return Ok(settings_to_proto(id, now, revision));
        }
        check_etag(&input.etag, revision)?;
        Store::set_frame_evaluation_rule(&mut tx, id, &rule).await?;
        for year in Store::open_evaluation_years(&mut tx, id, self.clock.today().year()).await? {
            if let Some(due) = rule.due_in(year) {
                Store::move_evaluation(&mut tx, id, year, due, &rule.committee).await?;
            }
        }
        tx.commit().await?;
        Ok(settings_to_proto(id, rule, revision + 1))
    }

    /// The frame, if the caller acts for one of its municipalities (NOT_FOUND otherwise, so
    /// existence does not leak).
    async fn visible_frame(
        &self,
        principal: &Principal,
        id: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        self.store
            .frame_municipalities(id)
            .await?
            .filter(|municipalities| {
                municipalities
                    .iter()
                    .filter_map(|m| MunicipalityCode::parse(m))
                    .any(|m| principal.serves(m))
            })
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub(super) async fn read_frame_evaluations(
        &self,
        request: Request<ListFrameEvaluationsRequest>,
    ) -> Result<ListFrameEvaluationsResponse, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let parent = &request.get_ref().parent;
        let id = parse_top_level(parent, names::FRAMES, "parent")?;
        self.visible_frame(principal, id, parent).await?;
        let today = self.clock.today();
        Ok(ListFrameEvaluationsResponse {
            frame_evaluations: self
                .store
                .evaluations(id)
                .await?
                .into_iter()
                .map(|r| evaluation_to_proto(r, today))
                .collect(),
        })
    }

    pub(super) async fn record_frame_evaluation(
        &self,
        request: Request<CompleteFrameEvaluationRequest>,
    ) -> Result<FrameEvaluation, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let input = request.into_inner();
        let (frame, year) = input
            .name
            .strip_prefix("frames/")
            .and_then(|rest| rest.split_once("/evaluations/"))
            .and_then(|(f, y)| Some((f, y.parse::<i32>().ok()?)))
            .filter(|(f, _)| valid_id(f))
            .ok_or_else(|| {
                ApiError::invalid("name", "must be `frames/{frame}/evaluations/{year}`")
            })?;
        let invalid = |wrong| ApiError::InvalidArgument(vec![wrong]);
        let committee = evaluation::committee(&input.committee).map_err(invalid)?;
        let summary = evaluation::summary(&input.summary).map_err(invalid)?;
        let today = self.clock.today();
        let completed = day(input.completed_date.as_ref(), "completed_date")?;
        let conclusion = Conclusion {
            committee,
            summary,
            completed_date: evaluation::completed_date(completed, today).map_err(invalid)?,
        };
        self.visible_frame(&principal, frame, &input.name).await?;
        let mut tx = self.store.begin().await?;
        let row = Store::lock_evaluation(&mut tx, frame, year)
            .await?
            .ok_or_else(|| ApiError::not_found(&input.name))?;
        let recorded = row.completed_date.map(|completed_date| Conclusion {
            committee: &row.committee,
            summary: &row.summary,
            completed_date,
        });
        match evaluation::complete(
            evaluation::Stage::from_stored(&row.state),
            recorded.as_ref(),
            &conclusion,
        ) {
            Ok(Step::Record) => {}
            // The same conclusion again is a retry; anything else would rewrite history.
            Ok(Step::Retry) => {
                tx.commit().await?;
                return Ok(evaluation_to_proto(row, today));
            }
            Err(AlreadyCompleted) => {
                return Err(Refusal::new(
                    "EVALUATION_COMPLETED",
                    format!("the {year} evaluation was already completed"),
                )
                .into());
            }
        }
        check_etag(&input.etag, row.revision)?;
        Store::complete_evaluation(
            &mut tx,
            frame,
            year,
            &EvaluationDone {
                committee: conclusion.committee,
                summary: conclusion.summary,
                completed_date: conclusion.completed_date,
                completed_by: &principal.subject,
            },
        )
        .await?;
        let saved = Store::lock_evaluation(&mut tx, frame, year)
            .await?
            .ok_or_else(|| ApiError::not_found(&input.name))?;
        tx.commit().await?;
        Ok(evaluation_to_proto(saved, today))
    }
}
