//! Discovery: what the console learns from the provider, and what it needs to.

use std::collections::HashMap;

use kontakt_console::oidc::{self, OidcError, OidcSettings, ServiceToken};

use crate::idp::*;

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
