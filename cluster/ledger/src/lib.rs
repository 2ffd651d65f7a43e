//! The replicated state machine: accounts, their ledgers, leases, campaign bookings,
//! prices, routes, carrier links, MO rules, webhooks, the HTTP API's keys and callbacks,
//! threshold events and the audit trail.
//!
//! Everything here is deterministic: a command carries the time it was proposed at
//! (`Request::at_ms`), so every node that applies the same log reaches the same state.
//! Money is in integer minor units (`Minor`), message counts in parts. Secrets arrive
//! already hashed: the state machine never sees a password.
//!
//! The invariant the ledger keeps, for every account and at every index of the log:
//! `used + reserved <= max` for parts in the current period when a limit is set, and
//! `balance - reserved_amount >= -credit_limit` for money when a credit limit is set.
//! Reservations are leases held by nodes and bookings held by campaigns; a lease is
//! settled with cumulative figures, so a settle applied twice changes nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

mod account;
mod apply;
pub mod calendar;
mod campaign;
mod config;
mod http;
mod lease;
mod ledger;
pub mod legacy;
mod notify;
pub mod ownership;
mod topup;

pub use http::{CALLBACK_SECRET_CHARS, MAX_API_KEYS, MAX_API_KEY_LABEL, MAX_CALLBACK_URL};
pub use ownership::{BindSlot, Claim, ClusterState, Liveness, Owned};

/// Money in minor units (cents, fen, öre).
pub type Minor = i64;

/// A lease id: unique per cluster, chosen by the node that asks (`node << 48 | counter`).
pub type LeaseId = u64;

/// How many audit records and events the state keeps; older ones are dropped.
pub const AUDIT_KEEP: usize = 10_000;
pub const EVENTS_KEEP: usize = 10_000;
/// How long a reclaimed or closed lease is remembered for a late settle.
pub const LEASE_TOMBSTONE_MS: u64 = 24 * 3_600_000;
/// How deep a chain of parent accounts may be.
pub const MAX_PARENT_DEPTH: usize = 16;

/// The period a message-count limit applies to (UTC calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Period {
    #[default]
    Day,
    Month,
}

/// An account's automatic top-up from its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTopUp {
    /// Amount moved from the parent each time the child runs short (at least the
    /// shortfall is moved).
    pub amount: Minor,
}

/// The limits of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// How far below zero the balance may go: `Some(0)` is prepaid, `Some(n)` postpaid
    /// with a credit limit of `n`, `None` is not metered in money.
    pub credit_limit: Option<Minor>,
    /// Message parts per period; `None` is unlimited.
    pub max_messages: Option<u64>,
    pub period: Period,
    /// Percentages of use that emit one event per crossing. Default 80 and 100.
    pub thresholds: Vec<u8>,
    /// Submits per second per node (enforced by sessions); `None` is unlimited.
    pub tps: Option<u32>,
    pub auto_topup: Option<AutoTopUp>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            credit_limit: None,
            max_messages: None,
            period: Period::Day,
            thresholds: vec![80, 100],
            tps: None,
            auto_topup: None,
        }
    }
}

/// An account's settings, as administrators set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpec {
    pub id: String,
    /// A PHC string (argon2id); never the password itself.
    pub password_hash: String,
    pub enabled: bool,
    pub max_binds: u32,
    /// CIDR blocks or addresses; empty allows every address.
    pub allowed_ips: Vec<String>,
    /// Exact sender ids, or prefixes ending in `*`; empty allows any.
    pub sender_ids: Vec<String>,
    pub transliterate: bool,
    pub parent: Option<String>,
    /// Free-form labels (cost centre, customer number).
    pub tags: BTreeMap<String, String>,
    pub limits: Limits,
    /// The shared secrets of the protocols whose login proves knowledge of one (an MD5
    /// authenticator over it: CMPP, SMGP, CNGP) or that log in both ways (SGIP: the SP binds
    /// to the gateway and the gateway to the SP, with the same password), by protocol
    /// ([`CMPP`], [`SMGP`], [`CNGP`], [`SGIP`]), as given: they cannot be kept hashed. An
    /// account without a protocol's secret cannot log in over that protocol; SMPP logs in
    /// with the password.
    pub secrets: BTreeMap<String, String>,
}

