//! Nothing silently dropped: the events a consumer refused for good (`consumer_rejects`) are
//! listed and applied again once their cause is mended — `kontakt.events.v1.ConsumerRejectService`,
//! served by every service for its own consumers (`kontakt ctl rejects`, `kontakt ctl reapply`).
//!
//! Exactly once: the reject's row is locked, the consumer's handler applies the kept envelope in
//! a savepoint of the same transaction, and the row is marked re-applied before it commits. A
//! retry finds the mark and applies nothing; a second replica waits for the lock and finds it too.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kontakt_proto::events::v1::consumer_reject_service_server::{
    ConsumerRejectService, ConsumerRejectServiceServer,
};
use kontakt_proto::events::v1::{
    ConsumerReject, Envelope, ListConsumerRejectsRequest, ListConsumerRejectsResponse,
    ReapplyConsumerRejectRequest,
};
use prost::Message as _;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::auth::{self, AccessTable, Principal, Role};
use crate::consumer::{HandleError, Handler};
use crate::db::CallTx;
use crate::{ApiError, Refusal, pagination};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::CONSUMER_REJECTS,
    methods: &[
        ("ListConsumerRejects", &[Role::Admin]),
        ("ReapplyConsumerReject", &[Role::Admin]),
    ],
};

/// The handlers of this process's consumers, by consumer name.
pub type Handlers = HashMap<&'static str, Arc<dyn Handler>>;

pub struct RejectsApi {
    pool: PgPool,
    service: &'static str,
    handlers: Handlers,
}

/// The gRPC service for `service`'s rejects, with the message-size limit of the service.
pub fn server(
    pool: PgPool,
    service: &'static str,
    handlers: Handlers,
    max_message_bytes: usize,
) -> ConsumerRejectServiceServer<RejectsApi> {
    ConsumerRejectServiceServer::new(RejectsApi {
        pool,
        service,
        handlers,
    })
    .max_decoding_message_size(max_message_bytes)
    .max_encoding_message_size(max_message_bytes)
}

const COLUMNS: &str = "consumer, sequence, event_id, type, subject, municipality, reason, \
                       rejected_at, attempts, reapplied_at";

#[derive(sqlx::FromRow)]
struct Row {
    consumer: String,
    sequence: i64,
    event_id: uuid::Uuid,
    r#type: String,
    subject: String,
    municipality: Option<String>,
    reason: String,
    rejected_at: DateTime<Utc>,
    attempts: i32,
    reapplied_at: Option<DateTime<Utc>>,
}

/// A reject with the event it kept (none for one rejected before events were kept).
#[derive(sqlx::FromRow)]
struct Locked {
    #[sqlx(flatten)]
    row: Row,
    envelope: Option<Vec<u8>>,
}

fn name(consumer: &str, sequence: i64) -> String {
    format!("consumers/{consumer}/rejects/{sequence}")
}

/// (consumer, sequence) from `consumers/{consumer}/rejects/{sequence}`.
fn parse_name(text: &str) -> Option<(&str, i64)> {
    let (consumer, sequence) = text.strip_prefix("consumers/")?.split_once("/rejects/")?;
    let sequence = sequence.parse::<i64>().ok().filter(|s| *s > 0)?;
    (!consumer.is_empty() && !consumer.contains('/')).then_some((consumer, sequence))
}

/// The municipalities the caller acts for, as the rows store them.
fn served(principal: &Principal) -> Vec<String> {
    principal
        .municipalities
        .iter()
        .map(ToString::to_string)
        .collect()
}

impl RejectsApi {
    fn to_proto(&self, r: Row) -> ConsumerReject {
        ConsumerReject {
            name: name(&r.consumer, r.sequence),
            consumer: r.consumer,
            sequence: r.sequence,
            event_id: r.event_id.to_string(),
            r#type: r.r#type,
            subject: r.subject,
            municipality: r.municipality.unwrap_or_default(),
            reason: r.reason,
            reject_time: Some(kontakt_proto::timestamp(r.rejected_at)),
            attempts: r.attempts,
            reapply_time: r.reapplied_at.map(kontakt_proto::timestamp),
            service: self.service.to_owned(),
        }
    }

