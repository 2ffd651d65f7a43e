//! PDUs → bytes. Every field is checked against its width before it is written; a value
//! that does not fit is an [`EncodeError`] and nothing is appended, so a caller never sends
//! a frame the peer would read differently from what was meant. Text is padded with NUL.

use bytes::{BufMut, BytesMut};
use tern_cn::fields::append_whole;

use super::fields::{field, put_reserve, put_text};
use super::{
    Body, CommandId, Deliver, Pdu, Response, Submit, HEADER_LEN, LOGIN_LEN, MAX_USERS, NUMBER_LEN,
    RESERVE_LEN, TIME_LEN, TRACE_HOP_LEN,
};

tern_cn::encode_error! {
    /// A field that does not fit its width.
    pub enum EncodeError {
        /// UserCount is 1 to 100.
        #[error("{0} users, 1 to 100 fit")]
        Users(usize),
        /// Count, the hops of a Trace_Resp, is one octet.
        #[error("{0} trace hops, at most 255 fit")]
        Hops(usize),
    }
}

impl Pdu {
    /// Appends this PDU as one frame. On error nothing is appended.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        append_whole(out, |out| self.encode_unchecked(out))
    }

    fn encode_unchecked(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let length = self.encoded_len();
        let length_field = u32::try_from(length).map_err(|_| EncodeError::TooLong {
            field: "MessageContent",
            len: length,
            max: u32::MAX as usize,
        })?;
        out.reserve(length);
        out.put_u32(length_field);
        out.put_u32(self.body.command_id().value());
        out.put_slice(&self.sequence.to_bytes());
        match &self.body {
            Body::Bind(b) => {
                out.put_u8(b.login_type);
                put_text(out, &b.login_name, LOGIN_LEN, field!("Login Name"))?;
                put_text(out, &b.login_password, LOGIN_LEN, field!("Login Password"))?;
                put_reserve(out, &b.reserve)?;
            }
            Body::BindResp(r)
            | Body::SubmitResp(r)
            | Body::DeliverResp(r)
            | Body::ReportResp(r) => put_response(out, r)?,
            Body::Unbind | Body::UnbindResp => {}
            Body::Submit(s) => encode_submit(s, out)?,
            Body::Deliver(d) => encode_deliver(d, out)?,
            Body::Report(r) => {
                out.put_slice(&r.submit_sequence.to_bytes());
                out.put_u8(r.report_type);
                put_text(out, &r.user_number, NUMBER_LEN, field!("UserNumber"))?;
                out.put_u8(r.state);
                out.put_u8(r.error_code);
                put_reserve(out, &r.reserve)?;
            }
            Body::Trace(t) => {
                out.put_slice(&t.submit_sequence.to_bytes());
                put_text(out, &t.user_number, NUMBER_LEN, field!("UserNumber"))?;
                put_reserve(out, &t.reserve)?;
            }
            Body::TraceResp(t) => {
                let count =
                    u8::try_from(t.hops.len()).map_err(|_| EncodeError::Hops(t.hops.len()))?;
                out.put_u8(count);
                for hop in &t.hops {
                    out.put_u8(hop.result);
                    put_text(out, &hop.node_id, 6, field!("NodeId"))?;
                    put_text(out, &hop.receive_time, TIME_LEN, field!("ReceiveTime"))?;
                    put_text(out, &hop.send_time, TIME_LEN, field!("SendTime"))?;
                    put_reserve(out, &hop.reserve)?;
                }
            }
        }
        Ok(())
    }

    /// Octets this PDU takes, header included (whether or not it encodes).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body.encoded_len())
    }
}

impl Body {
    /// The command id of this body.
    pub fn command_id(&self) -> CommandId {
        match self {
            Body::Bind(_) => CommandId::Bind,
            Body::BindResp(_) => CommandId::BindResp,
            Body::Unbind => CommandId::Unbind,
            Body::UnbindResp => CommandId::UnbindResp,
            Body::Submit(_) => CommandId::Submit,
            Body::SubmitResp(_) => CommandId::SubmitResp,
            Body::Deliver(_) => CommandId::Deliver,
            Body::DeliverResp(_) => CommandId::DeliverResp,
            Body::Report(_) => CommandId::Report,
            Body::ReportResp(_) => CommandId::ReportResp,
            Body::Trace(_) => CommandId::Trace,
            Body::TraceResp(_) => CommandId::TraceResp,
        }
    }

