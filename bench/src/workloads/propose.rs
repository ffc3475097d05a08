//! match: ProposeCandidates on open requests in the largest municipality.

use std::sync::Arc;

use kontakt_platform::auth::Role;
use kontakt_proto::matching::v1 as matching;
use matching::matching_service_client::MatchingServiceClient;

use crate::load::{self, Stats};
use crate::scale::LARGEST;

use super::*;

impl Bench<'_> {
    /// ProposeCandidates on open requests in the largest municipality, whose pool is its own
    /// contact persons and the capital region's.
    pub(super) async fn propose(&self) -> anyhow::Result<Stats> {
        let bearer = self.bearer(Role::Coordinator, &[LARGEST])?;
        let requests: Arc<Vec<String>> = Arc::new(
            (0..self.size.open_requests)
                .map(|rank| format!("municipalities/{LARGEST}/matchingRequests/bg-{}", rank + 1))
                .collect(),
        );
        let channels = self.matching.clone();
        Ok(load::closed_loop(self.plan(self.streams), move |seq| {
            let name = requests[seq as usize % requests.len()].clone();
            let mut client = MatchingServiceClient::new(authed(channels.pick(seq), &bearer));
            async move {
                answered(
                    client
                        .propose_candidates(matching::ProposeCandidatesRequest {
                            matching_request: name,
                            max_candidates: 10,
                            ..matching::ProposeCandidatesRequest::default()
                        })
                        .await,
                )
            }
        })
        .await)
    }
}
