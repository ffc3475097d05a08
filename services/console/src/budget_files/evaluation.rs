//! The frame's yearly evaluation (R-FU-5) as the document the committee gets: the same tables
//! on the screen (printable to PDF) and in an XLSX workbook, built from one [`Evaluation`]
//! so the two cannot differ.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use kontakt_proto::common::v1::Date;
use kontakt_proto::timecost::v1::{CategorySpend, FrameEvaluation};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::workbook::{Formats, HEADER_ROW};
use super::{MUNICIPALITY_HEADER, categories_of, month_name, ore};
use crate::format;

/// A municipality's matching requests that nobody suitable can take now (R-MP-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// 3-digit code.
    pub municipality: String,
    pub requests: usize,
    pub minutes_per_week: i64,
}

/// Everything the evaluation document shows.
pub struct Evaluation<'a> {
    /// The frame's name as users know it, e.g. "Kontaktpersonramme Ishøj/Vallensbæk".
    pub frame: &'a str,
    pub dataset: &'a FrameEvaluation,
    /// Unmet demand as of today, per municipality; `None` when the reader may not see it.
    pub unmet: Option<&'a [Unmet]>,
    /// Provider names by resource name (`providers/…`); a missing one shows its id.
    pub providers: &'a BTreeMap<String, String>,
}

/// One row of a table with a column per municipality and a total.
#[derive(Debug, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub per_municipality: Vec<i64>,
    pub total: i64,
}

/// A category of the monthly figures (`CONTACT_PERSON_PAY`, …) in Danish.
pub fn category_label(code: &str) -> &'static str {
    match code {
        "CONTACT_PERSON_PAY" => "Kontaktpersonløn",
        "EXTERNAL_PURCHASES" => "Eksterne køb",
        "EXPENSES" => "Udgifter (kørsel, aktivitet, tolk)",
        _ => "Andet",
    }
}

/// Why a provider's person was bought (R-MP-2), in Danish.
pub fn reason_label(code: &str) -> &'static str {
    match code {
        "SPECIAL_PROBLEM_AREA" => "Særlig problemstilling",
        "NO_CAPACITY" => "Ingen ledig kapacitet",
        _ => "Ikke oplyst",
    }
}

impl Evaluation<'_> {
    pub fn title(&self) -> String {
        format!("Årsevaluering {}: {}", self.dataset.year, self.frame)
    }

    /// The municipalities' codes, in the dataset's order.
    pub fn municipalities(&self) -> Vec<&str> {
        self.dataset
            .municipalities
            .iter()
            .map(|m| m.municipality.as_str())
            .collect()
    }

    /// Spent by category (R-BF-3): a row per category, a column per municipality.
    pub fn category_rows(&self) -> Vec<Row> {
        let empty = CategorySpend::default();
        let per: Vec<[(&str, i64); 4]> = self
            .dataset
            .municipalities
            .iter()
            .map(|m| categories_of(m.spent_by_category.as_ref().unwrap_or(&empty)))
            .collect();
        let total = categories_of(self.dataset.spent_by_category.as_ref().unwrap_or(&empty));
        total
            .iter()
            .enumerate()
            .map(|(i, (label, total))| Row {
                label: (*label).to_owned(),
                per_municipality: per.iter().map(|c| c[i].1).collect(),
                total: *total,
            })
            .collect()
    }

    /// Spent per month: a row per month with spend in any municipality, in calendar order.
    pub fn month_rows(&self) -> Vec<Row> {
        self.months(|m| ore(m.spent.as_ref()))
    }

    /// Registered minutes per month, as [`Self::month_rows`].
    pub fn month_minutes(&self) -> Vec<Row> {
        self.months(|m| m.minutes)
    }

    fn months(&self, value: impl Fn(&kontakt_proto::timecost::v1::MonthSpend) -> i64) -> Vec<Row> {
        let mut months: BTreeMap<NaiveDate, Vec<i64>> = BTreeMap::new();
        let count = self.dataset.municipalities.len();
        for (i, m) in self.dataset.municipalities.iter().enumerate() {
            for month in &m.months {
                if let Some(day) = month.month.as_ref().and_then(Date::to_naive) {
                    months.entry(day).or_insert_with(|| vec![0; count])[i] += value(month);
                }
            }
        }
        let totals: BTreeMap<NaiveDate, i64> = self
            .dataset
            .months
            .iter()
            .filter_map(|m| Some((m.month.as_ref().and_then(Date::to_naive)?, value(m))))
            .collect();
        for day in totals.keys() {
            months.entry(*day).or_insert_with(|| vec![0; count]);
        }
        months
            .into_iter()
            .map(|(day, per_municipality)| Row {
                label: month_name(day),
                total: totals
                    .get(&day)
                    .copied()
                    .unwrap_or_else(|| per_municipality.iter().sum()),
                per_municipality,
            })
            .collect()
    }

    pub fn provider_name<'b>(&'b self, name: &'b str) -> &'b str {
        self.providers
            .get(name)
            .map_or_else(|| name.trim_start_matches("providers/"), String::as_str)
    }
}

