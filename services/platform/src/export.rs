//! Streamed file exports: a file's text cut into chunks for a server stream, each carrying
//! the running count of data rows, so a client shows progress and concatenates the chunks into
//! the file. Every service's CSV export is cut here.

/// Bytes per chunk: well under the message limit, few enough messages for big files.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// `header` and `rows` as CSV text (a line each) in chunks of about [`CHUNK_BYTES`], each with
/// the data rows sent so far (the header not counted); at least one chunk, also for no rows.
pub fn csv_chunks(header: &str, rows: impl IntoIterator<Item = String>) -> Vec<(Vec<u8>, i64)> {
    let mut chunks = Vec::new();
    let mut buffer = format!("{header}\n");
    let mut count = 0i64;
    for row in rows {
        buffer.push_str(&row);
        buffer.push('\n');
        count += 1;
        if buffer.len() >= CHUNK_BYTES {
            chunks.push((std::mem::take(&mut buffer).into_bytes(), count));
        }
    }
    if !buffer.is_empty() || chunks.is_empty() {
        chunks.push((buffer.into_bytes(), count));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunks_concatenate_to_the_file_and_count_the_rows() {
        let rows: Vec<String> = (0..20_000).map(|i| format!("row-{i},1.00")).collect();
        let expected = format!("h\n{}\n", rows.join("\n"));
        let chunks = csv_chunks("h", rows);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|(data, _)| data.len() < 2 * CHUNK_BYTES));
        assert_eq!(chunks.last().map(|c| c.1), Some(20_000));
        let joined: Vec<u8> = chunks.into_iter().flat_map(|c| c.0).collect();
        assert_eq!(String::from_utf8(joined).ok(), Some(expected));
        let empty = csv_chunks("h", Vec::new());
        assert_eq!(empty, [(b"h\n".to_vec(), 0)]);
    }
}
