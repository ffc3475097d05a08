//! write: RegisterTime by contact persons on their own assignments.

use kontakt_platform::clock::{Clock as _, SystemClock};
use std::sync::Arc;

use chrono::Days;
use kontakt::client::Bearer;
use kontakt_platform::auth::{Claims, Role};
use kontakt_proto::timecost::v1 as timecost;
use timecost::time_cost_service_client::TimeCostServiceClient;

use crate::load::Stats;

use super::*;

impl Bench<'_> {
    /// RegisterTime by contact persons on their own assignments, each with a fresh request id.
    pub(super) async fn write(&self, rate: Option<f64>) -> anyhow::Result<Stats> {
        // A thousand contact persons' own tokens, each with one of their assignments.
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (contact_person) municipality, i, contact_person
               FROM bench.assigned ORDER BY contact_person, i LIMIT 1000",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut registrars = Vec::with_capacity(rows.len());
        for (m, i, person) in rows {
            let name = format!("serviceUnits/bench/contactPersons/{person}");
            let token = self.cluster.token(Claims {
                sub: person.clone(),
                kontakt_roles: vec![Role::ContactPerson.as_str().into()],
                kontakt_municipalities: vec![m.clone()],
                kontakt_contact_person: Some(name),
                ..Claims::default()
            })?;
            registrars.push((
                Bearer::new(&token)?,
                format!("municipalities/{m}/assignments/ba-{i}"),
            ));
        }
        let registrars = Arc::new(registrars);
        let channels = self.timecost.clone();
        let today = SystemClock.today();
        let run = format!("{}", SystemClock.now().timestamp_micros());
        let call = move |seq: u64| {
            let (bearer, assignment) = &registrars[seq as usize % registrars.len()];
            let mut client = TimeCostServiceClient::new(authed(channels.pick(seq), bearer));
            let request = timecost::RegisterTimeRequest {
                parent: assignment.clone(),
                time_entry: Some(timecost::TimeEntry {
                    work_date: date(today - Days::new(seq % 14)),
                    minutes: 45,
                    activity_kind: "activityKinds/face-to-face".into(),
                    note: "samtale".into(),
                    ..timecost::TimeEntry::default()
                }),
                request_id: format!("bench-{run}-{seq}"),
            };
            async move { answered(client.register_time(request).await) }
        };
        Ok(self.at_rate(rate, call).await)
    }
}
