//! The budget plot as an accessible inline SVG drawn on the server.

use std::fmt::{self, Write as _};

use chrono::{Datelike as _, NaiveDate};
use kontakt_proto::timecost::v1::{BudgetStatus, MunicipalityBudget};

use super::{frame_name, month_name, months_in_order, municipality_code, ore, share_or_dash};
use crate::format;

const WIDTH: f64 = 720.0;

// The cumulative spend chart: its plot area.
const PLOT_LEFT: f64 = 110.0;
const PLOT_RIGHT: f64 = 700.0;
const PLOT_TOP: f64 = 76.0;
const PLOT_BOTTOM: f64 = 276.0;

// The municipality bars.
const BARS_TOP: f64 = 336.0;
const BAR_LEFT: f64 = 20.0;
const BAR_RIGHT: f64 = 700.0;
const BAR_BLOCK: f64 = 68.0;
const BAR_HEIGHT: f64 = 22.0;

// Colours: text and lines have at least 4.5:1 against white, the fills at least 3:1.
const INK: &str = "#1a1a1a";
const GREY: &str = "#595959";
const GRID: &str = "#d0d0d0";
const SPENT: &str = "#1f4e79";
const COMMITTED: &str = "#a14a0e";

const FONT: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

/// The budget plot as inline SVG: the year's cumulative spend per month against the indexed
/// amount, and per municipality a stacked bar of spent, committed and free of its expected
/// share. Labelled for screen readers (`role="img"`, a Danish `<title>` and a `<desc>` with
/// all the figures); every figure is also written as text, and the bars have patterns and a
/// legend, so nothing is told by colour alone. Elements carry the figures as `data-`
/// attributes (`data-month`, `data-cumulative-spent-ore`, `data-municipality`,
/// `data-spent-ore`, …). Scales with its container (`width="100%"` and a `viewBox`).
pub fn svg(status: &BudgetStatus) -> String {
    let mut out = String::with_capacity(8 * 1024);
    if let Err(error) = draw(status, &mut out) {
        // Writing to a String does not fail; keep the page rendering if it ever did.
        tracing::error!(%error, "could not draw the budget plot");
        return String::new();
    }
    out
}

/// A month on the plot: its number, spend and the year's spend up to and including it.
struct Point {
    date: NaiveDate,
    spent: i64,
    cumulative: i64,
}

fn draw(status: &BudgetStatus, out: &mut String) -> fmt::Result {
    let id = format!("budgetplot-{}", slug(&frame_name(status)));
    let points = cumulative_points(status);
    let municipalities = &status.municipalities;
    let height = if municipalities.is_empty() {
        BARS_TOP + 90.0
    } else {
        BARS_TOP + 56.0 + BAR_BLOCK * municipalities.len() as f64 + 8.0
    };

    write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {WIDTH} {height:.0}" role="img" aria-labelledby="{id}-title {id}-desc" font-family="{FONT}" font-size="13" fill="{INK}" data-frame="{frame}" data-year="{year}" data-indexed-ore="{indexed}">"#,
        frame = escape(&frame_name(status)),
        year = status.year,
        indexed = ore(status.indexed_amount.as_ref()),
    )?;
    write!(
        out,
        r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&plot_title(status)),
        escape(&plot_description(status, &points)),
    )?;
    write!(
        out,
        r##"<defs><pattern id="{id}-committed" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff"/><rect width="3.5" height="8" fill="{COMMITTED}"/></pattern><pattern id="{id}-free" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#ffffff"/><circle cx="3" cy="3" r="1.4" fill="{GREY}"/></pattern></defs>"##
    )?;
    write!(
        out,
        r##"<rect width="{WIDTH}" height="{height:.0}" fill="#ffffff"/>"##
    )?;

    draw_months(status, &points, out)?;
    draw_municipalities(status, &id, out)?;

    out.push_str("</svg>");
    Ok(())
}

