#![allow(clippy::unwrap_used)]
//! `tern check-config`: a file with several mistakes gets all of them named at once, each
//! with its key, and the exit status of a bad configuration.

use std::process::Command;

/// sysexits.h EX_CONFIG.
const EX_CONFIG: i32 = 78;

#[test]
fn check_config_names_every_error_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        "[node]\nid = 5000\n\n[smpp]\nwindow = 0\n\n\
         [[upstream]]\nname = \"op\"\nurl = \"http://op.example:2775\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(EX_CONFIG), "{stderr}");
    assert!(stderr.contains("3 errors"), "{stderr}");
    for key in ["`node.id`", "`smpp.window`", "`upstream[0].url`"] {
        assert!(stderr.contains(key), "{key} is not named: {stderr}");
    }

    std::fs::write(&path, "[node]\nid = 7\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .ends_with(": ok\n"));
}

#[test]
fn check_config_names_the_keys_of_a_wrong_cql_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    let check = |toml: &str| {
        std::fs::write(&path, toml).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, stderr) = check(
        "[store]\nbackend = \"scylla\"\n[store.cql]\ncontact_points = [\"no-port\"]\n\
         keyspace = \"Bad-Name\"\nconsistency = \"local_quorum\"\npool_size = 0\n",
    );
    assert_eq!(code, Some(EX_CONFIG), "{stderr}");
    for key in [
        "store.cql.contact_points",
        "store.cql.keyspace",
        "store.cql.local_datacenter",
        "store.cql.pool_size",
    ] {
        assert!(stderr.contains(key), "{key} is not named: {stderr}");
    }
    let (code, stderr) = check("[store]\nbackend = \"scylla\"\n");
    assert_eq!(code, Some(EX_CONFIG), "{stderr}");
    assert!(stderr.contains("store.cql"), "{stderr}");
    let (code, stderr) = check("[store.cql]\nkeyspace = \"tern\"\n");
    assert_eq!(code, Some(EX_CONFIG), "{stderr}");
    assert!(stderr.contains("store.cql"), "{stderr}");
    let (code, stderr) = check(
        "[store]\nbackend = \"scylla\"\n[store.cql]\ncontact_points = [\"10.0.0.1:9042\"]\n\
         keyspace = \"tern\"\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = check("[store]\nmemtable_mib = 0\ncache_mib = 2000000\n");
    assert_eq!(code, Some(EX_CONFIG), "{stderr}");
    for key in ["store.memtable_mib", "store.cache_mib"] {
        assert!(stderr.contains(key), "{key} is not named: {stderr}");
    }
    let (code, stderr) = check("[store]\nmemtable_mib = 4\ncache_mib = 16\n");
    assert_eq!(code, Some(0), "{stderr}");
}
