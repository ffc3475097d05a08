//! Contact persons, providers and contracts: checked field by field, scoped to the caller.

use kontakt_harness::bad_request_fields as fields;
use kontakt_harness::messages::date;
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1::*;
use tonic::Code;

use crate::*;

#[tokio::test]
async fn contact_persons_providers_and_contracts_are_checked_field_by_field_and_scoped() {
    let (_db, service, mut ishoj) = started().await;

    let bad = ishoj
        .create_provider(provider_request(
            "misbrugshjaelp",
            "Misbrugshjælp ApS",
            "12345678",
            &["competences/no-such-thing"],
        ))
        .await
        .expect_err("bad CVR");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(fields(&bad), ["provider.cvr"]);
    let provider = misbrugshjaelp(&mut ishoj).await;
    assert_eq!(provider.name, "providers/misbrugshjaelp");
    let again = ishoj
        .create_provider(provider_request("other", "Same CVR", "31415926", &[]))
        .await
        .expect_err("CVR taken");
    assert_eq!(again.code(), Code::AlreadyExists);
    let contract = ishoj
        .create_framework_contract(CreateFrameworkContractRequest {
            parent: provider.name.clone(),
            contract_id: "fk-2026".into(),
            contract: Some(FrameworkContract {
                reference: "Udbud 2026-14".into(),
                hourly_price: Some(Money { ore: 52_500 }),
                validity: Some(DateRange {
                    start: date(2026, 1, 1),
                    end: date(2027, 12, 31),
                }),
                competences: vec!["competences/substance-abuse".into()],
                ..FrameworkContract::default()
            }),
        })
        .await
        .expect("contract")
        .into_inner();
    assert_eq!(contract.hourly_price.map(|m| m.ore), Some(52_500));

    // Every wrong field at once.
    let wrong = ishoj
        .create_contact_person(CreateContactPersonRequest {
            parent: UNIT.into(),
            contact_person_id: "x".into(),
            contact_person: Some(ContactPerson {
                employment: Employment::Staff as i32,
                municipalities: vec!["18".into()],
                weekly_capacity_minutes: 600,
                other_duties: vec![OtherDuty {
                    kind: OtherDutyKind::SupervisedContact as i32,
                    minutes_per_week: 900,
                    description: String::new(),
                }],
                ..ContactPerson::default()
            }),
        })
        .await
        .expect_err("invalid");
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert_eq!(
        fields(&wrong),
        ["display_name", "municipalities[0]", "other_duties"]
    );
    // Nobody creates people for a municipality they do not act for.
    let mut foreign = staff("Bo", &[], 600);
    foreign.municipalities = vec![ISHOJ.into(), RINGSTED.into()];
    let denied = ishoj
        .create_contact_person(CreateContactPersonRequest {
            parent: UNIT.into(),
            contact_person_id: "bo".into(),
            contact_person: Some(foreign),
        })
        .await
        .expect_err("Ringsted is not theirs");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let mut with_duty = staff("Anna", &["substance-abuse", "age-15-17"], 1_200);
    with_duty.other_duties = vec![OtherDuty {
        kind: OtherDutyKind::SupervisedContact as i32,
        minutes_per_week: 300,
        description: "støttet samvær".into(),
    }];
    let anna = create_person(&mut ishoj, "anna", with_duty).await;
    assert_eq!(anna.name, format!("{UNIT}/contactPersons/anna"));
    assert_eq!(anna.rates.len(), 1);
    assert_eq!(anna.state(), ContactPersonState::Active);
    let provider_person =
        create_person(&mut ishoj, "karim", providers_person(&provider.name)).await;
    assert_eq!(provider_person.provider, provider.name);

    // Ringsted's coordinator does not see Ishøj's people.
    let hidden = coordinator(&service, RINGSTED)
        .get_contact_person(person_named(&anna.name))
        .await
        .expect_err("not theirs");
    assert_eq!(hidden.code(), Code::NotFound);
    let listed = ishoj
        .list_contact_persons(ListContactPersonsRequest {
            parent: "serviceUnits/-".into(),
            page_size: 1,
            ..ListContactPersonsRequest::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.contact_persons[0].name, anna.name);
    assert!(!listed.next_page_token.is_empty());

    // A stale etag loses; a fresh one updates only the masked fields.
    let update = |etag: &str, capacity: i32| UpdateContactPersonRequest {
        contact_person: Some(ContactPerson {
            name: anna.name.clone(),
            etag: etag.into(),
            weekly_capacity_minutes: capacity,
            display_name: "ignored, not in the mask".into(),
            ..ContactPerson::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["weekly_capacity_minutes".into()],
        }),
    };
    let updated = ishoj
        .update_contact_person(update(&anna.etag, 1_500))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.weekly_capacity_minutes, 1_500);
    assert_eq!(updated.display_name, "Anna");
    let stale = ishoj
        .update_contact_person(update(&anna.etag, 900))
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    service.stop().await.expect("stop");
}
