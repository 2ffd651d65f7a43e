//! Generates the admin API's gRPC code from `proto/tern/admin/v1/admin.proto`, with the
//! file descriptor set that server reflection serves. protoc comes from
//! `protoc-bin-vendored`, so a build needs no protoc installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let proto = root.join("tern/admin/v1/admin.proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // Messages print as JSON for `tern ctl --json`.
        .type_attribute(".", "#[derive(serde::Serialize)]")
        .btree_map(".")
        .file_descriptor_set_path(out_dir.join("tern_admin_v1_descriptor.bin"))
        .compile_with_config(config, &[proto], &[root])?;
    Ok(())
}
