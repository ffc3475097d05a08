//! The console's HTTP plumbing: its state, cookies, the signed-in session as an extractor
//! (no session, an expired one or a tampered cookie → the sign-in page), the form token check
//! on every POST, and turning a [`Problem`] into a page.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_platform::clock::SharedClock;
use maud::html;

use crate::grpc::{Services, Which};
use crate::page::{Page, page_with_status, problem_box, public_page};
use crate::problem::Problem;
use crate::session::{COOKIE, Session, SessionKey};
use crate::sign_in::SignInMethods;

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub services: Services,
    pub sessions: SessionKey,
    pub sign_in: SignInMethods,
    pub clock: SharedClock,
    /// Cookies carry `Secure` (the console is served over https, or on loopback in dev,
    /// where browsers accept secure cookies over http too).
    pub secure_cookies: bool,
    /// The address people open (`KONTAKT_CONSOLE_PUBLIC_URL`), without a trailing `/`.
    pub public_url: Option<String>,
    /// The frames finance is offered on its first screen (ids, e.g. `ishoj-vallensbaek`).
    pub frames: Vec<String>,
    /// The competence catalogue's Danish names by code, read once (it is the same for all).
    pub competences: tokio::sync::OnceCell<std::collections::HashMap<String, String>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    pub fn today(&self) -> chrono::NaiveDate {
        self.clock.today()
    }

    /// Competence codes with their Danish names (the code itself when the catalogue cannot
    /// be read now; it is tried again on the next page).
    pub async fn competence_names(
        &self,
        session: &Session,
    ) -> std::collections::HashMap<String, String> {
        if let Some(names) = self.competences.get() {
            return names.clone();
        }
        let answer = self
            .services
            .matching()
            .list_competences(crate::grpc::request(
                session,
                "console: competence catalogue",
                kontakt_proto::matching::v1::ListCompetencesRequest {
                    page_size: 500,
                    ..Default::default()
                },
            ))
            .await;
        match answer {
            Ok(list) => {
                let names: std::collections::HashMap<_, _> = list
                    .into_inner()
                    .competences
                    .into_iter()
                    .map(|c| (c.code, c.display_name))
                    .collect();
                let _ = self.competences.set(names.clone());
                names
            }
            Err(_) => std::collections::HashMap::new(),
        }
    }

    /// `Set-Cookie` for a session.
    pub fn session_cookie(&self, session: &Session) -> HeaderValue {
        let max_age = (session.person.expires_at - self.now()).max(0);
        self.cookie(COOKIE, &self.sessions.seal(session), max_age)
    }

    /// A cookie of the console's: HttpOnly, SameSite=Lax (sent on the identity provider's
    /// redirect back, not on another site's form posts), Secure, path `/`.
    pub fn cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("kontakt_invalid=; Max-Age=0"))
    }

    pub fn clear_cookie(&self, name: &str) -> HeaderValue {
        self.cookie(name, "", 0)
    }
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The signed-in person's session. A handler that takes it is only reached with a valid,
/// unexpired session; everyone else is sent to sign in (and brought back afterwards).
pub struct Signed(pub Session);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = cookie(&parts.headers, COOKIE).and_then(|value| state.sessions.open(value));
        match session {
            Some(session) if !session.expired(state.now()) => Ok(Signed(session)),
            stale => {
                let back = parts.uri.path().to_owned();
                let reason = if stale.is_some() { "udloebet" } else { "" };
                let target = sign_in_url(&back, reason);
                let mut response = Redirect::to(&target).into_response();
                // An expired session, or a cookie this console did not seal: dropped.
                if cookie(&parts.headers, COOKIE).is_some() {
                    response
                        .headers_mut()
                        .append(header::SET_COOKIE, state.clear_cookie(COOKIE));
                }
                Err(response)
            }
        }
    }
}

