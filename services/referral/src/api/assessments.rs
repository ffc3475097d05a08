//! What a referral rests on: the case's action plans and the referral's assessments.

use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::resource::{day, scoped, valid_id};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::referral::v1::{
    Assessment, AssessmentKind, CreateAssessmentRequest, CreatePlanRequest, Plan, PlanKind,
};
use prost::Message as _;
use tonic::Request;
use tonic_types::FieldViolation;

use super::ReferralApi;
use super::common::{MAX_TEXT, new_id, state_of, text_ok};
use crate::domain::decision;
use kontakt_proto::names;

impl ReferralApi {
    pub(super) async fn record_plan(
        &self,
        request: Request<CreatePlanRequest>,
    ) -> Result<Plan, ApiError> {
        let caller = Caller::of(&request, "recording an action plan")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let (municipality, case_id) = scoped(principal, &request.parent, "cases", "parent")?;
        let mut plan = request
            .plan
            .ok_or_else(|| ApiError::invalid("plan", "the plan is required"))?;
        let mut wrong = Vec::new();
        if PlanKind::try_from(plan.kind).is_ok_and(|k| k == PlanKind::Unspecified)
            || PlanKind::try_from(plan.kind).is_err()
        {
            wrong.push(FieldViolation::new(
                "plan.kind",
                "the kind of plan is required",
            ));
        }
        if day(plan.plan_date.as_ref(), "plan.plan_date")?.is_none() {
            wrong.push(FieldViolation::new(
                "plan.plan_date",
                "the plan's date is required",
            ));
        }
        if plan.goals.len() > 50 {
            wrong.push(FieldViolation::new("plan.goals", "at most 50 goals"));
        }
        for (i, goal) in plan.goals.iter_mut().enumerate() {
            if goal.description.trim().is_empty() || !text_ok(&goal.description, MAX_TEXT) {
                wrong.push(FieldViolation::new(
                    format!("plan.goals[{i}].description"),
                    "1 to 4000 characters",
                ));
            }
            if goal.goal_id.is_empty() {
                goal.goal_id = format!("g{}", i + 1);
            } else if !valid_id(&goal.goal_id) {
                wrong.push(FieldViolation::new(
                    format!("plan.goals[{i}].goal_id"),
                    "1 to 63 characters of a-z, 0-9 and -",
                ));
            }
            day(
                goal.target_date.as_ref(),
                &format!("plan.goals[{i}].target_date"),
            )?;
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let m = municipality.to_string();
        let case = self
            .store
            .get_case(&m, case_id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.parent))?;
        let id = new_id("pl");
        plan.name = format!("{}/plans/{id}", request.parent);
        plan.update_time = None;
        plan.etag.clear();
        let mut tx = self.store.begin().await?;
        let created = self
            .store
            .insert_plan(
                &mut tx,
                &m,
                case_id,
                &id,
                &Plan {
                    create_time: None,
                    ..plan.clone()
                }
                .encode_to_vec(),
            )
            .await?;
        let person = names::person(&m, &case.person_id);
        caller
            .wrote(
                &mut tx,
                "CreatePlan",
                Action::Create,
                &plan.name,
                municipality,
                &person,
            )
            .await?;
        tx.commit().await?;
        plan.create_time = Some(kontakt_proto::timestamp(created));
        plan.update_time = plan.create_time;
        plan.etag = format!("\"{}\"", created.timestamp_micros());
        Ok(plan)
    }

    pub(super) async fn record_assessment(
        &self,
        request: Request<CreateAssessmentRequest>,
    ) -> Result<Assessment, ApiError> {
        let caller = Caller::of(&request, "recording an assessment")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let (municipality, referral_id) =
            scoped(principal, &request.parent, "referrals", "parent")?;
        let mut assessment = request
            .assessment
            .ok_or_else(|| ApiError::invalid("assessment", "the assessment is required"))?;
        let mut wrong = Vec::new();
        if !AssessmentKind::try_from(assessment.kind)
            .is_ok_and(|k| k != AssessmentKind::Unspecified)
        {
            wrong.push(FieldViolation::new(
                "assessment.kind",
                "PRELIMINARY (afdækning) or CHILD_ASSESSMENT (børnefaglig undersøgelse)",
            ));
        }
        let known = day(
            assessment.need_known_date.as_ref(),
            "assessment.need_known_date",
        )?;
        let completed = day(
            assessment.completion_date.as_ref(),
            "assessment.completion_date",
        )?;
        if let (Some(known), Some(completed)) = (known, completed)
            && completed < known
        {
            wrong.push(FieldViolation::new(
                "assessment.completion_date",
                "cannot be before the need was known",
            ));
        }
        if completed.is_some_and(|c| c > self.clock.today()) {
            wrong.push(FieldViolation::new(
                "assessment.completion_date",
                "cannot be in the future",
            ));
        }
        if !text_ok(&assessment.conclusion, MAX_TEXT) {
            wrong.push(FieldViolation::new(
                "assessment.conclusion",
                "at most 4000 characters",
            ));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let referral = self
            .store
            .lock_referral(&mut tx, &m, referral_id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.parent))?;
        if !decision::may_edit(state_of(&referral)) {
            return Err(Refusal::new(
                "NOT_EDITABLE",
                "assessments are added to a draft or returned referral",
            )
            .into());
        }
        let id = new_id("a");
        assessment.name = format!("{}/assessments/{id}", request.parent);
        assessment.create_time = None;
        assessment.update_time = None;
        assessment.etag.clear();
        let created = self
            .store
            .insert_assessment(&mut tx, &m, referral_id, &id, &assessment.encode_to_vec())
            .await?;
        let person = names::person(&m, &referral.person_id);
        caller
            .wrote(
                &mut tx,
                "CreateAssessment",
                Action::Create,
                &assessment.name,
                municipality,
                &person,
            )
            .await?;
        tx.commit().await?;
        assessment.create_time = Some(kontakt_proto::timestamp(created));
        assessment.update_time = assessment.create_time;
        assessment.etag = format!("\"{}\"", created.timestamp_micros());
        Ok(assessment)
    }
}