/// The protocols' names in [`AccountSpec::secrets`].
pub const CMPP: &str = "cmpp";
pub const SMGP: &str = "smgp";
pub const CNGP: &str = "cngp";
pub const SGIP: &str = "sgip";

impl AccountSpec {
    /// The account's shared secret for `protocol`.
    pub fn secret(&self, protocol: &str) -> Option<&str> {
        self.secrets.get(protocol).map(String::as_str)
    }
}

/// An account's money and counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub balance: Minor,
    /// Everything ever debited.
    pub spent_total: Minor,
    /// Money held by leases and bookings.
    pub reserved_amount: Minor,
    /// Start of the current period (ms since the epoch, UTC midnight or first of month).
    pub period_start_ms: u64,
    /// Parts used in the current period.
    pub period_used: u64,
    /// Parts held by leases and bookings.
    pub reserved_parts: u64,
    /// Parts ever used.
    pub parts_total: u64,
    /// The base the money thresholds are measured against: balance plus credit limit at
    /// the last top-up.
    pub credit_base: Minor,
    /// Thresholds already crossed since the period started (messages) or since the last
    /// top-up (credit).
    pub crossed_messages: BTreeSet<u8>,
    pub crossed_credit: BTreeSet<u8>,
}

/// An account: its settings and its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub spec: AccountSpec,
    pub ledger: Ledger,
}

/// A node's reservation on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: LeaseId,
    pub account: String,
    pub node: u64,
    pub granted_parts: u64,
    pub granted_amount: Minor,
    /// Cumulative use reported by the node.
    pub used_parts: u64,
    pub used_amount: Minor,
    pub expires_ms: u64,
    /// Parts and money of this lease drawn from a campaign booking.
    pub campaign: Option<String>,
}

/// What is left of a lease after it closed or was reclaimed: a late settle with lower
/// use gives the difference back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseTombstone {
    pub account: String,
    /// What the ledger counted as used when the lease ended.
    pub counted_parts: u64,
    pub counted_amount: Minor,
    /// True when the lease was reclaimed (counted in full) rather than settled.
    pub reclaimed: bool,
    pub forget_at_ms: u64,
    /// Use the node had reported before the lease ended: a late settle never gives back
    /// more than was counted on top of it.
    #[serde(default)]
    pub reported_parts: u64,
    #[serde(default)]
    pub reported_amount: Minor,
    /// The period the counted parts went into: a late refund of parts only lowers
    /// `period_used` while the account is still in that period.
    #[serde(default)]
    pub period_start_ms: u64,
}

/// A campaign booked for a future send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub account: String,
    pub send_at_ms: u64,
    /// How long after `send_at_ms` the booking stays reserved for the campaign.
    pub window_ms: u64,
    /// Booked parts and money, as asked.
    pub parts: u64,
    pub amount: Minor,
    pub tolerance_pct: u8,
    /// Parts and money still reserved for the campaign (booked plus tolerance, less what
    /// leases took).
    pub reserved_parts: u64,
    pub reserved_amount: Minor,
    /// The booking with its tolerance, as reserved when it was booked: the ceiling a
    /// resize may grow to.
    #[serde(default)]
    pub ceiling_parts: u64,
    #[serde(default)]
    pub ceiling_amount: Minor,
}

/// A price per message part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// `None` applies to every account.
    pub account: Option<String>,
    /// `None` applies to every route.
    pub route: Option<String>,
    /// Destination prefix (digits); empty matches every number.
    pub prefix: String,
    pub per_part: Minor,
}

/// A route, carrier link or MO rule: its configuration as a TOML table (the same keys as
/// the `[[route]]`, `[[upstream]]` and `[[mo_rule]]` sections of the node configuration,
/// checked by the node before it is proposed) and whether it is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    pub toml: String,
    pub enabled: bool,
}

