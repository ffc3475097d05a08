//! Proposals: the candidates for a request, ranked and explained (R-MP-1, R-MP-3), and the
//! demand nobody can take (R-MP-5).

use chrono::NaiveDate;
use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{scoped, scoped_parent};
use kontakt_proto::matching::v1::{
    CandidateProposal, CertificateResult, DemandUnmet, ExcludedCandidate, ExclusionReason, Gender,
    ListUnmetDemandRequest, ListUnmetDemandResponse, ProposeCandidatesRequest,
    ProposeCandidatesResponse, ScoreFactor, UnmetDemand,
};
use tonic::Request;

use super::people::{employment_of, parse_person};
use super::{MatchingApi, competence_names, needs_of, timestamp};
use crate::SCHEMA;
use crate::domain::people::hourly_hire_cost_ore;
use crate::domain::ranking::{self, Candidate, Certificate, Demand, Exclusion};
use crate::domain::request::RequestState;
use crate::store::{CandidateRow, Pool, RequestRow, RequestStep};
use kontakt_proto::names;

/// A stored candidate as ranking sees it; `child` is the request's child (continuity).
fn candidate(row: &CandidateRow, child: &str) -> Candidate {
    let employment = employment_of(&row.employment);
    Candidate {
        id: names::contact_person(&row.unit, &row.id),
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
            issued: row.certificate_issue,
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
        certificate_rule: row.certificate_rule(),
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
    pub(super) async fn propose(
        &self,
        request: Request<ProposeCandidatesRequest>,
    ) -> Result<ProposeCandidatesResponse, ApiError> {
        let caller = Caller::of(&request, "matching")?;
        let body = request.into_inner();
        let (m, id) = scoped(
            &caller.principal,
            &body.matching_request,
            names::MATCHING_REQUESTS,
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
                    certificate: row.certificate_rule(),
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
                        proposed,
                        ..RequestStep::to(state)
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
                grant: names::grant(&row.municipality, id),
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

    pub(super) async fn unmet_demand(
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
                    certificate: Default::default(),
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
                ranking::unmet_among(&demand, &candidates).map(|u| UnmetDemand {
                    minutes_per_week: row.minutes_per_week,
                    missing_competences: competence_names(&u.missing_competences),
                    partial_candidates: i32::try_from(u.partial_candidates).unwrap_or(i32::MAX),
                    ..UnmetDemand::default()
                })
            };
            if let Some(entry) = entry {
                demands.push(UnmetDemand {
                    matching_request: names::matching_request(&code, &row.id),
                    grant: names::grant(&code, &row.id),
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
}
