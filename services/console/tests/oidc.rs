//! OIDC sign-in against a small identity provider this test starts itself: discovery, a JWKS
//! with an ES256 key, `/authorize` that signs in a fixed person, and `/token` that checks the
//! PKCE verifier against the recorded S256 challenge and issues a signed ID token.
//!
//! The first tests drive [`Oidc`] directly; the last ones serve the whole console against the
//! same IdP and sign in over HTTP as a browser would (form token, redirect to the IdP, callback,
//! session cookie, sign-out, expiry).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kontakt_console::oidc::{self, Oidc, OidcError, OidcSettings, PendingSignIn, ServiceToken};
use kontakt_console::session::SignedIn;
use openidconnect::url::Url;
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const CLIENT_ID: &str = "kontakt-console";
const REDIRECT: &str = "http://console.test/auth/callback";

/// An ES256 key: its JWK (public) and what signs with it.
#[derive(Clone)]
struct Key {
    jwk: Value,
    encoding: EncodingKey,
    kid: String,
}

fn key(kid: &str) -> Key {
    let signing = SigningKey::random(&mut rand_core::OsRng);
    let point = signing.verifying_key().to_encoded_point(false);
    let x = URL_SAFE_NO_PAD.encode(point.x().expect("affine x"));
    let y = URL_SAFE_NO_PAD.encode(point.y().expect("affine y"));
    let der = signing.to_pkcs8_der().expect("pkcs8");
    Key {
        jwk: json!({ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": x, "y": y }),
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        kid: kid.to_owned(),
    }
}

/// What `/authorize` recorded for a code.
struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

/// The identity provider's state; tests change it to misbehave.
struct Idp {
    issuer: String,
    /// The keys in the JWKS.
    published: Vec<Key>,
    /// The key ID tokens are signed with (normally the first published one).
    signer: Key,
    grants: HashMap<String, Grant>,
    /// The person's claims beyond iss/aud/sub/nonce/exp/iat.
    claims: Value,
    id_ttl: i64,
    access_ttl: i64,
    audience: String,
    /// Put another nonce in the ID token than the one sent.
    wrong_nonce: bool,
    /// Put the at_hash of another access token in the ID token.
    wrong_at_hash: bool,
    /// Every `/authorize` request's PKCE method and nonce.
    authorize_requests: Vec<(String, String)>,
    token_requests: usize,
    jwks_requests: usize,
    access_token: String,
    id_token: String,
}

type Shared = Arc<Mutex<Idp>>;

fn lock(idp: &Shared) -> MutexGuard<'_, Idp> {
    idp.lock().expect("the IdP's lock")
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn discovery(State(idp): State<Shared>) -> Response {
    let issuer = lock(&idp).issuer.clone();
    json_response(
        StatusCode::OK,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        }),
    )
}

async fn jwks(State(idp): State<Shared>) -> Response {
    let mut idp = lock(&idp);
    idp.jwks_requests += 1;
    let keys: Vec<Value> = idp.published.iter().map(|k| k.jwk.clone()).collect();
    json_response(StatusCode::OK, json!({ "keys": keys }))
}

