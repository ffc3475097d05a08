//! The referral workflow over gRPC: policies, cases, plans, referrals, assessments, submission,
//! committee meetings, decisions and grants. Authorisation and proto <-> row conversion here;
//! the rules are in `domain`, the SQL in `store`.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, AuditLog, Caller};
use kontakt_platform::auth::{self, MunicipalityCode, Role};
use kontakt_platform::error::RuleViolation;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{check_etag, day, etag, scoped, scoped_parent, valid_id};
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::referral::v1::{
    ApprovalLevel, Assessment, AssessmentKind, Case, CommitteeMeeting, CommitteeMeetingState,
    CreateAssessmentRequest, CreateCaseRequest, CreateCommitteeMeetingRequest, CreatePlanRequest,
    CreatePolicyRequest, CreateReferralRequest, DecideReferralRequest, Decision, DecisionOutcome,
    GetCaseRequest, GetReferralRequest, GrantApproved, GrantVersion, ListPoliciesRequest,
    ListPoliciesResponse, ListReferralsRequest, ListReferralsResponse, MunicipalityPolicy, Plan,
    PlanKind, Recipient, Referral, ReferralState, ReferralSubmitted, ScheduleReferralRequest,
    SubmitReferralRequest, TargetGroup, UpdateReferralRequest, VisitationDecided,
};
use prost::Message as _;
use sqlx::PgConnection;
use tonic::Request;
use tonic_types::FieldViolation;

mod grants;
mod outcomes;

pub(crate) use outcomes::FollowUpOutcomes;

use super::ReferralApi;
use crate::domain::age::age_years;
use crate::domain::decision::{self, Approval, Decider};
use crate::domain::policy::Policy;
use crate::domain::submission::{self, Submission};
use crate::store::{CaseRow, MeetingRow, NewGrant, ReferralFilter, ReferralRow, Store, Tx};

const SCHEMA: &str = "referral";
const MAX_TEXT: usize = 4000;
const MAX_SHORT: usize = 200;

/// Fields of a referral the counsellor writes (UpdateReferral's mask).
const EDITABLE: [&str; 14] = [
    "recipient",
    "target_groups",
    "target_group_other",
    "needs",
    "requested_minutes_per_week",
    "purpose",
    "expected_duration_months",
    "legal_basis",
    "consent",
    "compulsory_condition",
    "plan",
    "age_justification",
    "hours_justification",
    "network_statement",
];

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, ApiError> {
    M::decode(bytes).map_err(ApiError::internal)
}

/// `municipalities/{m}/{outer}/{outer_id}/{inner}/{inner_id}`.
fn nested<'a>(
    name: &'a str,
    outer: &str,
    inner: &str,
    field: &str,
) -> Result<(MunicipalityCode, &'a str, &'a str), ApiError> {
    let wrong = || {
        ApiError::invalid(
            field,
            format!("must be `municipalities/{{code}}/{outer}/{{id}}/{inner}/{{id}}`"),
        )
    };
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["municipalities", code, o, outer_id, i, inner_id]
            if *o == outer && *i == inner && valid_id(outer_id) && valid_id(inner_id) =>
        {
            let municipality = MunicipalityCode::parse(code).ok_or_else(wrong)?;
            Ok((municipality, outer_id, inner_id))
        }
        _ => Err(wrong()),
    }
}

fn text_ok(value: &str, max: usize) -> bool {
    value.chars().count() <= max
}

fn rules_broken(what: &str, violations: Vec<RuleViolation>) -> ApiError {
    let summary: Vec<String> = violations
        .iter()
        .map(|v| format!("{} {}", v.rule, v.subject))
        .collect();
    ApiError::FailedPrecondition {
        reason: "RULES_NOT_MET",
        message: format!("{what}: {}", summary.join(", ")),
        violations,
    }
}

fn state_of(row: &ReferralRow) -> ReferralState {
    ReferralState::from_str_name(&format!("REFERRAL_STATE_{}", row.state))
        .unwrap_or(ReferralState::Unspecified)
}

fn state_column(state: ReferralState) -> &'static str {
    match state {
        ReferralState::Draft | ReferralState::Unspecified => "DRAFT",
        ReferralState::Submitted => "SUBMITTED",
        ReferralState::InCommittee => "IN_COMMITTEE",
        ReferralState::Approved => "APPROVED",
        ReferralState::Rejected => "REJECTED",
        ReferralState::Returned => "RETURNED",
    }
}

