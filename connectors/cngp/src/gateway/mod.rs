//! CNGP in the gateway's pipeline, on the carrier side shared with SMGP
//! (`tern_smgp::link::carrier`): [`CngpCarrier`] is an operator's CNGP gateway, to which we
//! are the SP. This module says how CNGP's PDUs carry messages: Submits from the mapping
//! (SPID and billing from [`LinkOptions`]), the header status and MsgID of a Submit_Resp,
//! and the reports and MO in a Deliver. Refusals of the pipeline map to CNGP statuses by
//! [`status_for`]. Built with the `gateway` feature, which brings in the pipeline.

use tern_model::Message;
use tern_smgp::link::carrier::{Carrier, Carrying, Delivered};

use crate::codec::{Body, Pdu};
use crate::mapping::{self, LinkOptions};
use crate::net::Cngp;

pub use tern_smgp::link::carrier::{status_for, verdict};

/// An operator's CNGP gateway link: `CngpCarrier { client, options }`.
pub type CngpCarrier = Carrier<Cngp>;

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
