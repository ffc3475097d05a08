//! The draft's page and its form: the draft as stored or as typed ([`DraftInput`]), the page
//! with its checklist and the assessment form, saving it (UpdateReferral) and sending it
//! (SubmitReferral).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kontakt_proto::common::v1::Date;
use kontakt_proto::referral::v1 as r;
use maud::{Markup, html};
use serde::Deserialize;
use tonic::Code;

use super::assessment::{AssessmentForm, assessment_form};
use super::checklist::{Check, Missing, check, checklist, field_messages, input_for};
use super::input::{DraftInput, FORM_FIELDS, GENDERS, RECIPIENTS, TARGET_GROUPS};
use super::{PURPOSE, age_on, described, draft_path, invalid, referral_name, respond};
use crate::format;
use crate::grpc::{Which, request};
use crate::page::{field, page_with_status, problem_box};
use crate::problem::Problem;
use crate::session::Session;
use crate::web::{Answer, AppState, Form, Signed, check_csrf, or_page, sign_in_url};

/// What a page is drawn with besides the referral itself.
#[derive(Default)]
pub(super) struct View<'a> {
    /// Why the last step did not happen.
    pub(super) problem: Option<&'a Problem>,
    /// What the last step did.
    pub(super) notice: Option<&'a str>,
    /// The draft form as typed (after a refused save) instead of the stored referral.
    pub(super) values: Option<&'a DraftInput>,
    /// The assessment form as typed (after a refused assessment).
    pub(super) assessment: Option<&'a AssessmentForm>,
}

#[derive(Deserialize)]
pub struct DraftQuery {
    #[serde(default)]
    findes: String,
}

/// `GET /raadgiver/henvisning/{municipality}/{id}`.
pub async fn draft(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Query(query): Query<DraftQuery>,
) -> Answer {
    let notice = (query.findes == "1").then_some(
        "Sagen har allerede en åben henvisning. Her er den, så du kan arbejde videre på den.",
    );
    draft_page(
        &state,
        &session,
        &code,
        &id,
        View {
            notice,
            ..View::default()
        },
    )
    .await
}

pub(super) async fn draft_page(
    state: &AppState,
    session: &Session,
    code: &str,
    id: &str,
    view: View<'_>,
) -> Answer {
    let name = referral_name(code, id);
    let current = draft_path(&name);
    if view.problem.is_some_and(|p| p.sign_in_again) {
        return Err(Redirect::to(&sign_in_url(&current, "udloebet")).into_response());
    }
    let referral = or_page(
        state
            .services
            .referral()
            .get_referral(request(
                session,
                PURPOSE,
                r::GetReferralRequest { name: name.clone() },
            ))
            .await,
        session,
        Which::Referral,
        &current,
    )?;
    let editable = matches!(
        r::ReferralState::try_from(referral.state),
        Ok(r::ReferralState::Draft | r::ReferralState::Returned)
    );
    let child = state
        .services
        .referral()
        .get_person(request(
            session,
            PURPOSE,
            r::GetPersonRequest {
                name: referral.person.clone(),
            },
        ))
        .await
        .ok()
        .map(tonic::Response::into_inner);
    let case = state
        .services
        .referral()
        .get_case(request(
            session,
            PURPOSE,
            r::GetCaseRequest {
                name: referral.case.clone(),
            },
        ))
        .await
        .ok()
        .map(tonic::Response::into_inner);
    let today = state.today();
    let summary = html! {
        div.card {
            dl {
                dt { "Barn" }
                dd {
                    @if let Some(child) = &child {
                        (child.display_name)
                        @if let Some(born) = child.birth_date.as_ref().and_then(Date::to_naive) {
                            span.muted { " · født " (format::date(born)) ", " (age_on(born, today)) " år" }
                        }
                    } @else { "–" }
                }
                dt { "Kommune" } dd { (format::municipality(code)) }
                dt { "Status" } dd { (crate::screens::counsellor::referral_state(referral.state)) }
                dt { "Sag" }
                dd {
                    @match &case {
                        Some(case) => { (case.external_id) span.muted { " · KLE " (case.kle_number) } }
                        None => { (crate::screens::coordinator::short_id(&referral.case)) }
                    }
                }
                dt { "Senest gemt" } dd { (format::timestamp(referral.update_time.as_ref())) }
            }
        }
    };
    if !editable {
        let body = html! {
            @if let Some(problem) = view.problem { (problem_box(problem)) }
            @if let Some(notice) = view.notice { div.notice role="status" { p { (notice) } } }
            (summary)
            p { "Henvisningen er ikke længere en kladde og kan ikke ændres her." }
            p { a href="/raadgiver" { "Tilbage til mine sager" } }
        };
        return Ok(page_with_status(
            session,
            view.problem.map_or(StatusCode::OK, Problem::http_status),
            "Henvisning",
            &current,
            body,
        ));
    }
    let bases = or_page(
        state
            .services
            .referral()
            .list_legal_bases(request(
                session,
                PURPOSE,
                r::ListLegalBasesRequest {
                    page_size: 500,
                    page_token: String::new(),
                    include_repealed: true,
                },
            ))
            .await,
        session,
        Which::Referral,
        &current,
    )?
    .legal_bases;
    let checked = check(state, session, &referral, &current).await?;
    let items: &[Missing] = match &checked {
        Check::Missing(items) => items,
        _ => &[],
    };
    let inline = field_messages(items, view.problem);
    let stored = DraftInput::from_referral(&referral);
    let values = view.values.unwrap_or(&stored);
    // A refused save keeps the etag it was made against, so a change by someone else in
    // between still loses (ABORTED) instead of being overwritten.
    let body = html! {
        @if let Some(problem) = view.problem {
            (problem_box(&Problem {
                // Fields with an input are shown next to it.
                fields: problem.fields.iter().filter(|(f, _)| input_for(f).is_none()).cloned().collect(),
                ..problem.clone()
            }))
        }
        @if let Some(notice) = view.notice { div.notice role="status" { p { (notice) } } }
        (checklist(session, &current, &referral, &checked))
        (summary)
        (draft_form(session, &current, values, &bases, today, &inline))
        (assessment_form(session, &current, view.assessment, today, &inline, items))
        p { a href="/raadgiver" { "Tilbage til mine sager" } }
    };
    let status = view.problem.map_or(StatusCode::OK, Problem::http_status);
    Ok(page_with_status(
        session,
        status,
        "Kladde til henvisning",
        &current,
        body,
    ))
}

