//! The event feed every service serves (`kontakt.events.v1.EventFeedService/Subscribe`): a
//! replay from the caller's cursor, then the live tail, in the outbox's gap-free order.
//!
//! One sequencer task per service numbers committed events ([`crate::outbox::sequence`]) when
//! a writer's NOTIFY arrives (or every second, in case one is lost) and announces the newest
//! published sequence; the NOTIFY is only a wake-up, the sequence is the truth. Each stream
//! reads pages up to the announced sequence and pushes them through a bounded buffer, so a slow
//! consumer slows its own reader and nothing else. Whenever a stream has caught up it says how
//! far (`Progress`), so a subscriber knows its lag and can move its cursor past filtered
//! events. Streams end cleanly when the service stops.
//!
//! Each subscription is recorded (`feed_subscribers`: the highest point each subscriber has
//! asked to start after), so the outbox is pruned only below what every known subscriber has
//! passed ([`crate::retention`]). A subscriber asking for events that were pruned anyway (it
//! was not known, or went back) is told so (FAILED_PRECONDITION, `EVENTS_PRUNED`), never given
//! a silent gap.

use std::time::Duration;

use kontakt_proto::events::v1::event_feed_service_server::{
    EventFeedService, EventFeedServiceServer,
};
use kontakt_proto::events::v1::subscribe_response::Item;
use kontakt_proto::events::v1::{Envelope, Progress, SubscribeRequest, SubscribeResponse};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::{self, AccessTable, Role};
use crate::{ApiError, Refusal, outbox};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::EVENT_FEED,
    methods: &[("Subscribe", &[Role::Service, Role::CaseSystem])],
};

/// Events a stream may have in flight to a slow consumer before its reader waits.
const BUFFER: usize = 256;
const PAGE: i64 = 500;
/// The sequencer's fallback when no notification arrives.
const POLL: Duration = Duration::from_secs(1);
const MAX_TYPES: usize = 50;
const MAX_TYPE_LEN: usize = 200;

/// Metadata naming the consumer behind a subscription, unique within its token's subject (the
/// consumer runtime sends `<application>/<consumer>`). Subscriptions are told apart by the
/// subject and this name: a subject that runs several consumers with their own cursors must
/// name them, or the outbox may be pruned past the one that is behind.
pub const SUBSCRIBER_HEADER: &str = "kontakt-consumer";
const MAX_SUBSCRIBER_LEN: usize = 200;

/// Who a subscription is, for `feed_subscribers`: the token's subject, and the consumer's name
/// if it gives one.
fn subscriber(
    principal: &auth::Principal,
    metadata: &tonic::metadata::MetadataMap,
) -> Result<String, ApiError> {
    let Some(value) = metadata.get(SUBSCRIBER_HEADER) else {
        return Ok(principal.subject.clone());
    };
    let name = value
        .to_str()
        .ok()
        .filter(|n| !n.is_empty() && n.len() <= MAX_SUBSCRIBER_LEN)
        .ok_or_else(|| {
            ApiError::invalid(
                SUBSCRIBER_HEADER,
                format!("1 to {MAX_SUBSCRIBER_LEN} visible ASCII characters"),
            )
        })?;
    Ok(format!("{}/{name}", principal.subject))
}

/// Starts the sequencer for `schema`; the receiver holds the newest published sequence.
pub fn spawn_sequencer(
    pool: PgPool,
    schema: &'static str,
    mut stop: watch::Receiver<bool>,
) -> watch::Receiver<i64> {
    let (latest, announced) = watch::channel(0);
    tokio::spawn(async move {
        let mut listener: Option<PgListener> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            if listener.is_none() {
                listener = listen(&pool, schema).await;
            }
            match outbox::sequence(&pool).await {
                Ok(_) => match outbox::last_sequence(&pool).await {
                    Ok(last) => {
                        latest.send_if_modified(|current| {
                            let newer = last > *current;
                            if newer {
                                *current = last;
                            }
                            newer
                        });
                    }
                    Err(err) => tracing::warn!(%err, schema, "reading the last event sequence"),
                },
                // Before the first migration there is no outbox yet; not worth a warning.
                Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P01") => {
                    tracing::debug!(schema, "no outbox yet");
                }
                // The database may be restarting; the next turn tries again.
                Err(err) => tracing::warn!(%err, schema, "numbering events"),
            }
            let woken = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                result = woken => {
                    if result.is_err() {
                        listener = None;
                    }
                }
                () = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => return,
            }
        }
    });
    announced
}

async fn listen(pool: &PgPool, schema: &str) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(pool).await.ok()?;
    listener.listen(&outbox::channel(schema)).await.ok()?;
    Some(listener)
}

