//! The load over CMPP 2.0/3.0: each connection is an SP's link (CONNECT with the Source_Addr
//! and the shared secret) driven by one task in a closed loop, like an SMPP bind. A message
//! is a domain `Message` written out by `tern-cmpp`'s own mapping (the GSM 7-bit kinds as
//! ASCII, UCS-2 as UCS-2, long text split under a UDH), one SUBMIT per part; every DELIVER
//! is answered, and status reports are matched to their SUBMIT by Msg_Id.
//!
//! The mapping writes parts of at most 140 octets in every format, so a one-part text is
//! capped at 140 characters and a long text's parts carry 134 (140 less the UDH): the same
//! number of parts per message as over SMPP, with fewer characters in each.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use serde::Serialize;
use tern_cmpp::codec::{DeliverResp, Submit};
use tern_cmpp::mapping::{self, LinkOptions, MapError, MAX_ASCII_CONTENT};
use tern_cmpp::net::{Client, ClientConfig, ClientEvent, RequestError};
use tern_cmpp::{result, Body, Pdu, Version};
use tern_model::{Address, Message, ReceiptRequest};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bind::{micros, BindOutcome};
use super::messages::Shape;
use super::{invalid, LoadConfig, LoadError, Run};

/// Characters of each part of a long ASCII text but the last: a part's 159 octets less
/// the 8-bit-reference concatenation UDH (153, as over SMPP in GSM 7-bit).
const PART_CHARS: usize = MAX_ASCII_CONTENT - 6;

/// The Src_Id sent when `--source` is not a number (CMPP carries numbers only): a China
/// Mobile SP service code prefix.
const NUMERIC_SOURCE: &str = "1065";

/// Counted under this code: a response that is not a SUBMIT_RESP.
const UNEXPECTED: u32 = u32::MAX;

/// Where a CMPP load logs in.
#[derive(Debug, Clone, Serialize)]
pub struct CmppTarget {
    #[serde(serialize_with = "version_name")]
    pub version: Version,
    /// The SP's enterprise code (6 digits), the account's system_id at the gateway.
    pub source_addr: String,
    #[serde(skip)]
    pub secret: String,
}

fn version_name<S: serde::Serializer>(version: &Version, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match version {
        Version::V20 => "2.0",
        Version::V30 => "3.0",
    })
}

/// One connection and its events.
pub(crate) type Link = (Client, mpsc::Receiver<ClientEvent>);

/// The name of a SUBMIT_RESP result in a report's counts.
pub(crate) fn result_name(code: u32) -> String {
    let name = match code {
        result::OK => "OK",
        result::BAD_STRUCTURE => "BAD_STRUCTURE",
        result::BAD_COMMAND => "BAD_COMMAND",
        result::DUPLICATE_SEQUENCE => "DUPLICATE_SEQUENCE",
        result::BAD_MSG_LENGTH => "BAD_MSG_LENGTH",
        result::BAD_FEE_CODE => "BAD_FEE_CODE",
        result::TOO_LONG => "TOO_LONG",
        result::BAD_SERVICE_ID => "BAD_SERVICE_ID",
        result::FLOW_CONTROL => "FLOW_CONTROL",
        result::BAD_SRC_ID => "BAD_SRC_ID",
        result::BAD_DEST_TERMINAL_ID => "BAD_DEST_TERMINAL_ID",
        UNEXPECTED => "NOT_A_SUBMIT_RESP",
        other => return format!("RESULT_{other}"),
    };
    name.to_owned()
}

fn link_options(target: &CmppTarget) -> LinkOptions {
    LinkOptions {
        version: target.version,
        msg_src: target.source_addr.clone(),
        ..LinkOptions::default()
    }
}

/// The Src_Id of every message: `--source` when it is a number.
fn source(shape: &Shape) -> Address {
    let numeric = !shape.source.is_empty() && shape.source.bytes().all(|b| b.is_ascii_digit());
    Address::international(if numeric {
        shape.source.as_str()
    } else {
        NUMERIC_SOURCE
    })
}

/// The SUBMITs of message `n`: one, or one per part.
fn submits(
    shape: &Shape,
    options: &LinkOptions,
    source: &Address,
    n: u64,
) -> Result<Vec<Submit>, MapError> {
    let (_, text) = shape.text(n, MAX_ASCII_CONTENT, PART_CHARS);
    let destination = Address::international(shape.destination(n));
    let mut message = Message::text(source.clone(), destination, text);
    if shape.registered_delivery {
        message.receipt = ReceiptRequest::Final;
    }
    // The low octet of the message number ties the parts of a long message together.
    mapping::message_to_submits(&message, options, n as u8)
}

