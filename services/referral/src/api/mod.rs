//! The gRPC surface: proto <-> rows and authorisation; the rules live in `domain`, the SQL in
//! `store`. One file per aggregate: `persons`, `policies`, `cases`, `assessments` (and plans),
//! `referrals` (their input checked in `referral_fields`), `committee`, `decisions`, `grants`,
//! `grant_changes`, `imports` (arrangements from the old system); `common` holds what they
//! share, `outcomes` what a follow-up's outcome does to a grant. Here: the service, whose every method answers what the aggregate's inherent
//! method (a different name) returns, and the legal-basis catalogue.

mod assessments;
mod cases;
mod committee;
mod common;
mod decisions;
mod grant_changes;
mod grants;
mod imports;
mod persons;
mod policies;
mod referral_fields;
mod referrals;
mod statistics;

use std::sync::Arc;

use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::cpr_vault::CprVault;
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::referral::v1::*;
#[allow(unused_imports)]
use kontakt_proto::referral::v1::{
    CreatePersonRequest, GetLegalBasisRequest, GetPersonRequest, Law, LegalBasis,
    ListLegalBasesRequest, ListLegalBasesResponse, LookupPersonRequest, Person,
    referral_service_server::ReferralService,
};
use tonic::{Request, Response, Status};

use crate::store::{LegalBasisRow, Store};

const LEGAL_BASES: &str = "legalBases";

pub struct ReferralApi {
    store: Store,
    clock: SharedClock,
    vault: Arc<CprVault>,
    audit: AuditLog,
}

impl ReferralApi {
    pub fn new(store: Store, clock: SharedClock, vault: Arc<CprVault>, audit: AuditLog) -> Self {
        Self {
            store,
            clock,
            vault,
            audit,
        }
    }
}

#[tonic::async_trait]
impl ReferralService for ReferralApi {
    async fn list_legal_bases(
        &self,
        request: Request<ListLegalBasesRequest>,
    ) -> Result<Response<ListLegalBasesResponse>, Status> {
        let request = request.into_inner();
        let page_size = pagination::page_size(request.page_size)?;
        // The token is only valid for the same filter it was issued under.
        let scope = format!(
            "{LEGAL_BASES}?include_repealed={}",
            request.include_repealed
        );
        let after = pagination::decode_token(&scope, &request.page_token)?;
        let rows = self
            .store
            .list_legal_bases(
                after.as_deref(),
                page_size + 1,
                request.include_repealed,
                self.clock.today(),
            )
            .await
            .map_err(ApiError::from)?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, &scope, |r| r.code.clone());
        Ok(Response::new(ListLegalBasesResponse {
            legal_bases: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn create_person(
        &self,
        request: Request<CreatePersonRequest>,
    ) -> Result<Response<Person>, Status> {
        Ok(Response::new(self.register_person(request).await?))
    }

    async fn get_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Response<Person>, Status> {
        Ok(Response::new(self.read_person(request).await?))
    }

    async fn lookup_person(
        &self,
        request: Request<LookupPersonRequest>,
    ) -> Result<Response<Person>, Status> {
        Ok(Response::new(self.find_person(request).await?))
    }

    async fn create_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<Response<MunicipalityPolicy>, Status> {
        Ok(Response::new(self.add_policy(request).await?))
    }

    async fn list_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<Response<ListPoliciesResponse>, Status> {
        Ok(Response::new(self.read_policies(request).await?))
    }

    async fn create_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        Ok(Response::new(self.register_case(request).await?))
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        Ok(Response::new(self.read_case(request).await?))
    }

    async fn create_plan(
        &self,
        request: Request<CreatePlanRequest>,
    ) -> Result<Response<Plan>, Status> {
        Ok(Response::new(self.record_plan(request).await?))
    }

    async fn create_referral(
        &self,
        request: Request<CreateReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(self.draft_referral(request).await?))
    }

    async fn get_referral(
        &self,
        request: Request<GetReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(self.read_referral(request).await?))
    }