/// A radio or checkbox group with its legend, hint and error.
pub(super) fn group(
    problem: &Problem,
    name: &str,
    legend: &str,
    hint: Option<&str>,
    body: Markup,
) -> Markup {
    let error = problem.field(name);
    html! {
        fieldset.field.invalid[error.is_some()] id=(name) tabindex="-1" {
            legend { (legend) }
            @if let Some(hint) = hint { span.hint { (hint) } }
            @if let Some(error) = error {
                span.error { span.visually-hidden { "Fejl: " } (error) }
            }
            (body)
        }
    }
}

/// One radio button or checkbox with its label beside it, the whole row a touch target.
pub(super) fn choice(kind: &str, name: &str, value: &str, label: &str, checked: bool) -> Markup {
    let id = format!("{name}-{value}");
    html! {
        div.choice {
            input type=(kind) id=(id) name=(name) value=(value) checked[checked];
            label for=(id) { (label) }
        }
    }
}

/// A labelled textarea.
pub(super) fn text_area(
    problem: &Problem,
    name: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
) -> Markup {
    let p = Some(problem);
    field(
        p,
        name,
        label,
        hint,
        html! {
            textarea id=(name) name=(name) maxlength="4000"
                aria-describedby=[described(p, name, hint.is_some())] aria-invalid=[invalid(p, name)] { (value) }
        },
    )
}

/// A select among legal bases; a repealed one is offered only when it is the one chosen.
fn basis_select(
    name: &str,
    chosen: &str,
    bases: &[&r::LegalBasis],
    today: chrono::NaiveDate,
    p: &Problem,
) -> Markup {
    let repealed = |b: &r::LegalBasis| {
        b.valid_until
            .as_ref()
            .and_then(Date::to_naive)
            .is_some_and(|until| until < today)
    };
    html! {
        select id=(name) name=(name) aria-invalid=[invalid(Some(p), name)] {
            option value="" selected[chosen.is_empty()] { "Vælg …" }
            @for basis in bases {
                @if !repealed(basis) || basis.name == chosen {
                    option value=(basis.name) selected[basis.name == chosen] {
                        (basis.citation) " – " (basis.title)
                        @if repealed(basis) { " (ophævet)" }
                    }
                }
            }
        }
    }
}

