//! The gRPC surface: proto <-> rows and the steps of each method; the rules live in `domain`.

mod assign;
mod people;

use kontakt_platform::audit::{self, Action, AuditLog, Entry};
use kontakt_platform::auth::{self, MunicipalityCode, Principal, Role};
use kontakt_platform::clock::SharedClock;
use kontakt_platform::error::answer;
use kontakt_platform::resource::scoped_parent;
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::matching::v1::matching_service_server::MatchingService;
use kontakt_proto::matching::v1::*;
use tonic::{Request, Response, Status};

use crate::domain::request::RequestState;
use crate::names::{REQUESTS, request_name};
use crate::store::{CompetenceRow, RequestRow, Store};

const COMPETENCES: &str = "competences";

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

    /// Records reads of requests (each names a child, R-DP-2); durable before the answer leaves.
    async fn read_logged<T>(
        &self,
        request: &Request<T>,
        method: &str,
        rows: &[RequestRow],
    ) -> Result<(), ApiError> {
        let principal = auth::caller(request)?;
        let purpose = audit::purpose(request, "matching")?;
        let entries = rows
            .iter()
            .filter_map(|r| {
                let municipality = MunicipalityCode::parse(&r.municipality)?;
                Some(
                    Entry::new(
                        principal,
                        method,
                        Action::Read,
                        request_name(&r.municipality, &r.id),
                        purpose.clone(),
                    )
                    .municipality(municipality)
                    .person(&r.person),
                )
            })
            .collect();
        self.audit.record(entries).await
    }
}

/// A request state as the proto names it.
fn state_to_proto(state: RequestState) -> MatchingRequestState {
    match state {
        RequestState::Open => MatchingRequestState::Open,
        RequestState::Proposed => MatchingRequestState::Proposed,
        RequestState::Procurement => MatchingRequestState::Procurement,
        RequestState::Ordered => MatchingRequestState::Ordered,
        RequestState::Assigned => MatchingRequestState::Assigned,
        RequestState::Closed => MatchingRequestState::Closed,
    }
}

/// The list filter: `None` for all states.
fn state_filter(value: i32) -> Result<Option<RequestState>, ApiError> {
    match MatchingRequestState::try_from(value) {
        Ok(MatchingRequestState::Unspecified) => Ok(None),
        Ok(wanted) => Ok(RequestState::ALL
            .into_iter()
            .find(|s| state_to_proto(*s) == wanted)),
        Err(_) => Err(ApiError::invalid("state", "not a known request state")),
    }
}

fn request_to_proto(row: RequestRow) -> MatchingRequest {
    let m = &row.municipality;
    MatchingRequest {
        name: request_name(m, &row.id),
        grant: format!("municipalities/{m}/grants/{}", row.id),
        state: state_to_proto(row.state) as i32,
        needs: Some(needs_of(&row)),
        proposed_contact_person: row
            .proposed_unit
            .as_deref()
            .zip(row.proposed_person.as_deref())
            .map(|(u, p)| people::person_name(u, p))
            .unwrap_or_default(),
        procurement: row
            .procurement_id
            .as_deref()
            .map(|p| format!("municipalities/{m}/procurements/{p}"))
            .unwrap_or_default(),
        assignment: row
            .assignment_id
            .as_deref()
            .map(|a| format!("municipalities/{m}/assignments/{a}"))
            .unwrap_or_default(),
        minutes_per_week: row.minutes_per_week,
        start_date: Some(row.start_date.into()),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
        update_time: Some(kontakt_proto::timestamp(row.update_time)),
        etag: format!("\"{}\"", row.revision),
        person: row.person,
        expected_end_date: Some(row.expected_end_date.into()),
        minutes_from: Some(row.minutes_from.into()),
        end_date: row.end_date.map(Into::into),
        grant_version: row.grant_version,
    }
}

/// The stored spelling of a category; `None` for "all".
fn category_filter(value: i32) -> Result<Option<&'static str>, ApiError> {
    match CompetenceCategory::try_from(value) {
        Ok(CompetenceCategory::Unspecified) => Ok(None),
        Ok(category) => Ok(Some(
            category
                .as_str_name()
                .trim_start_matches("COMPETENCE_CATEGORY_"),
        )),
        Err(_) => Err(ApiError::invalid(
            "category",
            format!("unknown category {value}"),
        )),
    }
}

