//! A third municipality's service standard, configured through the API alone (issue 28
//! item 5): ages per target group, an expected band of hours, caps as a rule and absolute per
//! month and quarter, who may deviate, the follow-up interval and the certificate's renewal.
//! Before it is in force it can be corrected (UpdatePolicy, its earlier content kept and the
//! change in the access log); once in force only a new version supersedes it.

use super::*;

/// Hvidovre's (167) standard, as its text would have it: "for children and young people of
/// 12–23, children with a disability from 0 to 18; as a rule 2–3 hours a week; activity money
/// as a rule at most DKK 600 a quarter; mileage never more than DKK 400 a month; the team leader
/// may deviate; follow-up every 4 months; børneattest renewed every 2 years".
fn hvidovre_policy() -> MunicipalityPolicy {
    MunicipalityPolicy {
        display_name: "Kvalitetsstandard for kontaktpersonordning 2027".into(),
        effective_from: date(2027, 1, 1),
        age_ranges: vec![
            AgeRange {
                target_group: TargetGroup::Unspecified as i32,
                from_years: 12,
                to_years: 23,
            },
            AgeRange {
                target_group: TargetGroup::Disability as i32,
                from_years: 0,
                to_years: 18,
            },
        ],
        min_minutes_per_week: 120,
        max_minutes_per_week: 180,
        allowance_caps: vec![
            AllowanceCap {
                kind: AllowanceKind::Activity as i32,
                period: AllowancePeriod::Quarter as i32,
                amount: Some(Money { ore: 60_000 }),
                absolute: false,
            },
            AllowanceCap {
                kind: AllowanceKind::Mileage as i32,
                period: AllowancePeriod::Month as i32,
                amount: Some(Money { ore: 40_000 }),
                absolute: true,
            },
        ],
        follow_up_interval_months: 4,
        certificate_renewal_months: 24,
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

fn correct(policy: MunicipalityPolicy) -> UpdatePolicyRequest {
    UpdatePolicyRequest {
        policy: Some(policy),
    }
}

#[tokio::test]
async fn r_rv_5_r_rv_6_r_rv_9_a_third_standard_says_what_its_text_says_and_is_corrected_before_it_applies()
 {
    let db = fresh_database().await.expect("database");
    let clock = clock_today();
    let running = Start::new(Service::Referral, &db)
        .clock(clock.clone())
        .run()
        .await
        .expect("service");
    let mut admin = as_role(&running, Role::Admin, "167");
    let created = admin
        .create_policy(policy_in("167", hvidovre_policy()))
        .await
        .expect("Hvidovre's standard")
        .into_inner();
    assert_eq!(created.etag, "\"1\"");

    // Not yet in force (1 January 2027; today is 24 November 2026): corrected in place.
    let mut corrected = created.clone();
    corrected.max_minutes_per_week = 240;
    let after = admin
        .update_policy(correct(corrected.clone()))
        .await
        .expect("a correction before it applies")
        .into_inner();
    assert_eq!(
        (after.max_minutes_per_week, after.etag.as_str()),
        (240, "\"2\"")
    );
    // With the etag read before the correction: it changed since.
    let stale = admin
        .update_policy(correct(corrected.clone()))
        .await
        .expect_err("stale etag");
    assert_eq!(stale.code(), Code::Aborted);
    // Another day is another version, not a correction.
    let mut moved = after.clone();
    moved.effective_from = date(2027, 2, 1);
    let status = admin
        .update_policy(correct(moved))
        .await
        .expect_err("another day");
    assert_eq!(
        kontakt_harness::bad_request_fields(&status),
        ["policy.effective_from"]
    );
    // Only an administrator corrects a standard.
    let denied = as_role(&running, Role::Counsellor, "167")
        .update_policy(correct(after.clone()))
        .await
        .expect_err("a counsellor");
    assert_eq!(denied.code(), Code::PermissionDenied);
    // What it said before is kept, and who changed it is in the access log.
    let mut conn = db.connect().await.expect("connect");
    let (revisions, logged): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM referral.policy_revisions WHERE municipality = '167'),
                (SELECT count(*) FROM referral.audit_log
                  WHERE method = 'UpdatePolicy' AND resource = $1)",
    )
    .bind(&after.name)
    .fetch_one(&mut conn)
    .await
    .expect("history");
    assert_eq!((revisions, logged), (1, 1));
    // Put back to 3 hours for the rest.
    let mut back = after.clone();
    back.max_minutes_per_week = 180;
    admin
        .update_policy(correct(back.clone()))
        .await
        .expect("corrected again");

    // In force from 1 January: now only superseded by a new version.
    clock.set("2027-01-04T09:00:00Z".parse().expect("timestamp"));
    back.etag.clear();
    let in_force = admin
        .update_policy(correct(back))
        .await
        .expect_err("in force");
    assert_eq!(in_force.code(), Code::FailedPrecondition);
    assert!(in_force.message().contains("CreatePolicy"), "{in_force:?}");

    // R-RV-5: a 9-year-old at risk of crime is outside 12–23; with a disability, inside 0–18.
    let mut counsellor = as_role(&running, Role::Counsellor, "167");
    let (_, referral) = draft(&mut counsellor, "167", "150317-4821", "H-1").await;
    let mut fields = complete_fields(&referral.name, "", "");
    fields.requested_minutes_per_week = 60;
    fields.consent.as_mut().expect("consent").consent_date = date(2027, 1, 2);
    counsellor
        .update_referral(update(fields.clone(), &["*"]))
        .await
        .expect("update");
    add_assessment(&mut counsellor, &referral.name).await;
    let broken = refused_submission(&mut counsellor, &referral.name, "outside").await;
    assert!(
        broken.contains(&("R-RV-5".into(), "age_justification".into())),
        "{broken:?}"
    );
    // R-RV-6: one hour a week is below the band of 2–3 hours.
    assert!(
        broken.contains(&("R-RV-6".into(), "hours_justification".into())),
        "{broken:?}"
    );
    fields.target_groups = vec![TargetGroup::Disability as i32];
    fields.hours_justification = "a short start, to build trust".into();
    counsellor
        .update_referral(update(fields, &["*"]))
        .await
        .expect("update");
    counsellor
        .submit_referral(submit(&referral.name, "", false))
        .await
        .expect("inside the standard's ages for a disability, the hours justified");

    // The decision: one hour deviates, so not on the counsellor's own authority; and activity
    // money of DKK 250 a month (750 a quarter) is above the rule of 600, so only justified and
    // at a level that may deviate; mileage above DKK 400 a month never.
    let decide = |level: ApprovalLevel, allowances: Vec<Allowance>| {
        let mut approve = fixtures::approve(&referral.name, level, 60);
        approve.start_date = date(2027, 1, 11);
        approve.expected_end_date = date(2027, 12, 31);
        approve.review_date = None;
        approve.justification = "a short start, to build trust".into();
        approve.allowances = allowances;
        approve
    };
    let activity = Allowance {
        kind: AllowanceKind::Activity as i32,
        amount: Some(Money { ore: 25_000 }),
        period: AllowancePeriod::Month as i32,
        justification: "swimming with the club".into(),
        end_date: None,
    };
    let mileage = Allowance {
        kind: AllowanceKind::Mileage as i32,
        amount: Some(Money { ore: 45_000 }),
        period: AllowancePeriod::Month as i32,
        justification: String::new(),
        end_date: None,
    };
    let own = counsellor
        .decide_referral(decide(ApprovalLevel::OwnAuthority, vec![activity.clone()]))
        .await
        .expect_err("own authority may not deviate");
    let broken = violations(&own);
    assert!(
        broken.contains(&("R-RV-12".into(), "approval_level".into()))
            && broken.contains(&("R-RV-9".into(), "allowances[0].amount".into())),
        "{broken:?}"
    );
    let absolute = counsellor
        .decide_referral(decide(
            ApprovalLevel::TeamLeader,
            vec![activity.clone(), mileage],
        ))
        .await
        .expect_err("mileage above the absolute cap");
    assert_eq!(
        violations(&absolute),
        [("R-RV-9".to_owned(), "allowances[1].amount".to_owned())]
    );
    let decided = counsellor
        .decide_referral(decide(ApprovalLevel::TeamLeader, vec![activity]))
        .await
        .expect("the team leader deviates, justified")
        .into_inner();
    assert!(!decided.grant.is_empty());
    // The grant tells matching the certificate renewal the standard asks (R-MP-6).
    let approved = first_approval(&running, "167").await;
    assert_eq!(approved.certificate_renewal_months, 24);
    assert!(!approved.certificate_not_required, "a child of 9");
    assert_eq!(approved.follow_up_interval_months, 4);
}
