//! The page every screen is drawn in (header, the person's menu, main content, sign-out),
//! the style sheet, and the pieces forms share: a field with its error, the refusal box.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::problem::Problem;
use crate::session::Session;

/// A finished page with its HTTP status.
pub struct Page {
    pub status: StatusCode,
    pub markup: Markup,
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.markup).into_response();
        let headers = response.headers_mut();
        // Pages show personal data: never stored by a shared cache or the browser's history.
        headers.insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        response
    }
}

/// The screens the roles are offered, in menu order: (path, label, roles).
const MENU: [(&str, &str, &[&str]); 8] = [
    ("/koordinator", "Matchning", &["coordinator"]),
    ("/kontaktpersoner", "Kontaktpersoner", &["coordinator"]),
    ("/timesedler", "Timesedler", &["coordinator"]),
    ("/tid", "Mine forløb", &["contact_person"]),
    ("/raadgiver", "Mine sager", &["counsellor"]),
    ("/udvalg", "Udvalget", &["committee"]),
    // The coordinator prepares the frame's yearly evaluation with finance (R-FU-5).
    ("/oekonomi", "Økonomi", &["finance", "coordinator"]),
    ("/adgangslog", "Adgangslog", &["auditor"]),
];

fn offered(session: &Session, roles: &[&str]) -> bool {
    roles.iter().any(|role| session.has_role(role))
}

/// The first screen for a session's roles.
pub fn home_path(session: &Session) -> &'static str {
    MENU.iter()
        .find(|(_, _, roles)| offered(session, roles))
        .map_or("/ingen-adgang", |(path, _, _)| path)
}

/// A page for a signed-in person.
pub fn page(session: &Session, title: &str, current: &str, body: Markup) -> Page {
    page_with_status(session, StatusCode::OK, title, current, body)
}