#[tonic::async_trait]
impl MatchingService for MatchingApi {
    async fn create_contact_person(
        &self,
        request: Request<CreateContactPersonRequest>,
    ) -> Result<Response<ContactPerson>, Status> {
        answer(self.create_contact_person(request).await)
    }

    async fn get_contact_person(
        &self,
        request: Request<GetContactPersonRequest>,
    ) -> Result<Response<ContactPerson>, Status> {
        answer(self.get_contact_person(request).await)
    }

    async fn list_contact_persons(
        &self,
        request: Request<ListContactPersonsRequest>,
    ) -> Result<Response<ListContactPersonsResponse>, Status> {
        answer(self.list_contact_persons(request).await)
    }

    async fn update_contact_person(
        &self,
        request: Request<UpdateContactPersonRequest>,
    ) -> Result<Response<ContactPerson>, Status> {
        answer(self.update_contact_person(request).await)
    }

    async fn create_provider(
        &self,
        request: Request<CreateProviderRequest>,
    ) -> Result<Response<Provider>, Status> {
        answer(self.create_provider(request).await)
    }

    async fn get_provider(
        &self,
        request: Request<GetProviderRequest>,
    ) -> Result<Response<Provider>, Status> {
        answer(self.get_provider(request).await)
    }

    async fn list_providers(
        &self,
        request: Request<ListProvidersRequest>,
    ) -> Result<Response<ListProvidersResponse>, Status> {
        answer(self.list_providers(request).await)
    }

    async fn create_framework_contract(
        &self,
        request: Request<CreateFrameworkContractRequest>,
    ) -> Result<Response<FrameworkContract>, Status> {
        answer(self.create_framework_contract(request).await)
    }

    async fn list_framework_contracts(
        &self,
        request: Request<ListFrameworkContractsRequest>,
    ) -> Result<Response<ListFrameworkContractsResponse>, Status> {
        answer(self.list_framework_contracts(request).await)
    }

    async fn propose_candidates(
        &self,
        request: Request<ProposeCandidatesRequest>,
    ) -> Result<Response<ProposeCandidatesResponse>, Status> {
        answer(self.propose_candidates(request).await)
    }

    async fn list_unmet_demand(
        &self,
        request: Request<ListUnmetDemandRequest>,
    ) -> Result<Response<ListUnmetDemandResponse>, Status> {
        answer(self.list_unmet_demand(request).await)
    }

