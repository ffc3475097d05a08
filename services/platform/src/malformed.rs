//! A request whose bytes are not a message of the method's request type (wrong wire types,
//! truncated fields, invalid UTF-8 in a string field) is the caller's mistake. tonic's prost
//! codec answers it `INTERNAL: failed to decode Protobuf message: …` before any handler runs,
//! with no `ErrorInfo`; this layer, wrapped around every route of a server (the service's own,
//! the access log, the feed, health and reflection), turns exactly that answer into
//! `INVALID_ARGUMENT` with the one `ErrorInfo` every Kontakt error has (reason
//! `MALFORMED_REQUEST`), and logs it without the body.
//!
//! The decoder fails before the handler is called, for unary and server-streaming methods
//! alike, so the failure is always a trailers-only answer: its status is in the response
//! headers, where this layer finds it. Framing errors (a truncated gRPC frame, a bad
//! compression flag) stay INTERNAL, as the gRPC spec asks.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http::header::HeaderName;
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::ApiError;

/// How prost's `DecodeError` starts when tonic's codec reports it (`Status::internal` with the
/// error's text).
const DECODE_FAILURE: &str = "failed to decode Protobuf message: ";

/// The headers a trailers-only status answer carries.
const STATUS_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("grpc-status"),
    HeaderName::from_static("grpc-message"),
    HeaderName::from_static("grpc-status-details-bin"),
];

#[derive(Clone, Copy, Debug, Default)]
pub struct MalformedRequestLayer;

impl<S> Layer<S> for MalformedRequestLayer {
    type Service = MalformedRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MalformedRequests { inner }
    }
}

#[derive(Clone, Debug)]
pub struct MalformedRequests<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, ResBody> Service<http::Request<B>> for MalformedRequests<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            refuse_if_malformed(&path, &mut response);
            Ok(response)
        })
    }
}

/// Rewrites `response` in place when it is the codec's decode failure.
fn refuse_if_malformed<B>(path: &str, response: &mut http::Response<B>) {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return;
    };
    if status.code() != Code::Internal {
        return;
    }
    let Some(description) = status.message().strip_prefix(DECODE_FAILURE) else {
        return;
    };
    // prost's description names the message, the field and what was wrong with it, never the
    // bytes, so it can be logged and told to the caller.
    tracing::warn!(
        path,
        error = description,
        "refused a request body that is not a valid message (MALFORMED_REQUEST)"
    );
    let refused = Status::from(ApiError::MalformedRequest(description.to_owned()));
    let mut headers = HeaderMap::new();
    if let Err(e) = refused.add_header(&mut headers) {
        tracing::error!(path, error = %e, "could not encode the MALFORMED_REQUEST answer");
        return;
    }
    let answer = response.headers_mut();
    for name in &STATUS_HEADERS {
        answer.remove(name);
    }
    answer.extend(headers);
    response.extensions_mut().insert(refused);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt as _;
    use tower::ServiceExt as _;

    /// What the layer makes of `status` answered by the route, and what it logged.
    async fn answer(status: Status) -> (Status, String) {
        #[derive(Clone, Default)]
        struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Log {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("log").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let log = Log::default();
        let writer = log.clone();
        let _logging = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish(),
        );
        let inner = tower::service_fn(move |_: http::Request<()>| {
            let status = Status::new(status.code(), status.message());
            async move { Ok::<_, std::convert::Infallible>(status.into_http::<()>()) }
        });
        let request = http::Request::builder()
            .uri("/kontakt.referral.v1.ReferralService/ListGrants")
            .body(())
            .expect("request");
        let response = MalformedRequestLayer
            .layer(inner)
            .oneshot(request)
            .await
            .expect("answer");
        let status = Status::from_header_map(response.headers()).expect("a status in the headers");
        let logged = String::from_utf8(log.0.lock().expect("log").clone()).expect("UTF-8 log");
        (status, logged)
    }

    #[tokio::test]
    async fn a_decode_failure_becomes_invalid_argument_with_one_error_info() {
        let (status, logged) = answer(Status::internal(
            "failed to decode Protobuf message: ListGrantsRequest.parent: invalid string value: \
             data is not UTF-8 encoded",
        ))
        .await;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("ListGrantsRequest.parent"),
            "{status:?}"
        );
        assert_eq!(status.get_error_details_vec().len(), 1, "{status:?}");
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("ErrorInfo");
        assert_eq!(info.reason, "MALFORMED_REQUEST");
        assert_eq!(info.domain, crate::error::ERROR_DOMAIN);
        assert!(
            logged.contains("WARN")
                && logged.contains("MALFORMED_REQUEST")
                && logged.contains("/kontakt.referral.v1.ReferralService/ListGrants")
                && logged.contains("ListGrantsRequest.parent"),
            "{logged}"
        );
    }

    #[tokio::test]
    async fn other_answers_pass_unchanged() {
        for status in [
            Status::internal("internal error (incident x)"),
            Status::internal("Unexpected EOF decoding stream."),
            Status::not_found("failed to decode Protobuf message: not ours"),
            Status::ok(""),
        ] {
            let (code, message) = (status.code(), status.message().to_owned());
            let (seen, logged) = answer(status).await;
            assert_eq!((seen.code(), seen.message()), (code, message.as_str()));
            assert!(logged.is_empty(), "{logged}");
        }
    }
}