fn draft_form(
    session: &Session,
    current: &str,
    v: &DraftInput,
    bases: &[r::LegalBasis],
    today: chrono::NaiveDate,
    p: &Problem,
) -> Markup {
    let some = Some(p);
    let all: Vec<&r::LegalBasis> = bases.iter().collect();
    let without_consent: Vec<&r::LegalBasis> = bases.iter().filter(|b| b.without_consent).collect();
    let today_iso = today.format("%Y-%m-%d").to_string();
    let minutes_hint = match v.requested_minutes_per_week.trim().parse::<i32>() {
        Ok(minutes) if minutes > 0 => format!(
            "Fx 180 for 3 timer. Nu: {}.",
            format::hours_per_week(minutes)
        ),
        _ => "Fx 180 for 3 timer.".to_owned(),
    };
    html! {
        h2 { "Henvisningen" }
        form method="post" action=(current) novalidate {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="etag" value=(v.etag);
            (group(p, "recipient", "Hvem er kontaktpersonen for?", None, html! {
                @for (value, _, label) in RECIPIENTS {
                    (choice("radio", "recipient", value, label, v.recipient == value))
                }
            }))
            (group(p, "target_groups", "Målgruppe", Some("Vælg alle, der passer."), html! {
                @for (value, _, label) in TARGET_GROUPS {
                    (choice("checkbox", "target_groups", value, label, v.target_groups.iter().any(|t| t == value)))
                }
            }))
            (field(some, "target_group_other", "Anden målgruppe", Some("Udfyldes, når »Andet« er valgt."), html! {
                input id="target_group_other" name="target_group_other" type="text" maxlength="4000" value=(v.target_group_other)
                    aria-describedby=[described(some, "target_group_other", true)] aria-invalid=[invalid(some, "target_group_other")];
            }))
            (text_area(p, "needs", "Behov, der betyder noget for matchningen", Some("Fx interesser, sprog, og hvad kontaktpersonen skal kunne."), &v.needs))
            (field(some, "gender_preference", "Ønsket køn på kontaktpersonen", None, html! {
                select id="gender_preference" name="gender_preference" {
                    @for (value, _, label) in GENDERS {
                        option value=(value) selected[v.gender_preference == value] { (label) }
                    }
                }
            }))
            (field(some, "requested_minutes_per_week", "Ønskede minutter om ugen", Some(minutes_hint.as_str()), html! {
                input id="requested_minutes_per_week" name="requested_minutes_per_week" type="number" min="0" max="10080" step="15" inputmode="numeric"
                    value=(v.requested_minutes_per_week)
                    aria-describedby=[described(some, "requested_minutes_per_week", true)] aria-invalid=[invalid(some, "requested_minutes_per_week")];
            }))
            (text_area(p, "purpose", "Formål", Some("Står i afgørelsen (Barnets Lov § 32, stk. 3)."), &v.purpose))
            (field(some, "expected_duration_months", "Forventet varighed i måneder", None, html! {
                input id="expected_duration_months" name="expected_duration_months" type="number" min="0" max="120" inputmode="numeric"
                    value=(v.expected_duration_months)
                    aria-describedby=[described(some, "expected_duration_months", false)] aria-invalid=[invalid(some, "expected_duration_months")];
            }))
            (field(some, "legal_basis", "Lovgrundlag", Some("Normalt Barnets Lov § 32, stk. 1, nr. 3; fra 18 år ungestøtte."), basis_select("legal_basis", &v.legal_basis, &all, today, p)))
            fieldset {
                legend { "Samtykke" }
                (group(p, "consent_kind", "Hvordan er indsatsen samtykket?", None, html! {
                    (choice("radio", "consent_kind", "custody", "Forældremyndighedsindehaveren har givet samtykke", v.consent_kind == "custody"))
                    (choice("radio", "consent_kind", "without", "Uden samtykke, på et grundlag der tillader det", v.consent_kind == "without"))
                }))
                (field(some, "consent_date", "Dato for samtykket", Some("Ved samtykke."), html! {
                    input id="consent_date" name="consent_date" type="date" max=(today_iso) value=(v.consent_date)
                        aria-describedby=[described(some, "consent_date", true)] aria-invalid=[invalid(some, "consent_date")];
                }))
                (field(some, "no_consent_legal_basis", "Grundlag uden samtykke", Some("Uden samtykke, fx Barnets Lov § 39 (10–17 år)."), basis_select("no_consent_legal_basis", &v.no_consent_legal_basis, &without_consent, today, p)))
                (field(some, "no_consent_decision_reference", "Afgørelsens reference", Some("Uden samtykke: referencen til afgørelsen."), html! {
                    input id="no_consent_decision_reference" name="no_consent_decision_reference" type="text" maxlength="200" value=(v.no_consent_decision_reference)
                        aria-describedby=[described(some, "no_consent_decision_reference", true)] aria-invalid=[invalid(some, "no_consent_decision_reference")];
                }))
                (text_area(p, "child_view", "Barnets egen holdning", Some("Registreres altid."), &v.child_view))
                (group(p, "young_person_consented", "Den unges eget samtykke", Some("Hvis kommunen kræver det fra en bestemt alder."), html! {
                    (choice("checkbox", "young_person_consented", "yes", "Den unge har selv givet samtykke", v.young_person_consented))
                }))
            }
            (text_area(p, "network_statement", "Netværket", Some("Hvorfor kan familiens eget netværk ikke dække behovet?"), &v.network_statement))
            (text_area(p, "hours_justification", "Begrundelse for timetallet", Some("Når timerne er over kommunens grænse."), &v.hours_justification))
            (text_area(p, "age_justification", "Begrundelse for alderen", Some("Når barnet er yngre end kommunens minimumsalder."), &v.age_justification))
            div.actions { button type="submit" { "Gem kladden" } }
        }
    }
}

