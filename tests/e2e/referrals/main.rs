//! A referral from draft to grant over gRPC, under a policy without a committee (Ringsted's
//! shape) and with one (Ishøj's), with every broken rule named and the events on the feed; then
//! the grant listed, changed and ended (`grants`), matching following it (`matching_requests`),
//! and a submission checked without submitting (`validate_only`).

mod assessments;
mod fields;
mod follow_up_outcomes;
mod grants;
mod matching_requests;
mod policies;
mod validate_only;
mod young_adults;

use std::sync::Arc;
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::messages::date;
use kontakt_harness::{
    AuthedChannel, Start, TestDatabase, TestService, clock_at, fixtures, fresh_database, violations,
};
use kontakt_platform::auth::Role;
use kontakt_platform::clock::ManualClock;
use kontakt_proto::common::v1::Money;
use kontakt_proto::events::v1::SubscribeRequest;
use kontakt_proto::events::v1::event_feed_service_client::EventFeedServiceClient;
use kontakt_proto::events::v1::subscribe_response::Item;
use kontakt_proto::referral::v1::referral_service_client::ReferralServiceClient;
use kontakt_proto::referral::v1::*;
use tokio_stream::StreamExt as _;
use tonic::Code;

type Client = ReferralServiceClient<AuthedChannel>;

/// The day the scenarios run on, whatever the real date: the rules compare dates with today
/// (24 November 2026, 10:00 UTC).
fn clock_today() -> Arc<ManualClock> {
    clock_at(2026, 11, 24, 10)
}

/// The referral service on `db` with its clock at `TODAY`.
async fn start_today(db: &TestDatabase) -> TestService {
    Start::new(Service::Referral, db)
        .clock(clock_today())
        .run()
        .await
        .expect("service")
}

fn as_role(running: &TestService, role: Role, municipality: &str) -> Client {
    ReferralServiceClient::new(running.as_role(role, municipality))
}

fn submit(name: &str, etag: &str, validate_only: bool) -> SubmitReferralRequest {
    SubmitReferralRequest {
        name: name.into(),
        etag: etag.into(),
        validate_only,
    }
}

/// The rules and fields the submission of `referral` is refused with.
async fn refused_submission(
    counsellor: &mut Client,
    referral: &str,
    what: &str,
) -> Vec<(String, String)> {
    let refused = counsellor
        .submit_referral(submit(referral, "", false))
        .await
        .expect_err(what);
    violations(&refused)
}

/// `referral`'s fields named in `paths`.
fn update(referral: Referral, paths: &[&str]) -> UpdateReferralRequest {
    UpdateReferralRequest {
        referral: Some(referral),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|&p| p.into()).collect(),
        }),
    }
}

fn policy_in(municipality: &str, policy: MunicipalityPolicy) -> CreatePolicyRequest {
    CreatePolicyRequest {
        parent: format!("municipalities/{municipality}"),
        policy: Some(policy),
    }
}

fn get_grant(name: &str) -> GetGrantRequest {
    GetGrantRequest { name: name.into() }
}

fn ringsted_policy() -> MunicipalityPolicy {
    MunicipalityPolicy {
        display_name: "Kvalitetsstandard for kontaktperson 2019".into(),
        effective_from: date(2019, 2, 4),
        min_age_years: 12,
        max_minutes_per_week: 180,
        unit_minutes: 180,
        network_statement_required: true,
        follow_up_interval_months: 6,
        activity_money_cap_per_quarter: Some(Money { ore: 60_000 }),
        approval_rules: vec![
            ApprovalRule {
                level: ApprovalLevel::OwnAuthority as i32,
                max_minutes_per_week: 180,
                may_deviate_from_standard: false,
            },
            ApprovalRule {
                level: ApprovalLevel::TeamLeader as i32,
                max_minutes_per_week: 0,
                may_deviate_from_standard: true,
            },
        ],
        ..MunicipalityPolicy::default()
    }
}