fn person_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/persons/{id}")
}
fn case_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/cases/{id}")
}
fn referral_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/referrals/{id}")
}
fn meeting_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/committeeMeetings/{id}")
}
fn grant_name(m: &str, id: &str) -> String {
    format!("municipalities/{m}/grants/{id}")
}

fn case_to_proto(row: CaseRow) -> Case {
    Case {
        name: case_name(&row.municipality, &row.id),
        case_system: row.case_system,
        external_id: row.external_id,
        kle_number: row.kle_number,
        person: person_name(&row.municipality, &row.person_id),
        counsellor: row.counsellor,
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.update_time.timestamp_micros()),
    }
}

fn referral_to_proto(row: &ReferralRow) -> Result<Referral, ApiError> {
    let mut referral: Referral = decode(&row.body)?;
    referral.name = referral_name(&row.municipality, &row.id);
    referral.case = case_name(&row.municipality, &row.case_id);
    referral.person = person_name(&row.municipality, &row.person_id);
    referral.state = state_of(row) as i32;
    referral.counsellor = row.counsellor.clone();
    referral.committee_meeting = row
        .committee_meeting
        .as_deref()
        .map(|m| meeting_name(&row.municipality, m))
        .unwrap_or_default();
    referral.submit_time = row.submit_time.map(kontakt_proto::timestamp);
    referral.create_time = Some(kontakt_proto::timestamp(row.create_time));
    referral.update_time = Some(kontakt_proto::timestamp(row.update_time));
    referral.etag = etag(row.revision);
    Ok(referral)
}

fn meeting_to_proto(row: MeetingRow, agenda: &[String]) -> CommitteeMeeting {
    CommitteeMeeting {
        name: meeting_name(&row.municipality, &row.id),
        committee: row.committee,
        meeting_date: Some(row.meeting_date.into()),
        state: if row.state == "HELD" {
            CommitteeMeetingState::Held
        } else {
            CommitteeMeetingState::Scheduled
        } as i32,
        referrals: agenda
            .iter()
            .map(|r| referral_name(&row.municipality, r))
            .collect(),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.update_time.timestamp_micros()),
    }
}

/// Input checks on a draft's fields (INVALID_ARGUMENT): shapes and ranges, not the rules,
/// which a draft may still break until it is submitted.
fn draft_field_errors(r: &Referral, prefix: &str) -> Vec<FieldViolation> {
    let mut wrong = Vec::new();
    let mut bad = |ok: bool, field: &str, what: &str| {
        if !ok {
            wrong.push(FieldViolation::new(format!("{prefix}{field}"), what));
        }
    };
    bad(
        Recipient::try_from(r.recipient).is_ok(),
        "recipient",
        "not a known recipient",
    );
    bad(
        r.target_groups
            .iter()
            .all(|t| TargetGroup::try_from(*t).is_ok_and(|t| t != TargetGroup::Unspecified)),
        "target_groups",
        "contains an unknown or unspecified target group",
    );
    bad(r.target_groups.len() <= 6, "target_groups", "at most 6");
    bad(
        (0..=10_080).contains(&r.requested_minutes_per_week),
        "requested_minutes_per_week",
        "must be 0 to 10080 minutes",
    );
    bad(
        (0..=120).contains(&r.expected_duration_months),
        "expected_duration_months",
        "must be 0 to 120 months",
    );
    for (field, value) in [
        ("target_group_other", &r.target_group_other),
        ("purpose", &r.purpose),
        ("age_justification", &r.age_justification),
        ("hours_justification", &r.hours_justification),
        ("network_statement", &r.network_statement),
    ] {
        bad(text_ok(value, MAX_TEXT), field, "at most 4000 characters");
    }
    bad(
        r.legal_basis.is_empty()
            || r.legal_basis
                .strip_prefix("legalBases/")
                .is_some_and(valid_id),
        "legal_basis",
        "must be `legalBases/{code}`",
    );
    if let Some(needs) = &r.needs {
        bad(
            text_ok(&needs.description, MAX_TEXT),
            "needs.description",
            "at most 4000 characters",
        );
        bad(
            needs.competences.len() <= 30
                && needs
                    .competences
                    .iter()
                    .all(|c| c.strip_prefix("competences/").is_some_and(valid_id)),
            "needs.competences",
            "at most 30 names of the form `competences/{code}`",
        );
    }
    if let Some(consent) = &r.consent {
        bad(
            consent
                .consent_date
                .as_ref()
                .is_none_or(|d| d.to_naive().is_some()),
            "consent.consent_date",
            "not a valid calendar date",
        );
        bad(
            text_ok(&consent.child_view, MAX_TEXT)
                && text_ok(&consent.no_consent_decision_reference, MAX_SHORT),
            "consent",
            "child_view at most 4000, no_consent_decision_reference at most 200 characters",
        );
    }
    if let Some(condition) = &r.compulsory_condition {
        bad(
            condition
                .end_date
                .as_ref()
                .is_none_or(|d| d.to_naive().is_some()),
            "compulsory_condition.end_date",
            "not a valid calendar date",
        );
        bad(
            text_ok(&condition.reference, MAX_SHORT),
            "compulsory_condition.reference",
            "at most 200 characters",
        );
    }
    wrong
}

