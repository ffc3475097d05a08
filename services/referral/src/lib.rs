//! Referral & visitation (schema `referral`): where every arrangement begins. For now it serves
//! the legal-basis catalogue (DOMAIN.md §3); referrals, decisions and grants build on it.

pub mod access;
mod api;
mod store;

use std::sync::Arc;

use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::config::ServerSettings;
use kontakt_platform::cpr_vault::CprVault;
use kontakt_platform::server::ServiceDef;
use kontakt_proto::referral::v1::referral_service_server::ReferralServiceServer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub static DEF: ServiceDef = ServiceDef {
    name: "referral",
    grpc_name: kontakt_proto::service_names::REFERRAL,
    schema: "referral",
    migrator: &MIGRATOR,
    descriptor_set: kontakt_proto::FILE_DESCRIPTOR_SET,
    access: &access::ACCESS,
};

/// The service's gRPC routes over `pool` (whose connections use the `referral` schema). The
/// referral service holds CPR numbers, so it needs the CPR keys.
pub fn routes(
    pool: PgPool,
    clock: SharedClock,
    vault: Arc<CprVault>,
    settings: &ServerSettings,
) -> Routes {
    let audit = AuditLog::start(pool.clone());
    let api = api::ReferralApi::new(store::Store::new(pool), clock, vault, audit);
    Routes::new(
        ReferralServiceServer::new(api)
            .max_decoding_message_size(settings.max_message_bytes)
            .max_encoding_message_size(settings.max_message_bytes),
    )
}
