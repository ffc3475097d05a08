//! OpenID Connect sign-in: the authorization-code flow with PKCE (S256), a CSRF `state` and a
//! `nonce`, against the municipality's identity provider (or a broker in front of KOMBIT's
//! Context Handler).
//!
//! The flow in the console:
//! 1. [`Oidc::start`] gives the provider's authorization URL and a [`PendingSignIn`]; the console
//!    keeps the pending sign-in in a short-lived sealed cookie and redirects the browser.
//! 2. The provider redirects back with `code` and `state`; [`Oidc::finish`] checks the state
//!    and the age of the pending sign-in, exchanges the code (with the PKCE verifier), verifies
//!    the ID token (signature against the provider's JWKS, issuer, audience, nonce, expiry) and
//!    turns its claims into a [`SignedIn`].
//!
//! Tokens never appear in an [`OidcError`], in `Debug` output or in the log.
//!
//! The flow is here; its [`OidcSettings`] and the reading of the ID token's claims have files
//! of their own.

mod claims;
mod settings;

pub use settings::{OidcSettings, ServiceToken};

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr as _;
use std::sync::RwLock;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreIdToken, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::url::Url;
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client,
    ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdToken, IdTokenClaims, IdTokenFields, IdTokenVerifier, IssuerUrl,
    JsonWebKeySet, JsonWebKeySetUrl, LogoutRequest, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse,
    StandardTokenResponse, TokenResponse as _, reqwest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::session::SignedIn;
use claims::{claim, strings};

/// How long a sign-in may take between the redirect to the provider and the callback.
pub const PENDING_TTL_SECS: i64 = 10 * 60;

/// Timeout of each request to the identity provider (discovery, JWKS, token).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why sign-in failed. [`OidcError::danish`] gives the message for the person; `Display` gives
/// the detail for the log (never a token).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The settings are incomplete or invalid.
    #[error("OIDC configuration: {0}")]
    Config(String),
    /// The identity provider's discovery document or keys could not be read.
    #[error("OIDC discovery: {0}")]
    Discovery(String),
    /// The `state` coming back is not the one sent (a forged or crossed callback).
    #[error("the state returned by the identity provider does not match the sign-in")]
    StateMismatch,
    /// The pending sign-in is older than [`PENDING_TTL_SECS`].
    #[error("the sign-in took too long (more than {PENDING_TTL_SECS} seconds)")]
    Expired,
    /// The identity provider refused the request, or could not be reached.
    #[error("identity provider: {0}")]
    Provider(String),
    /// The tokens returned did not pass verification.
    #[error("token: {0}")]
    Token(String),
    /// The ID token's Kontakt claims are malformed.
    #[error("claims: {0}")]
    Claims(String),
}

impl OidcError {
    /// A plain Danish message for the sign-in page.
    pub fn danish(&self) -> &'static str {
        match self {
            OidcError::Config(_) | OidcError::Discovery(_) => {
                "Log-ind via identitetsudbyderen er ikke sat rigtigt op. Kontakt jeres administrator."
            }
            OidcError::StateMismatch => {
                "Log-ind kunne ikke bekræftes, fordi svaret ikke hørte til dit log-ind. Prøv igen."
            }
            OidcError::Expired => "Log-ind tog for lang tid. Prøv igen.",
            OidcError::Provider(_) => {
                "Identitetsudbyderen afviste log-ind eller svarede ikke. Prøv igen om lidt."
            }
            OidcError::Token(_) => {
                "Beviset fra identitetsudbyderen kunne ikke godkendes. Prøv igen, og kontakt jeres administrator, hvis det bliver ved."
            }
            OidcError::Claims(_) => {
                "Din bruger hos identitetsudbyderen mangler oplysninger eller har ugyldige oplysninger om roller eller kommuner. Kontakt jeres administrator."
            }
        }
    }
}

/// A sign-in between the redirect to the provider and the callback; the console keeps it in a
/// short-lived sealed cookie. Its fields are secrets of this sign-in.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The CSRF `state` sent to the provider.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (its S256 challenge was sent).
    pub pkce_verifier: String,
    /// Unix seconds when the sign-in started.
    pub created_at: i64,
}

impl fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Every claim of the ID token beyond the standard ones, so claim names can be configured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
struct ExtraClaims(BTreeMap<String, Value>);

impl AdditionalClaims for ExtraClaims {}

type KontaktIdTokenFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type KontaktTokenResponse = StandardTokenResponse<KontaktIdTokenFields, CoreTokenType>;
type KontaktIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
/// What `from_provider_metadata` + `set_redirect_uri` give: the authorization endpoint is set,
/// the token and userinfo endpoints are whatever discovery said.
type KontaktClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    KontaktTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The configured identity provider, discovered once at start-up.
pub struct Oidc {
    client: KontaktClient,
    http: reqwest::Client,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    scopes: Vec<Scope>,
    allowed_algs: Vec<CoreJwsSigningAlgorithm>,
    jwks_uri: JsonWebKeySetUrl,
    /// The provider's keys; fetched again when an ID token names a key not in it (rotation).
    jwks: RwLock<CoreJsonWebKeySet>,
    end_session: Option<EndSessionUrl>,
    roles_claim: String,
    municipalities_claim: String,
    contact_person_claim: String,
    service_token: ServiceToken,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("confidential", &self.client_secret.is_some())
            .field("service_token", &self.service_token)
            .finish_non_exhaustive()
    }
}

/// Provider discovery: reads the issuer's `/.well-known/openid-configuration` and its JWKS.
/// `redirect_url` is the console's callback URL as registered at the provider.
pub async fn discover(settings: &OidcSettings, redirect_url: String) -> Result<Oidc, OidcError> {
    let issuer = settings
        .issuer_url
        .as_deref()
        .map(str::trim)
        .filter(|issuer| !issuer.is_empty())
        .ok_or_else(|| OidcError::Config("no issuer URL (--oidc-issuer-url)".into()))?;
    let issuer = IssuerUrl::new(issuer.to_owned())
        .map_err(|e| OidcError::Config(format!("the issuer URL `{issuer}` is invalid: {e}")))?;
    let client_id = settings
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            OidcError::Config("an issuer needs a client id (--oidc-client-id)".into())
        })?;
    let client_id = ClientId::new(client_id.to_owned());
    let client_secret = match &settings.client_secret_file {
        None => None,
        Some(path) => {
            let secret = std::fs::read_to_string(path).map_err(|e| {
                OidcError::Config(format!("reading the client secret {}: {e}", path.display()))
            })?;
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(OidcError::Config(format!(
                    "the client secret file {} is empty",
                    path.display()
                )));
            }
            Some(ClientSecret::new(secret.to_owned()))
        }
    };
    let redirect = RedirectUrl::new(redirect_url.clone()).map_err(|e| {
        OidcError::Config(format!("the redirect URL `{redirect_url}` is invalid: {e}"))
    })?;
    let scopes = settings
        .scopes
        .split_whitespace()
        .filter(|scope| *scope != "openid") // always sent by the client
        .map(|scope| Scope::new(scope.to_owned()))
        .collect();

    // Following redirects would open the client to SSRF (openidconnect's own advice).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| OidcError::Config(format!("building the HTTP client: {e}")))?;

    let metadata = ProviderMetadataWithLogout::discover_async(issuer.clone(), &http)
        .await
        .map_err(|e| {
            OidcError::Discovery(format!("reading {}: {}", issuer.as_str(), error_chain(&e)))
        })?;
    let allowed_algs = metadata.id_token_signing_alg_values_supported().to_owned();
    let jwks_uri = metadata.jwks_uri().clone();
    let jwks = metadata.jwks().clone();
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    if metadata.token_endpoint().is_none() {
        return Err(OidcError::Discovery(format!(
            "{} names no token endpoint",
            issuer.as_str()
        )));
    }
    let client =
        KontaktClient::from_provider_metadata(metadata, client_id.clone(), client_secret.clone())
            .set_redirect_uri(redirect);

    Ok(Oidc {
        client,
        http,
        issuer,
        client_id,
        client_secret,
        scopes,
        allowed_algs,
        jwks_uri,
        jwks: RwLock::new(jwks),
        end_session,
        roles_claim: settings.roles_claim.clone(),
        municipalities_claim: settings.municipalities_claim.clone(),
        contact_person_claim: settings.contact_person_claim.clone(),
        service_token: settings.service_token,
    })
}

impl Oidc {
    /// The issuer this console signs in with.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// Starts a sign-in at `now` (Unix seconds, the console's clock): the URL to redirect the
    /// browser to, and what the callback needs.
    pub fn start(&self, now: i64) -> (Url, PendingSignIn) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.scopes {
            request = request.add_scope(scope.clone());
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = PendingSignIn {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            created_at: now,
        };
        (url, pending)
    }

