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
