//! The messages many tests build: a calendar date, an event envelope, the `GrantApproved` the
//! referral service publishes; and events applied with a service's own handler, in one
//! transaction, as its consumer applies them.

use std::sync::Arc;

use kontakt::Service;
use kontakt_platform::consumer::Handler;
use kontakt_proto::common::v1::{Date, DateRange, Money};
use kontakt_proto::events::v1::Envelope;
use kontakt_proto::matching::v1::HourlyRate;
use kontakt_proto::referral::v1::GrantApproved;
use sqlx::PgPool;

use crate::{TestDatabase, test_db_settings};

/// A calendar date as the protocol carries it.
pub fn date(year: i32, month: i32, day: i32) -> Option<Date> {
    Some(Date { year, month, day })
}

/// An hourly price of `ore` from `start` on, with no end.
pub fn hourly_rate(ore: i64, start: Option<Date>) -> HourlyRate {
    HourlyRate {
        hourly_price: Some(Money { ore }),
        validity: Some(DateRange { start, end: None }),
    }
}

/// `message` in an envelope of its own (a fresh event id) about `subject`.
pub fn envelope<M: prost::Name>(message: &M, subject: &str) -> Envelope {
    Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: M::full_name(),
        subject: subject.into(),
        payload: Some(prost_types::Any::from_msg(message).expect("any")),
        ..Envelope::default()
    }
}

/// Version 1 of grant `grant` in municipality `m` for the child `child-{grant}`: `minutes` a
/// week from 1 December 2026 to 30 November 2027. Tests add what their case needs.
pub fn grant_approved(m: &str, grant: &str, minutes: i32) -> GrantApproved {
    let name = format!("municipalities/{m}/grants/{grant}");
    GrantApproved {
        version: format!("{name}/versions/v1"),
        grant: name,
        person: format!("municipalities/{m}/persons/child-{grant}"),
        municipality: m.into(),
        minutes_per_week: minutes,
        start_date: date(2026, 12, 1),
        expected_end_date: date(2027, 11, 30),
        ..GrantApproved::default()
    }
}

/// Applies `events` in one transaction on `service`'s schema with the handler `handler` makes
/// of the pool, as the service's consumer does; each must be applied.
pub async fn apply(
    db: &TestDatabase,
    service: Service,
    handler: impl FnOnce(PgPool) -> Arc<dyn Handler>,
    events: &[Envelope],
) {
    let pool = service.pool(db.options.clone(), &test_db_settings());
    let handler = handler(pool.clone());
    let mut tx = pool.begin().await.expect("tx");
    for event in events {
        handler.handle(&mut tx, event).await.expect("applied");
    }
    tx.commit().await.expect("commit");
    pool.close().await;
}
