//! The committed OpenAPI document (`docs/openapi.json`) is the one this build generates.
//! After changing the API: `UPDATE_OPENAPI=1 cargo test -p tern-http --test openapi`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = format!("{}\n", tern_http::openapi::document());
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not what this build generates: UPDATE_OPENAPI=1 cargo test -p tern-http --test openapi"
    );
    let document: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    for path in [
        "/v1/messages",
        "/v1/messages/batch",
        "/v1/messages/{id}",
        "/v1/balance",
    ] {
        assert!(document["paths"][path].is_object(), "{path} missing");
    }
}
