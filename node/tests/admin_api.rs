#![allow(clippy::unwrap_used)]
//! placeholder
#[allow(dead_code)]
#[path = "../src/admin/mod.rs"]
mod admin;

#[test]
fn compiles() {}