/// `POST /raadgiver/henvisning/{municipality}/{id}`: saves the form, then the page again with
/// the new checklist.
pub async fn save(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let (input, csrf) = DraftInput::from_pairs(&pairs);
    if let Err(refused) = check_csrf(&session, &csrf) {
        return refused;
    }
    let name = referral_name(&code, &id);
    let again = |problem: Problem, values: Option<&DraftInput>| {
        let (state, session, code, id) = (&state, &session, &code, &id);
        let values = values.cloned();
        async move {
            respond(
                draft_page(
                    state,
                    session,
                    code,
                    id,
                    View {
                        problem: Some(&problem),
                        values: values.as_ref(),
                        ..View::default()
                    },
                )
                .await,
            )
        }
    };
    let mut fields = match input.to_referral(&name) {
        Ok(fields) => fields,
        Err(problem) => return again(problem, Some(&input)).await,
    };
    // The form shows no competences: those a case system gave the needs are kept.
    let mut client = state.services.referral();
    let stored = match client
        .get_referral(request(
            &session,
            PURPOSE,
            r::GetReferralRequest { name: name.clone() },
        ))
        .await
    {
        Ok(stored) => stored.into_inner(),
        Err(status) => {
            return again(Problem::from_status(&status, Which::Referral), Some(&input)).await;
        }
    };
    if let (Some(needs), Some(kept)) = (fields.needs.as_mut(), stored.needs) {
        needs.competences = kept.competences;
    }
    let result = client
        .update_referral(request(
            &session,
            PURPOSE,
            r::UpdateReferralRequest {
                referral: Some(fields),
                update_mask: Some(prost_types::FieldMask {
                    paths: FORM_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
                }),
            },
        ))
        .await;
    match result {
        Ok(_) => respond(
            draft_page(
                &state,
                &session,
                &code,
                &id,
                View {
                    notice: Some("Kladden er gemt. Tjeklisten øverst er opdateret."),
                    ..View::default()
                },
            )
            .await,
        ),
        // Someone else saved in between: their version is shown, to be edited again.
        Err(status) if status.code() == Code::Aborted => {
            again(Problem::from_status(&status, Which::Referral), None).await
        }
        Err(status) => again(Problem::from_status(&status, Which::Referral), Some(&input)).await,
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    etag: String,
}

/// `POST /raadgiver/henvisning/{municipality}/{id}/send`: submits it for visitation.
pub async fn submit(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path((code, id)): Path<(String, String)>,
    Form(form): Form<SendForm>,
) -> Response {
    if let Err(refused) = check_csrf(&session, &form.csrf) {
        return refused;
    }
    let result = state
        .services
        .referral()
        .submit_referral(request(
            &session,
            PURPOSE,
            r::SubmitReferralRequest {
                name: referral_name(&code, &id),
                etag: form.etag,
                validate_only: false,
            },
        ))
        .await;
    match result {
        Ok(_) => Redirect::to("/raadgiver?henvisning=sendt").into_response(),
        Err(status) => {
            let problem = Problem::from_status(&status, Which::Referral);
            respond(
                draft_page(
                    &state,
                    &session,
                    &code,
                    &id,
                    View {
                        problem: Some(&problem),
                        ..View::default()
                    },
                )
                .await,
            )
        }
    }
}
