//! The matching service over gRPC on a real PostgreSQL: contact persons and providers, ranked
//! and explained proposals, assignments that never overbook (R-MP-4) even when 50 coordinators
//! race, procurement (R-MP-2), unmet demand (R-MP-5), and a contact person's own view.
//! Matching requests are opened the way production opens them: by applying GrantApproved
//! events with the service's own event handler.

use kontakt::Service;
use kontakt_harness::bad_request_fields as fields;
use kontakt_harness::messages::{apply, date, envelope, grant_approved, hourly_rate};
use kontakt_harness::{
    AuthedChannel, Start, TestDatabase, TestService, claims_token, fresh_database,
};
use kontakt_platform::auth::{Claims, Role};
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::matching::v1::*;
use kontakt_proto::referral::v1::{GrantApproved, Needs};
use tonic::Code;

type Matching = MatchingServiceClient<AuthedChannel>;

const ISHOJ: &str = "183";
const RINGSTED: &str = "329";
const UNIT: &str = "serviceUnits/ishoejgaard";

async fn start(db: &TestDatabase) -> TestService {
    Start::at(Service::Matching, db, 2026, 11, 24, 10)
        .run()
        .await
        .expect("matching")
}

/// A fresh database, the service on it and a coordinator of Ishøj.
async fn started() -> (TestDatabase, TestService, Matching) {
    let db = fresh_database().await.expect("database");
    let service = start(&db).await;
    let ishoj = coordinator(&service, ISHOJ);
    (db, service, ishoj)
}

fn coordinator(service: &TestService, municipality: &str) -> Matching {
    MatchingServiceClient::new(service.as_role(Role::Coordinator, municipality))
}

/// Opens a matching request as GrantApproved does: through the service's own handler, in a
/// transaction of its own.
async fn open_request(db: &TestDatabase, m: &str, grant: &str, minutes: i32, needs: &[&str]) {
    let approved = GrantApproved {
        age_years_at_start: 15,
        needs: Some(Needs {
            competences: needs.iter().map(|c| format!("competences/{c}")).collect(),
            ..Needs::default()
        }),
        ..grant_approved(m, grant, minutes)
    };
    let event = Envelope {
        municipality: m.into(),
        ..envelope(&approved, &approved.grant)
    };
    apply(
        db,
        Service::Matching,
        kontakt_matching::grant_events,
        &[event],
    )
    .await;
}

fn request_name(m: &str, grant: &str) -> String {
    format!("municipalities/{m}/matchingRequests/{grant}")
}

fn clear_certificate() -> Option<ChildProtectionCertificate> {
    Some(ChildProtectionCertificate {
        issue_date: date(2026, 1, 10),
        result: CertificateResult::Clear as i32,
        expiry_date: date(2029, 1, 10),
    })
}

fn staff(name: &str, competences: &[&str], capacity: i32) -> ContactPerson {
    ContactPerson {
        display_name: name.into(),
        employment: Employment::Staff as i32,
        competences: competences
            .iter()
            .map(|c| format!("competences/{c}"))
            .collect(),
        gender: Gender::Female as i32,
        municipalities: vec![ISHOJ.into()],
        weekly_capacity_minutes: capacity,
        child_protection_certificate: clear_certificate(),
        rates: vec![hourly_rate(30_000, date(2026, 1, 1))],
        ..ContactPerson::default()
    }
}

async fn create_person(client: &mut Matching, id: &str, person: ContactPerson) -> ContactPerson {
    client
        .create_contact_person(CreateContactPersonRequest {
            parent: UNIT.into(),
            contact_person_id: id.into(),
            contact_person: Some(person),
        })
        .await
        .unwrap_or_else(|s| panic!("create {id}: {s:?}"))
        .into_inner()
}

fn assign(request: &str, person: &str, request_id: &str) -> AssignContactPersonRequest {
    AssignContactPersonRequest {
        matching_request: request.into(),
        contact_person: person.into(),
        start_date: date(2026, 12, 1),
        minutes_per_week: 0,
        request_id: request_id.into(),
    }
}