/// "Signs in" the fixed test person at once and redirects back with a code.
async fn authorize(
    State(idp): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let mut idp = lock(&idp);
    idp.authorize_requests
        .push((param("code_challenge_method"), param("nonce")));
    if param("response_type") != "code"
        || param("client_id") != CLIENT_ID
        || param("code_challenge_method") != "S256"
        || param("code_challenge").is_empty()
        || !param("scope").split(' ').any(|s| s == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = format!("code-{}", idp.grants.len() + 1);
    idp.grants.insert(
        code.clone(),
        Grant {
            challenge: param("code_challenge"),
            nonce: param("nonce"),
            redirect_uri: param("redirect_uri"),
        },
    );
    let mut back = Url::parse(&param("redirect_uri")).expect("a redirect URI");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(idp): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let param = |name: &str| form.get(name).cloned().unwrap_or_default();
    let mut idp = lock(&idp);
    idp.token_requests += 1;
    let invalid_grant = |why: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_grant", "error_description": why }),
        )
    };
    if param("grant_type") != "authorization_code" {
        return invalid_grant("not an authorization code");
    }
    // A code is used once.
    let Some(grant) = idp.grants.remove(&param("code")) else {
        return invalid_grant("unknown code");
    };
    if grant.redirect_uri != param("redirect_uri") {
        return invalid_grant("another redirect_uri");
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(param("code_verifier").as_bytes()));
    if challenge != grant.challenge {
        return invalid_grant("the code_verifier does not match the code_challenge");
    }

    let now = now_secs();
    let access_token = format!("access-{}", kontakt_console::session::random_token());
    // at_hash: the left half of SHA-256 of the access token (ES256).
    let hashed = if idp.wrong_at_hash {
        "another-access-token"
    } else {
        access_token.as_str()
    };
    let digest = Sha256::digest(hashed.as_bytes());
    let at_hash = URL_SAFE_NO_PAD.encode(&digest[..16]);
    let mut claims = json!({
        "iss": idp.issuer,
        "aud": idp.audience,
        "sub": "anna",
        "nonce": if idp.wrong_nonce { "another-nonce".to_owned() } else { grant.nonce },
        "iat": now,
        "exp": now + idp.id_ttl,
        "at_hash": at_hash,
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), idp.claims.as_object()) {
        claims.extend(extra.clone());
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(idp.signer.kid.clone());
    let id_token =
        jsonwebtoken::encode(&header, &claims, &idp.signer.encoding).expect("signing the ID token");
    idp.access_token = access_token.clone();
    idp.id_token = id_token.clone();
    json_response(
        StatusCode::OK,
        json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": idp.access_ttl,
            "id_token": id_token,
        }),
    )
}

/// Starts the IdP on a port of its own; its issuer is `http://127.0.0.1:<port>`.
async fn start_idp() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let issuer = format!("http://{}", listener.local_addr().expect("an address"));
    let first = key("idp-key-1");
    let idp = Arc::new(Mutex::new(Idp {
        issuer,
        published: vec![first.clone()],
        signer: first,
        grants: HashMap::new(),
        claims: json!({
            "name": "Anna Koordinator",
            "kontakt_roles": ["coordinator", "finance"],
            "kontakt_municipalities": [183, "187"],
        }),
        id_ttl: 3600,
        access_ttl: 300,
        audience: CLIENT_ID.to_owned(),
        wrong_nonce: false,
        wrong_at_hash: false,
        authorize_requests: Vec::new(),
        token_requests: 0,
        jwks_requests: 0,
        access_token: String::new(),
        id_token: String::new(),
    }));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(idp.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("the IdP serves");
    });
    idp
}

/// Starts the IdP and discovers it with the settings `configure` leaves.
async fn setup(configure: impl FnOnce(&mut OidcSettings)) -> (Shared, Oidc) {
    let idp = start_idp().await;
    let issuer = lock(&idp).issuer.clone();
    let mut settings = OidcSettings {
        issuer_url: Some(issuer),
        client_id: Some(CLIENT_ID.to_owned()),
        client_secret_file: None,
        scopes: "openid profile".into(),
        roles_claim: "kontakt_roles".into(),
        municipalities_claim: "kontakt_municipalities".into(),
        contact_person_claim: "kontakt_contact_person".into(),
        service_token: ServiceToken::Access,
    };
    configure(&mut settings);
    let oidc = oidc::discover(&settings, REDIRECT.to_owned())
        .await
        .expect("discovery");
    (idp, oidc)
}

/// Where the identity provider's answer (a 302) sends the browser back to.
fn redirected_to(response: &reqwest::Response) -> Url {
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a redirect")
        .to_str()
        .expect("ASCII");
    Url::parse(location).expect("a URL")
}

/// Plays the browser: starts a sign-in, follows it to the IdP and reads the callback's code
/// and state from the redirect.
async fn authorize_at_idp(oidc: &Oidc) -> (PendingSignIn, String, String) {
    let (url, pending) = oidc.start(now_secs());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let response = browser.get(url.as_str()).send().await.expect("the IdP");
    let callback = redirected_to(&response);
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    let pairs: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    (
        pending,
        pairs.get("code").expect("a code").clone(),
        pairs.get("state").expect("a state").clone(),
    )
}

/// A whole sign-in, the browser's part played by [`authorize_at_idp`]: what `finish` makes of
/// the callback.
async fn finish_sign_in(oidc: &Oidc) -> Result<SignedIn, OidcError> {
    let (pending, code, state) = authorize_at_idp(oidc).await;
    oidc.finish(pending, &state, &code, now_secs()).await
}

