//! A customer as the harness plays it: SMPP binds to one or more nodes, submits at a pace
//! through whichever bind is up, and a record of every submit's outcome and every receipt
//! it was handed. It speaks only the wire protocol.
//!
//! Each message goes to a destination number of its own, so the operator's record of its
//! parts can be told apart from every other message's. A submit that could not be written
//! is a failure; one written whose answer did not come (the connection closed, or the
//! response timer ran out) is of unknown outcome: it is never sent again, as a careful
//! customer does not know whether it was taken.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern_smpp::net::{
    BindMode, Client, ClientConfig, ClientEvent, LinkState, RequestError, SessionHandle,
};
use tern_smpp::receipt::{is_receipt, message_state, parse_text, receipted_message_id};
use tern_smpp::rusmpp::pdus::{DeliverSmResp, SubmitSm};
use tern_smpp::rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use tern_smpp::rusmpp::types::{AnyOctetString, OctetString};
use tern_smpp::rusmpp::values::{
    DataCoding, EsmClass, MessagePayload, Npi, RegisteredDelivery, Ton,
};
use tern_smpp::session::c_octet;
use tern_smpp::{Command, CommandStatus, Pdu};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::history::{now_ms, Outcome, ReceiptSeen, SubmitOp, ANSWER_AMBIGUITY_MS};

/// Characters a single-part GSM message may have; above it the node splits into parts of
/// [`PART_CHARS`].
const SINGLE_CHARS: usize = 160;
const PART_CHARS: usize = 153;

/// The parts a GSM 7-bit text of `chars` characters takes.
pub fn parts_of(chars: usize) -> u32 {
    if chars <= SINGLE_CHARS {
        1
    } else {
        u32::try_from(chars.div_ceil(PART_CHARS)).unwrap_or(u32::MAX)
    }
}

/// When a bind answers the receipts and MOs it is handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answering {
    Always,
    /// Deaf: nothing is answered (the node's deliver_sm times out).
    Never,
}

/// Who the customer is and where it binds.
#[derive(Debug, Clone)]
pub struct CustomerConfig {
    pub name: String,
    /// The customer's binds, one per address; submits take turns over those that are up.
    pub nodes: Vec<(u16, SocketAddr)>,
    pub system_id: String,
    pub password: String,
    pub bind: BindMode,
    /// Submits in flight per bind.
    pub window: usize,
    pub response_timeout: Duration,
    pub answering: Answering,
    /// Two digits that make the customer's destination numbers its own.
    pub number: u8,
}

/// The customer's record, shared with the harness while it runs.
#[derive(Debug, Default)]
pub struct Record {
    pub ops: Vec<SubmitOp>,
    pub receipts: Vec<ReceiptSeen>,
}