fn plot_title(status: &BudgetStatus) -> String {
    format!(
        "Budgetstatus {} for {}: forbrug pr. måned og pr. kommune",
        status.year,
        frame_name(status)
    )
}

/// Everything the plot shows, as Danish sentences for screen readers.
fn plot_description(status: &BudgetStatus, points: &[Point]) -> String {
    let mut text = format!(
        "Opgjort pr. {}. Rammen er {} (indekseret). Forbrugt {}, disponeret {}, fri {}.",
        format::proto_date(status.as_of.as_ref()),
        whole_kroner_text(ore(status.indexed_amount.as_ref())),
        whole_kroner_text(ore(status.spent.as_ref())),
        whole_kroner_text(ore(status.committed.as_ref())),
        whole_kroner_text(ore(status.free.as_ref())),
    );
    if status.threshold_passed {
        text.push_str(" Varslingsgrænsen er passeret.");
    }
    if points.is_empty() {
        text.push_str(" Intet forbrug registreret pr. måned endnu.");
    } else {
        text.push_str(" Forbrug akkumuleret pr. måned: ");
        let months: Vec<String> = points
            .iter()
            .map(|p| format!("{} {}", month_name(p.date), whole_kroner_text(p.cumulative)))
            .collect();
        text.push_str(&months.join(", "));
        text.push('.');
    }
    if status.municipalities.is_empty() {
        text.push_str(" Rammen er ikke fordelt på kommuner.");
    } else {
        text.push_str(" Pr. kommune af den forventede andel: ");
        let municipalities: Vec<String> = status
            .municipalities
            .iter()
            .map(|m| {
                let [spent, committed, free] = bar_parts(m);
                format!(
                    "{} (andel {}): forventet {}, forbrugt {spent}, disponeret {committed}, {}",
                    format::municipality(&m.municipality),
                    share_or_dash(m.share.as_ref()),
                    whole_kroner_text(ore(m.expected.as_ref())),
                    free.to_lowercase(),
                )
            })
            .collect();
        text.push_str(&municipalities.join("; "));
        text.push('.');
    }
    text
}

fn cumulative_points(status: &BudgetStatus) -> Vec<Point> {
    let mut cumulative: i64 = 0;
    months_in_order(status)
        .into_iter()
        .filter_map(|(date, month)| {
            let date = date?;
            (status.year == 0 || date.year() == status.year).then_some((date, month))
        })
        .map(|(date, month)| {
            let spent = ore(month.spent.as_ref());
            cumulative = cumulative.saturating_add(spent);
            Point {
                date,
                spent,
                cumulative,
            }
        })
        .collect()
}