pub fn page_with_status(
    session: &Session,
    status: StatusCode,
    title: &str,
    current: &str,
    body: Markup,
) -> Page {
    let menu: Vec<_> = MENU
        .iter()
        .filter(|(_, _, roles)| offered(session, roles))
        .collect();
    let markup = html! {
        (DOCTYPE)
        html lang="da" {
            head { (head(title)) }
            body {
                a.skip href="#indhold" { "Spring til indhold" }
                header.top {
                    div.brand { a href="/" { "Kontakt" } }
                    nav aria-label="Hovedmenu" {
                        ul {
                            @for (path, label, _) in &menu {
                                li {
                                    @if current.starts_with(path) {
                                        a href=(path) aria-current="page" { (label) }
                                    } @else {
                                        a href=(path) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span { (session.person.name) }
                        @if !session.person.municipalities.is_empty() {
                            span.muted { " · " (municipalities(&session.person.municipalities)) }
                        }
                        form method="post" action="/log-ud" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button.link type="submit" { "Log ud" }
                        }
                    }
                }
                main id="indhold" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Page { status, markup }
}

/// A page for someone not signed in (sign-in, errors before a session).
pub fn public_page(status: StatusCode, title: &str, body: Markup) -> Page {
    let markup = html! {
        (DOCTYPE)
        html lang="da" {
            head { (head(title)) }
            body {
                header.top { div.brand { a href="/" { "Kontakt" } } }
                main id="indhold" { h1 { (title) } (body) }
            }
        }
    };
    Page { status, markup }
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " – Kontakt" }
        style { (PreEscaped(STYLE)) }
    }
}

/// `Ishøj, Vallensbæk`.
pub fn municipalities(codes: &[String]) -> String {
    codes
        .iter()
        .map(|c| crate::format::municipality(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The box that says why a step did not happen, with each rule by its id.
pub fn problem_box(problem: &Problem) -> Markup {
    html! {
        div.problem role="alert" tabindex="-1" id="fejl" {
            h2 { (problem.title) }
            @if !problem.detail.is_empty() { p { (problem.detail) } }
            @if !problem.rules.is_empty() {
                ul.rules {
                    @for (rule, meaning) in &problem.rules {
                        li { strong { (rule) } ": " (meaning) }
                    }
                }
            }
            @if !problem.fields.is_empty() {
                ul {
                    @for (field, message) in &problem.fields {
                        li { a href={"#" (anchor(field))} { (field) } ": " (message) }
                    }
                }
            }
            @if let Some(incident) = &problem.incident {
                p.muted { "Fejl-id: " code { (incident) } }
            }
        }
    }
}

/// The element id of a form field named by a service (`time_entry.minutes` → `minutes`).
pub fn anchor(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// A labelled input with its hint and, when the service named it, its error.
pub fn field(
    problem: Option<&Problem>,
    name: &str,
    label: &str,
    hint: Option<&str>,
    input: Markup,
) -> Markup {
    let error = problem.and_then(|p| p.field(name));
    html! {
        div.field.invalid[error.is_some()] {
            label for=(name) { (label) }
            @if let Some(hint) = hint { span.hint id={(name) "-hint"} { (hint) } }
            @if let Some(error) = error {
                span.error id={(name) "-error"} { span.visually-hidden { "Fejl: " } (error) }
            }
            (input)
        }
    }
}

/// A capacity bar: booked, other duties and free minutes of a week, with the numbers written
/// out (the bar alone would tell by colour and length only).
pub fn capacity_bar(capacity: i32, booked: i32, other: i32) -> Markup {
    let capacity = capacity.max(0);
    let free = (capacity - booked - other).max(0);
    let pct = |part: i32| {
        if capacity == 0 {
            0.0
        } else {
            f64::from(part.max(0)) * 100.0 / f64::from(capacity)
        }
    };
    html! {
        div.capacity data-capacity=(capacity) data-booked=(booked) data-other=(other) data-free=(free) {
            div.bar aria-hidden="true" {
                span.booked style={"width:" (format!("{:.1}", pct(booked))) "%"} {}
                span.other style={"width:" (format!("{:.1}", pct(other))) "%"} {}
            }
            p.bar-text {
                "Tilknyttet " (crate::format::minutes(i64::from(booked)))
                " · andre opgaver " (crate::format::minutes(i64::from(other)))
                " · " strong { "ledig " (crate::format::minutes(i64::from(free))) }
                " af " (crate::format::minutes(i64::from(capacity))) " om ugen"
            }
        }
    }
}

/// Plain, accessible, phone first: system fonts, 16 px text, 4.5:1 contrast or more, visible
/// focus, targets of at least 44 px on touch screens, no information by colour alone.
const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:1rem;line-height:1.5;color:#1b1b1b;background:#f7f7f5}
a{color:#0b4f9c}a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus{outline:3px solid #c75000;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:8px;z-index:2}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.5rem 1rem;background:#14365d;color:#fff}
header.top a{color:#fff}.brand a{font-weight:700;font-size:1.2rem;text-decoration:none}
header nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}
header nav a[aria-current=page]{font-weight:700;text-decoration:underline;text-underline-offset:4px}
.who{margin-left:auto;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}.who .muted{color:#dfe6ee}
button.link{background:none;border:1px solid #fff;color:#fff;padding:.25rem .75rem;border-radius:4px;cursor:pointer;min-height:2.25rem}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
.muted{color:#595959}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1rem}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid #d0d0d0;vertical-align:top}
th{background:#eef1f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
.table-wrap{overflow-x:auto}
.card{background:#fff;border:1px solid #d0d0d0;border-radius:6px;padding:1rem;margin:0 0 1rem}
.cards{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(18rem,1fr))}
.field{margin:0 0 1rem;display:flex;flex-direction:column;gap:.25rem;max-width:32rem}
.field label{font-weight:600}.hint{color:#595959;font-size:.95rem}
.field.invalid{border-left:4px solid #b3261e;padding-left:.75rem}.error{color:#b3261e;font-weight:600}
input,select,textarea{font:inherit;padding:.5rem;border:2px solid #595959;border-radius:4px;background:#fff;min-height:2.75rem;width:100%}
textarea{min-height:5rem}
input[type=radio],input[type=checkbox]{width:1.5rem;height:1.5rem;min-height:0;margin:0;flex:none}
h3.rule{font-size:1.05rem;margin:1rem 0 .25rem}
.choice{display:flex;align-items:center;gap:.6rem;margin:.35rem 0;min-height:2.75rem}.choice label{font-weight:400}
fieldset{border:1px solid #8a8a8a;border-radius:4px;margin:0 0 1rem;padding:.5rem 1rem;max-width:32rem}legend{font-weight:600;padding:0 .25rem}
button,.button{font:inherit;font-weight:600;padding:.6rem 1.1rem;border-radius:4px;border:2px solid #14365d;background:#14365d;color:#fff;cursor:pointer;min-height:2.75rem;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:#14365d}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}
.inline{display:inline}
.problem{border:3px solid #b3261e;background:#fff;padding:.75rem 1rem;margin:0 0 1rem;border-radius:4px}.problem h2{margin-top:0;color:#b3261e}
.notice{border-left:6px solid #1f6f3f;background:#fff;padding:.75rem 1rem;margin:0 0 1rem}
.warning{border-left:6px solid #8a4b00;background:#fff8ec;padding:.75rem 1rem;margin:0 0 1rem}
.tag{display:inline-block;border:1px solid #595959;border-radius:3px;padding:0 .4rem;font-size:.9rem;background:#fff}
.tag.bad{border-color:#b3261e;color:#8c1d18;font-weight:600}.tag.good{border-color:#1f6f3f;color:#1f6f3f}
.capacity .bar{display:flex;height:.9rem;background:repeating-linear-gradient(45deg,#fff,#fff 4px,#e6e6e6 4px,#e6e6e6 8px);border:1px solid #595959;border-radius:3px;overflow:hidden}
.capacity .booked{background:#14365d}.capacity .other{background:#8a8a8a}
.capacity .bar-text{margin:.25rem 0 0;font-size:.95rem}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{font-weight:600}dd{margin:0}
figure{margin:0 0 1rem;max-width:60rem}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
.personas{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));list-style:none;padding:0}
.personas button{width:100%;text-align:left}
.personas .muted{display:block;font-weight:400;font-size:.9rem;color:#dfe6ee}
svg text{font-family:inherit}
@media (max-width:40rem){main{padding:.75rem}th,td{padding:.4rem}h1{font-size:1.35rem}.who{margin-left:0}}
@media print{header.top,.skip,.actions,.no-print,form{display:none}body{background:#fff;font-size:10pt}main{max-width:none;padding:0}.table-wrap{overflow:visible}th{background:#eee}h2{break-after:avoid}tr{break-inside:avoid}a{color:inherit;text-decoration:none}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capacity_bar_writes_its_numbers_out() {
        let bar = capacity_bar(1800, 300, 600).into_string();
        assert!(bar.contains("data-free=\"900\""));
        assert!(bar.contains("ledig 15 t"));
        assert!(bar.contains("af 30 t om ugen"));
        let overbooked = capacity_bar(0, 60, 0).into_string();
        assert!(overbooked.contains("data-free=\"0\""));
    }

    #[test]
    fn a_field_named_by_the_service_shows_its_error_next_to_it() {
        let problem = Problem::invalid("time_entry.minutes", "1 to 1440");
        let markup = field(
            Some(&problem),
            "minutes",
            "Minutter",
            None,
            html! { input; },
        );
        let text = markup.into_string();
        assert!(text.contains("class=\"field invalid\""));
        assert!(text.contains("1 to 1440"));
    }
}