/// What a CMPP run needs beyond the common settings: no open loop, a 6-digit Source_Addr,
/// and messages that the mapping can write (tried on one message of each kind).
pub(crate) fn validate(config: &LoadConfig, target: &CmppTarget) -> Result<(), LoadError> {
    if config.rate.is_some() {
        return Err(invalid("rate", "CMPP runs are closed loop only"));
    }
    if target.source_addr.len() != 6 || !target.source_addr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("source_addr", "must be 6 digits"));
    }
    let shape = config.shape();
    let options = link_options(target);
    let source = source(&shape);
    for n in 0..64 {
        if let Err(error) = submits(&shape, &options, &source, n) {
            return Err(invalid(
                "source",
                format!("message {n} cannot be written: {error}"),
            ));
        }
    }
    Ok(())
}

fn client_config(config: &LoadConfig, target: &CmppTarget, index: usize) -> ClientConfig {
    let mut client = ClientConfig::new(format!("load-{index}"), config.host.clone(), config.port);
    client.source_addr = target.source_addr.clone();
    client.secret = target.secret.clone();
    client.version = target.version;
    // One window per direction: it bounds the SUBMITs in flight and the reports the
    // gateway may have unanswered.
    client.window = config.window;
    client.response_timeout = config.response_timeout;
    client.reconnect_min = Duration::from_millis(50);
    client.reconnect_max = Duration::from_secs(1);
    client.connect_timeout = config.bind_timeout;
    client.ready_timeout = config.bind_timeout;
    client
}

/// Starts the connections of a run.
pub(crate) fn start(
    config: &LoadConfig,
    target: &CmppTarget,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Vec<Link> {
    (0..config.binds)
        .map(|i| Client::start(client_config(config, target, i), shutdown.clone(), tracker))
        .collect()
}

struct Done {
    start: Instant,
    receipt: bool,
    result: Result<Pdu, RequestError>,
}

async fn submit(client: Client, submit: Submit, receipt: bool) -> Done {
    let start = Instant::now();
    Done {
        start,
        receipt,
        result: client.request(Body::Submit(submit)).await,
    }
}

/// One connection's task: up to a window of SUBMITs in flight until the count or the
/// duration is used up, then the reports until the run finishes.
pub(crate) async fn run(
    run: Arc<Run>,
    target: CmppTarget,
    client: Client,
    mut events: mpsc::Receiver<ClientEvent>,
) -> BindOutcome {
    let mut out = BindOutcome::new(&run.histogram);
    let options = link_options(&target);
    let source = source(&run.shape);
    let receipts = run.config.registered_delivery;
    let window = run.config.window;
    let mut inflight = FuturesUnordered::new();
    let mut parts: VecDeque<Submit> = VecDeque::new();
    let mut sending = true;
    let mut events_open = true;
    let mut reported = false;
    loop {
        while sending && inflight.len() < window {
            if parts.is_empty() {
                if run.stop.is_cancelled() {
                    sending = false;
                    break;
                }
                let Some(n) = run.ticket() else {
                    sending = false;
                    break;
                };
                match submits(&run.shape, &options, &source, n) {
                    Ok(submits) => parts.extend(submits),
                    // Validation wrote every kind of message: this is not expected, and
                    // counts as a submit never sent.
                    Err(_) => {
                        run.live.sent.fetch_add(1, Ordering::Relaxed);
                        out.not_sent += 1;
                        continue;
                    }
                }
            }
            let Some(part) = parts.pop_front() else {
                break;
            };
            run.live.sent.fetch_add(1, Ordering::Relaxed);
            inflight.push(submit(client.clone(), part, receipts));
        }
        if !sending && parts.is_empty() && inflight.is_empty() && !reported {
            reported = true;
            run.bind_done();
        }
        tokio::select! {
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                record(&run, &mut out, done, Instant::now());
            }
            event = events.recv(), if events_open => match event {
                Some(event) => handle_event(&run, &mut out, event),
                None => events_open = false,
            },
            _ = run.stop.cancelled(), if sending => sending = false,
            _ = run.finish.cancelled() => break,
        }
    }
    out
}

