//! Who is calling: the claims of a verified token, as a typed principal.
//!
//! Claim names are namespaced (`kontakt_…`) so a municipality's identity provider, or an OIDC
//! broker in front of KOMBIT's Context Handler, can issue them next to its own claims.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a principal may do is decided by its roles (DOMAIN.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Family counsellor: refers cases, decides without a committee, owns follow-up.
    Counsellor,
    /// Visitation committee member: records committee decisions.
    Committee,
    /// Hires and matches contact persons, buys from providers, approves timesheets.
    Coordinator,
    /// Sees own assignments and registers own time, nothing else.
    ContactPerson,
    /// Reads budgets and reports; edits frames and indexation.
    Finance,
    /// A municipal case system integrating over gRPC, acting for its municipality.
    CaseSystem,
    /// Data-protection officer: reads the access log.
    Auditor,
    /// Edits municipal policies and catalogues.
    Admin,
    /// Another Kontakt service (event feeds); least privilege.
    Service,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Counsellor,
        Role::Committee,
        Role::Coordinator,
        Role::ContactPerson,
        Role::Finance,
        Role::CaseSystem,
        Role::Auditor,
        Role::Admin,
        Role::Service,
    ];

    /// The claim value, e.g. `contact_person`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Counsellor => "counsellor",
            Role::Committee => "committee",
            Role::Coordinator => "coordinator",
            Role::ContactPerson => "contact_person",
            Role::Finance => "finance",
            Role::CaseSystem => "case_system",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A municipality's official 3-digit code (Ishøj 183, Vallensbæk 187, Ringsted 329).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MunicipalityCode(u16);

impl MunicipalityCode {
    /// Exactly three digits, 101 to 999 (codes below 101 are not in use).
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let code: u16 = text.parse().ok()?;
        (code >= 101).then_some(Self(code))
    }
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// The token's claims as issued. Unknown claims are ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub kontakt_roles: Vec<String>,
    #[serde(default)]
    pub kontakt_municipalities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kontakt_service_units: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kontakt_contact_person: Option<String>,
    // Registered claims, checked by the verifier.
    pub iss: String,
    pub aud: Audience,
    pub exp: u64,
    /// Not before: a token issued for later is refused until then (with the leeway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub iat: u64,
}

/// `aud` may be one string or a list (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Default for Audience {
    fn default() -> Self {
        Audience::Many(Vec::new())
    }
}

/// A verified caller. Handlers read it from the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub display_name: String,
    pub roles: BTreeSet<Role>,
    pub municipalities: BTreeSet<MunicipalityCode>,
    pub service_units: BTreeSet<String>,
    /// Set for a contact person: the only person whose assignments and time they see.
    pub contact_person: Option<String>,
}

impl Principal {
    /// Turns claims into a principal. Role names the suite does not know grant nothing and are
    /// dropped (an identity provider may add its own); malformed municipality codes are refused.
    pub fn from_claims(claims: Claims) -> Result<Self, String> {
        if claims.sub.trim().is_empty() {
            return Err("the token has no subject (`sub`)".into());
        }
        let municipalities = claims
            .kontakt_municipalities
            .iter()
            .map(|m| {
                MunicipalityCode::parse(m).ok_or_else(|| {
                    format!("`{m}` in kontakt_municipalities is not a 3-digit municipality code")
                })
            })
            .collect::<Result<_, _>>()?;
        let roles: BTreeSet<Role> = claims
            .kontakt_roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .collect();
        if roles.contains(&Role::ContactPerson) && claims.kontakt_contact_person.is_none() {
            return Err("a contact_person token needs kontakt_contact_person".into());
        }
        Ok(Self {
            subject: claims.sub,
            display_name: claims.name,
            roles,
            municipalities,
            service_units: claims.kontakt_service_units.into_iter().collect(),
            contact_person: claims.kontakt_contact_person,
        })
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the principal acts for `municipality` (DOMAIN.md §5).
    pub fn serves(&self, municipality: MunicipalityCode) -> bool {
        self.municipalities.contains(&municipality)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(roles: &[&str], municipalities: &[&str]) -> Claims {
        Claims {
            sub: "user-1".into(),
            kontakt_roles: roles.iter().map(|s| s.to_string()).collect(),
            kontakt_municipalities: municipalities.iter().map(|s| s.to_string()).collect(),
            ..Claims::default()
        }
    }

    #[test]
    fn every_role_round_trips_through_its_claim_value() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn claims_become_a_principal_and_unknown_roles_grant_nothing() {
        let principal =
            Principal::from_claims(claims(&["coordinator", "superuser"], &["183", "187"]))
                .expect("valid");
        assert_eq!(
            principal.roles.iter().copied().collect::<Vec<_>>(),
            [Role::Coordinator]
        );
        assert!(principal.serves(MunicipalityCode::parse("187").expect("code")));
        assert!(!principal.serves(MunicipalityCode::parse("329").expect("code")));
    }

    #[test]
    fn malformed_municipality_codes_and_missing_subjects_are_refused() {
        assert!(Principal::from_claims(claims(&["counsellor"], &["18"])).is_err());
        assert!(Principal::from_claims(claims(&["counsellor"], &["abc"])).is_err());
        assert!(Principal::from_claims(claims(&["counsellor"], &["099"])).is_err());
        let mut no_subject = claims(&["counsellor"], &["183"]);
        no_subject.sub = " ".into();
        assert!(Principal::from_claims(no_subject).is_err());
    }

    #[test]
    fn a_contact_person_token_must_say_which_contact_person() {
        assert!(Principal::from_claims(claims(&["contact_person"], &["183"])).is_err());
        let mut ok = claims(&["contact_person"], &["183"]);
        ok.kontakt_contact_person = Some("cp-1".into());
        assert_eq!(
            Principal::from_claims(ok)
                .expect("valid")
                .contact_person
                .as_deref(),
            Some("cp-1")
        );
    }

    #[test]
    fn municipality_codes_print_with_three_digits() {
        assert_eq!(
            MunicipalityCode::parse("183").expect("code").to_string(),
            "183"
        );
    }
}
