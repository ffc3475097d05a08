//! What the binary's client commands (demo loading, `ctl`, `access-log`) share when they call
//! the services: a bearer token on every call, a lazily connected channel, and retrying while
//! a service is not ready yet.

use std::time::Duration;

use anyhow::Context as _;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    pub fn new(token: &str) -> anyhow::Result<Self> {
        Ok(Self(
            format!("Bearer {token}")
                .parse()
                .context("the token is not valid metadata")?,
        ))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel with a bearer token, as the generated clients take it.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A channel to `url`, connected on first use (a service still starting is retried by the
/// caller, not refused here).
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(url.to_owned())
        .with_context(|| format!("`{url}` is not a URL"))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy())
}

/// Calls until the answer's code is not one of `not_yet` (e.g. UNAVAILABLE while a service
/// migrates, NOT_FOUND while an event is on its way), for up to a minute; then returns the
/// last answer.
pub async fn retrying<T, F, Fut>(not_yet: &[tonic::Code], mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if not_yet.contains(&status.code()) && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(status),
        }
    }
}
