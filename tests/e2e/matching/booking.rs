//! Assignments never overbook (R-MP-4), even when coordinators race.

use kontakt_harness::messages::date;
use kontakt_proto::matching::v1::*;
use tonic::Code;

use crate::*;

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
