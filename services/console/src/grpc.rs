//! The console's calls to the four services: one lazily connected channel per service, and
//! every call made with the signed-in person's own token and the purpose of the screen, so
//! the services authorise, scope and log it exactly as they would a case system's call.

use std::time::Duration;

use kontakt_proto::audit::v1::access_log_service_client::AccessLogServiceClient;
use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::session::Session;

/// The largest answer the console reads (a list without pages, such as unmet demand, at
/// national scale); above it the call fails and the page says so.
const MAX_ANSWER: usize = 32 * 1024 * 1024;

/// How many calls one page makes at the same time (names of the people on it): a page must
/// not take a service's whole concurrency limit.
pub const PAGE_CONCURRENCY: usize = 6;

/// How long a page waits for a service before it says the service is not answering.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the four services are.
#[derive(Clone, Debug)]
pub struct ServiceUrls {
    pub referral: String,
    pub matching: String,
    pub timecost: String,
    pub followup: String,
}

/// Which service a call went to, for a message that names it when it is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Referral,
    Matching,
    Timecost,
    Followup,
}

impl Which {
    /// The service as the people know it.
    pub fn danish(self) -> &'static str {
        match self {
            Which::Referral => "visitation",
            Which::Matching => "matchning",
            Which::Timecost => "tid og økonomi",
            Which::Followup => "opfølgning",
        }
    }
}

/// The channels, shared by every page.
#[derive(Clone)]
pub struct Services {
    referral: Channel,
    matching: Channel,
    timecost: Channel,
    followup: Channel,
}

impl Services {
    pub fn connect(
        urls: &ServiceUrls,
        tls: &kontakt_platform::tls::ClientTls,
    ) -> anyhow::Result<Self> {
        let channel = |url: &str| -> anyhow::Result<Channel> {
            Ok(tls.channel(
                &Endpoint::from_shared(url.to_owned())
                    .map_err(|err| anyhow::anyhow!("`{url}` is not a service URL: {err}"))?
                    .connect_timeout(Duration::from_secs(3))
                    .http2_keep_alive_interval(Duration::from_secs(30)),
            ))
        };
        Ok(Self {
            referral: channel(&urls.referral)?,
            matching: channel(&urls.matching)?,
            timecost: channel(&urls.timecost)?,
            followup: channel(&urls.followup)?,
        })
    }

    pub fn referral(&self) -> ReferralServiceClient<Channel> {
        ReferralServiceClient::new(self.referral.clone()).max_decoding_message_size(MAX_ANSWER)
    }

    pub fn matching(&self) -> MatchingServiceClient<Channel> {
        MatchingServiceClient::new(self.matching.clone()).max_decoding_message_size(MAX_ANSWER)
    }

    pub fn timecost(&self) -> TimeCostServiceClient<Channel> {
        TimeCostServiceClient::new(self.timecost.clone()).max_decoding_message_size(MAX_ANSWER)
    }

    pub fn followup(&self) -> FollowUpServiceClient<Channel> {
        FollowUpServiceClient::new(self.followup.clone()).max_decoding_message_size(MAX_ANSWER)
    }

    /// The access log of one service (each keeps its own).
    pub fn access_log(&self, which: Which) -> AccessLogServiceClient<Channel> {
        AccessLogServiceClient::new(
            match which {
                Which::Referral => &self.referral,
                Which::Matching => &self.matching,
                Which::Timecost => &self.timecost,
                Which::Followup => &self.followup,
            }
            .clone(),
        )
    }
}

/// A request carrying the person's token and the screen's purpose (`x-kontakt-purpose`, kept
/// in the access log). `purpose` is ASCII: it travels as gRPC metadata.
pub fn request<T>(session: &Session, purpose: &'static str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    // A token that is not valid metadata is sent without it: the service answers
    // UNAUTHENTICATED and the person is asked to sign in again.
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", session.person.token)) {
        request.metadata_mut().insert("authorization", value);
    }
    request
        .metadata_mut()
        .insert("x-kontakt-purpose", MetadataValue::from_static(purpose));
    request
}

/// The display names of `persons` (`municipalities/{m}/persons/{id}`), asked for at once;
/// a person the caller may not read is simply left out. Each read is in the access log with
/// the screen's purpose.
pub async fn person_names<'a>(
    services: &Services,
    session: &Session,
    purpose: &'static str,
    persons: impl IntoIterator<Item = &'a str>,
) -> std::collections::HashMap<String, String> {
    let mut wanted: Vec<&str> = persons.into_iter().filter(|p| !p.is_empty()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let calls: Vec<_> = wanted
        .into_iter()
        .map(|name| {
            let mut client = services.referral();
            let name = name.to_owned();
            let call = request(
                session,
                purpose,
                kontakt_proto::referral::v1::GetPersonRequest { name: name.clone() },
            );
            async move {
                client
                    .get_person(call)
                    .await
                    .ok()
                    .map(|p| (name, p.into_inner().display_name))
            }
        })
        .collect();
    use futures_util::StreamExt as _;
    futures_util::stream::iter(calls)
        .buffer_unordered(PAGE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Every page of a list (AIP-158), following `next_page_token`, until the list ends or
/// `limit` items are read (a screen never needs more). `page(token)` asks for one page and
/// answers its items and the next token.
pub async fn all_pages<T, Fut>(
    limit: usize,
    mut page: impl FnMut(String) -> Fut,
) -> Result<Vec<T>, tonic::Status>
where
    Fut: std::future::Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = page(token).await?;
        all.extend(items);
        if next.is_empty() || all.len() >= limit {
            all.truncate(limit);
            return Ok(all);
        }
        token = next;
    }
}
