//! Ringsted (DOMAIN.md §10): the counsellor decides without a committee; a child must be 12 (a
//! younger one only with a recorded justification), 3 hours a week is the standard (more only
//! with one), the family's network is stated, follow-ups come at least every 6 months and the
//! contact persons are Ringsted's own. Follow-up is restarted while a grant is being decided.

use kontakt_platform::auth::Role;
use kontakt_proto::followup::v1 as followup;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::referral::v1::{
    ApprovalLevel, GetGrantRequest, Referral, TargetGroup, UpdateReferralRequest,
};
use tonic::Code;

use super::*;

const RINGSTED: &str = "329";
const SOFIE: &str = "serviceUnits/ringsted/contactPersons/sofie-lund";

/// Sets one justification field of a draft referral.
/// The submission of `name` is refused with exactly (`rule`, `field`); once `field` holds
/// `text` the referral is submitted.
async fn justify_when_refused(
    counsellor: &mut Referrals,
    name: &str,
    what: &str,
    (rule, field, text): (&str, &str, &str),
) {
    assert_eq!(
        refused(counsellor, name, what).await,
        [(rule.to_owned(), field.to_owned())]
    );
    justify(counsellor, name, field, text).await;
    submit(counsellor, name).await.expect("submitted");
}

async fn justify(counsellor: &mut Referrals, name: &str, field: &str, text: &str) {
    let mut referral = Referral {
        name: name.into(),
        ..Referral::default()
    };
    match field {
        "age_justification" => referral.age_justification = text.into(),
        "hours_justification" => referral.hours_justification = text.into(),
        other => panic!("no justification field {other}"),
    }
    counsellor
        .update_referral(UpdateReferralRequest {
            referral: Some(referral),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![field.into()],
            }),
        })
        .await
        .expect("justified");
}

