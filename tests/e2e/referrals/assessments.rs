//! Assessments through the API (issue 28 item 4): a policy may require a børnefaglig
//! undersøgelse (BL § 20), not only an afdækning (§ 19); support may start while it runs beside
//! a completed afdækning (§ 32 stk. 4), and the approval then tells follow-up the undersøgelse's
//! 4-month deadline (§ 20 stk. 3) and, where the referral names no plan, the child's plan's
//! (§ 91).

use super::*;

fn requiring_child_assessment() -> MunicipalityPolicy {
    MunicipalityPolicy {
        child_assessment_required: true,
        ..ringsted_policy()
    }
}

fn running_child_assessment(referral: &str) -> CreateAssessmentRequest {
    CreateAssessmentRequest {
        parent: referral.into(),
        assessment: Some(Assessment {
            kind: AssessmentKind::ChildAssessment as i32,
            need_known_date: date(2026, 10, 15),
            ..Assessment::default()
        }),
    }
}

#[tokio::test]
async fn r_rv_1_a_required_child_assessment_may_run_beside_an_afdaekning_and_its_deadline_follows()
{
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    as_role(&running, Role::Admin, "329")
        .create_policy(policy_in("329", requiring_child_assessment()))
        .await
        .expect("policy");
    let mut counsellor = as_role(&running, Role::Counsellor, "329");
    let (_, referral) = draft(&mut counsellor, "329", "010113-4234", "B-1").await;
    counsellor
        .update_referral(update(complete_fields(&referral.name, "", ""), &["*"]))
        .await
        .expect("update");
    // An afdækning alone is not what this policy asks for.
    let mut afdaekning = fixtures::assessment_request(&referral.name);
    if let Some(a) = afdaekning.assessment.as_mut() {
        a.kind = AssessmentKind::Preliminary as i32;
    }
    counsellor
        .create_assessment(afdaekning)
        .await
        .expect("afdækning");
    let refused = refused_submission(&mut counsellor, &referral.name, "afdækning only").await;
    assert_eq!(refused, [("R-RV-1".to_owned(), "assessments".to_owned())]);
    // With the undersøgelse running beside it, support may start.
    counsellor
        .create_assessment(running_child_assessment(&referral.name))
        .await
        .expect("running undersøgelse");
    counsellor
        .submit_referral(submit(&referral.name, "", false))
        .await
        .expect("submitted beside a running undersøgelse");
    let decision = counsellor
        .decide_referral(fixtures::approve(
            &referral.name,
            ApprovalLevel::OwnAuthority,
            180,
        ))
        .await
        .expect("approved")
        .into_inner();
    let approved = first_approval(&running, "329").await;
    assert_eq!(approved.grant, decision.grant);
    // 15 October + 4 months (BL § 20 stk. 3); the start 1 December + 3 months (§ 91).
    assert_eq!(approved.assessment_deadline, date(2027, 2, 15));
    assert_eq!(approved.plan_deadline, date(2027, 3, 1));
    // A 13-year-old on a child basis: the basis ends the day before the 18th birthday.
    assert_eq!(approved.basis_ends_date, date(2030, 12, 31));
    running.stop().await.expect("stop");
}
