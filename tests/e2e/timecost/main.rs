//! Time registration over gRPC on a real PostgreSQL (R-TC-1..3): the arrangement is made known
//! the way production makes it known, by applying grant and assignment events with the
//! service's own handler; then contact persons register, retry, overrun and reverse.

use kontakt::Service;
use kontakt_harness::messages::{apply, date, envelope, grant_approved, hourly_rate};
use kontakt_harness::{
    AuthedChannel, Start, TestDatabase, TestService, clock_at, contact_person_token,
    fresh_database, test_db_settings, token,
};
use kontakt_platform::auth::Role;
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1::{AssignmentStarted, ContactPersonRatesChanged, Employment};
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use kontakt_proto::timecost::v1::*;
use tonic::Code;

mod expenses;
mod reports;

type TimeCost = TimeCostServiceClient<AuthedChannel>;

const ISHOJ: &str = "183";
const ANNA: &str = "serviceUnits/ishoejgaard/contactPersons/anna";
const LEYLA: &str = "serviceUnits/ishoejgaard/contactPersons/leyla";

/// Today in the scenarios: 20 December 2026, 10:00 UTC.
const TODAY: (i32, u32, u32, u32) = (2026, 12, 20, 10);

/// A fresh database and the service on it.
async fn started() -> (TestDatabase, TestService) {
    let db = fresh_database().await.expect("database");
    let service = start(&db).await;
    (db, service)
}

/// As [`started`], with Anna on staff at DKK 300 an hour for 3 hours a week (grant `g-1`):
/// also her assignment and a client calling as her.
async fn anna_on_staff() -> (TestDatabase, TestService, String, TimeCost) {
    let (db, service) = started().await;
    let staff = arrangement(&db, "g-1", ANNA, Employment::Staff, 180, 30_000).await;
    let anna = contact_person(&service, ANNA);
    (db, service, staff, anna)
}

async fn start(db: &TestDatabase) -> TestService {
    let (year, month, day, hour) = TODAY;
    Start::at(Service::Timecost, db, year, month, day, hour)
        .run()
        .await
        .expect("timecost")
}

/// A client calling as someone holding `role` in `municipalities`.
fn as_role(service: &TestService, role: Role, municipalities: &[&str]) -> TimeCost {
    TimeCostServiceClient::new(service.with_token(&token(&[role], municipalities)))
}

/// A grant of `minutes` a week from 1 December 2026 and its assignment to `person` on
/// `employment` at `hourly_ore`, applied as the events would apply them.
async fn arrangement(
    db: &TestDatabase,
    grant: &str,
    person: &str,
    employment: Employment,
    minutes: i32,
    hourly_ore: i64,
) -> String {
    arrangement_in(db, ISHOJ, grant, person, employment, minutes, hourly_ore).await
}

/// As [`arrangement`], in municipality `m`.
async fn arrangement_in(
    db: &TestDatabase,
    m: &str,
    grant: &str,
    person: &str,
    employment: Employment,
    minutes: i32,
    hourly_ore: i64,
) -> String {
    arrangement_with(
        db,
        m,
        grant,
        person,
        employment,
        minutes,
        hourly_ore,
        Vec::new(),
    )
    .await
}

/// As [`arrangement_in`], the grant carrying supplementary `allowances` (R-RV-13).
#[allow(clippy::too_many_arguments)]
async fn arrangement_with(
    db: &TestDatabase,
    m: &str,
    grant: &str,
    person: &str,
    employment: Employment,
    minutes: i32,
    hourly_ore: i64,
    allowances: Vec<kontakt_proto::referral::v1::Allowance>,
) -> String {
    let approved = kontakt_proto::referral::v1::GrantApproved {
        allowances,
        ..grant_approved(m, grant, minutes)
    };
    let grant_name = approved.grant.clone();
    let assignment = format!("municipalities/{m}/assignments/a-{grant}");
    let provider = employment == Employment::Provider;
    let started = AssignmentStarted {
        assignment: assignment.clone(),
        grant: grant_name.clone(),
        contact_person: person.into(),
        municipality: m.into(),
        employment: employment as i32,
        minutes_per_week: minutes,
        start_date: date(2026, 12, 1),
        agreed_hourly_price: provider.then_some(Money { ore: hourly_ore }),
        provider: if provider {
            "providers/misbrugshjaelp-aps".into()
        } else {
            String::new()
        },
        rates: if provider {
            Vec::new()
        } else {
            vec![hourly_rate(hourly_ore, date(2026, 1, 1))]
        },
        ..AssignmentStarted::default()
    };
    apply(
        db,
        Service::Timecost,
        |_| kontakt_timecost::arrangement_events(),
        &[
            envelope(&approved, &grant_name),
            envelope(&started, &assignment),
        ],
    )
    .await;
    assignment
}