#[tokio::test]
async fn a_full_sign_in_yields_the_person() {
    let (idp, oidc) = setup(|_| {}).await;
    let (pending, code, state) = authorize_at_idp(&oidc).await;
    {
        let idp = lock(&idp);
        assert_eq!(
            idp.authorize_requests,
            [("S256".to_owned(), pending.nonce.clone())],
            "PKCE S256 and the nonce were sent"
        );
    }
    let before = now_secs();
    let person = oidc
        .finish(pending, &state, &code, now_secs())
        .await
        .expect("signed in");
    let idp = lock(&idp);
    assert_eq!(person.subject, "anna");
    assert_eq!(person.name, "Anna Koordinator");
    assert_eq!(person.roles, ["coordinator", "finance"]);
    assert_eq!(person.municipalities, ["183", "187"]);
    assert_eq!(person.contact_person, None);
    assert_eq!(
        person.token, idp.access_token,
        "the access token by default"
    );
    // The access token (300 s) ends before the ID token (3600 s).
    assert!(
        (before + 295..=before + 305).contains(&person.expires_at),
        "expires_at {} for a sign-in at {before}",
        person.expires_at
    );
    assert_eq!(idp.token_requests, 1);
}

#[tokio::test]
async fn the_id_token_can_be_the_service_token_and_its_expiry_counts() {
    let (idp, oidc) = setup(|s| s.service_token = ServiceToken::Id).await;
    lock(&idp).id_ttl = 120;
    let (pending, code, state) = authorize_at_idp(&oidc).await;
    let before = now_secs();
    let person = oidc
        .finish(pending, &state, &code, now_secs())
        .await
        .expect("signed in");
    let idp = lock(&idp);
    assert_eq!(person.token, idp.id_token);
    assert_eq!(person.token.split('.').count(), 3);
    assert!((before + 115..=before + 125).contains(&person.expires_at));
}