    async fn list(
        &self,
        principal: &Principal,
        request: ListConsumerRejectsRequest,
    ) -> Result<ListConsumerRejectsResponse, ApiError> {
        let page_size = pagination::page_size(request.page_size)?;
        let scope = format!("consumerRejects?all={}", request.include_reapplied);
        let after = pagination::decode_time_token(&scope, &request.page_token)?;
        let (after_time, after_name) = match &after {
            Some((time, name)) => {
                let (consumer, sequence) = parse_name(name).ok_or_else(|| {
                    ApiError::invalid("page_token", "not a page token returned by this list")
                })?;
                (Some(*time), Some((consumer.to_owned(), sequence)))
            }
            None => (None, None),
        };
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM consumer_rejects
              WHERE ($1 OR reapplied_at IS NULL)
                AND (municipality IS NULL OR municipality = ANY($2))
                AND ($3::timestamptz IS NULL OR (rejected_at, consumer, sequence) > ($3, $4, $5))
              ORDER BY rejected_at, consumer, sequence
              LIMIT $6"
        )))
        .bind(request.include_reapplied)
        .bind(served(principal))
        .bind(after_time)
        .bind(after_name.as_ref().map(|(c, _)| c.clone()))
        .bind(after_name.as_ref().map(|(_, s)| *s))
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::time_key(r.rejected_at, &name(&r.consumer, r.sequence))
        });
        Ok(ListConsumerRejectsResponse {
            rejects: rows.into_iter().map(|r| self.to_proto(r)).collect(),
            next_page_token,
        })
    }

    async fn reapply(
        &self,
        principal: &Principal,
        request: ReapplyConsumerRejectRequest,
    ) -> Result<ConsumerReject, ApiError> {
        let (consumer, sequence) = parse_name(&request.name).ok_or_else(|| {
            ApiError::invalid("name", "must be `consumers/{consumer}/rejects/{sequence}`")
        })?;
        let handler = self
            .handlers
            .get(consumer)
            .ok_or_else(|| ApiError::not_found(&request.name))?;
        let mut tx = CallTx::begin(&self.pool).await?;
        let locked: Option<Locked> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, envelope FROM consumer_rejects
              WHERE consumer = $1 AND sequence = $2 FOR UPDATE"
        )))
        .bind(consumer)
        .bind(sequence)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(Locked { row, envelope }) = locked else {
            return Err(ApiError::not_found(&request.name));
        };
        let theirs = row
            .municipality
            .as_deref()
            .is_none_or(|m| principal.municipalities.iter().any(|s| s.to_string() == m));
        if !theirs {
            return Err(ApiError::not_found(&request.name));
        }
        if row.reapplied_at.is_some() {
            // Applied already: nothing more, the same answer.
            return Ok(self.to_proto(row));
        }
        let event = envelope
            .as_deref()
            .map(Envelope::decode)
            .transpose()
            .map_err(|err| {
                ApiError::from(Refusal::new(
                    "ENVELOPE_UNREADABLE",
                    format!("the kept event cannot be read: {err}"),
                ))
            })?
            .ok_or_else(|| {
                ApiError::from(Refusal::new(
                    "ENVELOPE_NOT_KEPT",
                    format!(
                        "rejected before rejects kept their events: replay the producer's feed \
                         after sequence {}",
                        sequence - 1
                    ),
                ))
            })?;
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        let outcome = handler.handle(&mut savepoint, &event).await;
        let (applied, reason) = match outcome {
            Ok(()) => {
                savepoint.commit().await?;
                (true, row.reason.clone())
            }
            Err(HandleError::Reject(reason)) => {
                savepoint.rollback().await?;
                (false, reason)
            }
            Err(HandleError::Retry(reason)) => {
                return Err(ApiError::Unavailable(format!(
                    "the consumer could not apply it now: {reason}"
                )));
            }
        };
        let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE consumer_rejects
                SET attempts = attempts + 1, reason = $3,
                    reapplied_at = CASE WHEN $4 THEN now() END
              WHERE consumer = $1 AND sequence = $2
          RETURNING {COLUMNS}"
        )))
        .bind(consumer)
        .bind(sequence)
        .bind(&reason)
        .bind(applied)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(
            consumer,
            sequence,
            event.type = %row.r#type,
            applied,
            "a rejected event was applied again"
        );
        if applied {
            Ok(self.to_proto(row))
        } else {
            Err(Refusal::new(
                "STILL_REJECTED",
                format!("the consumer refuses it still: {reason}"),
            )
            .into())
        }
    }
}

#[tonic::async_trait]
impl ConsumerRejectService for RejectsApi {
    async fn list_consumer_rejects(
        &self,
        request: Request<ListConsumerRejectsRequest>,
    ) -> Result<Response<ListConsumerRejectsResponse>, Status> {
        let principal = auth::caller(&request)?.clone();
        Ok(Response::new(
            self.list(&principal, request.into_inner()).await?,
        ))
    }

    async fn reapply_consumer_reject(
        &self,
        request: Request<ReapplyConsumerRejectRequest>,
    ) -> Result<Response<ConsumerReject>, Status> {
        let principal = auth::caller(&request)?.clone();
        Ok(Response::new(
            self.reapply(&principal, request.into_inner()).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reject_is_named_by_its_consumer_and_sequence() {
        assert_eq!(
            parse_name(&name("grants-from-referral", 42)),
            Some(("grants-from-referral", 42))
        );
        for wrong in [
            "",
            "consumers//rejects/1",
            "consumers/a/rejects/0",
            "consumers/a/rejects/x",
            "consumers/a/b/rejects/1",
            "rejects/1",
        ] {
            assert_eq!(parse_name(wrong), None, "{wrong}");
        }
    }
}