/// The evaluation as an XLSX workbook: sheets `Rammen`, `Kommuner`, `Kategorier`, `Måneder`,
/// `Timer` (delivered hours by month), `Detaljer` (municipality × month × category), `Indkøb`
/// and, when the reader may see it, `Udækket behov`. Amounts are numbers in kroner,
/// hours numbers with two decimals.
pub fn evaluation_xlsx(evaluation: &Evaluation<'_>) -> Result<Vec<u8>, String> {
    let mut workbook = workbook(evaluation)
        .map_err(|error| format!("could not build the evaluation workbook: {error}"))?;
    workbook
        .save_to_buffer()
        .map_err(|error| format!("could not write the evaluation workbook: {error}"))
}

fn kroner(ore: i64) -> f64 {
    ore as f64 / 100.0
}

fn hours(minutes: i64) -> f64 {
    minutes as f64 / 60.0
}

pub(super) fn workbook(e: &Evaluation<'_>) -> Result<Workbook, XlsxError> {
    let f = Formats::new();
    let d = e.dataset;
    let mut workbook = Workbook::new();

    let sheet = new_sheet(&mut workbook, "Rammen", e, &["", "Beløb / antal"], &f)?;
    let lines: [(&str, f64, &Format); 7] = [
        (
            "Rammen (indekseret)",
            kroner(ore(d.indexed_amount.as_ref())),
            &f.money,
        ),
        ("Forbrugt", kroner(ore(d.spent.as_ref())), &f.money),
        (
            "Disponeret resten af året",
            kroner(ore(d.committed.as_ref())),
            &f.money,
        ),
        ("Fri", kroner(free(d)), &f.bold_money),
        ("Forløb", f64::from(d.arrangements), &f.bold),
        ("Bevilgede timer", hours(d.granted_minutes), &f.hours),
        ("Leverede timer", hours(d.delivered_minutes), &f.hours),
    ];
    for (row, (label, value, format)) in (HEADER_ROW + 1..).zip(lines) {
        sheet.write_string(row, 0, label)?;
        sheet.write_number_with_format(row, 1, value, format)?;
    }
    sheet.set_column_width(0, 28)?;
    sheet.set_column_width(1, 18)?;

    // The budget status's columns, then the year's arrangements and hours.
    let mut header = MUNICIPALITY_HEADER.to_vec();
    header.extend(["Forløb", "Bevilgede timer", "Leverede timer"]);
    let sheet = new_sheet(&mut workbook, "Kommuner", e, &header, &f)?;
    for (row, m) in (HEADER_ROW + 1..).zip(&d.municipalities) {
        sheet.write_string(row, 0, format::municipality(&m.municipality))?;
        sheet.write_string(row, 1, &m.municipality)?;
        sheet.write_string(row, 2, super::share(m.share.as_ref()))?;
        let expected = ore(m.expected.as_ref());
        let (spent, committed) = (ore(m.spent.as_ref()), ore(m.committed.as_ref()));
        for (col, amount) in
            (3u16..).zip([expected, spent, committed, expected - spent - committed])
        {
            sheet.write_number_with_format(row, col, kroner(amount), &f.money)?;
        }
        sheet.write_number(row, 7, f64::from(m.arrangements))?;
        sheet.write_number_with_format(row, 8, hours(m.granted_minutes), &f.hours)?;
        sheet.write_number_with_format(row, 9, hours(m.delivered_minutes), &f.hours)?;
    }
    widths(
        sheet,
        &[20.0, 13.0, 8.0, 18.0, 18.0, 18.0, 18.0, 8.0, 16.0, 16.0],
    )?;

    let names: Vec<String> = e
        .municipalities()
        .iter()
        .map(|m| format!("{} (kr.)", format::municipality(m)))
        .collect();
    let mut header: Vec<&str> = vec!["Kategori"];
    header.extend(names.iter().map(String::as_str));
    header.push("I alt (kr.)");
    let sheet = new_sheet(&mut workbook, "Kategorier", e, &header, &f)?;
    figure_rows(sheet, &e.category_rows(), &f, false)?;

    header[0] = "Måned";
    let sheet = new_sheet(&mut workbook, "Måneder", e, &header, &f)?;
    figure_rows(sheet, &e.month_rows(), &f, false)?;

    let names: Vec<String> = e
        .municipalities()
        .iter()
        .map(|m| format!("{} (timer)", format::municipality(m)))
        .collect();
    let mut header: Vec<&str> = vec!["Måned"];
    header.extend(names.iter().map(String::as_str));
    header.push("I alt (timer)");
    let sheet = new_sheet(&mut workbook, "Timer", e, &header, &f)?;
    figure_rows(sheet, &e.month_minutes(), &f, true)?;

    let header = ["Kommune", "Måned", "Kategori", "Forbrugt (kr.)", "Timer"];
    let sheet = new_sheet(&mut workbook, "Detaljer", e, &header, &f)?;
    let mut row = HEADER_ROW + 1;
    for m in &d.municipalities {
        let name = format::municipality(&m.municipality);
        for cell in &m.month_categories {
            sheet.write_string(row, 0, &name)?;
            let month = cell.month.as_ref().and_then(Date::to_naive);
            sheet.write_string(row, 1, month.map_or_else(|| "–".to_owned(), month_name))?;
            sheet.write_string(row, 2, category_label(&cell.category))?;
            sheet.write_number_with_format(row, 3, kroner(ore(cell.spent.as_ref())), &f.money)?;
            sheet.write_number_with_format(row, 4, hours(cell.minutes), &f.hours)?;
            row += 1;
        }
        // The coordinator function is the year's, by the split: so the rows add up to the
        // municipality's spent.
        let coordinator = m
            .spent_by_category
            .as_ref()
            .map_or(0, |c| ore(c.coordinator_function.as_ref()));
        sheet.write_string(row, 0, &name)?;
        sheet.write_string(row, 1, "hele året")?;
        sheet.write_string(row, 2, "Koordinatorfunktion")?;
        sheet.write_number_with_format(row, 3, kroner(coordinator), &f.money)?;
        row += 1;
    }
    widths(sheet, &[20.0, 16.0, 34.0, 18.0, 10.0])?;

    let header = [
        "Kommune",
        "Leverandør",
        "Begrundelse",
        "Forløb",
        "Timer",
        "Beløb (kr.)",
    ];
    let sheet = new_sheet(&mut workbook, "Indkøb", e, &header, &f)?;
    for (row, p) in (HEADER_ROW + 1..).zip(&d.purchases) {
        sheet.write_string(row, 0, format::municipality(&p.municipality))?;
        sheet.write_string(row, 1, e.provider_name(&p.provider))?;
        sheet.write_string(row, 2, reason_label(&p.reason))?;
        sheet.write_number(row, 3, f64::from(p.assignments))?;
        sheet.write_number_with_format(row, 4, hours(p.minutes), &f.hours)?;
        sheet.write_number_with_format(row, 5, kroner(ore(p.amount.as_ref())), &f.money)?;
    }
    widths(sheet, &[20.0, 30.0, 24.0, 8.0, 10.0, 18.0])?;

    if let Some(unmet) = e.unmet {
        let header = ["Kommune", "Anmodninger uden kontaktperson", "Timer om ugen"];
        let sheet = new_sheet(&mut workbook, "Udækket behov", e, &header, &f)?;
        for (row, u) in (HEADER_ROW + 1..).zip(unmet) {
            sheet.write_string(row, 0, format::municipality(&u.municipality))?;
            sheet.write_number(row, 1, u.requests as f64)?;
            sheet.write_number_with_format(row, 2, hours(u.minutes_per_week), &f.hours)?;
        }
        widths(sheet, &[20.0, 30.0, 14.0])?;
    }
    Ok(workbook)
}