    /// Finishes a sign-in at the callback with the `state` and `code` the provider sent, at `now`
    /// (Unix seconds; a pending sign-in older than its time-to-live is refused).
    pub async fn finish(
        &self,
        pending: PendingSignIn,
        state: &str,
        code: &str,
        now: i64,
    ) -> Result<SignedIn, OidcError> {
        if !same_secret(&pending.state, state) {
            return Err(OidcError::StateMismatch);
        }
        let age = now - pending.created_at;
        // A sign-in "from the future" is as suspect as an old one (beyond a little clock skew).
        if !(-60..=PENDING_TTL_SECS).contains(&age) {
            return Err(OidcError::Expired);
        }

        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(token_request_error)?;

        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Token("the token response has no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce);
        let claims = self.verify(id_token, &nonce, &response).await?;

        let extra = &claims.additional_claims().0;
        let roles = strings(extra, &self.roles_claim)?;
        let municipalities = strings(extra, &self.municipalities_claim)?;
        let contact_person = match claim(extra, &self.contact_person_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                return Err(OidcError::Claims(format!(
                    "`{}` is not a string",
                    self.contact_person_claim
                )));
            }
        };

        let subject = claims.subject().as_str().to_owned();
        if subject.trim().is_empty() {
            return Err(OidcError::Claims("the ID token has no subject".into()));
        }
        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned())
            .or_else(|| {
                claims
                    .preferred_username()
                    .map(|user| user.as_str().to_owned())
            })
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| subject.clone());

        let mut expires_at = claims.expiration().timestamp();
        if let Some(expires_in) = response.expires_in() {
            let access_expiry =
                now.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX));
            expires_at = expires_at.min(access_expiry);
        }
        let token = match self.service_token {
            ServiceToken::Access => response.access_token().secret().clone(),
            ServiceToken::Id => id_token.to_string(),
        };

        Ok(SignedIn {
            token,
            expires_at,
            subject,
            name,
            roles,
            municipalities,
            contact_person,
        })
    }

    /// The provider's logout URL (RP-initiated logout), when discovery named an
    /// `end_session_endpoint`. `id_token_hint` is the ID token of the session, if kept.
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_url: Option<&str>,
    ) -> Option<Url> {
        let mut request =
            LogoutRequest::from(self.end_session.clone()?).set_client_id(self.client_id.clone());
        if let Some(hint) = id_token_hint.and_then(|hint| CoreIdToken::from_str(hint).ok()) {
            request = request.set_id_token_hint(&hint);
        }
        if let Some(url) =
            post_logout_redirect_url.and_then(|url| PostLogoutRedirectUrl::new(url.into()).ok())
        {
            request = request.set_post_logout_redirect_uri(url);
        }
        Some(request.http_get_url())
    }

    /// Verifies the ID token (signature, issuer, audience, nonce, expiry) and its `at_hash`;
    /// fetches the JWKS again once when the token names a key the console does not know.
    async fn verify(
        &self,
        id_token: &KontaktIdToken,
        nonce: &Nonce,
        response: &KontaktTokenResponse,
    ) -> Result<IdTokenClaims<ExtraClaims, CoreGenderClaim>, OidcError> {
        let first = self.verify_with(&self.current_jwks(), id_token, nonce, response);
        match first {
            Err(Verify::Claims(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ))) => {
                let jwks = JsonWebKeySet::fetch_async(&self.jwks_uri, &self.http)
                    .await
                    .map_err(|e| {
                        OidcError::Provider(format!("fetching the keys again: {}", error_chain(&e)))
                    })?;
                if let Ok(mut current) = self.jwks.write() {
                    *current = jwks.clone();
                }
                self.verify_with(&jwks, id_token, nonce, response)
                    .map_err(Verify::into_error)
            }
            other => other.map_err(Verify::into_error),
        }
    }

    fn current_jwks(&self) -> CoreJsonWebKeySet {
        match self.jwks.read() {
            Ok(jwks) => jwks.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn verify_with(
        &self,
        jwks: &CoreJsonWebKeySet,
        id_token: &KontaktIdToken,
        nonce: &Nonce,
        response: &KontaktTokenResponse,
    ) -> Result<IdTokenClaims<ExtraClaims, CoreGenderClaim>, Verify> {
        let verifier = match &self.client_secret {
            Some(secret) => IdTokenVerifier::new_confidential_client(
                self.client_id.clone(),
                secret.clone(),
                self.issuer.clone(),
                jwks.clone(),
            ),
            None => IdTokenVerifier::new_public_client(
                self.client_id.clone(),
                self.issuer.clone(),
                jwks.clone(),
            ),
        }
        .set_allowed_algs(self.allowed_algs.clone());
        let claims = id_token
            .claims(&verifier, nonce)
            .map_err(Verify::Claims)?
            .clone();
        // The access token must be the one issued with this ID token (when the provider says).
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|e| Verify::Other(format!("the ID token's algorithm: {e}")))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| Verify::Other(format!("the ID token's key: {e}")))?;
            let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
                .map_err(|e| Verify::Other(format!("hashing the access token: {e}")))?;
            if actual != *expected {
                return Err(Verify::Other(
                    "the access token does not match the ID token's at_hash".into(),
                ));
            }
        }
        Ok(claims)
    }
}

