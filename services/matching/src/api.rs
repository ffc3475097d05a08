//! The gRPC surface: proto <-> rows, and nothing else.

use kontakt_platform::audit::{self, Action, AuditLog, Entry};
use kontakt_platform::auth::{self, MunicipalityCode, Principal};
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::matching::v1::{
    Competence, CompetenceCategory, GetCompetenceRequest, GetMatchingRequestRequest,
    ListCompetencesRequest, ListCompetencesResponse, ListMatchingRequestsRequest,
    ListMatchingRequestsResponse, MatchingNeeds, MatchingRequest, MatchingRequestState,
    matching_service_server::MatchingService,
};
use tonic::{Request, Response, Status};

use crate::store::{CompetenceRow, RequestRow, Store};

const COMPETENCES: &str = "competences";
const REQUESTS: &str = "matchingRequests";

pub struct MatchingApi {
    store: Store,
    audit: AuditLog,
}

impl MatchingApi {
    pub fn new(store: Store, audit: AuditLog) -> Self {
        Self { store, audit }
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

fn request_name(municipality: &str, id: &str) -> String {
    format!("municipalities/{municipality}/{REQUESTS}/{id}")
}

/// The municipality in `parent` if the caller acts for it; NOT_FOUND otherwise, as for a
/// municipality with nothing in it.
fn scoped_parent(principal: &Principal, parent: &str) -> Result<MunicipalityCode, ApiError> {
    let municipality = resource::parse_municipality(parent, "parent")?;
    if principal.serves(municipality) {
        Ok(municipality)
    } else {
        Err(ApiError::not_found(parent))
    }
}

fn state_filter(value: i32) -> Result<Option<&'static str>, ApiError> {
    match MatchingRequestState::try_from(value) {
        Ok(MatchingRequestState::Unspecified) => Ok(None),
        Ok(state) => Ok(Some(
            state
                .as_str_name()
                .trim_start_matches("MATCHING_REQUEST_STATE_"),
        )),
        Err(_) => Err(ApiError::invalid("state", "not a known request state")),
    }
}

fn request_to_proto(row: RequestRow) -> MatchingRequest {
    let m = &row.municipality;
    MatchingRequest {
        name: request_name(m, &row.id),
        grant: format!("municipalities/{m}/grants/{}", row.id),
        state: MatchingRequestState::from_str_name(&format!("MATCHING_REQUEST_STATE_{}", row.state))
            .unwrap_or(MatchingRequestState::Unspecified) as i32,
        needs: Some(MatchingNeeds {
            competences: row
                .competences
                .iter()
                .map(|c| format!("{COMPETENCES}/{c}"))
                .collect(),
            preferred_gender: row.preferred_gender,
            age_years: row.age_years,
            description: row.description,
        }),
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
        ..MatchingRequest::default()
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
    async fn get_matching_request(
        &self,
        request: Request<GetMatchingRequestRequest>,
    ) -> Result<Response<MatchingRequest>, Status> {
        let principal = auth::caller(&request)?;
        let name = &request.get_ref().name;
        let (municipality, id) = resource::parse_in_municipality(name, REQUESTS, "name")?;
        if !principal.serves(municipality) {
            return Err(ApiError::not_found(name).into());
        }
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
}
