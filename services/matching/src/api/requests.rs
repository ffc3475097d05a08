//! Matching requests as the coordinator reads them: one per grant, opened, changed and closed
//! by the grant events; every read is logged (R-DP-2).

use kontakt_platform::audit::{self, Action, Entry};
use kontakt_platform::auth::{self, MunicipalityCode};
use kontakt_platform::resource::scoped_parent;
use kontakt_platform::{ApiError, pagination, resource};
use kontakt_proto::matching::v1::{
    GetMatchingRequestRequest, ListMatchingRequestsRequest, ListMatchingRequestsResponse,
    MatchingRequest, MatchingRequestState,
};
use tonic::Request;

use super::{MatchingApi, needs_of};
use crate::domain::request::RequestState;
use crate::store::RequestRow;
use kontakt_proto::names;

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
        name: names::matching_request(m, &row.id),
        grant: names::grant(m, &row.id),
        state: state_to_proto(row.state) as i32,
        needs: Some(needs_of(&row)),
        proposed_contact_person: row
            .proposed_unit
            .as_deref()
            .zip(row.proposed_person.as_deref())
            .map(|(u, p)| names::contact_person(u, p))
            .unwrap_or_default(),
        procurement: row
            .procurement_id
            .as_deref()
            .map(|p| names::procurement(m, p))
            .unwrap_or_default(),
        assignment: row
            .assignment_id
            .as_deref()
            .map(|a| names::assignment(m, a))
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

impl MatchingApi {
    /// Records reads of requests (each names a child, R-DP-2); durable before the answer leaves.
    pub(super) async fn read_logged<T>(
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
                        names::matching_request(&r.municipality, &r.id),
                        purpose.clone(),
                    )
                    .municipality(municipality)
                    .person(&r.person),
                )
            })
            .collect();
        self.audit.record(entries).await
    }

    pub(super) async fn request(
        &self,
        request: Request<GetMatchingRequestRequest>,
    ) -> Result<MatchingRequest, ApiError> {
        let principal = auth::caller(&request)?;
        let name = &request.get_ref().name;
        let (municipality, id) =
            resource::scoped(principal, name, names::MATCHING_REQUESTS, "name")?;
        let row = self
            .store
            .get_request(&municipality.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        let rows = [row];
        self.read_logged(&request, "GetMatchingRequest", &rows)
            .await?;
        let [row] = rows;
        Ok(request_to_proto(row))
    }

    pub(super) async fn requests(
        &self,
        request: Request<ListMatchingRequestsRequest>,
    ) -> Result<ListMatchingRequestsResponse, ApiError> {
        let principal = auth::caller(&request)?;
        let body = request.get_ref();
        let municipality = scoped_parent(principal, &body.parent)?;
        let m = municipality.to_string();
        let page_size = pagination::page_size(body.page_size)?;
        let state = state_filter(body.state)?;
        // The token is bound to the municipality and filter it was issued under.
        let scope = format!("{}?m={m}&state={}", names::MATCHING_REQUESTS, body.state);
        let after = pagination::decode_time_token(&scope, &body.page_token)?;
        let rows = self
            .store
            .list_requests(
                &m,
                state,
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::time_key(r.create_time, &r.id)
        });
        self.read_logged(&request, "ListMatchingRequests", &rows)
            .await?;
        Ok(ListMatchingRequestsResponse {
            matching_requests: rows.into_iter().map(request_to_proto).collect(),
            next_page_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
