//! The frame's yearly evaluation (R-FU-5), prepared by the coordinator and finance for the
//! committee: the year per municipality, category and month, hours granted against delivered,
//! purchases by provider and reason, unmet demand; as a page that prints as the committee's
//! document (the browser's print to PDF), as XLSX, and the committee's decision recorded.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::followup::v1 as f;
use kontakt_proto::matching::v1 as m;
use kontakt_proto::timecost::v1 as t;
use maud::{Markup, html};
use serde::Deserialize;

use crate::budget_files::{Evaluation, Unmet, evaluation_xlsx, free, reason_label};
use crate::format;
use crate::grpc::{Which, request};
use crate::page::{field, page_with_status, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Form, Signed, check_csrf, or_page};

use super::finance::{download, frame_id, frame_of, no_such_frame};

const PURPOSE: &str = "console: yearly frame evaluation";

/// What the page and the workbook are made of.
struct Gathered {
    frame: String,
    /// The frame's amounts decided for later years (R-BF-1).
    amounts: Vec<t::FrameAmount>,
    dataset: t::FrameEvaluation,
    /// The follow-up service's record of the evaluation: due date, committee, decision.
    record: Option<f::FrameEvaluation>,
    /// When the frame's evaluations are due and to which committee they go.
    settings: Option<f::FrameEvaluationSettings>,
    unmet: Option<Vec<Unmet>>,
    providers: BTreeMap<String, String>,
}

impl Gathered {
    /// The document the page and the workbook are drawn from.
    fn document(&self) -> Evaluation<'_> {
        Evaluation {
            frame: &self.frame,
            dataset: &self.dataset,
            unmet: self.unmet.as_deref(),
            providers: &self.providers,
        }
    }
}

fn path(id: &str, year: i32) -> String {
    format!("/oekonomi/{id}/evaluering/{year}")
}

fn parse_year(text: &str) -> Option<i32> {
    text.parse().ok().filter(|y| (1990..=2199).contains(y))
}

