//! The ID token: its signature, key rotation, audience, nonce, expiry and the claims it
//! carries.

use kontakt_console::oidc::{OidcError, ServiceToken};
use serde_json::json;

use crate::idp::*;
use crate::now_secs;

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
