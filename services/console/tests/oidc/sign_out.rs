//! Signing out, and a session ending with its token.

use crate::console::*;
use crate::idp::*;

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