fn provider_request(
    id: &str,
    display_name: &str,
    cvr: &str,
    competences: &[&str],
) -> CreateProviderRequest {
    CreateProviderRequest {
        provider_id: id.into(),
        provider: Some(Provider {
            display_name: display_name.into(),
            cvr: cvr.into(),
            competences: competences.iter().map(|&c| c.into()).collect(),
            ..Provider::default()
        }),
    }
}

/// Misbrugshjælp ApS (CVR 31415926, substance abuse), created.
async fn misbrugshjaelp(client: &mut Matching) -> Provider {
    let request = provider_request(
        "misbrugshjaelp",
        "Misbrugshjælp ApS",
        "31415926",
        &["competences/substance-abuse"],
    );
    client
        .create_provider(request)
        .await
        .expect("provider")
        .into_inner()
}

/// Karim, the provider's person, without rates of his own.
fn providers_person(provider: &str) -> ContactPerson {
    ContactPerson {
        employment: Employment::Provider as i32,
        provider: provider.into(),
        rates: Vec::new(),
        ..staff("Karim", &["substance-abuse"], 600)
    }
}

fn propose(request: &str, max_candidates: i32, include_excluded: bool) -> ProposeCandidatesRequest {
    ProposeCandidatesRequest {
        matching_request: request.into(),
        max_candidates,
        include_excluded,
    }
}

fn person_named(name: &str) -> GetContactPersonRequest {
    GetContactPersonRequest { name: name.into() }
}

fn assignment_named(name: &str) -> GetAssignmentRequest {
    GetAssignmentRequest { name: name.into() }
}

fn capacity_mask() -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: vec!["weekly_capacity_minutes".into()],
    })
}

async fn unmet_demand(client: &mut Matching) -> Vec<UnmetDemand> {
    client
        .list_unmet_demand(ListUnmetDemandRequest {
            parent: format!("municipalities/{ISHOJ}"),
        })
        .await
        .expect("unmet")
        .into_inner()
        .demands
}

fn procurement(
    request: &str,
    provider: &str,
    reason: ProcurementReason,
    note: &str,
) -> CreateProcurementRequest {
    CreateProcurementRequest {
        parent: format!("municipalities/{ISHOJ}"),
        procurement: Some(Procurement {
            matching_request: request.into(),
            provider: provider.into(),
            reason: reason as i32,
            reason_note: note.into(),
            ..Procurement::default()
        }),
        request_id: "p-1".into(),
    }
}