    async fn update_referral(
        &self,
        request: Request<UpdateReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(self.edit_referral(request).await?))
    }

    async fn create_assessment(
        &self,
        request: Request<CreateAssessmentRequest>,
    ) -> Result<Response<Assessment>, Status> {
        Ok(Response::new(self.record_assessment(request).await?))
    }

    async fn submit_referral(
        &self,
        request: Request<SubmitReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(self.submit(request).await?))
    }

    async fn create_committee_meeting(
        &self,
        request: Request<CreateCommitteeMeetingRequest>,
    ) -> Result<Response<CommitteeMeeting>, Status> {
        Ok(Response::new(self.plan_meeting(request).await?))
    }

    async fn schedule_referral(
        &self,
        request: Request<ScheduleReferralRequest>,
    ) -> Result<Response<CommitteeMeeting>, Status> {
        Ok(Response::new(self.put_on_agenda(request).await?))
    }

    async fn decide_referral(
        &self,
        request: Request<DecideReferralRequest>,
    ) -> Result<Response<Decision>, Status> {
        Ok(Response::new(self.decide(request).await?))
    }

    async fn get_grant(
        &self,
        request: Request<GetGrantRequest>,
    ) -> Result<Response<Grant>, Status> {
        Ok(Response::new(self.read_grant(request).await?))
    }

    async fn list_referrals(
        &self,
        request: Request<ListReferralsRequest>,
    ) -> Result<Response<ListReferralsResponse>, Status> {
        Ok(Response::new(self.read_referrals(request).await?))
    }

    async fn list_grants(
        &self,
        request: Request<ListGrantsRequest>,
    ) -> Result<Response<ListGrantsResponse>, Status> {
        Ok(Response::new(self.read_grants(request).await?))
    }

    async fn list_grant_versions(
        &self,
        request: Request<ListGrantVersionsRequest>,
    ) -> Result<Response<ListGrantVersionsResponse>, Status> {
        Ok(Response::new(self.read_versions(request).await?))
    }

    async fn change_grant(
        &self,
        request: Request<ChangeGrantRequest>,
    ) -> Result<Response<Grant>, Status> {
        Ok(Response::new(self.amend_grant(request).await?))
    }

    async fn end_grant(
        &self,
        request: Request<EndGrantRequest>,
    ) -> Result<Response<Grant>, Status> {
        Ok(Response::new(self.terminate_grant(request).await?))
    }

    async fn update_policy(
        &self,
        request: Request<UpdatePolicyRequest>,
    ) -> Result<Response<MunicipalityPolicy>, Status> {
        Ok(Response::new(self.correct_policy(request).await?))
    }

    async fn import_arrangement(
        &self,
        request: Request<ImportArrangementRequest>,
    ) -> Result<Response<ImportArrangementResponse>, Status> {
        Ok(Response::new(self.bring_over(request).await?))
    }

    type ExportPreventiveMeasuresStream = statistics::ExportStream;

    async fn export_preventive_measures(
        &self,
        request: Request<ExportPreventiveMeasuresRequest>,
    ) -> Result<Response<Self::ExportPreventiveMeasuresStream>, Status> {
        Ok(Response::new(self.statistics_export(request).await?))
    }

    async fn get_legal_basis(
        &self,
        request: Request<GetLegalBasisRequest>,
    ) -> Result<Response<LegalBasis>, Status> {
        let name = request.into_inner().name;
        let code = resource::parse_top_level(&name, LEGAL_BASES, "name")?;
        let row = self
            .store
            .get_legal_basis(code)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found(&name))?;
        Ok(Response::new(to_proto(row)))
    }
}

fn to_proto(row: LegalBasisRow) -> LegalBasis {
    let law = match row.law.as_str() {
        "BARNETS_LOV" => Law::BarnetsLov,
        "SERVICELOVEN" => Law::Serviceloven,
        "STRAFFELOVEN" => Law::Straffeloven,
        "RETSPLEJELOVEN" => Law::Retsplejeloven,
        "UNGDOMSKRIMINALITETSLOVEN" => Law::Ungdomskriminalitetsloven,
        _ => Law::Unspecified,
    };
    LegalBasis {
        name: format!("{LEGAL_BASES}/{}", row.code),
        code: row.code,
        law: law.into(),
        citation: row.citation,
        title: row.title,
        description: row.description,
        valid_from: Some(row.valid_from.into()),
        valid_until: row.valid_until.map(Into::into),
        replaced_by: row
            .replaced_by
            .map(|code| format!("{LEGAL_BASES}/{code}"))
            .unwrap_or_default(),
        min_age_years: row.min_age_years,
        max_age_years: row.max_age_years,
        without_consent: row.without_consent,
        compulsory: row.compulsory,
    }
}
