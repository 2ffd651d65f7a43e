//! SMGP in the gateway's pipeline, on the customer and carrier sides shared with CNGP
//! ([`crate::link::customer`], [`crate::link::carrier`]): [`SmgpFrontend`] admits SPs that
//! log in with their account id and the account's SMGP secret; [`SmgpCarrier`] is an
//! operator's SMGW, to which we are the SP.
//! This module says how SMGP's PDUs carry messages: Submits from the mapping (with the
//! operator's billing fields from [`LinkOptions`]), the MsgID of a Submit_Resp, and the
//! reports and MO in a Deliver. Refusals of the pipeline map to SMGP statuses by
//! [`status_for`]. Built with the `gateway` feature, which brings in the pipeline.

use tern_model::{ConcatRef, DeliveryReport, Message};

use crate::codec::{Body, Pdu, Report, SubmitResp};
use crate::link::carrier::{Carrier, Carrying, Delivered};
use crate::link::customer::{Frontend, Serving};
use crate::mapping::{self, LinkOptions};
use crate::msgid::MsgId;
use crate::net::Smgp;

pub use crate::link::carrier::{status_for, verdict};
pub use crate::link::customer::FrontendError;

/// An operator's SMGW link: `SmgpCarrier { client, options }`.
pub type SmgpCarrier = Carrier<Smgp>;
/// The SMGP server's handler for SPs: `SmgpFrontend::new(sessions, options, ismg_code)`.
pub type SmgpFrontend = Frontend<Smgp>;

impl Serving for Smgp {
    const SECRET: &'static str = tern_ledger::SMGP;

    fn body(pdu: Pdu) -> Option<Body> {
        Some(pdu.body)
    }

    fn text_part(submit: &Body) -> Option<(ConcatRef, Vec<u8>)> {
        let Body::Submit(submit) = submit else {
            return None;
        };
        mapping::text_part(submit).map(|(concat, octets)| (concat, octets.to_vec()))
    }

    fn joined(first: &Message, octets: &[u8]) -> Option<Message> {
        mapping::joined(first, octets).ok()
    }

    fn submit_resp(sequence_id: u32, msg_id: MsgId, status: u32) -> Pdu {
        let body = Body::SubmitResp(SubmitResp { msg_id, status });
        Pdu { sequence_id, body }
    }

    fn response_status(pdu: &Pdu) -> Option<u32> {
        match &pdu.body {
            Body::SubmitResp(resp) => Some(resp.status),
            Body::DeliverResp(resp) => Some(resp.status),
            Body::LoginResp(resp) => Some(resp.status),
            _ => None,
        }
    }

    /// SrcTermID the handset the report is about, DestTermID the number the SP sent from.
    fn report_deliver(
        report: &DeliveryReport,
        reported: MsgId,
        message: &Message,
        own: MsgId,
        now_unix: i64,
    ) -> Result<Body, String> {
        let content = mapping::domain_to_report(report, reported);
        let handset = &message.destination.value;
        let deliver =
            mapping::report_deliver(&content, own, handset, &message.source.value, now_unix);
        deliver
            .map(Body::Deliver)
            .map_err(|error| error.to_string())
    }

    fn mo_delivers(
        message: &Message,
        options: &LinkOptions,
        reference: u8,
        now_unix: i64,
        ids: &mut dyn FnMut() -> MsgId,
    ) -> Result<Vec<Body>, String> {
        let delivers = mapping::message_to_delivers(message, options, reference, now_unix);
        let delivers = delivers.map_err(|error| error.to_string())?;
        Ok(delivers
            .into_iter()
            .map(|mut deliver| {
                deliver.msg_id = ids();
                Body::Deliver(deliver)
            })
            .collect())
    }
}

impl Carrying for Smgp {
    type Options = LinkOptions;

    fn submits(message: &Message, options: &LinkOptions, reference: u8) -> Result<Vec<Body>, u32> {
        let submits = mapping::message_to_submits(message, options, reference);
        let submits = submits.map_err(|error| error.status())?;
        Ok(submits.into_iter().map(Body::Submit).collect())
    }

    fn parts(submit: &Body, now_unix: i64) -> Result<Vec<Message>, u32> {
        let Body::Submit(submit) = submit else {
            return Ok(Vec::new());
        };
        mapping::submit_to_messages(submit, now_unix).map_err(|error| error.status())
    }

    fn submit_answer(pdu: &Pdu) -> Option<(u32, String)> {
        let Body::SubmitResp(resp) = &pdu.body else {
            return None;
        };
        Some((resp.status, resp.msg_id.to_text()))
    }

    fn delivered(pdu: &Pdu) -> Option<Delivered> {
        let Body::Deliver(deliver) = &pdu.body else {
            return None;
        };
        Some(if deliver.is_report() {
            let report = Report::decode(&deliver.msg_content);
            Delivered::Report(
                report
                    .map(|r| mapping::report_to_domain(&r))
                    .map_err(|e| e.to_string()),
            )
        } else {
            Delivered::Mo(mapping::deliver_to_message(deliver).map_err(|error| error.status()))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;
    use tern_model::MessageState;

    use super::*;
    use crate::codec::{Deliver, SubmitResp};
    use crate::MsgId;

    #[test]
    fn a_report_is_keyed_by_the_msgid_its_submit_resp_gave() {
        let msg_id = MsgId([0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90]);
        let resp = Pdu {
            sequence_id: 2,
            body: Body::SubmitResp(SubmitResp { msg_id, status: 0 }),
        };
        let (status, key) = Smgp::submit_answer(&resp).unwrap();
        assert_eq!(status, 0);
        let content = Report {
            msg_id,
            sub: "001".into(),
            dlvrd: "001".into(),
            submit_date: "2401011200".into(),
            done_date: "2401011201".into(),
            stat: "DELIVRD".into(),
            err: "000".into(),
            text: Bytes::new(),
        };
        let deliver = Pdu {
            sequence_id: 9,
            body: Body::Deliver(Deliver {
                msg_id: MsgId::ZERO,
                is_report: 1,
                msg_format: 0,
                recv_time: "20240101120100".into(),
                src_term_id: "13800138000".into(),
                dest_term_id: "10690001".into(),
                msg_content: content.encode().unwrap(),
                reserve: [0; 8],
                tlvs: Vec::new(),
            }),
        };
        let Some(Delivered::Report(Ok(report))) = Smgp::delivered(&deliver) else {
            panic!("expected a readable report");
        };
        assert_eq!(report.message_id, key);
        assert_eq!(report.state, MessageState::Delivered);
        assert!(Smgp::delivered(&resp).is_none());
    }
}
