//! The SMPP relay: customers bind to our server, their submits go to one upstream SMSC
//! through our client, and the upstream's receipts come back to the customer under our
//! own message ids.
//!
//! This is the node's message path until the actor pipeline takes over: it keeps its
//! correlations in memory (bounded, with a TTL), so a restart forgets messages in flight.
//! It authenticates binds against the configured accounts, enforces per-account bind
//! limits and IP allowlists, and answers every request it cannot serve with the status the
//! spec gives for it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_model::{DeliveryReport, MessageId, MessageState};
use tern_smpp::net::{
    BindRequest, Client, ClientEvent, Handler, RequestError, SessionEvent, SessionHandle,
};
use tern_smpp::receipt::{self, IdFormat};
use tern_smpp::rusmpp::pdus::{DeliverSm, DeliverSmResp, SubmitSm, SubmitSmResp};
use tern_smpp::rusmpp::types::OctetString;
use tern_smpp::rusmpp::values::{DataCoding, EsmClass, RegisteredDelivery};
use tern_smpp::session::{c_octet, error_response, BindKind};
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::mpsc;
use tracing::{debug, info, warn, Instrument};

use crate::allowlist::{self, IpNet};
use crate::config::AccountConfig;
use crate::ids::IdGenerator;

/// How long a submitted message waits for its receipt before it is forgotten.
const CORRELATION_TTL: Duration = Duration::from_secs(72 * 3600);
/// At most this many messages await a receipt; the oldest are forgotten first.
const MAX_CORRELATIONS: usize = 1_000_000;
/// A receipt that overtook its submit_sm_resp waits this long for it.
const EARLY_RECEIPT_TTL: Duration = Duration::from_secs(60);
const MAX_EARLY_RECEIPTS: usize = 10_000;
/// Receipts held per account while none of its receiving binds is up.
const MAX_HELD_RECEIPTS: usize = 100_000;

/// One customer account and its live binds.
#[derive(Debug)]
pub struct Account {
    config: AccountConfig,
    allow: Vec<IpNet>,
    binds: AtomicUsize,
    receivers: Mutex<Vec<(u64, SessionHandle)>>,
    held: Mutex<VecDeque<DeliverSm>>,
}

impl Account {
    fn new(config: AccountConfig) -> Self {
        let allow = config
            .allowed_ips
            .iter()
            .filter_map(|net| IpNet::parse(net))
            .collect();
        Self {
            config,
            allow,
            binds: AtomicUsize::new(0),
            receivers: Mutex::new(Vec::new()),
            held: Mutex::new(VecDeque::new()),
        }
    }

    fn receiver(&self) -> Option<SessionHandle> {
        let mut receivers = self.receivers.lock().ok()?;
        receivers.retain(|(_, h)| !h.is_closed());
        // Rotate so that receipts spread over the account's receiving binds.
        let step = 1.min(receivers.len());
        receivers.rotate_left(step);
        receivers.first().map(|(_, h)| h.clone())
    }

    fn hold(&self, deliver: DeliverSm) {
        if let Ok(mut held) = self.held.lock() {
            if held.len() >= MAX_HELD_RECEIPTS {
                held.pop_front();
                metrics::counter!("tern_relay_receipts_dropped_total", "reason" => "held_full")
                    .increment(1);
            }
            held.push_back(deliver);
        }
    }
}

/// A bind slot of an account; freed when the session ends.
#[derive(Debug)]
pub struct BindGuard {
    account: Arc<Account>,
    session: u64,
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        self.account.binds.fetch_sub(1, Ordering::AcqRel);
        if let Ok(mut receivers) = self.account.receivers.lock() {
            receivers.retain(|(id, _)| *id != self.session);
        }
    }
}

/// The upstream SMSC and how it writes ids.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub client: Client,
    pub submit_ids: IdFormat,
    pub receipt_ids: IdFormat,
}

/// What we remember about a message until its receipt comes.
#[derive(Debug, Clone)]
struct Pending {
    account: Arc<Account>,
    id: MessageId,
    wants_receipt: RegisteredDelivery,
    /// The customer's source and destination, swapped into the receipt.
    submit: SubmitSm,
    at: Instant,
}

