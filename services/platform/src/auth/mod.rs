//! Authentication and role × method authorisation, applied to every call except health and
//! reflection. A call must carry `authorization: Bearer <JWT>` signed by a key in the
//! configured JWKS (RS256 or ES256, matched by `kid`), from the configured issuer, for the
//! configured audience, unexpired (with a small leeway). The verified [`Principal`] is put in
//! the request's extensions; handlers then scope every query to it.

pub mod access;
pub mod dev_key;
pub mod keys;
pub mod principal;
pub mod service_token;
pub mod token_cache;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use tonic::body::Body;
use tower::{Layer, Service};

pub use access::AccessTable;
pub use principal::{Claims, MunicipalityCode, Principal, Role};

use crate::ApiError;
use crate::config::AuthSettings;

/// Checks tokens against one issuer, audience and key set.
pub struct Verifier {
    keys: keys::KeySet,
    issuer: String,
    audience: String,
    leeway_secs: u64,
    verified: token_cache::TokenCache,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Loads the keys; refuses to build without a key set and an issuer: the suite never runs open.
    pub async fn load(settings: &AuthSettings) -> Result<Self, String> {
        let source = match (&settings.jwks_file, &settings.jwks_url) {
            (Some(file), None) => keys::Source::File(file.clone()),
            (None, Some(url)) => keys::Source::Url(url.clone()),
            (Some(_), Some(_)) => {
                return Err("set either KONTAKT_JWKS_FILE or KONTAKT_JWKS_URL, not both".into());
            }
            (None, None) => {
                return Err(
                    "authentication is not configured: set KONTAKT_JWKS_URL or KONTAKT_JWKS_FILE \
(the identity provider's public keys) and KONTAKT_JWT_ISSUER"
                        .into(),
                );
            }
        };
        let issuer = settings
            .jwt_issuer
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or("authentication is not configured: set KONTAKT_JWT_ISSUER")?;
        Ok(Self {
            keys: keys::KeySet::load(source).await?,
            issuer,
            audience: settings.jwt_audience.clone(),
            leeway_secs: settings.jwt_leeway.as_secs(),
            verified: token_cache::TokenCache::default(),
        })
    }

    /// Verifies a token and turns its claims into a principal. Reasons are safe to show the
    /// caller: they never contain the token. A token verified before is taken from the cache
    /// while it is current and its key is still in the set.
    pub async fn verify(&self, token: &str) -> Result<Principal, String> {
        let key = token_cache::key(token);
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(hit) = self.verified.get(&key, now, self.leeway_secs) {
            if self.keys.get(&hit.kid).await.is_some() {
                return Ok(hit.principal);
            }
            // The key was removed from the set: verify afresh (and refuse).
            self.verified.forget(&key);
        }
        let verified = self.verify_signed(token).await?;
        let principal = verified.principal.clone();
        self.verified.insert(key, verified, now, self.leeway_secs);
        Ok(principal)
    }

    /// The full check: key by `kid`, algorithm, signature, issuer, audience, `exp` and `nbf`.
    async fn verify_signed(&self, token: &str) -> Result<token_cache::Verified, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "the token is not a well-formed JWT".to_owned())?;
        let kid = header
            .kid
            .ok_or("the token has no key id (`kid`) in its header")?;
        let key = self
            .keys
            .get(&kid)
            .await
            .ok_or_else(|| format!("the token is signed with an unknown key `{kid}`"))?;
        if header.alg != key.algorithm {
            return Err(format!(
                "the token's algorithm {:?} does not match key `{kid}`",
                header.alg
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        validation.required_spec_claims =
            HashSet::from(["exp", "iss", "aud", "sub"].map(String::from));
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| describe(e.kind()))?;
        let (not_before, expires) = (data.claims.nbf, data.claims.exp);
        Ok(token_cache::Verified {
            principal: Principal::from_claims(data.claims)?,
            kid,
            not_before,
            expires,
        })
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "the token's signature is invalid".into(),
        ErrorKind::InvalidIssuer => {
            "the token is from an issuer this deployment does not trust".into()
        }
        ErrorKind::InvalidAudience => "the token is not meant for this audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token lacks the `{claim}` claim"),
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted".into(),
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
            "the token's claims are malformed".into()
        }
        _ => "the token is invalid".into(),
    }
}

/// The bearer token of a request, or why there is none.
fn bearer_token(headers: &http::HeaderMap) -> Result<String, String> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or("missing `authorization: Bearer <token>` metadata")?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "authorization metadata must be `Bearer <token>`".to_owned())
}

/// The verified caller of a request (put there by [`AuthLayer`]).
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Principal, ApiError> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| ApiError::Unauthenticated("no verified caller".into()))
}

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
    access: Arc<[&'static AccessTable]>,
}

