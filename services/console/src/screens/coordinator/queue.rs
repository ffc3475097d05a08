//! The coordinator's queue of open matching requests (oldest first) and the unmet demand.

use axum::extract::State;
use kontakt_proto::matching::v1 as m;
use maud::html;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::page;
use crate::web::{Answer, AppState, Signed, or_page};

use super::*;

/// `GET /koordinator`: every open request of the coordinator's municipalities, oldest first,
/// and the unmet demand.
pub async fn queue(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let current = "/koordinator";
    // The oldest open requests of each municipality in each open state, merged: the first
    // page of each list, never the whole history.
    let mut calls = Vec::new();
    for code in &session.person.municipalities {
        for wanted in OPEN_STATES {
            let mut client = state.services.matching();
            let call = request(
                &session,
                PURPOSE,
                m::ListMatchingRequestsRequest {
                    parent: format!("municipalities/{code}"),
                    page_size: QUEUE_SIZE as i32,
                    page_token: String::new(),
                    state: wanted as i32,
                },
            );
            calls.push(async move { client.list_matching_requests(call).await });
        }
    }
    let mut requests = Vec::new();
    let mut more = false;
    for answer in futures_util::future::join_all(calls).await {
        let page = or_page(answer, &session, Which::Matching, current)?;
        more |= !page.next_page_token.is_empty();
        requests.extend(page.matching_requests);
    }
    requests.sort_by_key(|r| r.create_time.as_ref().map_or(0, |t| t.seconds));
    more |= requests.len() > QUEUE_SIZE;
    requests.truncate(QUEUE_SIZE);
    let names = state.competence_names(&session).await;
    let children = crate::grpc::person_names(
        &state.services,
        &session,
        PURPOSE,
        requests.iter().map(|r| r.person.as_str()),
    )
    .await;
    let body = html! {
        p.muted { "Ældste først. Vælg en anmodning for at se de bedst egnede kontaktpersoner." }
        @if more { p { "Viser de " (requests.len()) " ældste åbne anmodninger." } }
        p { a href="/koordinator/udaekket" { "Se udækket behov" } " – anmodninger, som ingen kan tage i dag." }
        @if requests.is_empty() {
            div.notice { p { "Der er ingen åbne anmodninger." } }
        } @else {
            div.table-wrap tabindex="0" {
                table {
                    caption.visually-hidden { "Åbne anmodninger" }
                    thead { tr {
                        th scope="col" { "Barn" }
                        th scope="col" { "Anmodning" }
                        th scope="col" { "Kommune" }
                        th.num scope="col" { "Dage åben" }
                        th.num scope="col" { "Timer" }
                        th scope="col" { "Behov" }
                        th scope="col" { "Start" }
                        th scope="col" { "Status" }
                    } }
                    tbody {
                        @for r in &requests {
                            tr data-request=(r.name) {
                                td { a href=(request_path(&r.name)) { (children.get(&r.person).map_or("Barn", String::as_str)) } }
                                td { (short_id(&r.name)) }
                                td { (format::municipality(r.name.split('/').nth(1).unwrap_or(""))) }
                                td.num { (days_open(&state, r.create_time.as_ref())) }
                                td.num { (format::hours_per_week(r.minutes_per_week)) }
                                td { @if let Some(needs) = &r.needs { (competences(&names, &needs.competences)) } }
                                td { (format::proto_date(r.start_date.as_ref())) }
                                td { (state_label(r.state)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&session, "Matchning", current, body))
}

/// `GET /koordinator/udaekket`: requests nobody can take today (R-MP-5), longest open first.
pub async fn unmet(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let current = "/koordinator/udaekket";
    let mut unmet = Vec::new();
    for code in &session.person.municipalities {
        let demand = or_page(
            state
                .services
                .matching()
                .list_unmet_demand(request(
                    &session,
                    PURPOSE,
                    m::ListUnmetDemandRequest {
                        parent: format!("municipalities/{code}"),
                    },
                ))
                .await,
            &session,
            Which::Matching,
            current,
        )?;
        unmet.extend(demand.demands);
    }
    unmet.sort_by_key(|d| std::cmp::Reverse(d.age_days));
    let total = unmet.len();
    unmet.truncate(QUEUE_SIZE);
    let names = state.competence_names(&session).await;
    let body = html! {
        @if total > unmet.len() { p { "Viser de " (unmet.len()) " af " (total) ", der har været åbne længst." } }
        @if unmet.is_empty() {
            p { "Intet udækket behov: alle åbne anmodninger har mindst én egnet kandidat." }
        } @else {
            p.muted { "Anmodninger, som ingen kan tage i dag (R-MP-5): det, der mangler, er det, der skal rekrutteres." }
            div.table-wrap tabindex="0" {
                table {
                    thead { tr {
                        th scope="col" { "Anmodning" }
                        th.num scope="col" { "Dage åben" }
                        th.num scope="col" { "Timer" }
                        th scope="col" { "Mangler" }
                        th.num scope="col" { "Delvise kandidater" }
                    } }
                    tbody {
                        @for d in &unmet {
                            tr {
                                td { a href=(request_path(&d.matching_request)) { (short_id(&d.matching_request)) } }
                                td.num { (d.age_days) }
                                td.num { (format::hours_per_week(d.minutes_per_week)) }
                                td { (competences(&names, &d.missing_competences)) }
                                td.num { (d.partial_candidates) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&session, "Udækket behov", current, body))
}
