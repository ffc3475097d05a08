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
        ("GetFollowUp", READERS),
        // The counsellor records the follow-up (R-FU-3); its outcome changes the grant.
        ("CompleteFollowUp", &[Role::Counsellor]),
        // The counsellor decides by the statutory deadlines (R-RV-5: ungestøtte before 18).
        ("ListDeadlines", READERS),
        ("CompleteDeadline", &[Role::Counsellor]),
        (
            "GetFollowUpSettings",
            &[
                Role::Counsellor,
                Role::Coordinator,
                Role::CaseSystem,
                Role::Admin,
            ],
        ),
        ("UpdateFollowUpSettings", &[Role::Admin]),
        // The frame's yearly evaluation is prepared by coordination and finance (R-FU-5).
        ("ListFrameEvaluations", FRAME_PEOPLE),
        ("CompleteFrameEvaluation", FRAME_PEOPLE),
        ("GetFrameEvaluationSettings", FRAME_PEOPLE),
        // The due day and the committee are the municipalities' decision, kept by finance.
        (
            "UpdateFrameEvaluationSettings",
            &[Role::Finance, Role::Admin],
        ),
    ],
};

const FRAME_PEOPLE: &[Role] = &[Role::Coordinator, Role::Finance, Role::Admin];

const READERS: &[Role] = &[Role::Counsellor, Role::Coordinator, Role::CaseSystem];
