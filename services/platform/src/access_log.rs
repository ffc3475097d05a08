//! The access log as an auditor reads it (R-DP-2): `kontakt.audit.v1.AccessLogService`, served
//! by every service over its own `audit_log`. Reading the log is itself not personal-data
//! access by a case worker, but it is restricted: auditors only, for their municipalities.

use kontakt_proto::audit::v1::access_log_service_server::{
    AccessLogService, AccessLogServiceServer,
};
use kontakt_proto::audit::v1::{
    AccessLogEntry, ListAccessLogEntriesRequest, ListAccessLogEntriesResponse,
};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::auth::{self, AccessTable, Role};
use crate::{ApiError, pagination, resource};

pub static ACCESS: AccessTable = AccessTable {
    service: kontakt_proto::service_names::ACCESS_LOG,
    methods: &[("ListAccessLogEntries", &[Role::Auditor])],
};

pub struct AccessLogApi {
    pool: PgPool,
    service: &'static str,
}

/// The gRPC service for `service`'s log, with the message-size limit of the service.
pub fn server(
    pool: PgPool,
    service: &'static str,
    max_message_bytes: usize,
) -> AccessLogServiceServer<AccessLogApi> {
    AccessLogServiceServer::new(AccessLogApi { pool, service })
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    subject: String,
    roles: Vec<String>,
    municipality: Option<String>,
    person: Option<String>,
    resource: String,
    action: String,
    purpose: String,
    method: String,
    trace_id: Option<String>,
}

#[tonic::async_trait]
impl AccessLogService for AccessLogApi {
    async fn list_access_log_entries(
        &self,
        request: Request<ListAccessLogEntriesRequest>,
    ) -> Result<Response<ListAccessLogEntriesResponse>, Status> {
        let principal = auth::caller(&request)?.clone();
        let request = request.into_inner();
        let (municipality, _) =
            resource::parse_in_municipality(&request.person, "persons", "person")?;
        if !principal.serves(municipality) {
            return Err(ApiError::not_found(&request.person).into());
        }
        let page_size = pagination::page_size(request.page_size)?;
        let scope = format!("accessLog?person={}", request.person);
        let before = pagination::decode_token(&scope, &request.page_token)?
            .map(|id| id.parse::<i64>())
            .transpose()
            .map_err(|_| {
                ApiError::invalid("page_token", "not a page token returned by this list")
            })?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, subject, roles, municipality, person, resource, action, purpose, method, trace_id
               FROM audit_log
              WHERE person = $1 AND ($2::bigint IS NULL OR id < $2)
              ORDER BY id DESC
              LIMIT $3",
        )
        .bind(&request.person)
        .bind(before)
        .bind(page_size + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(ApiError::from)?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| r.id);
        let entries = rows
            .into_iter()
            .map(|r| AccessLogEntry {
                time: Some(kontakt_proto::timestamp(r.at)),
                subject: r.subject,
                roles: r.roles,
                municipality: r.municipality.unwrap_or_default(),
                person: r.person.unwrap_or_default(),
                resource: r.resource,
                action: r.action,
                purpose: r.purpose,
                method: r.method,
                trace_id: r.trace_id.unwrap_or_default(),
                service: self.service.to_owned(),
            })
            .collect();
        Ok(Response::new(ListAccessLogEntriesResponse {
            entries,
            next_page_token,
        }))
    }
}
