//! The one Kontakt binary, as a library: which services exist, and the `serve`, `dev` and
//! `migrate` commands. `main.rs` only parses the command line and calls [`cli::run`].

pub mod access_log;
pub mod cli;
pub mod client;
mod ctl;
mod ctl_import;
mod ctl_rejects;
pub mod demo;
#[cfg(feature = "dev")]
mod dev;
mod health;
pub mod progress;

use std::net::SocketAddr;
use std::sync::Arc;

use kontakt_platform::auth::Verifier;
use kontakt_platform::auth::service_token::ServiceToken;
use kontakt_platform::consumer::Consumer;
use kontakt_platform::cpr_vault::CprVault;

use kontakt_platform::clock::SharedClock;
use kontakt_platform::config::{DatabaseSettings, ServerSettings};
use kontakt_platform::server::{ServeOptions, ServiceDef, ServiceHandle};
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The four services. Each runs as its own process in production (`kontakt serve <service>`)
/// or together in one process (`kontakt dev`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Service {
    Referral,
    Matching,
    Timecost,
    Followup,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Referral,
        Service::Matching,
        Service::Timecost,
        Service::Followup,
    ];

    pub fn def(self) -> &'static ServiceDef {
        match self {
            Service::Referral => &kontakt_referral::DEF,
            Service::Matching => &kontakt_matching::DEF,
            Service::Timecost => &kontakt_timecost::DEF,
            Service::Followup => &kontakt_followup::DEF,
        }
    }

    /// 50051 referral, 50052 matching, 50053 timecost, 50054 followup.
    pub fn default_port(self) -> u16 {
        match self {
            Service::Referral => 50051,
            Service::Matching => 50052,
            Service::Timecost => 50053,
            Service::Followup => 50054,
        }
    }

    /// Whether the service stores CPR numbers and so needs the CPR keys.
    pub fn holds_cpr(self) -> bool {
        self == Service::Referral
    }

    pub fn routes(
        self,
        pool: PgPool,
        clock: SharedClock,
        cpr: Option<Arc<CprVault>>,
        settings: &ServerSettings,
    ) -> anyhow::Result<Routes> {
        Ok(match self {
            Service::Referral => {
                let vault = cpr.ok_or_else(|| {
                    anyhow::anyhow!(
                        "the referral service stores CPR numbers: set KONTAKT_CPR_KEYS, KONTAKT_CPR_ACTIVE_KEY and KONTAKT_CPR_INDEX_KEY"
                    )
                })?;
                kontakt_referral::routes(pool, clock, vault, settings)
            }
            Service::Matching => kontakt_matching::routes(pool, clock, settings),
            Service::Timecost => kontakt_timecost::routes(pool, clock, settings),
            Service::Followup => kontakt_followup::routes(pool, clock, settings),
        })
    }

    /// The event feeds the service follows (DOMAIN.md §8). Matching follows the referral
    /// service's grant events; time & cost follows those and matching's assignment and rate
    /// events; follow-up follows the grant events and time & cost's frames, and referral follows
    /// follow-up's outcomes.
    pub fn consumers(
        self,
        pool: &PgPool,
        clock: SharedClock,
        peers: &Peers,
    ) -> anyhow::Result<Vec<Consumer>> {
        Ok(match self {
            Service::Matching => vec![peers.follow(
                self,
                Service::Referral,
                "grants-from-referral",
                &kontakt_matching::grant_events::types(),
                kontakt_matching::grant_events(pool.clone()),
            )?],
            Service::Timecost => vec![
                peers.follow(
                    self,
                    Service::Referral,
                    "grants-from-referral",
                    &kontakt_timecost::arrangement_events::grant_types(),
                    kontakt_timecost::arrangement_events(),
                )?,
                peers.follow(
                    self,
                    Service::Matching,
                    "assignments-from-matching",
                    &kontakt_timecost::arrangement_events::assignment_types(),
                    kontakt_timecost::arrangement_events(),
                )?,
            ],
            Service::Followup => vec![
                peers.follow(
                    self,
                    Service::Referral,
                    "grants-from-referral",
                    &kontakt_followup::grant_events::types(),
                    kontakt_followup::grant_events(),
                )?,
                peers.follow(
                    self,
                    Service::Timecost,
                    "frames-from-timecost",
                    &kontakt_followup::frame_evaluations::types(),
                    kontakt_followup::frame_events(clock),
                )?,
            ],
            Service::Referral => vec![peers.follow(
                self,
                Service::Followup,
                "outcomes-from-followup",
                &kontakt_referral::follow_up_outcome_types(),
                kontakt_referral::follow_up_outcomes(pool.clone(), clock),
            )?],
        })
    }

    fn url_setting(self) -> &'static str {
        match self {
            Service::Referral => "KONTAKT_REFERRAL_URL",
            Service::Matching => "KONTAKT_MATCHING_URL",
            Service::Timecost => "KONTAKT_TIMECOST_URL",
            Service::Followup => "KONTAKT_FOLLOWUP_URL",
        }
    }

    /// A pool on the service's own schema.
    pub fn pool(self, database: PgConnectOptions, settings: &DatabaseSettings) -> PgPool {
        kontakt_platform::db::pool(database, self.def().schema, settings)
    }
}

