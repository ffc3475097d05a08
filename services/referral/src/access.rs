//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::access::ANY_ROLE;
use kontakt_platform::auth::{AccessTable, Role};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::REFERRAL,
    methods: &[
        // The legal-basis catalogue is public law: every authenticated caller may read it.
        ("ListLegalBases", ANY_ROLE),
        ("GetLegalBasis", ANY_ROLE),
        // Persons are personal data: those who refer, decide or integrate; never a contact
        // person, finance, an auditor (who reads the access log instead) or another service.
        (
            "CreatePerson",
            &[Role::Counsellor, Role::CaseSystem, Role::Admin],
        ),
        (
            "GetPerson",
            &[
                Role::Counsellor,
                Role::Committee,
                Role::Coordinator,
                Role::CaseSystem,
                Role::Admin,
            ],
        ),
        (
            "LookupPerson",
            &[Role::Counsellor, Role::CaseSystem, Role::Admin],
        ),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method the gRPC service declares has a row, so a new method cannot ship open or
    /// silently closed.
    #[test]
    fn the_table_names_every_method_of_the_service() {
        let declared = kontakt_proto::method_names(ACCESS.service);
        let listed: Vec<&str> = ACCESS.methods.iter().map(|(m, _)| *m).collect();
        assert_eq!(
            listed.len(),
            declared.len(),
            "table {listed:?} vs service {declared:?}"
        );
        for method in &declared {
            assert!(
                ACCESS.roles(method).is_some(),
                "{method} has no row in the access table"
            );
        }
    }
}