/// A webhook the notifier posts events to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Only events of these accounts (and their descendants); empty: all.
    pub accounts: Vec<String>,
}

/// An API key of the HTTP API: which account it authenticates, and the SHA-256 digest of
/// the key (never the key, which is shown once when created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The part of the key that names it: 12 lowercase hex digits.
    pub id: String,
    pub account: String,
    /// What the key is for, as the administrator named it (1 to 64 characters).
    pub label: String,
    /// `sha256:` and the digest's 64 lowercase hex digits.
    pub hash: String,
    pub created_ms: u64,
}

/// Where the HTTP API posts an account's delivery reports and MO, and the secret the posts
/// are signed with. The secret is kept as given: a signature needs it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// An `http://` or `https://` URL with a host.
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("url", &self.url)
            .field("secret", &"..")
            .finish()
    }
}

/// The HTTP API's credentials and endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpState {
    /// API keys by key id.
    pub keys: BTreeMap<String, ApiKey>,
    /// Callback endpoints by account.
    pub callbacks: BTreeMap<String, Callback>,
}

impl HttpState {
    /// The keys of `account`, in id order.
    pub fn keys_of<'a>(&'a self, account: &'a str) -> impl Iterator<Item = &'a ApiKey> + 'a {
        self.keys.values().filter(move |key| key.account == account)
    }
}

/// What an account can still take: `None` where there is no limit (parts) or no metering
/// (money).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Available {
    pub parts: Option<u64>,
    pub amount: Option<Minor>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// Use of the period's message limit crossed `percent`. `used` counts the parts used
    /// in the period plus the parts held by leases and bookings.
    MessagesThreshold { percent: u8, used: u64, max: u64 },
    /// Use of the credit crossed `percent`.
    CreditThreshold {
        percent: u8,
        balance: Minor,
        credit_limit: Minor,
    },
    /// A lease was reclaimed after its node stopped renewing it.
    LeaseReclaimed { lease: LeaseId, node: u64 },
    /// An account drew money from its parent.
    ParentTopUp { parent: String, amount: Minor },
}

/// An event for the notifier, numbered in log order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at_ms: u64,
    pub account: String,
    pub kind: EventKind,
}

/// Where the posting of one event to one webhook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Not yet accepted by the receiver; tried again at `next_at_ms`.
    Pending,
    /// The receiver answered a POST with a 2xx status.
    Delivered,
    /// Every try within the notifier's retry period failed; not tried again.
    GaveUp,
}

/// The posting of one event to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub state: DeliveryState,
    /// POSTs made so far.
    pub attempts: u32,
    pub first_at_ms: u64,
    pub last_at_ms: u64,
    /// When a pending delivery is tried next; 0 once it is delivered or given up.
    pub next_at_ms: u64,
    /// Why the last try failed (a status or a connection error); empty when delivered.
    pub error: String,
}

/// What the notifier reports about one event and one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub seq: u64,
    pub hook: String,
    pub delivery: Delivery,
}

/// Who changed what, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    pub who: String,
    pub what: String,
    pub at_ms: u64,
}

/// A change to the state, as proposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// When the proposer made it; the only clock the state machine reads.
    pub at_ms: u64,
    /// Present for administrative changes; recorded in the audit trail when applied.
    pub audit: Option<Audit>,
    pub command: Command,
}

