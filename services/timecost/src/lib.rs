//! Time & cost (schema `timecost`): time registration, pricing and budget frames. It serves the
//! activity-kind catalogue and time registration on the assignments matching reports, priced by
//! the rate of the day, with overrun flagged per week; frames and budget status come next.

pub mod access;
mod api;
pub mod arrangement_events;
pub mod domain;
mod store;

use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::config::ServerSettings;
use kontakt_platform::server::ServiceDef;
use kontakt_proto::timecost::v1::time_cost_service_server::TimeCostServiceServer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub static DEF: ServiceDef = ServiceDef {
    name: "timecost",
    grpc_name: kontakt_proto::service_names::TIMECOST,
    schema: "timecost",
    migrator: &MIGRATOR,
    descriptor_set: kontakt_proto::FILE_DESCRIPTOR_SET,
    access: &access::ACCESS,
};

/// The service's gRPC routes over `pool` (whose connections use the `timecost` schema).
pub fn routes(pool: PgPool, clock: SharedClock, settings: &ServerSettings) -> Routes {
    let audit = AuditLog::start(pool.clone());
    let api = api::TimeCostApi::new(store::Store::new(pool), clock, audit);
    Routes::new(
        TimeCostServiceServer::new(api)
            .max_decoding_message_size(settings.max_message_bytes)
            .max_encoding_message_size(settings.max_message_bytes),
    )
}

/// Applies the referral service's grant events and the matching service's assignment and rate
/// events (subscribe it to [`arrangement_events::grant_types`] and
/// [`arrangement_events::assignment_types`]).
pub fn arrangement_events() -> std::sync::Arc<dyn kontakt_platform::consumer::Handler> {
    std::sync::Arc::new(arrangement_events::ArrangementEvents)
}
