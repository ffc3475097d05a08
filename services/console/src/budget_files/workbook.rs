//! The budget status as an XLSX workbook, amounts as numbers in kroner.

use kontakt_proto::common::v1::Money;
use kontakt_proto::timecost::v1::{BudgetStatus, CategorySpend};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::{
    CATEGORY_HEADER, FRAME_TOTAL, MONTH_HEADER, MUNICIPALITY_HEADER, categories_of, frame_name,
    month_name, months_in_order, municipality_code, ore, share,
};
use crate::format;

/// Kroner in the workbook; Excel swaps the separators for the reader's locale.
const MONEY_FORMAT: &str = "#,##0.00 \"kr.\"";

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
pub(super) const HEADER_ROW: u32 = 3;

/// The cell formats of every workbook the console writes.
pub(super) struct Formats {
    pub title: Format,
    pub bold: Format,
    pub money: Format,
    pub bold_money: Format,
    pub hours: Format,
}

impl Formats {
    pub(super) fn new() -> Self {
        Self {
            title: Format::new().set_bold().set_font_size(14),
            bold: Format::new().set_bold(),
            money: Format::new().set_num_format(MONEY_FORMAT),
            bold_money: Format::new().set_num_format(MONEY_FORMAT).set_bold(),
            hours: Format::new().set_num_format("0.00"),
        }
    }
}

pub(super) fn workbook(status: &BudgetStatus) -> Result<Workbook, XlsxError> {
    let formats = Formats::new();
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