/// The commands of the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// [`Command::Seed`] as logged before account secrets were kept per protocol (see
    /// [`legacy`]); read, never proposed.
    SeedV1 {
        accounts: Vec<legacy::AccountSpecV1>,
        routes: Vec<Spec>,
        links: Vec<Spec>,
        prices: Vec<Price>,
    },
    /// [`Command::CreateAccount`] as logged before; read, never proposed.
    CreateAccountV1 {
        spec: legacy::AccountSpecV1,
        credit: Minor,
    },
    /// [`Command::UpdateAccount`] as logged before; read, never proposed.
    UpdateAccountV1 {
        spec: legacy::AccountSpecV1,
    },
    DeleteAccount {
        id: String,
    },
    /// Adds money; with `from_parent` the amount is moved from the parent's balance.
    TopUp {
        account: String,
        amount: Minor,
        from_parent: bool,
    },
    /// Reserves parts and money for a node. Grants what is available, up to the asked
    /// amounts; an account in a campaign window draws from the booking first.
    AcquireLease {
        lease: LeaseId,
        account: String,
        node: u64,
        parts: u64,
        amount: Minor,
        ttl_ms: u64,
    },
    /// Reports cumulative use of a lease and extends it by `ttl_ms`; with `close` the
    /// rest is returned and the lease ends. Idempotent: use never goes down.
    SettleLease {
        lease: LeaseId,
        used_parts: u64,
        used_amount: Minor,
        ttl_ms: u64,
        close: bool,
    },
    /// Reclaims leases past their expiry (counted as used in full), ends campaign windows
    /// and rolls periods. Proposed by the leader every few seconds.
    Tick,
    BookCampaign {
        id: String,
        account: String,
        send_at_ms: u64,
        window_ms: u64,
        parts: u64,
        amount: Minor,
        tolerance_pct: u8,
    },
    /// Changes a booking's size; allowed within the tolerance booked.
    ResizeCampaign {
        id: String,
        parts: u64,
        amount: Minor,
    },
    CancelCampaign {
        id: String,
    },
    SetPrices {
        prices: Vec<Price>,
    },
    PutRoute {
        spec: Spec,
    },
    DeleteRoute {
        name: String,
    },
    PutLink {
        spec: Spec,
    },
    DeleteLink {
        name: String,
    },
    PutWebhook {
        webhook: Webhook,
    },
    DeleteWebhook {
        id: String,
    },
    /// Every event up to `seq` is settled: delivered or given up at each of its webhooks.
    AckEvents {
        seq: u64,
    },
    /// A node could not get the parts or money a message needs while other nodes' leases
    /// hold some unused: asks every other node to give back what its leases of `account`
    /// hold and do not use. (Variants are appended, so older log entries still decode.)
    Recall {
        account: String,
        node: u64,
    },
    /// The notifier's tries of events at webhooks: delivered, pending with the next try,
    /// or given up. A delivery that reached an end stays there.
    RecordDeliveries {
        records: Vec<DeliveryRecord>,
    },
    /// Adds or replaces an MO rule: which account receives MO to some numbers, number
    /// prefixes or keywords, as a `[[mo_rule]]` TOML table checked by the node.
    PutMoRule {
        spec: Spec,
    },
    DeleteMoRule {
        name: String,
    },
    /// A node renews its liveness (see [`ownership`]); `receivers`, when given, replaces
    /// the accounts it has receiving binds of. `shards` is its pipeline's shard count.
    Heartbeat {
        node: u64,
        shards: u16,
        receivers: Option<Vec<String>>,
    },
    /// Moves a node's shards and binds away (`draining`), or lets it take work again.
    Drain {
        node: u64,
        draining: bool,
    },
    /// The old owner stopped acting on these claims (by epoch): their new owners may act.
    Release {
        node: u64,
        shards: Vec<(u16, u64)>,
        binds: Vec<(BindSlot, u64)>,
    },
    /// Forgets a node that left the cluster; its work moves to the others.
    ForgetNode {
        node: u64,
    },
    /// Creates the accounts, routes and links of the configuration file, once: ignored
    /// when the state was seeded before.
    Seed {
        accounts: Vec<AccountSpec>,
        routes: Vec<Spec>,
        links: Vec<Spec>,
        prices: Vec<Price>,
    },
    CreateAccount {
        spec: AccountSpec,
        /// Opening balance.
        credit: Minor,
    },
    /// Replaces the settings of an existing account (the ledger stays).
    UpdateAccount {
        spec: AccountSpec,
    },
    /// Adds an API key of the HTTP API to an account.
    PutApiKey {
        key: ApiKey,
    },
    RevokeApiKey {
        id: String,
    },
    /// Sets an account's callback endpoint; `None` removes it.
    SetCallback {
        account: String,
        callback: Option<Callback>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} exists already")]
    Exists(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("over limit: {0}")]
    OverLimit(String),
}

