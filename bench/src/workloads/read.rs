//! read: GetGrant on grants all over the country.

use std::sync::Arc;

use kontakt_platform::auth::Role;
use kontakt_proto::referral::v1 as referral;
use referral::referral_service_client::ReferralServiceClient;

use crate::load::Stats;
use crate::scale::MUNICIPALITIES;

use super::*;

impl Bench<'_> {
    /// GetGrant on grants all over the country, each with its municipality's case system token.
    pub(super) async fn read(&self, rate: Option<f64>) -> anyhow::Result<Stats> {
        let tokens = Arc::new(self.per_municipality(Role::CaseSystem)?);
        let grants: Arc<Vec<(usize, String)>> = Arc::new(
            sqlx::query_as::<_, (String, i64)>(
                "SELECT municipality, i FROM bench.grants ORDER BY md5(i::text) LIMIT 20000",
            )
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(m, i)| {
                let index = MUNICIPALITIES
                    .iter()
                    .position(|(c, _)| *c == m)
                    .unwrap_or(0);
                (index, format!("municipalities/{m}/grants/bg-{i}"))
            })
            .collect(),
        );
        let channels = self.referral.clone();
        let call = move |seq: u64| {
            let (index, name) = grants[seq as usize % grants.len()].clone();
            let mut client =
                ReferralServiceClient::new(authed(channels.pick(seq), &tokens[index].1));
            async move { answered(client.get_grant(referral::GetGrantRequest { name }).await) }
        };
        Ok(self.at_rate(rate, call).await)
    }
}
