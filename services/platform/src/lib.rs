//! The platform every Kontakt service is built on. It knows no domain word: services bring their
//! schema, migrations and gRPC routes; the platform runs them with health, reflection, limits,
//! telemetry and a clean shutdown.
//!
//! Two vocabularies are shared on purpose, because they cross every service's border:
//! - **the roles** ([`auth::Role`]): tokens carry them (`kontakt_roles`), so every service reads
//!   the same words; what each role may do is not here but in each service's access table
//!   (`access.rs`);
//! - **the units** ([`units`]): minutes a week and øre, each bounded once.
//!
//! Resource names are wire contract and live in `kontakt_proto::names`. The embedded PostgreSQL
//! of `kontakt dev`, the tests and the bench is behind the `dev` feature.

pub mod access_log;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod cpr;
pub mod cpr_vault;
pub mod db;
pub mod duration;
#[cfg(feature = "dev")]
pub mod embedded_pg;
pub mod error;
pub mod export;
pub mod feed;
pub mod limits;
pub mod malformed;
pub mod metrics;
pub mod outbox;
pub mod pagination;
pub mod refusal;
pub mod rejects;
pub mod resource;
pub mod retention;
pub mod schedule;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
pub mod units;

pub use error::ApiError;
pub use refusal::Refusal;
pub use server::{ServiceDef, ServiceHandle};