async fn gather(
    state: &AppState,
    session: &Session,
    id: &str,
    year: i32,
) -> Result<Gathered, Response> {
    let current = path(id, year);
    let services = &state.services;
    let dataset = or_page(
        services
            .timecost()
            .get_frame_evaluation(request(
                session,
                PURPOSE,
                t::GetFrameEvaluationRequest {
                    name: format!("frames/{id}/evaluations/{year}"),
                },
            ))
            .await,
        session,
        Which::Timecost,
        &current,
    )?;
    let (frame, amounts) = frame_of(state, session, PURPOSE, id)
        .await
        .map(|f| (f.display_name, f.amounts))
        .unwrap_or_default();
    let frame = if frame.is_empty() {
        id.to_owned()
    } else {
        frame
    };
    let record = services
        .followup()
        .list_frame_evaluations(request(
            session,
            PURPOSE,
            f::ListFrameEvaluationsRequest {
                parent: format!("frames/{id}"),
            },
        ))
        .await
        .map_err(|status| tracing::warn!(code = ?status.code(), "the evaluation's record"))
        .ok()
        .and_then(|r| {
            r.into_inner()
                .frame_evaluations
                .into_iter()
                .find(|e| e.year == year)
        });
    let settings = services
        .followup()
        .get_frame_evaluation_settings(request(
            session,
            PURPOSE,
            f::GetFrameEvaluationSettingsRequest {
                name: format!("frames/{id}/evaluationSettings"),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
        .ok();
    // Unmet demand is the coordinator's to see (matching's access table); finance reads the
    // document without it.
    let mut lines = Vec::new();
    for code in dataset.municipalities.iter().map(|m| &m.municipality) {
        let answer = services
            .matching()
            .list_unmet_demand(request(
                session,
                PURPOSE,
                m::ListUnmetDemandRequest {
                    parent: format!("municipalities/{code}"),
                },
            ))
            .await;
        match answer {
            Ok(list) => {
                let demands = list.into_inner().demands;
                lines.push(Unmet {
                    municipality: code.clone(),
                    requests: demands.len(),
                    minutes_per_week: demands.iter().map(|d| i64::from(d.minutes_per_week)).sum(),
                });
            }
            Err(status) => {
                if status.code() != tonic::Code::PermissionDenied {
                    tracing::warn!(code = ?status.code(), "unmet demand for the evaluation");
                }
                break;
            }
        }
    }
    let unmet = (lines.len() == dataset.municipalities.len()).then_some(lines);
    let mut providers = BTreeMap::new();
    for name in dataset.purchases.iter().map(|p| &p.provider) {
        if providers.contains_key(name) {
            continue;
        }
        if let Ok(provider) = services
            .matching()
            .get_provider(request(
                session,
                PURPOSE,
                m::GetProviderRequest { name: name.clone() },
            ))
            .await
        {
            providers.insert(name.clone(), provider.into_inner().display_name);
        }
    }
    Ok(Gathered {
        frame,
        amounts,
        dataset,
        record,
        settings,
        unmet,
        providers,
    })
}

#[derive(Deserialize)]
pub struct Shown {
    #[serde(default)]
    afgjort: String,
    #[serde(default)]
    indstillinger: String,
}

/// `GET /oekonomi/{frame}/evaluering/{year}`.
pub async fn show(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, year)): Path<(String, String)>,
    Query(shown): Query<Shown>,
) -> Answer {
    let (Some(id), Some(year)) = (frame_id(&id), parse_year(&year)) else {
        return Err(no_such_frame(&session));
    };
    let gathered = gather(&state, &session, id, year).await?;
    Ok(evaluation_page(
        &state,
        &session,
        id,
        &gathered,
        Saved {
            decision: !shown.afgjort.is_empty(),
            settings: !shown.indstillinger.is_empty(),
        },
        None,
    ))
}

/// What stopped a decision or a change of settings; a decision's form is shown again as it
/// was typed.
struct Refused<'a> {
    problem: &'a Problem,
    typed: Option<&'a DecisionForm>,
}

/// What the page was reached after saving.
#[derive(Default)]
struct Saved {
    decision: bool,
    settings: bool,
}

