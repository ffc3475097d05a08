//! Buying from a provider: request → offer → order, on the request's page.

use crate::web::Form;

use axum::extract::{Path, State};
use axum::response::Response;
use kontakt_proto::common::v1::Money;
use kontakt_proto::matching::v1 as m;
use maud::{Markup, html};
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::field;
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{AppState, Signed, check_csrf, or_page};

use super::request::request_page;
use super::*;

fn procurement_label(state: i32) -> &'static str {
    match m::ProcurementState::try_from(state) {
        Ok(m::ProcurementState::Requested) => "Forespurgt",
        Ok(m::ProcurementState::Offered) => "Tilbud modtaget",
        Ok(m::ProcurementState::Ordered) => "Bestilt",
        Ok(m::ProcurementState::Cancelled) => "Annulleret",
        _ => "–",
    }
}

pub(super) fn procurement_section(
    session: &Session,
    current: &str,
    req: &m::MatchingRequest,
    procurement: Option<&m::Procurement>,
    providers: &[m::Provider],
    problem: Option<&Problem>,
) -> Markup {
    html! {
        h2 { "Indkøb hos leverandør" }
        @if let Some(p) = procurement {
            div.card data-procurement=(p.name) {
                p { "Status: " strong { (procurement_label(p.state)) } " · " (p.provider.rsplit('/').next().unwrap_or("")) }
                @if let Some(price) = &p.offered_hourly_price { p { "Tilbudt timepris: " (format::kroner(price.ore)) } }
                @if let Some(price) = &p.agreed_hourly_price { p { "Aftalt timepris: " (format::kroner(price.ore)) } }
                @match m::ProcurementState::try_from(p.state) {
                    Ok(m::ProcurementState::Requested) => {
                        form method="post" action={(current) "/tilbud"} {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="etag" value=(p.etag);
                            (field(problem, "offered_hourly_price", "Tilbudt timepris (kr.)", Some("Fx 450,00"),
                                html! { input id="offered_hourly_price" name="price" inputmode="decimal" required; }))
                            (field(problem, "note", "Note", None, html! { input id="note" name="note" type="text"; }))
                            button type="submit" { "Registrér tilbud" }
                        }
                    }
                    Ok(m::ProcurementState::Offered) => {
                        form method="post" action={(current) "/bestil"} {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="etag" value=(p.etag);
                            (field(problem, "agreed_hourly_price", "Aftalt timepris (kr.)", None,
                                html! { input id="agreed_hourly_price" name="price" inputmode="decimal"
                                    value=(p.offered_hourly_price.as_ref().map(|m| format::kroner_number(m.ore)).unwrap_or_default()) required; }))
                            button type="submit" { "Bestil" }
                        }
                    }
                    Ok(m::ProcurementState::Ordered) => {
                        p { "Bestilt. Tilknyt leverandørens medarbejder som kandidat ovenfor." }
                    }
                    _ => {}
                }
            }
        } @else if !matches!(m::MatchingRequestState::try_from(req.state), Ok(m::MatchingRequestState::Assigned | m::MatchingRequestState::Closed)) {
            form method="post" action={(current) "/indkoeb"} {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="request_id" value=(uuid::Uuid::new_v4().to_string());
                (field(problem, "provider", "Leverandør", None, html! {
                    select id="provider" name="provider" required {
                        @for p in providers { option value=(p.name) { (p.display_name) } }
                    }
                }))
                (field(problem, "reason", "Begrundelse", Some("R-MP-2: leverandører bruges til særlige problemområder eller når egen kapacitet mangler"), html! {
                    select id="reason" name="reason" {
                        option value="1" { "Særligt problemområde" }
                        option value="2" { "Ingen ledig kapacitet" }
                    }
                }))
                (field(problem, "reason_note", "Uddybning", None, html! { textarea id="reason_note" name="reason_note" {} }))
                button.secondary type="submit" { "Forespørg hos leverandør" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ProcurementForm {
    #[serde(default)]
    csrf: String,
    request_id: String,
    provider: String,
    reason: i32,
    #[serde(default)]
    reason_note: String,
}

/// `POST …/indkoeb`: asks a provider.
pub async fn procure(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<ProcurementForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let matching_request = format!("municipalities/{code}/matchingRequests/{id}");
    let result = state
        .services
        .matching()
        .create_procurement(request(
            &session,
            PURPOSE,
            m::CreateProcurementRequest {
                parent: format!("municipalities/{code}"),
                procurement: Some(m::Procurement {
                    matching_request: matching_request.clone(),
                    provider: form.provider,
                    reason: form.reason,
                    reason_note: form.reason_note,
                    ..m::Procurement::default()
                }),
                request_id: form.request_id,
            },
        ))
        .await;
    after(
        &state,
        &session,
        &code,
        &id,
        result.map(|_| ()),
        "Forespørgslen er sendt til leverandøren.",
    )
    .await
}

#[derive(Deserialize)]
pub struct PriceForm {
    #[serde(default)]
    csrf: String,
    etag: String,
    price: String,
    #[serde(default)]
    note: String,
}

/// `POST …/tilbud`: records the provider's offer.
pub async fn offer(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<PriceForm>,
) -> Response {
    procurement_step(state, session, code, id, form, false).await
}

/// `POST …/bestil`: orders at the agreed price.
pub async fn order(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<PriceForm>,
) -> Response {
    procurement_step(state, session, code, id, form, true).await
}

async fn procurement_step(
    state: AppState,
    session: Session,
    code: String,
    id: String,
    form: PriceForm,
    order: bool,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let field_name = if order {
        "agreed_hourly_price"
    } else {
        "offered_hourly_price"
    };
    let Some(ore) = format::parse_kroner(&form.price) else {
        let problem = Problem::invalid(field_name, "Skriv beløbet i kroner, fx 450,00.");
        return answer(request_page(&state, &session, &code, &id, Some(&problem), None).await);
    };
    let current = format!("/koordinator/anmodning/{code}/{id}");
    let req = match or_page(
        state
            .services
            .matching()
            .get_matching_request(request(
                &session,
                PURPOSE,
                m::GetMatchingRequestRequest {
                    name: format!("municipalities/{code}/matchingRequests/{id}"),
                },
            ))
            .await,
        &session,
        Which::Matching,
        &current,
    ) {
        Ok(req) => req,
        Err(response) => return response,
    };
    let mut matching = state.services.matching();
    let result = if order {
        matching
            .order_procurement(request(
                &session,
                PURPOSE,
                m::OrderProcurementRequest {
                    name: req.procurement,
                    agreed_hourly_price: Some(Money { ore }),
                    etag: form.etag,
                },
            ))
            .await
    } else {
        matching
            .record_offer(request(
                &session,
                PURPOSE,
                m::RecordOfferRequest {
                    name: req.procurement,
                    offered_hourly_price: Some(Money { ore }),
                    note: form.note,
                    etag: form.etag,
                },
            ))
            .await
    };
    let notice = if order {
        "Bestilt hos leverandøren."
    } else {
        "Tilbuddet er registreret."
    };
    after(&state, &session, &code, &id, result.map(|_| ()), notice).await
}

async fn after(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    result: Result<(), tonic::Status>,
    notice: &str,
) -> Response {
    match result {
        Ok(_) => answer(request_page(state, session, code, id, None, Some(notice)).await),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Matching);
            answer(request_page(state, session, code, id, Some(&problem), None).await)
        }
    }
}
