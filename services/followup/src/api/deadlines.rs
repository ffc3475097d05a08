//! The statutory deadlines besides the follow-ups (ungestøtte before 18, R-RV-5; a running
//! undersøgelse, BL § 20 stk. 3; the child's plan, § 91):
//! listed for a municipality, a counsellor or a grant, and marked met by the counsellor. Every
//! read and the write are in the access log.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::resource::{scoped, scoped_parent};
use kontakt_platform::{ApiError, Refusal, pagination};
use kontakt_proto::followup::v1::{
    CompleteDeadlineRequest, Deadline, DeadlineKind, DeadlineState, ListDeadlinesRequest,
    ListDeadlinesResponse,
};
use tonic::Request;

use super::FollowUpApi;
use crate::domain::Step;
use crate::domain::deadline::{self, Kind, Stage};
use crate::domain::follow_up::State;
use crate::domain::follow_up::{self, NotRecorded};
use crate::store::{DeadlineQuery, DeadlineRow, Store};
use kontakt_proto::names;

/// The longest note a deadline takes.
const MAX_NOTE: usize = 4_000;

/// The wire kind of a stored kind.
pub(crate) fn deadline_kind(stored: &str) -> DeadlineKind {
    match Kind::from_stored(stored) {
        Some(Kind::UngestoetteDecision) => DeadlineKind::UngestoetteDecision,
        Some(Kind::ChildAssessment) => DeadlineKind::ChildAssessment,
        Some(Kind::ChildsPlan) => DeadlineKind::ChildsPlan,
        None => DeadlineKind::Unspecified,
    }
}

fn deadline_to_proto(row: DeadlineRow, today: NaiveDate) -> Deadline {
    let stage = Stage::from_stored(&row.state);
    let state = match deadline::state(stage, row.due_date, row.deadline_date, today) {
        State::Scheduled => DeadlineState::Scheduled,
        State::Due => DeadlineState::Due,
        State::Overdue => DeadlineState::Overdue,
        State::Completed => DeadlineState::Completed,
        State::Cancelled => DeadlineState::Cancelled,
    };
    Deadline {
        name: names::deadline(&row.municipality, &row.id),
        kind: deadline_kind(&row.kind) as i32,
        grant: names::grant(&row.municipality, &row.grant_id),
        counsellor: row.counsellor,
        deadline_date: Some(row.deadline_date.into()),
        due_date: Some(row.due_date.into()),
        state: state as i32,
        description: Kind::from_stored(&row.kind)
            .map(|k| k.description(row.deadline_date))
            .unwrap_or_default(),
        note: row.note.unwrap_or_default(),
        completed_by: row.completed_by.unwrap_or_default(),
        complete_time: row.complete_time.map(kontakt_proto::timestamp),
        create_time: Some(kontakt_proto::timestamp(row.create_time)),
    }
}

impl FollowUpApi {
    pub(super) async fn read_deadlines(
        &self,
        request: Request<ListDeadlinesRequest>,
    ) -> Result<ListDeadlinesResponse, ApiError> {
        let caller = Caller::of(&request, "deadlines")?;
        let body = request.get_ref();
        let m = scoped_parent(&caller.principal, &body.parent)?;
        let code = m.to_string();
        if body.counsellor.chars().count() > 200 {
            return Err(ApiError::invalid("counsellor", "at most 200 characters"));
        }
        let grant = match body.grant.as_str() {
            "" => None,
            name => Some(names::id_in(name, &code, names::GRANTS).ok_or_else(|| {
                ApiError::invalid(
                    "grant",
                    format!("must be `municipalities/{code}/grants/{{id}}` or empty"),
                )
            })?),
        };
        let page_size = pagination::page_size(body.page_size)?;
        let scope = format!(
            "deadlines?{}&{}&{}&{}",
            body.parent, body.counsellor, body.grant, body.include_closed
        );
        let after = pagination::decode_date_token(&scope, &body.page_token)?;
        let rows = self
            .store
            .deadlines(&DeadlineQuery {
                municipality: &code,
                counsellor: Some(body.counsellor.as_str()).filter(|c| !c.is_empty()),
                grant,
                include_closed: body.include_closed,
                after: after.as_ref().map(|(d, id)| (*d, id.as_str())),
                limit: page_size + 1,
            })
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::date_key(r.deadline_date, &r.id)
        });
        let entries = rows
            .iter()
            .map(|r| {
                caller.entry(
                    "ListDeadlines",
                    Action::Read,
                    &names::deadline(&r.municipality, &r.id),
                    m,
                    &r.person,
                )
            })
            .collect();
        self.audit.record(entries).await?;
        let today = self.clock.today();
        Ok(ListDeadlinesResponse {
            deadlines: rows
                .into_iter()
                .map(|r| deadline_to_proto(r, today))
                .collect(),
            next_page_token,
        })
    }

    /// Marks a deadline met with what was decided; the same note again is a retry.
    pub(super) async fn record_deadline(
        &self,
        request: Request<CompleteDeadlineRequest>,
    ) -> Result<Deadline, ApiError> {
        let caller = Caller::of(&request, "deadline")?;
        let body = request.into_inner();
        let (m, id) = scoped(&caller.principal, &body.name, names::DEADLINES, "name")?;
        let note = body.note.trim();
        if note.is_empty() || note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid(
                "note",
                "what was decided, 1 to 4000 characters",
            ));
        }
        let code = m.to_string();
        let today = self.clock.today();
        let mut tx = self.store.begin().await?;
        let row = Store::lock_deadline(&mut tx, &code, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&body.name))?;
        let same_note = row.note.as_deref() == Some(note);
        match follow_up::record(Stage::from_stored(&row.state), same_note) {
            Ok(Step::Record) => {}
            Ok(Step::Retry) => {
                tx.commit().await?;
                return Ok(deadline_to_proto(row, today));
            }
            Err(NotRecorded::AlreadyHeld) => {
                return Err(Refusal::new(
                    "DEADLINE_COMPLETED",
                    "the deadline was already marked met with another note",
                )
                .into());
            }
            Err(NotRecorded::Cancelled) => {
                return Err(Refusal::new(
                    "DEADLINE_CANCELLED",
                    "the deadline was cancelled because the grant ended",
                )
                .into());
            }
        }
        Store::complete_deadline(&mut tx, &code, id, note, &caller.principal.subject).await?;
        caller
            .wrote(
                &mut tx,
                "CompleteDeadline",
                Action::Update,
                &body.name,
                m,
                &row.person,
            )
            .await?;
        let saved = Store::lock_deadline(&mut tx, &code, id)
            .await?
            .ok_or_else(|| ApiError::not_found(&body.name))?;
        tx.commit().await?;
        Ok(deadline_to_proto(saved, today))
    }
}
