//! Follow-up scheduling (schema `followup`): a schedule per approved grant, made from the
//! referral service's grant events, with follow-ups that fall due by law (BL § 95, data in
//! `statutory_deadlines`) and by municipal policy, whichever is stricter (R-FU-1); due and
//! overdue lists per municipality and counsellor, and FollowUpDue / FollowUpOverdue pushed once
//! each by a scheduler that stays correct with several replicas (R-FU-4).

pub mod access;
mod api;
pub mod domain;
pub mod frame_evaluations;
pub mod grant_events;
mod notices;
mod store;

use std::sync::Arc;

use kontakt_platform::audit::AuditLog;
use kontakt_platform::clock::SharedClock;
use kontakt_platform::config::ServerSettings;
use kontakt_platform::schedule::{self, Job};
use kontakt_platform::server::ServiceDef;
use kontakt_proto::followup::v1::follow_up_service_server::FollowUpServiceServer;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The schema whose outbox this service's events go to.
const SCHEMA: &str = "followup";

pub static DEF: ServiceDef = ServiceDef {
    name: "followup",
    grpc_name: kontakt_proto::service_names::FOLLOWUP,
    schema: SCHEMA,
    migrator: &MIGRATOR,
    descriptor_set: kontakt_proto::FILE_DESCRIPTOR_SET,
    access: &access::ACCESS,
};

/// The service's gRPC routes over `pool` (whose connections use the `followup` schema); its
/// notice scheduler runs every `scheduler_interval`.
pub fn routes(pool: PgPool, clock: SharedClock, settings: &ServerSettings) -> Routes {
    schedule::every(
        pool.clone(),
        settings.scheduler_interval,
        notices(clock.clone()),
    );
    schedule::every(
        pool.clone(),
        settings.scheduler_interval,
        frame_notices(clock.clone()),
    );
    let api = api::FollowUpApi {
        audit: AuditLog::start(pool.clone()),
        store: store::Store::new(pool),
        clock,
    };
    Routes::new(
        FollowUpServiceServer::new(api)
            .max_decoding_message_size(settings.max_message_bytes)
            .max_encoding_message_size(settings.max_message_bytes),
    )
}

/// The job publishing FollowUpDue and FollowUpOverdue on `clock`'s today (tests run it with
/// `kontakt_platform::schedule::run_once`).
pub fn notices(clock: SharedClock) -> Arc<dyn Job> {
    Arc::new(notices::Notices { clock })
}

/// Applies the referral service's grant events (subscribe it to [`grant_events::types`]).
pub fn grant_events() -> Arc<dyn kontakt_platform::consumer::Handler> {
    Arc::new(grant_events::GrantEvents)
}

/// The job scheduling each frame's yearly evaluation and publishing FrameEvaluationDue and
/// FrameEvaluationOverdue (R-FU-5).
pub fn frame_notices(clock: SharedClock) -> Arc<dyn Job> {
    Arc::new(frame_evaluations::Notices { clock })
}

/// Applies the time & cost service's FrameCreated (subscribe it to
/// [`frame_evaluations::types`]).
pub fn frame_events(clock: SharedClock) -> Arc<dyn kontakt_platform::consumer::Handler> {
    Arc::new(frame_evaluations::FrameEvents { clock })
}
