//! Ishøj and Vallensbæk (DOMAIN.md §10): the counsellor refers with an assessment and an action
//! plan, the committee decides the hours, Ishøjgård's coordinator matches one child with own
//! staff and buys for the other from a provider, hours are registered (an overrun, a reversal)
//! and approved, the shared frame shows its 2/3–1/3 split, and the follow-ups adjust and then
//! end the grant. Matching is restarted while a grant is being decided.

use kontakt_platform::auth::Role;
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::followup::v1 as followup;
use kontakt_proto::matching::v1 as matching;
use kontakt_proto::referral::v1::{
    ApprovalLevel, DecideReferralRequest, GetGrantRequest, GrantEndReason, GrantState,
    ScheduleReferralRequest, TargetGroup,
};
use kontakt_proto::timecost::v1 as timecost;
use tonic::Code;

use super::*;

const ISHOJ: &str = "183";
const VALLENSBAEK: &str = "187";
const FRAME: &str = "frames/ishoj-vallensbaek";
const JONAS: &str = "serviceUnits/ishoejgaard/contactPersons/jonas-berg";
const KARIM: &str = "serviceUnits/ishoejgaard/contactPersons/karim-nasser";
const PROVIDER: &str = "providers/misbrugshjaelp-aps";

/// The committee of `municipality` puts `referral` on a meeting and grants `minutes` a week.
async fn committee_grants(
    suite: &Suite,
    municipality: &str,
    referral: &str,
    minutes: i32,
) -> String {
    let mut committee = suite.referral(Role::Committee, municipality);
    let meeting = committee
        .create_committee_meeting(fixtures::meeting_request(municipality))
        .await
        .expect("meeting")
        .into_inner();
    committee
        .schedule_referral(ScheduleReferralRequest {
            committee_meeting: meeting.name.clone(),
            referral: referral.into(),
        })
        .await
        .expect("on the agenda");
    let decision = committee
        .decide_referral(DecideReferralRequest {
            goals_realistic: true,
            ..approve(referral, ApprovalLevel::Committee, minutes)
        })
        .await
        .expect("the committee grants")
        .into_inner();
    assert_eq!(decision.committee_meeting, meeting.name);
    decision.grant
}

/// `contact_person` registers `request` once time & cost knows the assignment: its events
/// arrive from matching asynchronously.
async fn register_when_known(
    contact_person: &TimeCost,
    what: &str,
    request: timecost::RegisterTimeRequest,
) -> timecost::TimeEntry {
    eventually(what, || {
        let (mut c, request) = (contact_person.clone(), request.clone());
        async move {
            c.register_time(request)
                .await
                .ok()
                .map(tonic::Response::into_inner)
        }
    })
    .await
}

fn register(
    assignment: &str,
    day: i32,
    minutes: i32,
    request_id: &str,
) -> timecost::RegisterTimeRequest {
    timecost::RegisterTimeRequest {
        parent: assignment.into(),
        time_entry: Some(timecost::TimeEntry {
            work_date: date(2026, 12, day),
            minutes,
            activity_kind: "activityKinds/face-to-face".into(),
            note: "samtale og fodbold".into(),
            ..timecost::TimeEntry::default()
        }),
        request_id: request_id.into(),
    }
}

async fn budget(suite: &Suite, as_of: Option<Date>) -> timecost::BudgetStatus {
    suite
        .timecost(Role::Finance, &[ISHOJ, VALLENSBAEK])
        .get_budget_status(timecost::GetBudgetStatusRequest {
            name: format!("{FRAME}/budgetStatus"),
            as_of,
        })
        .await
        .expect("budget status")
        .into_inner()
}

fn ore(money: Option<&Money>) -> i64 {
    money.map_or(0, |m| m.ore)
}

fn of_municipality<'a>(
    status: &'a timecost::BudgetStatus,
    m: &str,
) -> &'a timecost::MunicipalityBudget {
    status
        .municipalities
        .iter()
        .find(|b| b.municipality == m)
        .unwrap_or_else(|| panic!("{m} in {status:?}"))
}

