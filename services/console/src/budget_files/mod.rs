//! Budget downloads and plot for the finance screen: a frame's [`BudgetStatus`] as a CSV in
//! Danish spreadsheet conventions, as an XLSX workbook, and as an accessible inline SVG drawn
//! on the server.
//!
//! The CSV is what a Danish Excel opens without an import dialog: UTF-8 with a BOM, `;`
//! between fields, a decimal comma and no thousands separators (so amounts are numbers),
//! dates as `dd.mm.åååå`. It has sections separated by an empty line, each with its own header
//! row. The workbook has the same figures as real numbers in kroner with a number format that
//! Excel shows in the reader's own locale.
//!
//! One file a format: [`csv_file`], [`workbook`] and [`plot`]; what they share is here.

mod csv_file;
mod evaluation;
mod plot;
#[cfg(test)]
mod tests;
mod workbook;

pub use csv_file::csv;
pub use evaluation::{Evaluation, Row, Unmet, evaluation_xlsx, free, reason_label};
pub use plot::svg;
pub use workbook::xlsx;

use chrono::{Datelike as _, NaiveDate};
use kontakt_proto::common::v1::{Date, Money};
use kontakt_proto::timecost::v1::{
    BudgetStatus, CategorySpend, MonthSpend, MunicipalityBudget, MunicipalityShare,
};

use crate::format;

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
