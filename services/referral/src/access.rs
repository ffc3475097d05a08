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
        // Policies are set by administrators and read by everyone who works under them.
        ("CreatePolicy", &[Role::Admin]),
        ("UpdatePolicy", &[Role::Admin]),
        (
            "ListPolicies",
            &[
                Role::Counsellor,
                Role::Committee,
                Role::Coordinator,
                Role::Finance,
                Role::CaseSystem,
                Role::Admin,
            ],
        ),
        // The referral is written by the counsellor or their case system.
        ("CreateCase", WRITERS),
        ("CreatePlan", WRITERS),
        ("CreateReferral", WRITERS),
        ("UpdateReferral", WRITERS),
        ("CreateAssessment", WRITERS),
        ("SubmitReferral", WRITERS),
        ("GetCase", READERS),
        ("GetReferral", READERS),
        ("ListReferrals", READERS),
        // Visitation: the committee (R-RV-8) or, without one, the counsellor.
        (
            "CreateCommitteeMeeting",
            &[Role::Committee, Role::Counsellor, Role::Admin],
        ),
        (
            "ScheduleReferral",
            &[Role::Committee, Role::Counsellor, Role::Admin],
        ),
        // A case system records the decision the counsellor made in it (DECIDERS).
        ("DecideReferral", DECIDERS),
        // Grants: read by everyone who works with the arrangement, changed and ended by those
        // who decide (R-RV-12; the policy says which level may decide what).
        ("GetGrant", GRANT_READERS),
        ("ListGrants", GRANT_READERS),
        ("ListGrantVersions", GRANT_READERS),
        ("ChangeGrant", DECIDERS),
        ("EndGrant", DECIDERS),
        // Bringing over the old system's arrangements: the migration's operator or a case
        // system, never a person's own role alone.
        ("ImportArrangement", &[Role::Admin, Role::CaseSystem]),
        // The report to Danmarks Statistik holds every child's CPR number: the myndighed's
        // counsellors, the case system that delivers it, admin.
        (
            "ExportPreventiveMeasures",
            &[Role::Counsellor, Role::CaseSystem, Role::Admin],
        ),
    ],
};

const DECIDERS: &[Role] = &[Role::Committee, Role::Counsellor, Role::CaseSystem];
const GRANT_READERS: &[Role] = &[
    Role::Counsellor,
    Role::Committee,
    Role::Coordinator,
    Role::Finance,
    Role::CaseSystem,
    Role::Admin,
];

const WRITERS: &[Role] = &[Role::Counsellor, Role::CaseSystem, Role::Admin];
const READERS: &[Role] = &[
    Role::Counsellor,
    Role::Committee,
    Role::Coordinator,
    Role::CaseSystem,
    Role::Admin,
];
