//! From a matching request to a contact person: proposals (R-MP-1, R-MP-3), unmet demand
//! (R-MP-5), assignments that never overbook (R-MP-4, R-MP-6) and procurements (R-MP-2).
//! Every change commits with its event and audit row, or not at all.

use chrono::NaiveDate;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::{MunicipalityCode, Principal};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, check_etag, day, etag, scoped, scoped_parent};
use kontakt_platform::{ApiError, Refusal, pagination};
use kontakt_proto::common::v1::{DateRange, Money};
use kontakt_proto::matching::v1::{
    AssignContactPersonRequest, Assignment, AssignmentStarted, AssignmentState,
    CancelProcurementRequest, CandidateProposal, CertificateResult, ChangeAssignmentRequest,
    CreateProcurementRequest, DemandUnmet, EndAssignmentRequest, ExcludedCandidate,
    ExclusionReason, Gender, GetAssignmentRequest, GetProcurementRequest, ListAssignmentsRequest,
    ListAssignmentsResponse, ListUnmetDemandRequest, ListUnmetDemandResponse,
    OrderProcurementRequest, Procurement, ProcurementOrdered, ProcurementReason, ProcurementState,
    ProposeCandidatesRequest, ProposeCandidatesResponse, RecordOfferRequest, ScoreFactor,
    UnmetDemand,
};
use sqlx::{Postgres, Transaction};
use tonic::Request;

use super::people::{employment_of, may_see, parse_person, person_name, rates_to_proto};
use super::{MatchingApi, competence_names, needs_of, only_own, timestamp};
use crate::SCHEMA;
use crate::assignments::{finish, resize};
use crate::domain::people::{self, hourly_hire_cost_ore};
use crate::domain::ranking::{self, Candidate, Certificate, Demand, Eligibility, Exclusion};
use crate::domain::request::{self, Assignable, RequestState};
use crate::names::{
    ASSIGNMENTS, PROCUREMENTS, REQUESTS, assignment_name, grant_name, procurement_name,
    request_name,
};
use crate::store::{
    AssignmentFilter, AssignmentRow, CandidateRow, Pool, ProcurementRow, RequestRow, RequestStep,
};

const MAX_WEEK_MINUTES: i32 = 7 * 24 * 60;
const MAX_NOTE: usize = 4000;

type Tx = Transaction<'static, Postgres>;

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn money(ore: Option<i64>) -> Option<Money> {
    ore.map(|ore| Money { ore })
}

