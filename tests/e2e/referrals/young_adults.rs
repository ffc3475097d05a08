//! Young adults and compulsory conditions through the API (issue 28 items 1 and 2): from 18 the
//! young person's own consent and an ungestøtte basis; a grant on a child basis ends the day
//! before the 18th birthday, an ungestøtte grant the day before the 23rd; a compulsory
//! condition cites a compulsory basis and asks no custody consent.

use super::*;

/// A submitted referral in Ringsted for the person with `cpr`, with `fields` over the complete
/// ones; returns the referral's name, or the violations its submission is refused with.
async fn submitted(
    counsellor: &mut Client,
    cpr: &str,
    external_id: &str,
    fields: impl FnOnce(Referral) -> Referral,
) -> Result<String, Vec<(String, String)>> {
    let (_, referral) = draft(counsellor, "329", cpr, external_id).await;
    counsellor
        .update_referral(update(
            fields(complete_fields(&referral.name, "", "")),
            &["*"],
        ))
        .await
        .expect("update");
    add_assessment(counsellor, &referral.name).await;
    match counsellor
        .submit_referral(submit(&referral.name, "", false))
        .await
    {
        Ok(_) => Ok(referral.name),
        Err(status) => {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            Err(violations(&status))
        }
    }
}

fn rv(rule: &str, field: &str) -> (String, String) {
    (rule.to_owned(), field.to_owned())
}

