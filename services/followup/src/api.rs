//! The gRPC surface: schedules, a grant's follow-ups and the due lists (R-FU-1, R-FU-4). Every
//! read of a child's follow-ups is in the access log.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, AuditLog, Caller};
use kontakt_platform::clock::SharedClock;
use kontakt_platform::error::answer;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, day, etag, parse_top_level, scoped, scoped_parent};
use kontakt_platform::{ApiError, pagination};
use kontakt_proto::followup::v1::follow_up_service_server::FollowUpService;
use kontakt_proto::followup::v1::*;
use prost::Message as _;
use tonic::{Request, Response, Status};

use crate::domain::Step;
use crate::domain::due;
use crate::domain::evaluation::{self, AlreadyCompleted, Conclusion};
use crate::domain::follow_up::{self, NotRecorded, ScheduleStage, Stage};
use crate::domain::record::{self, Context, RecordError};
use crate::names::{self, FOLLOW_UPS, GRANTS, SETTINGS};
use crate::store::{Completion, EvaluationDone, EvaluationRow, FollowUpRow, ScheduleRow, Store};

pub struct FollowUpApi {
    pub store: Store,
    pub clock: SharedClock,
    pub audit: AuditLog,
}

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

/// `follow_ups` are the schedule's, by due date: the first is the first follow-up as it was
/// scheduled, the open one the next.
fn schedule_to_proto(row: ScheduleRow, follow_ups: &[FollowUpRow]) -> Schedule {
    let next = follow_ups
        .iter()
        .find(|f| Stage::from_stored(&f.state) == Stage::Scheduled);
    Schedule {
        name: names::schedule(&row.municipality, &row.grant_id),
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
            None => due::reminded_until(today, self.store.lead_days(&code).await?),
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
                    &names::follow_up(&r.municipality, &r.id),
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

fn evaluation_to_proto(row: EvaluationRow, today: NaiveDate) -> FrameEvaluation {
    let stage = evaluation::Stage::from_stored(&row.state);
    let state = match evaluation::state(stage, row.due_date, today, row.lead_days) {
        evaluation::State::Scheduled => FrameEvaluationState::Scheduled,
        evaluation::State::Due => FrameEvaluationState::Due,
        evaluation::State::Overdue => FrameEvaluationState::Overdue,
        evaluation::State::Completed => FrameEvaluationState::Completed,
    };
    let name = names::evaluation(&row.frame_id, row.year);
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

impl FollowUpApi {
    async fn get_follow_up(
        &self,
        request: Request<GetFollowUpRequest>,
    ) -> Result<FollowUp, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let name = &request.get_ref().name;
        let (m, id) = scoped(&caller.principal, name, FOLLOW_UPS, "name")?;
        let row = self
            .store
            .follow_up(&m.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        self.audit
            .record(vec![caller.entry(
                "GetFollowUp",
                Action::Read,
                name,
                m,
                &row.person,
            )])
            .await?;
        Ok(follow_up_to_proto(row, self.clock.today()))
    }

    /// Records a held follow-up (R-FU-2, R-FU-3) with its next follow-up, and publishes
    /// FollowUpCompleted in the same transaction; the referral service acts on the outcome.
    async fn complete_follow_up(
        &self,
        request: Request<CompleteFollowUpRequest>,
    ) -> Result<FollowUp, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let input = request
            .into_inner()
            .follow_up
            .ok_or_else(|| ApiError::invalid("follow_up", "required"))?;
        let (m, id) = scoped(&caller.principal, &input.name, FOLLOW_UPS, "follow_up.name")?;
        let code = m.to_string();
        let today = self.clock.today();
        let mut tx = self.store.begin().await?;
        let row = Store::lock_follow_up(&mut tx, &code, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&input.name))?;
        let schedule = Store::lock_schedule(&mut tx, &code, &row.grant_id)
            .await?
            .ok_or_else(|| {
                ApiError::internal(std::io::Error::other("a follow-up without its schedule"))
            })?;
        let held = record::check(
            &input,
            &Context {
                today,
                municipality: &code,
                start_date: schedule.start_date,
                rules: schedule.rules(),
                coordinator_required: schedule.coordinator_required,
            },
        )
        .map_err(|err| match err {
            RecordError::Fields(wrong) => ApiError::InvalidArgument(wrong),
            RecordError::Rules(violations) => ApiError::FailedPrecondition {
                reason: "RULES_NOT_MET",
                message: format!(
                    "the follow-up cannot be recorded so: {}",
                    violations
                        .iter()
                        .map(|v| format!("{} {}", v.rule, v.subject))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                violations,
            },
        })?;
        let encoded = held.record.encode_to_vec();
        let same_record = row.record.as_deref() == Some(encoded.as_slice());
        match follow_up::record(Stage::from_stored(&row.state), same_record) {
            Ok(Step::Record) => {}
            // A retry of the same record answers with the follow-up as it is.
            Ok(Step::Retry) => {
                tx.commit().await?;
                return Ok(follow_up_to_proto(row, today));
            }
            Err(NotRecorded::AlreadyHeld) => {
                return Err(ApiError::FailedPrecondition {
                    reason: "FOLLOW_UP_COMPLETED",
                    message: format!(
                        "the follow-up was already recorded as held on {}; the next one is the grant's open follow-up",
                        row.completed_date
                            .map(|d| d.to_string())
                            .unwrap_or_default()
                    ),
                    violations: Vec::new(),
                });
            }
            Err(NotRecorded::Cancelled) => {
                return Err(ApiError::FailedPrecondition {
                    reason: "FOLLOW_UP_CANCELLED",
                    message: "the follow-up was cancelled because the grant ended".into(),
                    violations: Vec::new(),
                });
            }
        }
        check_etag(&input.etag, row.revision)?;
        let outcome = held
            .outcome
            .as_str_name()
            .trim_start_matches("FOLLOW_UP_OUTCOME_");
        Store::complete_follow_up(
            &mut tx,
            &code,
            id,
            &Completion {
                outcome,
                completed_date: held.completed_date,
                completed_by: &caller.principal.subject,
                record: &encoded,
            },
        )
        .await?;
        if let Some(next) = held.next_due {
            Store::insert_follow_up(&mut tx, &code, &row.grant_id, next, &schedule.counsellor)
                .await?;
        }
        let name = names::follow_up(&code, id);
        let completed = FollowUpCompleted {
            follow_up: name.clone(),
            grant: names::grant(&code, &row.grant_id),
            assignment: String::new(),
            municipality: code.clone(),
            outcome: held.outcome as i32,
            adjusted_minutes_per_week: held.record.adjusted_minutes_per_week,
            completed_date: held.record.completed_date,
            next_due_date: held.record.next_due_date,
            counsellor: schedule.counsellor.clone(),
            approval_level: held.record.approval_level,
            justification: held.record.justification.clone(),
            outcome_effective_date: held.record.outcome_effective_date,
            completed_by: caller.principal.subject.clone(),
        };
        outbox::write(
            &mut tx,
            crate::SCHEMA,
            &NewEvent::new(&completed, Some(code.clone()), &name),
        )
        .await?;
        caller
            .wrote(
                &mut tx,
                "CompleteFollowUp",
                Action::Update,
                &name,
                m,
                &schedule.person,
            )
            .await?;
        let saved = Store::lock_follow_up(&mut tx, &code, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        tx.commit().await?;
        Ok(follow_up_to_proto(saved, today))
    }

    async fn get_follow_up_settings(
        &self,
        request: Request<GetFollowUpSettingsRequest>,
    ) -> Result<FollowUpSettings, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let name = &request.get_ref().name;
        let m = settings_owner(principal, name, "name")?;
        self.settings(&m.to_string()).await
    }

    async fn settings(&self, code: &str) -> Result<FollowUpSettings, ApiError> {
        let (days, is_default, revision) = self.store.settings(code).await?;
        Ok(FollowUpSettings {
            name: names::settings(code),
            due_lead_days: days,
            is_default,
            etag: etag(revision),
        })
    }

    async fn update_follow_up_settings(
        &self,
        request: Request<UpdateFollowUpSettingsRequest>,
    ) -> Result<FollowUpSettings, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?.clone();
        let input = request
            .into_inner()
            .settings
            .ok_or_else(|| ApiError::invalid("settings", "required"))?;
        let m = settings_owner(&principal, &input.name, "settings.name")?;
        if !due::LEAD_DAYS.contains(&input.due_lead_days) {
            return Err(ApiError::invalid(
                "settings.due_lead_days",
                "0 to 90 days before the due date",
            ));
        }
        let code = m.to_string();
        let (_, _, revision) = self.store.settings(&code).await?;
        check_etag(&input.etag, revision)?;
        let expected = (!input.etag.is_empty()).then_some(revision);
        if !self
            .store
            .set_lead_days(&code, input.due_lead_days, expected)
            .await?
        {
            return Err(ApiError::Aborted {
                reason: "ETAG_MISMATCH",
                message: "the settings changed since they were read; read them again".into(),
            });
        }
        self.settings(&code).await
    }

    /// The frame, if the caller acts for one of its municipalities (NOT_FOUND otherwise, so
    /// existence does not leak).
    async fn visible_frame(
        &self,
        principal: &kontakt_platform::auth::Principal,
        id: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        self.store
            .frame_municipalities(id)
            .await?
            .filter(|municipalities| {
                municipalities
                    .iter()
                    .filter_map(|m| kontakt_platform::auth::MunicipalityCode::parse(m))
                    .any(|m| principal.serves(m))
            })
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(name))
    }

    async fn list_frame_evaluations(
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

    async fn complete_frame_evaluation(
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
            .filter(|(f, _)| kontakt_platform::resource::valid_id(f))
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
                return Err(ApiError::FailedPrecondition {
                    reason: "EVALUATION_COMPLETED",
                    message: format!("the {year} evaluation was already completed"),
                    violations: Vec::new(),
                });
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

/// `municipalities/{code}/followUpSettings` for a municipality the caller acts for.
fn settings_owner(
    principal: &kontakt_platform::auth::Principal,
    name: &str,
    field: &str,
) -> Result<kontakt_platform::auth::MunicipalityCode, ApiError> {
    let parent = name.strip_suffix(&format!("/{SETTINGS}")).ok_or_else(|| {
        ApiError::invalid(field, "must be `municipalities/{code}/followUpSettings`")
    })?;
    scoped_parent(principal, parent)
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

    async fn get_follow_up(
        &self,
        request: Request<GetFollowUpRequest>,
    ) -> Result<Response<FollowUp>, Status> {
        answer(self.get_follow_up(request).await)
    }

    async fn complete_follow_up(
        &self,
        request: Request<CompleteFollowUpRequest>,
    ) -> Result<Response<FollowUp>, Status> {
        answer(self.complete_follow_up(request).await)
    }

    async fn get_follow_up_settings(
        &self,
        request: Request<GetFollowUpSettingsRequest>,
    ) -> Result<Response<FollowUpSettings>, Status> {
        answer(self.get_follow_up_settings(request).await)
    }

    async fn update_follow_up_settings(
        &self,
        request: Request<UpdateFollowUpSettingsRequest>,
    ) -> Result<Response<FollowUpSettings>, Status> {
        answer(self.update_follow_up_settings(request).await)
    }

    async fn list_frame_evaluations(
        &self,
        request: Request<ListFrameEvaluationsRequest>,
    ) -> Result<Response<ListFrameEvaluationsResponse>, Status> {
        answer(self.list_frame_evaluations(request).await)
    }

    async fn complete_frame_evaluation(
        &self,
        request: Request<CompleteFrameEvaluationRequest>,
    ) -> Result<Response<FrameEvaluation>, Status> {
        answer(self.complete_frame_evaluation(request).await)
    }
}
