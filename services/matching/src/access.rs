//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::AccessTable;
use kontakt_platform::auth::access::ANY_ROLE;

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::MATCHING,
    methods: &[
        // The competence catalogue describes no person: every authenticated caller may read it.
        ("ListCompetences", ANY_ROLE),
        ("GetCompetence", ANY_ROLE),
    ],
};