/// What the refusal's violations say, joined.
fn explained(status: &tonic::Status) -> String {
    use tonic_types::StatusExt as _;
    status
        .get_details_precondition_failure()
        .map(|p| {
            p.violations
                .into_iter()
                .map(|v| v.description)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn own_consent() -> Consent {
    Consent {
        young_person_consented: true,
        consent_date: date(2026, 11, 2),
        child_view: "wants help to keep the apprenticeship".into(),
        ..Consent::default()
    }
}

#[tokio::test]
async fn r_rv_3_r_rv_5_a_young_adult_consents_alone_on_an_ungestotte_basis_until_the_day_before_23()
{
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    as_role(&running, Role::Admin, "329")
        .create_policy(policy_in("329", ringsted_policy()))
        .await
        .expect("policy");
    let mut counsellor = as_role(&running, Role::Counsellor, "329");

    // 19 years old (born 15 June 2007): a child basis and a custody holder's consent are both
    // wrong, and the answer says so.
    let refused = submitted(&mut counsellor, "150607-4017", "U-1", |r| r)
        .await
        .expect_err("child basis at 19");
    assert!(
        refused.contains(&rv("R-RV-5", "legal_basis")),
        "{refused:?}"
    );
    assert!(
        refused.contains(&rv("R-RV-3", "consent.custody_holder_consented")),
        "{refused:?}"
    );
    // Ungestøtte without the young person's own consent: refused, whatever the policy says.
    let refused = submitted(&mut counsellor, "150607-4025", "U-2", |r| Referral {
        legal_basis: "legalBases/bl-113-116".into(),
        consent: Some(Consent {
            young_person_consented: false,
            ..own_consent()
        }),
        ..r
    })
    .await
    .expect_err("no own consent");
    assert_eq!(refused, [rv("R-RV-3", "consent.young_person_consented")]);
    // The young person's own consent on the ungestøtte basis: submitted and granted, but not
    // past the day before the 23rd birthday.
    let name = submitted(&mut counsellor, "150607-4033", "U-3", |r| Referral {
        legal_basis: "legalBases/bl-113-116".into(),
        consent: Some(own_consent()),
        ..r
    })
    .await
    .expect("ungestøtte submitted");
    let too_long = DecideReferralRequest {
        expected_end_date: date(2030, 6, 15),
        ..fixtures::approve(&name, ApprovalLevel::OwnAuthority, 180)
    };
    let refused = counsellor
        .decide_referral(too_long)
        .await
        .expect_err("past the 23rd birthday");
    assert_eq!(violations(&refused), [rv("R-RV-5", "expected_end_date")]);
    assert!(
        explained(&refused).contains("2030-06-14"),
        "{}",
        explained(&refused)
    );
    let decision = counsellor
        .decide_referral(DecideReferralRequest {
            expected_end_date: date(2030, 6, 14),
            ..fixtures::approve(&name, ApprovalLevel::OwnAuthority, 180)
        })
        .await
        .expect("until the day before 23")
        .into_inner();
    let grant = counsellor
        .get_grant(get_grant(&decision.grant))
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(grant.legal_basis, "legalBases/bl-113-116");
    assert_eq!(grant.expected_end_date, date(2030, 6, 14));
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn r_rv_5_a_grant_on_a_child_basis_ends_the_day_before_the_18th_birthday() {
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    as_role(&running, Role::Admin, "329")
        .create_policy(policy_in("329", ringsted_policy()))
        .await
        .expect("policy");
    let mut counsellor = as_role(&running, Role::Counsellor, "329");
    // 17 years old, 18 on 15 March 2027.
    let name = submitted(&mut counsellor, "150309-4019", "A-1", |r| Referral {
        consent: Some(Consent {
            young_person_consented: true,
            ..r.consent.clone().expect("consent")
        }),
        ..r
    })
    .await
    .expect("submitted at 17");
    let refused = counsellor
        .decide_referral(fixtures::approve(&name, ApprovalLevel::OwnAuthority, 180))
        .await
        .expect_err("past the 18th birthday");
    assert_eq!(violations(&refused), [rv("R-RV-5", "expected_end_date")]);
    let why = explained(&refused);
    assert!(why.contains("2027-03-14"), "{why}");
    assert!(why.contains("ungestøtte"), "{why}");
    let decision = counsellor
        .decide_referral(DecideReferralRequest {
            expected_end_date: date(2027, 3, 14),
            ..fixtures::approve(&name, ApprovalLevel::OwnAuthority, 180)
        })
        .await
        .expect("until the day before 18")
        .into_inner();
    // The approval tells follow-up (and the case system) when the basis ends, so the
    // counsellor gets the deadline to decide on ungestøtte before then.
    let approved = first_approval(&running, "329").await;
    assert_eq!(approved.grant, decision.grant);
    assert_eq!(approved.basis_ends_date, date(2027, 3, 14));
    assert_eq!(approved.basis_ends_at_age, 18);
    // A later change cannot carry it past the birthday either.
    let changed = counsellor
        .change_grant(ChangeGrantRequest {
            name: decision.grant.clone(),
            effective_from: date(2027, 1, 1),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["expected_end_date".into()],
            }),
            expected_end_date: date(2027, 6, 30),
            approval_level: ApprovalLevel::OwnAuthority as i32,
            request_id: "extend-past-18".into(),
            ..ChangeGrantRequest::default()
        })
        .await
        .expect_err("past the 18th birthday");
    assert_eq!(violations(&changed), [rv("R-RV-5", "expected_end_date")]);
    running.stop().await.expect("stop");
}

#[tokio::test]
async fn r_rv_4_a_compulsory_condition_cites_a_compulsory_basis_and_asks_no_custody_consent() {
    let db = fresh_database().await.expect("database");
    let running = start_today(&db).await;
    as_role(&running, Role::Admin, "329")
        .create_policy(policy_in("329", ringsted_policy()))
        .await
        .expect("policy");
    let mut counsellor = as_role(&running, Role::Counsellor, "329");
    let condition = |basis: &str| CompulsoryCondition {
        legal_basis: basis.into(),
        reference: "Retten i Roskilde 99-1234/2026".into(),
        end_date: date(2027, 10, 31),
    };
    let no_custody_consent = Consent {
        child_view: "will come, but does not want to".into(),
        ..Consent::default()
    };
    // A basis that is not compulsory cannot carry the condition.
    let refused = submitted(&mut counsellor, "010112-4018", "C-1", |r| Referral {
        compulsory_condition: Some(condition("legalBases/bl-32-1-3")),
        consent: Some(no_custody_consent.clone()),
        ..r
    })
    .await
    .expect_err("not a compulsory basis");
    assert_eq!(refused, [rv("R-RV-4", "compulsory_condition.legal_basis")]);
    // Each compulsory basis in the catalogue passes without a custody holder's consent.
    for (i, basis) in [
        "legalBases/strfl-74a",
        "legalBases/rpl-722-723",
        "legalBases/strfl-57",
        "legalBases/ukl-13-1-7",
    ]
    .into_iter()
    .enumerate()
    {
        let cpr = format!("01011{i}-4026");
        submitted(&mut counsellor, &cpr, &format!("C-2-{i}"), |r| Referral {
            compulsory_condition: Some(condition(basis)),
            consent: Some(no_custody_consent.clone()),
            ..r
        })
        .await
        .unwrap_or_else(|v| panic!("{basis}: {v:?}"));
    }
    // The catalogue says which bases are compulsory.
    let catalogue = counsellor
        .list_legal_bases(ListLegalBasesRequest::default())
        .await
        .expect("catalogue")
        .into_inner()
        .legal_bases;
    let compulsory: Vec<&str> = catalogue
        .iter()
        .filter(|b| b.compulsory)
        .map(|b| b.code.as_str())
        .collect();
    assert_eq!(
        compulsory,
        ["rpl-722-723", "strfl-57", "strfl-74a", "ukl-13-1-7"]
    );
    running.stop().await.expect("stop");
}