fn ishoj_policy() -> MunicipalityPolicy {
    MunicipalityPolicy {
        display_name: "Ramme for ansættelse af kontaktpersoner 2018".into(),
        effective_from: date(2018, 2, 1),
        committee_required: true,
        plan_required: true,
        approval_rules: vec![ApprovalRule {
            level: ApprovalLevel::Committee as i32,
            max_minutes_per_week: 0,
            may_deviate_from_standard: true,
        }],
        ..MunicipalityPolicy::default()
    }
}

/// A person, a case and a draft referral in `municipality`; returns the case and the referral.
async fn draft(
    counsellor: &mut Client,
    municipality: &str,
    cpr: &str,
    external_id: &str,
) -> (Case, Referral) {
    let person = fixtures::register_child(counsellor, municipality, cpr).await;
    let request_id = format!("req-{external_id}");
    fixtures::draft_referral(counsellor, municipality, &person, external_id, &request_id).await
}

fn complete_fields(name: &str, etag: &str, plan: &str) -> Referral {
    Referral {
        name: name.into(),
        etag: etag.into(),
        recipient: Recipient::Child as i32,
        target_groups: vec![TargetGroup::CrimeRisk as i32],
        needs: Some(Needs {
            description: "a calm adult who likes football".into(),
            ..Needs::default()
        }),
        requested_minutes_per_week: 180,
        purpose: "stable school attendance".into(),
        expected_duration_months: 12,
        legal_basis: "legalBases/bl-32-1-3".into(),
        consent: Some(Consent {
            custody_holder_consented: true,
            consent_date: date(2026, 11, 1),
            child_view: "wants someone to talk to".into(),
            ..Consent::default()
        }),
        plan: plan.into(),
        network_statement: "no family nearby".into(),
        ..Referral::default()
    }
}

async fn add_assessment(counsellor: &mut Client, referral: &str) {
    counsellor
        .create_assessment(fixtures::assessment_request(referral))
        .await
        .expect("assessment");
}

/// The types of the first `want` events on the municipality's feed.
async fn events(running: &TestService, municipality: &str, want: usize) -> Vec<String> {
    payloads(running, municipality, &[], want)
        .await
        .into_iter()
        .map(|event| {
            event
                .r#type
                .trim_start_matches("kontakt.referral.v1.")
                .to_owned()
        })
        .collect()
}

/// The first `want` events of these types (all if none) on the municipality's feed.
async fn payloads(
    running: &TestService,
    municipality: &str,
    types: &[&str],
    want: usize,
) -> Vec<kontakt_proto::events::v1::Envelope> {
    let mut feed = EventFeedServiceClient::new(running.as_role(Role::CaseSystem, municipality));
    let mut stream = feed
        .subscribe(SubscribeRequest {
            after_sequence: 0,
            types: types
                .iter()
                .map(|t| format!("kontakt.referral.v1.{t}"))
                .collect(),
        })
        .await
        .expect("subscribe")
        .into_inner();
    let mut found = Vec::new();
    while found.len() < want {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("open")
            .expect("item");
        if let Some(Item::Event(event)) = item.item {
            found.push(event);
        }
    }
    found
}

/// The first GrantApproved on municipality `m`'s feed, as a case system receives it.
async fn first_approval(running: &TestService, m: &str) -> GrantApproved {
    payloads(running, m, &["GrantApproved"], 1).await[0]
        .payload
        .as_ref()
        .expect("payload")
        .to_msg()
        .expect("GrantApproved")
}

