//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::AccessTable;

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::FOLLOWUP,
    methods: &[
        // No methods yet; a method missing here is refused.
    ],
};
