//! The whole console over HTTP: `serve` with the test IdP as its identity provider and the
//! four services on ports where nothing listens, driven like a browser (redirects and cookies
//! by hand).

use std::collections::HashMap;
use std::sync::Arc;

use kontakt_console::oidc::OidcSettings;
use openidconnect::url::Url;

use crate::idp::*;

/// The console's cookies.
pub(crate) const SESSION: &str = "kontakt_session";
pub(crate) const FORM: &str = "kontakt_form";
pub(crate) const PENDING: &str = "kontakt_oidc";

/// A console served for one test; dropping it stops the console.
pub(crate) struct Console {
    pub(crate) base: String,
    pub(crate) idp: Shared,
    pub(crate) _stop: tokio::sync::oneshot::Sender<()>,
}

/// A port on 127.0.0.1 where nothing listens (bound, then let go).
pub(crate) async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    format!("http://{}", listener.local_addr().expect("an address"))
}

/// Starts the IdP and the console signing in with it, and waits until the console answers.
pub(crate) async fn start_console() -> Console {
    let idp = start_idp().await;
    let issuer = lock(&idp).issuer.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let launch = kontakt_console::Launch {
        listener,
        services: kontakt_console::grpc::ServiceUrls {
            referral: closed_port().await,
            matching: closed_port().await,
            timecost: closed_port().await,
            followup: closed_port().await,
        },
        settings: kontakt_console::ConsoleSettings {
            console_public_url: Some(base.clone()),
            console_session_key_file: None,
            console_frames: vec![],
            oidc: OidcSettings {
                issuer_url: Some(issuer),
                client_id: Some(CLIENT_ID.to_owned()),
                ..Default::default()
            },
        },
        dev_key: None,
        clock: Arc::new(kontakt_platform::clock::SystemClock),
        tls: kontakt_platform::tls::TlsSettings::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(kontakt_console::serve(launch, async move {
        // Told to stop, or the test (the sender) is gone: either way the console stops.
        stopped.await.ok();
    }));
    // The listener is bound, so a request waits for discovery; if start-up fails the
    // connection is dropped, and the error is the task's.
    let ready = reqwest::get(format!("{base}/healthz")).await;
    if !matches!(&ready, Ok(r) if r.status() == reqwest::StatusCode::OK) {
        let outcome = server.await.expect("the console task");
        panic!("the console did not start: {ready:?}, {outcome:?}");
    }
    Console {
        base,
        idp,
        _stop: stop,
    }
}

/// An answer as the test reads it.
pub(crate) struct Answer {
    pub(crate) status: reqwest::StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) set_cookies: Vec<String>,
    pub(crate) cache_control: Option<String>,
    pub(crate) body: String,
}

impl Answer {
    /// The `Set-Cookie` line for `name`, if the answer set or cleared it.
    pub(crate) fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.set_cookies
            .iter()
            .map(String::as_str)
            .find(|line| line.starts_with(&prefix))
    }

    pub(crate) fn location(&self) -> &str {
        self.location.as_deref().expect("a Location")
    }
}

/// A browser with its own cookie jar, following nothing by itself.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookies: std::collections::BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new(console: &Console) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            base: console.base.clone(),
            cookies: std::collections::BTreeMap::new(),
        }
    }

    pub(crate) fn url(&self, target: &str) -> String {
        if target.starts_with("http") {
            target.to_owned()
        } else {
            format!("{}{target}", self.base)
        }
    }

    pub(crate) async fn get(&mut self, target: &str) -> Answer {
        let request = self.http.get(self.url(target));
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, target: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(self.url(target)).form(form);
        self.send(request).await
    }

    /// Sends the jar's cookies and keeps what the answer sets (a cookie cleared with
    /// `Max-Age=0` leaves the jar). Cookies are not expired by age: the console must refuse
    /// an old one itself.
    pub(crate) async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Answer {
        if !self.cookies.is_empty() {
            let line: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header(reqwest::header::COOKIE, line.join("; "));
        }
        let response = request.send().await.expect("the console answers");
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("ASCII").to_owned())
        };
        let location = header(reqwest::header::LOCATION);
        let cache_control = header(reqwest::header::CACHE_CONTROL);
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ASCII").to_owned())
            .collect();
        for line in &set_cookies {
            let pair = line.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if line.split(';').any(|a| a.trim() == "Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: response.status(),
            location,
            set_cookies,
            cache_control,
            body: response.text().await.expect("a body"),
        }
    }
}

