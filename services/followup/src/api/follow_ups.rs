//! One follow-up: reading it, the due lists of a municipality or a counsellor (R-FU-4), and
//! recording it as held (R-FU-2, R-FU-3) with its next follow-up (R-FU-1).

use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, day, scoped, scoped_parent};
use kontakt_platform::{ApiError, Refusal, pagination};
use kontakt_proto::followup::v1::{
    CompleteFollowUpRequest, FollowUp, FollowUpCompleted, GetFollowUpRequest,
    ListDueFollowUpsRequest, ListDueFollowUpsResponse,
};
use prost::Message as _;
use tonic::Request;

use super::{FollowUpApi, follow_up_to_proto};
use crate::domain::Step;
use crate::domain::due;
use crate::domain::follow_up::{self, NotRecorded, Stage};
use crate::domain::record::{self, Context, RecordError};
use crate::store::{Completion, Store};
use kontakt_proto::names;

impl FollowUpApi {
    pub(super) async fn read_follow_up(
        &self,
        request: Request<GetFollowUpRequest>,
    ) -> Result<FollowUp, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let name = &request.get_ref().name;
        let (m, id) = scoped(&caller.principal, name, names::FOLLOW_UPS, "name")?;
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

    pub(super) async fn read_due_follow_ups(
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
        let after = pagination::decode_date_token(&scope, &body.page_token)?;
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
            pagination::date_key(r.due_date, &r.id)
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

    /// Records a held follow-up (R-FU-2, R-FU-3) with its next follow-up, and publishes
    /// FollowUpCompleted in the same transaction; the referral service acts on the outcome.
    pub(super) async fn record_follow_up(
        &self,
        request: Request<CompleteFollowUpRequest>,
    ) -> Result<FollowUp, ApiError> {
        let caller = Caller::of(&request, "follow-up")?;
        let input = request
            .into_inner()
            .follow_up
            .ok_or_else(|| ApiError::invalid("follow_up", "required"))?;
        let (m, id) = scoped(
            &caller.principal,
            &input.name,
            names::FOLLOW_UPS,
            "follow_up.name",
        )?;
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
            RecordError::Rules(violations) => {
                Refusal::rules("the follow-up cannot be recorded so", violations).into()
            }
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
                return Err(Refusal::new(
                    "FOLLOW_UP_COMPLETED",
                    format!(
                        "the follow-up was already recorded as held on {}; the next one is the grant's open follow-up",
                        row.completed_date
                            .map(|d| d.to_string())
                            .unwrap_or_default()
                    ),
                )
                .into());
            }
            Err(NotRecorded::Cancelled) => {
                return Err(Refusal::new(
                    "FOLLOW_UP_CANCELLED",
                    "the follow-up was cancelled because the grant ended",
                )
                .into());
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
}
