//! propagate: a decided referral until matching reads its request.

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike as _, Days, Months, NaiveDate};
use kontakt::client::Authed;
use kontakt_platform::auth::Role;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::referral::v1 as referral;
use matching::matching_service_client::MatchingServiceClient;
use referral::referral_service_client::ReferralServiceClient;
use tokio::sync::Mutex;

use crate::load::{self, Stats};
use crate::scale::DECIDING;

use super::*;

impl Bench<'_> {
    /// Decides submitted referrals; each call's latency is from the decision's answer (the
    /// grant and its GrantApproved event committed) until matching answers GetMatchingRequest.
    pub(super) async fn propagate(&self) -> anyhow::Result<Stats> {
        let decider = self.bearer(Role::Counsellor, &[DECIDING])?;
        let reader = self.bearer(Role::Coordinator, &[DECIDING])?;
        let next = Arc::new(Mutex::new(1i64));
        let available = self.size.pending_referrals;
        let start = {
            let today = SystemClock.today();
            NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
                + Months::new(1)
        };
        let referral_channels = self.referral.clone();
        let matching_channels = self.matching.clone();
        Ok(load::closed_loop(self.plan(self.streams), move |seq| {
            let mut decide =
                ReferralServiceClient::new(authed(referral_channels.pick(seq), &decider));
            let mut read: MatchingServiceClient<Authed> =
                MatchingServiceClient::new(authed(matching_channels.pick(seq), &reader));
            let next = next.clone();
            async move {
                let n = {
                    let mut next = next.lock().await;
                    let n = *next;
                    *next += 1;
                    n
                };
                if n > available {
                    // Out of referrals: wait out the run without counting.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Ok(None);
                }
                let decision = decide
                    .decide_referral(referral::DecideReferralRequest {
                        name: format!("municipalities/{DECIDING}/referrals/pr-{n}"),
                        outcome: referral::DecisionOutcome::Approve as i32,
                        approval_level: referral::ApprovalLevel::OwnAuthority as i32,
                        minutes_per_week: 180,
                        start_date: date(start),
                        expected_end_date: date(start + Months::new(12) - Days::new(1)),
                        ..referral::DecideReferralRequest::default()
                    })
                    .await
                    .map_err(status_text)?
                    .into_inner();
                let committed = Instant::now();
                let grant = decision
                    .grant
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let name = format!("municipalities/{DECIDING}/matchingRequests/{grant}");
                loop {
                    match read
                        .get_matching_request(matching::GetMatchingRequestRequest {
                            name: name.clone(),
                        })
                        .await
                    {
                        Ok(_) => break,
                        Err(s) if s.code() == tonic::Code::NotFound => {
                            if committed.elapsed() > Duration::from_secs(30) {
                                return Err(format!("{name} not readable after 30 s"));
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(s) => return Err(status_text(s)),
                    }
                }
                Ok(Some(committed.elapsed()))
            }
        })
        .await)
    }
}