fn evaluation_page(
    state: &AppState,
    session: &Session,
    id: &str,
    g: &Gathered,
    saved: Saved,
    refused: Option<&Refused<'_>>,
) -> crate::page::Page {
    let problem = refused.map(|r| r.problem);
    let current = path(id, g.dataset.year);
    let e = g.document();
    let d = &g.dataset;
    let municipalities = e.municipalities();
    let body = html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        @if saved.decision { div.notice role="status" { p { "Udvalgets beslutning er gemt." } } }
        @if saved.settings { div.notice role="status" { p { "Frist og udvalg er gemt." } } }
        @if let Some(r) = g.record.as_ref().filter(|r| r.state == f::FrameEvaluationState::Overdue as i32) {
            div.warning role="status" { p {
                strong { "Overskredet:" } " evalueringen skulle have været klar " (format::proto_date(r.due_date.as_ref())) "."
            } }
        }
        p {
            "Opgjort pr. " (format::proto_date(d.as_of.as_ref())) "."
            @if let Some(r) = &g.record {
                " Forelægges " (r.committee) " senest " (format::proto_date(r.due_date.as_ref())) "."
            }
        }
        div.actions {
            a.button.secondary href={(current) "/evaluering.xlsx"} download { "Hent Excel (XLSX)" }
            a.button.secondary href={"/oekonomi/" (id)} { "Til budgettet" }
        }
        p.muted.no-print { "Udskriv siden fra browseren (Ctrl+P) for at gemme den som PDF til udvalget." }
        h2 { "Rammen" }
        div.card { dl {
            dt { "Rammen (indekseret)" } dd { (format::money(d.indexed_amount.as_ref())) }
            dt { "Forbrugt" } dd data-evaluation-spent=(d.spent.as_ref().map_or(0, |m| m.ore)) { (format::money(d.spent.as_ref())) }
            dt { "Disponeret resten af året" } dd { (format::money(d.committed.as_ref())) }
            dt { "Fri" } dd { (format::kroner(free(d))) }
            dt { "Forløb i året" } dd { (d.arrangements) }
            dt { "Bevilgede timer" } dd { (format::minutes(d.granted_minutes)) }
            dt { "Leverede timer" } dd { (format::minutes(d.delivered_minutes)) }
        } }
        h2 { "Kommunerne" }
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { "Kommune" } th.num scope="col" { "Andel" } th.num scope="col" { "Forventet" }
                th.num scope="col" { "Forbrugt" } th.num scope="col" { "Disponeret" } th.num scope="col" { "Fri" }
                th.num scope="col" { "Forløb" } th.num scope="col" { "Bevilgede timer" } th.num scope="col" { "Leverede timer" }
            } }
            tbody { @for mu in &d.municipalities {
                @let expected = mu.expected.as_ref().map_or(0, |m| m.ore);
                @let spent = mu.spent.as_ref().map_or(0, |m| m.ore);
                @let committed = mu.committed.as_ref().map_or(0, |m| m.ore);
                tr data-municipality=(mu.municipality) data-spent-ore=(spent) {
                    th scope="row" { (format::municipality(&mu.municipality)) }
                    td.num { @if let Some(s) = &mu.share { (s.numerator) "/" (s.denominator) } }
                    td.num { (format::kroner(expected)) }
                    td.num { (format::kroner(spent)) }
                    td.num { (format::kroner(committed)) }
                    td.num { (format::kroner(expected - spent - committed)) }
                    td.num { (mu.arrangements) }
                    td.num { (format::minutes(mu.granted_minutes)) }
                    td.num { (format::minutes(mu.delivered_minutes)) }
                }
            } }
        } }
        h2 { "Forbrug efter kategori" }
        (rows_table("Kategori", &municipalities, &e.category_rows(), format::kroner))
        h2 { "Måned for måned" }
        @let months = e.month_rows();
        @if months.is_empty() { p { "Der er intet forbrug i året endnu." } }
        @else {
            (rows_table("Måned", &municipalities, &months, format::kroner))
            h3 { "Leverede timer måned for måned" }
            (rows_table("Måned", &municipalities, &e.month_minutes(), format::minutes))
        }
        h2 { "Køb hos eksterne leverandører" }
        @if d.purchases.is_empty() { p { "Der er ikke købt kontaktpersoner hos leverandører i året." } }
        @else {
            div.table-wrap tabindex="0" { table {
                thead { tr {
                    th scope="col" { "Kommune" } th scope="col" { "Leverandør" } th scope="col" { "Begrundelse" }
                    th.num scope="col" { "Forløb" } th.num scope="col" { "Timer" } th.num scope="col" { "Beløb" }
                } }
                tbody { @for p in &d.purchases {
                    tr data-purchase=(p.provider) {
                        td { (format::municipality(&p.municipality)) }
                        td { (e.provider_name(&p.provider)) }
                        td { (reason_label(&p.reason)) }
                        td.num { (p.assignments) }
                        td.num { (format::minutes(p.minutes)) }
                        td.num { (format::money(p.amount.as_ref())) }
                    }
                } }
            } }
        }
        h2 { "Udækket behov i dag" }
        @match &g.unmet {
            Some(lines) => {
                div.table-wrap tabindex="0" { table {
                    thead { tr { th scope="col" { "Kommune" } th.num scope="col" { "Anmodninger uden kontaktperson" } th.num scope="col" { "Timer om ugen" } } }
                    tbody { @for u in lines {
                        tr data-unmet=(u.municipality) {
                            th scope="row" { (format::municipality(&u.municipality)) }
                            td.num { (u.requests) }
                            td.num { (format::minutes(u.minutes_per_week)) }
                        }
                    } }
                } }
            }
            None => { p.muted { "Udækket behov ses af koordinatoren; bed koordinatoren om tallet til evalueringen." } }
        }
        h2 { "Udvalgets beslutning" }
        (decision(state, session, &current, g, refused.filter(|r| r.typed.is_some())))
        @if let Some(next) = g.amounts.iter().find(|a| a.from_year == d.year + 1) {
            p data-next-amount=(next.base_amount.as_ref().map_or(0, |m| m.ore)) {
                "Rammen for " (next.from_year) " er sat til " (format::money(next.base_amount.as_ref()))
                " i " (next.base_year) "-priser (" (next.decision) ")."
            }
        }
        @if let Some(settings) = &g.settings {
            h2 { "Frist og udvalg" }
            (settings_section(session, &current, settings, refused.filter(|r| r.typed.is_none()).map(|r| r.problem)))
        }
    };
    let status = problem.map_or(axum::http::StatusCode::OK, Problem::http_status);
    page_with_status(session, status, &e.title(), &current, body)
}

