//! Budget downloads and plot for the finance screen: a frame's [`BudgetStatus`] as a CSV in
//! Danish spreadsheet conventions, as an XLSX workbook, and as an accessible inline SVG drawn
//! on the server.
//!
//! The CSV is what a Danish Excel opens without an import dialog: UTF-8 with a BOM, `;`
//! between fields, a decimal comma and no thousands separators (so amounts are numbers),
//! dates as `dd.mm.åååå`. It has sections separated by an empty line, each with its own header
//! row. The workbook has the same figures as real numbers in kroner with a number format that
//! Excel shows in the reader's own locale.

use std::fmt::{self, Write as _};

use chrono::{Datelike as _, NaiveDate};
use kontakt_proto::common::v1::{Date, Money};
use kontakt_proto::timecost::v1::{
    BudgetStatus, CategorySpend, MonthSpend, MunicipalityBudget, MunicipalityShare,
};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::format;

/// The UTF-8 byte order mark, which makes Excel read the CSV as UTF-8 (æ, ø, å).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Kroner in the workbook; Excel swaps the separators for the reader's locale.
const MONEY_FORMAT: &str = "#,##0.00 \"kr.\"";

/// The name of the row with the frame's own figures, under the municipalities.
const FRAME_TOTAL: &str = "Rammen i alt";

const MUNICIPALITY_HEADER: [&str; 7] = [
    "Kommune",
    "Kommunekode",
    "Andel",
    "Forventet (kr.)",
    "Forbrugt (kr.)",
    "Disponeret (kr.)",
    "Fri (kr.)",
];

const MONTH_HEADER: [&str; 3] = ["Måned", "Forbrugt (kr.)", "Timer"];

const CATEGORY_HEADER: [&str; 2] = ["Kategori", "Forbrugt (kr.)"];

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/// The budget status as a CSV file for a Danish spreadsheet (see the module documentation).
///
/// Sections, each with a header row and separated by an empty line: the frame (name, year,
/// day computed, indexed amount, whether the warning threshold is passed); one row per
/// municipality and a row `Rammen i alt` with the frame's figures; one row per month; and the
/// spend by category when the status has it.
pub fn csv(status: &BudgetStatus) -> Vec<u8> {
    match write_csv(status) {
        Ok(bytes) => bytes,
        // Writing to memory cannot fail on I/O and the writer is flexible, so this is not
        // expected; an empty download is better than a panic.
        Err(error) => {
            tracing::error!(%error, "could not write the budget CSV");
            Vec::new()
        }
    }
}

fn write_csv(status: &BudgetStatus) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv_writer(BOM.to_vec());

    out.write_record([
        "Ramme",
        "År",
        "Opgjort pr.",
        "Rammebeløb, indekseret (kr.)",
        "Varslingsgrænse passeret",
    ])?;
    out.write_record([
        frame_name(status),
        status.year.to_string(),
        format::proto_date(status.as_of.as_ref()),
        plain_kroner(ore(status.indexed_amount.as_ref())),
        if status.threshold_passed { "ja" } else { "nej" }.to_owned(),
    ])?;
    out = blank_line(out)?;

    out.write_record(MUNICIPALITY_HEADER)?;
    for municipality in &status.municipalities {
        out.write_record([
            format::municipality(&municipality.municipality),
            municipality_code(municipality).to_owned(),
            share(municipality.share.as_ref()),
            plain_kroner(ore(municipality.expected.as_ref())),
            plain_kroner(ore(municipality.spent.as_ref())),
            plain_kroner(ore(municipality.committed.as_ref())),
            plain_kroner(ore(municipality.free.as_ref())),
        ])?;
    }
    out.write_record([
        FRAME_TOTAL.to_owned(),
        String::new(),
        String::new(),
        plain_kroner(ore(status.indexed_amount.as_ref())),
        plain_kroner(ore(status.spent.as_ref())),
        plain_kroner(ore(status.committed.as_ref())),
        plain_kroner(ore(status.free.as_ref())),
    ])?;
    out = blank_line(out)?;

    out.write_record(MONTH_HEADER)?;
    for (date, month) in months_in_order(status) {
        out.write_record([
            date.map_or_else(|| "–".to_owned(), month_name),
            plain_kroner(ore(month.spent.as_ref())),
            plain_hours(month.minutes),
        ])?;
    }

    if let Some(categories) = &status.spent_by_category {
        out = blank_line(out)?;
        out.write_record(CATEGORY_HEADER)?;
        for (label, amount) in categories_of(categories) {
            out.write_record([label.to_owned(), plain_kroner(amount)])?;
        }
    }

    finish(out)
}

