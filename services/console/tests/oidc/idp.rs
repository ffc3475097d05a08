//! The identity provider the tests start themselves: discovery, a JWKS with an ES256 key,
//! `/authorize` that signs in a fixed person, and `/token` that checks the PKCE verifier and
//! issues a signed ID token; and the browser's part of a sign-in against it.

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

use crate::now_secs;

pub(crate) const CLIENT_ID: &str = "kontakt-console";
pub(crate) const REDIRECT: &str = "http://console.test/auth/callback";

/// An ES256 key: its JWK (public) and what signs with it.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) jwk: Value,
    pub(crate) encoding: EncodingKey,
    pub(crate) kid: String,
}

pub(crate) fn key(kid: &str) -> Key {
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
pub(crate) struct Grant {
    pub(crate) challenge: String,
    pub(crate) nonce: String,
    pub(crate) redirect_uri: String,
}

/// The identity provider's state; tests change it to misbehave.
pub(crate) struct Idp {
    pub(crate) issuer: String,
    /// The keys in the JWKS.
    pub(crate) published: Vec<Key>,
    /// The key ID tokens are signed with (normally the first published one).
    pub(crate) signer: Key,
    pub(crate) grants: HashMap<String, Grant>,
    /// The person's claims beyond iss/aud/sub/nonce/exp/iat.
    pub(crate) claims: Value,
    pub(crate) id_ttl: i64,
    pub(crate) access_ttl: i64,
    pub(crate) audience: String,
    /// Put another nonce in the ID token than the one sent.
    pub(crate) wrong_nonce: bool,
    /// Put the at_hash of another access token in the ID token.
    pub(crate) wrong_at_hash: bool,
    /// Every `/authorize` request's PKCE method and nonce.
    pub(crate) authorize_requests: Vec<(String, String)>,
    pub(crate) token_requests: usize,
    pub(crate) jwks_requests: usize,
    pub(crate) access_token: String,
    pub(crate) id_token: String,
}

pub(crate) type Shared = Arc<Mutex<Idp>>;

pub(crate) fn lock(idp: &Shared) -> MutexGuard<'_, Idp> {
    idp.lock().expect("the IdP's lock")
}

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) async fn discovery(State(idp): State<Shared>) -> Response {
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

pub(crate) async fn jwks(State(idp): State<Shared>) -> Response {
    let mut idp = lock(&idp);
    idp.jwks_requests += 1;
    let keys: Vec<Value> = idp.published.iter().map(|k| k.jwk.clone()).collect();
    json_response(StatusCode::OK, json!({ "keys": keys }))
}

/// "Signs in" the fixed test person at once and redirects back with a code.
pub(crate) async fn authorize(
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

pub(crate) async fn token(
    State(idp): State<Shared>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
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
pub(crate) async fn start_idp() -> Shared {
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
pub(crate) async fn setup(configure: impl FnOnce(&mut OidcSettings)) -> (Shared, Oidc) {
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
pub(crate) fn redirected_to(response: &reqwest::Response) -> Url {
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
pub(crate) async fn authorize_at_idp(oidc: &Oidc) -> (PendingSignIn, String, String) {
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
pub(crate) async fn finish_sign_in(oidc: &Oidc) -> Result<SignedIn, OidcError> {
    let (pending, code, state) = authorize_at_idp(oidc).await;
    oidc.finish(pending, &state, &code, now_secs()).await
}