fn record(run: &Run, out: &mut BindOutcome, done: Done, now: Instant) {
    match done.result {
        Ok(response) => {
            out.last_response = Some(now);
            out.submit_latency
                .saturating_record(micros(now.saturating_duration_since(done.start)));
            let (code, msg_id) = match response.body {
                Body::SubmitResp(resp) => (resp.result, resp.msg_id),
                _ => (UNEXPECTED, 0),
            };
            *out.by_status.entry(code).or_default() += 1;
            run.live.answered.fetch_add(1, Ordering::Relaxed);
            if code != result::OK {
                return;
            }
            run.live.ok.fetch_add(1, Ordering::Relaxed);
            if !done.receipt {
                return;
            }
            if let Some(latency) = run.correlator.submitted(&msg_id.to_string(), done.start) {
                out.receipt_latency.saturating_record(micros(latency));
                out.last_receipt = out.last_receipt.max(Some(done.start + latency));
            }
        }
        Err(RequestError::Timeout { .. }) => out.timeouts += 1,
        Err(RequestError::Closed) => out.closed += 1,
        Err(RequestError::NotSent(_)) => out.not_sent += 1,
    }
}

fn handle_event(run: &Run, out: &mut BindOutcome, event: ClientEvent) {
    match event {
        ClientEvent::Up => out.ups += 1,
        ClientEvent::Down { .. } => {}
        ClientEvent::LateResponse(_) => out.late_responses += 1,
        ClientEvent::Request { pdu, handle } => {
            let now = Instant::now();
            // A gateway sends an SP DELIVERs only; anything else times out at its end.
            let Body::Deliver(deliver) = &pdu.body else {
                return;
            };
            handle.respond(Pdu {
                sequence_id: pdu.sequence_id,
                body: Body::DeliverResp(DeliverResp {
                    msg_id: deliver.msg_id,
                    result: result::OK,
                }),
            });
            match deliver.report(handle.version()) {
                None => out.mo_received += 1,
                Some(Ok(report)) => {
                    run.live.receipts.fetch_add(1, Ordering::Relaxed);
                    if let Some(latency) = run.correlator.received(&report.msg_id.to_string(), now)
                    {
                        out.receipt_latency.saturating_record(micros(latency));
                        out.last_receipt = Some(now);
                    }
                }
                Some(Err(_)) => out.receipts_unreadable += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::MessageMix;

    fn shape(mix: MessageMix) -> Shape {
        LoadConfig {
            mix,
            registered_delivery: true,
            ..LoadConfig::default()
        }
        .shape()
    }

    fn target(version: Version) -> CmppTarget {
        CmppTarget {
            version,
            source_addr: "901234".into(),
            secret: "s".into(),
        }
    }

    #[test]
    fn each_kind_has_as_many_parts_as_over_smpp() {
        let mix = MessageMix {
            gsm7: 1,
            long: 1,
            ucs2: 1,
        };
        let shape = shape(mix);
        for version in [Version::V20, Version::V30] {
            let options = link_options(&target(version));
            let source = source(&shape);
            for n in 0..32 {
                let submits = submits(&shape, &options, &source, n).unwrap_or_default();
                assert_eq!(submits.len(), shape.submits(n).len(), "message {n}");
                for part in &submits {
                    assert_eq!(part.src_id, NUMERIC_SOURCE);
                    assert_eq!(part.registered_delivery, 1);
                    let limit = if part.msg_fmt == mapping::msg_fmt::ASCII {
                        MAX_ASCII_CONTENT
                    } else {
                        mapping::MAX_CONTENT
                    };
                    assert!(part.msg_content.len() <= limit);
                    let expected_fmt = match shape.kind(n) {
                        super::super::messages::Kind::Ucs2 => mapping::msg_fmt::UCS2,
                        _ => mapping::msg_fmt::ASCII,
                    };
                    assert_eq!(part.msg_fmt, expected_fmt, "message {n}");
                }
            }
        }
    }

    #[test]
    fn open_loop_and_bad_source_addr_are_refused() {
        let mut config = LoadConfig {
            cmpp: Some(target(Version::V30)),
            ..LoadConfig::default()
        };
        assert!(config.validate().is_ok());
        config.rate = Some(100.0);
        assert!(config.validate().is_err());
        config.rate = None;
        config.cmpp = Some(CmppTarget {
            source_addr: "12345".into(),
            ..target(Version::V20)
        });
        assert!(config.validate().is_err());
        assert_eq!(result_name(8), "FLOW_CONTROL");
        assert_eq!(result_name(99), "RESULT_99");
    }
}
