//! The credentials a Kontakt service presents when it calls another (its event feeds): a token
//! with the `service` role, which access tables grant only what a service needs.
//!
//! In production the token lives in a file that something else keeps fresh (a projected
//! service-account token, or an OIDC client-credentials sidecar), so it is re-read whenever the
//! file changes; `kontakt dev` mints one with its dev key instead.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use tonic::metadata::{Ascii, MetadataValue};

pub enum ServiceToken {
    /// A token that does not change (dev, tests).
    Fixed(MetadataValue<Ascii>),
    /// A file holding the current token.
    File {
        path: PathBuf,
        cached: Mutex<Option<(SystemTime, MetadataValue<Ascii>)>>,
    },
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceToken::Fixed(_) => f.write_str("ServiceToken::Fixed(<secret>)"),
            ServiceToken::File { path, .. } => write!(f, "ServiceToken::File({})", path.display()),
        }
    }
}

fn bearer(token: &str) -> Result<MetadataValue<Ascii>, String> {
    format!("Bearer {}", token.trim())
        .parse()
        .map_err(|_| "the service token is not valid metadata".to_owned())
}

impl ServiceToken {
    pub fn fixed(token: &str) -> Result<Self, String> {
        Ok(ServiceToken::Fixed(bearer(token)?))
    }

    pub fn file(path: PathBuf) -> Self {
        ServiceToken::File {
            path,
            cached: Mutex::new(None),
        }
    }

    /// The `authorization` value to send now; a file is re-read when it has changed.
    pub fn authorization(&self) -> Result<MetadataValue<Ascii>, String> {
        match self {
            ServiceToken::Fixed(value) => Ok(value.clone()),
            ServiceToken::File { path, cached } => {
                let modified = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(|e| {
                        format!("cannot read the service token file {}: {e}", path.display())
                    })?;
                let mut cached = cached
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((seen, value)) = cached.as_ref()
                    && *seen == modified
                {
                    return Ok(value.clone());
                }
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the service token file {}: {e}", path.display())
                })?;
                let value = bearer(&text)?;
                *cached = Some((modified, value.clone()));
                Ok(value)
            }
        }
    }
}

/// Adds the service's token to every outgoing call, with the current trace context.
#[derive(Clone, Debug)]
pub struct ServiceAuth(pub std::sync::Arc<ServiceToken>);

impl tonic::service::Interceptor for ServiceAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let value = self.0.authorization().map_err(|reason| {
            tracing::error!(%reason, "no service token for an outgoing call");
            tonic::Status::unauthenticated("this service has no usable service token")
        })?;
        request.metadata_mut().insert("authorization", value);
        crate::telemetry::inject_trace_context(request.metadata_mut());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock as _;
    use tonic::service::Interceptor as _;

    #[test]
    fn a_token_file_is_reread_when_it_changes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").expect("write");
        let token = ServiceToken::file(path.clone());
        assert_eq!(
            token.authorization().expect("token").to_str().ok(),
            Some("Bearer first")
        );
        // A rotated token (the file's modification time moves on).
        std::fs::write(&path, "second").expect("write");
        let later =
            SystemTime::from(crate::clock::SystemClock.now()) + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(later))
            .expect("touch");
        assert_eq!(
            token.authorization().expect("token").to_str().ok(),
            Some("Bearer second")
        );
    }

    #[test]
    fn outgoing_calls_carry_the_token_and_a_missing_file_is_a_clear_refusal() {
        let mut auth = ServiceAuth(std::sync::Arc::new(
            ServiceToken::fixed("abc").expect("token"),
        ));
        let request = auth.call(tonic::Request::new(())).expect("intercepted");
        assert_eq!(
            request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer abc")
        );
        let mut missing = ServiceAuth(std::sync::Arc::new(ServiceToken::file(
            "/nonexistent/token".into(),
        )));
        let status = missing.call(tonic::Request::new(())).expect_err("no token");
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(
            !format!("{:?}", ServiceToken::fixed("tok-9f3e").expect("token")).contains("tok-9f3e")
        );
    }
}
