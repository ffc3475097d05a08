//! The contact person's screens, made for a phone first: my arrangements, registering hours
//! for a day (minutes, activity, note), reversing an entry, the week against the granted
//! hours with an overrun warning, and submitting the month's timesheet.
//!
//! A registration carries a request id made when the form was drawn; a page script sends it
//! again with the same id when the connection drops, so a submission is neither lost nor
//! doubled (the service stores one entry per request id).

use crate::web::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike as _, Duration, NaiveDate};
use kontakt_proto::common::v1::{Date, DateRange};
use kontakt_proto::matching::v1 as m;
use kontakt_proto::timecost::v1 as t;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use crate::format;
use crate::grpc::{Which, request};
use crate::page::{field, page, page_with_status, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Signed, check_csrf, or_page};

const PURPOSE: &str = "console: own time registration";

/// The contact person's own resource name, or the page that says the token has none.
fn me(session: &Session) -> Result<&str, Response> {
    session.person.contact_person.as_deref().ok_or_else(|| {
        crate::web::problem_page(
            session,
            &Problem {
                status: 403,
                title: "Du er ikke registreret som kontaktperson".into(),
                detail: "Dit login er ikke knyttet til en kontaktperson. Kontakt koordinatoren."
                    .into(),
                ..Problem::default()
            },
            "/tid",
        )
    })
}

/// `municipalities/183/assignments/a1` → `/tid/183/a1`.
fn assignment_path(name: &str) -> String {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["municipalities", code, "assignments", id] => format!("/tid/{code}/{id}"),
        _ => "/tid".to_owned(),
    }
}

async fn my_assignments(
    state: &AppState,
    session: &Session,
    me: &str,
) -> Result<Vec<m::Assignment>, Response> {
    let mut all = Vec::new();
    for code in &session.person.municipalities {
        let response = or_page(
            state
                .services
                .matching()
                .list_assignments(request(
                    session,
                    PURPOSE,
                    m::ListAssignmentsRequest {
                        parent: format!("municipalities/{code}"),
                        page_size: 100,
                        page_token: String::new(),
                        contact_person: me.to_owned(),
                        state: m::AssignmentState::Active as i32,
                    },
                ))
                .await,
            session,
            Which::Matching,
            "/tid",
        )?;
        all.extend(response.assignments);
    }
    Ok(all)
}

/// An assignment's time entries, in the order they were registered.
async fn entries(
    state: &AppState,
    session: &Session,
    assignment: &str,
    current: &str,
) -> Result<Vec<t::TimeEntry>, Response> {
    crate::grpc::all_pages(10_000, |page_token| {
        let mut client = state.services.timecost();
        let call = request(
            session,
            PURPOSE,
            t::ListTimeEntriesRequest {
                parent: assignment.to_owned(),
                page_size: 500,
                page_token,
            },
        );
        async move {
            let page = client.list_time_entries(call).await?.into_inner();
            Ok((page.time_entries, page.next_page_token))
        }
    })
    .await
    .map_err(|status| crate::web::status_page(session, &status, Which::Timecost, current))
}

