//! Compiles every `.proto` under `proto/kontakt` with the vendored `protoc`, so building Kontakt
//! never needs a system protoc. The descriptor set is kept for gRPC reflection.
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut protos = Vec::new();
    collect_protos(&root.join("kontakt"), &mut protos)?;
    protos.sort();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Every message knows its full name (`prost::Name`), which event payloads need.
    config.enable_type_names();

    println!("cargo:rerun-if-changed=kontakt");
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("kontakt_descriptor.bin"))
        .include_file("kontakt.rs")
        .compile_with_config(config, &protos, &[root])?;
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            println!("cargo:rerun-if-changed={}", path.display());
            out.push(path);
        }
    }
    Ok(())
}
