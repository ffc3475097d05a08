//! Assignments: a contact person for a request's child, never overbooked (R-MP-4), only with a
//! valid certificate (R-MP-6), a provider's person only through an order (R-MP-2). Every change
//! commits with its event and audit row, or not at all.

use chrono::NaiveDate;
use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::Principal;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::pagination;
use kontakt_platform::resource::{self, check_etag, day, etag, scoped, scoped_parent};
use kontakt_proto::common::v1::DateRange;
use kontakt_proto::matching::v1 as proto;
use kontakt_proto::matching::v1::{
    AssignContactPersonRequest, Assignment, AssignmentStarted, CertificateResult,
    ChangeAssignmentRequest, EndAssignmentRequest, GetAssignmentRequest, ListAssignmentsRequest,
    ListAssignmentsResponse,
};
use tonic::Request;

use super::people::{employment_of, may_see, parse_person, rates_to_proto};
use super::{MAX_NOTE, MAX_WEEK_MINUTES, MatchingApi, Tx, money, new_id, only_own, timestamp};
use crate::SCHEMA;
use crate::assignments::{finish, resize};
use crate::domain::assignment::AssignmentState;
use crate::domain::people;
use crate::domain::ranking::{self, Certificate, Eligibility};
use crate::domain::request::{self, Assignable};
use crate::store::{AssignmentFilter, AssignmentRow, ProcurementRow, RequestRow, RequestStep};
use kontakt_proto::names;

pub(super) fn assignment_to_proto(row: AssignmentRow) -> Assignment {
    let m = &row.municipality;
    Assignment {
        name: names::assignment(m, &row.id),
        grant: names::grant(m, &row.request),
        matching_request: names::matching_request(m, &row.request),
        contact_person: names::contact_person(&row.unit, &row.contact_person_id),
        state: match row.state {
            AssignmentState::Active => proto::AssignmentState::Active,
            AssignmentState::Ended => proto::AssignmentState::Ended,
        } as i32,
        minutes_per_week: row.minutes_per_week,
        period: Some(DateRange {
            start: Some(row.start_date.into()),
            end: row.end_date.map(Into::into),
        }),
        procurement: row
            .procurement_id
            .as_deref()
            .map(|p| names::procurement(m, p))
            .unwrap_or_default(),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        etag: etag(row.revision),
        employment: employment_of(&row.employment) as i32,
        agreed_hourly_price: money(row.agreed_hourly_ore),
        person: row.person,
        end_note: row.end_note,
    }
}

/// A change to an assignment takes effect (`field`) no earlier than the assignment starts.
fn not_before_start(row: &AssignmentRow, date: NaiveDate, field: &str) -> Result<(), ApiError> {
    if date < row.start_date {
        return Err(ApiError::invalid(
            field,
            format!("not before the assignment's start, {}", row.start_date),
        ));
    }
    Ok(())
}

