//! The gRPC surface: proto <-> rows, and nothing else. Persons and the catalogue here; the
//! referral workflow in `workflow`.

mod workflow;

pub(crate) use workflow::FollowUpOutcomes;

use std::sync::Arc;

use kontakt_platform::audit::{self, Action, AuditLog, Entry};
use kontakt_platform::auth::{self, MunicipalityCode, Principal};
use kontakt_platform::clock::SharedClock;
use kontakt_platform::cpr::Cpr;
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

use crate::store::{Created, LegalBasisRow, NewPerson, PersonRow, Store};

const LEGAL_BASES: &str = "legalBases";
const PERSONS: &str = "persons";
/// Longest display name accepted.
const MAX_DISPLAY_NAME: usize = 200;

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

/// The municipality in `parent`, if the caller acts for it. Outside the caller's scope the
/// answer is NOT_FOUND, as for a resource that does not exist, so existence does not leak.
fn scoped_municipality(principal: &Principal, parent: &str) -> Result<MunicipalityCode, ApiError> {
    let municipality = resource::parse_municipality(parent, "parent")?;
    if principal.serves(municipality) {
        Ok(municipality)
    } else {
        Err(ApiError::not_found(parent))
    }
}

fn parse_cpr(text: &str) -> Result<Cpr, ApiError> {
    // The error says what is wrong with the format, never which digits were sent.
    Cpr::parse(text).map_err(|e| ApiError::invalid("cpr", e.to_string()))
}

fn person_name(municipality: &str, id: &str) -> String {
    format!("municipalities/{municipality}/{PERSONS}/{id}")
}

