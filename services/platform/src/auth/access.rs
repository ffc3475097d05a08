//! Which roles may call which method: one readable table per service, checked for every call
//! before it reaches the service. A method missing from the table is refused (fail closed), and
//! each service has a test that its table names every method of its gRPC service.
//! Tenant scoping (which municipality's data) is the service's job, inside each method.

use super::{Principal, Role};
use crate::ApiError;

/// Every role a person or an integrating system can hold; for methods any of them may call.
/// Kontakt's own services (`Role::Service`) are not among them: a service principal gets only
/// what a table grants it by name (least privilege).
pub const ANY_ROLE: &[Role] = &[
    Role::Counsellor,
    Role::Committee,
    Role::Coordinator,
    Role::ContactPerson,
    Role::Finance,
    Role::CaseSystem,
    Role::Auditor,
    Role::Admin,
];

#[derive(Debug)]
pub struct AccessTable {
    /// The fully qualified gRPC service, e.g. `kontakt.referral.v1.ReferralService`.
    pub service: &'static str,
    /// (method, roles allowed to call it).
    pub methods: &'static [(&'static str, &'static [Role])],
}

impl AccessTable {
    /// The roles allowed to call `method`, or `None` if the table does not name it.
    pub fn roles(&self, method: &str) -> Option<&'static [Role]> {
        self.methods
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, roles)| *roles)
    }

    /// Whether `principal` may call the method at `path` (`/<service>/<method>`).
    pub fn check(&self, path: &str, principal: &Principal) -> Result<(), ApiError> {
        let method = path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(self.service))
            .and_then(|p| p.strip_prefix('/'));
        let allowed = method.and_then(|m| self.roles(m)).unwrap_or(&[]);
        if principal.roles.iter().any(|r| allowed.contains(r)) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(format!(
                "{} may not be called with role(s) [{}]",
                method.unwrap_or(path),
                principal
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Checks `path` against the table of the service it names; a service without a table is
/// refused like a method without a row.
pub fn check(
    tables: &[&'static AccessTable],
    path: &str,
    principal: &Principal,
) -> Result<(), ApiError> {
    let service = path
        .strip_prefix('/')
        .and_then(|p| p.split('/').next())
        .unwrap_or_default();
    match tables.iter().find(|t| t.service == service) {
        Some(table) => table.check(path, principal),
        None => Err(ApiError::PermissionDenied(format!(
            "{path} is not served here"
        ))),
    }
}
