//! The database pool cannot run dry (issue 27): no call waits for a second connection while it
//! holds one. Twenty assignments to one contact person arrive at once — each call holding a
//! connection while it waits for that person's row lock — while a coordinator changes the
//! person's capacity; round after round, on a pool of five connections. Before the fix the
//! capacity change held the lock and waited for a second connection to look up competences:
//! the pool ran dry, calls failed UNAVAILABLE and the service reported NOT_SERVING.
//!
//! The guard itself (`kontakt_platform::db::CallTx`) makes such a path panic in debug builds,
//! so every other e2e test sweeps the services for it too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kontakt::Service;
use kontakt_harness::messages::{apply, date, envelope, grant_approved};
use kontakt_harness::{Start, TestService, clock_at, fresh_database, token};
use kontakt_platform::auth::Role;
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::matching::v1::*;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const ISHOJ: &str = "183";
const ROUNDS: usize = 5;
const AT_ONCE: usize = 20;
const MINUTES: i32 = 60;

fn anna() -> ContactPerson {
    ContactPerson {
        display_name: "Anna".into(),
        employment: Employment::Staff as i32,
        competences: vec!["competences/psychiatry".into()],
        municipalities: vec![ISHOJ.into()],
        weekly_capacity_minutes: 10_080,
        child_protection_certificate: Some(ChildProtectionCertificate {
            issue_date: date(2026, 1, 10),
            result: CertificateResult::Clear as i32,
            expiry_date: date(2029, 1, 10),
        }),
        rates: vec![HourlyRate {
            hourly_price: Some(Money { ore: 30_000 }),
            validity: Some(DateRange {
                start: date(2026, 1, 1),
                end: None,
            }),
        }],
        ..ContactPerson::default()
    }
}

fn capacity(name: &str, minutes: i32) -> UpdateContactPersonRequest {
    UpdateContactPersonRequest {
        contact_person: Some(ContactPerson {
            name: name.into(),
            weekly_capacity_minutes: minutes,
            competences: vec!["competences/psychiatry".into()],
            ..ContactPerson::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["weekly_capacity_minutes".into(), "competences".into()],
        }),
    }
}

/// Asks for the service's health every 20 ms until `stop`; counts every answer but SERVING.
fn watch_health(service: &TestService, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    let mut health = HealthClient::new(service.channel.clone());
    tokio::spawn(async move {
        let mut not_serving = 0;
        while !stop.load(Ordering::Relaxed) {
            let answer = health
                .check(HealthCheckRequest {
                    service: kontakt_proto::service_names::MATCHING.into(),
                })
                .await;
            if !matches!(answer, Ok(ref a) if a.get_ref().status == ServingStatus::Serving as i32) {
                not_serving += 1;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        not_serving
    })
}

#[tokio::test]
async fn twenty_assignments_to_one_person_while_their_capacity_changes_never_run_the_pool_dry() {
    let db = fresh_database().await.expect("database");
    let service = Start::new(Service::Matching, &db)
        .clock(clock_at(2026, 11, 24, 10))
        .run()
        .await
        .expect("matching");
    let coordinator = |s: &TestService| {
        MatchingServiceClient::new(s.with_token(&token(&[Role::Coordinator], &[ISHOJ])))
    };
    let mut ishoj = coordinator(&service);
    let anna = ishoj
        .create_contact_person(CreateContactPersonRequest {
            parent: "serviceUnits/ishoejgaard".into(),
            contact_person_id: "anna".into(),
            contact_person: Some(anna()),
        })
        .await
        .expect("anna")
        .into_inner();

    let stop = Arc::new(AtomicBool::new(false));
    let health = watch_health(&service, stop.clone());
    let unavailable = Arc::new(AtomicUsize::new(0));
    let (mut assigned, mut updated) = (0, 0);
    for round in 0..ROUNDS {
        let events: Vec<_> = (0..AT_ONCE)
            .map(|i| {
                let grant = grant_approved(ISHOJ, &format!("r{round}-{i}"), MINUTES);
                envelope(&grant, &grant.grant)
            })
            .collect();
        apply(
            &db,
            Service::Matching,
            kontakt_matching::grant_events,
            &events,
        )
        .await;
        let mut calls = Vec::new();
        for i in 0..AT_ONCE {
            let mut client = coordinator(&service);
            let person = anna.name.clone();
            calls.push(tokio::spawn(async move {
                client
                    .assign_contact_person(AssignContactPersonRequest {
                        matching_request: format!(
                            "municipalities/{ISHOJ}/matchingRequests/r{round}-{i}"
                        ),
                        contact_person: person,
                        start_date: date(2026, 12, 1),
                        minutes_per_week: 0,
                        request_id: format!("r{round}-{i}"),
                    })
                    .await
                    .map(|_| ())
            }));
            // Between the assignments, the capacity changes back and forth (and its
            // competences are checked against the catalogue inside the same call).
            if i % 5 == 0 {
                let mut client = coordinator(&service);
                let change = capacity(&anna.name, 10_080 - (i as i32 % 2) * 60);
                calls.push(tokio::spawn(async move {
                    client.update_contact_person(change).await.map(|_| ())
                }));
            }
        }
        for call in calls {
            match call.await.expect("joined") {
                Ok(()) => {}
                Err(status) if status.code() == Code::Unavailable => {
                    unavailable.fetch_add(1, Ordering::Relaxed);
                }
                Err(status) => panic!("round {round}: {status:?}"),
            }
        }
        assigned += AT_ONCE;
        updated += AT_ONCE.div_ceil(5);
    }
    stop.store(true, Ordering::Relaxed);
    let not_serving = health.await.expect("health watcher");
    let booked = ishoj
        .get_contact_person(GetContactPersonRequest {
            name: anna.name.clone(),
        })
        .await
        .expect("anna")
        .into_inner()
        .booked_minutes_per_week;
    let unavailable = unavailable.load(Ordering::Relaxed);
    println!(
        "pool: rounds={ROUNDS} assignments={assigned} capacity_changes={updated} \
         pool_size=5 unavailable={unavailable} not_serving={not_serving} booked={booked}"
    );
    assert_eq!(unavailable, 0, "no call may find the pool dry");
    assert_eq!(not_serving, 0, "health stays SERVING throughout");
    assert_eq!(
        booked,
        (ROUNDS * AT_ONCE) as i32 * MINUTES,
        "every assignment booked"
    );
    service.stop().await.expect("stop");
}