/// A table with a row per category or month and a column per municipality and the total,
/// each figure written by `show` (kroner, or minutes as hours).
fn rows_table(
    first: &str,
    municipalities: &[&str],
    rows: &[crate::budget_files::Row],
    show: fn(i64) -> String,
) -> Markup {
    html! {
        div.table-wrap tabindex="0" { table {
            thead { tr {
                th scope="col" { (first) }
                @for code in municipalities { th.num scope="col" { (format::municipality(code)) } }
                th.num scope="col" { "I alt" }
            } }
            tbody { @for row in rows {
                tr {
                    th scope="row" { (row.label) }
                    @for value in &row.per_municipality { td.num { (show(*value)) } }
                    td.num { strong { (show(row.total)) } }
                }
            } }
        } }
    }
}

fn decision(
    state: &AppState,
    session: &Session,
    current: &str,
    g: &Gathered,
    refused: Option<&Refused<'_>>,
) -> Markup {
    let problem = refused.map(|r| r.problem);
    let typed = refused.and_then(|r| r.typed);
    let next_year = g.dataset.year + 1;
    let Some(record) = g.record.as_ref() else {
        return html! { p.muted { "Opfølgningsservicen har ingen evaluering af rammen for året." } };
    };
    if record.state == f::FrameEvaluationState::Completed as i32 {
        return html! {
            div.card data-decision="completed" { dl {
                dt { "Udvalg" } dd { (record.committee) }
                dt { "Besluttet" } dd { (format::proto_date(record.completed_date.as_ref())) }
                dt { "Beslutning" } dd { (record.summary) }
            } }
        };
    }
    let today = state.today().format("%Y-%m-%d").to_string();
    let committee = typed.map_or(record.committee.as_str(), |t| t.committee.as_str());
    let summary = typed.map_or("", |t| t.summary.as_str());
    let completed = typed.map_or(today.as_str(), |t| t.completed_date.as_str());
    let next_amount = typed.map_or("", |t| t.next_amount.as_str());
    html! {
        form method="post" action={(current) "/beslutning"} {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="etag" value=(record.etag);
            (field(problem, "committee", "Udvalg", None, html! {
                input id="committee" name="committee" type="text" required maxlength="200" value=(committee);
            }))
            (field(problem, "summary", "Udvalgets beslutning", Some("Fx rammen fortsætter uændret, eller justeres til næste år, og hvorfor."), html! {
                textarea id="summary" name="summary" required maxlength="4000" { (summary) }
            }))
            (field(problem, "completed_date", "Besluttet den", None, html! {
                input id="completed_date" name="completed_date" type="date" required value=(completed);
            }))
            // Finance sets the frame's amount (timecost's SetFrameAmount is finance's).
            @if session.has_role("finance") {
                (field(problem, "base_amount", &format!("Justeret ramme for {next_year} (kr.)"),
                    Some(&format!("I {next_year}-priser, hvis udvalget har justeret rammen. Tomt: rammen fortsætter som i dag.")), html! {
                    input id="base_amount" name="next_amount" type="text" inputmode="decimal"
                        aria-describedby="base_amount-hint" value=(next_amount);
                }))
            }
            button type="submit" { "Gem beslutningen" }
        }
    }
}