/// Copies the masked fields of `from` onto `to`; names the first unknown path.
fn apply_mask(to: &mut Referral, from: Referral, paths: &[String]) -> Result<(), ApiError> {
    let all = paths.len() == 1 && paths[0] == "*";
    let chosen: Vec<&str> = if all {
        EDITABLE.to_vec()
    } else {
        paths.iter().map(String::as_str).collect()
    };
    if chosen.is_empty() {
        return Err(ApiError::invalid(
            "update_mask",
            "name the fields to change, or `*`",
        ));
    }
    for path in chosen {
        match path {
            "recipient" => to.recipient = from.recipient,
            "target_groups" => to.target_groups.clone_from(&from.target_groups),
            "target_group_other" => to.target_group_other.clone_from(&from.target_group_other),
            "needs" => to.needs.clone_from(&from.needs),
            "requested_minutes_per_week" => {
                to.requested_minutes_per_week = from.requested_minutes_per_week;
            }
            "purpose" => to.purpose.clone_from(&from.purpose),
            "expected_duration_months" => {
                to.expected_duration_months = from.expected_duration_months;
            }
            "legal_basis" => to.legal_basis.clone_from(&from.legal_basis),
            "consent" => to.consent.clone_from(&from.consent),
            "compulsory_condition" => to
                .compulsory_condition
                .clone_from(&from.compulsory_condition),
            "plan" => to.plan.clone_from(&from.plan),
            "age_justification" => to.age_justification.clone_from(&from.age_justification),
            "hours_justification" => to.hours_justification.clone_from(&from.hours_justification),
            "network_statement" => to.network_statement.clone_from(&from.network_statement),
            other => {
                return Err(ApiError::invalid(
                    "update_mask",
                    format!(
                        "`{other}` cannot be changed; editable: {}",
                        EDITABLE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Only what the counsellor writes is stored in the body; names, state and times come from
/// the row.
fn draft_body(r: &Referral) -> Vec<u8> {
    let mut body = Referral::default();
    let _ = apply_mask(&mut body, r.clone(), &["*".to_owned()]);
    body.encode_to_vec()
}

impl ReferralApi {
    /// Records a read of personal data; durable before the answer leaves.
    async fn read_logged(
        &self,
        caller: &Caller,
        method: &str,
        resource: &str,
        municipality: MunicipalityCode,
        person: &str,
    ) -> Result<(), ApiError> {
        self.reads_logged(
            caller,
            method,
            municipality,
            [(resource.to_owned(), person.to_owned())],
        )
        .await
    }

    /// Records reads of several resources, one row each as `(resource, person)`: a list names
    /// a child per item (R-DP-2).
    async fn reads_logged(
        &self,
        caller: &Caller,
        method: &str,
        municipality: MunicipalityCode,
        reads: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ApiError> {
        let entries = reads
            .into_iter()
            .map(|(resource, person)| {
                caller.entry(method, Action::Read, &resource, municipality, &person)
            })
            .collect();
        self.audit.record(entries).await
    }

    /// The policy in force on `day` for `municipality`, or a FAILED_PRECONDITION saying none is.
    async fn policy_on(
        &self,
        tx: &mut PgConnection,
        municipality: &str,
        day: NaiveDate,
    ) -> Result<Policy, ApiError> {
        policy_in_force(&self.store, tx, municipality, day).await
    }

    pub(super) async fn create_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<MunicipalityPolicy, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let municipality = scoped_parent(&principal, &request.parent)?;
        let mut policy = request
            .policy
            .ok_or_else(|| ApiError::invalid("policy", "the policy is required"))?;
        let parsed = Policy::parse(&policy).map_err(|wrong| {
            ApiError::InvalidArgument(
                wrong
                    .into_iter()
                    .map(|(f, d)| FieldViolation::new(f, d))
                    .collect(),
            )
        })?;
        policy.display_name = policy.display_name.trim().to_owned();
        policy.name.clear();
        policy.create_time = None;
        policy.update_time = None;
        policy.etag.clear();
        let id = format!("pol-{}", parsed.effective_from.format("%Y%m%d"));
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let row = self
            .store
            .insert_policy(
                &mut tx,
                &m,
                &id,
                parsed.effective_from,
                &policy.encode_to_vec(),
                &principal.subject,
            )
            .await?
            .ok_or_else(|| ApiError::AlreadyExists {
                resource: format!("municipalities/{m}/policies/{id}"),
            })?;
        tx.commit().await?;
        Ok(policy_to_proto(row, policy))
    }

    pub(super) async fn list_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<ListPoliciesResponse, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let municipality = scoped_parent(&principal, &request.parent)?;
        let page_size = pagination::page_size(request.page_size)?;
        let scope = format!("{}/policies", request.parent);
        let before = pagination::decode_token(&scope, &request.page_token)?
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| ApiError::invalid("page_token", "not a token this list issued"))
            })
            .transpose()?;
        let rows = self
            .store
            .list_policies(&municipality.to_string(), before, page_size + 1)
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |row| {
            row.effective_from.format("%Y-%m-%d")
        });
        let mut policies = Vec::with_capacity(rows.len());
        for row in rows {
            let body: MunicipalityPolicy = decode(&row.body)?;
            policies.push(policy_to_proto(row, body));
        }
        Ok(ListPoliciesResponse {
            policies,
            next_page_token,
        })
    }

    pub(super) async fn create_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Case, ApiError> {
        let caller = Caller::of(&request, "registering a case")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let municipality = scoped_parent(principal, &request.parent)?;
        let case = request
            .case
            .ok_or_else(|| ApiError::invalid("case", "the case is required"))?;
        let mut wrong = Vec::new();
        for (field, value) in [
            ("case.case_system", &case.case_system),
            ("case.external_id", &case.external_id),
        ] {
            if value.trim().is_empty() || !text_ok(value, 100) {
                wrong.push(FieldViolation::new(field, "1 to 100 characters"));
            }
        }
        if !matches!(case.kle_number.as_str(), "27.27.24" | "27.27.21") {
            wrong.push(FieldViolation::new(
                "case.kle_number",
                "27.27.24 (the child) or 27.27.21 (the family)",
            ));
        }
        let person = resource::parse_in_municipality(&case.person, "persons", "case.person");
        match &person {
            Ok((m, _)) if *m != municipality => wrong.push(FieldViolation::new(
                "case.person",
                "the person must belong to the case's municipality",
            )),
            Err(_) => wrong.push(FieldViolation::new(
                "case.person",
                "must be `municipalities/{code}/persons/{id}`",
            )),
            Ok(_) => {}
        }
        if !text_ok(&case.counsellor, MAX_SHORT) {
            wrong.push(FieldViolation::new(
                "case.counsellor",
                "at most 200 characters",
            ));
        }
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        let person_id = person.map(|(_, id)| id.to_owned())?;
        let m = municipality.to_string();
        if self.store.person_exists(&m, &person_id).await?.is_none() {
            return Err(ApiError::invalid(
                "case.person",
                "no such person in this municipality",
            ));
        }
        let counsellor = if case.counsellor.trim().is_empty() {
            principal.subject.clone()
        } else {
            case.counsellor.trim().to_owned()
        };
        let row = CaseRow {
            municipality: m.clone(),
            id: new_id("c"),
            case_system: case.case_system.trim().to_owned(),
            external_id: case.external_id.trim().to_owned(),
            kle_number: case.kle_number,
            person_id: person_id.clone(),
            counsellor,
            create_time: chrono::Utc::now(),
            update_time: chrono::Utc::now(),
        };
        let mut tx = self.store.begin().await?;
        let (stored, created) = self.store.insert_case(&mut tx, &row).await?;
        // A retry of the same registration gets the same case; the same reference for another
        // child is a conflict, not a retry.
        if !created && stored.person_id != person_id {
            return Err(ApiError::AlreadyExists {
                resource: case_name(&m, &stored.id),
            });
        }
        let name = case_name(&m, &stored.id);
        let person = person_name(&m, &stored.person_id);
        caller
            .wrote(
                &mut tx,
                "CreateCase",
                Action::Create,
                &name,
                municipality,
                &person,
            )
            .await?;
        tx.commit().await?;
        Ok(case_to_proto(stored))
    }

    pub(super) async fn get_case(
        &self,
        request: Request<GetCaseRequest>,
    ) -> Result<Case, ApiError> {
        let caller = Caller::of(&request, "case work")?;
        let principal = &caller.principal;
        let name = request.into_inner().name;
        let (municipality, id) = scoped(principal, &name, "cases", "name")?;
        let row = self
            .store
            .get_case(&municipality.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        let person = person_name(&row.municipality, &row.person_id);
        self.read_logged(&caller, "GetCase", &name, municipality, &person)
            .await?;
        Ok(case_to_proto(row))
    }

    pub(super) async fn create_plan(
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
        let person = person_name(&m, &case.person_id);
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

    pub(super) async fn create_referral(
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
            create_time: chrono::Utc::now(),
            update_time: chrono::Utc::now(),
        };
        let mut tx = self.store.begin().await?;
        let (stored, created) = match self.store.insert_referral(&mut tx, &row).await? {
            Ok(done) => done,
            Err(open) => {
                return Err(ApiError::AlreadyExists {
                    resource: referral_name(&m, &open),
                });
            }
        };
        if created {
            let name = referral_name(&m, &stored.id);
            let person = person_name(&m, &stored.person_id);
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

    pub(super) async fn get_referral(
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
        let person = person_name(&row.municipality, &row.person_id);
        self.read_logged(&caller, "GetReferral", &name, municipality, &person)
            .await?;
        referral_to_proto(&row)
    }

    pub(super) async fn list_referrals(
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
        let after = pagination::decode_token(&scope, &request.page_token)?
            .map(|key| pagination::parse_time_key(&key))
            .transpose()?;
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
            .map(|r| (referral_name(&m, &r.id), person_name(&m, &r.person_id)));
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

    pub(super) async fn update_referral(
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
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let mut row = self
            .store
            .lock_referral(&mut tx, &m, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        check_etag(&given.etag, row.revision)?;
        if !decision::may_edit(state_of(&row)) {
            return Err(ApiError::FailedPrecondition {
                reason: "NOT_EDITABLE",
                message: "only a draft or returned referral can be edited".into(),
                violations: Vec::new(),
            });
        }
        let mut body: Referral = decode(&row.body)?;
        apply_mask(&mut body, given, &paths)?;
        let wrong = draft_field_errors(&body, "referral.");
        if !wrong.is_empty() {
            return Err(ApiError::InvalidArgument(wrong));
        }
        check_plan_belongs(&body.plan, &m, &row.case_id)?;
        row.body = draft_body(&body);
        let saved = self.store.save_referral(&mut tx, &row, false).await?;
        let person = person_name(&m, &saved.person_id);
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

    pub(super) async fn create_assessment(
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
            return Err(ApiError::FailedPrecondition {
                reason: "NOT_EDITABLE",
                message: "assessments are added to a draft or returned referral".into(),
                violations: Vec::new(),
            });
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
        let person = person_name(&m, &referral.person_id);
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

    pub(super) async fn submit_referral(
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
            return Err(ApiError::FailedPrecondition {
                reason: "NOT_SUBMITTABLE",
                message: "only a draft or returned referral can be submitted".into(),
                violations: Vec::new(),
            });
        }
        let policy = self.policy_on(&mut tx, &m, today).await?;
        let referral: Referral = decode(&row.body)?;
        let birth_date = self.store.birth_date(&mut tx, &m, &row.person_id).await?;
        let assessments: Vec<Assessment> = self
            .store
            .assessments(&mut tx, &m, id)
            .await?
            .iter()
            .map(|b| decode(b))
            .collect::<Result<_, _>>()?;
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
            let name = referral_name(&m, id);
            let person = person_name(&m, &row.person_id);
            self.read_logged(&caller, "SubmitReferral", &name, municipality, &person)
                .await?;
            if !violations.is_empty() {
                return Err(rules_broken(
                    "the referral cannot be submitted yet",
                    violations,
                ));
            }
            return referral_to_proto(&row);
        }
        if !violations.is_empty() {
            return Err(rules_broken(
                "the referral cannot be submitted yet",
                violations,
            ));
        }
        row.state = state_column(ReferralState::Submitted).into();
        let saved = self.store.save_referral(&mut tx, &row, true).await?;
        let name = referral_name(&m, id);
        let event = ReferralSubmitted {
            referral: name.clone(),
            case: case_name(&m, &saved.case_id),
            person: person_name(&m, &saved.person_id),
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
        let person = person_name(&m, &saved.person_id);
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

    pub(super) async fn create_committee_meeting(
        &self,
        request: Request<CreateCommitteeMeetingRequest>,
    ) -> Result<CommitteeMeeting, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let municipality = scoped_parent(&principal, &request.parent)?;
        let meeting = request
            .committee_meeting
            .ok_or_else(|| ApiError::invalid("committee_meeting", "the meeting is required"))?;
        let committee = meeting.committee.trim();
        if committee.is_empty() || !text_ok(committee, MAX_SHORT) {
            return Err(ApiError::invalid(
                "committee_meeting.committee",
                "1 to 200 characters, e.g. Visitationsudvalget til Ishøjgård",
            ));
        }
        let date = day(
            meeting.meeting_date.as_ref(),
            "committee_meeting.meeting_date",
        )?
        .ok_or_else(|| {
            ApiError::invalid("committee_meeting.meeting_date", "the date is required")
        })?;
        let mut tx = self.store.begin().await?;
        let row = self
            .store
            .insert_meeting(
                &mut tx,
                &municipality.to_string(),
                &new_id("cm"),
                committee,
                date,
            )
            .await?;
        tx.commit().await?;
        Ok(meeting_to_proto(row, &[]))
    }

    pub(super) async fn schedule_referral(
        &self,
        request: Request<ScheduleReferralRequest>,
    ) -> Result<CommitteeMeeting, ApiError> {
        let caller = Caller::of(&request, "putting a referral on a committee meeting")?;
        let principal = &caller.principal;
        let request = request.into_inner();
        let (municipality, meeting_id) = scoped(
            principal,
            &request.committee_meeting,
            "committeeMeetings",
            "committee_meeting",
        )?;
        let (referral_municipality, referral_id) =
            scoped(principal, &request.referral, "referrals", "referral")?;
        if referral_municipality != municipality {
            return Err(ApiError::invalid(
                "referral",
                "the referral and the meeting must be in the same municipality",
            ));
        }
        let m = municipality.to_string();
        let mut tx = self.store.begin().await?;
        let meeting = self
            .store
            .lock_meeting(&mut tx, &m, meeting_id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.committee_meeting))?;
        if meeting.state != "SCHEDULED" {
            return Err(ApiError::FailedPrecondition {
                reason: "MEETING_HELD",
                message: "the meeting has been held".into(),
                violations: Vec::new(),
            });
        }
        let mut referral = self
            .store
            .lock_referral(&mut tx, &m, referral_id)
            .await?
            .ok_or_else(|| ApiError::not_found(&request.referral))?;
        let policy = self.policy_on(&mut tx, &m, self.clock.today()).await?;
        decision::may_schedule(state_of(&referral), &policy)
            .map_err(|v| rules_broken("the referral cannot go on the agenda", vec![v]))?;
        referral.state = state_column(ReferralState::InCommittee).into();
        referral.committee_meeting = Some(meeting_id.to_owned());
        let saved = self.store.save_referral(&mut tx, &referral, false).await?;
        let person = person_name(&m, &saved.person_id);
        caller
            .wrote(
                &mut tx,
                "ScheduleReferral",
                Action::Update,
                &request.referral,
                municipality,
                &person,
            )
            .await?;
        let agenda = self.store.agenda(&mut tx, &m, meeting_id).await?;
        tx.commit().await?;
        Ok(meeting_to_proto(meeting, &agenda))
    }

    pub(super) async fn decide_referral(
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
            .map_err(|v| rules_broken("the referral cannot be decided", vec![v]))?;
        let referral: Referral = decode(&row.body)?;
        let birth_date = self.store.birth_date(&mut tx, &m, &row.person_id).await?;
        let justification = if request.justification.trim().is_empty() {
            referral.hours_justification.clone()
        } else {
            request.justification.clone()
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
                under_age: policy.min_age_years.is_some_and(|min| age < min),
            });
            if !violations.is_empty() {
                return Err(rules_broken("the approval cannot be recorded", violations));
            }
        }
        let decision_id = new_id("d");
        let name = referral_name(&m, id);
        let decision_name = format!("{name}/decisions/{decision_id}");
        let grant_id = new_id("g");
        let mut decision = Decision {
            name: decision_name.clone(),
            outcome: outcome as i32,
            approval_level: level as i32,
            decider: principal.subject.clone(),
            decision_date: Some(today.into()),
            committee_meeting: row
                .committee_meeting
                .as_deref()
                .map(|c| meeting_name(&m, c))
                .unwrap_or_default(),
            reason: request.reason.trim().to_owned(),
            review_date: review.map(Into::into),
            ..Decision::default()
        };
        if outcome == DecisionOutcome::Approve {
            decision.minutes_per_week = request.minutes_per_week;
            decision.start_date = start.map(Into::into);
            decision.expected_end_date = expected_end.map(Into::into);
            decision.grant = grant_name(&m, &grant_id);
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
            decision_date: Some(today.into()),
            grant: decision.grant.clone(),
        };
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(&decided, Some(m.clone()), &name),
        )
        .await?;
        let person = person_name(&m, &row.person_id);
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
            let grant = grant_name(&m, &grant_id);
            let approved = GrantApproved {
                grant: grant.clone(),
                version: format!("{grant}/versions/v1"),
                referral: name.clone(),
                case: case_name(&m, &row.case_id),
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
                follow_up_interval_months: policy
                    .follow_up_interval_months
                    .and_then(|v| i32::try_from(v).ok())
                    .unwrap_or(0),
                compulsory_until: compulsory_until.map(Into::into),
                review_date: review.map(Into::into),
                follow_up_coordinator_required: policy.follow_up_coordinator_required,
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

fn policy_to_proto(
    row: crate::store::PolicyRow,
    mut body: MunicipalityPolicy,
) -> MunicipalityPolicy {
    body.name = format!("municipalities/{}/policies/{}", row.municipality, row.id);
    body.create_time = Some(kontakt_proto::timestamp(row.create_time));
    body.update_time = body.create_time;
    body.etag = format!("\"{}\"", row.create_time.timestamp_micros());
    body
}

/// A referral's plan must be one of its own case's plans.
fn check_plan_belongs(plan: &str, municipality: &str, case_id: &str) -> Result<(), ApiError> {
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

/// The municipality's service standard in force on `day` (the latest version from on or before
/// it); FAILED_PRECONDITION when it has none.
pub(crate) async fn policy_in_force(
    store: &Store,
    tx: &mut PgConnection,
    municipality: &str,
    day: NaiveDate,
) -> Result<Policy, ApiError> {
    let row = store
            .policy_on(tx, municipality, day)
            .await?
            .ok_or_else(|| ApiError::FailedPrecondition {
                reason: "NO_POLICY",
                message: format!(
                    "municipality {municipality} has no service standard in force on {day}; an administrator adds one with CreatePolicy"
                ),
                violations: Vec::new(),
            })?;
    let proto: MunicipalityPolicy = decode(&row.body)?;
    Policy::parse(&proto).map_err(|wrong| {
        ApiError::internal(std::io::Error::other(format!(
            "stored policy {} is invalid: {wrong:?}",
            row.id
        )))
    })
}
