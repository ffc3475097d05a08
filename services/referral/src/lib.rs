//! Referral & visitation (schema `referral`): where every arrangement begins — the legal-basis
//! catalogue (DOMAIN.md §3), policies, cases, referrals, decisions and grants, whose changes and
//! ends also come from follow-up outcomes (R-FU-2).

pub mod access;
mod api;
pub mod domain;
mod grants;
mod outcomes;
mod store;

/// The schema the service's tables and outbox live in.
const SCHEMA: &str = "referral";

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

/// Applies the follow-up service's outcomes to grants (R-FU-2): subscribe it to
/// [`follow_up_outcome_types`].
pub fn follow_up_outcomes(
    pool: PgPool,
    clock: SharedClock,
) -> Arc<dyn kontakt_platform::consumer::Handler> {
    Arc::new(outcomes::FollowUpOutcomes {
        store: store::Store::new(pool),
        clock,
    })
}

/// The event types [`follow_up_outcomes`] follows.
pub fn follow_up_outcome_types() -> Vec<String> {
    outcomes::FollowUpOutcomes::types()
}

/// Re-encrypts every stored CPR number that is not under the vault's active key (after a key
/// rotation), in batches; returns how many were re-encrypted. Safe to run while the service
/// runs and to run again: rows already under the active key are left alone.
pub async fn reencrypt_cprs(pool: PgPool, vault: &CprVault) -> Result<u64, ReencryptError> {
    use kontakt_platform::cpr_vault::SealedCpr;
    let store = store::Store::new(pool);
    let mut done = 0;
    loop {
        let batch = store
            .persons_sealed_under_other_keys(vault.active_key_id(), 500)
            .await?;
        if batch.is_empty() {
            return Ok(done);
        }
        for (id, municipality, key_id, ciphertext) in batch {
            let record = kontakt_proto::names::person(&municipality, &id);
            let sealed = SealedCpr {
                key_id: key_id.clone(),
                ciphertext,
            };
            let cpr = vault
                .open(&sealed, &record)
                .map_err(|source| ReencryptError::Vault {
                    record: record.clone(),
                    source,
                })?;
            let resealed = vault
                .seal(&cpr, &record)
                .map_err(|source| ReencryptError::Vault {
                    record: record.clone(),
                    source,
                })?;
            if store
                .reseal_person(&id, &key_id, &resealed.key_id, &resealed.ciphertext)
                .await?
            {
                done += 1;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReencryptError {
    #[error("{record}: {source}")]
    Vault {
        record: String,
        source: kontakt_platform::cpr_vault::VaultError,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