#[derive(Debug, Default)]
struct Correlations {
    by_operator_id: HashMap<String, Pending>,
    order: VecDeque<(Instant, String)>,
    early: HashMap<String, (DeliveryReport, Instant)>,
    early_order: VecDeque<(Instant, String)>,
}

impl Correlations {
    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            if now.duration_since(*at) < CORRELATION_TTL
                && self.by_operator_id.len() <= MAX_CORRELATIONS
            {
                break;
            }
            if self.by_operator_id.get(key).is_some_and(|p| p.at == *at) {
                self.by_operator_id.remove(key);
                metrics::counter!("tern_relay_receipts_expired_total").increment(1);
            }
            self.order.pop_front();
        }
        while let Some((at, key)) = self.early_order.front() {
            if now.duration_since(*at) < EARLY_RECEIPT_TTL && self.early.len() <= MAX_EARLY_RECEIPTS
            {
                break;
            }
            if self.early.get(key).is_some_and(|(_, t)| t == at) {
                self.early.remove(key);
                metrics::counter!("tern_receipts_unmatched_total").increment(1);
            }
            self.early_order.pop_front();
        }
    }
}

/// The node's message path: a [`Handler`] for the SMPP server and the consumer of the
/// upstream link's events.
#[derive(Debug)]
pub struct Relay {
    accounts: HashMap<String, Arc<Account>>,
    ids: IdGenerator,
    upstream: Option<Upstream>,
    correlations: Mutex<Correlations>,
    sessions: AtomicU64,
}

impl Relay {
    pub fn new(node_id: u16, accounts: &[AccountConfig], upstream: Option<Upstream>) -> Self {
        Self {
            accounts: accounts
                .iter()
                .map(|a| (a.system_id.clone(), Arc::new(Account::new(a.clone()))))
                .collect(),
            ids: IdGenerator::new(node_id),
            upstream,
            correlations: Mutex::new(Correlations::default()),
            sessions: AtomicU64::new(0),
        }
    }

    /// Consumes the upstream link's events: receipts and MO.
    pub async fn run_upstream(self: Arc<Self>, mut events: mpsc::Receiver<ClientEvent>) {
        while let Some(event) = events.recv().await {
            match event {
                ClientEvent::Request { command, handle } => self.upstream_request(command, &handle),
                ClientEvent::LateResponse { command, .. } => {
                    warn!(sequence = command.sequence_number(), "upstream answered after the timeout; the customer was told the outcome is unknown");
                }
                ClientEvent::Up { kind } => info!(kind = kind.as_str(), "upstream link up"),
                ClientEvent::Down { kind, reason } => {
                    warn!(kind = kind.as_str(), ?reason, "upstream link down")
                }
            }
        }
    }