#[tokio::test]
async fn without_a_committee_the_counsellor_takes_a_referral_from_draft_to_grant() {
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    let mut admin = as_role(&running, Role::Admin, "329");
    let mut counsellor = as_role(&running, Role::Counsellor, "329");

    // No policy yet: a clear precondition, not a guess.
    let (case, referral) = draft(&mut counsellor, "329", "010114-4234", "R-1").await;
    let none = counsellor
        .submit_referral(submit(&referral.name, "", false))
        .await
        .expect_err("no policy");
    assert_eq!(none.code(), Code::FailedPrecondition);

    admin
        .create_policy(policy_in("329", ringsted_policy()))
        .await
        .expect("policy");

    // The empty draft: every broken rule at once, each with its rule id and field.
    let refused = counsellor
        .submit_referral(submit(&referral.name, &referral.etag, false))
        .await
        .expect_err("incomplete");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let broken = violations(&refused);
    for expected in [
        ("R-RV-1", "assessments"),
        ("R-RV-2", "purpose"),
        ("R-RV-2", "legal_basis"),
        ("R-RV-3", "consent"),
        ("R-RV-7", "network_statement"),
    ] {
        assert!(
            broken.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {broken:?}"
        );
    }

    // A retry of the create is the same referral; a second one for the case is refused.
    let again = counsellor
        .create_referral(fixtures::referral_request("329", &case.name, "req-R-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again.name, referral.name);
    let second = counsellor
        .create_referral(fixtures::referral_request("329", &case.name, "another"))
        .await
        .expect_err("one open referral per case");
    assert_eq!(second.code(), Code::AlreadyExists);

    // 4 hours a week without a justification: R-RV-6.
    let mut fields = complete_fields(&referral.name, &referral.etag, "");
    fields.requested_minutes_per_week = 240;
    let updated = counsellor
        .update_referral(update(fields.clone(), &["*"]))
        .await
        .expect("update")
        .into_inner();
    // A stale etag loses.
    let stale = counsellor
        .update_referral(update(fields, &["purpose"]))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    add_assessment(&mut counsellor, &referral.name).await;
    assert_eq!(
        refused_submission(&mut counsellor, &referral.name, "hours").await,
        [("R-RV-6".to_owned(), "hours_justification".to_owned())]
    );
    let justified = counsellor
        .update_referral(update(
            Referral {
                name: referral.name.clone(),
                etag: updated.etag.clone(),
                hours_justification: "school and home both need support".into(),
                ..Referral::default()
            },
            &["hours_justification"],
        ))
        .await
        .expect("justify")
        .into_inner();
    let submitted = counsellor
        .submit_referral(submit(&referral.name, &justified.etag, false))
        .await
        .expect("submitted")
        .into_inner();
    assert_eq!(submitted.state(), ReferralState::Submitted);

    // The counsellor decides; 4 hours is a deviation their own authority cannot grant.
    let decide = |level: ApprovalLevel| fixtures::approve(&referral.name, level, 240);
    let own = counsellor
        .decide_referral(decide(ApprovalLevel::OwnAuthority))
        .await
        .expect_err("beyond own authority");
    assert!(violations(&own).contains(&("R-RV-12".into(), "approval_level".into())));
    let decision = counsellor
        .decide_referral(decide(ApprovalLevel::TeamLeader))
        .await
        .expect("approved")
        .into_inner();
    let grant = counsellor
        .get_grant(get_grant(&decision.grant))
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(grant.state(), GrantState::Active);
    assert_eq!(grant.minutes_per_week, 240);
    assert_eq!(grant.person, case.person);

    assert_eq!(
        events(&running, "329", 3).await,
        ["ReferralSubmitted", "VisitationDecided", "GrantApproved"]
    );
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn with_a_committee_the_referral_goes_on_a_meeting_and_the_committee_decides() {
    let db = fresh_database().await.expect("database");
    let clock = clock_today();
    let running = Start::new(Service::Referral, &db)
        .clock(clock.clone())
        .run()
        .await
        .expect("service");
    as_role(&running, Role::Admin, "183")
        .create_policy(policy_in("183", ishoj_policy()))
        .await
        .expect("policy");
    let mut counsellor = as_role(&running, Role::Counsellor, "183");
    let mut committee = as_role(&running, Role::Committee, "183");
    let (case, referral) = draft(&mut counsellor, "183", "020312-4321", "I-1").await;
    counsellor
        .update_referral(update(complete_fields(&referral.name, "", ""), &["*"]))
        .await
        .expect("update");
    add_assessment(&mut counsellor, &referral.name).await;
    // Ishøj requires an action plan with a goal (R-RV-1).
    assert_eq!(
        refused_submission(&mut counsellor, &referral.name, "no plan").await,
        [("R-RV-1".to_owned(), "plan".to_owned())]
    );
    let plan = counsellor
        .create_plan(fixtures::plan_request(
            &case.name,
            "attends school four days a week",
        ))
        .await
        .expect("plan")
        .into_inner();
    counsellor
        .update_referral(update(
            Referral {
                name: referral.name.clone(),
                plan: plan.name.clone(),
                ..Referral::default()
            },
            &["plan"],
        ))
        .await
        .expect("plan set");
    counsellor
        .submit_referral(submit(&referral.name, "", false))
        .await
        .expect("submitted");

    // The counsellor cannot decide where there is a committee (R-RV-8).
    let approve = DecideReferralRequest {
        review_date: date(2027, 3, 1),
        ..fixtures::approve(&referral.name, ApprovalLevel::Committee, 300)
    };
    let not_yours = counsellor
        .decide_referral(approve.clone())
        .await
        .expect_err("committee decides");
    assert_eq!(violations(&not_yours)[0].0, "R-RV-8");
    // The meeting is on Thursday 26 November; today is the 24th.
    let meeting = committee
        .create_committee_meeting(CreateCommitteeMeetingRequest {
            committee_meeting: Some(CommitteeMeeting {
                meeting_date: date(2026, 11, 26),
                ..fixtures::meeting_request("183")
                    .committee_meeting
                    .expect("meeting")
            }),
            ..fixtures::meeting_request("183")
        })
        .await
        .expect("meeting")
        .into_inner();
    let agenda = committee
        .schedule_referral(ScheduleReferralRequest {
            committee_meeting: meeting.name.clone(),
            referral: referral.name.clone(),
        })
        .await
        .expect("on the agenda")
        .into_inner();
    assert_eq!(agenda.referrals, std::slice::from_ref(&referral.name));
    // Before the meeting its decision cannot be recorded (R-RV-8) ...
    let early = committee
        .decide_referral(approve.clone())
        .await
        .expect_err("before the meeting");
    assert_eq!(
        violations(&early),
        [("R-RV-8".to_owned(), "committee_meeting".to_owned())]
    );
    // ... and recorded two days after it, it is dated by the meeting, not by the recording.
    clock.set("2026-11-28T09:00:00Z".parse().expect("time"));
    // The committee approves only having checked the plan's goals are realistic (R-RV-8).
    let unchecked = committee
        .decide_referral(approve.clone())
        .await
        .expect_err("goals not checked");
    assert_eq!(
        violations(&unchecked),
        [("R-RV-8".to_owned(), "goals_realistic".to_owned())]
    );
    let decision = committee
        .decide_referral(DecideReferralRequest {
            goals_realistic: true,
            ..approve
        })
        .await
        .expect("the committee approves")
        .into_inner();
    assert_eq!(decision.committee_meeting, meeting.name);
    assert_eq!(decision.decision_date, date(2026, 11, 26));
    assert!(decision.goals_realistic, "recorded with the decision");
    let grant = committee
        .get_grant(get_grant(&decision.grant))
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(grant.minutes_per_week, 300);
    assert_eq!(grant.review_date, date(2027, 3, 1));

    // Another municipality's counsellor sees none of it.
    let outsider = as_role(&running, Role::Counsellor, "329")
        .get_referral(GetReferralRequest {
            name: referral.name.clone(),
        })
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    running.stop().await.expect("stop");
}
