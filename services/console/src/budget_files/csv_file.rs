//! The budget status as a CSV file for a Danish spreadsheet: UTF-8 with a BOM, `;` between
//! fields, decimal commas, sections separated by an empty line.

use kontakt_proto::timecost::v1::BudgetStatus;

use super::{
    CATEGORY_HEADER, FRAME_TOTAL, MONTH_HEADER, MUNICIPALITY_HEADER, categories_of, frame_name,
    month_name, months_in_order, municipality_code, ore, share,
};
use crate::format;

/// The UTF-8 byte order mark, which makes Excel read the CSV as UTF-8 (æ, ø, å).
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

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
pub(super) fn plain_kroner(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let abs = ore.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// Minutes as hours with two decimals (half away from zero) and a decimal comma: `30,02`.
pub(super) fn plain_hours(minutes: i64) -> String {
    let sign = if minutes < 0 { "-" } else { "" };
    let hundredths = (u128::from(minutes.unsigned_abs()) * 100 + 30) / 60;
    format!("{sign}{},{:02}", hundredths / 100, hundredths % 100)
}
