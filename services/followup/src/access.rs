//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::AccessTable;

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::FOLLOWUP,
    methods: &[
        // No methods yet; a method missing here is refused.
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
