//! Streamed file exports: the period an export covers, checked the same way by every service,
//! and the file's text cut into chunks for a server stream, each carrying the running count of
//! data rows (and the first the file's name), so a client shows progress and concatenates the
//! chunks into the file.

use chrono::NaiveDate;
use kontakt_proto::common::v1::DateRange;

use crate::ApiError;
use crate::resource::day;

/// Bytes per chunk: well under the message limit, few enough messages for big files.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The longest period an export covers, in days: a year, a leap year included.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// Both ends of an export's `period` (field `period`), required, in order and at most
/// [`MAX_PERIOD_DAYS`] apart; each wrong field named.
pub fn period(period: Option<&DateRange>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let period = period.ok_or_else(|| ApiError::invalid("period", "required"))?;
    let start = day(period.start.as_ref(), "period.start")?
        .ok_or_else(|| ApiError::invalid("period.start", "required"))?;
    let end = day(period.end.as_ref(), "period.end")?
        .ok_or_else(|| ApiError::invalid("period.end", "required"))?;
    if end < start {
        return Err(ApiError::invalid("period.end", "not before the start"));
    }
    if (end - start).num_days() >= MAX_PERIOD_DAYS {
        return Err(ApiError::invalid(
            "period",
            format!("at most {MAX_PERIOD_DAYS} days"),
        ));
    }
    Ok((start, end))
}

/// One piece of an exported file, as each service's chunk message carries it.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// Data rows sent so far, the header not counted.
    pub rows: i64,
    /// The file's name on the first chunk, empty on the others.
    pub filename: String,
}

/// `header` and `rows` as CSV text (a line each) in chunks of about [`CHUNK_BYTES`]; at least
/// one chunk, also for no rows.
pub fn csv_chunks(
    filename: &str,
    header: &str,
    rows: impl IntoIterator<Item = String>,
) -> Vec<Chunk> {
    let mut pieces = Vec::new();
    let mut buffer = format!("{header}\n");
    let mut count = 0i64;
    for row in rows {
        buffer.push_str(&row);
        buffer.push('\n');
        count += 1;
        if buffer.len() >= CHUNK_BYTES {
            pieces.push((std::mem::take(&mut buffer), count));
        }
    }
    if !buffer.is_empty() || pieces.is_empty() {
        pieces.push((buffer, count));
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, (text, rows))| Chunk {
            data: text.into_bytes(),
            rows,
            filename: if i == 0 {
                filename.to_owned()
            } else {
                String::new()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunks_concatenate_to_the_file_count_the_rows_and_name_it_first() {
        let rows: Vec<String> = (0..20_000).map(|i| format!("row-{i},1.00")).collect();
        let expected = format!("h\n{}\n", rows.join("\n"));
        let chunks = csv_chunks("f.csv", "h", rows);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.data.len() < 2 * CHUNK_BYTES));
        assert_eq!(chunks[0].filename, "f.csv");
        assert!(chunks[1..].iter().all(|c| c.filename.is_empty()));
        assert_eq!(chunks.last().map(|c| c.rows), Some(20_000));
        let joined: Vec<u8> = chunks.into_iter().flat_map(|c| c.data).collect();
        assert_eq!(String::from_utf8(joined).ok(), Some(expected));
        let empty = csv_chunks("e.csv", "h", Vec::new());
        assert_eq!(
            empty,
            [Chunk {
                data: b"h\n".to_vec(),
                rows: 0,
                filename: "e.csv".into()
            }]
        );
    }

    #[test]
    fn a_period_is_both_days_in_order_and_at_most_a_year() {
        let range = |a: (i32, i32, i32), b: (i32, i32, i32)| DateRange {
            start: Some(kontakt_proto::common::v1::Date {
                year: a.0,
                month: a.1,
                day: a.2,
            }),
            end: Some(kontakt_proto::common::v1::Date {
                year: b.0,
                month: b.1,
                day: b.2,
            }),
        };
        assert!(
            period(Some(&range((2024, 1, 1), (2024, 12, 31)))).is_ok(),
            "a leap year"
        );
        assert!(period(Some(&range((2026, 1, 2), (2026, 1, 1)))).is_err());
        // 366 days, both ends counted, and no more.
        assert!(period(Some(&range((2025, 1, 1), (2026, 1, 1)))).is_ok());
        assert!(period(Some(&range((2025, 1, 1), (2026, 1, 2)))).is_err());
        assert!(period(None).is_err());
    }
}