pub struct FeedApi {
    pool: PgPool,
    latest: watch::Receiver<i64>,
    stop: watch::Receiver<bool>,
}

/// The gRPC feed over `pool`'s outbox; `stop` ends every open stream.
pub fn server(
    pool: PgPool,
    latest: watch::Receiver<i64>,
    stop: watch::Receiver<bool>,
    max_message_bytes: usize,
) -> EventFeedServiceServer<FeedApi> {
    EventFeedServiceServer::new(FeedApi { pool, latest, stop })
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

#[tonic::async_trait]
impl EventFeedService for FeedApi {
    type SubscribeStream = ReceiverStream<Result<SubscribeResponse, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let principal = auth::caller(&request)?.clone();
        let subscriber = subscriber(&principal, request.metadata())?;
        let request = request.into_inner();
        if request.after_sequence < 0 {
            return Err(ApiError::invalid("after_sequence", "must not be negative").into());
        }
        if request.types.len() > MAX_TYPES
            || request
                .types
                .iter()
                .any(|t| t.is_empty() || t.len() > MAX_TYPE_LEN)
        {
            return Err(ApiError::invalid(
                "types",
                format!("at most {MAX_TYPES} types of 1 to {MAX_TYPE_LEN} characters"),
            )
            .into());
        }
        // Kontakt's services see every event; a case system only its own municipalities'.
        let municipalities: Option<Vec<String>> = (!principal.has_role(Role::Service)).then(|| {
            principal
                .municipalities
                .iter()
                .map(ToString::to_string)
                .collect()
        });
        // Known before the first event is read, so pruning keeps what this subscriber needs.
        outbox::record_subscriber(&self.pool, &subscriber, request.after_sequence)
            .await
            .map_err(ApiError::from)?;
        let first = outbox::first_sequence(&self.pool)
            .await
            .map_err(ApiError::from)?;
        if let Some(first) =
            first.filter(|&f| request.after_sequence > 0 && f - 1 > request.after_sequence)
        {
            return Err(ApiError::from(Refusal::new(
                "EVENTS_PRUNED",
                format!(
                    "events {} to {} have been pruned from this feed (retention); the oldest kept is {first}",
                    request.after_sequence + 1,
                    first - 1
                ),
            ))
            .into());
        }
        let (sender, receiver) = mpsc::channel(BUFFER);
        let pool = self.pool.clone();
        let mut latest = self.latest.clone();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            let mut cursor = request.after_sequence;
            let mut progress_sent = None;
            loop {
                // Everything up to `target` is published; read it page by page.
                let target = *latest.borrow_and_update();
                let page = match outbox::read_range(
                    &pool,
                    cursor,
                    target,
                    &request.types,
                    municipalities.as_deref(),
                    PAGE,
                )
                .await
                {
                    Ok(page) => page,
                    Err(err) => {
                        // The consumer resumes from its cursor; it must know the stream broke.
                        if sender
                            .send(Err(Status::from(ApiError::from(err))))
                            .await
                            .is_err()
                        {
                            tracing::debug!("feed consumer gone");
                        }
                        return;
                    }
                };
                let full = page.len() as i64 == PAGE;
                for event in page {
                    cursor = event.sequence;
                    // Waits while the consumer's buffer is full: backpressure on this stream only.
                    if sender
                        .send(Ok(item(Item::Event(envelope(event)))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if full {
                    continue;
                }
                // Caught up with `target` (filtered events included): say so, then wait.
                cursor = cursor.max(target);
                if progress_sent != Some(cursor) {
                    let progress = Item::Progress(Progress {
                        published_sequence: cursor,
                    });
                    if sender.send(Ok(item(progress))).await.is_err() {
                        return;
                    }
                    progress_sent = Some(cursor);
                }
                tokio::select! {
                    changed = latest.changed() => if changed.is_err() { return },
                    _ = stop.changed() => return,
                    () = sender.closed() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

fn item(item: Item) -> SubscribeResponse {
    SubscribeResponse { item: Some(item) }
}

fn envelope(event: outbox::StoredEvent) -> Envelope {
    use kontakt_proto::common::v1::TraceContext;
    Envelope {
        sequence: event.sequence,
        event_id: event.event_id.to_string(),
        payload: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", event.r#type),
            value: event.payload,
        }),
        r#type: event.r#type,
        occurred_at: Some(kontakt_proto::timestamp(event.occurred_at)),
        municipality: event.municipality.unwrap_or_default(),
        subject: event.subject,
        trace_context: Some(TraceContext {
            traceparent: event.traceparent.unwrap_or_default(),
            tracestate: event.tracestate.unwrap_or_default(),
        }),
    }
}
