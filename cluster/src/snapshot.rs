//! How a snapshot's data is laid out: the postcard encoding of the whole `State` after a
//! format number, and the earlier formats this build still reads. postcard is not
//! self-describing, so a snapshot is read in the layout of its format: each earlier one has
//! its own types here, converted to the current state when read.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tern_ledger::legacy::{self, AccountV1};
use tern_ledger::State;

use crate::disk::{self, DiskError};

/// The version of the snapshot encoding; bumped when `SnapshotBody` changes shape.
/// 2: the state holds recalls of lease reservations, webhook deliveries and MO rules.
/// 3: liveness and the ownership map follow the state.
/// 4: account secrets by protocol (see [`tern_ledger::legacy`]).
/// 5: the HTTP API's keys and callbacks (`State::http`).
/// Formats 1 to 4 are still read (see [`StateV1`], [`SnapshotBodyV2`], [`SnapshotBodyV3`],
/// [`SnapshotBodyV4`]).
pub(crate) const SNAPSHOT_FORMAT: u32 = 5;

/// What a snapshot's data holds. `State` leaves its `cluster` out of its own encoding;
/// it travels here, after it.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotBody {
    pub(crate) format: u32,
    pub(crate) state: State,
    pub(crate) cluster: tern_ledger::ClusterState,
}

impl SnapshotBody {
    pub(crate) fn new(mut state: State) -> Self {
        let cluster = std::mem::take(&mut state.cluster);
        Self {
            format: SNAPSHOT_FORMAT,
            state,
            cluster,
        }
    }

    pub(crate) fn into_state(self) -> State {
        let mut state = self.state;
        state.cluster = self.cluster;
        state
    }
}

/// Format 4: the state without the HTTP API's keys and callbacks, then the cluster.
#[derive(Serialize, Deserialize)]
struct SnapshotBodyV4 {
    format: u32,
    state: StateV4,
    cluster: tern_ledger::ClusterState,
}

/// `State` as format 4 laid it out, field for field.
#[derive(Serialize, Deserialize)]
struct StateV4 {
    seeded: bool,
    accounts: BTreeMap<String, tern_ledger::Account>,
    leases: BTreeMap<tern_ledger::LeaseId, tern_ledger::Lease>,
    tombstones: BTreeMap<tern_ledger::LeaseId, tern_ledger::LeaseTombstone>,
    campaigns: BTreeMap<String, tern_ledger::Campaign>,
    prices: Vec<tern_ledger::Price>,
    routes: BTreeMap<String, tern_ledger::Spec>,
    links: BTreeMap<String, tern_ledger::Spec>,
    webhooks: BTreeMap<String, tern_ledger::Webhook>,
    events: VecDeque<tern_ledger::Event>,
    next_event_seq: u64,
    events_acked: u64,
    audit: VecDeque<tern_ledger::Audit>,
    config_version: u64,
    recalls: BTreeMap<String, tern_ledger::RecallNotice>,
    deliveries: BTreeMap<u64, BTreeMap<String, tern_ledger::Delivery>>,
    mo_rules: BTreeMap<String, tern_ledger::Spec>,
}

impl From<StateV4> for State {
    fn from(v4: StateV4) -> Self {
        State {
            seeded: v4.seeded,
            accounts: v4.accounts,
            leases: v4.leases,
            tombstones: v4.tombstones,
            campaigns: v4.campaigns,
            prices: v4.prices,
            routes: v4.routes,
            links: v4.links,
            webhooks: v4.webhooks,
            events: v4.events,
            next_event_seq: v4.next_event_seq,
            events_acked: v4.events_acked,
            audit: v4.audit,
            config_version: v4.config_version,
            recalls: v4.recalls,
            deliveries: v4.deliveries,
            mo_rules: v4.mo_rules,
            http: tern_ledger::HttpState::default(),
            cluster: tern_ledger::ClusterState::default(),
        }
    }
}

/// Format 3: the state, accounts with the CMPP secret as their one secret, then the cluster.
#[derive(Serialize, Deserialize)]
struct SnapshotBodyV3 {
    format: u32,
    state: StateV3,
    cluster: tern_ledger::ClusterState,
}

/// Format 2: the state alone, laid out as in format 3.
#[derive(Serialize, Deserialize)]
struct SnapshotBodyV2 {
    format: u32,
    state: StateV3,
}

