//! What the single-node environment and the local cluster both need: ports, tokens, the
//! tail of a log for an error, and `tern ctl` against a node's admin API.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use rand::Rng as _;
use serde_json::Value;

/// Ports are picked from here: below the kernel's ephemeral range (32768 and up), where
/// an outgoing connection of another process could take a port between the pick and the
/// bind, and above the usual fixed ones (Cassandra's 7000 and 9042, SMPP's 2775).
pub const PORTS: std::ops::Range<u16> = 20_000..32_768;
/// The longest one `tern ctl` call may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of a log quoted in an error.
const LOG_TAIL: usize = 15;

/// Free ports below the ephemeral range, each handed out once.
#[derive(Default)]
pub struct PortPicker {
    given: HashSet<u16>,
}

impl PortPicker {
    pub fn pick(&mut self) -> anyhow::Result<u16> {
        let mut rng = rand::thread_rng();
        for _ in 0..500 {
            let port = rng.gen_range(PORTS);
            if self.given.insert(port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
        anyhow::bail!("no free port in {PORTS:?} after 500 tries")
    }

    /// A free address on 127.0.0.1.
    pub fn local(&mut self) -> anyhow::Result<SocketAddr> {
        Ok(local(self.pick()?))
    }
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `bytes` random bytes in hex: tokens, secrets, keyspace names.
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.gen::<u8>()))
        .collect()
}

/// The last lines of a log, for an error.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL);
    format!("--- {} ---\n{}", path.display(), lines[start..].join("\n"))
}

/// `tern ctl --json ARGS` against the admin API at `admin`; `who` names the node in errors.
pub async fn ctl(
    tern: &Path,
    admin: SocketAddr,
    token: &str,
    who: &str,
    args: &[&str],
) -> anyhow::Result<Value> {
    let run = tokio::process::Command::new(tern)
        .arg("ctl")
        .args(["--server", &format!("http://{admin}")])
        .args(["--token", token, "--json"])
        .args(args)
        .env_remove("TERN_TOKEN")
        .env_remove("TERN_SERVER")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let what = format!("tern ctl {} on {who}", args.join(" "));
    let output = tokio::time::timeout(CTL_TIMEOUT, run)
        .await
        .map_err(|_| anyhow::anyhow!("{what}: no answer in {CTL_TIMEOUT:?}"))?
        .with_context(|| format!("{what}: running it"))?;
    anyhow::ensure!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).with_context(|| format!("{what}: not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_are_below_the_ephemeral_range_and_distinct() {
        let mut picker = PortPicker::default();
        let ports: HashSet<u16> = (0..20).map(|_| picker.pick().unwrap()).collect();
        assert_eq!(ports.len(), 20);
        assert!(ports.iter().all(|p| PORTS.contains(p)));
    }

    #[test]
    fn a_tail_is_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("tern-chaos-tail-{}", random_hex(4)));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("x.log");
        let text: String = (0..40).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).unwrap();
        let tail = tail(&log);
        assert!(tail.contains("line 39") && tail.contains("line 25"));
        assert!(!tail.contains("line 24\n"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
