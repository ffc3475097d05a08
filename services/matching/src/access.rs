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
        // People and providers: the coordinator keeps them; a contact person sees their own
        // record (checked in the method).
        ("CreateContactPerson", KEEPERS),
        ("UpdateContactPerson", KEEPERS),
        (
            "GetContactPerson",
            &[Role::Coordinator, Role::Admin, Role::ContactPerson],
        ),
        ("ListContactPersons", KEEPERS),
        ("CreateProvider", KEEPERS),
        ("GetProvider", PROVIDER_READERS),
        ("ListProviders", PROVIDER_READERS),
        ("CreateFrameworkContract", KEEPERS),
        ("ListFrameworkContracts", PROVIDER_READERS),
        // Matching itself is the coordinator's work (R-MP-1).
        ("ProposeCandidates", COORDINATOR),
        ("ListUnmetDemand", &[Role::Coordinator, Role::Admin]),
        ("AssignContactPerson", COORDINATOR),
        ("ChangeAssignment", COORDINATOR),
        ("EndAssignment", COORDINATOR),
        // A contact person sees their own assignments and nothing else (checked in the method).
        ("GetAssignment", ASSIGNMENT_READERS),
        ("ListAssignments", ASSIGNMENT_READERS),
        ("CreateProcurement", COORDINATOR),
        ("RecordOffer", COORDINATOR),
        ("OrderProcurement", COORDINATOR),
        ("CancelProcurement", COORDINATOR),
        ("GetProcurement", &[Role::Coordinator, Role::Finance]),
    ],
};

const REQUEST_READERS: &[Role] = &[Role::Coordinator, Role::Counsellor, Role::Admin];
const KEEPERS: &[Role] = &[Role::Coordinator, Role::Admin];
const PROVIDER_READERS: &[Role] = &[Role::Coordinator, Role::Admin, Role::Finance];
const COORDINATOR: &[Role] = &[Role::Coordinator];
const ASSIGNMENT_READERS: &[Role] = &[
    Role::Coordinator,
    Role::Counsellor,
    Role::ContactPerson,
    Role::Finance,
];