/// A verification failure, kept typed until we know whether to fetch the keys again.
enum Verify {
    Claims(ClaimsVerificationError),
    Other(String),
}

impl Verify {
    fn into_error(self) -> OidcError {
        match self {
            Verify::Claims(e) => {
                OidcError::Token(format!("the ID token was refused: {}", error_chain(&e)))
            }
            Verify::Other(e) => OidcError::Token(e),
        }
    }
}

/// A token-endpoint failure, without anything from the response body but the error code and
/// description (a body may hold tokens).
fn token_request_error<RE>(
    error: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError
where
    RE: std::error::Error + 'static,
{
    match error {
        RequestTokenError::ServerResponse(response) => {
            let mut message = format!("the code was refused: {}", response.error().as_ref());
            if let Some(description) = response.error_description() {
                message.push_str(": ");
                message.push_str(description);
            }
            OidcError::Provider(message)
        }
        RequestTokenError::Request(e) => OidcError::Provider(format!(
            "the token endpoint could not be reached: {}",
            error_chain(&e)
        )),
        RequestTokenError::Parse(e, _body) => OidcError::Provider(format!(
            "the token response could not be read (at `{}`)",
            e.path()
        )),
        RequestTokenError::Other(e) => OidcError::Provider(e),
    }
}

/// An error and its sources, one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Compares two secrets in time independent of where they differ (by comparing their hashes).
fn same_secret(a: &str, b: &str) -> bool {
    let a = Sha256::digest(a.as_bytes());
    let b = Sha256::digest(b.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(json).expect("an object")
    }

    #[test]
    fn list_claims_take_arrays_strings_and_numbers() {
        let c = claims(serde_json::json!({
            "kontakt_roles": ["coordinator", "finance"],
            "groups": "coordinator  auditor",
            "kontakt_municipalities": [183, "187"],
            "one": 329,
            "realm_access": { "roles": ["admin"] },
            "bad": [{"x": 1}],
            "neg": [-1],
        }));
        assert_eq!(
            strings(&c, "kontakt_roles").expect("list"),
            ["coordinator", "finance"]
        );
        assert_eq!(
            strings(&c, "groups").expect("list"),
            ["coordinator", "auditor"]
        );
        assert_eq!(
            strings(&c, "kontakt_municipalities").expect("list"),
            ["183", "187"]
        );
        assert_eq!(strings(&c, "one").expect("list"), ["329"]);
        assert_eq!(strings(&c, "realm_access.roles").expect("list"), ["admin"]);
        assert!(strings(&c, "missing").expect("empty").is_empty());
        assert!(strings(&c, "bad").is_err());
        assert!(strings(&c, "neg").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        oidc: OidcSettings,
    }

    #[test]
    fn the_flags_have_their_defaults_and_parse() {
        use clap::{CommandFactory as _, Parser as _};
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["console"]).expect("no flags");
        assert!(!cli.oidc.enabled());
        assert_eq!(cli.oidc.scopes, "openid profile");
        assert_eq!(cli.oidc.roles_claim, "kontakt_roles");
        assert_eq!(cli.oidc.municipalities_claim, "kontakt_municipalities");
        assert_eq!(cli.oidc.contact_person_claim, "kontakt_contact_person");
        assert_eq!(cli.oidc.service_token, ServiceToken::Access);
        let cli = Cli::try_parse_from([
            "console",
            "--oidc-issuer-url",
            "https://login.example.dk",
            "--oidc-client-id",
            "kontakt",
            "--oidc-service-token",
            "id",
        ])
        .expect("flags");
        assert!(cli.oidc.enabled());
        assert_eq!(cli.oidc.service_token, ServiceToken::Id);
        assert!(Cli::try_parse_from(["console", "--oidc-service-token", "refresh"]).is_err());
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", ""));
    }

    #[test]
    fn every_error_has_a_danish_message_without_details() {
        let errors = [
            OidcError::Config("x".into()),
            OidcError::Discovery("x".into()),
            OidcError::StateMismatch,
            OidcError::Expired,
            OidcError::Provider("secret-detail".into()),
            OidcError::Token("secret-detail".into()),
            OidcError::Claims("secret-detail".into()),
        ];
        for error in errors {
            assert!(!error.danish().is_empty());
            assert!(!error.danish().contains("secret-detail"));
        }
    }

    #[test]
    fn a_pending_sign_in_does_not_show_its_secrets() {
        let pending = PendingSignIn {
            state: "the-state".into(),
            nonce: "the-nonce".into(),
            pkce_verifier: "the-verifier".into(),
            created_at: 1,
        };
        let shown = format!("{pending:?}");
        assert!(!shown.contains("the-state") && !shown.contains("the-verifier"));
    }
}
