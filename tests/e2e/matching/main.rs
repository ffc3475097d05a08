//! The matching service over gRPC on a real PostgreSQL: contact persons and providers, ranked
//! and explained proposals, assignments that never overbook (R-MP-4) even when 50 coordinators
//! race, procurement (R-MP-2), unmet demand (R-MP-5), and a contact person's own view.
//! Matching requests are opened the way production opens them: by applying GrantApproved
//! events with the service's own event handler.
//!
//! One module a concern: contact [`people`] and providers, [`proposals`], [`booking`] under a
//! race, [`procurement`], [`unmet_demand`] and the contact person's [`own_view`]; the service,
//! its requests and the people they name are here.

mod booking;
mod own_view;
mod people;
mod procurement;
mod proposals;
mod unmet_demand;

use kontakt::Service;
use kontakt_harness::messages::{apply, date, envelope, grant_approved, hourly_rate};
use kontakt_harness::{AuthedChannel, Start, TestDatabase, TestService, fresh_database};
use kontakt_platform::auth::Role;
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::matching::v1::matching_service_client::MatchingServiceClient;
use kontakt_proto::matching::v1::*;
use kontakt_proto::referral::v1::{GrantApproved, Needs};

pub(crate) type Matching = MatchingServiceClient<AuthedChannel>;

pub(crate) const ISHOJ: &str = "183";
pub(crate) const RINGSTED: &str = "329";
pub(crate) const UNIT: &str = "serviceUnits/ishoejgaard";

pub(crate) async fn start(db: &TestDatabase) -> TestService {
    Start::at(Service::Matching, db, 2026, 11, 24, 10)
        .run()
        .await
        .expect("matching")
}

/// A fresh database, the service on it and a coordinator of Ishøj.
pub(crate) async fn started() -> (TestDatabase, TestService, Matching) {
    let db = fresh_database().await.expect("database");
    let service = start(&db).await;
    let ishoj = coordinator(&service, ISHOJ);
    (db, service, ishoj)
}

pub(crate) fn coordinator(service: &TestService, municipality: &str) -> Matching {
    MatchingServiceClient::new(service.as_role(Role::Coordinator, municipality))
}

/// Opens a matching request as GrantApproved does: through the service's own handler, in a
/// transaction of its own.
pub(crate) async fn open_request(
    db: &TestDatabase,
    m: &str,
    grant: &str,
    minutes: i32,
    needs: &[&str],
) {
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

pub(crate) fn request_name(m: &str, grant: &str) -> String {
    format!("municipalities/{m}/matchingRequests/{grant}")
}

pub(crate) fn clear_certificate() -> Option<ChildProtectionCertificate> {
    Some(ChildProtectionCertificate {
        issue_date: date(2026, 1, 10),
        result: CertificateResult::Clear as i32,
        expiry_date: date(2029, 1, 10),
    })
}

pub(crate) fn staff(name: &str, competences: &[&str], capacity: i32) -> ContactPerson {
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

pub(crate) async fn create_person(
    client: &mut Matching,
    id: &str,
    person: ContactPerson,
) -> ContactPerson {
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

pub(crate) fn assign(request: &str, person: &str, request_id: &str) -> AssignContactPersonRequest {
    AssignContactPersonRequest {
        matching_request: request.into(),
        contact_person: person.into(),
        start_date: date(2026, 12, 1),
        minutes_per_week: 0,
        request_id: request_id.into(),
    }
}

pub(crate) fn provider_request(
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
pub(crate) async fn misbrugshjaelp(client: &mut Matching) -> Provider {
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
pub(crate) fn providers_person(provider: &str) -> ContactPerson {
    ContactPerson {
        employment: Employment::Provider as i32,
        provider: provider.into(),
        rates: Vec::new(),
        ..staff("Karim", &["substance-abuse"], 600)
    }
}

pub(crate) fn propose(
    request: &str,
    max_candidates: i32,
    include_excluded: bool,
) -> ProposeCandidatesRequest {
    ProposeCandidatesRequest {
        matching_request: request.into(),
        max_candidates,
        include_excluded,
    }
}

pub(crate) fn person_named(name: &str) -> GetContactPersonRequest {
    GetContactPersonRequest { name: name.into() }
}

pub(crate) fn assignment_named(name: &str) -> GetAssignmentRequest {
    GetAssignmentRequest { name: name.into() }
}

pub(crate) fn capacity_mask() -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: vec!["weekly_capacity_minutes".into()],
    })
}

pub(crate) async fn unmet_demand(client: &mut Matching) -> Vec<UnmetDemand> {
    client
        .list_unmet_demand(ListUnmetDemandRequest {
            parent: format!("municipalities/{ISHOJ}"),
        })
        .await
        .expect("unmet")
        .into_inner()
        .demands
}

pub(crate) fn procurement(
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

pub(crate) fn rules(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    status
        .get_details_precondition_failure()
        .map(|p| p.violations.into_iter().map(|v| v.r#type).collect())
        .unwrap_or_default()
}
