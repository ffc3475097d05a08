//! The gRPC surface: proto <-> rows, authorisation and the steps of each method; the rules live
//! in `domain`, what the grant events do as well in `crate::assignments`. One file per aggregate:
//! `requests`, `proposals` (ranking and unmet demand), `assignments`, `procurements`, `people`
//! (contact persons, their input checked in `person_values`), `providers` (and their framework
//! contracts), `competences`; `fields` checks input they share. Here: the service, whose every
//! method answers what the aggregate's inherent method (a different name) returns.

mod assignments;
mod competences;
mod fields;
mod people;
mod person_values;
mod procurements;
mod proposals;
mod providers;
mod requests;

use kontakt_platform::ApiError;
use kontakt_platform::audit::AuditLog;
use kontakt_platform::auth::{MunicipalityCode, Principal, Role};
use kontakt_platform::clock::SharedClock;
use kontakt_platform::error::answer;
use kontakt_platform::resource::scoped;
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1::matching_service_server::MatchingService;
use kontakt_proto::matching::v1::*;
use tonic::{Request, Response, Status};

use crate::store::{OfRequest, RequestRow, Store};

const COMPETENCES: &str = "competences";
/// The longest week anyone can be booked for.
use kontakt_platform::units::MINUTES_IN_A_WEEK as MAX_WEEK_MINUTES;
/// The longest note a coordinator writes.
const MAX_NOTE: usize = 4000;

type Tx = kontakt_platform::db::CallTx;

pub struct MatchingApi {
    store: Store,
    clock: SharedClock,
    audit: AuditLog,
    /// Proposals rank a whole candidate pool (thousands of people in a large municipality) in
    /// memory: this many at a time per CPU keeps a burst of them from multiplying the process's
    /// memory, without costing throughput (they are CPU-bound either way).
    proposals: std::sync::Arc<tokio::sync::Semaphore>,
}

fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    kontakt_proto::timestamp(time)
}

/// Competence codes as `competences/{code}` names.
fn competence_names(codes: &[String]) -> Vec<String> {
    codes.iter().map(|c| format!("{COMPETENCES}/{c}")).collect()
}