fn draw_months(status: &BudgetStatus, points: &[Point], out: &mut String) -> fmt::Result {
    let indexed = ore(status.indexed_amount.as_ref());
    let highest = points
        .iter()
        .map(|p| p.cumulative)
        .chain([indexed, 0])
        .max()
        .unwrap_or(0);
    let (step, ticks) = axis(highest);
    let top_kroner = (step * ticks) as f64;
    let y_of = |ore: i64| -> f64 {
        let kroner = ore as f64 / 100.0;
        let y = PLOT_BOTTOM - kroner / top_kroner * (PLOT_BOTTOM - PLOT_TOP);
        y.clamp(PLOT_TOP, PLOT_BOTTOM)
    };
    let slot = (PLOT_RIGHT - PLOT_LEFT) / 12.0;
    let x_of = |month: u32| PLOT_LEFT + slot * (f64::from(month) - 0.5);

    let year = if status.year == 0 {
        String::new()
    } else {
        format!(" i {}", status.year)
    };
    write!(
        out,
        r#"<text x="20" y="26" font-size="16" font-weight="bold">Forbrug{year}, akkumuleret pr. måned</text>"#
    )?;

    // Legend: the spend line and the frame line differ in dash pattern and marker, and are
    // named in text.
    write!(
        out,
        r#"<g aria-hidden="true"><line x1="20" y1="46" x2="48" y2="46" stroke="{SPENT}" stroke-width="3"/><circle cx="34" cy="46" r="4" fill="{SPENT}"/><text x="56" y="50">Forbrugt i alt (akkumuleret)</text><line x1="260" y1="46" x2="288" y2="46" stroke="{GREY}" stroke-width="2" stroke-dasharray="6 3"/><text x="296" y="50">Rammen (indekseret)</text></g>"#
    )?;

    // Y axis: grid lines and amounts with thousand points.
    out.push_str(r#"<g data-axis="y">"#);
    for tick in 0..=ticks {
        let kroner = step * tick;
        let y = PLOT_BOTTOM - (kroner as f64) / top_kroner * (PLOT_BOTTOM - PLOT_TOP);
        let colour = if tick == 0 { GREY } else { GRID };
        write!(
            out,
            r#"<line x1="{PLOT_LEFT}" y1="{y:.1}" x2="{PLOT_RIGHT}" y2="{y:.1}" stroke="{colour}" stroke-width="1"/><text x="{x:.1}" y="{ty:.1}" text-anchor="end" font-size="12">{label} kr.</text>"#,
            x = PLOT_LEFT - 8.0,
            ty = y + 4.0,
            label = format::integer(i64::try_from(kroner).unwrap_or(i64::MAX)),
        )?;
    }
    out.push_str("</g>");

    // X axis: the Danish short months.
    out.push_str(r#"<g data-axis="x">"#);
    for month in 1..=12 {
        write!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle" font-size="12">{label}</text>"#,
            x = x_of(month),
            y = PLOT_BOTTOM + 20.0,
            label = escape(format::short_month(month)),
        )?;
    }
    out.push_str("</g>");

    // The indexed amount as a dashed horizontal line, named in text.
    if indexed > 0 {
        let y = y_of(indexed);
        write!(
            out,
            r#"<g data-series="indexed-amount" data-indexed-ore="{indexed}"><line x1="{PLOT_LEFT}" y1="{y:.1}" x2="{PLOT_RIGHT}" y2="{y:.1}" stroke="{GREY}" stroke-width="2" stroke-dasharray="6 3"/><text x="{PLOT_RIGHT}" y="{ty:.1}" text-anchor="end" font-size="12">Rammen: {label}</text></g>"#,
            ty = y - 6.0,
            label = whole_kroner_text(indexed),
        )?;
    }

    if points.is_empty() {
        write!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle">Intet forbrug registreret{year} endnu.</text>"#,
            x = (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            y = (PLOT_TOP + PLOT_BOTTOM) / 2.0 + 20.0,
        )?;
        return Ok(());
    }

    // The cumulative spend: a line from zero at the start of the year through each month.
    out.push_str(r#"<g data-series="cumulative-spent">"#);
    let mut path = format!("M{:.1},{:.1}", PLOT_LEFT, PLOT_BOTTOM);
    for point in points {
        write!(
            path,
            " L{:.1},{:.1}",
            x_of(point.date.month()),
            y_of(point.cumulative)
        )?;
    }
    write!(
        out,
        r#"<path d="{path}" fill="none" stroke="{SPENT}" stroke-width="3" stroke-linejoin="round"/>"#
    )?;
    for point in points {
        write!(
            out,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="4.5" fill="{SPENT}" stroke="#ffffff" stroke-width="1.5" data-month="{month}" data-spent-ore="{spent}" data-cumulative-spent-ore="{cumulative}"><title>{title}</title></circle>"##,
            x = x_of(point.date.month()),
            y = y_of(point.cumulative),
            month = point.date.format("%Y-%m"),
            spent = point.spent,
            cumulative = point.cumulative,
            title = escape(&format!(
                "{}: {} i måneden, {} i alt",
                month_name(point.date),
                whole_kroner_text(point.spent),
                whole_kroner_text(point.cumulative)
            )),
        )?;
    }
    if let Some(last) = points.last() {
        let month = last.date.month();
        let anchor = if month >= 11 {
            "end"
        } else if month <= 1 {
            "start"
        } else {
            "middle"
        };
        write!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}" font-size="12" font-weight="bold">{label}</text>"#,
            x = x_of(month),
            y = (y_of(last.cumulative) - 10.0).max(PLOT_TOP - 4.0),
            label = whole_kroner_text(last.cumulative),
        )?;
    }
    out.push_str("</g>");
    Ok(())
}

