//! GetBudgetStatus on the national frame, at the first and at all the time entries.

use kontakt_platform::clock::{Clock as _, SystemClock};

use kontakt_platform::auth::Role;
use kontakt_proto::timecost::v1 as timecost;
use timecost::time_cost_service_client::TimeCostServiceClient;

use crate::load::{self, Stats};
use crate::scale::MUNICIPALITIES;

use super::*;

impl Bench<'_> {
    pub(super) async fn budget(&self) -> anyhow::Result<Stats> {
        let municipalities: Vec<&str> = MUNICIPALITIES.iter().map(|(m, _)| *m).collect();
        let bearer = self.bearer(Role::Finance, &municipalities)?;
        let channels = self.timecost.clone();
        let as_of = SystemClock.today();
        // One caller: the latency of the computation itself, not of queueing.
        let stats = load::closed_loop(self.plan(1), move |seq| {
            let mut client = TimeCostServiceClient::new(authed(channels.pick(seq), &bearer));
            async move {
                answered(
                    client
                        .get_budget_status(timecost::GetBudgetStatusRequest {
                            name: "frames/national/budgetStatus".into(),
                            as_of: date(as_of),
                        })
                        .await,
                )
            }
        })
        .await;
        Ok(stats)
    }
}