/// The value of the page's hidden `csrf` input.
pub(crate) fn form_token(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let len = html[start..].find('"').expect("the end of the value");
    html[start..start + len].to_owned()
}

/// A cookie line's attributes, e.g. `["Path=/", "HttpOnly", …]`.
pub(crate) fn attributes(line: &str) -> Vec<&str> {
    line.split(';').skip(1).map(str::trim).collect()
}

/// Opens the sign-in page, posts its form and lets the IdP sign the person in: the callback
/// URL the IdP redirects back to.
pub(crate) async fn to_the_idp_and_back(browser: &mut Browser, idp: &Shared) -> Url {
    let page = browser.get("/log-ind").await;
    assert_eq!(page.status, reqwest::StatusCode::OK);
    let csrf = form_token(&page.body);
    assert!(
        page.body.contains(r#"action="/log-ind/oidc""#),
        "{}",
        page.body
    );
    assert_eq!(
        browser.cookies.get(FORM),
        Some(&csrf),
        "the form token is the form cookie's"
    );

    let start = browser
        .post("/log-ind/oidc", &[("csrf", &csrf), ("tilbage", "")])
        .await;
    assert!(
        start.status == reqwest::StatusCode::SEE_OTHER
            || start.status == reqwest::StatusCode::FOUND,
        "{}",
        start.status
    );
    let authorize = Url::parse(start.location()).expect("a URL");
    let issuer = lock(idp).issuer.clone();
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{issuer}/authorize?")),
        "{authorize}"
    );
    let query: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    let redirect = format!("{}/auth/callback", browser.base);
    assert_eq!(query.get("redirect_uri"), Some(&redirect));
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    let pending = start
        .set_cookie(PENDING)
        .expect("the pending sign-in's cookie");
    let attrs = attributes(pending);
    for wanted in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(attrs.contains(&wanted), "{wanted} in {pending}");
    }
    assert!(browser.cookies.contains_key(PENDING));

    // At the IdP (another host in production) without the console's cookies.
    let at_idp = browser
        .http
        .get(authorize.as_str())
        .send()
        .await
        .expect("the IdP");
    let callback = redirected_to(&at_idp);
    assert!(
        callback.as_str().starts_with(&format!("{redirect}?")),
        "{callback}"
    );
    callback
}

/// Signs in all the way: the callback's answer.
pub(crate) async fn sign_in(browser: &mut Browser, idp: &Shared) -> Answer {
    let callback = to_the_idp_and_back(browser, idp).await;
    let answer = browser.get(callback.as_str()).await;
    assert_eq!(
        answer.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        answer.body
    );
    assert!(browser.cookies.contains_key(SESSION), "signed in");
    answer
}

/// `callback` with its `state` replaced.
pub(crate) fn with_state(callback: &Url, state: &str) -> Url {
    let pairs: Vec<(String, String)> = callback.query_pairs().into_owned().collect();
    let mut forged = callback.clone();
    forged.query_pairs_mut().clear();
    for (name, value) in pairs {
        let value = if name == "state" {
            state.to_owned()
        } else {
            value
        };
        forged.query_pairs_mut().append_pair(&name, &value);
    }
    forged
}

/// Asserts the browser holds no session: the coordinator's queue sends it to sign in.
pub(crate) async fn assert_signed_out(browser: &mut Browser) {
    assert!(!browser.cookies.contains_key(SESSION));
    let queue = browser.get("/koordinator").await;
    assert_eq!(queue.status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(queue.location(), "/log-ind?tilbage=/koordinator");
}

/// Asserts the page is the console's "service down" page for the coordinator, signed in.
pub(crate) fn assert_matching_is_down(answer: &Answer) {
    assert_eq!(
        answer.status,
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
        "{:?} {}",
        answer.location,
        answer.body
    );
    assert!(
        answer.body.contains("Tjenesten svarer ikke lige nu"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("matchning"), "{}", answer.body);
    assert!(
        answer.body.contains("Anna Koordinator"),
        "the header names her"
    );
    assert!(
        answer.body.contains(r#"action="/log-ud""#),
        "a sign-out form"
    );
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}
