//! What many tests create first in the referral service: a child, a case and its draft
//! referral. The request builders are shared with the fault load, which retries each call.

use kontakt_proto::followup::v1::follow_up_service_client::FollowUpServiceClient;
use kontakt_proto::followup::v1::{FollowUp, ListFollowUpsRequest};
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::{
    ApprovalLevel, Assessment, AssessmentKind, Case, CommitteeMeeting, CreateAssessmentRequest,
    CreateCaseRequest, CreateCommitteeMeetingRequest, CreatePersonRequest, CreatePlanRequest,
    CreateReferralRequest, DecideReferralRequest, DecisionOutcome, Goal, GrantVersion,
    ListGrantVersionsRequest, Plan, PlanKind, Referral,
};

use crate::AuthedChannel;
use crate::messages::date;

pub type ReferralClient = ReferralServiceClient<AuthedChannel>;
pub type FollowUpClient = FollowUpServiceClient<AuthedChannel>;

/// A case in `municipality` (e.g. `183`) for `person`, idempotent by its external id.
pub fn case_request(municipality: &str, external_id: &str, person: &str) -> CreateCaseRequest {
    CreateCaseRequest {
        parent: format!("municipalities/{municipality}"),
        case: Some(Case {
            case_system: "nexus".into(),
            external_id: external_id.into(),
            kle_number: "27.27.24".into(),
            person: person.into(),
            ..Case::default()
        }),
    }
}

/// The børnefaglig undersøgelse of `referral` (BL § 20, which both reference standards ask
/// for): the need known on 1 September 2026, assessed by 1 October.
pub fn assessment_request(referral: &str) -> CreateAssessmentRequest {
    CreateAssessmentRequest {
        parent: referral.into(),
        assessment: Some(Assessment {
            kind: AssessmentKind::ChildAssessment as i32,
            need_known_date: date(2026, 9, 1),
            completion_date: date(2026, 10, 1),
            conclusion: "needs a fixed adult".into(),
            ..Assessment::default()
        }),
    }
}

/// The child's plan (barnets plan of 15 October 2026) on `case` with one `goal`.
pub fn plan_request(case: &str, goal: &str) -> CreatePlanRequest {
    CreatePlanRequest {
        parent: case.into(),
        plan: Some(Plan {
            kind: PlanKind::BarnetsPlan as i32,
            plan_date: date(2026, 10, 15),
            goals: vec![Goal {
                description: goal.into(),
                ..Goal::default()
            }],
            ..Plan::default()
        }),
    }
}

/// Ishøjgård's visitation committee meeting in `municipality` on 24 November 2026, the
/// scenarios' today: a committee's decisions are dated by its meeting and recorded from that
/// day on (R-RV-8).
pub fn meeting_request(municipality: &str) -> CreateCommitteeMeetingRequest {
    CreateCommitteeMeetingRequest {
        parent: format!("municipalities/{municipality}"),
        committee_meeting: Some(CommitteeMeeting {
            committee: "Visitationsudvalget til Ishøjgård".into(),
            meeting_date: date(2026, 11, 24),
            ..CommitteeMeeting::default()
        }),
    }
}

/// An approval of `referral` at `level`: `minutes` a week from 1 December 2026 for a year.
pub fn approve(referral: &str, level: ApprovalLevel, minutes: i32) -> DecideReferralRequest {
    DecideReferralRequest {
        name: referral.into(),
        outcome: DecisionOutcome::Approve as i32,
        approval_level: level as i32,
        minutes_per_week: minutes,
        start_date: date(2026, 12, 1),
        expected_end_date: date(2027, 11, 30),
        ..DecideReferralRequest::default()
    }
}

/// The versions of `grant`, oldest first.
pub async fn grant_versions(client: &mut ReferralClient, grant: &str) -> Vec<GrantVersion> {
    client
        .list_grant_versions(ListGrantVersionsRequest {
            parent: grant.into(),
            ..ListGrantVersionsRequest::default()
        })
        .await
        .expect("versions")
        .into_inner()
        .versions
}

/// A draft referral on `case`, idempotent by `request_id`.
pub fn referral_request(municipality: &str, case: &str, request_id: &str) -> CreateReferralRequest {
    CreateReferralRequest {
        parent: format!("municipalities/{municipality}"),
        referral: Some(Referral {
            case: case.into(),
            ..Referral::default()
        }),
        request_id: request_id.into(),
    }
}

/// Registers the child with `cpr` in `municipality`; returns the person's resource name.
pub async fn register_child(client: &mut ReferralClient, municipality: &str, cpr: &str) -> String {
    client
        .create_person(CreatePersonRequest {
            parent: format!("municipalities/{municipality}"),
            cpr: cpr.into(),
            display_name: "Test Barn".into(),
        })
        .await
        .expect("the child is registered")
        .into_inner()
        .name
}

/// A case for `person` and its draft referral.
pub async fn draft_referral(
    client: &mut ReferralClient,
    municipality: &str,
    person: &str,
    external_id: &str,
    request_id: &str,
) -> (Case, Referral) {
    let case = client
        .create_case(case_request(municipality, external_id, person))
        .await
        .expect("case")
        .into_inner();
    let referral = client
        .create_referral(referral_request(municipality, &case.name, request_id))
        .await
        .expect("referral")
        .into_inner();
    (case, referral)
}

/// The follow-ups of `grant`, as the follow-up service lists them.
pub async fn follow_ups(client: &mut FollowUpClient, grant: &str) -> Vec<FollowUp> {
    client
        .list_follow_ups(ListFollowUpsRequest {
            parent: grant.into(),
        })
        .await
        .expect("follow-ups")
        .into_inner()
        .follow_ups
}
