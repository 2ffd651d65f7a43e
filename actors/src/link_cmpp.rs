//! The CMPP side of a carrier link: a part rendered as a SUBMIT, the SUBMIT_RESP result
//! sorted into the link's verdicts, and what the operator gateway sends — status reports
//! to the correlator, MO to the MO dispatcher — answered with DELIVER_RESP.

use std::sync::Arc;

use tern_cmpp::codec::{DeliverResp, Report, Submit};
use tern_cmpp::net::{ClientEvent, RequestError};
use tern_cmpp::{mapping, result, Body, Pdu};
use tern_storage::MessageRecord;
use tracing::{info, warn};

use crate::context::Context;
use crate::correlator::{CorrelatorMsg, Reply};
use crate::link::{LinkConfig, Verdict, WireResult};
use crate::mo::{MoMsg, MoOutcome};

/// How a SUBMIT_RESP result is handled: flow control slows down and resends, errors that
/// describe the message fail it, the rest (duplicate sequence, codes the specification
/// does not name) are resent later.
pub fn verdict(result: u32) -> Verdict {
    match result {
        result::OK => Verdict::Accepted,
        result::FLOW_CONTROL => Verdict::Throttled,
        1 | 2 | 4..=7 | 9..=13 => Verdict::Permanent,
        _ => Verdict::Transient,
    }
}

/// The DELIVER_RESP to the DELIVER numbered `sequence_id` carrying `msg_id`.
pub(crate) fn deliver_resp(sequence_id: u32, msg_id: u64, result: u32) -> Pdu {
    Pdu {
        sequence_id,
        body: Body::DeliverResp(DeliverResp { msg_id, result }),
    }
}

/// `part` as one SUBMIT for the link (it is already one billed part).
pub(crate) fn prepare(options: &mapping::LinkOptions, part: &MessageRecord) -> Result<Submit, u32> {
    let submits = mapping::message_to_submits(&part.message, options, (part.id.0 & 0xff) as u8)
        .map_err(|error| error.result())?;
    let mut submits = submits.into_iter();
    let first = submits.next().ok_or(result::BAD_MSG_LENGTH)?;
    if submits.next().is_some() {
        // The operator's signature pushed the part over one SMS: it cannot be one part.
        return Err(result::TOO_LONG);
    }
    Ok(first)
}

pub(crate) async fn submit(client: &tern_cmpp::net::Client, submit: Submit) -> WireResult {
    match client.request(Body::Submit(submit)).await {
        Ok(Pdu {
            body: Body::SubmitResp(resp),
            ..
        }) => match verdict(resp.result) {
            Verdict::Accepted => WireResult::Accepted(resp.msg_id.to_string()),
            other => WireResult::Refused(other, resp.result),
        },
        Ok(other) => WireResult::Unknown(format!("not a SUBMIT_RESP: {other:?}"), None),
        Err(RequestError::NotSent(_)) => WireResult::NotSent,
        Err(error @ RequestError::Timeout { sequence }) => {
            WireResult::Unknown(error.to_string(), Some(sequence))
        }
        Err(error) => WireResult::Unknown(error.to_string(), None),
    }
}

/// A response that came after its request had timed out: the operator's id when it is a
/// SUBMIT_RESP that accepted the part.
pub(crate) fn late_acceptance(pdu: Pdu) -> Option<String> {
    match pdu.body {
        Body::SubmitResp(resp) if verdict(resp.result) == Verdict::Accepted => {
            Some(resp.msg_id.to_string())
        }
        _ => None,
    }
}

/// What the operator gateway sent or how the link changed.
pub(crate) fn handle_event(ctx: &Arc<Context>, config: &Arc<LinkConfig>, event: ClientEvent) {
    let link = &config.name;
    match event {
        ClientEvent::Up => {
            info!(link, "CMPP link up");
            if let Some(health) = ctx.health.get(link) {
                health.set_up(true);
            }
        }
        ClientEvent::Down { reason } => {
            warn!(link, ?reason, "CMPP link down");
            if let Some(health) = ctx.health.get(link) {
                health.set_up(false);
            }
        }
        ClientEvent::Request { pdu, handle } => {
            let sequence_id = pdu.sequence_id;
            let Body::Deliver(deliver) = pdu.body else {
                return;
            };
            let msg_id = deliver.msg_id;
            let answer = |handle: &tern_cmpp::net::SessionHandle, result: u32| {
                handle.respond(deliver_resp(sequence_id, msg_id, result));
            };
            let version = handle.version();
            if deliver.registered_delivery == 1 {
                let report = match Report::decode(version, &deliver.msg_content) {
                    Ok(report) => mapping::report_to_domain(&report),
                    Err(error) => {
                        metrics::counter!("tern_receipts_unparsable_total", "link" => link.clone())
                            .increment(1);
                        warn!(link, %error, "status report not understood");
                        // Acknowledged: resending it would not make it readable.
                        answer(&handle, result::OK);
                        return;
                    }
                };
                let delivered = ctx.refs.correlator.cast(CorrelatorMsg::Report {
                    link: config.clone(),
                    report,
                    reply: Reply::Cmpp {
                        sequence_id,
                        msg_id,
                        handle: handle.clone(),
                    },
                });
                if !delivered {
                    answer(&handle, result::FLOW_CONTROL);
                }
                return;
            }
            let message = match mapping::deliver_to_message(&deliver, version) {
                Ok(message) => message,
                Err(error) => {
                    metrics::counter!("tern_mo_refused_total", "reason" => "malformed")
                        .increment(1);
                    answer(&handle, error.result());
                    return;
                }
            };
            let reply = handle.clone();
            let delivered = ctx.refs.mo.cast(MoMsg::Message {
                message,
                answer: Box::new(move |outcome| {
                    let result = match outcome {
                        MoOutcome::Held => result::OK,
                        // Nobody will ever take it: a permanent refusal.
                        MoOutcome::NoOwner => 9,
                        MoOutcome::Busy => result::FLOW_CONTROL,
                    };
                    reply.respond(deliver_resp(sequence_id, msg_id, result));
                }),
            });
            if !delivered {
                answer(&handle, result::FLOW_CONTROL);
            }
        }
        // The link takes these, since it knows the bind (see `late_acceptance`).
        ClientEvent::LateResponse(_) => {}
    }
}
