//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::access::ANY_ROLE;
use kontakt_platform::auth::{AccessTable, Role};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::MATCHING,
    methods: &[
        // The competence catalogue describes no person: every authenticated caller may read it.
        ("ListCompetences", ANY_ROLE),
        ("GetCompetence", ANY_ROLE),
        // Matching requests: the coordinator's worklist; the counsellor follows their cases.
        ("GetMatchingRequest", REQUEST_READERS),
        ("ListMatchingRequests", REQUEST_READERS),
    ],
};

const REQUEST_READERS: &[Role] = &[Role::Coordinator, Role::Counsellor, Role::Admin];