/// What applying a command gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Ok,
    /// What a lease was granted (possibly less than asked, possibly zero).
    Lease {
        parts: u64,
        amount: Minor,
    },
    /// A settle: what the ledger now counts for the lease.
    Settled {
        counted_parts: u64,
        counted_amount: Minor,
    },
    /// A settle that is not the closing one, for a lease the ledger ended without it
    /// (reclaimed in full past its time): what the ledger counts. The node must stop
    /// spending from it and close it with its final use, which the ledger then counts
    /// exactly, giving back the rest.
    Ended {
        counted_parts: u64,
        counted_amount: Minor,
    },
    Refused(Refusal),
}

/// The whole replicated state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub seeded: bool,
    pub accounts: BTreeMap<String, Account>,
    pub leases: BTreeMap<LeaseId, Lease>,
    pub tombstones: BTreeMap<LeaseId, LeaseTombstone>,
    pub campaigns: BTreeMap<String, Campaign>,
    pub prices: Vec<Price>,
    pub routes: BTreeMap<String, Spec>,
    pub links: BTreeMap<String, Spec>,
    pub webhooks: BTreeMap<String, Webhook>,
    pub events: VecDeque<Event>,
    /// The number the next event gets. Events are numbered from 1 (a fresh state's 0 is
    /// read as 1), so that `events_acked == 0` means that none was delivered.
    pub next_event_seq: u64,
    /// Events up to this sequence number are settled: every webhook they were meant for
    /// has them delivered or gave up (see `deliveries`).
    pub events_acked: u64,
    pub audit: VecDeque<Audit>,
    /// Bumped by every change to accounts, prices, routes, links, MO rules, webhooks, API
    /// keys or callbacks, so nodes rebuild their views only when something they use changed.
    pub config_version: u64,
    /// The latest recall of each account's unused lease reservations; forgotten by the
    /// tick after [`RECALL_KEEP_MS`].
    #[serde(default)]
    pub recalls: BTreeMap<String, RecallNotice>,
    /// How the posting of each kept event to each webhook stands, by event `seq` and
    /// webhook id; forgotten with the event.
    #[serde(default)]
    pub deliveries: BTreeMap<u64, BTreeMap<String, Delivery>>,
    /// The MO rules by name, as `[[mo_rule]]` TOML tables (see [`Spec`]).
    #[serde(default)]
    pub mo_rules: BTreeMap<String, Spec>,
    /// The HTTP API's keys and callbacks (snapshot format 5 on).
    #[serde(default)]
    pub http: HttpState,
    /// Liveness and the ownership map. Kept out of the state's own encoding: snapshots
    /// carry it beside the state (format 3), so older snapshots still decode.
    #[serde(skip)]
    pub cluster: ClusterState,
}

/// How long a recall stays in the state for nodes to see it.
pub const RECALL_KEEP_MS: u64 = 10_000;

/// A node's request that other nodes give back the unused part of their leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallNotice {
    pub at_ms: u64,
    /// The node that asked: it keeps its own leases.
    pub node: u64,
}

/// What an account stands at, as a node's quota counter reads it from its replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// Parts neither used in the period nor booked by a campaign: what leases may hold.
    /// `None` without a message limit.
    pub parts_unbooked: Option<u64>,
    /// Parts reserved by nobody: what a new lease can get at once.
    pub parts_free: Option<u64>,
    /// The same for money: headroom without the leases' reservations, and headroom.
    /// `None` when not metered.
    pub amount_unbooked: Option<Minor>,
    pub amount_free: Option<Minor>,
    /// The latest recall of the account's unused reservations.
    pub recall: Option<RecallNotice>,
}