fn person_to_proto(row: PersonRow) -> Person {
    Person {
        name: person_name(&row.municipality, &row.id),
        display_name: row.display_name,
        birth_date: Some(row.birth_date.into()),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.update_time.timestamp_micros()),
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
        Ok(Response::new(
            ReferralApi::create_person(self, request).await?,
        ))
    }

    async fn get_person(
        &self,
        request: Request<GetPersonRequest>,
    ) -> Result<Response<Person>, Status> {
        Ok(Response::new(ReferralApi::get_person(self, request).await?))
    }

    async fn lookup_person(
        &self,
        request: Request<LookupPersonRequest>,
    ) -> Result<Response<Person>, Status> {
        Ok(Response::new(
            ReferralApi::lookup_person(self, request).await?,
        ))
    }

    async fn create_policy(
        &self,
        request: Request<CreatePolicyRequest>,
    ) -> Result<Response<MunicipalityPolicy>, Status> {
        Ok(Response::new(
            ReferralApi::create_policy(self, request).await?,
        ))
    }

    async fn list_policies(
        &self,
        request: Request<ListPoliciesRequest>,
    ) -> Result<Response<ListPoliciesResponse>, Status> {
        Ok(Response::new(
            ReferralApi::list_policies(self, request).await?,
        ))
    }

    async fn create_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        Ok(Response::new(
            ReferralApi::create_case(self, request).await?,
        ))
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        Ok(Response::new(ReferralApi::get_case(self, request).await?))
    }

    async fn create_plan(
        &self,
        request: Request<CreatePlanRequest>,
    ) -> Result<Response<Plan>, Status> {
        Ok(Response::new(
            ReferralApi::create_plan(self, request).await?,
        ))
    }

    async fn create_referral(
        &self,
        request: Request<CreateReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(
            ReferralApi::create_referral(self, request).await?,
        ))
    }

    async fn get_referral(
        &self,
        request: Request<GetReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(
            ReferralApi::get_referral(self, request).await?,
        ))
    }

    async fn update_referral(
        &self,
        request: Request<UpdateReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(
            ReferralApi::update_referral(self, request).await?,
        ))
    }

    async fn create_assessment(
        &self,
        request: Request<CreateAssessmentRequest>,
    ) -> Result<Response<Assessment>, Status> {
        Ok(Response::new(
            ReferralApi::create_assessment(self, request).await?,
        ))
    }

    async fn submit_referral(
        &self,
        request: Request<SubmitReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        Ok(Response::new(
            ReferralApi::submit_referral(self, request).await?,
        ))
    }

    async fn create_committee_meeting(
        &self,
        request: Request<CreateCommitteeMeetingRequest>,
    ) -> Result<Response<CommitteeMeeting>, Status> {
        Ok(Response::new(
            ReferralApi::create_committee_meeting(self, request).await?,
        ))
    }

    async fn schedule_referral(
        &self,
        request: Request<ScheduleReferralRequest>,
    ) -> Result<Response<CommitteeMeeting>, Status> {
        Ok(Response::new(
            ReferralApi::schedule_referral(self, request).await?,
        ))
    }

    async fn decide_referral(
        &self,
        request: Request<DecideReferralRequest>,
    ) -> Result<Response<Decision>, Status> {
        Ok(Response::new(
            ReferralApi::decide_referral(self, request).await?,
        ))
    }

    async fn get_grant(
        &self,
        request: Request<GetGrantRequest>,
    ) -> Result<Response<Grant>, Status> {
        Ok(Response::new(ReferralApi::get_grant(self, request).await?))
    }

    async fn list_referrals(
        &self,
        request: Request<ListReferralsRequest>,
    ) -> Result<Response<ListReferralsResponse>, Status> {
        Ok(Response::new(
            ReferralApi::list_referrals(self, request).await?,
        ))
    }

    async fn list_grants(
        &self,
        request: Request<ListGrantsRequest>,
    ) -> Result<Response<ListGrantsResponse>, Status> {
        Ok(Response::new(
            ReferralApi::list_grants(self, request).await?,
        ))
    }

    async fn list_grant_versions(
        &self,
        request: Request<ListGrantVersionsRequest>,
    ) -> Result<Response<ListGrantVersionsResponse>, Status> {
        Ok(Response::new(
            ReferralApi::list_grant_versions(self, request).await?,
        ))
    }

    async fn change_grant(
        &self,
        request: Request<ChangeGrantRequest>,
    ) -> Result<Response<Grant>, Status> {
        Ok(Response::new(
            ReferralApi::change_grant(self, request).await?,
        ))
    }

    async fn end_grant(
        &self,
        request: Request<EndGrantRequest>,
    ) -> Result<Response<Grant>, Status> {
        Ok(Response::new(ReferralApi::end_grant(self, request).await?))
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

impl ReferralApi {
    async fn create_person(
        &self,
        request: Request<CreatePersonRequest>,
    ) -> Result<Person, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let purpose = audit::purpose(&request, "registering a child or young person")?;
        let request = request.into_inner();
        let municipality = scoped_municipality(&principal, &request.parent)?;
        let cpr = parse_cpr(&request.cpr)?;
        let display_name = request.display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME {
            return Err(ApiError::invalid(
                "display_name",
                format!("must be 1 to {MAX_DISPLAY_NAME} characters"),
            ));
        }
        let id = format!("p-{}", uuid::Uuid::new_v4().simple());
        let name = person_name(&municipality.to_string(), &id);
        // The ciphertext is bound to the person's name: copied onto another row it does not open.
        let sealed = self.vault.seal(&cpr, &name).map_err(ApiError::internal)?;
        let index = self.vault.blind_index(&cpr);
        let audit = [
            Entry::new(&principal, "CreatePerson", Action::Create, &name, purpose)
                .municipality(municipality)
                .person(&name),
        ];
        let created = self
            .store
            .create_person(
                NewPerson {
                    id: &id,
                    municipality: &municipality.to_string(),
                    display_name,
                    birth_date: cpr.birth_date(),
                    cpr_key_id: &sealed.key_id,
                    cpr_ciphertext: &sealed.ciphertext,
                    cpr_index: &index,
                },
                &audit,
            )
            .await?;
        match created {
            Created::Person(row) => Ok(person_to_proto(row)),
            Created::Exists(existing) => Err(ApiError::AlreadyExists {
                resource: person_name(&municipality.to_string(), &existing),
            }),
        }
    }

    async fn get_person(&self, request: Request<GetPersonRequest>) -> Result<Person, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let purpose = audit::purpose(&request, "case work")?;
        let name = request.into_inner().name;
        let (municipality, id) = resource::parse_in_municipality(&name, PERSONS, "name")?;
        if !principal.serves(municipality) {
            return Err(ApiError::not_found(&name));
        }
        let row = self
            .store
            .get_person(&municipality.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(&name))?;
        // Durable before the answer leaves: no unlogged read of personal data.
        self.audit
            .record(vec![
                Entry::new(&principal, "GetPerson", Action::Read, &name, purpose)
                    .municipality(municipality)
                    .person(&name),
            ])
            .await?;
        Ok(person_to_proto(row))
    }

    async fn lookup_person(
        &self,
        request: Request<LookupPersonRequest>,
    ) -> Result<Person, ApiError> {
        let principal = auth::caller(&request)?.clone();
        let purpose = audit::purpose(&request, "finding a child or young person by CPR number")?;
        let request = request.into_inner();
        let municipality = scoped_municipality(&principal, &request.parent)?;
        let cpr = parse_cpr(&request.cpr)?;
        let found = self
            .store
            .find_person_by_cpr(&municipality.to_string(), &self.vault.blind_index(&cpr))
            .await?;
        let person = found
            .as_ref()
            .map(|row| person_name(&row.municipality, &row.id));
        let mut entry = Entry::new(
            &principal,
            "LookupPerson",
            Action::Search,
            person
                .clone()
                .unwrap_or_else(|| format!("{}/{PERSONS}", request.parent)),
            purpose,
        )
        .municipality(municipality);
        if let Some(person) = &person {
            entry = entry.person(person);
        }
        // Searches are logged whether or not they find anyone.
        self.audit.record(vec![entry]).await?;
        found
            .map(person_to_proto)
            .ok_or_else(|| ApiError::not_found(format!("{}/{PERSONS}", request.parent)))
    }
}

fn to_proto(row: LegalBasisRow) -> LegalBasis {
    let law = match row.law.as_str() {
        "BARNETS_LOV" => Law::BarnetsLov,
        "SERVICELOVEN" => Law::Serviceloven,
        "STRAFFELOVEN" => Law::Straffeloven,
        "RETSPLEJELOVEN" => Law::Retsplejeloven,
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
    }
}