#[tokio::test]
async fn a_wrong_state_is_refused_before_the_code_is_used() {
    let (idp, oidc) = setup(|_| {}).await;
    let (pending, code, _state) = authorize_at_idp(&oidc).await;
    let error = oidc
        .finish(pending, "forged-state", &code, now_secs())
        .await
        .expect_err("refused");
    assert!(matches!(error, OidcError::StateMismatch), "{error:?}");
    assert!(!error.danish().is_empty());
    assert_eq!(lock(&idp).token_requests, 0);
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_by_the_provider() {
    let (idp, oidc) = setup(|_| {}).await;
    let (mut pending, code, state) = authorize_at_idp(&oidc).await;
    let (_, other) = oidc.start(now_secs());
    pending.pkce_verifier = other.pkce_verifier;
    let error = oidc
        .finish(pending, &state, &code, now_secs())
        .await
        .expect_err("refused");
    assert!(matches!(error, OidcError::Provider(_)), "{error:?}");
    assert!(error.to_string().contains("invalid_grant"), "{error}");
    assert_eq!(lock(&idp).token_requests, 1);
}

#[tokio::test]
async fn an_id_token_signed_by_another_key_is_refused() {
    let (idp, oidc) = setup(|_| {}).await;
    // Another key under the published key's id.
    lock(&idp).signer = key("idp-key-1");
    let error = finish_sign_in(&oidc).await.expect_err("refused");
    assert!(matches!(error, OidcError::Token(_)), "{error:?}");
    let idp_tokens = {
        let idp = lock(&idp);
        (idp.id_token.clone(), idp.access_token.clone())
    };
    assert!(
        error.to_string().contains("Signature verification failed"),
        "{error}"
    );
    assert!(
        !error.to_string().contains(&idp_tokens.0),
        "no token in errors"
    );
    assert!(
        !error.to_string().contains(&idp_tokens.1),
        "no token in errors"
    );

    // A key the provider never published: the keys are fetched again, and still refused.
    lock(&idp).signer = key("unpublished");
    let error = finish_sign_in(&oidc).await.expect_err("refused");
    assert!(matches!(error, OidcError::Token(_)), "{error:?}");
    assert!(error.to_string().contains("No matching key"), "{error}");
    assert_eq!(lock(&idp).jwks_requests, 2);
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_and_accepted() {
    let (idp, oidc) = setup(|_| {}).await;
    {
        let mut idp = lock(&idp);
        let second = key("idp-key-2");
        idp.published.push(second.clone());
        idp.signer = second;
    }
    let person = finish_sign_in(&oidc).await.expect("signed in");
    assert_eq!(person.subject, "anna");
    assert_eq!(lock(&idp).jwks_requests, 2);
}

/// Makes the IdP issue a token that must be refused.
type Misbehave = fn(&mut Idp);

#[tokio::test]
async fn a_token_for_another_client_nonce_or_access_token_or_expired_is_refused() {
    let (idp, oidc) = setup(|_| {}).await;
    let cases: [(Misbehave, &str); 4] = [
        (
            |idp| idp.audience = "another-client".into(),
            "Invalid audiences",
        ),
        (|idp| idp.wrong_nonce = true, "Invalid nonce"),
        (|idp| idp.id_ttl = -120, "Expired"),
        (|idp| idp.wrong_at_hash = true, "at_hash"),
    ];
    for (case, reason) in cases {
        {
            let mut idp = lock(&idp);
            idp.audience = CLIENT_ID.into();
            idp.wrong_nonce = false;
            idp.wrong_at_hash = false;
            idp.id_ttl = 3600;
            case(&mut idp);
        }
        let error = finish_sign_in(&oidc).await.expect_err("refused");
        assert!(matches!(error, OidcError::Token(_)), "{error:?}");
        assert!(error.to_string().contains(reason), "{error}");
    }
}

#[tokio::test]
async fn an_expired_pending_sign_in_is_refused() {
    let (idp, oidc) = setup(|_| {}).await;
    let (mut pending, code, state) = authorize_at_idp(&oidc).await;
    pending.created_at -= oidc::PENDING_TTL_SECS + 1;
    let error = oidc
        .finish(pending, &state, &code, now_secs())
        .await
        .expect_err("refused");
    assert!(matches!(error, OidcError::Expired), "{error:?}");
    assert_eq!(lock(&idp).token_requests, 0);
}

#[tokio::test]
async fn a_pending_sign_in_survives_a_cookie_round_trip() {
    let (_idp, oidc) = setup(|_| {}).await;
    let (pending, code, state) = authorize_at_idp(&oidc).await;
    let cookie = serde_json::to_string(&pending).expect("serialises");
    let pending: PendingSignIn = serde_json::from_str(&cookie).expect("deserialises");
    oidc.finish(pending, &state, &code, now_secs())
        .await
        .expect("signed in");
}

#[tokio::test]
async fn claim_names_are_configurable() {
    let (idp, oidc) = setup(|s| {
        s.roles_claim = "groups".into();
        s.municipalities_claim = "kommuner".into();
        s.contact_person_claim = "kontaktperson".into();
    })
    .await;
    lock(&idp).claims = json!({
        "preferred_username": "anna.holm",
        "groups": "contact_person counsellor",
        "kommuner": "183 329",
        "kontaktperson": "serviceUnits/ishoejgaard/contactPersons/anna-holm",
        "kontakt_roles": ["admin"],
    });
    let person = finish_sign_in(&oidc).await.expect("signed in");
    assert_eq!(person.roles, ["contact_person", "counsellor"]);
    assert_eq!(person.municipalities, ["183", "329"]);
    assert_eq!(
        person.name, "anna.holm",
        "preferred_username without a name"
    );
    assert_eq!(
        person.contact_person.as_deref(),
        Some("serviceUnits/ishoejgaard/contactPersons/anna-holm")
    );
}

#[tokio::test]
async fn malformed_kontakt_claims_are_refused() {
    let (idp, oidc) = setup(|_| {}).await;
    lock(&idp).claims = json!({ "kontakt_roles": [{ "role": "admin" }] });
    let error = finish_sign_in(&oidc).await.expect_err("refused");
    assert!(matches!(error, OidcError::Claims(_)), "{error:?}");
}

#[tokio::test]
async fn the_logout_url_comes_from_discovery() {
    let (idp, oidc) = setup(|_| {}).await;
    let url = oidc
        .end_session_url(None, Some("http://console.test/"))
        .expect("an end_session_endpoint");
    let issuer = lock(&idp).issuer.clone();
    assert!(
        url.as_str().starts_with(&format!("{issuer}/logout?")),
        "{url}"
    );
    let pairs: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(
        pairs.get("post_logout_redirect_uri").map(String::as_str),
        Some("http://console.test/")
    );
}

#[tokio::test]
async fn discovery_needs_a_client_id_and_a_reachable_issuer() {
    let settings = OidcSettings {
        issuer_url: Some("http://127.0.0.1:1".into()),
        client_id: None,
        client_secret_file: None,
        scopes: "openid".into(),
        roles_claim: "kontakt_roles".into(),
        municipalities_claim: "kontakt_municipalities".into(),
        contact_person_claim: "kontakt_contact_person".into(),
        service_token: ServiceToken::Access,
    };
    let error = oidc::discover(&settings, REDIRECT.into())
        .await
        .expect_err("no client id");
    assert!(matches!(error, OidcError::Config(_)), "{error:?}");
    let settings = OidcSettings {
        client_id: Some(CLIENT_ID.into()),
        ..settings
    };
    let error = oidc::discover(&settings, REDIRECT.into())
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, OidcError::Discovery(_)), "{error:?}");
    assert!(settings.enabled());
    let off = OidcSettings {
        issuer_url: None,
        ..settings
    };
    assert!(!off.enabled(), "no issuer, no OIDC");
}