/// `/log-ind?tilbage=/koordinator` (only local paths are ever taken back to).
pub fn sign_in_url(back: &str, reason: &str) -> String {
    let mut url = String::from("/log-ind");
    let mut sep = '?';
    if back.starts_with('/') && !back.starts_with("//") && back != "/" && !back.starts_with("/log")
    {
        url.push_str(&format!("{sep}tilbage={}", encode(back)));
        sep = '&';
    }
    if !reason.is_empty() {
        url.push_str(&format!("{sep}grund={reason}"));
    }
    url
}

/// Percent-encodes a path for a query string.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Refuses a form whose token is not the session's (another site's form, a stale page after
/// signing in again). Compared in constant time.
pub fn check_csrf(session: &Session, sent: &str) -> Result<(), Response> {
    let expected = session.csrf.as_bytes();
    let sent = sent.as_bytes();
    let same = expected.len() == sent.len()
        && expected
            .iter()
            .zip(sent)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        tracing::warn!(subject = %session.person.subject, "a form without its session's token was refused");
        Err(public_page(
            StatusCode::FORBIDDEN,
            "Formularen blev afvist",
            html! {
                p { "Formularen kom ikke fra denne side i Kontakt, eller siden var for gammel. Intet er gemt." }
                p { a href="/" { "Gå til forsiden" } " og prøv igen." }
            },
        )
        .into_response())
    }
}

/// A page that says what went wrong (an expired token sends the person to sign in again).
pub fn problem_page(session: &Session, problem: &Problem, current: &str) -> Response {
    if problem.sign_in_again {
        return Redirect::to(&sign_in_url(current, "udloebet")).into_response();
    }
    page_with_status(
        session,
        problem.http_status(),
        &problem.title,
        current,
        html! {
            (problem_box(problem))
            p { a href=(current) { "Tilbage" } }
        },
    )
    .into_response()
}

/// A failed call as a page.
pub fn status_page(
    session: &Session,
    status: &tonic::Status,
    which: Which,
    current: &str,
) -> Response {
    log_failure(status, which, current);
    problem_page(session, &Problem::from_status(status, which), current)
}

/// A form body; one that cannot be read (a field missing or not a number, another site's
/// garbage) is a plain Danish page, not axum's English text.
pub struct Form<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Form<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(Form(value)),
            Err(rejection) => {
                tracing::info!(error = %rejection, "a form that could not be read");
                Err(public_page(
                    StatusCode::BAD_REQUEST,
                    "Formularen kunne ikke læses",
                    html! {
                        p { "Et felt manglede eller havde en forkert værdi. Intet er gemt." }
                        p { a href="/" { "Gå til forsiden" } " og prøv igen." }
                    },
                )
                .into_response())
            }
        }
    }
}

/// A call that failed on the service's side (not the person's mistake) is logged with its
/// code, the service's message and incident id, never the token or the page's data.
pub fn log_failure(status: &tonic::Status, which: Which, current: &str) {
    use tonic::Code;
    if matches!(
        status.code(),
        Code::Internal
            | Code::Unknown
            | Code::DataLoss
            | Code::Unimplemented
            | Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::OutOfRange
            | Code::Cancelled
    ) {
        let message: String = status.message().chars().take(300).collect();
        tracing::warn!(
            service = which.danish(),
            code = ?status.code(),
            page = current,
            message = %message,
            "a service call failed"
        );
    }
}

/// Either a page or the response that replaces it (a redirect, a problem).
pub type Answer = Result<Page, Response>;

/// The ok value of a call, or the problem page for it.
pub fn or_page<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
    session: &Session,
    which: Which,
    current: &str,
) -> Result<T, Response> {
    result
        .map(tonic::Response::into_inner)
        .map_err(|status| status_page(session, &status, which, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_taken_back_to_after_sign_in() {
        assert_eq!(
            sign_in_url("/koordinator", ""),
            "/log-ind?tilbage=/koordinator"
        );
        assert_eq!(sign_in_url("//evil.example", ""), "/log-ind");
        assert_eq!(sign_in_url("https://evil.example", ""), "/log-ind");
        assert_eq!(sign_in_url("/", "udloebet"), "/log-ind?grund=udloebet");
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kontakt_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