/// `GET /oekonomi/{frame}/evaluering/{year}/evaluering.xlsx`.
pub async fn xlsx(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, year)): Path<(String, String)>,
) -> Response {
    let (Some(id), Some(year)) = (frame_id(&id), parse_year(&year)) else {
        return no_such_frame(&session);
    };
    let g = match gather(&state, &session, id, year).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    let e = g.document();
    match evaluation_xlsx(&e) {
        Ok(bytes) => download(
            bytes,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("evaluering-{id}-{year}.xlsx"),
        ),
        Err(err) => {
            tracing::error!(error = %err, "writing the evaluation workbook");
            crate::web::problem_page(
                &session,
                &Problem {
                    status: 500,
                    title: "Regnearket kunne ikke laves".into(),
                    detail: "Udskriv siden i stedet.".into(),
                    ..Default::default()
                },
                &path(id, year),
            )
        }
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    etag: String,
    #[serde(default)]
    committee: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    completed_date: String,
    /// The committee's adjusted frame for the coming year, in kroner; empty when unchanged.
    #[serde(default)]
    next_amount: String,
}

/// `POST /oekonomi/{frame}/evaluering/{year}/beslutning`: the committee's decision (R-FU-5).
pub async fn decide(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, year)): Path<(String, String)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let (Some(id), Some(year)) = (frame_id(&id), parse_year(&year)) else {
        return no_such_frame(&session);
    };
    // The adjusted frame first: setting it again is harmless, so a decision whose recording
    // fails below can simply be sent again.
    if !form.next_amount.trim().is_empty() {
        let set = match format::parse_kroner(&form.next_amount) {
            Some(ore) => state
                .services
                .timecost()
                .set_frame_amount(request(
                    &session,
                    PURPOSE,
                    t::SetFrameAmountRequest {
                        parent: format!("frames/{id}"),
                        frame_amount: Some(t::FrameAmount {
                            from_year: year + 1,
                            base_amount: Some(kontakt_proto::common::v1::Money { ore }),
                            base_year: year + 1,
                            decision: format!("frames/{id}/evaluations/{year}"),
                            ..t::FrameAmount::default()
                        }),
                    },
                ))
                .await
                .map(|_| ())
                .map_err(|status| Problem::from_status(&status, Which::Timecost)),
            None => Err(Problem::invalid(
                "frame_amount.base_amount",
                "Skriv beløbet i kroner, fx 4.500.000",
            )),
        };
        if let Err(problem) = set {
            return again(&state, &session, id, year, &problem, Some(&form)).await;
        }
    }
    let result = state
        .services
        .followup()
        .complete_frame_evaluation(request(
            &session,
            PURPOSE,
            f::CompleteFrameEvaluationRequest {
                name: format!("frames/{id}/evaluations/{year}"),
                etag: form.etag.clone(),
                committee: form.committee.clone(),
                summary: form.summary.clone(),
                completed_date: format::parse_date(&form.completed_date).map(Into::into),
            },
        ))
        .await;
    match result {
        Ok(_) => Redirect::to(&format!("{}?afgjort=ja", path(id, year))).into_response(),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Followup);
            again(&state, &session, id, year, &problem, Some(&form)).await
        }
    }
}