/// How a service reaches the others: their URLs, and the token it presents to them.
#[derive(Clone, Debug, Default)]
pub struct Peers {
    pub urls: std::collections::HashMap<Service, String>,
    pub token: Option<Arc<ServiceToken>>,
    /// How `https://` peers are verified, and the certificate presented to them.
    pub tls: kontakt_platform::tls::ClientTls,
}

impl Peers {
    /// A subscription of `consumer` to `producer`'s feed; says which setting is missing.
    pub fn follow(
        &self,
        consumer: Service,
        producer: Service,
        name: &'static str,
        types: &[String],
        handler: Arc<dyn kontakt_platform::consumer::Handler>,
    ) -> anyhow::Result<Consumer> {
        let needs = |what: &str| {
            anyhow::anyhow!(
                "the {} service follows the {} service's events: set {what}",
                consumer.def().name,
                producer.def().name
            )
        };
        let url = self
            .urls
            .get(&producer)
            .ok_or_else(|| needs(producer.url_setting()))?;
        let token = self
            .token
            .clone()
            .ok_or_else(|| needs("KONTAKT_SERVICE_TOKEN_FILE"))?;
        Ok(Consumer {
            name,
            producer: self
                .tls
                .channel(&kontakt_platform::consumer::endpoint(url).map_err(anyhow::Error::msg)?),
            token,
            types: types.to_vec(),
            handler,
        })
    }
}

/// Everything needed to start one service in this process.
pub struct Launch {
    pub service: Service,
    /// Verifies callers' tokens.
    pub auth: Arc<Verifier>,
    /// CPR keys, for a service that [holds CPR numbers](Service::holds_cpr).
    pub cpr: Option<Arc<CprVault>>,
    pub listener: TcpListener,
    pub database: PgConnectOptions,
    pub db_settings: DatabaseSettings,
    pub server_settings: ServerSettings,
    pub clock: SharedClock,
    pub peers: Peers,
}

/// Starts a service in the background (for `kontakt dev` and tests).
pub fn spawn(launch: Launch) -> anyhow::Result<ServiceHandle> {
    let Launch {
        service,
        auth,
        cpr,
        listener,
        database,
        db_settings,
        server_settings,
        clock,
        peers,
    } = launch;
    let pool = service.pool(database, &db_settings);
    let routes = service.routes(pool.clone(), clock.clone(), cpr, &server_settings)?;
    let consumers = service.consumers(&pool, clock, &peers)?;
    ServiceHandle::spawn(
        *service.def(),
        routes,
        listener,
        ServeOptions {
            pool,
            auth,
            settings: server_settings,
            migrate_on_start: db_settings.migrate_on_start,
            consumers,
        },
    )
}

/// Binds `addr`, saying which address failed and why.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each access table names exactly the methods its gRPC service declares, so a new method
    /// cannot ship open or silently closed, and no row outlives its method.
    #[test]
    fn every_access_table_names_exactly_the_methods_of_its_service() {
        let tables = Service::ALL.iter().map(|s| s.def().access).chain([
            &kontakt_platform::access_log::ACCESS,
            &kontakt_platform::feed::ACCESS,
        ]);
        for table in tables {
            let mut declared = kontakt_proto::method_names(table.service);
            let mut listed: Vec<String> =
                table.methods.iter().map(|(m, _)| (*m).to_owned()).collect();
            declared.sort();
            listed.sort();
            assert_eq!(listed, declared, "{}", table.service);
        }
    }
}