impl MatchingApi {
    pub(super) async fn assign(
        &self,
        request: Request<AssignContactPersonRequest>,
    ) -> Result<Assignment, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.into_inner();
        let (m, id) = scoped(
            &caller.principal,
            &body.matching_request,
            names::MATCHING_REQUESTS,
            "matching_request",
        )?;
        let (unit, person_id) = parse_person(&body.contact_person, "contact_person")?;
        let start = day(body.start_date.as_ref(), "start_date")?
            .ok_or_else(|| ApiError::invalid("start_date", "the first day is required"))?;
        if !(0..=MAX_WEEK_MINUTES).contains(&body.minutes_per_week) {
            return Err(ApiError::invalid(
                "minutes_per_week",
                "0 (the grant's) or up to a week's minutes",
            ));
        }
        resource::request_id(&body.request_id)?;
        let code = m.to_string();
        let mut tx = self.store.begin().await?;
        let req = self
            .locked_request(&mut tx, m, id, &body.matching_request)
            .await?;
        // A retry finds what its first attempt made.
        if let Some(done) = self
            .store
            .by_request_id::<AssignmentRow>(&mut tx, &code, &body.request_id)
            .await?
        {
            if done.request != id || done.unit != unit || done.contact_person_id != person_id {
                return Err(ApiError::invalid(
                    "request_id",
                    "already used for another assignment; use a new one",
                ));
            }
            tx.commit().await?;
            return Ok(assignment_to_proto(done));
        }
        let procurement = match req.state.assignable()? {
            Assignable::Directly => None,
            Assignable::ThroughOrder => {
                let pid = req.procurement_id.clone().unwrap_or_default();
                self.store
                    .get_by_id::<ProcurementRow>(&mut tx, &code, &pid, false)
                    .await?
            }
        };
        if start < req.start_date || req.end_date.is_some_and(|end| start > end) {
            return Err(ApiError::invalid(
                "start_date",
                format!("must be inside the grant, from {}", req.start_date),
            ));
        }
        let granted = procurement
            .as_ref()
            .map_or(req.minutes_per_week, |p| p.minutes_per_week);
        let minutes = if body.minutes_per_week == 0 {
            granted
        } else {
            body.minutes_per_week
        };
        if minutes > req.minutes_per_week {
            return Err(ApiError::invalid(
                "minutes_per_week",
                format!(
                    "at most the granted {} minutes a week",
                    req.minutes_per_week
                ),
            ));
        }
        let person = self
            .store
            .get_person(&mut tx, &unit, &person_id, false)
            .await?
            .filter(|p| may_see(&caller.principal, p))
            .ok_or_else(|| ApiError::not_found(&body.contact_person))?;
        // R-MP-2: a provider's person comes through an order, and only that provider's.
        request::provider_only_through_order(
            procurement.as_ref().map(|p| p.provider_id.as_str()),
            person.provider_id.as_deref(),
        )?;
        // The hard rules (active, the certificate the grant asks for on the start date, R-MP-6,
        // area) on what is stored now; capacity is settled below by the booking itself (R-MP-4).
        let certificate = person.certificate_result.map(|result| Certificate {
            result: CertificateResult::try_from(result).unwrap_or(CertificateResult::Unspecified),
            issued: person.certificate_issue,
            expiry: person.certificate_expiry,
        });
        let eligibility = Eligibility {
            active: person.state == "ACTIVE",
            certificate: certificate.as_ref(),
            municipalities: &person.municipalities,
        };
        let reasons = ranking::ineligibility(
            &eligibility,
            &req.municipality,
            req.certificate_rule(),
            start,
        );
        if !reasons.is_empty() {
            return Err(ranking::cannot_be_assigned(&body.contact_person, &reasons).into());
        }
        let next = req.state.assign()?;
        if !self.store.book(&mut tx, &unit, &person_id, minutes).await? {
            return Err(people::no_capacity(&body.contact_person, minutes).into());
        }
        let row = self
            .store
            .insert_assignment(
                &mut tx,
                &AssignmentRow {
                    municipality: code.clone(),
                    id: new_id(),
                    request: id.to_owned(),
                    person: req.person.clone(),
                    unit: unit.clone(),
                    contact_person_id: person_id.clone(),
                    employment: person.employment.clone(),
                    procurement_id: procurement.as_ref().map(|p| p.id.clone()),
                    agreed_hourly_ore: procurement.as_ref().and_then(|p| p.agreed_hourly_ore),
                    state: AssignmentState::Active,
                    minutes_per_week: minutes,
                    start_date: start,
                    end_date: None,
                    end_note: String::new(),
                    request_id: body.request_id.clone(),
                    revision: 1,
                    create_time: self.clock.now(),
                    update_time: self.clock.now(),
                },
            )
            .await?;
        self.store
            .step_request(
                &mut tx,
                &code,
                id,
                &RequestStep {
                    assignment_id: Some(&row.id),
                    procurement_id: req.procurement_id.as_deref(),
                    ..RequestStep::to(next)
                },
            )
            .await?;
        self.store.record_unmet(&mut tx, &code, id, false).await?;
        let name = names::assignment(&code, &row.id);
        let started = AssignmentStarted {
            assignment: name.clone(),
            grant: names::grant(&code, id),
            matching_request: body.matching_request.clone(),
            contact_person: body.contact_person.clone(),
            municipality: code.clone(),
            employment: employment_of(&row.employment) as i32,
            minutes_per_week: minutes,
            start_date: Some(start.into()),
            procurement: row
                .procurement_id
                .as_deref()
                .map(|p| names::procurement(&code, p))
                .unwrap_or_default(),
            agreed_hourly_price: money(row.agreed_hourly_ore),
            provider: person
                .provider_id
                .as_deref()
                .map(|p| format!("providers/{p}"))
                .unwrap_or_default(),
            rates: rates_to_proto(
                self.store
                    .rates_of(&mut tx, &[(unit.clone(), person_id.clone())])
                    .await?
                    .iter(),
            ),
            procurement_reason: procurement
                .as_ref()
                .map_or(proto::ProcurementReason::Unspecified, |p| {
                    super::procurements::reason_of(&p.reason)
                }) as i32,
        };
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(&started, Some(code.clone()), &name),
        )
        .await?;
        caller
            .wrote(
                &mut tx,
                "AssignContactPerson",
                Action::Create,
                &name,
                m,
                &req.person,
            )
            .await?;
        tx.commit().await?;
        Ok(assignment_to_proto(row))
    }

    /// An assignment the caller may see (a contact person only their own), else NOT_FOUND.
    async fn visible_assignment(
        &self,
        principal: &Principal,
        name: &str,
    ) -> Result<AssignmentRow, ApiError> {
        let (m, id) = scoped(principal, name, names::ASSIGNMENTS, "name")?;
        let mut conn = self.store.conn().await?;
        self.store
            .get_by_id::<AssignmentRow>(&mut conn, &m.to_string(), id, false)
            .await?
            .filter(|a| {
                only_own(principal)
                    .is_none_or(|own| own == names::contact_person(&a.unit, &a.contact_person_id))
            })
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub(super) async fn assignment(
        &self,
        request: Request<GetAssignmentRequest>,
    ) -> Result<Assignment, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let name = &request.get_ref().name;
        let row = self.visible_assignment(&caller.principal, name).await?;
        self.audit
            .record(vec![caller.entry(
                "GetAssignment",
                Action::Read,
                name,
                &row.municipality,
                &row.person,
            )])
            .await?;
        Ok(assignment_to_proto(row))
    }

    pub(super) async fn assignments(
        &self,
        request: Request<ListAssignmentsRequest>,
    ) -> Result<ListAssignmentsResponse, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.get_ref();
        let m = scoped_parent(&caller.principal, &body.parent)?;
        let code = m.to_string();
        let page_size = pagination::page_size(body.page_size)?;
        // A contact person's list is theirs, whatever the filter says.
        let person_filter = match only_own(&caller.principal) {
            Some(own) => Some(own.to_owned()),
            None if body.contact_person.is_empty() => None,
            None => Some(body.contact_person.clone()),
        };
        let contact_person = person_filter
            .as_deref()
            .map(|p| parse_person(p, "contact_person"))
            .transpose()?;
        let state = match proto::AssignmentState::try_from(body.state) {
            Ok(proto::AssignmentState::Unspecified) => None,
            Ok(proto::AssignmentState::Active) => Some(AssignmentState::Active),
            Ok(proto::AssignmentState::Ended) => Some(AssignmentState::Ended),
            Err(_) => return Err(ApiError::invalid("state", "not a known assignment state")),
        };
        let scope = format!(
            "{}?m={code}&person={}&state={}",
            names::ASSIGNMENTS,
            person_filter.as_deref().unwrap_or(""),
            body.state
        );
        let after = pagination::decode_time_token(&scope, &body.page_token)?;
        let rows = self
            .store
            .list_assignments(
                &code,
                &AssignmentFilter {
                    contact_person: contact_person
                        .as_ref()
                        .map(|(u, i)| (u.as_str(), i.as_str())),
                    state,
                },
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                page_size + 1,
            )
            .await?;
        let (rows, next_page_token) = pagination::finish_page(rows, page_size, &scope, |r| {
            pagination::time_key(r.create_time, &r.id)
        });
        let entries = rows
            .iter()
            .map(|r| {
                caller.entry(
                    "ListAssignments",
                    Action::Read,
                    &names::assignment(&code, &r.id),
                    m,
                    &r.person,
                )
            })
            .collect();
        self.audit.record(entries).await?;
        Ok(ListAssignmentsResponse {
            assignments: rows.into_iter().map(assignment_to_proto).collect(),
            next_page_token,
        })
    }

    /// The request and its assignment, both locked in that order, with the etag checked.
    async fn locked_assignment(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        name: &str,
        given_etag: &str,
    ) -> Result<(RequestRow, AssignmentRow), ApiError> {
        let (req, row) = self
            .locked_with_request::<AssignmentRow>(tx, principal, names::ASSIGNMENTS, name)
            .await?;
        check_etag(given_etag, row.revision)?;
        row.state
            .still_active(row.end_date.unwrap_or(row.start_date))?;
        Ok((req, row))
    }

    pub(super) async fn resize_assignment(
        &self,
        request: Request<ChangeAssignmentRequest>,
    ) -> Result<Assignment, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.into_inner();
        if !(1..=MAX_WEEK_MINUTES).contains(&body.minutes_per_week) {
            return Err(ApiError::invalid(
                "minutes_per_week",
                "above 0 and at most a week's minutes",
            ));
        }
        let from = day(body.effective_from.as_ref(), "effective_from")?
            .ok_or_else(|| ApiError::invalid("effective_from", "the first day is required"))?;
        let mut tx = self.store.begin().await?;
        let (req, row) = self
            .locked_assignment(&mut tx, &caller.principal, &body.name, &body.etag)
            .await?;
        not_before_start(&row, from, "effective_from")?;
        if body.minutes_per_week > req.minutes_per_week {
            return Err(ApiError::invalid(
                "minutes_per_week",
                format!(
                    "at most the granted {} minutes a week",
                    req.minutes_per_week
                ),
            ));
        }
        let changed = resize(&self.store, &mut tx, &row, body.minutes_per_week, from)
            .await?
            .ok_or_else(|| {
                people::no_capacity(
                    &names::contact_person(&row.unit, &row.contact_person_id),
                    body.minutes_per_week - row.minutes_per_week,
                )
            })?;
        caller
            .wrote(
                &mut tx,
                "ChangeAssignment",
                Action::Update,
                &body.name,
                &row.municipality,
                &row.person,
            )
            .await?;
        tx.commit().await?;
        Ok(assignment_to_proto(changed))
    }

    pub(super) async fn finish_assignment(
        &self,
        request: Request<EndAssignmentRequest>,
    ) -> Result<Assignment, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.into_inner();
        let end = day(body.end_date.as_ref(), "end_date")?
            .ok_or_else(|| ApiError::invalid("end_date", "the last day is required"))?;
        if body.note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid("note", "at most 4000 characters"));
        }
        let mut tx = self.store.begin().await?;
        let (_, row) = self
            .locked_assignment(&mut tx, &caller.principal, &body.name, &body.etag)
            .await?;
        not_before_start(&row, end, "end_date")?;
        let ended = finish(
            &self.store,
            &mut tx,
            &row,
            end,
            body.note.trim(),
            body.grant_continues,
        )
        .await?;
        caller
            .wrote(
                &mut tx,
                "EndAssignment",
                Action::Update,
                &body.name,
                &row.municipality,
                &row.person,
            )
            .await?;
        tx.commit().await?;
        Ok(assignment_to_proto(ended))
    }
}