fn rules(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_precondition_failure()
        .map(|p| p.violations.into_iter().map(|v| v.r#type).collect())
        .unwrap_or_default()
}

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

#[tokio::test]
async fn proposals_are_ranked_explained_and_say_who_is_excluded_and_why() {
    let (db, service, mut ishoj) = started().await;
    open_request(&db, ISHOJ, "g-1", 180, &["substance-abuse"]).await;

    create_person(
        &mut ishoj,
        "anna",
        staff("Anna", &["substance-abuse"], 1_200),
    )
    .await;
    create_person(&mut ishoj, "bent", staff("Bent", &[], 1_200)).await;
    let mut hourly = staff("Cille", &["substance-abuse"], 600);
    hourly.employment = Employment::Hourly as i32;
    hourly.rates[0].hourly_price = Some(Money { ore: 20_000 });
    create_person(&mut ishoj, "cille", hourly).await;
    let mut no_certificate = staff("Dorte", &["substance-abuse"], 1_200);
    no_certificate.child_protection_certificate = None;
    create_person(&mut ishoj, "dorte", no_certificate).await;
    let mut expired = staff("Erik", &["substance-abuse"], 1_200);
    expired.child_protection_certificate = Some(ChildProtectionCertificate {
        issue_date: date(2023, 1, 1),
        result: CertificateResult::Clear as i32,
        expiry_date: date(2026, 11, 30),
    });
    create_person(&mut ishoj, "erik", expired).await;
    let mut busy = staff("Frida", &["substance-abuse"], 600);
    busy.other_duties = vec![OtherDuty {
        kind: OtherDutyKind::ParentSupport as i32,
        minutes_per_week: 480,
        description: String::new(),
    }];
    create_person(&mut ishoj, "frida", busy).await;

    let request = request_name(ISHOJ, "g-1");
    let proposal = ishoj
        .propose_candidates(propose(&request, 0, true))
        .await
        .expect("proposal")
        .into_inner();
    let order: Vec<&str> = proposal
        .candidates
        .iter()
        .map(|c| c.display_name.as_str())
        .collect();
    // Anna (staff, competence) before Cille (hourly hire, competence) before Bent (no
    // competence): R-MP-3 needs first, then own staff before hourly hires (R-MP-1).
    assert_eq!(order, ["Anna", "Cille", "Bent"]);
    let anna = &proposal.candidates[0];
    assert_eq!(
        anna.score,
        anna.factors.iter().map(|f| f.points).sum::<i32>()
    );
    for factor in ["competences", "own people", "free capacity", "cost"] {
        let f = anna
            .factors
            .iter()
            .find(|f| f.factor == factor)
            .unwrap_or_else(|| panic!("{factor} explained"));
        assert!(!f.explanation.is_empty());
    }
    let cille_cost = proposal.candidates[1]
        .factors
        .iter()
        .find(|f| f.factor == "cost")
        .expect("cost");
    assert!(
        cille_cost.explanation.contains("225.00"),
        "wage DKK 200 + 12.5 % holiday pay: {}",
        cille_cost.explanation
    );
    assert_eq!(
        proposal.candidates[2].missing_competences,
        ["competences/substance-abuse"]
    );
    let excluded: Vec<(&str, Vec<&str>)> = proposal
        .excluded
        .iter()
        .map(|e| {
            (
                e.display_name.as_str(),
                e.reasons.iter().map(|r| r.rule.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        excluded,
        [
            ("Dorte", vec!["R-MP-6"]),
            ("Erik", vec!["R-MP-6"]),
            ("Frida", vec!["R-MP-4"]),
        ]
    );
    assert!(!proposal.unmet);
    // The same data gives the same answer; without include_excluded nobody excluded is listed.
    let again = ishoj
        .propose_candidates(propose(&request, 2, false))
        .await
        .expect("again")
        .into_inner();
    assert_eq!(again.candidates.len(), 2);
    assert_eq!(again.candidates[0], proposal.candidates[0]);
    assert!(again.excluded.is_empty());
    let stored = ishoj
        .get_matching_request(GetMatchingRequestRequest {
            name: request.clone(),
        })
        .await
        .expect("request")
        .into_inner();
    assert_eq!(stored.state(), MatchingRequestState::Proposed);
    assert_eq!(
        stored.proposed_contact_person,
        format!("{UNIT}/contactPersons/anna")
    );

    // Continuity: once Anna has worked with the child, a later request for the same child
    // weighs it.
    let assigned = ishoj
        .assign_contact_person(assign(
            &request,
            &format!("{UNIT}/contactPersons/anna"),
            "a-1",
        ))
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assigned.minutes_per_week, 180);
    ishoj
        .end_assignment(EndAssignmentRequest {
            name: assigned.name.clone(),
            end_date: date(2027, 1, 31),
            grant_continues: true,
            note: "Anna changes team".into(),
            etag: String::new(),
        })
        .await
        .expect("ended");
    let reopened = ishoj
        .propose_candidates(propose(&request, 0, false))
        .await
        .expect("proposal")
        .into_inner();
    assert!(
        reopened.candidates[0]
            .factors
            .iter()
            .any(|f| f.factor == "continuity" && f.points > 0),
        "{:?}",
        reopened.candidates[0]
    );
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn fifty_coordinators_racing_for_one_persons_last_hours_book_them_exactly_once() {
    let (db, service, mut ishoj) = started().await;
    // 600 minutes a week, 420 already booked: 180 left, and each request needs 180.
    let anna = create_person(&mut ishoj, "anna", staff("Anna", &[], 600)).await;
    open_request(&db, ISHOJ, "first", 420, &[]).await;
    ishoj
        .assign_contact_person(assign(&request_name(ISHOJ, "first"), &anna.name, "first"))
        .await
        .expect("first");
    for i in 0..50 {
        open_request(&db, ISHOJ, &format!("race-{i}"), 180, &[]).await;
    }
    let mut racers = Vec::new();
    for i in 0..50 {
        let mut client = coordinator(&service, ISHOJ);
        let person = anna.name.clone();
        racers.push(tokio::spawn(async move {
            client
                .assign_contact_person(assign(
                    &request_name(ISHOJ, &format!("race-{i}")),
                    &person,
                    &format!("race-{i}"),
                ))
                .await
        }));
    }
    let mut won = Vec::new();
    for racer in racers {
        match racer.await.expect("joined") {
            Ok(assignment) => won.push(assignment.into_inner()),
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(rules(&status), ["R-MP-4"], "{status:?}");
            }
        }
    }
    assert_eq!(
        won.len(),
        1,
        "exactly one coordinator gets the last 180 minutes"
    );
    let after = ishoj
        .get_contact_person(person_named(&anna.name))
        .await
        .expect("anna")
        .into_inner();
    assert_eq!(after.booked_minutes_per_week, 600);
    // The stored bookings agree with the person's total.
    let mut conn = db.connect().await.expect("connect");
    let (sum,): (i64,) = sqlx::query_as(
        "SELECT coalesce(sum(minutes_per_week), 0) FROM matching.assignments WHERE state = 'ACTIVE'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("sum");
    assert_eq!(sum, 600);
    // A retry of the winner returns the same assignment and books nothing more.
    let winner = &won[0];
    let retried = ishoj
        .assign_contact_person(assign(
            &winner.matching_request,
            &anna.name,
            &format!(
                "race-{}",
                winner.matching_request.rsplit('-').next().expect("index")
            ),
        ))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retried.name, winner.name);
    // Capacity cannot be cut below what is booked.
    let cut = ishoj
        .update_contact_person(UpdateContactPersonRequest {
            contact_person: Some(ContactPerson {
                name: anna.name.clone(),
                weekly_capacity_minutes: 500,
                ..ContactPerson::default()
            }),
            update_mask: capacity_mask(),
        })
        .await
        .expect_err("below bookings");
    assert_eq!(cut.code(), Code::FailedPrecondition);
    // Ending the winner gives the time back; changing the first within capacity works.
    ishoj
        .end_assignment(EndAssignmentRequest {
            name: winner.name.clone(),
            end_date: date(2026, 12, 31),
            ..EndAssignmentRequest::default()
        })
        .await
        .expect("ended");
    let first = ishoj
        .list_assignments(ListAssignmentsRequest {
            parent: format!("municipalities/{ISHOJ}"),
            state: AssignmentState::Active as i32,
            ..ListAssignmentsRequest::default()
        })
        .await
        .expect("list")
        .into_inner()
        .assignments;
    assert_eq!(first.len(), 1);
    let grown = ishoj
        .change_assignment(ChangeAssignmentRequest {
            name: first[0].name.clone(),
            minutes_per_week: 420,
            effective_from: date(2027, 1, 1),
            etag: first[0].etag.clone(),
        })
        .await
        .expect("same minutes is fine")
        .into_inner();
    assert_eq!(grown.minutes_per_week, 420);
    service.stop().await.expect("stop");
}

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

#[tokio::test]
async fn unmet_demand_lists_requests_nobody_can_take_with_their_age_and_what_is_missing() {
    let (db, service, mut ishoj) = started().await;
    create_person(&mut ishoj, "anna", staff("Anna", &["substance-abuse"], 600)).await;
    open_request(
        &db,
        ISHOJ,
        "g-somali",
        180,
        &["language-somali", "substance-abuse"],
    )
    .await;
    open_request(&db, ISHOJ, "g-met", 180, &["substance-abuse"]).await;
    let request = request_name(ISHOJ, "g-somali");
    for _ in 0..2 {
        let proposal = ishoj
            .propose_candidates(propose(&request, 0, false))
            .await
            .expect("proposal")
            .into_inner();
        assert!(proposal.unmet);
        assert_eq!(
            proposal.missing_competences,
            ["competences/language-somali"]
        );
    }
    let unmet = unmet_demand(&mut ishoj).await;
    assert_eq!(unmet.len(), 1, "{unmet:?}");
    assert_eq!(unmet[0].matching_request, request);
    assert_eq!(
        unmet[0].missing_competences,
        ["competences/language-somali"]
    );
    assert_eq!(unmet[0].partial_candidates, 1);
    assert!(unmet[0].open_time.is_some());
    // DemandUnmet was published once, not once per proposal.
    let published = kontakt_harness::events::outbox(&db, Service::Matching, "DemandUnmet").await;
    assert_eq!(published.len(), 1);
    // Once someone with Somali is hired, the demand is met.
    create_person(
        &mut ishoj,
        "hodan",
        staff("Hodan", &["language-somali", "substance-abuse"], 600),
    )
    .await;
    let unmet = unmet_demand(&mut ishoj).await;
    assert!(unmet.is_empty(), "{unmet:?}");
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn a_contact_person_sees_their_own_assignments_and_nothing_else() {
    let (db, service, mut ishoj) = started().await;
    let anna = create_person(&mut ishoj, "anna", staff("Anna", &[], 600)).await;
    let bent = create_person(&mut ishoj, "bent", staff("Bent", &[], 600)).await;
    open_request(&db, ISHOJ, "g-a", 120, &[]).await;
    open_request(&db, ISHOJ, "g-b", 120, &[]).await;
    let own = ishoj
        .assign_contact_person(assign(&request_name(ISHOJ, "g-a"), &anna.name, "a"))
        .await
        .expect("a")
        .into_inner();
    let theirs = ishoj
        .assign_contact_person(assign(&request_name(ISHOJ, "g-b"), &bent.name, "b"))
        .await
        .expect("b")
        .into_inner();
    let mut as_anna = MatchingServiceClient::new(service.with_token(&claims_token(Claims {
        sub: "anna@ishoej.dk".into(),
        kontakt_roles: vec!["contact_person".into()],
        kontakt_municipalities: vec![ISHOJ.into()],
        kontakt_contact_person: Some(anna.name.clone()),
        ..Claims::default()
    })));
    // Asking for Bent's list still gives Anna's own.
    let listed = as_anna
        .list_assignments(ListAssignmentsRequest {
            parent: format!("municipalities/{ISHOJ}"),
            contact_person: bent.name.clone(),
            ..ListAssignmentsRequest::default()
        })
        .await
        .expect("list")
        .into_inner()
        .assignments;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        [own.name.as_str()]
    );
    as_anna
        .get_assignment(assignment_named(&own.name))
        .await
        .expect("own");
    let hidden = as_anna
        .get_assignment(assignment_named(&theirs.name))
        .await
        .expect_err("Bent's");
    assert_eq!(hidden.code(), Code::NotFound);
    let colleague = as_anna
        .get_contact_person(person_named(&bent.name))
        .await
        .expect_err("Bent's record");
    assert_eq!(colleague.code(), Code::NotFound);
    for denied in [
        as_anna
            .list_matching_requests(ListMatchingRequestsRequest {
                parent: format!("municipalities/{ISHOJ}"),
                ..ListMatchingRequestsRequest::default()
            })
            .await
            .map(|_| ()),
        as_anna
            .propose_candidates(ProposeCandidatesRequest {
                matching_request: request_name(ISHOJ, "g-a"),
                ..ProposeCandidatesRequest::default()
            })
            .await
            .map(|_| ()),
    ] {
        assert_eq!(
            denied.expect_err("not theirs").code(),
            Code::PermissionDenied
        );
    }
    service.stop().await.expect("stop");
}