impl AuthLayer {
    /// `access` holds one table per gRPC service served (the service's and the platform's).
    pub fn new(verifier: Arc<Verifier>, access: Vec<&'static AccessTable>) -> Self {
        Self {
            verifier,
            access: access.into(),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            verifier: self.verifier.clone(),
            access: self.access.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Arc<Verifier>,
    access: Arc<[&'static AccessTable]>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, ResBody> Service<http::Request<B>> for Auth<S>
where
    B: Send + 'static,
    S: Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let access = self.access.clone();
        let path = request.uri().path().to_owned();
        // Taken out now, so the future holds no borrow of the request across the await.
        let token =
            (!crate::limits::is_infrastructure(&path)).then(|| bearer_token(request.headers()));
        Box::pin(async move {
            if let Some(token) = token {
                let verified = match token {
                    Ok(token) => verifier.verify(&token).await,
                    Err(reason) => Err(reason),
                };
                let refusal = match verified {
                    Err(reason) => {
                        tracing::info!(path, %reason, "unauthenticated call refused");
                        Some(ApiError::Unauthenticated(reason))
                    }
                    Ok(principal) => match access::check(&access, &path, &principal) {
                        Err(error) => {
                            tracing::info!(
                                path,
                                subject = principal.subject,
                                "call refused by role"
                            );
                            Some(error)
                        }
                        Ok(()) => {
                            request.extensions_mut().insert(principal);
                            None
                        }
                    },
                };
                if let Some(error) = refusal {
                    return Ok(tonic::Status::from(error).into_http());
                }
            }
            inner.call(request).await.map(|r| r.map(Body::new))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock as _;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::traits::PublicKeyParts as _;

    fn claims() -> Claims {
        let now = u64::try_from(crate::clock::SystemClock.now().timestamp()).expect("time");
        Claims {
            sub: "case-system-183".into(),
            kontakt_roles: vec!["case_system".into()],
            kontakt_municipalities: vec!["183".into()],
            iss: "https://idp.example".into(),
            aud: principal::Audience::Many(vec!["kontakt".into(), "other".into()]),
            exp: now + 300,
            iat: now,
            ..Claims::default()
        }
    }

    #[tokio::test]
    async fn rs256_tokens_signed_by_a_key_in_the_jwks_are_accepted() {
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("RSA key");
        let public = private.to_public_key();
        let jwks = serde_json::json!({ "keys": [{
            "kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]});
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, jwks.to_string()).expect("write");
        let verifier = Verifier::load(&AuthSettings {
            jwks_url: None,
            jwks_file: Some(file),
            jwt_issuer: Some("https://idp.example".into()),
            jwt_audience: "kontakt".into(),
            jwt_leeway: std::time::Duration::from_secs(30),
        })
        .await
        .expect("verifier");

        let der = private.to_pkcs1_der().expect("der");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_rsa_der(der.as_bytes()),
        )
        .expect("sign");
        let principal = verifier
            .verify(&token)
            .await
            .expect("an RS256 token is accepted");
        assert!(principal.has_role(Role::CaseSystem));

        // A token claiming another algorithm for the same key id is refused.
        let mut wrong = Header::new(Algorithm::HS256);
        wrong.kid = Some("rsa-1".into());
        let forged = jsonwebtoken::encode(&wrong, &claims(), &EncodingKey::from_secret(b"guess"))
            .expect("sign");
        let reason = verifier
            .verify(&forged)
            .await
            .expect_err("algorithm confusion");
        assert!(reason.contains("does not match"), "{reason}");
    }

    async fn dev_verifier(dir: &std::path::Path) -> (dev_key::DevKey, Verifier) {
        let key = dev_key::DevKey::load_or_create(dir).expect("key");
        let verifier = Verifier::load(&AuthSettings {
            jwks_url: None,
            jwks_file: Some(key.jwks_path().to_owned()),
            jwt_issuer: Some(dev_key::DEV_ISSUER.into()),
            jwt_audience: dev_key::DEV_AUDIENCE.into(),
            jwt_leeway: std::time::Duration::from_secs(30),
        })
        .await
        .expect("verifier");
        (key, verifier)
    }

    fn dev_claims() -> Claims {
        Claims {
            iss: dev_key::DEV_ISSUER.into(),
            aud: principal::Audience::One(dev_key::DEV_AUDIENCE.into()),
            ..claims()
        }
    }

    #[tokio::test]
    async fn a_token_for_later_is_refused_until_its_nbf() {
        let dir = tempfile::tempdir().expect("dir");
        let (key, verifier) = dev_verifier(dir.path()).await;
        let now = jsonwebtoken::get_current_timestamp();
        let later = key
            .sign(&Claims {
                nbf: Some(now + 3_600),
                ..dev_claims()
            })
            .expect("sign");
        let reason = verifier.verify(&later).await.expect_err("not valid yet");
        assert!(reason.contains("not valid yet"), "{reason}");
        // Within the leeway it is accepted.
        let soon = key
            .sign(&Claims {
                nbf: Some(now + 10),
                ..dev_claims()
            })
            .expect("sign");
        verifier.verify(&soon).await.expect("nbf within the leeway");
    }

    #[tokio::test]
    async fn a_reused_token_gives_the_same_principal_and_a_changed_one_is_checked_afresh() {
        let dir = tempfile::tempdir().expect("dir");
        let (key, verifier) = dev_verifier(dir.path()).await;
        let token = key.sign(&dev_claims()).expect("sign");
        let first = verifier.verify(&token).await.expect("valid");
        let again = verifier.verify(&token).await.expect("valid from the cache");
        assert_eq!(first, again);
        // One changed byte of the signature is not a cache hit: it is verified, and refused.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        assert!(verifier.verify(&forged).await.is_err());
        // An expired token that was once verified is refused, not served from the cache.
        let expired = key
            .sign(&Claims {
                exp: jsonwebtoken::get_current_timestamp() - 3_600,
                ..dev_claims()
            })
            .expect("sign");
        let reason = verifier.verify(&expired).await.expect_err("expired");
        assert!(reason.contains("expired"), "{reason}");
    }
}
