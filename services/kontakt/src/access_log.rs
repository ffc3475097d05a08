//! One person's access log gathered from all four services (R-DP-2), for `kontakt access-log`.

use anyhow::Context as _;
use kontakt_proto::audit::v1::access_log_service_client::AccessLogServiceClient;
use kontakt_proto::audit::v1::{AccessLogEntry, ListAccessLogEntriesRequest};

use crate::client::Bearer;

/// Every entry about `person` in every service at `endpoints` (name, URL), newest first. A
/// service that cannot be asked is an error: a partial log would look complete.
pub async fn gather(
    endpoints: &[(&str, String)],
    token: &str,
    person: &str,
) -> anyhow::Result<Vec<AccessLogEntry>> {
    let bearer = Bearer::new(token)?;
    let mut entries = Vec::new();
    for (service, url) in endpoints {
        let channel = crate::client::channel(url).with_context(|| service.to_string())?;
        let mut client = AccessLogServiceClient::with_interceptor(channel, bearer.clone());
        let mut page_token = String::new();
        loop {
            let page = client
                .list_access_log_entries(ListAccessLogEntriesRequest {
                    person: person.to_owned(),
                    page_size: 500,
                    page_token: page_token.clone(),
                })
                .await
                .map_err(|status| {
                    anyhow::anyhow!("{service}: {}: {}", status.code(), status.message())
                })?
                .into_inner();
            entries.extend(page.entries);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.time.map(|t| (t.seconds, t.nanos))));
    Ok(entries)
}

/// One line per entry: when, where, what, who, why.
pub fn format_entry(entry: &AccessLogEntry) -> String {
    let when = entry
        .time
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    format!(
        "{when}  {:<8}  {:<6}  {:<14}  {} ({})  purpose: {}",
        entry.service,
        entry.action,
        entry.method,
        entry.subject,
        entry.roles.join(", "),
        entry.purpose
    )
}