    fn upstream_request(&self, command: Command, handle: &SessionHandle) {
        let seq = command.sequence_number();
        let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
            // data_sm and alert_notification are not relayed yet.
            if let Some(Pdu::DataSm(_)) = command.pdu() {
                handle.respond(error_response(
                    command.id(),
                    seq,
                    CommandStatus::EsmeRxTAppn,
                ));
            }
            return;
        };
        if !receipt::is_receipt(u8::from(deliver.esm_class)) {
            // MO routing arrives with the pipeline; a temporary error makes the SMSC retry.
            metrics::counter!("tern_relay_mo_refused_total").increment(1);
            handle.respond(error_response(
                command.id(),
                seq,
                CommandStatus::EsmeRxTAppn,
            ));
            return;
        }
        handle.respond(Command::new(
            CommandStatus::EsmeRok,
            seq,
            DeliverSmResp::default(),
        ));
        let Some(report) = parse_receipt(deliver) else {
            metrics::counter!("tern_receipts_unparsable_total").increment(1);
            warn!("receipt without a message id");
            return;
        };
        let format = self
            .upstream
            .as_ref()
            .map(|u| u.receipt_ids)
            .unwrap_or_default();
        let key = receipt::normalise(&report.message_id, format);
        self.correlate(key, report);
    }

    fn correlate(&self, key: String, report: DeliveryReport) {
        let now = Instant::now();
        let pending = {
            let Ok(mut c) = self.correlations.lock() else {
                return;
            };
            c.expire(now);
            match c.by_operator_id.get(&key) {
                // An intermediate state leaves the correlation in place for the final one.
                Some(_) if !report.state.is_final() => c.by_operator_id.get(&key).cloned(),
                Some(_) => c.by_operator_id.remove(&key),
                None => {
                    c.early_order.push_back((now, key.clone()));
                    c.early.insert(key, (report, now));
                    return;
                }
            }
        };
        if let Some(pending) = pending {
            metrics::counter!("tern_receipts_matched_total").increment(1);
            deliver_receipt(pending, report);
        }
    }

    async fn relay_submit(
        self: Arc<Self>,
        account: Arc<Account>,
        handle: SessionHandle,
        seq: u32,
        submit: SubmitSm,
    ) {
        let id = self.ids.next();
        let respond = |status: CommandStatus, message_id: Option<MessageId>| {
            let command = match message_id {
                Some(id) => Command::new(
                    status,
                    seq,
                    SubmitSmResp::builder()
                        .message_id(c_octet(&id.to_decimal()))
                        .build(),
                ),
                None => error_response(tern_smpp::CommandId::SubmitSm, seq, status),
            };
            handle.respond(command);
        };
        let Some(upstream) = &self.upstream else {
            metrics::counter!("tern_relay_submits_total", "result" => "no_route").increment(1);
            return respond(CommandStatus::EsmeRsubmitfail, None);
        };
        let wants_receipt = submit.registered_delivery;
        let mut forward = submit.clone();
        if account.config.transliterate && transliterate_to_gsm(&mut forward) {
            metrics::counter!("tern_relay_transliterated_total").increment(1);
        }
        // Always ask the operator for the final receipt: the gateway needs it for its own
        // records even when the customer does not.
        forward.registered_delivery = RegisteredDelivery::from(u8::from(wants_receipt) | 0x01);
        let started = Instant::now();
        let result = upstream.client.request(Pdu::from(forward)).await;
        metrics::histogram!("tern_relay_submit_latency_seconds")
            .record(started.elapsed().as_secs_f64());
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let (status, label) = match error {
                    RequestError::NotSent(_) => (CommandStatus::EsmeRmsgqful, "link_down"),
                    RequestError::Timeout | RequestError::Closed => {
                        (CommandStatus::EsmeRsyserr, "unknown")
                    }
                };
                metrics::counter!("tern_relay_submits_total", "result" => label).increment(1);
                warn!(%id, %error, "upstream submit failed");
                return respond(status, None);
            }
        };
        if response.status() != CommandStatus::EsmeRok {
            metrics::counter!("tern_relay_submits_total", "result" => "rejected").increment(1);
            return respond(response.status(), None);
        }
        let operator_id = match response.pdu() {
            Some(Pdu::SubmitSmResp(r)) => r.message_id().as_str().to_owned(),
            _ => String::new(),
        };
        let key = receipt::normalise(&operator_id, upstream.submit_ids);
        debug!(%id, operator_id, "submitted upstream");
        let pending = Pending {
            account,
            id,
            wants_receipt,
            submit,
            at: Instant::now(),
        };
        let early = {
            let mut c = match self.correlations.lock() {
                Ok(c) => c,
                Err(_) => return respond(CommandStatus::EsmeRsyserr, None),
            };
            c.order.push_back((pending.at, key.clone()));
            c.by_operator_id.insert(key.clone(), pending);
            c.early.remove(&key)
        };
        metrics::counter!("tern_relay_submits_total", "result" => "ok").increment(1);
        respond(CommandStatus::EsmeRok, Some(id));
        if let Some((report, _)) = early {
            self.correlate(key, report);
        }
    }
}

