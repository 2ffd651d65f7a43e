//! CNGP in the gateway's pipeline, on the customer and carrier sides shared with SMGP
//! (`tern_smgp::link::customer`, `tern_smgp::link::carrier`): [`CngpFrontend`] admits SPs
//! that log in with their account id and the account's CNGP secret; [`CngpCarrier`] is an
//! operator's CNGP gateway, to which we are the SP. This module says how CNGP's PDUs carry messages: Submits from the mapping
//! (SPID and billing from [`LinkOptions`]), the header status and MsgID of a Submit_Resp,
//! and the reports and MO in a Deliver. Refusals of the pipeline map to CNGP statuses by
//! [`status_for`]. Built with the `gateway` feature, which brings in the pipeline.

use tern_model::{ConcatRef, DeliveryReport, Message};
use tern_smgp::link::carrier::{Carrier, Carrying, Delivered};
use tern_smgp::link::customer::{Frontend, Serving};

use crate::codec::{Body, Pdu, SubmitResp, Tlvs};
use crate::mapping::{self, LinkOptions};
use crate::msgid::MsgId;
use crate::net::Cngp;

pub use tern_smgp::link::carrier::{status_for, verdict};
pub use tern_smgp::link::customer::FrontendError;

/// An operator's CNGP gateway link: `CngpCarrier { client, options }`.
pub type CngpCarrier = Carrier<Cngp>;
/// The CNGP server's handler for SPs: `CngpFrontend::new(sessions, options, ismg_code)`.
pub type CngpFrontend = Frontend<Cngp>;

impl Serving for Cngp {
    const SECRET: &'static str = tern_ledger::CNGP;

    fn body(pdu: Pdu) -> Option<Body> {
        Some(pdu.body)
    }

    fn text_part(submit: &Body) -> Option<(ConcatRef, Vec<u8>)> {
        match submit {
            Body::Submit(s) => mapping::text_part(s).map(|(c, octets)| (c, octets.to_vec())),
            _ => None,
        }
    }

    fn joined(first: &Message, octets: &[u8]) -> Option<Message> {
        mapping::joined(first, octets).ok()
    }

    /// The status goes in the header.
    fn submit_resp(sequence_id: u32, msg_id: MsgId, status: u32) -> Pdu {
        let tlvs = Tlvs::new();
        let body = Body::SubmitResp(SubmitResp { msg_id, tlvs });
        Pdu {
            sequence_id,
            status,
            body,
        }
    }

    fn response_status(pdu: &Pdu) -> Option<u32> {
        Some(pdu.status).filter(|_| pdu.body.command_id() & 0x8000_0000 != 0)
    }

    /// SrcTermID the handset the message went to, DestTermID the number the SP sent from.
    fn report_deliver(
        report: &DeliveryReport,
        reported: MsgId,
        message: &Message,
        own: MsgId,
        recv_unix: i64,
    ) -> Result<Body, String> {
        let source = &message.source.value;
        let handset = &message.destination.value;
        let content = mapping::domain_to_report(report, reported);
        match mapping::report_deliver(&content, own, handset, source, recv_unix) {
            Ok(deliver) => Ok(Body::Deliver(deliver)),
            Err(error) => Err(error.to_string()),
        }
    }

    fn mo_delivers(
        message: &Message,
        options: &LinkOptions,
        reference: u8,
        recv_unix: i64,
        ids: &mut dyn FnMut() -> MsgId,
    ) -> Result<Vec<Body>, String> {
        let mut delivers =
            match mapping::message_to_delivers(message, options, reference, recv_unix) {
                Ok(delivers) => delivers,
                Err(error) => return Err(error.to_string()),
            };
        for deliver in &mut delivers {
            deliver.msg_id = ids();
        }
        Ok(delivers.into_iter().map(Body::Deliver).collect())
    }
}

impl Carrying for Cngp {
    type Options = LinkOptions;

    fn submits(message: &Message, options: &LinkOptions, reference: u8) -> Result<Vec<Body>, u32> {
        match mapping::message_to_submits(message, options, reference) {
            Ok(submits) => Ok(submits.into_iter().map(Body::Submit).collect()),
            Err(error) => Err(error.status()),
        }
    }

    fn parts(submit: &Body, now_unix: i64) -> Result<Vec<Message>, u32> {
        match submit {
            Body::Submit(submit) => {
                mapping::submit_to_messages(submit, now_unix).map_err(|error| error.status())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The status is the header's.
    fn submit_answer(pdu: &Pdu) -> Option<(u32, String)> {
        match &pdu.body {
            Body::SubmitResp(resp) => Some((pdu.status, resp.msg_id.to_text())),
            _ => None,
        }
    }

    fn delivered(pdu: &Pdu) -> Option<Delivered> {
        let Body::Deliver(deliver) = &pdu.body else {
            return None;
        };
        Some(match deliver.report() {
            Some(Ok(report)) => Delivered::Report(Ok(mapping::report_to_domain(&report))),
            Some(Err(error)) => Delivered::Report(Err(error.to_string())),
            None => Delivered::Mo(mapping::deliver_to_message(deliver).map_err(|e| e.status())),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tern_model::{Address, Message};

    use super::*;
    use crate::codec::{status, SubmitResp, Tlvs};
    use crate::MsgId;

    #[test]
    fn a_refusing_submit_resp_reads_its_status_from_the_header() {
        let body = Body::SubmitResp(SubmitResp {
            msg_id: MsgId::ZERO,
            tlvs: Tlvs::new(),
        });
        let refused = Pdu {
            sequence_id: 3,
            status: status::BAD_DEST_TERM_ID,
            body,
        };
        let (code, _) = Cngp::submit_answer(&refused).unwrap();
        assert_eq!(code, status::BAD_DEST_TERM_ID);
        assert_eq!(
            verdict(code),
            tern_actors::link::Verdict::Permanent,
            "a bad destination is not resent"
        );
    }

    #[test]
    fn a_long_message_renders_as_parts_the_operator_reads_back() {
        let message = Message::text(
            Address::international("1234"),
            Address::international("+8613300133000"),
            "x".repeat(300),
        );
        let options = LinkOptions {
            sp_id: "901234".into(),
            service_id: "TEST".into(),
            src_term_id: "10658".into(),
            ..LinkOptions::default()
        };
        let submits = Cngp::submits(&message, &options, 7).unwrap();
        assert!(submits.len() > 1);
        let parts = Cngp::parts(&submits[0], 1_700_000_000).unwrap();
        assert_eq!(parts.len(), 1);
    }
}
