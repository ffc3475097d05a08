//! Every input field of the referral workflow that can be wrong is named in an INVALID_ARGUMENT
//! (BadRequest.field_violations), and a refused call writes nothing.

use super::*;
use kontakt_harness::bad_request_fields as fields;

const M: &str = "329";

/// Asserts INVALID_ARGUMENT naming `field` (and only it).
fn names(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err(field);
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert_eq!(fields(&status), [field], "{status:?}");
}

#[tokio::test]
async fn every_bad_field_of_the_referral_methods_is_named() {
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    let mut admin = as_role(&running, Role::Admin, M);
    let mut counsellor = as_role(&running, Role::Counsellor, M);
    let mut committee = as_role(&running, Role::Committee, M);
    let (case, referral) = draft(&mut counsellor, M, "010114-4234", "V-1").await;
    let parent = format!("municipalities/{M}");

    // Policies (administrators).
    let policy = |change: &dyn Fn(&mut MunicipalityPolicy)| {
        let mut p = ringsted_policy();
        change(&mut p);
        CreatePolicyRequest {
            parent: parent.clone(),
            policy: Some(p),
        }
    };
    for (field, request) in [
        (
            "policy.effective_from",
            policy(&|p| p.effective_from = None),
        ),
        ("policy.min_age_years", policy(&|p| p.min_age_years = -1)),
        (
            "policy.max_minutes_per_week",
            policy(&|p| p.max_minutes_per_week = 20_000),
        ),
        (
            "policy.follow_up_interval_months",
            policy(&|p| p.follow_up_interval_months = 61),
        ),
        (
            "policy.approval_rules[0].level",
            policy(&|p| p.approval_rules[0].level = 0),
        ),
    ] {
        names(admin.create_policy(request).await, field);
    }

    // Cases.
    let good_case = Case {
        case_system: "nexus".into(),
        external_id: "V-2".into(),
        kle_number: "27.27.24".into(),
        person: case.person.clone(),
        ..Case::default()
    };
    let create_case = |c: Case| CreateCaseRequest {
        parent: parent.clone(),
        case: Some(c),
    };
    for (field, c) in [
        (
            "case.case_system",
            Case {
                case_system: " ".into(),
                ..good_case.clone()
            },
        ),
        (
            "case.external_id",
            Case {
                external_id: "x".repeat(101),
                ..good_case.clone()
            },
        ),
        (
            "case.kle_number",
            Case {
                kle_number: "27.27.99".into(),
                ..good_case.clone()
            },
        ),
        (
            "case.person",
            Case {
                person: "persons/p-1".into(),
                ..good_case.clone()
            },
        ),
        (
            "case.person",
            Case {
                person: "municipalities/183/persons/p-1".into(),
                ..good_case.clone()
            },
        ),
    ] {
        names(counsellor.create_case(create_case(c)).await, field);
    }
    names(
        counsellor
            .create_case(CreateCaseRequest {
                parent: "municipalities/32".into(),
                case: Some(good_case.clone()),
            })
            .await,
        "parent",
    );

    // Plans.
    let good_plan = Plan {
        kind: PlanKind::BarnetsPlan as i32,
        plan_date: date(2026, 10, 1),
        goals: vec![Goal {
            description: "goes to school".into(),
            ..Goal::default()
        }],
        ..Plan::default()
    };
    let create_plan = |p: Plan| CreatePlanRequest {
        parent: case.name.clone(),
        plan: Some(p),
    };
    for (field, p) in [
        (
            "plan.kind",
            Plan {
                kind: 0,
                ..good_plan.clone()
            },
        ),
        (
            "plan.plan_date",
            Plan {
                plan_date: date(2026, 2, 29),
                ..good_plan.clone()
            },
        ),
        (
            "plan.goals[0].description",
            Plan {
                goals: vec![Goal::default()],
                ..good_plan.clone()
            },
        ),
        (
            "plan.goals[0].goal_id",
            Plan {
                goals: vec![Goal {
                    goal_id: "Mål 1".into(),
                    description: "x".into(),
                    ..Goal::default()
                }],
                ..good_plan.clone()
            },
        ),
    ] {
        names(counsellor.create_plan(create_plan(p)).await, field);
    }

    // Draft referrals: CreateReferral and UpdateReferral check the same shapes.
    let with = |change: &dyn Fn(&mut Referral)| {
        let mut r = Referral {
            case: case.name.clone(),
            ..Referral::default()
        };
        change(&mut r);
        r
    };
    let drafts: Vec<(&str, Referral)> = vec![
        ("referral.recipient", with(&|r| r.recipient = 9)),
        (
            "referral.target_groups",
            with(&|r| r.target_groups = vec![0]),
        ),
        (
            "referral.requested_minutes_per_week",
            with(&|r| r.requested_minutes_per_week = -60),
        ),
        (
            "referral.expected_duration_months",
            with(&|r| r.expected_duration_months = 121),
        ),
        ("referral.purpose", with(&|r| r.purpose = "x".repeat(4001))),
        (
            "referral.legal_basis",
            with(&|r| r.legal_basis = "§ 52".into()),
        ),
        (
            "referral.needs.competences",
            with(&|r| {
                r.needs = Some(Needs {
                    competences: vec!["arabic".into()],
                    ..Needs::default()
                })
            }),
        ),
        (
            "referral.consent.consent_date",
            with(&|r| {
                r.consent = Some(Consent {
                    consent_date: date(2026, 4, 31),
                    ..Consent::default()
                })
            }),
        ),
        (
            "referral.compulsory_condition.end_date",
            with(&|r| {
                r.compulsory_condition = Some(CompulsoryCondition {
                    end_date: date(0, 1, 1),
                    ..CompulsoryCondition::default()
                })
            }),
        ),
        ("referral.case", with(&|r| r.case = "cases/c-1".into())),
    ];
    for (field, r) in drafts {
        names(
            counsellor
                .create_referral(CreateReferralRequest {
                    parent: parent.clone(),
                    referral: Some(r),
                    request_id: format!("bad-{field}"),
                })
                .await,
            field,
        );
    }
    names(
        counsellor
            .create_referral(CreateReferralRequest {
                parent: parent.clone(),
                referral: Some(with(&|_| {})),
                request_id: String::new(),
            })
            .await,
        "request_id",
    );
    let update = |mask: &[&str]| UpdateReferralRequest {
        referral: Some(Referral {
            name: referral.name.clone(),
            ..Referral::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: mask.iter().map(|p| p.to_string()).collect(),
        }),
    };
    names(counsellor.update_referral(update(&[])).await, "update_mask");
    names(
        counsellor.update_referral(update(&["state"])).await,
        "update_mask",
    );

    // Assessments.
    let good_assessment = Assessment {
        kind: AssessmentKind::Preliminary as i32,
        need_known_date: date(2026, 9, 1),
        completion_date: date(2026, 10, 1),
        conclusion: "needs an adult".into(),
        ..Assessment::default()
    };
    for (field, a) in [
        (
            "assessment.kind",
            Assessment {
                kind: 0,
                ..good_assessment.clone()
            },
        ),
        (
            "assessment.completion_date",
            Assessment {
                completion_date: date(2026, 8, 1),
                ..good_assessment.clone()
            },
        ),
        (
            "assessment.completion_date",
            Assessment {
                completion_date: date(2027, 1, 1),
                ..good_assessment.clone()
            },
        ),
    ] {
        names(
            counsellor
                .create_assessment(CreateAssessmentRequest {
                    parent: referral.name.clone(),
                    assessment: Some(a),
                })
                .await,
            field,
        );
    }

    // Committee meetings.
    for (field, meeting) in [
        (
            "committee_meeting.committee",
            CommitteeMeeting {
                committee: String::new(),
                meeting_date: date(2026, 12, 3),
                ..CommitteeMeeting::default()
            },
        ),
        (
            "committee_meeting.meeting_date",
            CommitteeMeeting {
                committee: "Visitationsudvalget".into(),
                ..CommitteeMeeting::default()
            },
        ),
    ] {
        names(
            committee
                .create_committee_meeting(CreateCommitteeMeetingRequest {
                    parent: parent.clone(),
                    committee_meeting: Some(meeting),
                })
                .await,
            field,
        );
    }

    // Decisions.
    let decide = fixtures::approve(&referral.name, ApprovalLevel::OwnAuthority, 180);
    for (field, request) in [
        (
            "outcome",
            DecideReferralRequest {
                outcome: 0,
                ..decide.clone()
            },
        ),
        (
            "approval_level",
            DecideReferralRequest {
                approval_level: 0,
                ..decide.clone()
            },
        ),
        (
            "reason",
            DecideReferralRequest {
                outcome: DecisionOutcome::Reject as i32,
                ..decide.clone()
            },
        ),
        (
            "start_date",
            DecideReferralRequest {
                start_date: date(2026, 11, 31),
                ..decide.clone()
            },
        ),
        (
            "name",
            DecideReferralRequest {
                name: "referrals/r-1".into(),
                ..decide.clone()
            },
        ),
    ] {
        names(counsellor.decide_referral(request).await, field);
    }

    // Nothing of it was written.
    let still = counsellor
        .get_referral(GetReferralRequest {
            name: referral.name.clone(),
        })
        .await
        .expect("referral")
        .into_inner();
    assert_eq!(still.etag, referral.etag);
    assert_eq!(still.state(), ReferralState::Draft);
    let policies = admin
        .list_policies(ListPoliciesRequest {
            parent: parent.clone(),
            ..ListPoliciesRequest::default()
        })
        .await
        .expect("policies")
        .into_inner();
    assert!(policies.policies.is_empty());
    running.stop().await.expect("stop");
}
