//! Who may call which method of this service (roles × methods). Tenant scoping happens
//! inside each method; this table only says which roles get in at all.

use kontakt_platform::auth::{AccessTable, Role};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::FOLLOWUP,
    methods: &[
        // The counsellor owns follow-up with the coordinator (R-FU-3); a case system shows the
        // due follow-ups in its own worklists.
        ("GetSchedule", READERS),
        ("ListFollowUps", READERS),
        ("ListDueFollowUps", READERS),
    ],
};

const READERS: &[Role] = &[Role::Counsellor, Role::Coordinator, Role::CaseSystem];
