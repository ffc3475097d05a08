//! Matching & procurement (schema `matching`): the right contact person for each child. It
//! serves the competence catalogue that people and needs are described with (R-MP-3) and the
//! matching requests the referral service's grant events open, change and close.

pub mod access;
mod api;
mod assignments;
pub mod domain;
pub mod grant_events;
mod store;

use std::sync::Arc;

use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::config::ServerSettings;
use kontakt_platform::server::ServiceDef;
use kontakt_proto::matching::v1::matching_service_server::MatchingServiceServer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

/// The schema whose outbox this service's events go to.
pub(crate) const SCHEMA: &str = "matching";

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub static DEF: ServiceDef = ServiceDef {
    name: "matching",
    grpc_name: kontakt_proto::service_names::MATCHING,
    schema: "matching",
    migrator: &MIGRATOR,
    descriptor_set: kontakt_proto::FILE_DESCRIPTOR_SET,
    access: &access::ACCESS,
};

/// The service's gRPC routes over `pool` (whose connections use the `matching` schema).
pub fn routes(pool: PgPool, clock: SharedClock, settings: &ServerSettings) -> Routes {
    let audit = AuditLog::start(pool.clone());
    let api = api::MatchingApi::new(store::Store::new(pool), clock, audit);
    Routes::new(
        MatchingServiceServer::new(api)
            .max_decoding_message_size(settings.max_message_bytes)
            .max_encoding_message_size(settings.max_message_bytes),
    )
}

/// Applies the referral service's grant events (subscribe it to [`grant_events::types`]).
pub fn grant_events(pool: PgPool) -> Arc<dyn kontakt_platform::consumer::Handler> {
    Arc::new(grant_events::GrantEvents::new(store::Store::new(pool)))
}