fn contact_person(service: &TestService, name: &str) -> TimeCost {
    contact_person_in(service, ISHOJ, name)
}

fn contact_person_in(service: &TestService, m: &str, name: &str) -> TimeCost {
    TimeCostServiceClient::new(service.with_token(&contact_person_token(name, &[m])))
}

fn register(
    assignment: &str,
    day: i32,
    minutes: i32,
    kind: &str,
    request_id: &str,
) -> RegisterTimeRequest {
    RegisterTimeRequest {
        parent: assignment.into(),
        time_entry: Some(TimeEntry {
            work_date: date(2026, 12, day),
            minutes,
            activity_kind: format!("activityKinds/{kind}"),
            note: "football and homework".into(),
            ..TimeEntry::default()
        }),
        request_id: request_id.into(),
    }
}

fn entries_of(assignment: &str) -> ListTimeEntriesRequest {
    ListTimeEntriesRequest {
        parent: assignment.into(),
        ..ListTimeEntriesRequest::default()
    }
}

fn reverse(entry: &str, note: &str, request_id: &str) -> ReverseTimeEntryRequest {
    ReverseTimeEntryRequest {
        name: entry.into(),
        note: note.into(),
        request_id: request_id.into(),
    }
}

fn overruns_in(m: &str) -> ListOverrunsRequest {
    ListOverrunsRequest {
        parent: format!("municipalities/{m}"),
    }
}

fn get(timesheet: &str) -> GetTimesheetRequest {
    GetTimesheetRequest {
        name: timesheet.into(),
    }
}

fn submit(timesheet: &str, etag: &str) -> SubmitTimesheetRequest {
    SubmitTimesheetRequest {
        name: timesheet.into(),
        etag: etag.into(),
    }
}

fn approve(timesheet: &str, etag: &str) -> ApproveTimesheetRequest {
    ApproveTimesheetRequest {
        name: timesheet.into(),
        etag: etag.into(),
    }
}

/// `person`'s timesheet for the days `from` to `to` of December 2026.
fn timesheet(person: &str, from: i32, to: i32) -> CreateTimesheetRequest {
    CreateTimesheetRequest {
        parent: person.into(),
        period: Some(DateRange {
            start: date(2026, 12, from),
            end: date(2026, 12, to),
        }),
    }
}

/// A frame of `base_ore` at `base_year`'s prices from 1 January that year, shared as `shares`
/// (municipality, numerator, denominator), warning at 90 %.
fn frame(display_name: &str, base_ore: i64, base_year: i32, shares: &[(&str, i64, i64)]) -> Frame {
    Frame {
        display_name: display_name.into(),
        base_amount: Some(Money { ore: base_ore }),
        base_year,
        period: Some(DateRange {
            start: date(base_year, 1, 1),
            end: None,
        }),
        shares: shares
            .iter()
            .map(
                |&(municipality, numerator, denominator)| MunicipalityShare {
                    municipality: municipality.into(),
                    numerator,
                    denominator,
                },
            )
            .collect(),
        warning_threshold_basis_points: 9_000,
        ..Frame::default()
    }
}

