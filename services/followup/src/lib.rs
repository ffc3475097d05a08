//! Follow-up scheduling (schema `followup`): follow-ups that fall due by law (BL § 95) and by
//! municipal policy, and their outcomes. The gRPC service is declared with its resources
//! (schedules, follow-ups, frame evaluations); its methods arrive with the follow-up issue. The
//! first migration holds the statutory deadline (BL § 95) those schedules are computed from.

pub mod access;

use kontakt_platform::config::ServerSettings;
use kontakt_platform::server::ServiceDef;
use kontakt_proto::followup::v1::follow_up_service_server::{
    FollowUpService, FollowUpServiceServer,
};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub static DEF: ServiceDef = ServiceDef {
    name: "followup",
    grpc_name: kontakt_proto::service_names::FOLLOWUP,
    schema: "followup",
    migrator: &MIGRATOR,
    descriptor_set: kontakt_proto::FILE_DESCRIPTOR_SET,
    access: &access::ACCESS,
};

/// The service's API. It holds the pool its methods will use.
pub struct FollowUpApi {
    #[allow(dead_code)] // Read by the methods of the follow-up issue.
    pool: PgPool,
}

#[tonic::async_trait]
impl FollowUpService for FollowUpApi {}

/// The service's gRPC routes over `pool` (whose connections use the `followup` schema).
pub fn routes(pool: PgPool, settings: &ServerSettings) -> Routes {
    Routes::new(
        FollowUpServiceServer::new(FollowUpApi { pool })
            .max_decoding_message_size(settings.max_message_bytes)
            .max_encoding_message_size(settings.max_message_bytes),
    )
}
