//! Writes the API reference into `docs/api/` (see `kontakt_proto::api_docs`).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/api");
    std::fs::create_dir_all(&dir)?;
    let (pages, missing) = kontakt_proto::api_docs::render();
    for (name, page) in &pages {
        std::fs::write(dir.join(name), page)?;
    }
    for (kind, name) in &missing {
        eprintln!("no comment: {kind} {name}");
    }
    println!("wrote {} pages to docs/api", pages.len());
    if missing.is_empty() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{} elements have no comment",
            missing.len()
        )))
    }
}