/// The page again with what stopped the decision.
async fn again(
    state: &AppState,
    session: &Session,
    id: &str,
    year: i32,
    problem: &Problem,
    typed: Option<&DecisionForm>,
) -> Response {
    match gather(state, session, id, year).await {
        Ok(g) => {
            let refused = Refused { problem, typed };
            evaluation_page(state, session, id, &g, Saved::default(), Some(&refused))
                .into_response()
        }
        Err(response) => response,
    }
}

/// When the frame's evaluations are due and to which committee; finance changes it.
fn settings_section(
    session: &Session,
    current: &str,
    settings: &f::FrameEvaluationSettings,
    problem: Option<&Problem>,
) -> Markup {
    let month = usize::try_from(settings.due_month - 1)
        .ok()
        .and_then(|m| format::MONTHS.get(m))
        .copied()
        .unwrap_or("");
    html! {
        p data-evaluation-settings=(settings.name) {
            "Rammen evalueres hvert år senest den " (settings.due_day) ". " (month)
            " og forelægges " (settings.committee) "; påmindelsen kommer " (settings.lead_days) " dage før."
        }
        @if session.has_role("finance") {
            details open[problem.is_some()] {
                summary { "Ret frist og udvalg" }
                form method="post" action={(current) "/indstillinger"} {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="etag" value=(settings.etag);
                    (field(problem, "due_day", "Dag", None, html! {
                        input id="due_day" name="due_day" type="number" min="1" max="31" required value=(settings.due_day);
                    }))
                    (field(problem, "due_month", "Måned", None, html! {
                        select id="due_month" name="due_month" {
                            @for (i, name) in format::MONTHS.iter().enumerate() {
                                option value=(i + 1) selected[i + 1 == usize::try_from(settings.due_month).unwrap_or(0)] { (name) }
                            }
                        }
                    }))
                    (field(problem, "lead_days", "Påmindelse, dage før", None, html! {
                        input id="lead_days" name="lead_days" type="number" min="0" max="180" required value=(settings.lead_days);
                    }))
                    (field(problem, "settings_committee", "Udvalg", None, html! {
                        input id="settings_committee" name="committee" type="text" required maxlength="200" value=(settings.committee);
                    }))
                    button type="submit" { "Gem frist og udvalg" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    etag: String,
    #[serde(default)]
    due_day: String,
    #[serde(default)]
    due_month: String,
    #[serde(default)]
    lead_days: String,
    #[serde(default)]
    committee: String,
}

/// `POST /oekonomi/{frame}/evaluering/{year}/indstillinger`: the frame's due day, reminder and
/// committee (R-FU-5).
pub async fn change_settings(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((id, year)): Path<(String, String)>,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let (Some(id), Some(year)) = (frame_id(&id), parse_year(&year)) else {
        return no_such_frame(&session);
    };
    // A number that is not one goes to the service as 0, which it names as the wrong field.
    let number = |text: &str| text.trim().parse::<i32>().unwrap_or(0);
    let result = state
        .services
        .followup()
        .update_frame_evaluation_settings(request(
            &session,
            PURPOSE,
            f::UpdateFrameEvaluationSettingsRequest {
                settings: Some(f::FrameEvaluationSettings {
                    name: format!("frames/{id}/evaluationSettings"),
                    due_month: number(&form.due_month),
                    due_day: number(&form.due_day),
                    lead_days: number(&form.lead_days),
                    committee: form.committee,
                    etag: form.etag,
                }),
            },
        ))
        .await;
    match result {
        Ok(_) => Redirect::to(&format!("{}?indstillinger=gemt", path(id, year))).into_response(),
        Err(status) => {
            let mut problem = Problem::from_status(&status, Which::Followup);
            // The decision form has its own committee field; this one is the settings'.
            for (field, _) in &mut problem.fields {
                if field == "settings.committee" {
                    "settings_committee".clone_into(field);
                }
            }
            again(&state, &session, id, year, &problem, None).await
        }
    }
}
