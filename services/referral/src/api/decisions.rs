//! The decision on a referral (approve, reject, return) and, on approval, the grant it makes.

use kontakt_platform::audit::{Action, AuditLog, Caller};
use kontakt_platform::auth::Role;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, day, scoped};
use kontakt_platform::{ApiError, Refusal};
use kontakt_proto::referral::v1::{
    ApprovalLevel, DecideReferralRequest, Decision, DecisionOutcome, GrantApproved, GrantVersion,
    Recipient, Referral, ReferralState, TargetGroup, VisitationDecided,
};
use prost::Message as _;
use tonic::Request;

use super::ReferralApi;
use super::common::{MAX_TEXT, SCHEMA, decode, new_id, state_column, state_of, text_ok};
use crate::domain::age::age_years;
use crate::domain::decision::{self, Approval, Decider};
use crate::domain::submission;
use crate::grants::{age_limit, approved_by_policy};
use crate::store::NewGrant;
use kontakt_proto::names;

impl ReferralApi {
    pub(super) async fn decide(
        &self,
        request: Request<DecideReferralRequest>,
    ) -> Result<Decision, ApiError> {
        let caller = Caller::of(&request, "deciding a referral")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let (municipality, id) = scoped(principal, &request.name, "referrals", "name")?;
        let outcome = DecisionOutcome::try_from(request.outcome)
            .ok()
            .filter(|o| *o != DecisionOutcome::Unspecified)
            .ok_or_else(|| ApiError::invalid("outcome", "APPROVE, REJECT or RETURN"))?;
        let level = ApprovalLevel::try_from(request.approval_level)
            .ok()
            .filter(|l| *l != ApprovalLevel::Unspecified)
            .ok_or_else(|| {
                ApiError::invalid("approval_level", "the deciding level is required (R-RV-12)")
            })?;
        if outcome != DecisionOutcome::Approve && request.reason.trim().is_empty() {
            return Err(ApiError::invalid(
                "reason",
                "a rejection says why; a return says what is missing",
            ));
        }
        if !text_ok(&request.reason, MAX_TEXT) || !text_ok(&request.justification, MAX_TEXT) {
            return Err(ApiError::invalid(
                "reason",
                "reason and justification at most 4000 characters",
            ));
        }
        let start = day(request.start_date.as_ref(), "start_date")?;
        let expected_end = day(request.expected_end_date.as_ref(), "expected_end_date")?;
        let review = day(request.review_date.as_ref(), "review_date")?;
        for (i, a) in request.allowances.iter().enumerate() {
            day(a.end_date.as_ref(), &format!("allowances[{i}].end_date"))?;
        }
        let decider = if principal.has_role(Role::Committee) {
            Decider::Committee
        } else {
            Decider::Counsellor
        };
        let m = municipality.to_string();
        let today = self.clock.today();
        let mut tx = self.store.begin().await?;
        let mut row = self
            .store
            .lock_referral(&mut tx, &m, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.name))?;
        check_etag(&request.etag, row.revision)?;
        let policy = self.policy_on(&mut tx, &m, today).await?;
        decision::may_decide(state_of(&row), &policy, decider)
            .map_err(|v| Refusal::rules("the referral cannot be decided", vec![v]))?;
        // R-RV-8: a committee decides at its meeting, so the decision is dated by the meeting.
        let decision_date = match (decider, row.committee_meeting.as_deref()) {
            (Decider::Committee, Some(meeting)) => {
                let meeting_date = self
                    .store
                    .meeting_date(&mut tx, &m, meeting)
                    .await?
                    .ok_or_else(|| ApiError::not_found(names::committee_meeting(&m, meeting)))?;
                decision::decision_date(meeting_date, today)
                    .map_err(|v| Refusal::rules("the referral cannot be decided yet", vec![v]))?
            }
            _ => today,
        };
        let referral: Referral = decode(&row.body)?;
        let birth_date = self.store.birth_date(&mut tx, &m, &row.person_id).await?;
        let assessments = self.assessments_of(&mut tx, &m, id).await?;
        let justification = if request.justification.trim().is_empty() {
            referral.hours_justification.clone()
        } else {
            request.justification.clone()
        };
        // R-RV-5: the last day the referral's basis covers the person.
        let limit = if outcome == DecisionOutcome::Approve {
            age_limit(&self.store, &mut tx, birth_date, &referral.legal_basis).await?
        } else {
            None
        };
        if outcome == DecisionOutcome::Approve {
            let age = age_years(birth_date, start.unwrap_or(today));
            let violations = decision::check_approval(&Approval {
                policy: &policy,
                level,
                minutes_per_week: request.minutes_per_week,
                start,
                expected_end,
                review,
                allowances: &request.allowances,
                justification: &justification,
                age_deviates: policy
                    .age_deviation(
                        age,
                        &referral
                            .target_groups
                            .iter()
                            .filter_map(|g| TargetGroup::try_from(*g).ok())
                            .collect::<Vec<_>>(),
                    )
                    .is_some(),
                age_limit: limit,
            });
            // Every broken rule at once: the committee's check of the goals too (R-RV-8).
            let violations: Vec<_> = violations
                .into_iter()
                .chain(
                    decision::committee_checked_goals(
                        decider,
                        true,
                        !referral.plan.is_empty(),
                        request.goals_realistic,
                    )
                    .err(),
                )
                .collect();
            if !violations.is_empty() {
                return Err(Refusal::rules("the approval cannot be recorded", violations).into());
            }
        }
        let decision_id = new_id("d");
        let name = names::referral(&m, id);
        let decision_name = format!("{name}/decisions/{decision_id}");
        let grant_id = new_id("g");
        let mut decision = Decision {
            name: decision_name.clone(),
            outcome: outcome as i32,
            approval_level: level as i32,
            decider: principal.subject.clone(),
            decision_date: Some(decision_date.into()),
            committee_meeting: row
                .committee_meeting
                .as_deref()
                .map(|c| names::committee_meeting(&m, c))
                .unwrap_or_default(),
            reason: request.reason.trim().to_owned(),
            review_date: review.map(Into::into),
            goals_realistic: request.goals_realistic && outcome == DecisionOutcome::Approve,
            ..Decision::default()
        };
        if outcome == DecisionOutcome::Approve {
            decision.minutes_per_week = request.minutes_per_week;
            decision.start_date = start.map(Into::into);
            decision.expected_end_date = expected_end.map(Into::into);
            decision.grant = names::grant(&m, &grant_id);
        }
        let created = self
            .store
            .insert_decision(
                &mut tx,
                &m,
                id,
                &decision_id,
                outcome
                    .as_str_name()
                    .trim_start_matches("DECISION_OUTCOME_"),
                &decision.encode_to_vec(),
            )
            .await?;
        decision.create_time = Some(kontakt_proto::timestamp(created));
        row.state = state_column(match outcome {
            DecisionOutcome::Approve => ReferralState::Approved,
            DecisionOutcome::Reject => ReferralState::Rejected,
            _ => ReferralState::Returned,
        })
        .into();
        if outcome == DecisionOutcome::Return {
            row.committee_meeting = None;
        }
        self.store.save_referral(&mut tx, &row, false).await?;
        let decided = VisitationDecided {
            referral: name.clone(),
            decision: decision_name.clone(),
            municipality: m.clone(),
            outcome: outcome as i32,
            approval_level: level as i32,
            decision_date: Some(decision_date.into()),
            grant: decision.grant.clone(),
        };
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(&decided, Some(m.clone()), &name),
        )
        .await?;
        let person = names::person(&m, &row.person_id);
        let mut audit = vec![caller.entry(
            "DecideReferral",
            Action::Create,
            &decision_name,
            municipality,
            &person,
        )];
        if let (DecisionOutcome::Approve, Some(start), Some(expected_end)) =
            (outcome, start, expected_end)
        {
            let version = GrantVersion {
                minutes_per_week: request.minutes_per_week,
                allowances: request.allowances.clone(),
                decision: decision_name.clone(),
                justification: justification.clone(),
                expected_end_date: Some(expected_end.into()),
                approval_level: level as i32,
                decider: principal.subject.clone(),
                ..GrantVersion::default()
            };
            let compulsory_until = referral
                .compulsory_condition
                .as_ref()
                .and_then(|c| c.end_date.as_ref())
                .and_then(|d| d.to_naive());
            self.store
                .insert_grant(
                    &mut tx,
                    &NewGrant {
                        municipality: &m,
                        id: &grant_id,
                        referral_id: id,
                        case_id: &row.case_id,
                        person_id: &row.person_id,
                        counsellor: &row.counsellor,
                        recipient: referral.recipient,
                        legal_basis: &referral.legal_basis,
                        purpose: &referral.purpose,
                        start_date: start,
                        expected_end_date: expected_end,
                        review_date: review,
                        compulsory_until,
                        version_id: "v1",
                        minutes_per_week: request.minutes_per_week,
                        version_body: &version.encode_to_vec(),
                    },
                )
                .await?;
            let grant = names::grant(&m, &grant_id);
            let approved = GrantApproved {
                grant: grant.clone(),
                version: format!("{grant}/versions/v1"),
                referral: name.clone(),
                case: names::case(&m, &row.case_id),
                person: person.clone(),
                municipality: m.clone(),
                recipient: referral.recipient,
                legal_basis: referral.legal_basis.clone(),
                minutes_per_week: request.minutes_per_week,
                start_date: Some(start.into()),
                expected_end_date: Some(expected_end.into()),
                age_years_at_start: i32::try_from(age_years(birth_date, start)).unwrap_or(0),
                needs: referral.needs.clone(),
                allowances: request.allowances.clone(),
                counsellor: row.counsellor.clone(),
                compulsory_until: compulsory_until.map(Into::into),
                review_date: review.map(Into::into),
                assessment_deadline: submission::running_child_assessment(&assessments, today)
                    .and_then(submission::assessment_deadline)
                    .map(Into::into),
                plan_deadline: referral
                    .plan
                    .is_empty()
                    .then(|| start.checked_add_months(chrono::Months::new(submission::PLAN_MONTHS)))
                    .flatten()
                    .map(Into::into),
                ..approved_by_policy(
                    &policy,
                    referral.recipient == Recipient::Family as i32,
                    age_years(birth_date, start),
                    limit,
                )
            };
            outbox::write(
                &mut tx,
                SCHEMA,
                &NewEvent::new(&approved, Some(m.clone()), &grant),
            )
            .await?;
            audit.push(caller.entry(
                "DecideReferral",
                Action::Create,
                &grant,
                municipality,
                &person,
            ));
        }
        AuditLog::record_in(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(decision)
    }
}