fn draw_municipalities(status: &BudgetStatus, id: &str, out: &mut String) -> fmt::Result {
    write!(
        out,
        r#"<text x="20" y="{y:.1}" font-size="16" font-weight="bold">Forbrug pr. kommune af den forventede andel</text>"#,
        y = BARS_TOP,
    )?;
    if status.municipalities.is_empty() {
        write!(
            out,
            r#"<text x="20" y="{y:.1}">Rammen er ikke fordelt på kommuner.</text>"#,
            y = BARS_TOP + 32.0,
        )?;
        return Ok(());
    }

    // Legend: fill, pattern and name of each part, and the mark for the expected amount.
    let ly = BARS_TOP + 22.0;
    write!(
        out,
        r#"<g aria-hidden="true"><rect x="20" y="{sy:.1}" width="16" height="14" fill="{SPENT}"/><text x="42" y="{ly:.1}">Forbrugt</text><rect x="130" y="{sy:.1}" width="16" height="14" fill="url(#{id}-committed)" stroke="{COMMITTED}"/><text x="152" y="{ly:.1}">Disponeret</text><rect x="255" y="{sy:.1}" width="16" height="14" fill="url(#{id}-free)" stroke="{GREY}"/><text x="277" y="{ly:.1}">Fri</text><line x1="335" y1="{my1:.1}" x2="335" y2="{my2:.1}" stroke="{INK}" stroke-width="2"/><text x="343" y="{ly:.1}">Forventet andel</text></g>"#,
        sy = ly - 11.0,
        my1 = ly - 13.0,
        my2 = ly + 4.0,
    )?;

    // One scale for all bars, so the municipalities can be compared.
    let scale = status
        .municipalities
        .iter()
        .map(|m| {
            let parts = positive(ore(m.spent.as_ref()))
                .saturating_add(positive(ore(m.committed.as_ref())))
                .saturating_add(positive(ore(m.free.as_ref())));
            parts.max(ore(m.expected.as_ref()))
        })
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width_of = |ore: i64| positive(ore) as f64 / scale * (BAR_RIGHT - BAR_LEFT);

    for (index, municipality) in status.municipalities.iter().enumerate() {
        let top = BARS_TOP + 40.0 + BAR_BLOCK * index as f64;
        let expected = ore(municipality.expected.as_ref());
        let spent = ore(municipality.spent.as_ref());
        let committed = ore(municipality.committed.as_ref());
        let free = ore(municipality.free.as_ref());
        write!(
            out,
            r#"<g data-municipality="{code}" data-expected-ore="{expected}" data-spent-ore="{spent}" data-committed-ore="{committed}" data-free-ore="{free}">"#,
            code = escape(municipality_code(municipality)),
        )?;
        write!(
            out,
            r#"<text x="{BAR_LEFT}" y="{y:.1}" font-weight="bold">{name} ({code}), andel {share}</text>"#,
            y = top + 14.0,
            name = escape(&format::municipality(&municipality.municipality)),
            code = escape(municipality_code(municipality)),
            share = escape(&share_or_dash(municipality.share.as_ref())),
        )?;
        let bar_y = top + 22.0;
        let mut x = BAR_LEFT;
        let parts = [
            ("spent", spent, SPENT.to_owned(), SPENT),
            (
                "committed",
                committed,
                format!("url(#{id}-committed)"),
                COMMITTED,
            ),
            ("free", free, format!("url(#{id}-free)"), GREY),
        ];
        for (part, amount, fill, stroke) in parts {
            let width = width_of(amount);
            if width > 0.0 {
                write!(
                    out,
                    r#"<rect x="{x:.1}" y="{bar_y:.1}" width="{width:.1}" height="{BAR_HEIGHT}" fill="{fill}" stroke="{stroke}" stroke-width="1" data-part="{part}"/>"#,
                )?;
            }
            x += width;
        }
        if expected > 0 {
            write!(
                out,
                r#"<line x1="{mx:.1}" y1="{y1:.1}" x2="{mx:.1}" y2="{y2:.1}" stroke="{INK}" stroke-width="2" data-part="expected"/>"#,
                mx = BAR_LEFT + width_of(expected),
                y1 = bar_y - 4.0,
                y2 = bar_y + BAR_HEIGHT + 4.0,
            )?;
        }
        write!(
            out,
            r#"<text x="{BAR_LEFT}" y="{y:.1}" font-size="12">{values} af forventet {expected}</text>"#,
            y = bar_y + BAR_HEIGHT + 16.0,
            values = escape(&bar_values(municipality)),
            expected = whole_kroner_text(expected),
        )?;
        out.push_str("</g>");
    }
    Ok(())
}

