//! Referrals: a draft created, read, listed and edited, then submitted for visitation (with
//! `validate_only`, every submission rule checked and nothing written).

use kontakt_platform::Refusal;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, etag, scoped, scoped_parent, update_mask};
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::referral::v1::{
    CreateReferralRequest, GetReferralRequest, ListReferralsRequest, ListReferralsResponse, Plan,
    Referral, ReferralState, ReferralSubmitted, SubmitReferralRequest, UpdateReferralRequest,
};
use tonic::Request;

use super::ReferralApi;
use super::common::{MAX_SHORT, SCHEMA, decode, nested, new_id, state_column, state_of, text_ok};
use super::referral_fields::{EDITABLE, apply_fields, draft_body, draft_field_errors};
use crate::domain::decision;
use crate::domain::submission::{self, Submission};
use crate::store::{ReferralFilter, ReferralRow};
use kontakt_proto::names;

pub(super) fn referral_to_proto(row: &ReferralRow) -> Result<Referral, ApiError> {
    let mut referral: Referral = decode(&row.body)?;
    referral.name = names::referral(&row.municipality, &row.id);
    referral.case = names::case(&row.municipality, &row.case_id);
    referral.person = names::person(&row.municipality, &row.person_id);
    referral.state = state_of(row) as i32;
    referral.counsellor = row.counsellor.clone();
    referral.committee_meeting = row
        .committee_meeting
        .as_deref()
        .map(|m| names::committee_meeting(&row.municipality, m))
        .unwrap_or_default();
    referral.submit_time = row.submit_time.map(kontakt_proto::timestamp);
    referral.create_time = Some(kontakt_proto::timestamp(row.create_time));
    referral.update_time = Some(kontakt_proto::timestamp(row.update_time));
    referral.etag = etag(row.revision);
    Ok(referral)
}

/// A referral's plan must be one of its own case's plans.
pub(super) fn check_plan_belongs(
    plan: &str,
    municipality: &str,
    case_id: &str,
) -> Result<(), ApiError> {
    if plan.is_empty() {
        return Ok(());
    }
    let (m, plan_case, _) = nested(plan, "cases", "plans", "referral.plan")?;
    if m.to_string() != municipality || plan_case != case_id {
        return Err(ApiError::invalid(
            "referral.plan",
            "must be a plan of the referral's own case",
        ));
    }
    Ok(())
}

impl ReferralApi {
    pub(super) async fn draft_referral(
        &self,
        request: Request<CreateReferralRequest>,
    ) -> Result<Referral, ApiError> {
        let caller = Caller::of(&request, "referring a case for a contact person")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let municipality = scoped_parent(principal, &request.parent)?;
        if request.request_id.is_empty() || !text_ok(&request.request_id, 100) {
            return Err(ApiError::invalid(
                "request_id",
                "1 to 100 characters; a retry sends the same one",
            ));
        }
        let referral = request
            .referral
            .ok_or_else(|| ApiError::invalid("referral", "the referral is required"))?;
        let wrong = draft_field_errors(&referral, "referral.");
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let (case_municipality, case_id) =
            resource::parse_in_municipality(&referral.case, "cases", "referral.case")?;
        if case_municipality != municipality {
            return Err(ApiError::invalid(
                "referral.case",
                "the case must belong to the referral's municipality",
            ));
        }
        let m = municipality.to_string();
        let case = self
            .store
            .get_case(&m, case_id)
            .await?
            .ok_or_else(|| ApiError::invalid("referral.case", "no such case"))?;
        check_plan_belongs(&referral.plan, &m, case_id)?;
        let now = self.clock.now();
        let row = ReferralRow {
            municipality: m.clone(),
            id: new_id("r"),
            case_id: case_id.to_owned(),
            person_id: case.person_id.clone(),
            counsellor: if referral.counsellor.trim().is_empty() {
                case.counsellor.clone()
            } else {
                referral.counsellor.trim().to_owned()
            },
            state: "DRAFT".into(),
            body: draft_body(&referral),
            request_id: request.request_id.clone(),
            committee_meeting: None,
            revision: 1,
            submit_time: None,
            create_time: now,
            update_time: now,
        };
        let mut tx = self.store.begin().await?;
        let (stored, created) = match self.store.insert_referral(&mut tx, &row).await? {
            Ok(done) => done,
            Err(open) => {
                return Err(ApiError::AlreadyExists {
                    resource: names::referral(&m, &open),
                });
            }
        };
        if created {
            let name = names::referral(&m, &stored.id);
            let person = names::person(&m, &stored.person_id);
            caller
                .wrote(
                    &mut tx,
                    "CreateReferral",
                    Action::Create,
                    &name,
                    municipality,
                    &person,
                )
                .await?;
        }
        tx.commit().await?;
        referral_to_proto(&stored)
    }

