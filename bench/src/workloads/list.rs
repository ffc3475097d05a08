//! list: ListGrants page 1 and page 1,000.

use kontakt_platform::auth::Role;
use kontakt_proto::referral::v1 as referral;
use referral::referral_service_client::ReferralServiceClient;

use crate::load::{self, Stats};
use crate::scale::LARGEST;

use super::*;

impl Bench<'_> {
    /// ListGrants in the largest municipality: page 1, and page 1,000 by its page token.
    pub(super) async fn list(&self) -> anyhow::Result<(i32, Stats, Stats)> {
        let bearer = self.bearer(Role::CaseSystem, &[LARGEST])?;
        let page_size = (self.loaded().largest_grants / 1000).clamp(1, 10) as i32;
        let parent = format!("municipalities/{LARGEST}");
        let mut client = ReferralServiceClient::new(authed(self.referral.pick(0), &bearer));
        let mut token = String::new();
        for page in 1..1000 {
            let answer = client
                .list_grants(referral::ListGrantsRequest {
                    parent: parent.clone(),
                    page_size,
                    page_token: token.clone(),
                    ..referral::ListGrantsRequest::default()
                })
                .await?
                .into_inner();
            anyhow::ensure!(
                !answer.next_page_token.is_empty(),
                "the list ended at page {page}"
            );
            token = answer.next_page_token;
        }
        let mut pages = Vec::new();
        for token in [String::new(), token] {
            let (bearer, channels, parent) =
                (bearer.clone(), self.referral.clone(), parent.clone());
            // One caller: the latency of the page itself.
            pages.push(
                load::closed_loop(self.plan(1), move |seq| {
                    let mut client =
                        ReferralServiceClient::new(authed(channels.pick(seq), &bearer));
                    let request = referral::ListGrantsRequest {
                        parent: parent.clone(),
                        page_size,
                        page_token: token.clone(),
                        ..referral::ListGrantsRequest::default()
                    };
                    async move {
                        let answer = client.list_grants(request).await.map_err(status_text)?;
                        if answer.get_ref().grants.len() == page_size as usize {
                            Ok(())
                        } else {
                            Err(format!(
                                "a page of {} grants",
                                answer.get_ref().grants.len()
                            ))
                        }
                    }
                })
                .await,
            );
        }
        let far = pages.pop().unwrap_or_default();
        let first = pages.pop().unwrap_or_default();
        Ok((page_size, first, far))
    }
}
