//! Shared by the end-to-end test targets (each `[[test]]` in Cargo.toml).
