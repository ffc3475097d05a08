//! The callback: a sign-in finished with its state, PKCE verifier and pending cookie, directly
//! and over HTTP as a browser does it.

use kontakt_console::oidc::{self, OidcError, PendingSignIn};

use crate::console::*;
use crate::idp::*;
use crate::now_secs;

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
