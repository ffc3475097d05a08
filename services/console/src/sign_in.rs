//! Signing in and out. In production: the municipality's identity provider (OpenID Connect,
//! authorization code with PKCE, [`crate::oidc`]). In `kontakt dev`: a page listing the demo
//! personas, each signed in with a token of the dev key (which only `kontakt dev` trusts).

use std::time::Duration;

use crate::web::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_platform::auth::Claims;
use kontakt_platform::auth::dev_key::DevKey;
use maud::html;
use serde::{Deserialize, Serialize};

use crate::oidc::{Oidc, PENDING_TTL_SECS, PendingSignIn};

use crate::page::{home_path, public_page};
use crate::session::{COOKIE, Session, SignedIn, random_token};
use crate::web::{AppState, Signed, check_csrf, cookie};

/// The pre-session cookie that guards the sign-in form.
const FORM_COOKIE: &str = "kontakt_form";

/// How a person can sign in here.
#[derive(Default)]
pub struct SignInMethods {
    /// `kontakt dev`: the demo personas, signed with the dev key.
    pub dev: Option<DevKey>,
    /// Production: the municipality's identity provider.
    pub oidc: Option<Oidc>,
}

/// The cookie that carries a sign-in from the redirect to the callback (sealed; 10 minutes).
const PENDING_COOKIE: &str = "kontakt_oidc";

/// A sign-in on its way: what the callback must check, and where to go afterwards.
#[derive(Serialize, Deserialize)]
struct Pending {
    oidc: PendingSignIn,
    back: String,
}

/// A demo persona: who they are, and the claims of their token.
pub struct Persona {
    pub id: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub roles: &'static [&'static str],
    pub municipalities: &'static [&'static str],
    pub contact_person: Option<&'static str>,
}

/// Everyone a newcomer can be in the demo. The subjects are the ones the demo data was made
/// with, so "my cases" are the demo's cases.
pub const PERSONAS: [Persona; 13] = [
    Persona {
        id: "demo-coordinator",
        label: "Koordinator, Ishøjgård",
        description: "Matcher og køber kontaktpersoner, godkender timesedler (Ishøj og Vallensbæk)",
        roles: &["coordinator"],
        municipalities: &["183", "187"],
        contact_person: None,
    },
    Persona {
        id: "demo-coordinator-ringsted",
        label: "Koordinator, Ringsted",
        description: "Matcher og godkender timesedler i Ringsted",
        roles: &["coordinator"],
        municipalities: &["329"],
        contact_person: None,
    },
    Persona {
        id: "demo-counsellor",
        label: "Rådgiver",
        description: "Henviser sager og følger op (Ishøj, Vallensbæk, Ringsted)",
        roles: &["counsellor"],
        municipalities: &["183", "187", "329"],
        contact_person: None,
    },
    Persona {
        id: "demo-committee",
        label: "Visitationsudvalget",
        description: "Træffer afgørelse om henviste sager",
        roles: &["committee"],
        municipalities: &["183", "187", "329"],
        contact_person: None,
    },
    Persona {
        id: "demo-finance",
        label: "Økonomi",
        description: "Følger den fælles ramme og budgettet",
        roles: &["finance"],
        municipalities: &["183", "187", "329"],
        contact_person: None,
    },
    Persona {
        id: "demo-auditor",
        label: "Databeskyttelsesrådgiver",
        description: "Læser adgangsloggen",
        roles: &["auditor"],
        municipalities: &["183", "187", "329"],
        contact_person: None,
    },
    Persona {
        id: "anna-holm",
        label: "Anna Holm, kontaktperson",
        description: "Fastansat, Ishøjgård",
        roles: &["contact_person"],
        municipalities: &["183", "187"],
        contact_person: Some("serviceUnits/ishoejgaard/contactPersons/anna-holm"),
    },
    Persona {
        id: "jonas-berg",
        label: "Jonas Berg, kontaktperson",
        description: "Fastansat, Ishøjgård",
        roles: &["contact_person"],
        municipalities: &["183", "187"],
        contact_person: Some("serviceUnits/ishoejgaard/contactPersons/jonas-berg"),
    },
    Persona {
        id: "leyla-hassan",
        label: "Leyla Hassan, kontaktperson",
        description: "Timeansat, Ishøjgård",
        roles: &["contact_person"],
        municipalities: &["183", "187"],
        contact_person: Some("serviceUnits/ishoejgaard/contactPersons/leyla-hassan"),
    },
    Persona {
        id: "mads-krog",
        label: "Mads Krog, kontaktperson",
        description: "Timeansat, Ishøjgård",
        roles: &["contact_person"],
        municipalities: &["183"],
        contact_person: Some("serviceUnits/ishoejgaard/contactPersons/mads-krog"),
    },
    Persona {
        id: "karim-nasser",
        label: "Karim Nasser, kontaktperson",
        description: "Leverandørens medarbejder (Misbrugshjælp ApS)",
        roles: &["contact_person"],
        municipalities: &["183", "187"],
        contact_person: Some("serviceUnits/ishoejgaard/contactPersons/karim-nasser"),
    },
    Persona {
        id: "sofie-lund",
        label: "Sofie Lund, kontaktperson",
        description: "Fastansat, Ringsted",
        roles: &["contact_person"],
        municipalities: &["329"],
        contact_person: Some("serviceUnits/ringsted/contactPersons/sofie-lund"),
    },
    Persona {
        id: "other-coordinator",
        label: "Koordinator, København",
        description: "En anden kommune: ser intet af demo-kommunernes data",
        roles: &["coordinator", "counsellor"],
        municipalities: &["101"],
        contact_person: None,
    },
];

