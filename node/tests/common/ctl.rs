//! `tern ctl` as a subprocess against a node's admin API, for the tests that drive a node
//! the way an operator does.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// What one `tern ctl` run printed, and how it ended.
#[derive(Debug)]
pub struct CtlRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CtlRun {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// What it printed; panics unless it succeeded.
    pub fn stdout_ok(self) -> String {
        assert!(self.ok(), "tern ctl failed: {}", self.stderr);
        self.stdout
    }

    /// The JSON it printed; panics unless it succeeded.
    pub fn json(&self) -> Value {
        assert!(self.ok(), "tern ctl failed: {self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// `tern ctl ARGS` against the admin API at `admin` with `token`; the environment's
/// `TERN_TOKEN` and `TERN_SERVER` are not used.
pub async fn ctl(admin: SocketAddr, token: &str, args: &[&str]) -> CtlRun {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("ctl")
        .args(["--server", &format!("http://{admin}"), "--token", token])
        .args(args)
        .env_remove("TERN_TOKEN")
        .env_remove("TERN_SERVER")
        .kill_on_drop(true)
        .output();
    // The command's own deadlines (connect 5 s, call 30 s) end it before this.
    let output = tokio::time::timeout(Duration::from_secs(40), output)
        .await
        .expect("tern ctl finished within 40 s")
        .unwrap();
    CtlRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
