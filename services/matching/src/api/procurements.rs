//! Procurements: buying a contact person from an external provider (R-MP-2), from request
//! through offer to order; the ordered provider's person is then assigned.

use kontakt_platform::ApiError;
use kontakt_platform::audit::{Action, Caller};
use kontakt_platform::auth::Principal;
use kontakt_platform::outbox::{self, NewEvent};
use kontakt_platform::resource::{self, check_etag, etag, scoped, scoped_parent};
use kontakt_platform::units::Ore;
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1 as proto;
use kontakt_proto::matching::v1::{
    CancelProcurementRequest, CreateProcurementRequest, GetProcurementRequest,
    OrderProcurementRequest, Procurement, ProcurementOrdered, ProcurementReason,
    RecordOfferRequest,
};
use tonic::Request;

use super::{MAX_NOTE, MAX_WEEK_MINUTES, MatchingApi, Tx, money, new_id, timestamp};
use crate::SCHEMA;
use crate::domain::procurement::ProcurementState;
use crate::store::{ProcurementRow, RequestRow, RequestStep};
use kontakt_proto::names;

/// A procurement state as the proto names it.
fn state_to_proto(state: ProcurementState) -> proto::ProcurementState {
    match state {
        ProcurementState::Requested => proto::ProcurementState::Requested,
        ProcurementState::Offered => proto::ProcurementState::Offered,
        ProcurementState::Ordered => proto::ProcurementState::Ordered,
        ProcurementState::Cancelled => proto::ProcurementState::Cancelled,
    }
}

fn procurement_to_proto(row: ProcurementRow) -> Procurement {
    let m = &row.municipality;
    Procurement {
        name: names::procurement(m, &row.id),
        matching_request: names::matching_request(m, &row.request),
        provider: format!("providers/{}", row.provider_id),
        contract: row
            .contract_id
            .as_deref()
            .map(|c| format!("providers/{}/contracts/{c}", row.provider_id))
            .unwrap_or_default(),
        agreed_hourly_price: money(row.agreed_hourly_ore),
        reason: reason_of(&row.reason) as i32,
        reason_note: row.reason_note,
        order_time: row.order_time.map(timestamp),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
        etag: etag(row.revision),
        state: state_to_proto(row.state) as i32,
        minutes_per_week: row.minutes_per_week,
        offered_hourly_price: money(row.offered_hourly_ore),
        offer_note: row.offer_note,
    }
}

impl MatchingApi {
    pub(super) async fn start_procurement(
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
            names::MATCHING_REQUESTS,
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
            .by_request_id::<ProcurementRow>(&mut tx, &code, &body.request_id)
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
                    state: ProcurementState::Requested,
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
                    procurement_id: Some(&row.id),
                    ..RequestStep::to(next)
                },
            )
            .await?;
        let name = names::procurement(&code, &row.id);
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

    pub(super) async fn procurement(
        &self,
        request: Request<GetProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let name = &request.get_ref().name;
        let (m, id) = scoped(&caller.principal, name, names::PROCUREMENTS, "name")?;
        let code = m.to_string();
        let mut conn = self.store.conn().await?;
        let row = self
            .store
            .get_by_id::<ProcurementRow>(&mut conn, &code, id, false)
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

    /// A procurement and its request, locked (request first), etag checked.
    async fn locked_procurement(
        &self,
        tx: &mut Tx,
        principal: &Principal,
        name: &str,
        given_etag: &str,
    ) -> Result<(RequestRow, ProcurementRow), ApiError> {
        let (req, row) = self
            .locked_with_request::<ProcurementRow>(tx, principal, names::PROCUREMENTS, name)
            .await?;
        check_etag(given_etag, row.revision)?;
        Ok((req, row))
    }

    pub(super) async fn offer(
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
            .locked_procurement(&mut tx, &caller.principal, &body.name, &body.etag)
            .await?;
        let row = self
            .store
            .update_procurement(
                &mut tx,
                &ProcurementRow {
                    state: row.state.offer()?,
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

    pub(super) async fn order(
        &self,
        request: Request<OrderProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let body = request.into_inner();
        let price = positive_price(body.agreed_hourly_price.as_ref(), "agreed_hourly_price")?;
        let mut tx = self.store.begin().await?;
        let (req, row) = self
            .locked_procurement(&mut tx, &caller.principal, &body.name, &body.etag)
            .await?;
        let state = row.state.order()?;
        let next = req.state.order()?;
        let row = self
            .store
            .update_procurement(
                &mut tx,
                &ProcurementRow {
                    state,
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
                    procurement_id: Some(&row.id),
                    ..RequestStep::to(next)
                },
            )
            .await?;
        let ordered = ProcurementOrdered {
            procurement: body.name.clone(),
            matching_request: names::matching_request(&code, &row.request),
            grant: names::grant(&code, &row.request),
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

    pub(super) async fn cancel(
        &self,
        request: Request<CancelProcurementRequest>,
    ) -> Result<Procurement, ApiError> {
        let caller = Caller::of(&request, "procurement")?;
        let body = request.into_inner();
        let mut tx = self.store.begin().await?;
        let (req, row) = self
            .locked_procurement(&mut tx, &caller.principal, &body.name, &body.etag)
            .await?;
        let row = self
            .store
            .update_procurement(
                &mut tx,
                &ProcurementRow {
                    state: row.state.cancel()?,
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
                    &RequestStep::to(next),
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
    Ore::hourly_price(money).map(Ore::get).ok_or_else(|| {
        ApiError::invalid(
            field,
            "required, above 0 and at most DKK 100,000.00 (in øre)",
        )
    })
}

/// A stored reason code (`NO_CAPACITY`) as the wire's enum; UNSPECIFIED when unknown.
pub(super) fn reason_of(code: &str) -> ProcurementReason {
    ProcurementReason::from_str_name(&format!("PROCUREMENT_REASON_{code}"))
        .unwrap_or(ProcurementReason::Unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_procurement_state_has_its_proto_name() {
        for state in ProcurementState::ALL {
            assert_eq!(
                state_to_proto(state).as_str_name(),
                format!("PROCUREMENT_STATE_{state}")
            );
        }
    }
}
