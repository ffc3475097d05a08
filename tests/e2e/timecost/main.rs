//! Time registration over gRPC on a real PostgreSQL (R-TC-1..3): the arrangement is made known
//! the way production makes it known, by applying grant and assignment events with the
//! service's own handler; then contact persons register, retry, overrun and reverse.

use kontakt::Service;
use kontakt_harness::messages::{apply, date, envelope, grant_approved, hourly_rate};
use kontakt_harness::{
    AuthedChannel, Start, TestDatabase, TestService, bad_request_fields, clock_at,
    contact_person_token, fresh_database, test_db_settings, token,
};
use kontakt_platform::auth::Role;
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1::{AssignmentStarted, ContactPersonRatesChanged, Employment};
use kontakt_proto::timecost::v1::time_cost_service_client::TimeCostServiceClient;
use kontakt_proto::timecost::v1::*;
use tonic::Code;

mod budget;
mod expenses;
mod registration;
mod reports;
mod timesheets;

type TimeCost = TimeCostServiceClient<AuthedChannel>;

const ISHOJ: &str = "183";
const VALLENSBAEK: &str = "187";
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

/// Registering time as a test does it: the entry made, or the refusal (`what` names the call
/// when it goes the other way).
trait Registering {
    async fn registered(&mut self, request: RegisterTimeRequest, what: &str) -> TimeEntry;
    async fn refused(&mut self, request: RegisterTimeRequest, what: &str) -> tonic::Status;
}

impl Registering for TimeCost {
    async fn registered(&mut self, request: RegisterTimeRequest, what: &str) -> TimeEntry {
        self.register_time(request).await.expect(what).into_inner()
    }

    async fn refused(&mut self, request: RegisterTimeRequest, what: &str) -> tonic::Status {
        self.register_time(request).await.expect_err(what)
    }
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
        procurement_reason: if provider {
            kontakt_proto::matching::v1::ProcurementReason::SpecialProblemArea as i32
        } else {
            0
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