    pub(super) async fn read_referral(
        &self,
        request: Request<GetReferralRequest>,
    ) -> Result<Referral, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let principal = &caller.principal;
        let name = request.into_inner().name;
        let (municipality, id) = scoped(principal, &name, "referrals", "name")?;
        let row = self
            .store
            .get_referral(&municipality.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        let person = names::person(&row.municipality, &row.person_id);
        self.read_logged(&caller, "GetReferral", &name, municipality, &person)
            .await?;
        referral_to_proto(&row)
    }

    pub(super) async fn read_referrals(
        &self,
        request: Request<ListReferralsRequest>,
    ) -> Result<ListReferralsResponse, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let request = request.into_inner();
        let municipality = scoped_parent(&caller.principal, &request.parent)?;
        let m = municipality.to_string();
        let page_size = pagination::page_size(request.page_size)?;
        let state = match ReferralState::try_from(request.state) {
            Ok(ReferralState::Unspecified) => None,
            Ok(state) => Some(state_column(state)),
            Err(_) => return Err(ApiError::invalid("state", "not a known referral state")),
        };
        let case_id = if request.case.is_empty() {
            None
        } else {
            let (cm, id) = scoped(&caller.principal, &request.case, "cases", "case")?;
            if cm != municipality {
                return Err(ApiError::invalid(
                    "case",
                    "must be a case of the listed municipality",
                ));
            }
            Some(id)
        };
        if !text_ok(&request.counsellor, MAX_SHORT) {
            return Err(ApiError::invalid("counsellor", "at most 200 characters"));
        }
        let counsellor = Some(request.counsellor.as_str()).filter(|c| !c.is_empty());
        // The token is bound to the municipality and filter it was issued under.
        let scope = format!(
            "referrals?m={m}&state={}&case={}&counsellor={}",
            request.state, request.case, request.counsellor
        );
        let after = pagination::decode_time_token(&scope, &request.page_token)?;
        let rows = self
            .store
            .list_referrals(
                &m,
                &ReferralFilter {
                    state,
                    counsellor,
                    case_id,
                },
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::time_key(r.create_time, &r.id)
        });
        let reads = rows
            .iter()
            .map(|r| (names::referral(&m, &r.id), names::person(&m, &r.person_id)));
        self.reads_logged(&caller, "ListReferrals", municipality, reads)
            .await?;
        Ok(ListReferralsResponse {
            referrals: rows
                .iter()
                .map(referral_to_proto)
                .collect::<Result<_, _>>()?,
            next_page_token,
        })
    }

    pub(super) async fn edit_referral(
        &self,
        request: Request<UpdateReferralRequest>,
    ) -> Result<Referral, ApiError> {
        let caller = Caller::of(&request, "editing a referral")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let given = request
            .referral
            .ok_or_else(|| ApiError::invalid("referral", "the referral is required"))?;
        let name = given.name.clone();
        let (municipality, id) = scoped(principal, &name, "referrals", "referral.name")?;
        let chosen = update_mask(request.update_mask.as_ref(), &EDITABLE)?;
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let mut row = self
            .store
            .lock_referral(&mut tx, &m, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        check_etag(&given.etag, row.revision)?;
        if !decision::may_edit(state_of(&row)) {
            return Err(Refusal::new(
                "NOT_EDITABLE",
                "only a draft or returned referral can be edited",
            )
            .into());
        }
        let mut body: Referral = decode(&row.body)?;
        apply_fields(&mut body, given, &chosen);
        let wrong = draft_field_errors(&body, "referral.");
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        check_plan_belongs(&body.plan, &m, &row.case_id)?;
        row.body = draft_body(&body);
        let saved = self.store.save_referral(&mut tx, &row, false).await?;
        let person = names::person(&m, &saved.person_id);
        caller
            .wrote(
                &mut tx,
                "UpdateReferral",
                Action::Update,
                &name,
                municipality,
                &person,
            )
            .await?;
        tx.commit().await?;
        referral_to_proto(&saved)
    }

    pub(super) async fn submit(
        &self,
        request: Request<SubmitReferralRequest>,
    ) -> Result<Referral, ApiError> {
        // AIP-163: `validate_only` runs every check below and then writes nothing.
        let validate_only = request.get_ref().validate_only;
        let caller = Caller::of(
            &request,
            if validate_only {
                "checking a referral before submission"
            } else {
                "submitting a referral for visitation"
            },
        )?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let (municipality, id) = scoped(principal, &request.name, "referrals", "name")?;
        let m = municipality.to_string();
        let today = self.clock.today();
        let mut tx = self.store.begin().await?;
        let mut row = self
            .store
            .lock_referral(&mut tx, &m, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.name))?;
        check_etag(&request.etag, row.revision)?;
        if !decision::may_submit(state_of(&row)) {
            return Err(Refusal::new(
                "NOT_SUBMITTABLE",
                "only a draft or returned referral can be submitted",
            )
            .into());
        }
        let policy = self.policy_on(&mut tx, &m, today).await?;
        let referral: Referral = decode(&row.body)?;
        let birth_date = self.store.birth_date(&mut tx, &m, &row.person_id).await?;
        let assessments = self.assessments_of(&mut tx, &m, id).await?;
        let plan: Option<Plan> = match nested(&referral.plan, "cases", "plans", "plan") {
            Ok((_, case_id, plan_id)) => self
                .store
                .get_plan(&mut tx, &m, case_id, plan_id)
                .await?
                .map(|b| decode(&b))
                .transpose()?,
            Err(_) => None,
        };
        let legal_bases = self.store.legal_basis_facts(&mut tx).await?;
        let violations = submission::check(&Submission {
            referral: &referral,
            policy: &policy,
            birth_date,
            day: today,
            assessments: &assessments,
            plan: plan.as_ref(),
            legal_bases: &legal_bases,
        });
        if validate_only {
            // Nothing changes: the lock is released without a write, so no state change and no
            // outbox event. The answer shows the referral (or what is wrong with it), so the
            // call is logged as a read (R-DP-2), after the transaction is gone: the audit
            // writer takes its own connection.
            tx.rollback().await?;
            let name = names::referral(&m, id);
            let person = names::person(&m, &row.person_id);
            self.read_logged(&caller, "SubmitReferral", &name, municipality, &person)
                .await?;
            if !violations.is_empty() {
                return Err(
                    Refusal::rules("the referral cannot be submitted yet", violations).into(),
                );
            }
            return referral_to_proto(&row);
        }
        if !violations.is_empty() {
            return Err(Refusal::rules("the referral cannot be submitted yet", violations).into());
        }
        row.state = state_column(ReferralState::Submitted).into();
        let saved = self.store.save_referral(&mut tx, &row, true).await?;
        let name = names::referral(&m, id);
        let event = ReferralSubmitted {
            referral: name.clone(),
            case: names::case(&m, &saved.case_id),
            person: names::person(&m, &saved.person_id),
            municipality: m.clone(),
            recipient: referral.recipient,
            requested_minutes_per_week: referral.requested_minutes_per_week,
            committee_required: policy.committee_required,
            submit_time: saved.submit_time.map(kontakt_proto::timestamp),
        };
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(&event, Some(m.clone()), &name),
        )
        .await?;
        let person = names::person(&m, &saved.person_id);
        caller
            .wrote(
                &mut tx,
                "SubmitReferral",
                Action::Update,
                &name,
                municipality,
                &person,
            )
            .await?;
        tx.commit().await?;
        referral_to_proto(&saved)
    }
}
