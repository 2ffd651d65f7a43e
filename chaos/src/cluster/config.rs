//! The `tern node` configuration file of each member. Written as text, with comments, so
//! that a newcomer who opens `<run dir>/node2/tern.toml` reads a file like the one they
//! will write themselves; the node's own parser (`tern check-config`) checks it before
//! the node starts.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// Binds the operator allows over the whole cluster (`[[upstream]] binds`): fewer than
/// the nodes, so that some node holds none and sends through another. `None` leaves the
/// key out (the node's default, 1), for a `tern` older than the key.
pub const UPSTREAM_BINDS: Option<u16> = Some(2);

/// The demo customer account, as `tern dev` has it.
pub const DEMO_ACCOUNT: (&str, &str) = ("demo", "demo");

/// The one upstream link of the cluster.
pub const UPSTREAM_NAME: &str = "op";

/// What one member's file says.
pub struct NodeFile<'a> {
    pub id: u16,
    pub smpp: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    pub raft: SocketAddr,
    /// The raft log (and nothing else: messages are in the CQL database).
    pub data_dir: &'a Path,
    pub token: &'a str,
    pub secret: &'a str,
    pub cql: &'a str,
    pub keyspace: &'a str,
    /// This node starts the cluster: its file names the other members (`peers`) and
    /// seeds the replicated state with the demo account, the operator link
    /// (`upstream_url`) and a route to it.
    pub bootstrap: bool,
    /// The other members, `(id, raft address)`.
    pub peers: &'a [(u16, SocketAddr)],
    /// Where this node dials the others instead, `(id, address)`: the fault proxies.
    pub dial: &'a [(u16, SocketAddr)],
    /// `snapshot_logs`, when not the node's default.
    pub snapshot_logs: Option<u64>,
    pub upstream_url: &'a str,
}

impl NodeFile<'_> {
    pub fn render(&self) -> String {
        let mut toml = format!(
            "# Written by `tern-chaos cluster up` for node {id}; rewritten on every `up`.\n\
             \n\
             [node]\n\
             id = {id}\n\
             shutdown_grace_secs = 5\n\
             \n\
             [log]\n\
             level = \"info\"\n\
             \n\
             [smpp]\n\
             listen = {smpp}\n\
             \n\
             [metrics]\n\
             listen = {metrics}\n\
             \n\
             [admin]\n\
             listen = {admin}\n\
             token = {token}\n\
             \n\
             [cluster]\n\
             listen = {raft}\n\
             secret = {secret}\n",
            id = self.id,
            smpp = quoted(&self.smpp.to_string()),
            metrics = quoted(&self.metrics.to_string()),
            admin = quoted(&self.admin.to_string()),
            token = quoted(self.token),
            raft = quoted(&self.raft.to_string()),
            secret = quoted(self.secret),
        );
        if self.bootstrap {
            let _ = write!(
                toml,
                "# This node starts the cluster and adds the others as they answer.\n\
                 bootstrap = true\n\
                 peers = [{}]\n",
                node_list(self.peers)
            );
        } else {
            toml.push_str("# Node 1 adds this one to the cluster.\nbootstrap = false\n");
        }
        if let Some(logs) = self.snapshot_logs {
            let _ = writeln!(
                toml,
                "# A snapshot, and the log behind it purged, this often.\nsnapshot_logs = {logs}"
            );
        }
        if !self.dial.is_empty() {
            let _ = write!(
                toml,
                "# The other nodes are dialled through fault proxies.\n\
                 dial = [{}]\n",
                node_list(self.dial)
            );
        }
        let _ = write!(
            toml,
            "\n\
             [store]\n\
             backend = \"scylla\"\n\
             # The raft log; messages, queues and CDRs are in the CQL database.\n\
             dir = {dir}\n\
             \n\
             [store.cql]\n\
             contact_points = [{cql}]\n\
             keyspace = {keyspace}\n\
             replication = {{ strategy = \"SimpleStrategy\", factor = 1 }}\n\
             create_keyspace = true\n",
            dir = quoted(&self.data_dir.display().to_string()),
            cql = quoted(self.cql),
            keyspace = quoted(self.keyspace),
        );
        if self.bootstrap {
            let (user, password) = DEMO_ACCOUNT;
            let _ = write!(
                toml,
                "\n\
                 # The first start of the cluster seeds its replicated state with what follows;\n\
                 # from then on `tern ctl` changes it.\n\
                 [[account]]\n\
                 system_id = {user}\n\
                 password = {password}\n\
                 max_binds = 64\n\
                 \n\
                 [[mo_rule]]\n\
                 account = {user}\n\
                 prefixes = [\"\"]\n\
                 \n\
                 [[upstream]]\n\
                 name = {name}\n\
                 url = {url}\n",
                user = quoted(user),
                password = quoted(password),
                name = quoted(UPSTREAM_NAME),
                url = quoted(self.upstream_url),
            );
            if let Some(binds) = UPSTREAM_BINDS {
                let _ = writeln!(toml, "binds = {binds}");
            }
            let _ = write!(
                toml,
                "\n\
                 [[route]]\n\
                 name = \"everything\"\n\
                 groups = [{{ links = [{}] }}]\n",
                quoted(UPSTREAM_NAME)
            );
        }
        toml
    }
}

/// `text` as a TOML basic string.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{ id = N, addr = "HOST:PORT" }, ...`: a `peers` or `dial` list.
fn node_list(nodes: &[(u16, SocketAddr)]) -> String {
    nodes
        .iter()
        .map(|(id, addr)| format!("{{ id = {id}, addr = {} }}", quoted(&addr.to_string())))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_toml_needs_escaped() {
        assert_eq!(quoted("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn only_the_bootstrapping_node_names_peers_and_seeds_the_state() {
        let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let peers = [(2, local(5)), (3, local(6))];
        let mut file = NodeFile {
            id: 1,
            smpp: local(1),
            admin: local(2),
            metrics: local(3),
            raft: local(4),
            data_dir: Path::new("/tmp/x"),
            token: "t",
            secret: "s",
            cql: "127.0.0.1:9042",
            keyspace: "tern_cluster_x",
            bootstrap: true,
            peers: &peers,
            dial: &[],
            snapshot_logs: None,
            upstream_url: "smpp://tern:tern@127.0.0.1:7",
        };
        let first = file.render();
        assert!(first.contains("bootstrap = true"));
        assert!(first.contains("{ id = 3, addr = \"127.0.0.1:6\" }"));
        assert!(first.contains("[[upstream]]"));
        assert_eq!(first.contains("binds = 2"), UPSTREAM_BINDS == Some(2));
        file.id = 2;
        file.bootstrap = false;
        let second = file.render();
        assert!(second.contains("bootstrap = false"));
        assert!(!second.contains("[[account]]"));
        assert!(!second.contains("peers"));
        assert!(!second.contains("dial"));
        let dial = [(1, local(9))];
        file.dial = &dial;
        assert!(file
            .render()
            .contains("dial = [{ id = 1, addr = \"127.0.0.1:9\" }]"));
    }
}