// The whole console over HTTP: `serve` with this IdP as its identity provider and the four
// services on ports where nothing listens, driven like a browser (redirects and cookies by
// hand).

/// The console's cookies.
const SESSION: &str = "kontakt_session";
const FORM: &str = "kontakt_form";
const PENDING: &str = "kontakt_oidc";

/// A console served for one test; dropping it stops the console.
struct Console {
    base: String,
    idp: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A port on 127.0.0.1 where nothing listens (bound, then let go).
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    format!("http://{}", listener.local_addr().expect("an address"))
}

/// Starts the IdP and the console signing in with it, and waits until the console answers.
async fn start_console() -> Console {
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
struct Answer {
    status: reqwest::StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    cache_control: Option<String>,
    body: String,
}

impl Answer {
    /// The `Set-Cookie` line for `name`, if the answer set or cleared it.
    fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.set_cookies
            .iter()
            .map(String::as_str)
            .find(|line| line.starts_with(&prefix))
    }

    fn location(&self) -> &str {
        self.location.as_deref().expect("a Location")
    }
}

/// A browser with its own cookie jar, following nothing by itself.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Browser {
    fn new(console: &Console) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            base: console.base.clone(),
            cookies: std::collections::BTreeMap::new(),
        }
    }

    fn url(&self, target: &str) -> String {
        if target.starts_with("http") {
            target.to_owned()
        } else {
            format!("{}{target}", self.base)
        }
    }

    async fn get(&mut self, target: &str) -> Answer {
        let request = self.http.get(self.url(target));
        self.send(request).await
    }

    async fn post(&mut self, target: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.http.post(self.url(target)).form(form);
        self.send(request).await
    }

    /// Sends the jar's cookies and keeps what the answer sets (a cookie cleared with
    /// `Max-Age=0` leaves the jar). Cookies are not expired by age: the console must refuse
    /// an old one itself.
    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Answer {
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
fn form_token(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let len = html[start..].find('"').expect("the end of the value");
    html[start..start + len].to_owned()
}

/// A cookie line's attributes, e.g. `["Path=/", "HttpOnly", …]`.
fn attributes(line: &str) -> Vec<&str> {
    line.split(';').skip(1).map(str::trim).collect()
}

/// Opens the sign-in page, posts its form and lets the IdP sign the person in: the callback
/// URL the IdP redirects back to.
async fn to_the_idp_and_back(browser: &mut Browser, idp: &Shared) -> Url {
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
async fn sign_in(browser: &mut Browser, idp: &Shared) -> Answer {
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
fn with_state(callback: &Url, state: &str) -> Url {
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
async fn assert_signed_out(browser: &mut Browser) {
    assert!(!browser.cookies.contains_key(SESSION));
    let queue = browser.get("/koordinator").await;
    assert_eq!(queue.status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(queue.location(), "/log-ind?tilbage=/koordinator");
}

/// Asserts the page is the console's "service down" page for the coordinator, signed in.
fn assert_matching_is_down(answer: &Answer) {
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

#[tokio::test]
async fn a_person_signs_in_through_the_identity_provider_and_gets_a_secure_httponly_session() {
    let console = start_console().await;
    let mut browser = Browser::new(&console);
    let signed_in = sign_in(&mut browser, &console.idp).await;

    assert_eq!(
        signed_in.location(),
        "/koordinator",
        "a coordinator's first screen"
    );
    let session = signed_in.set_cookie(SESSION).expect("a session cookie");
    let attrs = attributes(session);
    for wanted in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(attrs.contains(&wanted), "{wanted} in {session}");
    }
    // The session lasts as long as the access token (300 s), no longer.
    let max_age: i64 = attrs
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age="))
        .expect("a Max-Age")
        .parse()
        .expect("seconds");
    assert!((295..=300).contains(&max_age), "{session}");
    // The pending sign-in and the form token are done with.
    for done in [PENDING, FORM] {
        let cleared = signed_in.set_cookie(done).expect("cleared");
        assert!(attributes(cleared).contains(&"Max-Age=0"), "{cleared}");
        assert!(!browser.cookies.contains_key(done));
    }

    let (access_token, id_token) = {
        let idp = lock(&console.idp);
        assert_eq!(idp.token_requests, 1);
        (idp.access_token.clone(), idp.id_token.clone())
    };
    assert!(!access_token.is_empty() && !id_token.is_empty());
    let sealed = browser.cookies[SESSION].clone();
    assert!(!sealed.contains(&access_token), "the cookie is sealed");

    // The services are down: the console's own page, still signed in, and no token in it.
    let queue = browser.get("/koordinator").await;
    assert_matching_is_down(&queue);
    assert!(
        !queue.body.contains(&access_token),
        "no access token in the page"
    );
    assert!(!queue.body.contains(&id_token), "no ID token in the page");
    for part in id_token.split('.').skip(1) {
        assert!(
            !queue.body.contains(part),
            "no part of the ID token in the page"
        );
    }
    assert!(
        !queue.body.contains(&sealed),
        "no session cookie in the page"
    );
}

#[tokio::test]
async fn a_callback_with_another_state_or_without_the_pending_cookie_is_refused() {
    let console = start_console().await;

    // Another state: a forged one, and an earlier sign-in's while a later one is pending.
    let mut browser = Browser::new(&console);
    let callback = to_the_idp_and_back(&mut browser, &console.idp).await;
    let forged = browser
        .get(with_state(&callback, "forged-state").as_str())
        .await;

    let mut other = Browser::new(&console);
    let earlier = to_the_idp_and_back(&mut other, &console.idp).await;
    let _later = to_the_idp_and_back(&mut other, &console.idp).await;
    let crossed = other.get(earlier.as_str()).await;

    // No pending cookie (another browser, or it expired), or one the console did not seal.
    let mut third = Browser::new(&console);
    let callback = to_the_idp_and_back(&mut third, &console.idp).await;
    third.cookies.remove(PENDING);
    let without = third.get(callback.as_str()).await;
    third
        .cookies
        .insert(PENDING.to_owned(), "not-a-sealed-sign-in".to_owned());
    let tampered = third.get(callback.as_str()).await;

    for (case, answer) in [
        ("a forged state", &forged),
        ("another sign-in's state", &crossed),
        ("no pending cookie", &without),
        ("a tampered pending cookie", &tampered),
    ] {
        assert_eq!(
            answer.status,
            reqwest::StatusCode::UNAUTHORIZED,
            "{case}: {}",
            answer.body
        );
        assert!(answer.body.contains("Log ind mislykkedes"), "{case}");
        assert!(answer.set_cookie(SESSION).is_none(), "{case}: no session");
        assert!(answer.location.is_none(), "{case}");
    }
    assert_eq!(
        lock(&console.idp).token_requests,
        0,
        "no code was exchanged"
    );
    for browser in [&mut browser, &mut other, &mut third] {
        assert_signed_out(browser).await;
    }
}

#[tokio::test]
async fn a_sign_in_form_without_its_form_token_is_refused() {
    let console = start_console().await;
    let mut browser = Browser::new(&console);
    let page = browser.get("/log-ind").await;
    let csrf = form_token(&page.body);

    let without = browser.post("/log-ind/oidc", &[("tilbage", "")]).await;
    let empty = browser.post("/log-ind/oidc", &[("csrf", "")]).await;
    let wrong = browser
        .post("/log-ind/oidc", &[("csrf", "another-form-token")])
        .await;
    // The right token without its cookie: another site's form copied from a page.
    let mut elsewhere = Browser::new(&console);
    let no_cookie = elsewhere.post("/log-ind/oidc", &[("csrf", &csrf)]).await;
    for (case, answer) in [
        ("no form token", &without),
        ("an empty form token", &empty),
        ("a wrong form token", &wrong),
        ("no form cookie", &no_cookie),
    ] {
        assert_eq!(
            answer.status,
            reqwest::StatusCode::FORBIDDEN,
            "{case}: {}",
            answer.body
        );
        assert!(answer.body.contains("Formularen blev afvist"), "{case}");
        assert!(
            answer.set_cookie(PENDING).is_none(),
            "{case}: no sign-in started"
        );
        assert!(answer.location.is_none(), "{case}");
    }

    // With it, the sign-in starts.
    let start = browser.post("/log-ind/oidc", &[("csrf", &csrf)]).await;
    assert_eq!(start.status, reqwest::StatusCode::SEE_OTHER);
    assert!(start.set_cookie(PENDING).is_some());
}

#[tokio::test]
async fn signing_out_needs_the_session_form_token_and_clears_the_session() {
    let console = start_console().await;
    let mut browser = Browser::new(&console);
    sign_in(&mut browser, &console.idp).await;
    let queue = browser.get("/koordinator").await;
    assert_matching_is_down(&queue);
    let csrf = form_token(&queue.body);

    for form in [vec![], vec![("csrf", "another-form-token")]] {
        let refused = browser.post("/log-ud", &form).await;
        assert_eq!(
            refused.status,
            reqwest::StatusCode::FORBIDDEN,
            "{form:?}: {}",
            refused.body
        );
        assert!(refused.body.contains("Formularen blev afvist"));
        assert!(refused.set_cookie(SESSION).is_none(), "{form:?}");
        // Still signed in.
        assert_matching_is_down(&browser.get("/koordinator").await);
    }

    // Signed in at the identity provider: signed out there too, and sent back to sign-in.
    let signed_out = browser.post("/log-ud", &[("csrf", &csrf)]).await;
    assert_eq!(
        signed_out.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        signed_out.body
    );
    let logout = signed_out.location();
    assert!(logout.contains("/logout"), "{logout}");
    assert!(
        logout.contains("post_logout_redirect_uri=http%3A%2F%2F127.0.0.1"),
        "{logout}"
    );
    assert!(logout.contains("%2Flog-ind"), "{logout}");
    let cleared = signed_out
        .set_cookie(SESSION)
        .expect("the session cookie cleared");
    assert!(cleared.starts_with(&format!("{SESSION}=;")), "{cleared}");
    let attrs = attributes(cleared);
    for wanted in ["Path=/", "HttpOnly", "Max-Age=0"] {
        assert!(attrs.contains(&wanted), "{wanted} in {cleared}");
    }
    assert_signed_out(&mut browser).await;
}

#[tokio::test]
async fn a_session_ends_with_its_token() {
    let console = start_console().await;
    lock(&console.idp).access_ttl = 2;
    let mut browser = Browser::new(&console);
    let signed_in = sign_in(&mut browser, &console.idp).await;
    let session = signed_in.set_cookie(SESSION).expect("a session cookie");
    assert!(
        attributes(session)
            .iter()
            .any(|a| matches!(*a, "Max-Age=1" | "Max-Age=2")),
        "{session}"
    );
    assert_matching_is_down(&browser.get("/koordinator").await);

    // expires_at is the sign-in's second + 2; after 3 s it has passed whatever the rounding.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let expired = browser.get("/koordinator").await;
    assert_eq!(
        expired.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        expired.body
    );
    assert_eq!(
        expired.location(),
        "/log-ind?tilbage=/koordinator&grund=udloebet"
    );
    let cleared = expired
        .set_cookie(SESSION)
        .expect("the stale cookie cleared");
    assert!(attributes(cleared).contains(&"Max-Age=0"), "{cleared}");

    let page = browser.get(expired.location()).await;
    assert_eq!(page.status, reqwest::StatusCode::OK);
    assert!(
        page.body.contains("din session er udløbet"),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"name="tilbage" value="/koordinator""#));
}

/// The time the sign-ins are started and finished at: the system's clock, read the one way.
fn now_secs() -> i64 {
    use kontakt_platform::clock::Clock as _;
    kontakt_platform::clock::SystemClock.now().timestamp()
}