/// `Forbrugt 700.000 kr. · Disponeret 1.500.000 kr. · Fri 637.333 kr.`; an overspent
/// municipality reads `Overskredet med 12.000 kr.` instead of a negative free amount.
fn bar_values(municipality: &MunicipalityBudget) -> String {
    let [spent, committed, free] = bar_parts(municipality);
    format!("Forbrugt {spent} · Disponeret {committed} · {free}")
}

/// The spent and committed amounts, and `Fri …` or `Overskredet med …`.
fn bar_parts(municipality: &MunicipalityBudget) -> [String; 3] {
    let free = ore(municipality.free.as_ref());
    let free_text = if free < 0 {
        format!(
            "Overskredet med {}",
            whole_kroner_text(free.saturating_neg())
        )
    } else {
        format!("Fri {}", whole_kroner_text(free))
    };
    [
        whole_kroner_text(ore(municipality.spent.as_ref())),
        whole_kroner_text(ore(municipality.committed.as_ref())),
        free_text,
    ]
}

/// Axis ticks for amounts up to `highest_ore`: a round step in kroner (1, 2 or 5 times a power
/// of ten) and how many steps reach the highest amount.
pub(super) fn axis(highest_ore: i64) -> (u64, u64) {
    let highest_kroner = highest_ore.max(0).unsigned_abs().div_ceil(100);
    let raw = highest_kroner.div_ceil(4).max(1);
    let mut magnitude: u64 = 1;
    while magnitude.saturating_mul(10) <= raw && magnitude < 1_000_000_000_000_000_000 {
        magnitude *= 10;
    }
    let step = [1, 2, 5, 10]
        .into_iter()
        .map(|factor| magnitude.saturating_mul(factor))
        .find(|step| *step >= raw)
        .unwrap_or(raw);
    (step, highest_kroner.div_ceil(step).max(1))
}

/// Øre rounded half away from zero to whole kroner, with thousand points: `1.234.567 kr.`.
fn whole_kroner_text(ore: i64) -> String {
    let abs = i64::try_from(ore.unsigned_abs().saturating_add(50) / 100).unwrap_or(i64::MAX);
    format!("{} kr.", format::integer(if ore < 0 { -abs } else { abs }))
}

fn positive(ore: i64) -> i64 {
    ore.max(0)
}

/// Text for SVG/XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A name safe in an `id`: ASCII letters, digits, `-` and `_`, anything else as `-`.
fn slug(text: &str) -> String {
    let text = text.rsplit('/').next().unwrap_or(text);
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}
