//! Procurement (R-MP-2): request, offer, order and the provider's person.

use kontakt_harness::bad_request_fields as fields;
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1::*;
use tonic::Code;

use crate::*;

#[tokio::test]
async fn a_procurement_goes_from_request_to_offer_to_order_to_the_providers_person() {
    let (db, service, mut ishoj) = started().await;
    let provider = misbrugshjaelp(&mut ishoj).await;
    let karim = create_person(&mut ishoj, "karim", providers_person(&provider.name)).await;
    let own = create_person(&mut ishoj, "anna", staff("Anna", &[], 600)).await;
    open_request(&db, ISHOJ, "g-abuse", 240, &["substance-abuse"]).await;
    let request = request_name(ISHOJ, "g-abuse");

    // A provider's person is never assigned without an order (R-MP-2).
    let direct = ishoj
        .assign_contact_person(assign(&request, &karim.name, "direct"))
        .await
        .expect_err("needs an order");
    assert_eq!(direct.code(), Code::FailedPrecondition);
    assert_eq!(rules(&direct), ["R-MP-2"]);

    let unexplained = procurement(&request, &provider.name, ProcurementReason::Unspecified, "");
    let no_reason = ishoj
        .create_procurement(unexplained)
        .await
        .expect_err("reason required");
    assert_eq!(fields(&no_reason), ["procurement.reason"]);
    let procurement = ishoj
        .create_procurement(procurement(
            &request,
            &provider.name,
            ProcurementReason::SpecialProblemArea,
            "heavy cannabis use; no own staff with the competence",
        ))
        .await
        .expect("requested")
        .into_inner();
    assert_eq!(procurement.state(), ProcurementState::Requested);
    assert_eq!(procurement.minutes_per_week, 240);
    let offered = ishoj
        .record_offer(RecordOfferRequest {
            name: procurement.name.clone(),
            offered_hourly_price: Some(Money { ore: 55_000 }),
            note: "incl. transport".into(),
            etag: procurement.etag.clone(),
        })
        .await
        .expect("offer")
        .into_inner();
    assert_eq!(offered.state(), ProcurementState::Offered);
    let ordered = ishoj
        .order_procurement(OrderProcurementRequest {
            name: procurement.name.clone(),
            agreed_hourly_price: Some(Money { ore: 52_500 }),
            etag: offered.etag.clone(),
        })
        .await
        .expect("order")
        .into_inner();
    assert_eq!(ordered.state(), ProcurementState::Ordered);
    assert!(ordered.order_time.is_some());

    // The order is for the provider's people only.
    let wrong = ishoj
        .assign_contact_person(assign(&request, &own.name, "own"))
        .await
        .expect_err("not the provider's");
    assert_eq!(wrong.code(), Code::FailedPrecondition);
    let assignment = ishoj
        .assign_contact_person(assign(&request, &karim.name, "karim"))
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assignment.procurement, procurement.name);
    assert_eq!(assignment.agreed_hourly_price.map(|m| m.ore), Some(52_500));
    assert_eq!(assignment.employment(), Employment::Provider);

    // The events a cost forecast needs were published with the changes.
    let mut conn = db.connect().await.expect("connect");
    let types: Vec<String> = sqlx::query_scalar("SELECT type FROM matching.outbox ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("outbox");
    assert_eq!(
        types,
        [
            "kontakt.matching.v1.ProcurementOrdered",
            "kontakt.matching.v1.AssignmentStarted"
        ]
    );
    service.stop().await.expect("stop");
}
