//! Generates the tonic service of `proto/tern/cluster/v1/raft.proto` with the protoc that
//! `protoc-bin-vendored` ships, so a build needs no protoc on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let file = root.join("tern/cluster/v1/raft.proto");
    println!("cargo:rerun-if-changed={}", file.display());
    tonic_prost_build::configure()
        .bytes(".tern.cluster.v1.Payload.payload")
        .compile_protos(&[file], &[root])?;
    Ok(())
}