pub(super) fn assignment_to_proto(row: AssignmentRow) -> Assignment {
    let m = &row.municipality;
    Assignment {
        name: assignment_name(m, &row.id),
        grant: grant_name(m, &row.request),
        matching_request: request_name(m, &row.request),
        contact_person: person_name(&row.unit, &row.contact_person_id),
        state: if row.state == "ACTIVE" {
            AssignmentState::Active
        } else {
            AssignmentState::Ended
        } as i32,
        minutes_per_week: row.minutes_per_week,
        period: Some(DateRange {
            start: Some(row.start_date.into()),
            end: row.end_date.map(Into::into),
        }),
        procurement: row
            .procurement_id
            .as_deref()
            .map(|p| procurement_name(m, p))
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

fn procurement_to_proto(row: ProcurementRow) -> Procurement {
    let m = &row.municipality;
    Procurement {
        name: procurement_name(m, &row.id),
        matching_request: request_name(m, &row.request),
        provider: format!("providers/{}", row.provider_id),
        contract: row
            .contract_id
            .as_deref()
            .map(|c| format!("providers/{}/contracts/{c}", row.provider_id))
            .unwrap_or_default(),
        agreed_hourly_price: money(row.agreed_hourly_ore),
        reason: ProcurementReason::from_str_name(&format!("PROCUREMENT_REASON_{}", row.reason))
            .unwrap_or(ProcurementReason::Unspecified) as i32,
        reason_note: row.reason_note,
        order_time: row.order_time.map(timestamp),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        etag: etag(row.revision),
        state: ProcurementState::from_str_name(&format!("PROCUREMENT_STATE_{}", row.state))
            .unwrap_or(ProcurementState::Unspecified) as i32,
        minutes_per_week: row.minutes_per_week,
        offered_hourly_price: money(row.offered_hourly_ore),
        offer_note: row.offer_note,
    }
}

/// A stored candidate as ranking sees it; `child` is the request's child (continuity).
fn candidate(row: &CandidateRow, child: &str) -> Candidate {
    let employment = employment_of(&row.employment);
    Candidate {
        id: person_name(&row.unit, &row.id),
        employment,
        competences: row.competences.clone(),
        gender: Gender::try_from(row.gender).unwrap_or(Gender::Unspecified),
        municipalities: row.municipalities.clone(),
        active: row.state == "ACTIVE",
        weekly_capacity_minutes: row.weekly_capacity_minutes,
        other_duties_minutes: row.other_duties_minutes,
        booked_minutes: row.booked_minutes,
        certificate: row.certificate_result.map(|result| Certificate {
            result: CertificateResult::try_from(result).unwrap_or(CertificateResult::Unspecified),
            expiry: row.certificate_expiry,
        }),
        known_persons: if row.knows_child {
            vec![child.to_owned()]
        } else {
            Vec::new()
        },
        hourly_cost_ore: match employment {
            kontakt_proto::matching::v1::Employment::Hourly => {
                row.rate_ore.map(hourly_hire_cost_ore)
            }
            _ => row.rate_ore,
        },
    }
}

/// What a request asks for, from `day` (the later of its start and today).
fn demand(row: &RequestRow, day: NaiveDate) -> Demand<'_> {
    Demand {
        municipality: &row.municipality,
        competences: &row.competences,
        preferred_gender: Gender::try_from(row.preferred_gender).unwrap_or(Gender::Unspecified),
        age_years: row.age_years,
        minutes_per_week: row.minutes_per_week,
        start_date: day,
        person: &row.person,
    }
}

fn exclusion_reasons(reasons: &[Exclusion]) -> Vec<ExclusionReason> {
    reasons
        .iter()
        .map(|r| ExclusionReason {
            rule: r.rule().into(),
            explanation: r.explain(),
        })
        .collect()
}

impl MatchingApi {
    /// The request, locked, in the caller's municipality.
    async fn locked_request(
        &self,
        tx: &mut Tx,
        m: MunicipalityCode,
        id: &str,
        name: &str,
    ) -> Result<RequestRow, ApiError> {
        self.store
            .lock_request(tx, &m.to_string(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub(super) async fn propose_candidates(
        &self,
        request: Request<ProposeCandidatesRequest>,
    ) -> Result<ProposeCandidatesResponse, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.into_inner();
        let (m, id) = scoped(
            &caller.principal,
            &body.matching_request,
            REQUESTS,
            "matching_request",
        )?;
        let max = match body.max_candidates {
            0 => 10,
            n if n < 0 => return Err(ApiError::invalid("max_candidates", "must not be negative")),
            n => n.min(100) as usize,
        };
        // Held to the end of the call; a closed semaphore never happens (it lives with `self`).
        let _turn = self
            .proposals
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
        let mut tx = self.store.begin().await?;
        let row = self
            .locked_request(&mut tx, m, id, &body.matching_request)
            .await?;
        row.state.proposals_allowed()?;
        let day = row.start_date.max(self.clock.today());
        let rows = self
            .store
            .candidates(
                &mut tx,
                &Pool {
                    municipality: &row.municipality,
                    child: &row.person,
                    day,
                    prefilter_minutes: (!body.include_excluded).then_some(row.minutes_per_week),
                },
            )
            .await?;
        let candidates: Vec<Candidate> = rows.iter().map(|r| candidate(r, &row.person)).collect();
        let demand = demand(&row, day);
        let ranking = ranking::rank(&demand, &candidates);
        let unmet = ranking::unmet(&demand, &ranking);
        // Candidates are made from the rows in order: a proposal's position in both, by name.
        let position: std::collections::HashMap<&str, usize> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let display = |name: &str| {
            position
                .get(name)
                .map(|&i| rows[i].display_name.clone())
                .unwrap_or_default()
        };
        // The best candidate is the proposal; none leaves the request open.
        let best = ranking
            .proposals
            .first()
            .and_then(|p| parse_person(&p.candidate, "").ok());
        let state = row.state.propose(best.is_some())?;
        let proposed = best
            .as_ref()
            .map(|(unit, person)| (unit.as_str(), person.as_str()));
        let current = row
            .proposed_unit
            .as_deref()
            .zip(row.proposed_person.as_deref());
        if state != row.state || proposed != current {
            self.store
                .step_request(
                    &mut tx,
                    &row.municipality,
                    id,
                    &RequestStep {
                        state,
                        assignment_id: None,
                        procurement_id: None,
                        proposed,
                    },
                )
                .await?;
        }
        let became_unmet = self
            .store
            .record_unmet(&mut tx, &row.municipality, id, unmet.is_some())
            .await?;
        if became_unmet {
            let event = DemandUnmet {
                matching_request: body.matching_request.clone(),
                grant: grant_name(&row.municipality, id),
                municipality: row.municipality.clone(),
                needs: Some(needs_of(&row)),
                minutes_per_week: row.minutes_per_week,
                open_time: Some(timestamp(row.create_time)),
            };
            outbox::write(
                &mut tx,
                SCHEMA,
                &NewEvent::new(
                    &event,
                    Some(row.municipality.clone()),
                    &body.matching_request,
                ),
            )
            .await?;
        }
        caller
            .wrote(
                &mut tx,
                "ProposeCandidates",
                Action::Read,
                &body.matching_request,
                m,
                &row.person,
            )
            .await?;
        tx.commit().await?;
        Ok(ProposeCandidatesResponse {
            candidates: ranking
                .proposals
                .iter()
                .take(max)
                .map(|p| CandidateProposal {
                    contact_person: p.candidate.clone(),
                    display_name: display(&p.candidate),
                    score: p.score,
                    factors: p
                        .factors
                        .iter()
                        .map(|f| ScoreFactor {
                            factor: f.name.into(),
                            points: f.points,
                            explanation: f.explanation.clone(),
                        })
                        .collect(),
                    missing_competences: competence_names(&p.missing_competences),
                    employment: position
                        .get(p.candidate.as_str())
                        .map_or(0, |&i| candidates[i].employment as i32),
                    free_minutes_per_week: position.get(p.candidate.as_str()).map_or(0, |&i| {
                        let c = &candidates[i];
                        c.weekly_capacity_minutes - c.other_duties_minutes - c.booked_minutes
                    }),
                })
                .collect(),
            excluded: ranking
                .excluded
                .iter()
                .map(|(name, reasons)| ExcludedCandidate {
                    contact_person: name.clone(),
                    display_name: display(name),
                    reasons: exclusion_reasons(reasons),
                })
                .collect(),
            unmet: unmet.is_some(),
            missing_competences: unmet
                .map(|u| competence_names(&u.missing_competences))
                .unwrap_or_default(),
        })
    }

    pub(super) async fn list_unmet_demand(
        &self,
        request: Request<ListUnmetDemandRequest>,
    ) -> Result<ListUnmetDemandResponse, ApiError> {
        let principal = kontakt_platform::auth::caller(&request)?;
        let m = scoped_parent(principal, &request.get_ref().parent)?;
        let code = m.to_string();
        let today = self.clock.today();
        let now = self.clock.now();
        let waiting = self.store.requests_needing_people(&code).await?;
        let mut conn = self.store.conn().await?;
        // Everyone active in the area once; each request's hard rules are applied in memory.
        let pool = self
            .store
            .candidates(
                &mut conn,
                &Pool {
                    municipality: &code,
                    child: "",
                    day: today,
                    prefilter_minutes: None,
                },
            )
            .await?;
        drop(conn);
        let candidates: Vec<Candidate> = pool.iter().map(|r| candidate(r, "")).collect();
        let mut demands = Vec::new();
        let mut listed = Vec::new();
        for row in waiting {
            let entry = if row.state == RequestState::Assigned {
                // The grant grew beyond what the assigned person could take.
                Some(UnmetDemand {
                    minutes_per_week: row.minutes_per_week - row.assigned_minutes.unwrap_or(0),
                    ..UnmetDemand::default()
                })
            } else {
                let demand = demand(&row, row.start_date.max(today));
                ranking::unmet(&demand, &ranking::rank(&demand, &candidates)).map(|u| UnmetDemand {
                    minutes_per_week: row.minutes_per_week,
                    missing_competences: competence_names(&u.missing_competences),
                    partial_candidates: i32::try_from(u.partial_candidates).unwrap_or(i32::MAX),
                    ..UnmetDemand::default()
                })
            };
            if let Some(entry) = entry {
                demands.push(UnmetDemand {
                    matching_request: request_name(&code, &row.id),
                    grant: grant_name(&code, &row.id),
                    needs: Some(needs_of(&row)),
                    open_time: Some(timestamp(row.create_time)),
                    age_days: i32::try_from((now - row.create_time).num_days()).unwrap_or(0),
                    ..entry
                });
                listed.push(row);
            }
        }
        self.read_logged(&request, "ListUnmetDemand", &listed)
            .await?;
        Ok(ListUnmetDemandResponse { demands })
    }

    pub(super) async fn assign_contact_person(
        &self,
        request: Request<AssignContactPersonRequest>,
    ) -> Result<Assignment, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.into_inner();
        let (m, id) = scoped(
            &caller.principal,
            &body.matching_request,
            REQUESTS,
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
            .assignment_by_request_id(&mut tx, &code, &body.request_id)
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
                    .get_procurement(&mut tx, &code, &pid, false)
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
        // The hard rules (active, certificate on the start date, R-MP-6, area) on what is
        // stored now; capacity is settled below by the booking itself (R-MP-4).
        let certificate = person.certificate_result.map(|result| Certificate {
            result: CertificateResult::try_from(result).unwrap_or(CertificateResult::Unspecified),
            expiry: person.certificate_expiry,
        });
        let eligibility = Eligibility {
            active: person.state == "ACTIVE",
            certificate: certificate.as_ref(),
            municipalities: &person.municipalities,
        };
        let reasons = ranking::ineligibility(&eligibility, &req.municipality, start);
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
                    state: "ACTIVE".into(),
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
                    state: next,
                    assignment_id: Some(&row.id),
                    procurement_id: req.procurement_id.as_deref(),
                    proposed: None,
                },
            )
            .await?;
        self.store.record_unmet(&mut tx, &code, id, false).await?;
        let name = assignment_name(&code, &row.id);
        let started = AssignmentStarted {
            assignment: name.clone(),
            grant: grant_name(&code, id),
            matching_request: body.matching_request.clone(),
            contact_person: body.contact_person.clone(),
            municipality: code.clone(),
            employment: employment_of(&row.employment) as i32,
            minutes_per_week: minutes,
            start_date: Some(start.into()),
            procurement: row
                .procurement_id
                .as_deref()
                .map(|p| procurement_name(&code, p))
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
        let (m, id) = scoped(principal, name, ASSIGNMENTS, "name")?;
        let mut conn = self.store.conn().await?;
        self.store
            .get_assignment(&mut conn, &m.to_string(), id, false)
            .await?
            .filter(|a| {
                only_own(principal)
                    .is_none_or(|own| own == person_name(&a.unit, &a.contact_person_id))
            })
            .ok_or_else(|| ApiError::not_found(name))
    }

    pub(super) async fn get_assignment(
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

    pub(super) async fn list_assignments(
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
        let state = match AssignmentState::try_from(body.state) {
            Ok(AssignmentState::Unspecified) => None,
            Ok(AssignmentState::Active) => Some("ACTIVE"),
            Ok(AssignmentState::Ended) => Some("ENDED"),
            Err(_) => return Err(ApiError::invalid("state", "not a known assignment state")),
        };
        let scope = format!(
            "{ASSIGNMENTS}?m={code}&person={}&state={}",
            person_filter.as_deref().unwrap_or(""),
            body.state
        );
        let after = pagination::decode_token(&scope, &body.page_token)?
            .map(|key| pagination::parse_time_key(&key))
            .transpose()?;
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
                    &assignment_name(&code, &r.id),
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

    /// The request and its assignment, both locked in that order (the order every writer
    /// takes, so writers never deadlock), with the etag checked.
    async fn locked_assignment(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        name: &str,
        given_etag: &str,
    ) -> Result<(RequestRow, AssignmentRow), ApiError> {
        let (m, id) = scoped(principal, name, ASSIGNMENTS, "name")?;
        let code = m.to_string();
        let request = self
            .store
            .get_assignment(tx, &code, id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?
            .request;
        let req = self.locked_request(tx, m, &request, name).await?;
        let row = self
            .store
            .get_assignment(tx, &code, id, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(given_etag, row.revision)?;
        if row.state != "ACTIVE" {
            return Err(Refusal::new(
                "ASSIGNMENT_ENDED",
                format!(
                    "the assignment ended on {}",
                    row.end_date.unwrap_or(row.start_date)
                ),
            )
            .into());
        }
        Ok((req, row))
    }

    pub(super) async fn change_assignment(
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
        if from < row.start_date {
            return Err(ApiError::invalid(
                "effective_from",
                format!("not before the assignment's start, {}", row.start_date),
            ));
        }
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
                    &person_name(&row.unit, &row.contact_person_id),
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

    pub(super) async fn end_assignment(
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
        if end < row.start_date {
            return Err(ApiError::invalid(
                "end_date",
                format!("not before the assignment's start, {}", row.start_date),
            ));
        }
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

    pub(super) async fn create_procurement(
        &self,
        request: Request<CreateProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let body = request.into_inner();
        let m = scoped_parent(&caller.principal, &body.parent)?;
        let code = m.to_string();
        resource::request_id(&body.request_id)?;
        let input = body
            .procurement
            .ok_or_else(|| ApiError::invalid("procurement", "required"))?;
        let (rm, request_id) = resource::parse_in_municipality(
            &input.matching_request,
            REQUESTS,
            "procurement.matching_request",
        )?;
        if rm != m {
            return Err(ApiError::invalid(
                "procurement.matching_request",
                "must be a request of the parent municipality",
            ));
        }
        let provider_id =
            resource::parse_top_level(&input.provider, "providers", "procurement.provider")?;
        let contract_id = if input.contract.is_empty() {
            None
        } else {
            let id = input
                .contract
                .strip_prefix(&format!("{}/contracts/", input.provider))
                .filter(|id| resource::valid_id(id))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "procurement.contract",
                        "must be `providers/{provider}/contracts/{contract}` of the provider",
                    )
                })?;
            Some(id.to_owned())
        };
        let reason = match ProcurementReason::try_from(input.reason) {
            Ok(ProcurementReason::SpecialProblemArea) => "SPECIAL_PROBLEM_AREA",
            Ok(ProcurementReason::NoCapacity) => "NO_CAPACITY",
            _ => {
                return Err(ApiError::invalid(
                    "procurement.reason",
                    "SPECIAL_PROBLEM_AREA or NO_CAPACITY is required (R-MP-2)",
                ));
            }
        };
        if input.reason_note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid(
                "procurement.reason_note",
                "at most 4000 characters",
            ));
        }
        if !(0..=MAX_WEEK_MINUTES).contains(&input.minutes_per_week) {
            return Err(ApiError::invalid(
                "procurement.minutes_per_week",
                "0 (the grant's) or up to a week's minutes",
            ));
        }
        if self.store.get_provider(provider_id).await?.is_none() {
            return Err(ApiError::invalid(
                "procurement.provider",
                format!("no provider `{}`", input.provider),
            ));
        }
        let today = self.clock.today();
        if let Some(contract) = &contract_id {
            let found = self.store.get_contract(provider_id, contract).await?;
            let usable = found.as_ref().is_some_and(|c| {
                c.valid_to.is_none_or(|to| to >= today)
                    && (c.municipalities.is_empty() || c.municipalities.contains(&code))
            });
            if !usable {
                return Err(ApiError::invalid(
                    "procurement.contract",
                    "no such contract in force for this municipality",
                ));
            }
        }
        let mut tx = self.store.begin().await?;
        let req = self
            .locked_request(&mut tx, m, request_id, &input.matching_request)
            .await?;
        if let Some(done) = self
            .store
            .procurement_by_request_id(&mut tx, &code, &body.request_id)
            .await?
        {
            if done.request != request_id || done.provider_id != provider_id {
                return Err(ApiError::invalid(
                    "request_id",
                    "already used for another procurement; use a new one",
                ));
            }
            tx.commit().await?;
            return Ok(procurement_to_proto(done));
        }
        let next = req.state.start_procurement()?;
        let minutes = if input.minutes_per_week == 0 {
            req.minutes_per_week
        } else {
            input.minutes_per_week.min(req.minutes_per_week)
        };
        let row = self
            .store
            .insert_procurement(
                &mut tx,
                &ProcurementRow {
                    municipality: code.clone(),
                    id: new_id(),
                    request: request_id.to_owned(),
                    provider_id: provider_id.to_owned(),
                    contract_id,
                    state: "REQUESTED".into(),
                    reason: reason.into(),
                    reason_note: input.reason_note.trim().to_owned(),
                    minutes_per_week: minutes,
                    offered_hourly_ore: None,
                    offer_note: String::new(),
                    agreed_hourly_ore: None,
                    order_time: None,
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
                request_id,
                &RequestStep {
                    state: next,
                    assignment_id: None,
                    procurement_id: Some(&row.id),
                    proposed: None,
                },
            )
            .await?;
        let name = procurement_name(&code, &row.id);
        caller
            .wrote(
                &mut tx,
                "CreateProcurement",
                Action::Create,
                &name,
                m,
                &req.person,
            )
            .await?;
        tx.commit().await?;
        Ok(procurement_to_proto(row))
    }

    pub(super) async fn get_procurement(
        &self,
        request: Request<GetProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let name = &request.get_ref().name;
        let (m, id) = scoped(&caller.principal, name, PROCUREMENTS, "name")?;
        let code = m.to_string();
        let mut conn = self.store.conn().await?;
        let row = self
            .store
            .get_procurement(&mut conn, &code, id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        drop(conn);
        let person = self
            .store
            .get_request(&code, &row.request)
            .await?
            .map(|r| r.person)
            .unwrap_or_default();
        self.audit
            .record(vec![caller.entry(
                "GetProcurement",
                Action::Read,
                name,
                m,
                &person,
            )])
            .await?;
        Ok(procurement_to_proto(row))
    }

    /// A procurement and its request, locked (request first), etag checked, in one of `states`.
    async fn locked_procurement(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        name: &str,
        given_etag: &str,
        states: &[&str],
    ) -> Result<(RequestRow, ProcurementRow), ApiError> {
        let (m, id) = scoped(principal, name, PROCUREMENTS, "name")?;
        let code = m.to_string();
        let request = self
            .store
            .get_procurement(tx, &code, id, false)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?
            .request;
        let req = self.locked_request(tx, m, &request, name).await?;
        let row = self
            .store
            .get_procurement(tx, &code, id, true)
            .await?
            .ok_or_else(|| ApiError::not_found(name))?;
        check_etag(given_etag, row.revision)?;
        if !states.contains(&row.state.as_str()) {
            return Err(Refusal::new(
                "PROCUREMENT_STATE",
                format!(
                    "the procurement is {}; this needs {}",
                    row.state,
                    states.join(" or ")
                ),
            )
            .into());
        }
        Ok((req, row))
    }

    pub(super) async fn record_offer(
        &self,
        request: Request<RecordOfferRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let body = request.into_inner();
        let price = positive_price(body.offered_hourly_price.as_ref(), "offered_hourly_price")?;
        if body.note.chars().count() > MAX_NOTE {
            return Err(ApiError::invalid("note", "at most 4000 characters"));
        }
        let mut tx = self.store.begin().await?;
        let (req, row) = self
            .locked_procurement(
                &mut tx,
                &caller.principal,
                &body.name,
                &body.etag,
                &["REQUESTED", "OFFERED"],
            )
            .await?;
        let row = self
            .store
            .update_procurement(
                &mut tx,
                &ProcurementRow {
                    state: "OFFERED".into(),
                    offered_hourly_ore: Some(price),
                    offer_note: body.note.trim().to_owned(),
                    ..row
                },
            )
            .await?;
        caller
            .wrote(
                &mut tx,
                "RecordOffer",
                Action::Update,
                &body.name,
                &row.municipality,
                &req.person,
            )
            .await?;
        tx.commit().await?;
        Ok(procurement_to_proto(row))
    }

    pub(super) async fn order_procurement(
        &self,
        request: Request<OrderProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let body = request.into_inner();
        let price = positive_price(body.agreed_hourly_price.as_ref(), "agreed_hourly_price")?;
        let mut tx = self.store.begin().await?;
        let (req, row) = self
            .locked_procurement(
                &mut tx,
                &caller.principal,
                &body.name,
                &body.etag,
                &["REQUESTED", "OFFERED"],
            )
            .await?;
        let next = req.state.order()?;
        let row = self
            .store
            .update_procurement(
                &mut tx,
                &ProcurementRow {
                    state: "ORDERED".into(),
                    agreed_hourly_ore: Some(price),
                    order_time: Some(self.clock.now()),
                    ..row
                },
            )
            .await?;
        let code = row.municipality.clone();
        self.store
            .step_request(
                &mut tx,
                &code,
                &row.request,
                &RequestStep {
                    state: next,
                    assignment_id: None,
                    procurement_id: Some(&row.id),
                    proposed: None,
                },
            )
            .await?;
        let ordered = ProcurementOrdered {
            procurement: body.name.clone(),
            matching_request: request_name(&code, &row.request),
            grant: grant_name(&code, &row.request),
            municipality: code.clone(),
            provider: format!("providers/{}", row.provider_id),
            contract: row
                .contract_id
                .as_deref()
                .map(|c| format!("providers/{}/contracts/{c}", row.provider_id))
                .unwrap_or_default(),
            agreed_hourly_price: money(Some(price)),
            minutes_per_week: row.minutes_per_week,
            reason: ProcurementReason::from_str_name(&format!("PROCUREMENT_REASON_{}", row.reason))
                .unwrap_or(ProcurementReason::Unspecified) as i32,
        };
        outbox::write(
            &mut tx,
            SCHEMA,
            &NewEvent::new(&ordered, Some(code.clone()), &body.name),
        )
        .await?;
        caller
            .wrote(
                &mut tx,
                "OrderProcurement",
                Action::Update,
                &body.name,
                &code,
                &req.person,
            )
            .await?;
        tx.commit().await?;
        Ok(procurement_to_proto(row))
    }

    pub(super) async fn cancel_procurement(
        &self,
        request: Request<CancelProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let body = request.into_inner();
        let mut tx = self.store.begin().await?;
        let (req, row) = self
            .locked_procurement(
                &mut tx,
                &caller.principal,
                &body.name,
                &body.etag,
                &["REQUESTED", "OFFERED"],
            )
            .await?;
        let row = self
            .store
            .update_procurement(
                &mut tx,
                &ProcurementRow {
                    state: "CANCELLED".into(),
                    ..row
                },
            )
            .await?;
        let next = req.state.cancel_procurement();
        if next != req.state {
            self.store
                .step_request(
                    &mut tx,
                    &row.municipality,
                    &row.request,
                    &RequestStep {
                        state: next,
                        assignment_id: None,
                        procurement_id: None,
                        proposed: None,
                    },
                )
                .await?;
        }
        caller
            .wrote(
                &mut tx,
                "CancelProcurement",
                Action::Update,
                &body.name,
                &row.municipality,
                &req.person,
            )
            .await?;
        tx.commit().await?;
        Ok(procurement_to_proto(row))
    }
}

fn positive_price(money: Option<&Money>, field: &str) -> Result<i64, ApiError> {
    match money.map(|m| m.ore) {
        Some(ore) if ore > 0 && ore <= 10_000_000 => Ok(ore),
        _ => Err(ApiError::invalid(
            field,
            "required, above 0 and at most DKK 100,000.00 (in øre)",
        )),
    }
}