/// A writer of `;`-separated records ending in CRLF, appending to `bytes`; flexible, since
/// the sections have different numbers of columns.
fn csv_writer(bytes: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .terminator(csv::Terminator::CRLF)
        .from_writer(bytes)
}

fn finish(out: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, csv::Error> {
    out.into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

/// An empty line between sections (the writer itself would write `""` for an empty record).
fn blank_line(out: csv::Writer<Vec<u8>>) -> Result<csv::Writer<Vec<u8>>, csv::Error> {
    let mut bytes = finish(out)?;
    bytes.extend_from_slice(b"\r\n");
    Ok(csv_writer(bytes))
}

/// Øre as kroner with a decimal comma and no thousands separator: `-1234,56`.
fn plain_kroner(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let abs = ore.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// Minutes as hours with two decimals (half away from zero) and a decimal comma: `30,02`.
fn plain_hours(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let hundredths = (u128::from(minutes.unsigned_abs()) * 100 + 30) / 60;
    format!("{sign}{},{:02}", hundredths / 100, hundredths % 100)
}

// ---------------------------------------------------------------------------------------------
// XLSX
// ---------------------------------------------------------------------------------------------

/// The budget status as an XLSX workbook: sheet `Kommuner` (one row per municipality and the
/// frame's total), sheet `Måneder` (spend and hours per month) and, when the status has it,
/// sheet `Kategorier`. Amounts are numbers in kroner formatted `#,##0.00 "kr."`.
pub fn xlsx(status: &BudgetStatus) -> Result<Vec<u8>, String> {
    let mut workbook = workbook(status)
        .map_err(|error| format!("could not build the budget workbook: {error}"))?;
    workbook
        .save_to_buffer()
        .map_err(|error| format!("could not write the budget workbook: {error}"))
}

/// The row of a sheet's column headers; the rows above are the title.
const HEADER_ROW: u32 = 3;

struct Formats {
    title: Format,
    bold: Format,
    money: Format,
    bold_money: Format,
    hours: Format,
}

fn workbook(status: &BudgetStatus) -> Result<Workbook, XlsxError> {
    let formats = Formats {
        title: Format::new().set_bold().set_font_size(14),
        bold: Format::new().set_bold(),
        money: Format::new().set_num_format(MONEY_FORMAT),
        bold_money: Format::new().set_num_format(MONEY_FORMAT).set_bold(),
        hours: Format::new().set_num_format("0.00"),
    };
    let mut workbook = Workbook::new();

    let sheet = workbook.add_worksheet();
    sheet.set_name("Kommuner")?;
    municipality_sheet(sheet, status, &formats)?;

    let sheet = workbook.add_worksheet();
    sheet.set_name("Måneder")?;
    month_sheet(sheet, status, &formats)?;

    if let Some(categories) = &status.spent_by_category {
        let sheet = workbook.add_worksheet();
        sheet.set_name("Kategorier")?;
        category_sheet(sheet, status, categories, &formats)?;
    }
    Ok(workbook)
}

/// The two title rows every sheet starts with, and the bold header row under them.
fn sheet_heading(
    sheet: &mut Worksheet,
    status: &BudgetStatus,
    header: &[&str],
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.write_string_with_format(
        0,
        0,
        format!("Budgetstatus {} – {}", status.year, frame_name(status)),
        &formats.title,
    )?;
    let mut subtitle = format!("Opgjort pr. {}", format::proto_date(status.as_of.as_ref()));
    if status.threshold_passed {
        subtitle.push_str(". Varslingsgrænsen er passeret.");
    }
    sheet.write_string(1, 0, subtitle)?;
    for (col, title) in (0u16..).zip(header) {
        sheet.write_string_with_format(HEADER_ROW, col, *title, &formats.bold)?;
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    Ok(())
}

fn municipality_sheet(
    sheet: &mut Worksheet,
    status: &BudgetStatus,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet_heading(sheet, status, &MUNICIPALITY_HEADER, formats)?;
    let mut row = HEADER_ROW + 1;
    for municipality in &status.municipalities {
        sheet.write_string(row, 0, format::municipality(&municipality.municipality))?;
        sheet.write_string(row, 1, municipality_code(municipality))?;
        sheet.write_string(row, 2, share(municipality.share.as_ref()))?;
        let amounts = [
            &municipality.expected,
            &municipality.spent,
            &municipality.committed,
            &municipality.free,
        ];
        kroner_cells(sheet, row, amounts, &formats.money)?;
        row += 1;
    }
    sheet.write_string_with_format(row, 0, FRAME_TOTAL, &formats.bold)?;
    let totals = [
        &status.indexed_amount,
        &status.spent,
        &status.committed,
        &status.free,
    ];
    kroner_cells(sheet, row, totals, &formats.bold_money)?;

    sheet.set_column_width(0, 20)?;
    sheet.set_column_width(1, 13)?;
    sheet.set_column_width(2, 8)?;
    for col in 3..=6 {
        sheet.set_column_width(col, 18)?;
    }
    Ok(())
}

/// A municipality's or the frame's four amounts (expected, spent, committed, free), in
/// kroner from column 3 on.
fn kroner_cells(
    sheet: &mut Worksheet,
    row: u32,
    amounts: [&Option<Money>; 4],
    format: &Format,
) -> Result<(), XlsxError> {
    for (col, amount) in (3u16..).zip(amounts) {
        sheet.write_number_with_format(row, col, kroner_f64(amount.as_ref()), format)?;
    }
    Ok(())
}

fn month_sheet(
    sheet: &mut Worksheet,
    status: &BudgetStatus,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet_heading(sheet, status, &MONTH_HEADER, formats)?;
    for (row, (date, month)) in (HEADER_ROW + 1..).zip(months_in_order(status)) {
        sheet.write_string(row, 0, date.map_or_else(|| "–".to_owned(), month_name))?;
        sheet.write_number_with_format(row, 1, kroner_f64(month.spent.as_ref()), &formats.money)?;
        sheet.write_number_with_format(row, 2, month.minutes as f64 / 60.0, &formats.hours)?;
    }
    sheet.set_column_width(0, 18)?;
    sheet.set_column_width(1, 18)?;
    sheet.set_column_width(2, 10)?;
    Ok(())
}

fn category_sheet(
    sheet: &mut Worksheet,
    status: &BudgetStatus,
    categories: &CategorySpend,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet_heading(sheet, status, &CATEGORY_HEADER, formats)?;
    for (row, (label, amount)) in (HEADER_ROW + 1..).zip(categories_of(categories)) {
        sheet.write_string(row, 0, label)?;
        sheet.write_number_with_format(row, 1, amount as f64 / 100.0, &formats.money)?;
    }
    sheet.set_column_width(0, 34)?;
    sheet.set_column_width(1, 18)?;
    Ok(())
}

fn kroner_f64(money: Option<&Money>) -> f64 {
    ore(money) as f64 / 100.0
}

// ---------------------------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------------------------

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
fn axis(highest_ore: i64) -> (u64, u64) {
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

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

fn ore(money: Option<&Money>) -> i64 {
    money.map_or(0, |m| m.ore)
}

/// The frame's resource name (`frames/…`), from the status's own name when the field is unset.
fn frame_name(status: &BudgetStatus) -> String {
    if status.frame.is_empty() {
        status.name.trim_end_matches("/budgetStatus").to_owned()
    } else {
        status.frame.clone()
    }
}

/// The municipality's code, also when given as `municipalities/{code}`.
fn municipality_code(municipality: &MunicipalityBudget) -> &str {
    let code = municipality.municipality.as_str();
    code.rsplit('/').next().unwrap_or(code)
}

/// `2/3`, or empty when the share is missing.
fn share(share: Option<&MunicipalityShare>) -> String {
    match share {
        Some(s) if s.denominator > 0 => format!("{}/{}", s.numerator, s.denominator),
        _ => String::new(),
    }
}

fn share_or_dash(value: Option<&MunicipalityShare>) -> String {
    let text = share(value);
    if text.is_empty() {
        "–".to_owned()
    } else {
        text
    }
}

/// `januar 2026`.
fn month_name(date: NaiveDate) -> String {
    let name = format::MONTHS
        .get(date.month0() as usize)
        .copied()
        .unwrap_or("");
    format!("{name} {}", date.year())
}

/// The months in calendar order; months without a valid date last, in their given order.
fn months_in_order(status: &BudgetStatus) -> Vec<(Option<NaiveDate>, &MonthSpend)> {
    let mut months: Vec<_> = status
        .months
        .iter()
        .map(|m| (m.month.as_ref().and_then(Date::to_naive), m))
        .collect();
    months.sort_by_key(|(date, _)| (date.is_none(), *date));
    months
}

fn categories_of(categories: &CategorySpend) -> [(&'static str, i64); 4] {
    [
        (
            "Kontaktpersonløn",
            ore(categories.contact_person_pay.as_ref()),
        ),
        ("Eksterne køb", ore(categories.external_purchases.as_ref())),
        (
            "Koordinatorfunktion",
            ore(categories.coordinator_function.as_ref()),
        ),
        (
            "Udgifter (kørsel, aktivitet, tolk)",
            ore(categories.expenses.as_ref()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(ore: i64) -> Option<Money> {
        Some(Money { ore })
    }

    fn month(month: i32, spent: i64, minutes: i64) -> MonthSpend {
        MonthSpend {
            month: Some(Date {
                year: 2026,
                month,
                day: 1,
            }),
            spent: money(spent),
            minutes,
        }
    }

    fn municipality(
        code: &str,
        numerator: i64,
        denominator: i64,
        figures: [i64; 4],
    ) -> MunicipalityBudget {
        let [expected, spent, committed, free] = figures;
        MunicipalityBudget {
            municipality: code.to_owned(),
            share: Some(MunicipalityShare {
                municipality: code.to_owned(),
                numerator,
                denominator,
            }),
            expected: money(expected),
            spent: money(spent),
            committed: money(committed),
            free: money(free),
        }
    }

    /// Ishøj 2/3 and Vallensbæk 1/3 of DKK 4,256,000, at the end of March 2026.
    fn status() -> BudgetStatus {
        BudgetStatus {
            name: "frames/ishoj-vallensbaek/budgetStatus".to_owned(),
            year: 2026,
            as_of: Some(Date {
                year: 2026,
                month: 3,
                day: 31,
            }),
            indexed_amount: money(425_600_000),
            spent: money(100_000_050),
            committed: money(200_000_000),
            free: money(125_599_950),
            threshold_passed: false,
            municipalities: vec![
                municipality(
                    "183",
                    2,
                    3,
                    [283_733_300, 70_000_000, 150_000_000, 63_733_300],
                ),
                municipality(
                    "187",
                    1,
                    3,
                    [141_866_600, 25_000_025, 50_000_000, 66_866_575],
                ),
            ],
            // Out of order on purpose: the files list them by month.
            months: vec![
                month(3, 35_000_050, 1_801),
                month(1, 30_000_000, 1_500),
                month(2, 35_000_000, 1_755),
            ],
            spent_by_category: Some(CategorySpend {
                contact_person_pay: money(80_000_000),
                external_purchases: money(10_000_000),
                coordinator_function: money(8_000_000),
                expenses: money(2_000_050),
            }),
            frame: "frames/ishoj-vallensbaek".to_owned(),
        }
    }

    fn records(bytes: &[u8]) -> Vec<Vec<String>> {
        csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes)
            .records()
            .map(|r| {
                r.expect("a well-formed CSV record")
                    .iter()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    fn row<'a>(records: &'a [Vec<String>], first: &str) -> &'a [String] {
        records
            .iter()
            .find(|r| r.first().is_some_and(|f| f == first))
            .unwrap_or_else(|| panic!("a row starting with {first:?}"))
    }

    #[test]
    fn the_csv_starts_with_a_bom_and_uses_semicolons_and_decimal_commas() {
        let bytes = csv(&status());
        assert!(bytes.starts_with(BOM), "the file starts with the UTF-8 BOM");
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        assert!(text.contains("Ishøj;183;2/3;2837333,00;700000,00;1500000,00;637333,00\r\n"));

        let records = records(&bytes);
        assert_eq!(
            records.first().map(Vec::as_slice),
            Some(
                &[
                    "Ramme",
                    "År",
                    "Opgjort pr.",
                    "Rammebeløb, indekseret (kr.)",
                    "Varslingsgrænse passeret"
                ]
                .map(str::to_owned)[..]
            )
        );
        assert_eq!(
            row(&records, "frames/ishoj-vallensbaek"),
            [
                "frames/ishoj-vallensbaek",
                "2026",
                "31.03.2026",
                "4256000,00",
                "nej"
            ]
        );
        assert_eq!(row(&records, "Kommune"), MUNICIPALITY_HEADER);
        assert_eq!(
            row(&records, "Vallensbæk"),
            [
                "Vallensbæk",
                "187",
                "1/3",
                "1418666,00",
                "250000,25",
                "500000,00",
                "668665,75"
            ]
        );
        assert_eq!(
            row(&records, FRAME_TOTAL),
            [
                FRAME_TOTAL,
                "",
                "",
                "4256000,00",
                "1000000,50",
                "2000000,00",
                "1255999,50"
            ]
        );
    }

    #[test]
    fn the_csv_lists_the_months_in_order_with_hours_after_a_blank_line() {
        let bytes = csv(&status());
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        assert!(
            text.contains(
                "Rammen i alt;;;4256000,00;1000000,50;2000000,00;1255999,50\r\n\r\nMåned;"
            ),
            "an empty line separates the sections: {text}"
        );
        let records = records(&bytes);
        let header = records
            .iter()
            .position(|r| r.first().is_some_and(|f| f == "Måned"))
            .expect("a month header");
        assert_eq!(records[header], MONTH_HEADER);
        assert_eq!(records[header + 1], ["januar 2026", "300000,00", "25,00"]);
        assert_eq!(records[header + 2], ["februar 2026", "350000,00", "29,25"]);
        assert_eq!(records[header + 3], ["marts 2026", "350000,50", "30,02"]);
        assert_eq!(row(&records, "Kategori"), CATEGORY_HEADER);
        assert_eq!(
            row(&records, "Udgifter (kørsel, aktivitet, tolk)"),
            ["Udgifter (kørsel, aktivitet, tolk)", "20000,50"]
        );
    }

    #[test]
    fn csv_numbers_have_a_decimal_comma_and_no_thousands_separator() {
        assert_eq!(plain_kroner(123_456_789), "1234567,89");
        assert_eq!(plain_kroner(-5), "-0,05");
        assert_eq!(plain_kroner(0), "0,00");
        assert_eq!(plain_kroner(i64::MIN), "-92233720368547758,08");
        assert_eq!(plain_hours(90), "1,50");
        assert_eq!(plain_hours(1), "0,02");
        assert_eq!(plain_hours(-20), "-0,33");
        assert_eq!(plain_hours(i64::MIN), "-153722867280912930,13");
    }

    #[test]
    fn the_xlsx_is_a_zip_workbook_with_both_sheets() {
        let bytes = xlsx(&status()).expect("a workbook");
        assert!(
            bytes.starts_with(b"PK\x03\x04"),
            "an XLSX file is a zip archive"
        );
        assert!(bytes.len() > 4_000, "{} bytes is too small", bytes.len());
        // Part names are stored uncompressed in the zip headers.
        let has = |name: &[u8]| bytes.windows(name.len()).any(|w| w == name);
        assert!(has(b"xl/workbook.xml"));
        assert!(has(b"xl/worksheets/sheet1.xml"));
        assert!(has(b"xl/worksheets/sheet2.xml"));
        assert!(has(b"xl/worksheets/sheet3.xml"));

        let mut workbook = workbook(&status()).expect("a workbook");
        for name in ["Kommuner", "Måneder", "Kategorier"] {
            assert!(
                workbook.worksheet_from_name(name).is_ok(),
                "the workbook has the sheet {name}"
            );
        }
    }

    #[test]
    fn the_plot_carries_each_municipalitys_figures_as_data_and_text() {
        let svg = svg(&status());
        assert!(svg.contains(
            r#"<g data-municipality="183" data-expected-ore="283733300" data-spent-ore="70000000" data-committed-ore="150000000" data-free-ore="63733300">"#
        ));
        assert!(svg.contains(
            r#"<g data-municipality="187" data-expected-ore="141866600" data-spent-ore="25000025" data-committed-ore="50000000" data-free-ore="66866575">"#
        ));
        assert!(svg.contains("Ishøj (183), andel 2/3"));
        assert!(svg.contains(
            "Forbrugt 700.000 kr. · Disponeret 1.500.000 kr. · Fri 637.333 kr. af forventet 2.837.333 kr."
        ));
        assert!(svg.contains("Vallensbæk (187), andel 1/3"));
        assert!(svg.contains("Forbrugt 250.000 kr. · Disponeret 500.000 kr. · Fri 668.666 kr."));
        for legend in [">Forbrugt<", ">Disponeret<", ">Fri<", ">Forventet andel<"] {
            assert!(svg.contains(legend), "the legend names {legend}");
        }
        assert_eq!(svg.matches("data-municipality=").count(), 2);
    }

    #[test]
    fn the_plot_accumulates_the_months_in_order_against_the_indexed_amount() {
        let svg = svg(&status());
        assert!(svg.contains(
            r#"data-month="2026-01" data-spent-ore="30000000" data-cumulative-spent-ore="30000000""#
        ));
        assert!(svg.contains(
            r#"data-month="2026-02" data-spent-ore="35000000" data-cumulative-spent-ore="65000000""#
        ));
        assert!(svg.contains(
            r#"data-month="2026-03" data-spent-ore="35000050" data-cumulative-spent-ore="100000050""#
        ));
        let january = svg.find(r#"data-month="2026-01""#).expect("january");
        let march = svg.find(r#"data-month="2026-03""#).expect("march");
        assert!(january < march);
        assert!(svg.contains(r#"data-indexed-ore="425600000""#));
        assert!(svg.contains("Rammen: 4.256.000 kr."));
        assert!(
            svg.contains(">2.000.000 kr.<"),
            "the y axis has thousand points"
        );
        assert!(svg.contains(">jan.<") && svg.contains(">maj<") && svg.contains(">dec.<"));
    }

    #[test]
    fn the_plot_is_labelled_for_screen_readers_and_scales() {
        let svg = svg(&status());
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(
            r#"aria-labelledby="budgetplot-ishoj-vallensbaek-title budgetplot-ishoj-vallensbaek-desc""#
        ));
        assert!(
            svg.contains(r#"<title id="budgetplot-ishoj-vallensbaek-title">Budgetstatus 2026"#)
        );
        let desc_start = svg
            .find(r#"<desc id="budgetplot-ishoj-vallensbaek-desc">"#)
            .expect("a description");
        let desc = &svg[desc_start..svg.find("</desc>").expect("the description ends")];
        assert!(desc.contains("Rammen er 4.256.000 kr."));
        assert!(desc.contains("marts 2026 1.000.001 kr."));
        assert!(desc.contains(
            "Ishøj (andel 2/3): forventet 2.837.333 kr., forbrugt 700.000 kr., disponeret 1.500.000 kr., fri 637.333 kr."
        ));
        assert!(svg.contains(r#"width="100%""#));
        assert!(svg.contains(r#"viewBox="0 0 720 "#));
        assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    }

    #[test]
    fn the_plot_escapes_the_text_it_inserts() {
        let mut status = status();
        status.frame = "frames/a\"b".to_owned();
        if let Some(first) = status.municipalities.first_mut() {
            first.municipality = "<x&y>".to_owned();
        }
        let svg = svg(&status);
        assert!(!svg.contains("<x&y>"));
        assert!(svg.contains("Kommune &lt;x&amp;y&gt;"));
        assert!(svg.contains(r#"data-municipality="&lt;x&amp;y&gt;""#));
        assert!(svg.contains(r#"data-frame="frames/a&quot;b""#));
        assert!(svg.contains(r#"id="budgetplot-a-b-title""#));
    }

    #[test]
    fn an_overspent_municipality_reads_as_overspent_not_as_a_negative_free_amount() {
        let mut status = status();
        status.municipalities = vec![municipality(
            "183",
            1,
            1,
            [100_000_000, 80_000_000, 30_000_000, -10_000_000],
        )];
        let svg = svg(&status);
        assert!(svg.contains(
            "Forbrugt 800.000 kr. · Disponeret 300.000 kr. · Overskredet med 100.000 kr."
        ));
        assert!(!svg.contains(r#"data-part="free""#));
    }

    #[test]
    fn a_status_without_months_or_municipalities_still_renders() {
        let mut status = status();
        status.months.clear();
        status.municipalities.clear();
        status.spent_by_category = None;
        let svg = svg(&status);
        assert!(svg.contains("Intet forbrug registreret i 2026 endnu."));
        assert!(svg.contains("Rammen er ikke fordelt på kommuner."));
        assert!(!svg.contains("data-month="));
        let records = records(&csv(&status));
        assert_eq!(
            row(&records, FRAME_TOTAL),
            [
                FRAME_TOTAL,
                "",
                "",
                "4256000,00",
                "1000000,50",
                "2000000,00",
                "1255999,50"
            ]
        );
        assert_eq!(
            records.last().map(Vec::as_slice),
            Some(&MONTH_HEADER.map(str::to_owned)[..])
        );
        let bytes = xlsx(&status).expect("a workbook");
        assert!(bytes.starts_with(b"PK"));
        assert!(!bytes.windows(24).any(|w| w == b"xl/worksheets/sheet3.xml"));
    }

    #[test]
    fn an_empty_status_renders_all_three_without_panicking() {
        let status = BudgetStatus::default();
        let svg = svg(&status);
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("Intet forbrug registreret endnu."));
        let records = records(&csv(&status));
        assert_eq!(row(&records, ""), ["", "0", "–", "0,00", "nej"]);
        assert!(xlsx(&status).expect("a workbook").starts_with(b"PK"));
    }

    #[test]
    fn the_axis_steps_are_round_amounts() {
        assert_eq!(axis(425_600_000), (2_000_000, 3));
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(-5), (1, 1));
        assert_eq!(axis(10_000), (50, 2));
        let (step, ticks) = axis(i64::MAX);
        assert!(step > 0 && ticks > 0);
    }
}