/// A single-part UCS-2 message whose text GSM 7-bit can carry after transliteration
/// without loss (`“Grüße”` → `"Grüße"`) is sent as GSM 7-bit: half the octets, and the
/// operator bills the part at the GSM rate. Multipart messages keep their encoding, since
/// changing it would change the parts the customer already numbered.
fn transliterate_to_gsm(submit: &mut SubmitSm) -> bool {
    const UDHI: u8 = 0x40;
    let dcs = u8::from(submit.data_coding);
    if dcs != 0x08 || u8::from(submit.esm_class) & UDHI != 0 || submit.short_message().is_empty() {
        return false;
    }
    let Ok(text) = tern_encoding::ucs2::decode(submit.short_message().as_ref()) else {
        return false;
    };
    let policy = tern_encoding::ChoosePolicy {
        allow_latin1: false,
        allow_ucs2: true,
        transliterate: true,
    };
    let choice = tern_encoding::choose(&text, &policy);
    if choice.alphabet != tern_encoding::Alphabet::Gsm7 || choice.lossy {
        return false;
    }
    let Ok(septets) = tern_encoding::gsm7::encode(&choice.text) else {
        return false;
    };
    let Ok(short_message) = OctetString::from_vec(septets) else {
        return false;
    };
    if short_message.len() > 160 {
        return false;
    }
    submit.set_short_message(short_message);
    submit.data_coding = DataCoding::from(0x00);
    true
}

fn parse_receipt(deliver: &DeliverSm) -> Option<DeliveryReport> {
    let text = String::from_utf8_lossy(deliver.short_message().as_ref()).into_owned();
    let parsed = receipt::parse_text(&text).ok();
    let tlv_id = receipt::receipted_message_id(deliver.tlvs()).map(str::to_owned);
    let tlv_state = receipt::message_state(deliver.tlvs());
    match (parsed, tlv_id) {
        // The TLVs are authoritative where present (SMPP 3.4 §5.3.2.12).
        (Some(mut report), tlv_id) => {
            if let Some(id) = tlv_id {
                report.message_id = id;
            }
            if let Some(state) = tlv_state {
                report.state = state;
            }
            Some(report)
        }
        (None, Some(id)) => Some(DeliveryReport {
            message_id: id,
            state: tlv_state.unwrap_or(MessageState::Unknown),
            submitted: 1,
            delivered: 0,
            submit_unix: None,
            done_unix: None,
            error: 0,
            text: String::new(),
        }),
        (None, None) => None,
    }
}

/// Sends the customer the receipt for `pending`, under our id, if the customer asked for it.
fn deliver_receipt(pending: Pending, mut report: DeliveryReport) {
    let wanted = u8::from(pending.wants_receipt) & 0x03;
    let wants = match wanted {
        1 => true,
        2 => !report.state.is_delivered(),
        3 => report.state.is_delivered(),
        _ => false,
    };
    if !wants || !report.state.is_final() {
        return;
    }
    report.message_id = pending.id.to_decimal();
    let submit = &pending.submit;
    let text = receipt::build_text(&report, false);
    let mut deliver = DeliverSm::builder()
        .source_addr_ton(submit.dest_addr_ton)
        .source_addr_npi(submit.dest_addr_npi)
        .source_addr(submit.destination_addr.clone())
        .dest_addr_ton(submit.source_addr_ton)
        .dest_addr_npi(submit.source_addr_npi)
        .destination_addr(submit.source_addr.clone())
        .esm_class(EsmClass::from(0x04))
        .short_message(
            OctetString::from_slice(text.as_bytes()).unwrap_or_else(|_| OctetString::empty()),
        )
        .build();
    if receipt::add_receipt_tlvs(&mut deliver, &report.message_id, report.state, None).is_err() {
        return;
    }
    send_to_customer(pending.account, deliver);
}

