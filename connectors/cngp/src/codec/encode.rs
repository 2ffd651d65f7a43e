//! PDUs → bytes. Every field is checked against its width before it is written; a value
//! that does not fit is an [`EncodeError`] and nothing is appended, so a caller never sends
//! a frame the peer would read differently from what was meant.

use bytes::{BufMut, BytesMut};
use tern_cn::fields::append_whole;

use super::fields::{field, put_text};
use super::{Body, Deliver, Pdu, Submit, HEADER_LEN, MAX_DESTINATIONS, TERM_ID_LEN};

tern_cn::encode_error! {
    /// A field that does not fit its width.
    pub enum EncodeError {
        /// DestTermIDCount is 1 to 100.
        #[error("{0} destinations, 1 to 100 fit")]
        Destinations(usize),
    }
}

impl Pdu {
    /// Appends this PDU as one frame. On error nothing is appended.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        append_whole(out, |out| self.encode_unchecked(out))
    }

    fn encode_unchecked(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let length = self.encoded_len();
        let total = u32::try_from(length).map_err(|_| EncodeError::TooLong {
            field: "Total_Length",
            len: length,
            max: u32::MAX as usize,
        })?;
        out.reserve(length);
        out.put_u32(total);
        out.put_u32(self.body.command_id());
        out.put_u32(self.status);
        out.put_u32(self.sequence_id);
        match &self.body {
            Body::Login(l) => {
                put_text(out, &l.client_id, 10, field!("ClientID"))?;
                out.put_slice(&l.authenticator_client);
                out.put_u8(l.login_mode);
                out.put_u32(l.timestamp);
                out.put_u8(l.version);
            }
            Body::LoginResp(l) => {
                out.put_slice(&l.authenticator_server);
                out.put_u8(l.version);
            }
            Body::Submit(s) => encode_submit(s, out)?,
            Body::SubmitResp(s) => {
                s.tlvs.check()?;
                out.put_slice(s.msg_id.octets());
                s.tlvs.put(out);
            }
            Body::Deliver(d) => encode_deliver(d, out)?,
            Body::DeliverResp(d) => {
                d.tlvs.check()?;
                out.put_slice(d.msg_id.octets());
                d.tlvs.put(out);
            }
            Body::ActiveTest
            | Body::ActiveTestResp
            | Body::Exit
            | Body::ExitResp
            | Body::Bare { .. } => {}
        }
        Ok(())
    }

    /// Octets this PDU takes, header included (whether or not it encodes).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len()
    }
}

impl Body {
    /// The command this body belongs to; `None` for [`Body::Bare`].
    pub fn command(&self) -> Option<super::CommandId> {
        use super::CommandId as C;
        Some(match self {
            Body::Login(_) => C::Login,
            Body::LoginResp(_) => C::LoginResp,
            Body::Submit(_) => C::Submit,
            Body::SubmitResp(_) => C::SubmitResp,
            Body::Deliver(_) => C::Deliver,
            Body::DeliverResp(_) => C::DeliverResp,
            Body::ActiveTest => C::ActiveTest,
            Body::ActiveTestResp => C::ActiveTestResp,
            Body::Exit => C::Exit,
            Body::ExitResp => C::ExitResp,
            Body::Bare { .. } => return None,
        })
    }

    /// The Command_Id this body is sent with.
    pub fn command_id(&self) -> u32 {
        match self {
            Body::Bare { command_id } => *command_id,
            other => other.command().map_or(0, super::CommandId::value),
        }
    }

    /// Octets of the body alone.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Login(_) => 10 + 16 + 1 + 4 + 1,
            Body::LoginResp(_) => 16 + 1,
            Body::Submit(s) => {
                SUBMIT_FIXED_LEN
                    + s.dest_term_ids.len() * TERM_ID_LEN
                    + s.msg_content.len()
                    + s.tlvs.encoded_len()
            }
            Body::SubmitResp(s) => 10 + s.tlvs.encoded_len(),
            Body::Deliver(d) => DELIVER_FIXED_LEN + d.msg_content.len() + d.tlvs.encoded_len(),
            Body::DeliverResp(d) => 10 + d.tlvs.encoded_len(),
            Body::ActiveTest
            | Body::ActiveTestResp
            | Body::Exit
            | Body::ExitResp
            | Body::Bare { .. } => 0,
        }
    }
}

/// SUBMIT without its destinations, content and TLVs: SPID, SubType .. Priority,
/// ServiceID, FeeType, FeeUserType, FeeCode, MsgFormat, ValidTime, AtTime, SrcTermID,
/// ChargeTermID, DestTermIDCount, MsgLength.
const SUBMIT_FIXED_LEN: usize = 10 + 3 + 10 + 2 + 1 + 6 + 1 + 17 + 17 + 21 + 21 + 1 + 1;

/// DELIVER without its content and TLVs: MsgID, IsReport, MsgFormat, RecvTime, SrcTermID,
/// DestTermID, MsgLength.
const DELIVER_FIXED_LEN: usize = 10 + 1 + 1 + 14 + 21 + 21 + 1;

fn put_content(out: &mut BytesMut, content: &[u8]) -> Result<(), EncodeError> {
    let len = u8::try_from(content.len()).map_err(|_| EncodeError::TooLong {
        field: "MsgContent",
        len: content.len(),
        max: usize::from(u8::MAX),
    })?;
    out.put_u8(len);
    out.put_slice(content);
    Ok(())
}

fn encode_submit(s: &Submit, out: &mut BytesMut) -> Result<(), EncodeError> {
    s.tlvs.check()?;
    put_text(out, &s.sp_id, 10, field!("SPID"))?;
    out.put_u8(s.sub_type);
    out.put_u8(s.need_report);
    out.put_u8(s.priority);
    put_text(out, &s.service_id, 10, field!("ServiceID"))?;
    put_text(out, &s.fee_type, 2, field!("FeeType"))?;
    out.put_u8(s.fee_user_type);
    put_text(out, &s.fee_code, 6, field!("FeeCode"))?;
    out.put_u8(s.msg_format);
    put_text(out, &s.valid_time, 17, field!("ValidTime"))?;
    put_text(out, &s.at_time, 17, field!("AtTime"))?;
    put_text(out, &s.src_term_id, TERM_ID_LEN, field!("SrcTermID"))?;
    put_text(out, &s.charge_term_id, TERM_ID_LEN, field!("ChargeTermID"))?;
    let count = s.dest_term_ids.len();
    let count_octet = u8::try_from(count)
        .ok()
        .filter(|&n| n > 0 && usize::from(n) <= MAX_DESTINATIONS)
        .ok_or(EncodeError::Destinations(count))?;
    out.put_u8(count_octet);
    for dest in &s.dest_term_ids {
        put_text(out, dest, TERM_ID_LEN, field!("DestTermID"))?;
    }
    put_content(out, &s.msg_content)?;
    s.tlvs.put(out);
    Ok(())
}

fn encode_deliver(d: &Deliver, out: &mut BytesMut) -> Result<(), EncodeError> {
    d.tlvs.check()?;
    out.put_slice(d.msg_id.octets());
    out.put_u8(d.is_report);
    out.put_u8(d.msg_format);
    put_text(out, &d.recv_time, 14, field!("RecvTime"))?;
    put_text(out, &d.src_term_id, TERM_ID_LEN, field!("SrcTermID"))?;
    put_text(out, &d.dest_term_id, TERM_ID_LEN, field!("DestTermID"))?;
    put_content(out, &d.msg_content)?;
    d.tlvs.put(out);
    Ok(())
}
