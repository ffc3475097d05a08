//! Time & cost (schema `timecost`): time and expenses registered on the assignments matching
//! reports, priced by the rate of the day, overrun flagged per week, timesheets approved by the
//! coordinator; budget frames shared by municipalities with their indexation, budget status and
//! the warning when a frame runs low; the annual evaluation dataset and CSV exports.

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
    kontakt_platform::schedule::every(
        pool.clone(),
        settings.scheduler_interval,
        threshold_check(pool.clone(), clock.clone()),
    );
    let api = api::TimeCostApi::new(store::Store::new(pool), clock, audit);
    Routes::new(
        TimeCostServiceServer::new(api)
            .max_decoding_message_size(settings.max_message_bytes)
            .max_encoding_message_size(settings.max_message_bytes),
    )
}

/// The scheduled check that publishes FrameThresholdPassed without anyone reading the budget
/// status (run by [`routes`] every `scheduler_interval`; tests run it with
/// `kontakt_platform::schedule::run_once` on their own clock).
pub fn threshold_check(
    pool: PgPool,
    clock: SharedClock,
) -> std::sync::Arc<dyn kontakt_platform::schedule::Job> {
    let audit = AuditLog::start(pool.clone());
    std::sync::Arc::new(api::ThresholdCheck(api::TimeCostApi::new(
        store::Store::new(pool),
        clock,
        audit,
    )))
}

/// Applies the referral service's grant events and the matching service's assignment and rate
/// events (subscribe it to [`arrangement_events::grant_types`] and
/// [`arrangement_events::assignment_types`]).
pub fn arrangement_events() -> std::sync::Arc<dyn kontakt_platform::consumer::Handler> {
    std::sync::Arc::new(arrangement_events::ArrangementEvents)
}