/// How long a dev sign-in lasts.
const DEV_SESSION: Duration = Duration::from_secs(8 * 3600);

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    tilbage: String,
    #[serde(default)]
    grund: String,
}

/// `GET /log-ind`.
pub async fn page(State(state): State<AppState>, Query(query): Query<SignInQuery>) -> Response {
    let form_token = random_token();
    let back = safe_back(&query.tilbage);
    let body = html! {
        @if query.grund == "udloebet" {
            div.warning role="status" { p { "Du er blevet logget ud, fordi din session er udløbet. Log ind igen for at fortsætte." } }
        }
        @if let Some(_key) = &state.sign_in.dev {
            p { "Dette er en udviklingsinstallation med demodata. Vælg, hvem du vil være:" }
            form method="post" action="/log-ind/demo" {
                input type="hidden" name="csrf" value=(form_token);
                input type="hidden" name="tilbage" value=(back);
                ul.personas {
                    @for persona in &PERSONAS {
                        li {
                            button type="submit" name="persona" value=(persona.id) {
                                (persona.label)
                                span.muted { (persona.description) }
                            }
                        }
                    }
                }
            }
        }
        @if state.sign_in.oidc.is_some() {
            form method="post" action="/log-ind/oidc" {
                input type="hidden" name="csrf" value=(form_token);
                input type="hidden" name="tilbage" value=(back);
                button type="submit" { "Log ind med kommunens login" }
            }
        }
        @if state.sign_in.dev.is_none() && state.sign_in.oidc.is_none() {
            p { "Log ind er ikke sat op på denne installation. Kontakt din systemadministrator." }
        }
    };
    let mut response = public_page(StatusCode::OK, "Log ind", body).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state.cookie(FORM_COOKIE, &form_token, 3600),
    );
    response
}

#[derive(Deserialize)]
pub struct OidcStart {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tilbage: String,
}

/// `POST /log-ind/oidc`: off to the identity provider (authorization code with PKCE).
pub async fn oidc_start(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<OidcStart>,
) -> Response {
    let Some(oidc) = &state.sign_in.oidc else {
        return Redirect::to("/log-ind").into_response();
    };
    if form.csrf.is_empty() || cookie(&headers, FORM_COOKIE) != Some(form.csrf.as_str()) {
        return stale_form();
    }
    let (url, pending) = oidc.start(state.now());
    let sealed = state.sessions.seal_value(&Pending {
        oidc: pending,
        back: safe_back(&form.tilbage).to_owned(),
    });
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        state.cookie(PENDING_COOKIE, &sealed, PENDING_TTL_SECS),
    );
    response
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: String,
}