/// Finance creates `frame` as frame `id`.
async fn create_frame(finance: &mut TimeCost, id: &str, frame: Frame) -> Frame {
    finance
        .create_frame(CreateFrameRequest {
            frame_id: id.into(),
            frame: Some(frame),
        })
        .await
        .expect("frame")
        .into_inner()
}

/// An example PL rate for `year`: 2.00 %, not a real figure.
fn example_rate(year: i32) -> CreateIndexationRateRequest {
    CreateIndexationRateRequest {
        indexation_rate: Some(IndexationRate {
            year,
            rate_basis_points: 200,
            source: "example value for the test".into(),
            ..IndexationRate::default()
        }),
    }
}

fn rules(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_precondition_failure()
        .map(|p| p.violations.into_iter().map(|v| v.r#type).collect())
        .unwrap_or_default()
}

async fn outbox_count(db: &TestDatabase, kind: &str) -> usize {
    kontakt_harness::events::outbox(db, Service::Timecost, kind)
        .await
        .len()
}

#[tokio::test]
async fn a_contact_person_registers_priced_time_on_their_own_assignment_and_retries_safely() {
    let (db, service) = started().await;
    let staff = arrangement(&db, "g-1", ANNA, Employment::Staff, 180, 32_000).await;
    let hourly = arrangement(&db, "g-2", LEYLA, Employment::Hourly, 180, 20_000).await;
    let mut anna = contact_person(&service, ANNA);

    let entry = anna
        .register_time(register(&staff, 7, 90, "face-to-face", "phone-1"))
        .await
        .expect("registered")
        .into_inner();
    assert_eq!(entry.cost.map(|m| m.ore), Some(48_000), "1.5 h × DKK 320");
    assert_eq!(entry.contact_person, ANNA);
    assert!(!entry.overrun);
    // The phone retries: same entry, nothing doubled.
    let again = anna
        .register_time(register(&staff, 7, 90, "face-to-face", "phone-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(again.name, entry.name);
    assert_eq!(outbox_count(&db, "TimeRegistered").await, 1);

    // Leyla is an hourly hire: DKK 200 + 12.5 % holiday pay.
    let leyla = contact_person(&service, LEYLA)
        .register_time(register(&hourly, 8, 60, "phone-online", "l-1"))
        .await
        .expect("leyla")
        .into_inner();
    assert_eq!(leyla.cost.map(|m| m.ore), Some(22_500));

    // Anna cannot register on Leyla's assignment; it does not exist for her.
    let theirs = anna
        .register_time(register(&hourly, 8, 60, "face-to-face", "a-2"))
        .await
        .expect_err("not hers");
    assert_eq!(theirs.code(), Code::NotFound);
    // Before the assignment started (R-TC-1), in the future, or zero minutes: refused.
    let before = anna
        .register_time(RegisterTimeRequest {
            time_entry: Some(TimeEntry {
                work_date: date(2026, 11, 30),
                minutes: 60,
                activity_kind: "activityKinds/face-to-face".into(),
                ..TimeEntry::default()
            }),
            ..register(&staff, 1, 60, "face-to-face", "a-3")
        })
        .await
        .expect_err("before the start");
    assert_eq!(before.code(), Code::FailedPrecondition);
    assert_eq!(rules(&before), ["R-TC-1"]);
    let future = anna
        .register_time(register(&staff, 21, 60, "face-to-face", "a-4"))
        .await
        .expect_err("future");
    assert_eq!(future.code(), Code::InvalidArgument);
    let zero = anna
        .register_time(register(&staff, 9, 0, "face-to-face", "a-5"))
        .await
        .expect_err("zero");
    assert_eq!(zero.code(), Code::InvalidArgument);
    let kind = anna
        .register_time(register(&staff, 9, 30, "sightseeing", "a-6"))
        .await
        .expect_err("unknown kind");
    assert_eq!(kind.code(), Code::InvalidArgument);

    // The coordinator registers on her behalf; Ringsted's coordinator sees nothing.
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    coordinator
        .register_time(register(&staff, 9, 30, "documentation", "c-1"))
        .await
        .expect("on her behalf");
    let listed = coordinator
        .list_time_entries(entries_of(&staff))
        .await
        .expect("list")
        .into_inner()
        .time_entries;
    assert_eq!(listed.len(), 2);
    let outsider = as_role(&service, Role::Coordinator, &["329"])
        .list_time_entries(entries_of(&staff))
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn a_week_above_the_granted_minutes_is_flagged_once_and_a_reversal_corrects_it() {
    let (db, service, staff, mut anna) = anna_on_staff().await;
    // Week of Monday 7 December: 120 + 90 face to face = 210 > 180; transport does not count.
    let first = anna
        .register_time(register(&staff, 7, 120, "face-to-face", "w-1"))
        .await
        .expect("first")
        .into_inner();
    anna.register_time(register(&staff, 8, 240, "transport", "w-2"))
        .await
        .expect("transport");
    let over = anna
        .register_time(register(&staff, 9, 90, "face-to-face", "w-3"))
        .await
        .expect("over")
        .into_inner();
    assert!(
        over.overrun,
        "the week is flagged, not silently accepted (R-TC-2)"
    );
    let more = anna
        .register_time(register(&staff, 10, 30, "face-to-face", "w-4"))
        .await
        .expect("more")
        .into_inner();
    assert!(more.overrun);
    assert_eq!(
        outbox_count(&db, "OverrunFlagged").await,
        1,
        "once per week"
    );
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    let overruns = coordinator
        .list_overruns(overruns_in(ISHOJ))
        .await
        .expect("overruns")
        .into_inner()
        .overruns;
    assert_eq!(overruns.len(), 1);
    assert_eq!(
        overruns[0].week.as_ref().and_then(|w| w.start),
        date(2026, 12, 7)
    );
    assert_eq!(
        (
            overruns[0].granted_minutes,
            overruns[0].registered_minutes,
            overruns[0].overrun_minutes
        ),
        (180, 240, 60)
    );

    // The first entry was a mistake: reversed, not edited; the week is back within the grant.
    let reversal = anna
        .reverse_time_entry(reverse(&first.name, "wrong day", "r-1"))
        .await
        .expect("reversed")
        .into_inner();
    assert_eq!(reversal.reverses, first.name);
    assert_eq!(reversal.minutes, 120);
    assert_eq!(reversal.cost.map(|m| m.ore), Some(-60_000));
    let overruns = coordinator
        .list_overruns(overruns_in(ISHOJ))
        .await
        .expect("overruns")
        .into_inner()
        .overruns;
    assert!(overruns.is_empty(), "{overruns:?}");
    let twice = anna
        .reverse_time_entry(reverse(&first.name, "", "r-2"))
        .await
        .expect_err("once");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    // The entry itself is unchanged; the list shows both.
    let listed = anna
        .list_time_entries(entries_of(&staff))
        .await
        .expect("list")
        .into_inner()
        .time_entries;
    assert_eq!(listed.len(), 5);
    assert_eq!(listed[0], first);
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn time_without_a_rate_on_the_day_is_refused_with_the_rule() {
    let (db, service) = started().await;
    let provider = arrangement(&db, "g-p", ANNA, Employment::Provider, 240, 52_500).await;
    let mut anna = contact_person(&service, ANNA);
    let priced = anna
        .register_time(register(&provider, 7, 60, "face-to-face", "p-1"))
        .await
        .expect("the agreed price applies")
        .into_inner();
    assert_eq!(priced.cost.map(|m| m.ore), Some(52_500));
    // A staff member whose rates change to start in 2027 has no rate in December 2026.
    let staff = arrangement(&db, "g-s", LEYLA, Employment::Staff, 180, 30_000).await;
    let changed = ContactPersonRatesChanged {
        contact_person: LEYLA.into(),
        employment: Employment::Staff as i32,
        rates: vec![hourly_rate(30_000, date(2027, 1, 1))],
    };
    apply(
        &db,
        Service::Timecost,
        |_| kontakt_timecost::arrangement_events(),
        &[envelope(&changed, LEYLA)],
    )
    .await;
    let unpriced = contact_person(&service, LEYLA)
        .register_time(register(&staff, 7, 60, "face-to-face", "s-1"))
        .await
        .expect_err("no rate");
    assert_eq!(unpriced.code(), Code::FailedPrecondition);
    assert_eq!(rules(&unpriced), ["R-TC-3"]);
    service.stop().await.expect("stop");
}

#[tokio::test]
async fn a_coordinator_approves_a_timesheet_and_its_entries_are_final() {
    let (_db, service, staff, mut anna) = anna_on_staff().await;
    let mut coordinator = as_role(&service, Role::Coordinator, &[ISHOJ]);
    let first = anna
        .register_time(register(&staff, 7, 90, "face-to-face", "t-1"))
        .await
        .expect("first")
        .into_inner();
    anna.register_time(register(&staff, 8, 60, "documentation", "t-2"))
        .await
        .expect("second");
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
        .register_time(register(&staff, 9, 30, "face-to-face", "t-3"))
        .await
        .expect_err("submitted");
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
    anna.register_time(register(&staff, 9, 30, "face-to-face", "t-3"))
        .await
        .expect("open again");
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
    anna.register_time(register(&staff, 7, 90, "face-to-face", "q-1"))
        .await
        .expect("time");
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

const VALLENSBAEK: &str = "187";
const KARIM: &str = "serviceUnits/ishoejgaard/contactPersons/karim";

/// A deterministic stream of pseudo-random numbers (no seed file, the same run every time).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn the_shared_frames_budget_status_matches_a_recomputation_from_the_entries() {
    let (db, service) = started().await;
    let both = [ISHOJ, VALLENSBAEK];
    let mut finance = as_role(&service, Role::Finance, &both);
    let shared = frame(
        "Kontaktpersonramme Ishøj/Vallensbæk",
        400_000_000,
        2017,
        &[(ISHOJ, 2, 3), (VALLENSBAEK, 1, 3)],
    );
    let frame = create_frame(
        &mut finance,
        "ishoj-vallensbaek",
        Frame {
            // Warn as soon as anything is spent, to see the event fire once.
            warning_threshold_basis_points: 1,
            ..shared
        },
    )
    .await;
    let wrong_split = finance
        .create_frame(CreateFrameRequest {
            frame_id: "bad".into(),
            frame: Some(Frame {
                shares: vec![MunicipalityShare {
                    municipality: ISHOJ.into(),
                    numerator: 6_667,
                    denominator: 10_000,
                }],
                ..frame.clone()
            }),
        })
        .await
        .expect_err("shares must sum to one");
    assert_eq!(wrong_split.code(), Code::InvalidArgument);
    let status_request = || GetBudgetStatusRequest {
        name: format!("{}/budgetStatus", frame.name),
        as_of: date(2026, 12, 20),
    };
    // Example PL rates (2.00 % a year, not real figures), entered as data; 2026 is missing.
    for year in 2018..=2025 {
        finance
            .create_indexation_rate(example_rate(year))
            .await
            .expect("rate");
    }
    let missing = finance
        .get_budget_status(status_request())
        .await
        .expect_err("2026 has no rate");
    assert_eq!(missing.code(), Code::FailedPrecondition);
    assert!(missing.message().contains("2026"), "{}", missing.message());
    finance
        .create_indexation_rate(example_rate(2026))
        .await
        .expect("2026");

    // Anna (staff, DKK 320) in Ishøj; Karim (provider, DKK 525 agreed) in Vallensbæk.
    let anna = arrangement_in(&db, ISHOJ, "g-1", ANNA, Employment::Staff, 180, 32_000).await;
    let karim = arrangement_in(
        &db,
        VALLENSBAEK,
        "g-2",
        KARIM,
        Employment::Provider,
        240,
        52_500,
    )
    .await;
    let mut coordinator = as_role(&service, Role::Coordinator, &both);
    let kinds = ["face-to-face", "phone-online", "transport", "documentation"];
    let mut random = Lcg(7);
    let mut registered = Vec::new();
    for i in 0..80 {
        let assignment = if random.below(3) == 0 { &karim } else { &anna };
        let entry = coordinator
            .register_time(register(
                assignment,
                1 + random.below(20) as i32,
                1 + random.below(240) as i32,
                kinds[random.below(4) as usize],
                &format!("r-{i}"),
            ))
            .await
            .expect("registered")
            .into_inner();
        registered.push(entry);
    }
    for (i, entry) in registered.iter().enumerate().filter(|(i, _)| i % 9 == 0) {
        coordinator
            .reverse_time_entry(reverse(&entry.name, "corrected", &format!("x-{i}")))
            .await
            .expect("reversed");
    }

    let status = finance
        .get_budget_status(status_request())
        .await
        .expect("status")
        .into_inner();
    // 4,000,000 × 1.02^9 = 4,780,370.27 (rounded once); split 2/3–1/3 in whole kroner.
    assert_eq!(status.indexed_amount.map(|m| m.ore), Some(478_037_027));
    let by_m = |m: &str| {
        status
            .municipalities
            .iter()
            .find(|b| b.municipality == m)
            .expect("municipality")
            .clone()
    };
    assert_eq!(by_m(ISHOJ).expected.map(|m| m.ore), Some(318_691_300));
    assert_eq!(by_m(VALLENSBAEK).expected.map(|m| m.ore), Some(159_345_600));

    // From scratch: every entry's exact cost, summed, rounded once.
    let mut conn = db.connect().await.expect("connect");
    let recomputed: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT municipality, sum(cost_units)::bigint, sum(minutes)::bigint
           FROM timecost.time_entries GROUP BY municipality ORDER BY municipality",
    )
    .fetch_all(&mut conn)
    .await
    .expect("recompute");
    use kontakt_timecost::domain::pricing::to_ore;
    let total_units: i64 = recomputed.iter().map(|r| r.1).sum();
    assert_eq!(status.spent.map(|m| m.ore), Some(to_ore(total_units)));
    for (m, units, _) in &recomputed {
        assert_eq!(by_m(m).spent.map(|s| s.ore), Some(to_ore(*units)), "{m}");
    }
    let month_minutes: i64 = status.months.iter().map(|m| m.minutes).sum();
    assert_eq!(month_minutes, recomputed.iter().map(|r| r.2).sum::<i64>());
    // Committed: the rest of the year at the weekly hours — Anna 180 min × 11 days / 7 at
    // DKK 320 = 1,508.57; Karim 240 min × 11 / 7 at DKK 525 = 3,300.00.
    assert_eq!(by_m(ISHOJ).committed.map(|m| m.ore), Some(150_857));
    assert_eq!(by_m(VALLENSBAEK).committed.map(|m| m.ore), Some(330_000));
    assert_eq!(status.committed.map(|m| m.ore), Some(480_857));
    let spent = status.spent.map_or(0, |m| m.ore);
    assert_eq!(
        status.free.map(|m| m.ore),
        Some(478_037_027 - spent - 480_857)
    );
    let categories = status.spent_by_category.expect("categories");
    let by_category = categories.contact_person_pay.map_or(0, |m| m.ore)
        + categories.external_purchases.map_or(0, |m| m.ore);
    // Each figure is rounded once, so two rounded parts may differ from the rounded whole by
    // at most one øre.
    assert!((by_category - spent).abs() <= 1, "{by_category} vs {spent}");
    assert!(status.threshold_passed);
    finance
        .get_budget_status(status_request())
        .await
        .expect("again");
    assert_eq!(
        outbox_count(&db, "FrameThresholdPassed").await,
        1,
        "once a year"
    );

    // Ringsted's finance does not see the frame.
    let outsider = as_role(&service, Role::Finance, &["329"])
        .get_budget_status(status_request())
        .await
        .expect_err("not theirs");
    assert_eq!(outsider.code(), Code::NotFound);
    service.stop().await.expect("stop");
}
