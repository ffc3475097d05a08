//! The console's OpenID Connect settings (flags and environment), and which token it calls the
//! services with.

use std::path::PathBuf;

/// The console's OpenID Connect settings. Without an issuer, OIDC sign-in is off.
#[derive(Clone, Debug, clap::Args)]
pub struct OidcSettings {
    /// The identity provider's issuer URL, e.g. `https://login.kommune.dk/realms/kontakt`; its
    /// `/.well-known/openid-configuration` is read at start-up. Without it, OIDC sign-in is off.
    #[arg(long = "oidc-issuer-url", env = "KONTAKT_OIDC_ISSUER_URL")]
    pub issuer_url: Option<String>,

    /// The console's client id at the identity provider (required with an issuer); ID tokens
    /// must name it as their audience.
    #[arg(long = "oidc-client-id", env = "KONTAKT_OIDC_CLIENT_ID")]
    pub client_id: Option<String>,

    /// A file holding the client secret (confidential client). Without it, the console is a
    /// public client and relies on PKCE alone.
    #[arg(
        long = "oidc-client-secret-file",
        env = "KONTAKT_OIDC_CLIENT_SECRET_FILE"
    )]
    pub client_secret_file: Option<PathBuf>,

    /// The scopes to ask for, separated by spaces (`openid` is always asked for).
    #[arg(
        long = "oidc-scopes",
        env = "KONTAKT_OIDC_SCOPES",
        default_value = "openid profile"
    )]
    pub scopes: String,

    /// The ID-token claim holding the person's Kontakt roles: a JSON array of strings or one
    /// space-separated string. A dotted path (`realm_access.roles`) reaches into an object.
    #[arg(
        long = "oidc-roles-claim",
        env = "KONTAKT_OIDC_ROLES_CLAIM",
        default_value = "kontakt_roles"
    )]
    pub roles_claim: String,

    /// The ID-token claim holding the municipality codes the person acts for: an array of
    /// strings or numbers (`183`), or one space-separated string.
    #[arg(
        long = "oidc-municipalities-claim",
        env = "KONTAKT_OIDC_MUNICIPALITIES_CLAIM",
        default_value = "kontakt_municipalities"
    )]
    pub municipalities_claim: String,

    /// The ID-token claim holding a contact person's own resource name.
    #[arg(
        long = "oidc-contact-person-claim",
        env = "KONTAKT_OIDC_CONTACT_PERSON_CLAIM",
        default_value = "kontakt_contact_person"
    )]
    pub contact_person_claim: String,

    /// Which token the console calls the services with: the access token (`access`) or the ID
    /// token (`id`), whichever the services are configured to verify.
    #[arg(
        long = "oidc-service-token",
        env = "KONTAKT_OIDC_SERVICE_TOKEN",
        value_enum,
        default_value_t = ServiceToken::Access
    )]
    pub service_token: ServiceToken,
}

impl Default for OidcSettings {
    /// OIDC off, with the command line's defaults for the rest.
    fn default() -> Self {
        Self {
            issuer_url: None,
            client_id: None,
            client_secret_file: None,
            scopes: "openid profile".into(),
            roles_claim: "kontakt_roles".into(),
            municipalities_claim: "kontakt_municipalities".into(),
            contact_person_claim: "kontakt_contact_person".into(),
            service_token: ServiceToken::Access,
        }
    }
}

impl OidcSettings {
    /// Whether OIDC sign-in is configured at all.
    pub fn enabled(&self) -> bool {
        self.issuer_url
            .as_deref()
            .is_some_and(|issuer| !issuer.trim().is_empty())
    }
}

/// The token the services are called with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceToken {
    /// The access token from the token endpoint.
    #[default]
    Access,
    /// The (verified) ID token.
    Id,
}