async fn assignment(suite: &Suite, name: &str) -> matching::Assignment {
    suite
        .matching(Role::Coordinator, &[ISHOJ, VALLENSBAEK])
        .get_assignment(matching::GetAssignmentRequest { name: name.into() })
        .await
        .expect("assignment")
        .into_inner()
}

async fn open_follow_up(follow_ups: &mut FollowUps, grant: &str) -> followup::FollowUp {
    fixtures::follow_ups(follow_ups, grant)
        .await
        .into_iter()
        .find(|f| {
            f.state() != followup::FollowUpState::Completed
                && f.state() != followup::FollowUpState::Cancelled
        })
        .expect("an open follow-up")
}

/// A follow-up held on `held` with the counsellor and the coordinator (Ishøj's policy), at the
/// committee (which decides hours in Ishøj).
fn held(name: &str, held: Option<Date>, outcome: followup::FollowUpOutcome) -> followup::FollowUp {
    followup::FollowUp {
        name: name.into(),
        participants: vec![
            followup::Participant {
                role: followup::ParticipantRole::Counsellor as i32,
                principal: "test-counsellor".into(),
                display_name: "Rådgiver".into(),
            },
            followup::Participant {
                role: followup::ParticipantRole::Coordinator as i32,
                principal: "test-coordinator".into(),
                display_name: "Koordinator, Ishøjgård".into(),
            },
        ],
        outcome: outcome as i32,
        completed_date: held,
        summary: "Kommer i skole fire dage om ugen.".into(),
        approval_level: ApprovalLevel::Committee as i32,
        ..followup::FollowUp::default()
    }
}

