//! `kontakt ctl rejects` and `kontakt ctl reapply`: the events the services' consumers refused
//! and passed over, listed from all four services, and applied again once their cause is mended
//! (each exactly once; see `kontakt_platform::rejects`).

use kontakt_proto::events::v1::consumer_reject_service_client::ConsumerRejectServiceClient;
use kontakt_proto::events::v1::{
    ConsumerReject, ListConsumerRejectsRequest, ReapplyConsumerRejectRequest,
};

use crate::cli::Endpoints;
use crate::client::{Authed, Bearer, channel};
use crate::ctl::{failed, table};

type Client = ConsumerRejectServiceClient<Authed>;

fn client(url: &str, bearer: &Bearer) -> anyhow::Result<Client> {
    Ok(ConsumerRejectServiceClient::with_interceptor(
        channel(url)?,
        bearer.clone(),
    ))
}

/// Each service's name and URL, in the order the suite's events flow.
fn services(e: &Endpoints) -> [(&'static str, &str); 4] {
    [
        ("referral", e.referral_url.as_str()),
        ("matching", e.matching_url.as_str()),
        ("timecost", e.timecost_url.as_str()),
        ("followup", e.followup_url.as_str()),
    ]
}

async fn list(
    mut client: Client,
    service: &str,
    include_reapplied: bool,
) -> anyhow::Result<Vec<ConsumerReject>> {
    let mut rejects = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_consumer_rejects(ListConsumerRejectsRequest {
                page_size: 500,
                page_token,
                include_reapplied,
            })
            .await
            .map_err(failed(service))?
            .into_inner();
        rejects.extend(page.rejects);
        if page.next_page_token.is_empty() {
            return Ok(rejects);
        }
        page_token = page.next_page_token;
    }
}

fn day(reject: &ConsumerReject) -> String {
    reject
        .reject_time
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Every service's rejects (open ones; with `include_reapplied` also those applied since).
pub async fn rejects(
    e: &Endpoints,
    bearer: &Bearer,
    include_reapplied: bool,
) -> anyhow::Result<String> {
    let mut rows = Vec::new();
    for (service, url) in services(e) {
        for r in list(client(url, bearer)?, service, include_reapplied).await? {
            rows.push(vec![
                service.to_owned(),
                r.name.clone(),
                r.r#type.trim_start_matches("kontakt.").to_owned(),
                r.subject.clone(),
                day(&r),
                r.attempts.to_string(),
                if r.reapply_time.is_some() {
                    "re-applied".to_owned()
                } else {
                    r.reason.clone()
                },
            ]);
        }
    }
    let open = rows.iter().filter(|r| r[6] != "re-applied").count();
    Ok(format!(
        "{}{open} open reject(s); once the cause is mended: kontakt ctl reapply --service <service> --all\n",
        table(
            &[
                "SERVICE", "REJECT", "TYPE", "SUBJECT", "REJECTED", "ATTEMPTS", "REASON"
            ],
            &[5],
            &rows
        )
    ))
}

/// Applies again one reject of `service` (`name`), or every open one; says what became of each.
/// Fails when any is still refused, so that a script notices.
pub async fn reapply(
    e: &Endpoints,
    bearer: &Bearer,
    service: &str,
    name: Option<String>,
) -> anyhow::Result<String> {
    let url = services(e)
        .into_iter()
        .find(|(s, _)| *s == service)
        .map(|(_, url)| url)
        .ok_or_else(|| {
            anyhow::anyhow!("no service {service:?}: referral, matching, timecost or followup")
        })?;
    let names = match name {
        Some(name) => vec![name],
        None => list(client(url, bearer)?, service, false)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect(),
    };
    let mut out = String::new();
    let mut refused = 0;
    let mut c = client(url, bearer)?;
    for name in &names {
        match c
            .reapply_consumer_reject(ReapplyConsumerRejectRequest { name: name.clone() })
            .await
        {
            Ok(_) => out.push_str(&format!("{service} {name}: applied\n")),
            Err(status) => {
                refused += 1;
                out.push_str(&format!(
                    "{service} {name}: {:?}: {}\n",
                    status.code(),
                    status.message()
                ));
            }
        }
    }
    out.push_str(&format!(
        "{} applied, {refused} not\n",
        names.len() - refused
    ));
    if refused > 0 {
        anyhow::bail!("{out}");
    }
    Ok(out)
}