fn send_to_customer(account: Arc<Account>, deliver: DeliverSm) {
    let Some(handle) = account.receiver() else {
        metrics::counter!("tern_relay_receipts_held_total").increment(1);
        account.hold(deliver);
        return;
    };
    tokio::spawn(async move {
        match handle.request(Pdu::from(deliver.clone())).await {
            Ok(response) if response.status() == CommandStatus::EsmeRok => {
                metrics::counter!("tern_relay_receipts_delivered_total").increment(1);
            }
            Ok(response) => {
                warn!(status = ?response.status(), "customer refused a receipt; holding it");
                account.hold(deliver);
            }
            Err(error) => {
                debug!(%error, "receipt not delivered; holding it");
                account.hold(deliver);
            }
        }
    });
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Handler for Relay {
    type Grant = BindGuard;

    async fn bind(&self, request: BindRequest) -> Result<(BindGuard, String), CommandStatus> {
        let outcome = self.check_bind(&request);
        let label = match &outcome {
            Ok(_) => "ok",
            Err(CommandStatus::EsmeRinvsysid) => "unknown_account",
            Err(CommandStatus::EsmeRinvpaswd) => "bad_password",
            Err(_) => "refused",
        };
        metrics::counter!("tern_relay_bind_attempts_total", "result" => label).increment(1);
        if let Err(status) = &outcome {
            warn!(system_id = request.system_id, peer = %request.peer, ?status, "bind refused");
        }
        outcome
    }

    fn session(
        self: &Arc<Self>,
        grant: BindGuard,
        kind: BindKind,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let span = tracing::info_span!(
            "customer",
            system_id = grant.account.config.system_id,
            kind = kind.as_str()
        );
        tokio::spawn(customer_session(self.clone(), grant, kind, handle, events).instrument(span));
    }
}

impl Relay {
    fn check_bind(&self, request: &BindRequest) -> Result<(BindGuard, String), CommandStatus> {
        let account = self
            .accounts
            .get(&request.system_id)
            .ok_or(CommandStatus::EsmeRinvsysid)?;
        if !constant_time_eq(
            account.config.password.as_bytes(),
            request.password.as_bytes(),
        ) {
            return Err(CommandStatus::EsmeRinvpaswd);
        }
        let ip: IpAddr = request.peer.ip();
        if !allowlist::allows(&account.allow, ip) {
            return Err(CommandStatus::EsmeRbindfail);
        }
        let previous = account.binds.fetch_add(1, Ordering::AcqRel);
        let session = self.sessions.fetch_add(1, Ordering::Relaxed);
        let guard = BindGuard {
            account: account.clone(),
            session,
        };
        if previous >= account.config.max_binds {
            // The guard gives the slot back.
            return Err(CommandStatus::EsmeRbindfail);
        }
        Ok((guard, "tern".to_owned()))
    }
}

async fn customer_session(
    relay: Arc<Relay>,
    guard: BindGuard,
    kind: BindKind,
    handle: SessionHandle,
    mut events: mpsc::Receiver<SessionEvent>,
) {
    let account = guard.account.clone();
    if kind.can_receive() {
        if let Ok(mut receivers) = account.receivers.lock() {
            receivers.push((guard.session, handle.clone()));
        }
        let held: Vec<DeliverSm> = account
            .held
            .lock()
            .map(|mut held| held.drain(..).collect())
            .unwrap_or_default();
        for deliver in held {
            send_to_customer(account.clone(), deliver);
        }
    }
    while let Some(event) = events.recv().await {
        match event {
            SessionEvent::Request(command) => {
                let seq = command.sequence_number();
                match command.pdu() {
                    Some(Pdu::SubmitSm(submit)) => {
                        tokio::spawn(relay.clone().relay_submit(
                            account.clone(),
                            handle.clone(),
                            seq,
                            submit.clone(),
                        ));
                    }
                    _ => {
                        // query_sm, cancel_sm, replace_sm, submit_multi and data_sm need
                        // the message store; until then they fail with their own status.
                        let status = match command.id() {
                            tern_smpp::CommandId::QuerySm => CommandStatus::EsmeRqueryfail,
                            tern_smpp::CommandId::CancelSm => CommandStatus::EsmeRcancelfail,
                            tern_smpp::CommandId::ReplaceSm => CommandStatus::EsmeRreplacefail,
                            _ => CommandStatus::EsmeRsubmitfail,
                        };
                        handle.respond(error_response(command.id(), seq, status));
                    }
                }
            }
            SessionEvent::LateResponse { command_id, .. } => {
                debug!(?command_id, "customer answered after the timeout");
            }
            SessionEvent::Closed { reason } => {
                debug!(?reason, "customer session closed");
                break;
            }
        }
    }
    drop(guard);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(system_id: &str, max_binds: usize, allowed_ips: &[&str]) -> AccountConfig {
        AccountConfig {
            system_id: system_id.into(),
            password: "secret".into(),
            max_binds,
            allowed_ips: allowed_ips.iter().map(|s| s.to_string()).collect(),
            transliterate: false,
        }
    }

    fn request(system_id: &str, password: &str, peer: &str) -> BindRequest {
        BindRequest {
            kind: BindKind::Transceiver,
            system_id: system_id.into(),
            password: password.into(),
            system_type: String::new(),
            interface_version: 0x34,
            address_range: String::new(),
            peer: peer.parse().unwrap(),
            tls: false,
        }
    }

    #[test]
    fn binds_are_checked_against_accounts() {
        let relay = Relay::new(1, &[account("acme", 2, &["10.0.0.0/8"])], None);
        let status = |r: Result<(BindGuard, String), CommandStatus>| r.err();
        assert_eq!(
            status(relay.check_bind(&request("nobody", "secret", "10.0.0.1:1"))),
            Some(CommandStatus::EsmeRinvsysid)
        );
        assert_eq!(
            status(relay.check_bind(&request("acme", "wrong", "10.0.0.1:1"))),
            Some(CommandStatus::EsmeRinvpaswd)
        );
        assert_eq!(
            status(relay.check_bind(&request("acme", "secret", "192.0.2.1:1"))),
            Some(CommandStatus::EsmeRbindfail)
        );
        assert!(relay
            .check_bind(&request("acme", "secret", "10.1.2.3:1"))
            .is_ok());
    }

    #[test]
    fn the_bind_limit_frees_a_slot_when_a_session_ends() {
        let relay = Relay::new(1, &[account("acme", 2, &[])], None);
        let first = relay
            .check_bind(&request("acme", "secret", "127.0.0.1:1"))
            .unwrap();
        let _second = relay
            .check_bind(&request("acme", "secret", "127.0.0.1:2"))
            .unwrap();
        assert_eq!(
            relay
                .check_bind(&request("acme", "secret", "127.0.0.1:3"))
                .err(),
            Some(CommandStatus::EsmeRbindfail)
        );
        drop(first);
        assert!(relay
            .check_bind(&request("acme", "secret", "127.0.0.1:4"))
            .is_ok());
    }

    fn ucs2_submit(text: &str) -> SubmitSm {
        SubmitSm::builder()
            .data_coding(DataCoding::Ucs2)
            .short_message(OctetString::from_vec(tern_encoding::ucs2::encode(text)).unwrap())
            .build()
    }

    #[test]
    fn transliteration_turns_lossless_ucs2_into_gsm() {
        let mut submit = ucs2_submit("\u{201c}Grüße\u{201d} – ok");
        assert!(transliterate_to_gsm(&mut submit));
        assert_eq!(u8::from(submit.data_coding), 0);
        let text = tern_encoding::gsm7::decode(submit.short_message().as_ref());
        assert_eq!(text, "\"Grüße\" - ok");
        // Chinese has no GSM form: the message stays UCS-2.
        let mut chinese = ucs2_submit("你好");
        assert!(!transliterate_to_gsm(&mut chinese));
        assert_eq!(u8::from(chinese.data_coding), 8);
    }

    #[test]
    fn receipts_are_read_from_tlvs_before_text() {
        let mut deliver = DeliverSm::builder()
            .esm_class(EsmClass::from(0x04))
            .short_message(OctetString::from_slice(b"id:77 sub:001 dlvrd:001 submit date:2401010000 done date:2401010001 stat:UNDELIV err:001 text:").unwrap())
            .build();
        receipt::add_receipt_tlvs(&mut deliver, "0x4D", MessageState::Delivered, None).unwrap();
        let report = parse_receipt(&deliver).unwrap();
        assert_eq!(report.message_id, "0x4D");
        assert_eq!(report.state, MessageState::Delivered);
        assert_eq!(report.error, 1);
    }
}