    async fn assign_contact_person(
        &self,
        request: Request<AssignContactPersonRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.assign_contact_person(request).await)
    }

    async fn get_assignment(
        &self,
        request: Request<GetAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.get_assignment(request).await)
    }

    async fn list_assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<Response<ListAssignmentsResponse>, Status> {
        answer(self.list_assignments(request).await)
    }

    async fn change_assignment(
        &self,
        request: Request<ChangeAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.change_assignment(request).await)
    }

    async fn end_assignment(
        &self,
        request: Request<EndAssignmentRequest>,
    ) -> Result<Response<Assignment>, Status> {
        answer(self.end_assignment(request).await)
    }

    async fn create_procurement(
        &self,
        request: Request<CreateProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.create_procurement(request).await)
    }

    async fn get_procurement(
        &self,
        request: Request<GetProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.get_procurement(request).await)
    }

    async fn record_offer(
        &self,
        request: Request<RecordOfferRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.record_offer(request).await)
    }

    async fn order_procurement(
        &self,
        request: Request<OrderProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.order_procurement(request).await)
    }

    async fn cancel_procurement(
        &self,
        request: Request<CancelProcurementRequest>,
    ) -> Result<Response<Procurement>, Status> {
        answer(self.cancel_procurement(request).await)
    }

    async fn get_matching_request(
        &self,
        request: Request<GetMatchingRequestRequest>,
    ) -> Result<Response<MatchingRequest>, Status> {
        let principal = auth::caller(&request)?;
        let name = &request.get_ref().name;
        let (municipality, id) = resource::scoped(principal, name, REQUESTS, "name")?;
        let row = self
            .store
            .get_request(&municipality.to_string(), id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found(name))?;
        let rows = [row];
        self.read_logged(&request, "GetMatchingRequest", &rows)
            .await?;
        let [row] = rows;
        Ok(Response::new(request_to_proto(row)))
    }

    async fn list_matching_requests(
        &self,
        request: Request<ListMatchingRequestsRequest>,
    ) -> Result<Response<ListMatchingRequestsResponse>, Status> {
        let principal = auth::caller(&request)?;
        let body = request.get_ref();
        let municipality = scoped_parent(principal, &body.parent)?;
        let m = municipality.to_string();
        let page_size = pagination::page_size(body.page_size)?;
        let state = state_filter(body.state)?;
        // The token is bound to the municipality and filter it was issued under.
        let scope = format!("{REQUESTS}?m={m}&state={}", body.state);
        let after = pagination::decode_token(&scope, &body.page_token)?
            .map(|key| pagination::parse_time_key(&key))
            .transpose()?;
        let rows = self
            .store
            .list_requests(
                &m,
                state,
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                page_size + 1,
            )
            .await
            .map_err(ApiError::from)?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::time_key(r.create_time, &r.id)
        });
        self.read_logged(&request, "ListMatchingRequests", &rows)
            .await?;
        Ok(Response::new(ListMatchingRequestsResponse {
            matching_requests: rows.into_iter().map(request_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_competences(
        &self,
        request: Request<ListCompetencesRequest>,
    ) -> Result<Response<ListCompetencesResponse>, Status> {
        let request = request.into_inner();
        let page_size = pagination::page_size(request.page_size)?;
        let category = category_filter(request.category)?;
        // The token is only valid for the same filter it was issued under.
        let scope = format!("{COMPETENCES}?category={}", category.unwrap_or("*"));
        let after = pagination::decode_token(&scope, &request.page_token)?;
        let rows = self
            .store
            .list_competences(after.as_deref(), page_size + 1, category)
            .await
            .map_err(ApiError::from)?;
        let (rows, next_page_token) =
            pagination::finish_page(rows, page_size, &scope, |r| r.code.clone());
        Ok(Response::new(ListCompetencesResponse {
            competences: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_competence(
        &self,
        request: Request<GetCompetenceRequest>,
    ) -> Result<Response<Competence>, Status> {
        let name = request.into_inner().name;
        let code = resource::parse_top_level(&name, COMPETENCES, "name")?;
        let row = self
            .store
            .get_competence(code)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::not_found(&name))?;
        Ok(Response::new(to_proto(row)))
    }
}

fn to_proto(row: CompetenceRow) -> Competence {
    let category =
        CompetenceCategory::from_str_name(&format!("COMPETENCE_CATEGORY_{}", row.category))
            .unwrap_or(CompetenceCategory::Unspecified);
    Competence {
        name: format!("{COMPETENCES}/{}", row.code),
        code: row.code,
        category: category.into(),
        display_name: row.display_name,
        description: row.description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_maps_to_the_spelling_the_schema_allows() {
        let stored = [
            "PROBLEM_AREA",
            "LANGUAGE",
            "CULTURAL_BACKGROUND",
            "AGE_GROUP",
            "METHOD",
        ];
        for (value, expected) in (1..=5).zip(stored) {
            assert_eq!(category_filter(value).ok().flatten(), Some(expected));
        }
        assert_eq!(category_filter(0).ok(), Some(None));
        assert!(category_filter(99).is_err());
    }

    #[test]
    fn every_request_state_has_its_proto_name_and_filters_by_it() {
        for state in RequestState::ALL {
            let proto = state_to_proto(state);
            assert_eq!(
                proto.as_str_name(),
                format!("MATCHING_REQUEST_STATE_{state}"),
                "the stored spelling is the proto name without its prefix"
            );
            assert_eq!(state_filter(proto as i32).ok(), Some(Some(state)));
        }
        assert_eq!(state_filter(0).ok(), Some(None));
        assert!(state_filter(99).is_err());
    }
}
