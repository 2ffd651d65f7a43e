//! Every metric the cluster crate emits, named once, with its unit and meaning, so the
//! node can describe them to its exporter and dashboards and alert rules can be checked
//! against one list. Labels are bounded: `outcome`, `rpc` and `op` take the few values
//! documented here; `kind` takes the node's relay kinds (short names from a fixed set, any
//! other string counts as `invalid`).

use metrics::Unit;

/// Time from `Cluster::propose` to its answer, forwarding and retries included.
pub const PROPOSE_SECONDS: &str = "tern_raft_propose_seconds";
/// Proposals by `outcome`: applied, refused (by the ledger), indeterminate, failed.
pub const PROPOSALS_TOTAL: &str = "tern_raft_proposals_total";
/// The current raft term.
pub const TERM: &str = "tern_raft_term";
/// 1 while this node leads.
pub const IS_LEADER: &str = "tern_raft_is_leader";
/// Leader changes seen by this node.
pub const LEADER_CHANGES_TOTAL: &str = "tern_raft_leader_changes_total";
/// The last log index the state machine applied.
pub const APPLIED_INDEX: &str = "tern_raft_applied_index";
/// The last index in the local log.
pub const LAST_LOG_INDEX: &str = "tern_raft_last_log_index";
/// One `append`: the write batch to the journal (the sync is the syncer's).
pub const APPEND_SECONDS: &str = "tern_raft_append_seconds";
/// Entries per `append`.
pub const APPEND_ENTRIES: &str = "tern_raft_append_entries";
/// One sync of the raft log's journal by the group-commit thread.
pub const SYNC_SECONDS: &str = "tern_raft_log_sync_seconds";
/// Appends (leader proposals or follower batches) one sync completed.
pub const APPENDS_PER_SYNC: &str = "tern_raft_sync_batch_appends";
/// Building and syncing one snapshot.
pub const SNAPSHOT_BUILD_SECONDS: &str = "tern_raft_snapshot_build_seconds";
/// Size of the last snapshot built.
pub const SNAPSHOT_BYTES: &str = "tern_raft_snapshot_bytes";
/// Raft RPC round trips by `rpc`: append_entries, vote, install_snapshot, forward, relay.
pub const RPC_SECONDS: &str = "tern_raft_rpc_seconds";
/// Raft RPCs that failed, by `rpc`.
pub const RPC_ERRORS_TOTAL: &str = "tern_raft_rpc_errors_total";
/// Requests other nodes forwarded to this one, by `op`.
pub const FORWARDED_TOTAL: &str = "tern_raft_forwarded_total";
/// RPCs refused for a missing or wrong shared secret.
pub const UNAUTHENTICATED_TOTAL: &str = "tern_raft_unauthenticated_total";
/// `Command::Tick`s this node proposed and saw applied.
pub const TICKS_TOTAL: &str = "tern_raft_ticks_total";
/// Relay calls this node made, by `kind` and `outcome`: ok, refused (the target's handler
/// or service said no), unreachable (not sent, unknown target included), failed (broke
/// after sending), timeout.
pub const RELAY_CALLS_TOTAL: &str = "tern_cluster_relay_calls_total";
/// Time from `Cluster::relay` to its answer or error, by `kind`.
pub const RELAY_CALL_SECONDS: &str = "tern_cluster_relay_call_seconds";
/// Relay calls this node's service answered, by `kind` (refusals included).
pub const RELAY_SERVED_TOTAL: &str = "tern_cluster_relay_served_total";

/// Every metric above, for listings and checks.
pub const METRICS: &[&str] = &[
    PROPOSE_SECONDS,
    PROPOSALS_TOTAL,
    TERM,
    IS_LEADER,
    LEADER_CHANGES_TOTAL,
    APPLIED_INDEX,
    LAST_LOG_INDEX,
    APPEND_SECONDS,
    APPEND_ENTRIES,
    SYNC_SECONDS,
    APPENDS_PER_SYNC,
    SNAPSHOT_BUILD_SECONDS,
    SNAPSHOT_BYTES,
    RPC_SECONDS,
    RPC_ERRORS_TOTAL,
    FORWARDED_TOTAL,
    UNAUTHENTICATED_TOTAL,
    TICKS_TOTAL,
    RELAY_CALLS_TOTAL,
    RELAY_CALL_SECONDS,
    RELAY_SERVED_TOTAL,
];

/// Registers units and help texts with the installed recorder.
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(PROPOSE_SECONDS, Unit::Seconds, "raft proposal latency");
    describe_counter!(PROPOSALS_TOTAL, Unit::Count, "raft proposals by outcome");
    describe_gauge!(TERM, Unit::Count, "current raft term");
    describe_gauge!(
        IS_LEADER,
        Unit::Count,
        "1 while this node is the raft leader"
    );
    describe_counter!(
        LEADER_CHANGES_TOTAL,
        Unit::Count,
        "raft leader changes seen"
    );
    describe_gauge!(APPLIED_INDEX, Unit::Count, "last applied raft log index");
    describe_gauge!(LAST_LOG_INDEX, Unit::Count, "last raft log index stored");
    describe_histogram!(
        APPEND_SECONDS,
        Unit::Seconds,
        "raft log append (journal write)"
    );
    describe_histogram!(APPEND_ENTRIES, Unit::Count, "raft entries per append");
    describe_histogram!(SYNC_SECONDS, Unit::Seconds, "raft log journal sync");
    describe_histogram!(
        APPENDS_PER_SYNC,
        Unit::Count,
        "raft appends completed per sync"
    );
    describe_histogram!(SNAPSHOT_BUILD_SECONDS, Unit::Seconds, "raft snapshot build");
    describe_gauge!(
        SNAPSHOT_BYTES,
        Unit::Bytes,
        "size of the last raft snapshot"
    );
    describe_histogram!(RPC_SECONDS, Unit::Seconds, "raft RPC round trip by rpc");
    describe_counter!(RPC_ERRORS_TOTAL, Unit::Count, "failed raft RPCs by rpc");
    describe_counter!(
        FORWARDED_TOTAL,
        Unit::Count,
        "requests forwarded to this leader"
    );
    describe_counter!(
        UNAUTHENTICATED_TOTAL,
        Unit::Count,
        "raft RPCs refused for the secret"
    );
    describe_counter!(
        TICKS_TOTAL,
        Unit::Count,
        "ledger ticks proposed by this leader"
    );
    describe_counter!(
        RELAY_CALLS_TOTAL,
        Unit::Count,
        "node-to-node relay calls made, by kind and outcome"
    );
    describe_histogram!(
        RELAY_CALL_SECONDS,
        Unit::Seconds,
        "node-to-node relay call round trip by kind"
    );
    describe_counter!(
        RELAY_SERVED_TOTAL,
        Unit::Count,
        "node-to-node relay calls answered, by kind"
    );
}

#[cfg(test)]
mod tests {
    use super::METRICS;

    #[test]
    fn metric_names_are_of_the_cluster_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for name in METRICS {
            assert!(
                name.starts_with("tern_raft_") || name.starts_with("tern_cluster_relay_"),
                "{name}"
            );
            assert!(seen.insert(name), "{name} twice");
        }
    }
}