/// A running customer.
pub struct Customer {
    config: CustomerConfig,
    clients: Vec<(u16, Client)>,
    record: Arc<Mutex<Record>>,
    window: Arc<Semaphore>,
    next: Arc<std::sync::atomic::AtomicU64>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Customer {
    /// Binds (and keeps rebinding) to every node of `config`; `ops` numbers the run's
    /// operations across customers.
    pub fn start(config: CustomerConfig, ops: Arc<std::sync::atomic::AtomicU64>) -> Self {
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let record = Arc::new(Mutex::new(Record::default()));
        let mut clients = Vec::new();
        for (node, addr) in &config.nodes {
            let mut client = ClientConfig::new(
                format!("{}@{node}", config.name),
                addr.ip().to_string(),
                addr.port(),
            );
            client.system_id = config.system_id.clone();
            client.password = config.password.clone();
            client.bind = config.bind;
            client.reconnect_min = Duration::from_millis(100);
            client.reconnect_max = Duration::from_millis(500);
            client.connect_timeout = Duration::from_secs(2);
            client.ready_timeout = Duration::from_millis(200);
            client.session.window_out = config.window.max(1);
            client.session.response_timeout = config.response_timeout;
            client.session.enquire_link_interval = Duration::from_secs(2);
            client.session.inactivity_timeout = Duration::from_secs(6);
            let (client, events) = Client::start(client, stop.clone(), &tracker);
            tracker.spawn(listen(
                config.name.clone(),
                *node,
                config.answering,
                events,
                record.clone(),
                stop.clone(),
            ));
            clients.push((*node, client));
        }
        let window = Arc::new(Semaphore::new(
            config.window.max(1) * config.nodes.len().max(1),
        ));
        Self {
            config,
            clients,
            record,
            window,
            next: ops,
            stop,
            tracker,
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Binds up now.
    pub fn binds_up(&self) -> usize {
        self.clients
            .iter()
            .filter(|(_, c)| c.state() == LinkState::Up)
            .count()
    }

    /// Waits until a bind is up; false after `limit`.
    pub async fn wait_up(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.binds_up() == 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// Starts one submit of `chars` characters asking for a receipt; returns at once once
    /// a window slot is free (the answer is recorded when it comes).
    pub async fn submit(&self, chars: usize) {
        let Ok(permit) = self.window.clone().acquire_owned().await else {
            return;
        };
        let op = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let dst = format!("49{:02}{op:08}", self.config.number);
        // Round the binds that are up, so that every node takes submits (a node cut off
        // from the others, too).
        let n = self.clients.len().max(1);
        let first = usize::try_from(op).unwrap_or_default() % n;
        let up = (0..n)
            .filter_map(|k| self.clients.get((first + k) % n))
            .find(|(_, c)| c.state() == LinkState::Up)
            .or_else(|| self.clients.first())
            .cloned();
        let record = self.record.clone();
        let name = self.config.name.clone();
        self.tracker.spawn(async move {
            let _permit = permit;
            let start_ms = now_ms();
            let (node, outcome) = match up {
                None => (0, not_sent()),
                Some((node, client)) => (node, outcome(client.request(pdu(op, &dst, chars)).await)),
            };
            let op = SubmitOp {
                op,
                customer: name,
                node,
                dst,
                chars,
                parts: parts_of(chars),
                registered: true,
                start_ms,
                end_ms: now_ms(),
                outcome,
            };
            if let Ok(mut record) = record.lock() {
                record.ops.push(op);
            }
        });
    }

    /// Submits in flight.
    pub fn in_flight(&self) -> usize {
        (self.config.window.max(1) * self.config.nodes.len().max(1))
            .saturating_sub(self.window.available_permits())
    }

    /// Waits until every submit has its outcome, at most `limit`.
    pub async fn settle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// When the first submit started at or after `since_ms` and accepted was answered.
    pub fn first_ok_after(&self, since_ms: u64) -> Option<u64> {
        let record = self.record.lock().ok()?;
        record
            .ops
            .iter()
            .filter(|op| op.start_ms >= since_ms && matches!(op.outcome, Outcome::Ok { .. }))
            .map(|op| op.end_ms)
            .min()
    }

    /// Receipts seen so far.
    pub fn receipts(&self) -> usize {
        self.record.lock().map_or(0, |r| r.receipts.len())
    }

    /// Unbinds, and returns what the customer recorded.
    pub async fn finish(self) -> Record {
        self.stop.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await;
        let mut record = self
            .record
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        record.ops.sort_by_key(|op| op.op);
        record
    }
}

fn not_sent() -> Outcome {
    Outcome::Fail {
        status: 0,
        name: "not_sent".into(),
    }
}

fn outcome(answer: Result<Command, RequestError>) -> Outcome {
    match answer {
        Ok(command) if command.status() == CommandStatus::EsmeRok => match command.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => Outcome::Ok {
                id: resp.message_id().to_string(),
            },
            other => Outcome::Unknown {
                why: format!("answered with {other:?}"),
            },
        },
        Ok(command) => Outcome::Fail {
            status: u32::from(command.status()),
            name: format!("{:?}", command.status()),
        },
        Err(RequestError::NotSent(_)) => not_sent(),
        Err(RequestError::Timeout { .. }) => Outcome::Unknown {
            why: "no answer in time".into(),
        },
        Err(RequestError::Closed) => Outcome::Unknown {
            why: "the connection closed".into(),
        },
    }
}

/// Texts of digits and letters only: the same octets in GSM 7-bit and ASCII.
fn text(op: u64, chars: usize) -> String {
    let head = format!("chaos {op} ");
    let mut text = head;
    while text.len() < chars {
        text.push(char::from(b'a' + (text.len() % 26) as u8));
    }
    text.truncate(chars);
    text
}

fn pdu(op: u64, dst: &str, chars: usize) -> Pdu {
    let body = text(op, chars).into_bytes();
    let mut builder = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(c_octet("Chaos"))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(c_octet(dst))
        .esm_class(EsmClass::from(0))
        .registered_delivery(RegisteredDelivery::from(1))
        .data_coding(DataCoding::from(0));
    if body.len() <= 254 {
        builder = builder.short_message(OctetString::from_vec(body).unwrap_or_default());
    } else {
        builder = builder.push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_vec(body)),
        ));
    }
    Pdu::from(builder.build())
}