/// The year's free amount: indexed - spent - committed.
pub fn free(d: &FrameEvaluation) -> i64 {
    ore(d.indexed_amount.as_ref()) - ore(d.spent.as_ref()) - ore(d.committed.as_ref())
}

/// A new sheet with the document's title, the date counted to and `header` in bold.
fn new_sheet<'w>(
    workbook: &'w mut Workbook,
    name: &str,
    e: &Evaluation<'_>,
    header: &[&str],
    f: &Formats,
) -> Result<&'w mut Worksheet, XlsxError> {
    let sheet = workbook.add_worksheet();
    sheet.set_name(name)?;
    sheet.write_string_with_format(0, 0, e.title(), &f.title)?;
    sheet.write_string(
        1,
        0,
        format!(
            "Opgjort pr. {}",
            format::proto_date(e.dataset.as_of.as_ref())
        ),
    )?;
    for (col, title) in (0u16..).zip(header) {
        sheet.write_string_with_format(HEADER_ROW, col, *title, &f.bold)?;
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 0)?;
    Ok(sheet)
}

/// Rows of figures, a column per municipality and the total in bold: amounts in kroner, or
/// (`in_hours`) minutes as hours.
fn figure_rows(
    sheet: &mut Worksheet,
    rows: &[Row],
    f: &Formats,
    in_hours: bool,
) -> Result<(), XlsxError> {
    let (value, plain, total): (fn(i64) -> f64, _, _) = if in_hours {
        (hours, &f.hours, &f.bold)
    } else {
        (kroner, &f.money, &f.bold_money)
    };
    for (row, r) in (HEADER_ROW + 1..).zip(rows) {
        sheet.write_string(row, 0, &r.label)?;
        let mut col = 1u16;
        for v in &r.per_municipality {
            sheet.write_number_with_format(row, col, value(*v), plain)?;
            col += 1;
        }
        sheet.write_number_with_format(row, col, value(r.total), total)?;
    }
    sheet.set_column_width(0, 34)?;
    for col in 1..=(rows.first().map_or(1, |r| r.per_municipality.len()) as u16 + 1) {
        sheet.set_column_width(col, 18)?;
    }
    Ok(())
}

fn widths(sheet: &mut Worksheet, widths: &[f64]) -> Result<(), XlsxError> {
    for (col, width) in (0u16..).zip(widths) {
        sheet.set_column_width(col, *width)?;
    }
    Ok(())
}