    /// Octets of the body alone.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Bind(_) => 1 + 2 * LOGIN_LEN + RESERVE_LEN,
            Body::BindResp(_)
            | Body::SubmitResp(_)
            | Body::DeliverResp(_)
            | Body::ReportResp(_) => 1 + RESERVE_LEN,
            Body::Unbind | Body::UnbindResp => 0,
            Body::Submit(s) => SUBMIT_FIXED_LEN
                .saturating_add(s.user_numbers.len().saturating_mul(NUMBER_LEN))
                .saturating_add(s.message_content.len()),
            Body::Deliver(d) => DELIVER_FIXED_LEN.saturating_add(d.message_content.len()),
            Body::Report(_) => 12 + 1 + NUMBER_LEN + 1 + 1 + RESERVE_LEN,
            Body::Trace(_) => 12 + NUMBER_LEN + RESERVE_LEN,
            Body::TraceResp(t) => 1 + t.hops.len().saturating_mul(TRACE_HOP_LEN),
        }
    }
}

/// SUBMIT without its users and content: SPNumber, ChargeNumber, UserCount, CorpId,
/// ServiceType, FeeType, FeeValue, GivenValue, AgentFlag, MorelatetoMTFlag, Priority,
/// ExpireTime, ScheduleTime, ReportFlag, TP_pid, TP_udhi, MessageCoding, MessageType,
/// MessageLength, Reserve.
const SUBMIT_FIXED_LEN: usize =
    2 * NUMBER_LEN + 1 + 5 + 10 + 1 + 6 + 6 + 3 + 2 * TIME_LEN + 5 + 4 + RESERVE_LEN;

/// DELIVER without its content: UserNumber, SPNumber, TP_pid, TP_udhi, MessageCoding,
/// MessageLength, Reserve.
const DELIVER_FIXED_LEN: usize = 2 * NUMBER_LEN + 3 + 4 + RESERVE_LEN;

fn put_response(out: &mut BytesMut, r: &Response) -> Result<(), EncodeError> {
    out.put_u8(r.result);
    put_reserve(out, &r.reserve)
}

/// MessageLength (4 octets) and MessageContent. The whole frame's length was checked to
/// fit a u32, so the content's does too.
fn put_content(out: &mut BytesMut, content: &[u8]) {
    out.put_u32(u32::try_from(content.len()).unwrap_or(u32::MAX));
    out.put_slice(content);
}

fn encode_submit(s: &Submit, out: &mut BytesMut) -> Result<(), EncodeError> {
    put_text(out, &s.sp_number, NUMBER_LEN, field!("SPNumber"))?;
    put_text(out, &s.charge_number, NUMBER_LEN, field!("ChargeNumber"))?;
    let count = s.user_numbers.len();
    let count_octet = u8::try_from(count)
        .ok()
        .filter(|&n| n > 0 && usize::from(n) <= MAX_USERS)
        .ok_or(EncodeError::Users(count))?;
    out.put_u8(count_octet);
    for user in &s.user_numbers {
        put_text(out, user, NUMBER_LEN, field!("UserNumber"))?;
    }
    put_text(out, &s.corp_id, 5, field!("CorpId"))?;
    put_text(out, &s.service_type, 10, field!("ServiceType"))?;
    out.put_u8(s.fee_type);
    put_text(out, &s.fee_value, 6, field!("FeeValue"))?;
    put_text(out, &s.given_value, 6, field!("GivenValue"))?;
    out.put_u8(s.agent_flag);
    out.put_u8(s.morelate_to_mt_flag);
    out.put_u8(s.priority);
    put_text(out, &s.expire_time, TIME_LEN, field!("ExpireTime"))?;
    put_text(out, &s.schedule_time, TIME_LEN, field!("ScheduleTime"))?;
    out.put_u8(s.report_flag);
    out.put_u8(s.tp_pid);
    out.put_u8(s.tp_udhi);
    out.put_u8(s.message_coding);
    out.put_u8(s.message_type);
    put_content(out, &s.message_content);
    put_reserve(out, &s.reserve)
}

fn encode_deliver(d: &Deliver, out: &mut BytesMut) -> Result<(), EncodeError> {
    put_text(out, &d.user_number, NUMBER_LEN, field!("UserNumber"))?;
    put_text(out, &d.sp_number, NUMBER_LEN, field!("SPNumber"))?;
    out.put_u8(d.tp_pid);
    out.put_u8(d.tp_udhi);
    out.put_u8(d.message_coding);
    put_content(out, &d.message_content);
    put_reserve(out, &d.reserve)
}