/// Monday of the week `day` is in.
fn monday(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// Minutes in the week starting `monday`, reversals netted out (a reversal carries the
/// negative minutes of its entry).
fn week_minutes(entries: &[t::TimeEntry], monday: NaiveDate) -> i64 {
    let sunday = monday + Duration::days(6);
    entries
        .iter()
        .filter(|e| {
            e.work_date
                .as_ref()
                .and_then(Date::to_naive)
                .is_some_and(|d| d >= monday && d <= sunday)
        })
        .map(|e| i64::from(e.minutes))
        .sum()
}

/// `GET /tid`: my arrangements and this month's timesheet.
pub async fn home(State(state): State<AppState>, Signed(session): Signed) -> Answer {
    let me = me(&session)?;
    let assignments = my_assignments(&state, &session, me).await?;
    let today = state.today();
    let mut weeks = Vec::new();
    for a in &assignments {
        let list = entries(&state, &session, &a.name, "/tid").await?;
        weeks.push(week_minutes(&list, monday(today)));
    }
    let sheets = timesheets(&state, &session, me).await?;
    let body = html! {
        @if assignments.is_empty() {
            div.notice { p { "Du har ingen aktive forløb lige nu." } }
        }
        ul.cards {
            @for (a, week) in assignments.iter().zip(&weeks) {
                li.card data-assignment=(a.name) {
                    h2 { a href=(assignment_path(&a.name)) { "Forløb " (crate::screens::coordinator::short_id(&a.name)) } }
                    p { (format::municipality(a.name.split('/').nth(1).unwrap_or(""))) " · bevilget " (format::hours_per_week(a.minutes_per_week)) }
                    p { "Denne uge: " strong { (format::minutes(*week)) } " af " (format::minutes(i64::from(a.minutes_per_week))) }
                    @if *week > i64::from(a.minutes_per_week) {
                        p.warning { strong { "Over de bevilgede timer" } " (R-TC-2)" }
                    }
                    a.button href=(assignment_path(&a.name)) { "Registrér timer" }
                }
            }
        }
        (timesheet_section(&session, today, &sheets))
    };
    Ok(page(&session, "Mine forløb", "/tid", body))
}

async fn timesheets(
    state: &AppState,
    session: &Session,
    me: &str,
) -> Result<Vec<t::Timesheet>, Response> {
    Ok(or_page(
        state
            .services
            .timecost()
            .list_timesheets(request(
                session,
                PURPOSE,
                t::ListTimesheetsRequest {
                    parent: me.to_owned(),
                    ..t::ListTimesheetsRequest::default()
                },
            ))
            .await,
        session,
        Which::Timecost,
        "/tid",
    )?
    .timesheets)
}

fn sheet_state(state: i32) -> &'static str {
    match t::TimesheetState::try_from(state) {
        Ok(t::TimesheetState::Open) => "Åben",
        Ok(t::TimesheetState::Submitted) => "Indsendt – venter på godkendelse",
        Ok(t::TimesheetState::Approved) => "Godkendt",
        _ => "–",
    }
}

fn month_bounds(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).unwrap_or(day);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (first, next - Duration::days(1))
}

