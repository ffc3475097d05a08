//! OIDC sign-in against a small identity provider this test starts itself: discovery, a JWKS
//! with an ES256 key, `/authorize` that signs in a fixed person, and `/token` that checks the
//! PKCE verifier against the recorded S256 challenge and issues a signed ID token.
//!
//! The first tests drive [`Oidc`] directly; the last ones serve the whole console against the
//! same IdP and sign in over HTTP as a browser would (form token, redirect to the IdP, callback,
//! session cookie, sign-out, expiry).
//!
//! One module a concern: [`discovery`], the [`callback`], the ID [`tokens`] and [`sign_out`];
//! [`idp`] is the provider and [`console`] the served console with a browser.

mod callback;
mod console;
mod discovery;
mod idp;
mod sign_out;
mod tokens;

/// The time the sign-ins are started and finished at: the system's clock, read the one way.
fn now_secs() -> i64 {
    use kontakt_platform::clock::Clock as _;
    kontakt_platform::clock::SystemClock.now().timestamp()
}