async fn schedule(follow_ups: &mut FollowUps, grant: &str) -> Option<followup::Schedule> {
    follow_ups
        .get_schedule(followup::GetScheduleRequest {
            name: format!("{grant}/followUpSchedule"),
        })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn ringsted_age_hours_and_own_authority_then_own_staff_and_follow_ups_every_six_months() {
    let mut suite = Suite::start("2026-11-24T10:00:00Z").await;
    let mut counsellor = suite.referral(Role::Counsellor, RINGSTED);
    let twelve = Child {
        municipality: RINGSTED,
        cpr: "010114-4234",
        case_id: "RIN-12",
        target: TargetGroup::CrimeRisk,
        competences: &["family-work"],
        minutes: 240,
    };

    // A 12-year-old is old enough; 4 hours a week is above the standard's 3 and needs a
    // justification, both when referred and when decided (R-RV-6).
    let referral_12 = refer(&mut counsellor, &twelve, None).await;
    let justification = (
        "R-RV-6",
        "hours_justification",
        "school and home both need it",
    );
    justify_when_refused(&mut counsellor, &referral_12, "4 hours", justification).await;
    // No committee: the counsellor decides on their own authority.
    // (The justification recorded with the referral carries into the decision.)
    let decided = counsellor
        .decide_referral(approve(&referral_12, ApprovalLevel::OwnAuthority, 240))
        .await
        .expect("the counsellor grants")
        .into_inner();
    assert!(decided.committee_meeting.is_empty());
    let grant_12 = decided.grant;

    // An 11-year-old is under Ringsted's minimum age: refused without a justification (R-RV-5).
    let eleven = Child {
        cpr: "100515-4001",
        case_id: "RIN-11",
        minutes: 180,
        ..twelve
    };
    let referral_11 = refer(&mut counsellor, &eleven, None).await;
    let justification = (
        "R-RV-5",
        "age_justification",
        "mature for their age; older sibling's contact person",
    );
    justify_when_refused(&mut counsellor, &referral_11, "11 years", justification).await;

    // 4 hours where the referral asked for 3 and justified nothing: refused at the decision.
    let unjustified = counsellor
        .decide_referral(approve(&referral_11, ApprovalLevel::OwnAuthority, 240))
        .await
        .expect_err("no justification");
    assert_eq!(
        violations(&unjustified),
        [("R-RV-6".to_owned(), "justification".to_owned())]
    );

    // Decided while follow-up is down for a restart: its schedule is made when it is back.
    let stopped = suite.stop_one(Service::Followup).await;
    let grant_11 = counsellor
        .decide_referral(approve(&referral_11, ApprovalLevel::OwnAuthority, 180))
        .await
        .expect("granted")
        .into_inner()
        .grant;
    suite.start_again(stopped).await;
    let follow_ups = suite.followup(Role::Counsellor, RINGSTED);
    for grant in [&grant_12, &grant_11] {
        let made = eventually("a schedule per grant", || {
            let mut c = follow_ups.clone();
            let g = grant.clone();
            async move { schedule(&mut c, &g).await }
        })
        .await;
        // BL §95's 3 months beat the policy's 6 for the first; then every 6 months.
        assert_eq!(made.first_due_date, date(2027, 3, 1));
        assert_eq!(made.interval_months, 6);
    }

    // Own staff only: the proposal holds Ringsted's people; Ishøjgård's and the provider's
    // serve other municipalities and are not considered (R-MP-3), and the provider's
    // framework contract is not Ringsted's.
    let mut coordinator = suite.matching(Role::Coordinator, &[RINGSTED]);
    let grant_id = grant_12.rsplit('/').next().expect("id");
    let request = format!("municipalities/{RINGSTED}/matchingRequests/{grant_id}");
    let proposal = eventually("the matching request", || {
        let mut c = coordinator.clone();
        let matching_request = request.clone();
        async move {
            c.propose_candidates(matching::ProposeCandidatesRequest {
                matching_request,
                max_candidates: 10,
                include_excluded: true,
            })
            .await
            .ok()
            .map(tonic::Response::into_inner)
        }
    })
    .await;
    assert!(!proposal.candidates.is_empty());
    assert!(considers_only(&proposal, "ringsted"), "{proposal:?}");
    let foreign = coordinator
        .create_procurement(matching::CreateProcurementRequest {
            parent: format!("municipalities/{RINGSTED}"),
            procurement: Some(matching::Procurement {
                matching_request: request.clone(),
                provider: "providers/misbrugshjaelp-aps".into(),
                contract: "providers/misbrugshjaelp-aps/contracts/rammeaftale-2026".into(),
                reason: matching::ProcurementReason::NoCapacity as i32,
                ..matching::Procurement::default()
            }),
            request_id: "buy".into(),
        })
        .await
        .expect_err("not Ringsted's contract");
    assert_eq!(foreign.code(), Code::InvalidArgument);
    let assigned = coordinator
        .assign_contact_person(assign(&request, SOFIE, "assign"))
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assigned.minutes_per_week, 240);

    // The first follow-up, held early: CONTINUE; the next falls 6 months after it.
    suite.set_today("2027-02-25T10:00:00Z");
    let mut follow_ups = suite.followup(Role::Counsellor, RINGSTED);
    let first = follow_ups
        .list_follow_ups(followup::ListFollowUpsRequest {
            parent: grant_12.clone(),
        })
        .await
        .expect("follow-ups")
        .into_inner()
        .follow_ups
        .remove(0);
    assert_eq!(first.due_date, date(2027, 3, 1));
    let recorded = follow_ups
        .complete_follow_up(followup::CompleteFollowUpRequest {
            follow_up: Some(followup::FollowUp {
                name: first.name.clone(),
                participants: vec![followup::Participant {
                    role: followup::ParticipantRole::Counsellor as i32,
                    principal: "test-counsellor".into(),
                    display_name: "Rådgiver".into(),
                }],
                outcome: followup::FollowUpOutcome::Continue as i32,
                completed_date: date(2027, 2, 25),
                summary: "Trives med sin kontaktperson.".into(),
                approval_level: ApprovalLevel::OwnAuthority as i32,
                ..followup::FollowUp::default()
            }),
        })
        .await
        .expect("continued")
        .into_inner();
    assert_eq!(recorded.next_due_date, date(2027, 8, 25));
    let next = eventually("the next follow-up", || {
        let mut c = follow_ups.clone();
        let g = grant_12.clone();
        async move {
            schedule(&mut c, &g)
                .await
                .filter(|s| !s.next_follow_up.is_empty())
        }
    })
    .await;
    let next = follow_ups
        .get_follow_up(followup::GetFollowUpRequest {
            name: next.next_follow_up,
        })
        .await
        .expect("next")
        .into_inner();
    assert_eq!(next.due_date, date(2027, 8, 25));
    let grant = counsellor
        .get_grant(GetGrantRequest { name: grant_12 })
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(grant.minutes_per_week, 240, "CONTINUE changes nothing");
    suite.stop().await;
}