/// `GET /auth/callback`: the identity provider's answer; the session starts here.
pub async fn oidc_callback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let refused = |message: &str| {
        let mut response = public_page(
            StatusCode::UNAUTHORIZED,
            "Log ind mislykkedes",
            html! { p { (message) } p { a href="/log-ind" { "Prøv igen" } } },
        )
        .into_response();
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.clear_cookie(PENDING_COOKIE));
        response
    };
    let Some(oidc) = &state.sign_in.oidc else {
        return Redirect::to("/log-ind").into_response();
    };
    if !callback.error.is_empty() {
        tracing::info!(error = %callback.error, "the identity provider refused the sign-in");
        return refused("Kommunens login afviste at logge dig ind.");
    }
    let Some(pending) = cookie(&headers, PENDING_COOKIE)
        .and_then(|value| state.sessions.open_value::<Pending>(value))
    else {
        return refused("Log ind tog for lang tid, eller blev startet i en anden browser.");
    };
    match oidc
        .finish(pending.oidc, &callback.state, &callback.code, state.now())
        .await
    {
        Ok(person) => {
            let mut response = signed_in(&state, &Session::new(person), &pending.back);
            response
                .headers_mut()
                .append(header::SET_COOKIE, state.clear_cookie(PENDING_COOKIE));
            response
        }
        Err(err) => {
            tracing::warn!(error = %err, "OpenID Connect sign-in failed");
            refused(err.danish())
        }
    }
}

fn stale_form() -> Response {
    public_page(
        StatusCode::FORBIDDEN,
        "Formularen blev afvist",
        html! { p { "Siden var for gammel. " a href="/log-ind" { "Prøv igen" } "." } },
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct DevSignIn {
    persona: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tilbage: String,
}

/// `POST /log-ind/demo`: signs in as a demo persona.
pub async fn dev(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<DevSignIn>,
) -> Response {
    let Some(key) = &state.sign_in.dev else {
        return Redirect::to("/log-ind").into_response();
    };
    if cookie(&headers, FORM_COOKIE) != Some(form.csrf.as_str()) || form.csrf.is_empty() {
        return stale_form();
    }
    let Some(persona) = PERSONAS.iter().find(|p| p.id == form.persona) else {
        return Redirect::to("/log-ind").into_response();
    };
    let claims = Claims {
        sub: persona.id.into(),
        name: persona.label.into(),
        kontakt_roles: persona.roles.iter().map(|r| (*r).to_owned()).collect(),
        kontakt_municipalities: persona
            .municipalities
            .iter()
            .map(|m| (*m).to_owned())
            .collect(),
        kontakt_contact_person: persona.contact_person.map(str::to_owned),
        ..Claims::default()
    };
    let token = match key.mint(claims, DEV_SESSION) {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(error = %err, "minting a dev token");
            return public_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Log ind mislykkedes",
                html! { p { "Prøv igen." } },
            )
            .into_response();
        }
    };
    let session = Session::new(SignedIn {
        token,
        expires_at: state.now() + DEV_SESSION.as_secs() as i64,
        subject: persona.id.into(),
        name: persona.label.into(),
        roles: persona.roles.iter().map(|r| (*r).to_owned()).collect(),
        municipalities: persona
            .municipalities
            .iter()
            .map(|m| (*m).to_owned())
            .collect(),
        contact_person: persona.contact_person.map(str::to_owned),
    });
    signed_in(&state, &session, &form.tilbage)
}

/// Sets the session cookie and goes where the person was going (or their first screen).
pub fn signed_in(state: &AppState, session: &Session, back: &str) -> Response {
    let back = safe_back(back);
    let target = if back.is_empty() {
        home_path(session)
    } else {
        back
    };
    tracing::info!(subject = %session.person.subject, roles = ?session.person.roles, "signed in");
    let mut response = Redirect::to(target).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, state.session_cookie(session));
    headers.append(header::SET_COOKIE, state.clear_cookie(FORM_COOKIE));
    response
}

/// A local path to return to, or empty.
fn safe_back(back: &str) -> &str {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back
    } else {
        ""
    }
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    csrf: String,
}

/// `POST /log-ud`.
pub async fn sign_out(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(form): Form<SignOut>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    tracing::info!(subject = %session.person.subject, "signed out");
    // Signed in through the identity provider: sign out there too, and come back here.
    let at_provider = state.sign_in.oidc.as_ref().and_then(|oidc| {
        let back = state
            .public_url
            .as_ref()
            .map(|url| format!("{url}/log-ind"));
        oidc.end_session_url(None, back.as_deref())
    });
    if let Some(url) = at_provider {
        let mut response = Redirect::to(url.as_str()).into_response();
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.clear_cookie(COOKIE));
        return response;
    }
    let mut response = public_page(
        StatusCode::OK,
        "Du er logget ud",
        html! { p { a href="/log-ind" { "Log ind igen" } } },
    )
    .into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.clear_cookie(COOKIE));
    response
}
