//! Timesheets (R-TC-4): submitted, returned, approved and final, and the coordinators' queue.

use super::*;

#[tokio::test]
async fn a_coordinator_approves_a_timesheet_and_its_entries_are_final() {
    let (_db, service, staff, mut anna) = anna_on_staff().await;
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    let first = anna
        .registered(register(&staff, 7, 90, "face-to-face", "t-1"), "first")
        .await;
    anna.registered(register(&staff, 8, 60, "documentation", "t-2"), "second")
        .await;
    let december = || timesheet(ANNA, 1, 31);
    let sheet = anna
        .create_timesheet(december())
        .await
        .expect("timesheet")
        .into_inner();
    assert_eq!(sheet.total_minutes, 150);
    assert_eq!(sheet.state(), TimesheetState::Open);
    let overlap = anna
        .create_timesheet(CreateTimesheetRequest {
            period: Some(DateRange {
                start: date(2026, 12, 15),
                end: date(2027, 1, 10),
            }),
            ..december()
        })
        .await
        .expect_err("overlaps");
    assert_eq!(overlap.code(), Code::AlreadyExists);
    // Someone else's timesheets do not exist for Leyla.
    let hidden = contact_person(&service, LEYLA)
        .get_timesheet(get(&sheet.name))
        .await
        .expect_err("not hers");
    assert_eq!(hidden.code(), Code::NotFound);

    let submitted = anna
        .submit_timesheet(submit(&sheet.name, &sheet.etag))
        .await
        .expect("submitted")
        .into_inner();
    assert_eq!(submitted.state(), TimesheetState::Submitted);
    let self_approval = anna
        .approve_timesheet(approve(&sheet.name, ""))
        .await
        .expect_err("the coordinator approves");
    assert_eq!(self_approval.code(), Code::PermissionDenied);
    let while_submitted = anna
        .refused(register(&staff, 9, 30, "face-to-face", "t-3"), "submitted")
        .await;
    assert_eq!(rules(&while_submitted), ["R-TC-4"]);
    // Returned for a correction, then submitted again and approved.
    let too_long = coordinator
        .return_timesheet(ReturnTimesheetRequest {
            name: sheet.name.clone(),
            etag: submitted.etag.clone(),
            reason: "x".repeat(501),
        })
        .await
        .expect_err("a reason of 501 characters");
    assert_eq!(too_long.code(), Code::InvalidArgument);
    let returned = coordinator
        .return_timesheet(ReturnTimesheetRequest {
            name: sheet.name.clone(),
            etag: submitted.etag.clone(),
            reason: "Tirsdag mangler".into(),
        })
        .await
        .expect("returned")
        .into_inner();
    assert_eq!(returned.state(), TimesheetState::Open);
    // The contact person sees why.
    let seen = anna
        .get_timesheet(get(&sheet.name))
        .await
        .expect("her timesheet")
        .into_inner();
    assert_eq!(seen.return_reason, "Tirsdag mangler");
    anna.registered(register(&staff, 9, 30, "face-to-face", "t-3"), "open again")
        .await;
    let again = anna
        .submit_timesheet(submit(&sheet.name, ""))
        .await
        .expect("submitted again")
        .into_inner();
    assert_eq!(again.return_reason, "", "cleared once submitted again");
    let approved = coordinator
        .approve_timesheet(approve(&sheet.name, ""))
        .await
        .expect("approved")
        .into_inner();
    assert_eq!(approved.state(), TimesheetState::Approved);
    assert_eq!(approved.total_minutes, 180);
    assert!(!approved.approver.is_empty() && approved.approve_time.is_some());
    // Final: neither new time nor a reversal in the period.
    for refused in [
        anna.register_time(register(&staff, 10, 30, "face-to-face", "t-4"))
            .await
            .map(|_| ()),
        anna.reverse_time_entry(reverse(&first.name, "", "t-5"))
            .await
            .map(|_| ()),
    ] {
        let status = refused.expect_err("final");
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(rules(&status), ["R-TC-4"]);
    }
    let listed = anna
        .list_time_entries(entries_of(&staff))
        .await
        .expect("list")
        .into_inner()
        .time_entries;
    assert!(
        listed.iter().all(|e| e.timesheet == sheet.name),
        "{listed:?}"
    );
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn the_coordinators_queue_lists_submitted_timesheets_of_their_municipalities_only() {
    let (_db, service, staff, mut anna) = anna_on_staff().await;
    anna.registered(register(&staff, 7, 90, "face-to-face", "q-1"), "time")
        .await;
    let sheet = anna
        .create_timesheet(timesheet(ANNA, 1, 31))
        .await
        .expect("timesheet")
        .into_inner();
    let queue = |state: TimesheetState, municipality: &str| ListTimesheetsRequest {
        parent: "serviceUnits/-/contactPersons/-".into(),
        state: state as i32,
        municipality: municipality.into(),
    };
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    let submitted = |list: ListTimesheetsResponse| {
        list.timesheets
            .into_iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
    };
    // Open: not in the approval queue yet.
    let open = coordinator
        .list_timesheets(queue(TimesheetState::Submitted, ""))
        .await
        .expect("queue")
        .into_inner();
    assert!(submitted(open).is_empty());
    anna.submit_timesheet(submit(&sheet.name, ""))
        .await
        .expect("submitted");
    for municipality in ["", ISHOJ] {
        let listed = coordinator
            .list_timesheets(queue(TimesheetState::Submitted, municipality))
            .await
            .expect("queue")
            .into_inner();
        assert_eq!(submitted(listed), std::slice::from_ref(&sheet.name));
    }
    // Another municipality's coordinator sees none of it, and may not ask for Ishøj's.
    let mut other = as_role(&service, Role::Coordinator, &["101"]);
    let theirs = other
        .list_timesheets(queue(TimesheetState::Submitted, ""))
        .await
        .expect("their own queue")
        .into_inner();
    assert!(submitted(theirs).is_empty());
    let refused = other
        .list_timesheets(queue(TimesheetState::Submitted, ISHOJ))
        .await
        .expect_err("not theirs");
    assert_eq!(refused.code(), Code::PermissionDenied);
    // A contact person has no queue; an undefined state is the caller's mistake.
    let denied = anna
        .list_timesheets(queue(TimesheetState::Submitted, ""))
        .await
        .expect_err("coordinators only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad = coordinator
        .list_timesheets(ListTimesheetsRequest {
            state: 99,
            ..queue(TimesheetState::Submitted, "")
        })
        .await
        .expect_err("undefined state");
    assert_eq!(bad.code(), Code::InvalidArgument);
    // The person's own list filters by state too.
    let own = anna
        .list_timesheets(ListTimesheetsRequest {
            parent: ANNA.into(),
            state: TimesheetState::Approved as i32,
            municipality: String::new(),
        })
        .await
        .expect("own")
        .into_inner();
    assert!(own.timesheets.is_empty());
    service.stop().await.expect("stop");
}