#[tokio::test]
async fn ishoj_and_vallensbaek_from_referral_through_committee_matching_hours_budget_and_follow_ups_to_the_end()
 {
    let mut suite = Suite::start("2026-11-24T10:00:00Z").await;

    // --- Referral and visitation: Ishøj needs an action plan, the committee decides hours.
    let mut ishoj = suite.referral(Role::Counsellor, ISHOJ);
    let school = Child {
        municipality: ISHOJ,
        cpr: "020312-4321",
        case_id: "ISH-1",
        target: TargetGroup::CrimeRisk,
        competences: &["crime-prevention", "school-support"],
        minutes: 300,
    };
    let without_plan = refer(
        &mut ishoj,
        &Child {
            case_id: "ISH-0",
            cpr: "010114-4234",
            ..school
        },
        None,
    )
    .await;
    assert_eq!(
        refused(&mut ishoj, &without_plan, "no plan").await,
        [("R-RV-1".to_owned(), "plan".to_owned())]
    );
    let referral_a = refer(&mut ishoj, &school, Some("attends school four days a week")).await;
    submit(&mut ishoj, &referral_a).await.expect("submitted");
    let not_yours = ishoj
        .decide_referral(approve(&referral_a, ApprovalLevel::Committee, 300))
        .await
        .expect_err("the committee decides");
    assert_eq!(violations(&not_yours)[0].0, "R-RV-8");
    let grant_a = committee_grants(&suite, ISHOJ, &referral_a, 300).await;

    // --- Matching: a request from the GrantApproved event, a ranked proposal, own staff.
    let mut coordinator = suite.matching(Role::Coordinator, &[ISHOJ, VALLENSBAEK]);
    let grant_a_id = grant_a.rsplit('/').next().expect("id");
    let request_a = format!("municipalities/{ISHOJ}/matchingRequests/{grant_a_id}");
    let opened = eventually("the matching request", || {
        let mut c = coordinator.clone();
        let name = request_a.clone();
        async move {
            c.get_matching_request(matching::GetMatchingRequestRequest { name })
                .await
                .ok()
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    assert_eq!(opened.minutes_per_week, 300);
    assert_eq!(opened.grant, grant_a);
    let proposal = coordinator
        .propose_candidates(matching::ProposeCandidatesRequest {
            matching_request: request_a.clone(),
            max_candidates: 5,
            include_excluded: true,
        })
        .await
        .expect("proposal")
        .into_inner();
    assert!(!proposal.unmet);
    assert_eq!(proposal.candidates[0].contact_person, JONAS, "{proposal:?}");
    assert!(
        proposal
            .candidates
            .windows(2)
            .all(|w| w[0].score >= w[1].score)
    );
    // Only people who serve Ishøj are considered: Ringsted's are not (R-MP-3).
    assert!(considers_only(&proposal, "ishoejgaard"), "{proposal:?}");
    let assignment_a = coordinator
        .assign_contact_person(assign(&request_a, JONAS, "assign-a"))
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assignment_a.minutes_per_week, 300);

    // --- Vallensbæk's substance-abuse case, decided while matching is down for a restart:
    // the GrantApproved waits in referral's outbox and matching picks it up from its cursor.
    let mut vallensbaek = suite.referral(Role::Counsellor, VALLENSBAEK);
    let abuse = Child {
        municipality: VALLENSBAEK,
        cpr: "020213-4235",
        case_id: "VAL-1",
        target: TargetGroup::SubstanceUse,
        competences: &["substance-abuse"],
        minutes: 240,
    };
    let referral_b = refer(&mut vallensbaek, &abuse, Some("stops using cannabis")).await;
    submit(&mut vallensbaek, &referral_b)
        .await
        .expect("submitted");
    let stopped = suite.stop_one(Service::Matching).await;
    let grant_b = committee_grants(&suite, VALLENSBAEK, &referral_b, 240).await;
    suite.start_again(stopped).await;
    let mut coordinator = suite.matching(Role::Coordinator, &[ISHOJ, VALLENSBAEK]);
    let grant_b_id = grant_b.rsplit('/').next().expect("id");
    let request_b = format!("municipalities/{VALLENSBAEK}/matchingRequests/{grant_b_id}");
    eventually("the request decided while matching was down", || {
        let mut c = coordinator.clone();
        let name = request_b.clone();
        async move {
            c.get_matching_request(matching::GetMatchingRequestRequest { name })
                .await
                .ok()
        }
    })
    .await;
    // Bought from the provider under its framework contract (R-MP-2): request, offer, order.
    let procurement = coordinator
        .create_procurement(matching::CreateProcurementRequest {
            parent: format!("municipalities/{VALLENSBAEK}"),
            procurement: Some(matching::Procurement {
                matching_request: request_b.clone(),
                provider: PROVIDER.into(),
                contract: format!("{PROVIDER}/contracts/rammeaftale-2026"),
                reason: matching::ProcurementReason::SpecialProblemArea as i32,
                reason_note: "heavy cannabis use: specialist help".into(),
                ..matching::Procurement::default()
            }),
            request_id: "buy-b".into(),
        })
        .await
        .expect("procurement")
        .into_inner();
    let offered = coordinator
        .record_offer(matching::RecordOfferRequest {
            name: procurement.name.clone(),
            offered_hourly_price: Some(Money { ore: 52_500 }),
            note: "efter rammeaftalen".into(),
            etag: procurement.etag.clone(),
        })
        .await
        .expect("offer")
        .into_inner();
    coordinator
        .order_procurement(matching::OrderProcurementRequest {
            name: procurement.name.clone(),
            agreed_hourly_price: Some(Money { ore: 52_500 }),
            etag: offered.etag.clone(),
        })
        .await
        .expect("order");
    let assignment_b = coordinator
        .assign_contact_person(assign(&request_b, KARIM, "assign-b"))
        .await
        .expect("the provider's person")
        .into_inner();
    assert_eq!(assignment_b.procurement, procurement.name);
    assert_eq!(assignment_b.employment(), matching::Employment::Provider);

    // --- Hours in December: an overrun (330 of 300 minutes), a reversal, an approved sheet.
    suite.set_today("2026-12-20T10:00:00Z");
    let mut jonas = suite.contact_person(JONAS, &[ISHOJ, VALLENSBAEK]);
    // What each entry cost, as time & cost priced it: the budget must add up to these.
    let registered = |entry: &timecost::TimeEntry| ore(entry.cost.as_ref());
    let mut spent_a = 0;
    let request = register(&assignment_a.name, 7, 150, "a-1");
    let first = register_when_known(&jonas, "the assignment in time & cost", request).await;
    spent_a += registered(&first);
    let over = jonas
        .register_time(register(&assignment_a.name, 9, 180, "a-2"))
        .await
        .expect("over")
        .into_inner();
    assert!(over.overrun, "330 minutes of 300 are flagged (R-TC-2)");
    spent_a += registered(&over);
    let mut overruns = suite.timecost(Role::Coordinator, &[ISHOJ, VALLENSBAEK]);
    let flagged = overruns
        .list_overruns(timecost::ListOverrunsRequest {
            parent: format!("municipalities/{ISHOJ}"),
        })
        .await
        .expect("overruns")
        .into_inner()
        .overruns;
    assert_eq!(
        flagged
            .iter()
            .map(|o| (o.granted_minutes, o.registered_minutes))
            .collect::<Vec<_>>(),
        [(300, 330)]
    );
    let reversal = jonas
        .reverse_time_entry(timecost::ReverseTimeEntryRequest {
            name: over.name.clone(),
            note: "forkert dag".into(),
            request_id: "a-2-rev".into(),
        })
        .await
        .expect("reversed")
        .into_inner();
    assert_eq!(reversal.reverses, over.name);
    spent_a += registered(&reversal);
    spent_a += registered(
        &jonas
            .register_time(register(&assignment_a.name, 10, 120, "a-3"))
            .await
            .expect("the right day")
            .into_inner(),
    );
    let sheet = jonas
        .create_timesheet(timecost::CreateTimesheetRequest {
            parent: JONAS.into(),
            period: Some(DateRange {
                start: date(2026, 12, 1),
                end: date(2026, 12, 31),
            }),
        })
        .await
        .expect("timesheet")
        .into_inner();
    assert_eq!(sheet.total_minutes, 270);
    jonas
        .submit_timesheet(timecost::SubmitTimesheetRequest {
            name: sheet.name.clone(),
            etag: sheet.etag.clone(),
        })
        .await
        .expect("submitted");
    let approved = overruns
        .approve_timesheet(timecost::ApproveTimesheetRequest {
            name: sheet.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("approved")
        .into_inner();
    assert_eq!(approved.state(), timecost::TimesheetState::Approved);
    let karim = suite.contact_person(KARIM, &[ISHOJ, VALLENSBAEK]);
    let mut spent_b = 0;
    for (day, id) in [(8, "b-1"), (10, "b-2")] {
        let request = register(&assignment_b.name, day, 120, id);
        let what = "the provider's assignment in time & cost";
        let entry = register_when_known(&karim, what, request).await;
        assert_eq!(ore(entry.cost.as_ref()), 2 * 52_500, "the agreed price");
        spent_b += registered(&entry);
    }

    // --- The shared frame: DKK 4,000,000 in 2017 prices indexed by the PL rates to 2026, split
    // 2/3–1/3, each municipality's cost against its share.
    let status = budget(&suite, None).await;
    assert_eq!(status.year, 2026);
    let rates_2018_2026 = [150, 140, 160, 170, 350, 450, 240, 260, 220];
    let by_hand = rates_2018_2026.iter().fold(400_000_000f64, |amount, bp| {
        amount * (1.0 + f64::from(*bp) / 10_000.0)
    });
    let indexed = ore(status.indexed_amount.as_ref());
    assert!(
        (indexed as f64 - by_hand).abs() <= 1.0,
        "{indexed} vs {by_hand}"
    );
    let whole_kroner = |ore: i64| ore / 100 * 100;
    let (a, b) = (
        of_municipality(&status, ISHOJ),
        of_municipality(&status, VALLENSBAEK),
    );
    assert_eq!(ore(a.expected.as_ref()), whole_kroner(indexed * 2 / 3));
    assert_eq!(ore(b.expected.as_ref()), whole_kroner(indexed / 3));
    // Each municipality's spent: its own time costs and its share of the coordinator function
    // so far this year (R-BF-3), the shares adding up to the frame's line to the øre.
    let categories = status.spent_by_category.as_ref().expect("categories");
    let coordinator = ore(categories.coordinator_function.as_ref());
    assert!(coordinator > 0, "the demo frame has a coordinator function");
    let (coordinator_a, coordinator_b) = (
        ore(a.spent.as_ref()) - spent_a,
        ore(b.spent.as_ref()) - spent_b,
    );
    assert_eq!(coordinator_a + coordinator_b, coordinator);
    assert!(
        (coordinator_a - coordinator * 2 / 3).abs() <= 1,
        "{coordinator_a} of {coordinator}"
    );
    assert_eq!(
        ore(a.spent.as_ref()) + ore(b.spent.as_ref()),
        ore(status.spent.as_ref()),
        "the municipalities add up to the frame"
    );
    assert_eq!(
        ore(a.committed.as_ref()) + ore(b.committed.as_ref()),
        ore(status.committed.as_ref())
    );
    assert!(ore(a.committed.as_ref()) > 0 && ore(b.committed.as_ref()) > 0);
    assert_eq!(ore(categories.contact_person_pay.as_ref()), spent_a);
    assert_eq!(ore(categories.external_purchases.as_ref()), spent_b);

    // --- First follow-up due at 3 months (BL §95; Ishøj states no interval).
    suite.set_today("2027-02-20T10:00:00Z");
    let mut follow_ups = suite.followup(Role::Counsellor, ISHOJ);
    let due = follow_ups
        .list_due_follow_ups(followup::ListDueFollowUpsRequest {
            parent: format!("municipalities/{ISHOJ}"),
            ..followup::ListDueFollowUpsRequest::default()
        })
        .await
        .expect("due")
        .into_inner()
        .follow_ups;
    let first_follow_up = due
        .iter()
        .find(|f| f.grant == grant_a)
        .unwrap_or_else(|| panic!("{grant_a} due in {due:?}"));
    assert_eq!(first_follow_up.due_date, date(2027, 3, 1));
    let committed_before = ore(of_municipality(&budget(&suite, None).await, ISHOJ)
        .committed
        .as_ref());

    // ADJUST to 3 hours, decided by the committee: a new grant version from the next day,
    // the assignment and the forecast follow.
    let mut adjust = held(
        &first_follow_up.name,
        date(2027, 2, 20),
        followup::FollowUpOutcome::Adjust,
    );
    adjust.adjusted_minutes_per_week = 180;
    adjust.next_due_date = date(2027, 5, 20);
    let mut no_coordinator = adjust.clone();
    no_coordinator.participants.truncate(1);
    let refused = follow_ups
        .complete_follow_up(followup::CompleteFollowUpRequest {
            follow_up: Some(no_coordinator),
        })
        .await
        .expect_err("Ishøj's follow-up includes the coordinator");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    follow_ups
        .complete_follow_up(followup::CompleteFollowUpRequest {
            follow_up: Some(adjust),
        })
        .await
        .expect("adjusted");
    let counsellor = suite.referral(Role::Counsellor, ISHOJ);
    let versions = eventually("the new grant version", || {
        let mut c = counsellor.clone();
        let parent = grant_a.clone();
        async move {
            let v = fixtures::grant_versions(&mut c, &parent).await;
            (v.len() == 2).then_some(v)
        }
    })
    .await;
    assert_eq!(versions[1].minutes_per_week, 180);
    assert_eq!(
        versions[1].effective.as_ref().and_then(|e| e.start),
        date(2027, 2, 21)
    );
    eventually("the assignment at 3 hours", || {
        let suite = &suite;
        let name = assignment_a.name.clone();
        async move { (assignment(suite, &name).await.minutes_per_week == 180).then_some(()) }
    })
    .await;
    let committed_after = eventually("the forecast at 3 hours", || {
        let suite = &suite;
        async move {
            let now = ore(of_municipality(&budget(suite, None).await, ISHOJ)
                .committed
                .as_ref());
            (now < committed_before).then_some(now)
        }
    })
    .await;
    assert!(committed_after > 0);

    // --- The next follow-up: the purpose is met; END ends grant, assignment and forecast.
    suite.set_today("2027-05-20T10:00:00Z");
    let second = open_follow_up(&mut follow_ups, &grant_a).await;
    assert_eq!(second.due_date, date(2027, 5, 20));
    follow_ups
        .complete_follow_up(followup::CompleteFollowUpRequest {
            follow_up: Some(held(
                &second.name,
                date(2027, 5, 20),
                followup::FollowUpOutcome::End,
            )),
        })
        .await
        .expect("ended");
    let ended = eventually("the grant to end", || {
        let mut c = counsellor.clone();
        let name = grant_a.clone();
        async move {
            let grant = c
                .get_grant(GetGrantRequest { name })
                .await
                .expect("grant")
                .into_inner();
            (grant.state() == GrantState::Ended).then_some(grant)
        }
    })
    .await;
    assert_eq!(ended.end_reason(), GrantEndReason::PurposeMet);
    assert_eq!(ended.end_date, date(2027, 5, 20));
    let done = eventually("the assignment to end", || {
        let suite = &suite;
        let name = assignment_a.name.clone();
        async move {
            let a = assignment(suite, &name).await;
            (a.state() == matching::AssignmentState::Ended).then_some(a)
        }
    })
    .await;
    assert_eq!(done.period.as_ref().and_then(|p| p.end), date(2027, 5, 20));
    // What Ishøj still has committed is then only its share of the coordinator function's
    // rest of the year (R-BF-3).
    let per_year = ore(suite
        .timecost(Role::Finance, &[ISHOJ, VALLENSBAEK])
        .get_frame(timecost::GetFrameRequest { name: FRAME.into() })
        .await
        .expect("frame")
        .into_inner()
        .coordinator_cost_per_year
        .as_ref());
    eventually("the forecast to close", || {
        let suite = &suite;
        async move {
            let status = budget(suite, date(2027, 5, 21)).await;
            let spent = ore(status
                .spent_by_category
                .as_ref()
                .and_then(|c| c.coordinator_function.as_ref()));
            let coordinator_left = (per_year - spent) * 2 / 3;
            let committed = ore(of_municipality(&status, ISHOJ).committed.as_ref());
            ((committed - coordinator_left).abs() <= 1).then_some(())
        }
    })
    .await;
    let schedule = eventually("the schedule to end", || {
        let mut c = follow_ups.clone();
        let name = format!("{grant_a}/followUpSchedule");
        async move {
            c.get_schedule(followup::GetScheduleRequest { name })
                .await
                .ok()
                .map(tonic::Response::into_inner)
                .filter(|s| s.state() == followup::ScheduleState::Ended)
        }
    })
    .await;
    assert!(schedule.next_follow_up.is_empty());
    let left = follow_ups
        .list_follow_ups(followup::ListFollowUpsRequest {
            parent: grant_a.clone(),
        })
        .await
        .expect("follow-ups")
        .into_inner()
        .follow_ups;
    assert!(
        left.iter().all(|f| matches!(
            f.state(),
            followup::FollowUpState::Completed | followup::FollowUpState::Cancelled
        )),
        "{left:?}"
    );
    // Vallensbæk's arrangement runs on, untouched by Ishøj's end.
    let b = suite
        .referral(Role::Counsellor, VALLENSBAEK)
        .get_grant(GetGrantRequest {
            name: grant_b.clone(),
        })
        .await
        .expect("grant b")
        .into_inner();
    assert_eq!(b.state(), GrantState::Active);
    suite.stop().await;
}