/// `State` as formats 2 and 3 laid it out, field for field.
#[derive(Serialize, Deserialize)]
struct StateV3 {
    seeded: bool,
    accounts: BTreeMap<String, AccountV1>,
    leases: BTreeMap<tern_ledger::LeaseId, tern_ledger::Lease>,
    tombstones: BTreeMap<tern_ledger::LeaseId, tern_ledger::LeaseTombstone>,
    campaigns: BTreeMap<String, tern_ledger::Campaign>,
    prices: Vec<tern_ledger::Price>,
    routes: BTreeMap<String, tern_ledger::Spec>,
    links: BTreeMap<String, tern_ledger::Spec>,
    webhooks: BTreeMap<String, tern_ledger::Webhook>,
    events: VecDeque<tern_ledger::Event>,
    next_event_seq: u64,
    events_acked: u64,
    audit: VecDeque<tern_ledger::Audit>,
    config_version: u64,
    recalls: BTreeMap<String, tern_ledger::RecallNotice>,
    deliveries: BTreeMap<u64, BTreeMap<String, tern_ledger::Delivery>>,
    mo_rules: BTreeMap<String, tern_ledger::Spec>,
}

impl From<StateV3> for State {
    fn from(v3: StateV3) -> Self {
        State {
            seeded: v3.seeded,
            accounts: legacy::accounts(v3.accounts),
            leases: v3.leases,
            tombstones: v3.tombstones,
            campaigns: v3.campaigns,
            prices: v3.prices,
            routes: v3.routes,
            links: v3.links,
            webhooks: v3.webhooks,
            events: v3.events,
            next_event_seq: v3.next_event_seq,
            events_acked: v3.events_acked,
            audit: v3.audit,
            config_version: v3.config_version,
            recalls: v3.recalls,
            deliveries: v3.deliveries,
            mo_rules: v3.mo_rules,
            http: tern_ledger::HttpState::default(),
            cluster: tern_ledger::ClusterState::default(),
        }
    }
}

/// A snapshot body of format 1, before the state held recalls, deliveries and MO rules. postcard is not
/// self-describing, so a state with a field more cannot read it: this shape can.
#[derive(Serialize, Deserialize)]
struct SnapshotBodyV1 {
    format: u32,
    state: StateV1,
}

/// `State` as format 1 laid it out, field for field.
#[derive(Serialize, Deserialize)]
struct StateV1 {
    seeded: bool,
    accounts: BTreeMap<String, AccountV1>,
    leases: BTreeMap<tern_ledger::LeaseId, tern_ledger::Lease>,
    tombstones: BTreeMap<tern_ledger::LeaseId, tern_ledger::LeaseTombstone>,
    campaigns: BTreeMap<String, tern_ledger::Campaign>,
    prices: Vec<tern_ledger::Price>,
    routes: BTreeMap<String, tern_ledger::Spec>,
    links: BTreeMap<String, tern_ledger::Spec>,
    webhooks: BTreeMap<String, tern_ledger::Webhook>,
    events: VecDeque<tern_ledger::Event>,
    next_event_seq: u64,
    events_acked: u64,
    audit: VecDeque<tern_ledger::Audit>,
    config_version: u64,
}

impl From<StateV1> for State {
    fn from(v1: StateV1) -> Self {
        State {
            seeded: v1.seeded,
            accounts: legacy::accounts(v1.accounts),
            leases: v1.leases,
            tombstones: v1.tombstones,
            campaigns: v1.campaigns,
            prices: v1.prices,
            routes: v1.routes,
            links: v1.links,
            webhooks: v1.webhooks,
            events: v1.events,
            next_event_seq: v1.next_event_seq,
            events_acked: v1.events_acked,
            audit: v1.audit,
            config_version: v1.config_version,
            ..State::default()
        }
    }
}