/// Takes what the node sends the customer: receipts are recorded (and answered unless the
/// customer is deaf); binds going down are recorded.
async fn listen(
    customer: String,
    node: u16,
    answering: Answering,
    mut events: mpsc::Receiver<ClientEvent>,
    record: Arc<Mutex<Record>>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.cancelled() => None,
        };
        let Some(event) = event else { return };
        match event {
            ClientEvent::Request { command, handle } => {
                let answered = answering == Answering::Always;
                if let Some(seen) = receipt(&customer, node, &command, answered) {
                    if let Ok(mut record) = record.lock() {
                        record.receipts.push(seen);
                    }
                }
                if answered {
                    respond(&handle, &command);
                }
            }
            ClientEvent::Down { .. } => {
                // Answers written just before may not have reached the node.
                let since = now_ms().saturating_sub(ANSWER_AMBIGUITY_MS);
                if let Ok(mut record) = record.lock() {
                    for seen in record.receipts.iter_mut().rev() {
                        if seen.t_ms < since {
                            break;
                        }
                        if seen.node == node && seen.customer == customer && seen.answered {
                            seen.answer_lost = true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn respond(handle: &SessionHandle, command: &Command) {
    handle.respond(Command::new(
        CommandStatus::EsmeRok,
        command.sequence_number(),
        Pdu::from(DeliverSmResp::default()),
    ));
}

fn receipt(customer: &str, node: u16, command: &Command, answered: bool) -> Option<ReceiptSeen> {
    let Some(Pdu::DeliverSm(deliver)) = command.pdu() else {
        return None;
    };
    if !is_receipt(u8::from(deliver.esm_class)) {
        return None;
    }
    let parsed = std::str::from_utf8(deliver.short_message().as_ref())
        .ok()
        .and_then(|text| parse_text(text).ok());
    let id = receipted_message_id(deliver.tlvs())
        .map(str::to_owned)
        .or_else(|| parsed.as_ref().map(|r| r.message_id.clone()))?;
    let stat = parsed
        .map(|r| r.state)
        .or_else(|| message_state(deliver.tlvs()))
        .map_or("UNKNOWN", |s| s.stat_word())
        .to_owned();
    Some(ReceiptSeen {
        customer: customer.to_owned(),
        node,
        t_ms: now_ms(),
        id,
        stat,
        answered,
        answer_lost: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_follow_the_gsm_split() {
        assert_eq!(parts_of(10), 1);
        assert_eq!(parts_of(160), 1);
        assert_eq!(parts_of(161), 2);
        assert_eq!(parts_of(306), 2);
        assert_eq!(parts_of(307), 3);
    }

    #[test]
    fn texts_have_the_length_asked_and_name_their_operation() {
        let t = text(42, 400);
        assert_eq!(t.len(), 400);
        assert!(t.starts_with("chaos 42 "));
        assert_eq!(text(7, 5), "chaos");
    }
}