/// For a contact person's own token: the one person whose records they see. `None` for anyone
/// who also holds another role.
fn only_own(principal: &Principal) -> Option<&str> {
    let others = principal.roles.iter().any(|r| *r != Role::ContactPerson);
    principal.contact_person.as_deref().filter(|_| !others)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn money(ore: Option<i64>) -> Option<Money> {
    ore.map(|ore| Money { ore })
}

fn needs_of(row: &RequestRow) -> MatchingNeeds {
    MatchingNeeds {
        competences: competence_names(&row.competences),
        preferred_gender: row.preferred_gender,
        age_years: row.age_years,
        description: row.description.clone(),
    }
}

impl MatchingApi {
    pub fn new(store: Store, clock: SharedClock, audit: AuditLog) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            clock,
            audit,
            proposals: std::sync::Arc::new(tokio::sync::Semaphore::new(cpus.max(2))),
        }
    }

    /// The request, locked, in the caller's municipality.
    async fn locked_request(
        &self,
        tx: &mut Tx,
        m: MunicipalityCode,
        id: &str,
        name: &str,
    ) -> Result<RequestRow, ApiError> {
        self.store
            .lock_request(tx, &m.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    /// An assignment or a procurement (`collection`) and its request, both locked in that
    /// order (the order every writer takes, so writers never deadlock).
    async fn locked_with_request<R: OfRequest>(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        collection: &str,
        name: &str,
    ) -> Result<(RequestRow, R), ApiError> {
        let (m, id) = scoped(principal, name, collection, "name")?;
        let code = m.to_string();
        let unlocked = self
            .store
            .get_by_id::<R>(tx, &code, id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let req = self.locked_request(tx, m, unlocked.request(), name).await?;
        let row = self
            .store
            .get_by_id::<R>(tx, &code, id, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        Ok((req, row))
    }
}

#[tonic::async_trait]
impl MatchingService for MatchingApi {
    async fn create_contact_person(
        &self,
        request: Request<CreateContactPersonRequest>,
    ) -> Result<Response<ContactPerson>, Status> {
        answer(self.add_person(request).await)
    }

    async fn get_contact_person(
        &self,
        request: Request<GetContactPersonRequest>,
    ) -> Result<Response<ContactPerson>, Status> {
        answer(self.person(request).await)
    }

    async fn list_contact_persons(
        &self,
        request: Request<ListContactPersonsRequest>,
    ) -> Result<Response<ListContactPersonsResponse>, Status> {
        answer(self.persons(request).await)
    }

    async fn update_contact_person(
        &self,
        request: Request<UpdateContactPersonRequest>,
    ) -> Result<Response<ContactPerson>, Status> {
        answer(self.update_person(request).await)
    }

    async fn create_provider(
        &self,
        request: Request<CreateProviderRequest>,
    ) -> Result<Response<Provider>, Status> {
        answer(self.add_provider(request).await)
    }

    async fn get_provider(
        &self,
        request: Request<GetProviderRequest>,
    ) -> Result<Response<Provider>, Status> {
        answer(self.provider(request).await)
    }

    async fn list_providers(
        &self,
        request: Request<ListProvidersRequest>,
    ) -> Result<Response<ListProvidersResponse>, Status> {
        answer(self.providers(request).await)
    }

    async fn create_framework_contract(
        &self,
        request: Request<CreateFrameworkContractRequest>,
    ) -> Result<Response<FrameworkContract>, Status> {
        answer(self.add_contract(request).await)
    }

    async fn list_framework_contracts(
        &self,
        request: Request<ListFrameworkContractsRequest>,
    ) -> Result<Response<ListFrameworkContractsResponse>, Status> {
        answer(self.contracts(request).await)
    }

    async fn propose_candidates(
        &self,
        request: Request<ProposeCandidatesRequest>,
    ) -> Result<Response<ProposeCandidatesResponse>, Status> {
        answer(self.propose(request).await)
    }

    async fn list_unmet_demand(
        &self,
        request: Request<ListUnmetDemandRequest>,
    ) -> Result<Response<ListUnmetDemandResponse>, Status> {
        answer(self.unmet_demand(request).await)
    }

    async fn assign_contact_person(
        &self,
        request: Request<AssignContactPersonRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.assign(request).await)
    }

    async fn get_assignment(
        &self,
        request: Request<GetAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.assignment(request).await)
    }

    async fn list_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        answer(self.assignments(request).await)
    }

    async fn change_assignment(
        &self,
        request: Request<ChangeAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.resize_assignment(request).await)
    }

    async fn end_assignment(
        &self,
        request: Request<EndAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.finish_assignment(request).await)
    }

    async fn create_procurement(
        &self,
        request: Request<CreateProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.start_procurement(request).await)
    }

    async fn get_procurement(
        &self,
        request: Request<GetProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.procurement(request).await)
    }

    async fn record_offer(
        &self,
        request: Request<RecordOfferRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.offer(request).await)
    }

    async fn order_procurement(
        &self,
        request: Request<OrderProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.order(request).await)
    }

    async fn cancel_procurement(
        &self,
        request: Request<CancelProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.cancel(request).await)
    }

    async fn get_matching_request(
        &self,
        request: Request<GetMatchingRequestRequest>,
    ) -> Result<Response<MatchingRequest>, Status> {
        answer(self.request(request).await)
    }

    async fn list_matching_requests(
        &self,
        request: Request<ListMatchingRequestsRequest>,
    ) -> Result<Response<ListMatchingRequestsResponse>, Status> {
        answer(self.requests(request).await)
    }

    async fn list_competences(
        &self,
        request: Request<ListCompetencesRequest>,
    ) -> Result<Response<ListCompetencesResponse>, Status> {
        answer(self.competences(request).await)
    }

    async fn get_competence(
        &self,
        request: Request<GetCompetenceRequest>,
    ) -> Result<Response<Competence>, Status> {
        answer(self.competence(request).await)
    }
}