pub(crate) fn decode_body(data: &[u8]) -> Result<SnapshotBody, DiskError> {
    // The format number leads every body, and postcard reads a prefix of its input.
    let format: u32 = disk::decode(data)?;
    match format {
        SNAPSHOT_FORMAT => disk::decode(data),
        4 => {
            let body: SnapshotBodyV4 = disk::decode(data)?;
            let mut state = State::from(body.state);
            state.cluster = body.cluster;
            Ok(SnapshotBody::new(state))
        }
        3 => {
            let body: SnapshotBodyV3 = disk::decode(data)?;
            let mut state = State::from(body.state);
            state.cluster = body.cluster;
            Ok(SnapshotBody::new(state))
        }
        2 => {
            let body: SnapshotBodyV2 = disk::decode(data)?;
            Ok(SnapshotBody::new(body.state.into()))
        }
        1 => {
            let body: SnapshotBodyV1 = disk::decode(data)?;
            Ok(SnapshotBody::new(body.state.into()))
        }
        other => Err(DiskError::Corrupt(format!(
            "snapshot format {other} (this build reads 1 to {SNAPSHOT_FORMAT})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> tern_ledger::Spec {
        tern_ledger::Spec {
            name: name.into(),
            toml: format!("name = \"{name}\""),
            enabled: true,
        }
    }

    #[test]
    fn a_format_1_snapshot_is_read_with_no_recalls_deliveries_or_mo_rules() {
        let v1 = SnapshotBodyV1 {
            format: 1,
            state: StateV1 {
                seeded: true,
                accounts: BTreeMap::new(),
                leases: BTreeMap::new(),
                tombstones: BTreeMap::new(),
                campaigns: BTreeMap::new(),
                prices: Vec::new(),
                routes: [("de".to_owned(), spec("de"))].into(),
                links: [("op".to_owned(), spec("op"))].into(),
                webhooks: BTreeMap::new(),
                events: VecDeque::new(),
                next_event_seq: 7,
                events_acked: 5,
                audit: VecDeque::new(),
                config_version: 42,
            },
        };
        let body = decode_body(&disk::encode(&v1).unwrap()).unwrap();
        assert_eq!(body.format, SNAPSHOT_FORMAT);
        assert!(body.state.seeded);
        assert_eq!(body.state.routes["de"], spec("de"));
        assert_eq!(body.state.links["op"], spec("op"));
        assert_eq!((body.state.next_event_seq, body.state.events_acked), (7, 5));
        assert_eq!(body.state.config_version, 42);
        assert!(body.state.mo_rules.is_empty());
        assert!(body.state.recalls.is_empty() && body.state.deliveries.is_empty());
    }

    /// A state of formats 2 and 3 with one account, with a CMPP secret, and one MO rule.
    fn state_v3() -> StateV3 {
        let account = AccountV1 {
            spec: legacy::AccountSpecV1 {
                id: "sp1".into(),
                password_hash: "$argon2id$x".into(),
                enabled: true,
                max_binds: 4,
                allowed_ips: Vec::new(),
                sender_ids: Vec::new(),
                transliterate: false,
                parent: None,
                tags: BTreeMap::new(),
                limits: tern_ledger::Limits::default(),
                cmpp_secret: Some("s3cret".into()),
            },
            ledger: tern_ledger::Ledger::default(),
        };
        StateV3 {
            seeded: true,
            accounts: [("sp1".to_owned(), account)].into(),
            leases: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            campaigns: BTreeMap::new(),
            prices: Vec::new(),
            routes: BTreeMap::new(),
            links: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            events: VecDeque::new(),
            next_event_seq: 3,
            events_acked: 2,
            audit: VecDeque::new(),
            config_version: 9,
            recalls: BTreeMap::new(),
            deliveries: BTreeMap::new(),
            mo_rules: [("shop".to_owned(), spec("shop"))].into(),
        }
    }

    #[test]
    fn formats_2_and_3_are_read_with_the_cmpp_secret_as_the_accounts_cmpp_secret() {
        let cluster = tern_ledger::ClusterState {
            shards: 8,
            epoch: 12,
            ..Default::default()
        };
        let v3 = disk::encode(&SnapshotBodyV3 {
            format: 3,
            state: state_v3(),
            cluster: cluster.clone(),
        })
        .unwrap();
        let read = decode_body(&v3).unwrap().into_state();
        assert_eq!(
            read.accounts["sp1"].spec.secret(tern_ledger::CMPP),
            Some("s3cret")
        );
        assert_eq!(read.accounts["sp1"].spec.secrets.len(), 1);
        assert_eq!(read.mo_rules["shop"], spec("shop"));
        assert_eq!(read.config_version, 9);
        assert_eq!(read.cluster, cluster);
        // Format 2 carried no ownership.
        let v2 = disk::encode(&SnapshotBodyV2 {
            format: 2,
            state: state_v3(),
        })
        .unwrap();
        let read = decode_body(&v2).unwrap().into_state();
        assert_eq!(
            read.accounts["sp1"].spec.secret(tern_ledger::CMPP),
            Some("s3cret")
        );
        assert_eq!(read.cluster, tern_ledger::ClusterState::default());
    }

    #[test]
    fn secrets_mo_rules_and_ownership_survive_a_snapshot_and_unknown_formats_are_refused() {
        let mut state: State = state_v3().into();
        if let Some(account) = state.accounts.get_mut("sp1") {
            account
                .spec
                .secrets
                .insert(tern_ledger::SMGP.into(), "other".into());
        }
        state.cluster.shards = 8;
        state.cluster.epoch = 12;
        let data = disk::encode(&SnapshotBody::new(state.clone())).unwrap();
        assert_eq!(decode_body(&data).unwrap().into_state(), state);
        let mut future = SnapshotBody::new(state);
        future.format = SNAPSHOT_FORMAT + 1;
        let error = decode_body(&disk::encode(&future).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("snapshot format 6"), "{error}");
        assert!(error.contains("reads 1 to 5"), "{error}");
    }

    /// A state of format 4: one account with an SMGP secret, one MO rule.
    fn state_v4() -> StateV4 {
        let v3 = state_v3();
        let mut accounts = legacy::accounts(v3.accounts);
        if let Some(account) = accounts.get_mut("sp1") {
            account
                .spec
                .secrets
                .insert(tern_ledger::SMGP.into(), "other".into());
        }
        StateV4 {
            seeded: v3.seeded,
            accounts,
            leases: v3.leases,
            tombstones: v3.tombstones,
            campaigns: v3.campaigns,
            prices: v3.prices,
            routes: v3.routes,
            links: v3.links,
            webhooks: v3.webhooks,
            events: v3.events,
            next_event_seq: v3.next_event_seq,
            events_acked: v3.events_acked,
            audit: v3.audit,
            config_version: 11,
            recalls: v3.recalls,
            deliveries: v3.deliveries,
            mo_rules: v3.mo_rules,
        }
    }

    #[test]
    fn a_format_4_snapshot_is_read_with_no_api_keys_or_callbacks() {
        let cluster = tern_ledger::ClusterState {
            shards: 8,
            epoch: 12,
            ..Default::default()
        };
        let v4 = disk::encode(&SnapshotBodyV4 {
            format: 4,
            state: state_v4(),
            cluster: cluster.clone(),
        })
        .unwrap();
        let body = decode_body(&v4).unwrap();
        assert_eq!(body.format, SNAPSHOT_FORMAT);
        let read = body.into_state();
        assert_eq!(
            read.accounts["sp1"].spec.secret(tern_ledger::SMGP),
            Some("other")
        );
        assert_eq!(
            read.accounts["sp1"].spec.secret(tern_ledger::CMPP),
            Some("s3cret")
        );
        assert_eq!(read.mo_rules["shop"], spec("shop"));
        assert_eq!(read.config_version, 11);
        assert_eq!(read.cluster, cluster);
        assert_eq!(read.http, tern_ledger::HttpState::default());
    }

    #[test]
    fn api_keys_and_callbacks_survive_a_snapshot() {
        let mut state: State = state_v4().into();
        let key = tern_ledger::ApiKey {
            id: "0123456789ab".into(),
            account: "sp1".into(),
            label: "ci".into(),
            hash: format!("sha256:{}", "0f".repeat(32)),
            created_ms: 1_767_225_600_000,
        };
        state.http.keys.insert(key.id.clone(), key);
        state.http.callbacks.insert(
            "sp1".into(),
            tern_ledger::Callback {
                url: "https://hooks.example.com/tern".into(),
                secret: "0123456789abcdef".into(),
            },
        );
        state.cluster.shards = 8;
        let data = disk::encode(&SnapshotBody::new(state.clone())).unwrap();
        let read = decode_body(&data).unwrap().into_state();
        assert_eq!(read.http.keys["0123456789ab"].label, "ci");
        assert_eq!(read, state);
    }
}
