//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::AccessTable;
use kontakt_platform::auth::access::ANY_ROLE;

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::TIMECOST,
    methods: &[
        // The activity kinds describe no person: every authenticated caller may read it.
        ("ListActivityKinds", ANY_ROLE),
        ("GetActivityKind", ANY_ROLE),
    ],
};