fn timesheet_section(session: &Session, today: NaiveDate, sheets: &[t::Timesheet]) -> Markup {
    let (first, last) = month_bounds(today);
    let (prev_first, prev_last) = month_bounds(first - Duration::days(1));
    let covers = |start: NaiveDate| {
        sheets.iter().find(|s| {
            s.period
                .as_ref()
                .and_then(|p| p.start.as_ref())
                .and_then(Date::to_naive)
                == Some(start)
        })
    };
    html! {
        h2 { "Timesedler" }
        @for (start, end) in [(prev_first, prev_last), (first, last)] {
            @let sheet = covers(start);
            div.card data-timesheet=(start.format("%Y-%m")) {
                h3 { (format::MONTHS[start.month0() as usize]) " " (start.year()) }
                @if let Some(sheet) = sheet {
                    p { (sheet_state(sheet.state)) " · " (format::minutes(i64::from(sheet.total_minutes))) }
                    @if sheet.state == t::TimesheetState::Open as i32 && !sheet.return_reason.is_empty() {
                        div.warning role="status" {
                            p { strong { "Sendt retur af koordinatoren: " } (sheet.return_reason) }
                            p { "Ret registreringerne og indsend timesedlen igen." }
                        }
                    }
                }
                @if sheet.is_none_or(|s| s.state == t::TimesheetState::Open as i32) {
                    form method="post" action="/tid/timeseddel" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="start" value=(start.format("%Y-%m-%d"));
                        input type="hidden" name="end" value=(end.format("%Y-%m-%d"));
                        button type="submit" { "Indsend timeseddel for " (format::MONTHS[start.month0() as usize]) }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Saved {
    #[serde(default)]
    gemt: String,
}

/// `GET /tid/{municipality}/{assignment}`: register hours, the week, the entries.
pub async fn assignment(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Query(saved): Query<Saved>,
) -> Answer {
    let notice = (!saved.gemt.is_empty()).then_some("Timerne er gemt.");
    assignment_page(&state, &session, &code, &id, None, notice, None).await
}

/// What was typed, kept when the form comes back with an error.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    request_id: String,
    #[serde(default)]
    work_date: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    activity_kind: String,
    #[serde(default)]
    note: String,
}

#[allow(clippy::too_many_arguments)]
async fn assignment_page(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    problem: Option<&Problem>,
    notice: Option<&str>,
    typed: Option<&RegisterForm>,
) -> Answer {
    let name = format!("municipalities/{code}/assignments/{id}");
    let current = format!("/tid/{code}/{id}");
    let assignment = or_page(
        state
            .services
            .matching()
            .get_assignment(request(
                session,
                PURPOSE,
                m::GetAssignmentRequest { name: name.clone() },
            ))
            .await,
        session,
        Which::Matching,
        &current,
    )?;
    let kinds = or_page(
        state
            .services
            .timecost()
            .list_activity_kinds(request(
                session,
                PURPOSE,
                t::ListActivityKindsRequest::default(),
            ))
            .await,
        session,
        Which::Timecost,
        &current,
    )?
    .activity_kinds;
    let mut kinds = kinds;
    // The kinds that count toward the granted hours first: the everyday choice.
    kinds.sort_by_key(|k| !k.counts_toward_granted_hours);
    let list = entries(state, session, &name, &current).await?;
    let today = state.today();
    let this_monday = monday(today);
    let granted = i64::from(assignment.minutes_per_week);
    let reversed: Vec<&str> = list
        .iter()
        .map(|e| e.reverses.as_str())
        .filter(|r| !r.is_empty())
        .collect();
    let fresh = RegisterForm {
        request_id: uuid::Uuid::new_v4().to_string(),
        work_date: today.format("%Y-%m-%d").to_string(),
        ..RegisterForm::default()
    };
    let typed = typed.unwrap_or(&fresh);
    let body = html! {
        @if let Some(problem) = problem { (problem_box(problem)) }
        @if let Some(notice) = notice { div.notice role="status" { p { (notice) } } }
        p { (format::municipality(code)) " · bevilget " strong { (format::hours_per_week(assignment.minutes_per_week)) } }
        h2 { "Registrér timer" }
        form method="post" action={(current) "/registrer"} data-retry="true" {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="request_id" value=(typed.request_id);
            (field(problem, "work_date", "Dato", None,
                html! { input id="work_date" name="work_date" type="date" value=(typed.work_date) max=(today.format("%Y-%m-%d")) required; }))
            (field(problem, "minutes", "Minutter", Some("Fx 90 for halvanden time"),
                html! { input id="minutes" name="minutes" type="number" inputmode="numeric" min="1" max="1440" value=(typed.minutes) required; }))
            (field(problem, "activity_kind", "Aktivitet", None, html! {
                select id="activity_kind" name="activity_kind" {
                    @for k in &kinds {
                        option value=(k.name) selected[k.name == typed.activity_kind] { (k.display_name) }
                    }
                }
            }))
            (field(problem, "note", "Note", Some("Skriv ikke CPR-numre eller helbredsoplysninger"),
                html! { textarea id="note" name="note" maxlength="2000" { (typed.note) } }))
            div.actions {
                button type="submit" { "Gem timer" }
                span.retry-status role="status" aria-live="polite" {}
            }
        }
        h2 { "Ugerne" }
        div.table-wrap tabindex="0" {
            table {
                thead { tr { th scope="col" { "Uge" } th.num scope="col" { "Registreret af bevilget" } } }
                tbody {
                    @for back in 0..4 {
                        @let start = this_monday - Duration::weeks(back);
                        @let total = week_minutes(&list, start);
                        tr data-week=(start.format("%Y-%m-%d")) data-minutes=(total) {
                            td { "Uge " (start.iso_week().week()) br; span.muted { "fra " (format::date(start)) } }
                            td.num {
                                strong { (format::minutes(total)) } " af " (format::minutes(granted))
                                @if total > granted { br; span.tag.bad { (format::minutes(total - granted)) " for meget" } }
                            }
                        }
                    }
                }
            }
        }
        @if week_minutes(&list, this_monday) > granted {
            div.warning role="status" id="overskridelse" {
                p { strong { "Du er over de bevilgede timer i denne uge." } " Timerne er gemt og markeret som overskridelse (R-TC-2); koordinatoren ser dem." }
            }
        }
        h2 { "Registreringer" }
        @if list.is_empty() { p { "Ingen endnu." } }
        ul {
            @for e in list.iter().rev().take(30) {
                li data-entry=(e.name) {
                    (format::proto_date(e.work_date.as_ref())) ": " strong { (format::minutes(i64::from(e.minutes))) }
                    @if !e.note.is_empty() { " – " (e.note) }
                    @if e.overrun { " " span.tag.bad { "overskridelse" } }
                    @if !e.reverses.is_empty() { " " span.tag { "tilbageførsel" } }
                    @if e.reverses.is_empty() && !reversed.contains(&e.name.as_str()) && e.timesheet.is_empty() {
                        details {
                            summary { "Tilbagefør" }
                            form method="post" action={(current) "/tilbagefoer"} {
                                input type="hidden" name="csrf" value=(session.csrf);
                                input type="hidden" name="entry" value=(e.name);
                                input type="hidden" name="request_id" value=(uuid::Uuid::new_v4().to_string());
                                div.field {
                                    label for={"note-" (e.name.rsplit('/').next().unwrap_or(""))} { "Hvorfor?" }
                                    input id={"note-" (e.name.rsplit('/').next().unwrap_or(""))} name="note" type="text" required placeholder="Fx registreret på forkert dag";
                                }
                                button.secondary type="submit" { "Tilbagefør registreringen" }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/tid" { "Tilbage til mine forløb" } }
        script { (PreEscaped(RETRY_SCRIPT)) }
    };
    let status = problem.map_or(axum::http::StatusCode::OK, Problem::http_status);
    let title = format!("Forløb i {}", format::municipality(code));
    Ok(page_with_status(session, status, &title, &current, body))
}

/// Sends a `data-retry` form with fetch; when the connection drops, keeps what was typed
/// (also across a reload, in localStorage under its request id) and sends it again with the
/// same request id until it lands. Without scripts the form posts as usual.
const RETRY_SCRIPT: &str = r#"
(function(){
  var form=document.querySelector('form[data-retry]'); if(!form||!window.fetch) return;
  var status=form.querySelector('.retry-status'); var key='kontakt-pending:'+form.action;
  function send(body,attempt){
    status.textContent=attempt>0?'Forbindelsen blev afbrudt. Prøver igen ('+attempt+') …':'Gemmer …';
    fetch(form.action,{method:'POST',body:body,credentials:'same-origin',headers:{'Content-Type':'application/x-www-form-urlencoded'}})
      .then(function(r){ return r.text().then(function(html){
        localStorage.removeItem(key);
        if(r.redirected){ location.href=r.url; return; }
        document.open(); document.write(html); document.close();
      }); })
      .catch(function(){ setTimeout(function(){ send(body,attempt+1); }, Math.min(1000*(attempt+1),5000)); });
  }
  var pending=localStorage.getItem(key);
  if(pending){ send(pending,1); }
  form.addEventListener('submit',function(ev){
    ev.preventDefault();
    var body=new URLSearchParams(new FormData(form)).toString();
    localStorage.setItem(key,body);
    form.querySelector('button[type=submit]').disabled=true;
    send(body,0);
  });
})();
"#;

/// `POST /tid/{municipality}/{assignment}/registrer`.
pub async fn register(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<RegisterForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let (c, i) = (code.clone(), id.clone());
    let back = move |problem: Problem, state: AppState, session: Session, form: RegisterForm| async move {
        match assignment_page(&state, &session, &c, &i, Some(&problem), None, Some(&form)).await {
            Ok(page) => page.into_response(),
            Err(response) => response,
        }
    };
    let Some(day) = format::parse_date(&form.work_date) else {
        return back(
            Problem::invalid("work_date", "Skriv datoen som dd.mm.åååå."),
            state,
            session,
            form,
        )
        .await;
    };
    let Ok(minutes) = form.minutes.trim().parse::<i32>() else {
        return back(
            Problem::invalid("minutes", "Skriv antal minutter som et helt tal, fx 90."),
            state,
            session,
            form,
        )
        .await;
    };
    let assignment = format!("municipalities/{code}/assignments/{id}");
    let result = state
        .services
        .timecost()
        .register_time(request(
            &session,
            PURPOSE,
            t::RegisterTimeRequest {
                parent: assignment.clone(),
                time_entry: Some(t::TimeEntry {
                    work_date: Some(day.into()),
                    minutes,
                    activity_kind: form.activity_kind.clone(),
                    note: form.note.clone(),
                    ..t::TimeEntry::default()
                }),
                request_id: form.request_id.clone(),
            },
        ))
        .await;
    match result {
        Ok(entry) => {
            let entry = entry.into_inner();
            Redirect::to(&format!(
                "{}?gemt={}",
                assignment_path(&assignment),
                entry.name.rsplit('/').next().unwrap_or("")
            ))
            .into_response()
        }
        Err(status) => {
            back(
                Problem::from_status(&status, Which::Timecost),
                state,
                session,
                form,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct ReverseForm {
    #[serde(default)]
    csrf: String,
    entry: String,
    request_id: String,
    #[serde(default)]
    note: String,
}

/// `POST /tid/{municipality}/{assignment}/tilbagefoer`.
pub async fn reverse(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<ReverseForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let result = state
        .services
        .timecost()
        .reverse_time_entry(request(
            &session,
            PURPOSE,
            t::ReverseTimeEntryRequest {
                name: form.entry,
                note: form.note,
                request_id: form.request_id,
            },
        ))
        .await;
    let (problem, notice) = match result {
        Ok(_) => (None, Some("Registreringen er tilbageført.")),
        Err(status) => (Some(Problem::from_status(&status, Which::Timecost)), None),
    };
    match assignment_page(&state, &session, &code, &id, problem.as_ref(), notice, None).await {
        Ok(page) => page.into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct SubmitForm {
    #[serde(default)]
    csrf: String,
    start: String,
    end: String,
}

/// `POST /tid/timeseddel`: makes the month's timesheet if needed and submits it.
pub async fn submit_timesheet(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(form): Form<SubmitForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let me = match me(&session) {
        Ok(me) => me.to_owned(),
        Err(response) => return response,
    };
    let (Some(start), Some(end)) = (
        format::parse_date(&form.start),
        format::parse_date(&form.end),
    ) else {
        return crate::web::problem_page(
            &session,
            &Problem::invalid("period", "Ugyldig periode."),
            "/tid",
        );
    };
    let sheets = match timesheets(&state, &session, &me).await {
        Ok(sheets) => sheets,
        Err(response) => return response,
    };
    let existing = sheets.into_iter().find(|s| {
        s.period
            .as_ref()
            .and_then(|p| p.start.as_ref())
            .and_then(Date::to_naive)
            == Some(start)
    });
    let sheet = match existing {
        Some(sheet) => sheet,
        None => match state
            .services
            .timecost()
            .create_timesheet(request(
                &session,
                PURPOSE,
                t::CreateTimesheetRequest {
                    parent: me.clone(),
                    period: Some(DateRange {
                        start: Some(start.into()),
                        end: Some(end.into()),
                    }),
                },
            ))
            .await
        {
            Ok(sheet) => sheet.into_inner(),
            Err(status) => {
                return crate::web::status_page(&session, &status, Which::Timecost, "/tid");
            }
        },
    };
    match state
        .services
        .timecost()
        .submit_timesheet(request(
            &session,
            PURPOSE,
            t::SubmitTimesheetRequest {
                name: sheet.name,
                etag: String::new(),
            },
        ))
        .await
    {
        Ok(_) => Redirect::to("/tid").into_response(),
        Err(status) => crate::web::status_page(&session, &status, Which::Timecost, "/tid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(day: NaiveDate, minutes: i32) -> t::TimeEntry {
        t::TimeEntry {
            work_date: Some(day.into()),
            minutes,
            ..t::TimeEntry::default()
        }
    }

    #[test]
    fn the_week_nets_reversals_and_stays_inside_monday_to_sunday() {
        let wednesday = NaiveDate::from_ymd_opt(2026, 12, 2).expect("date");
        let start = monday(wednesday);
        assert_eq!(start, NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"));
        let list = [
            entry(start, 120),
            entry(start + Duration::days(6), 60),
            entry(start + Duration::days(7), 600),
            entry(start - Duration::days(1), 600),
            entry(start, -120),
        ];
        assert_eq!(week_minutes(&list, start), 60);
    }

    #[test]
    fn months_run_from_the_first_to_the_last_day() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 14).expect("date");
        let (first, last) = month_bounds(day);
        assert_eq!(first, NaiveDate::from_ymd_opt(2026, 2, 1).expect("date"));
        assert_eq!(last, NaiveDate::from_ymd_opt(2026, 2, 28).expect("date"));
    }
}
