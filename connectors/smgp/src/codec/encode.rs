//! PDUs → bytes. Every field is checked against its width before it is written; a value
//! that does not fit is an [`EncodeError`] and nothing is appended, so a caller never sends
//! a frame the peer would read differently from what was meant.

use bytes::{BufMut, BytesMut};
use tern_cn::fields::append_whole;

use super::fields::{field, put_text};
use super::{
    Body, Deliver, Pdu, RequestId, Submit, Tlv, HEADER_LEN, MAX_DESTINATIONS, TERM_ID_LEN,
};

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
        let packet_length = u32::try_from(length).map_err(|_| EncodeError::TooLong {
            field: "PacketLength",
            len: length,
            max: u32::MAX as usize,
        })?;
        out.reserve(length);
        out.put_u32(packet_length);
        out.put_u32(self.body.request_id().value());
        out.put_u32(self.sequence_id);
        match &self.body {
            Body::Login(l) => {
                put_text(out, &l.client_id, 8, field!("ClientID"))?;
                out.put_slice(&l.authenticator_client);
                out.put_u8(l.login_mode);
                out.put_u32(l.timestamp);
                out.put_u8(l.client_version);
            }
            Body::LoginResp(l) => {
                out.put_u32(l.status);
                out.put_slice(&l.authenticator_server);
                out.put_u8(l.server_version);
            }
            Body::Submit(s) => encode_submit(s, out)?,
            Body::SubmitResp(s) => {
                out.put_slice(&s.msg_id.0);
                out.put_u32(s.status);
            }
            Body::Deliver(d) => encode_deliver(d, out)?,
            Body::DeliverResp(d) => {
                out.put_slice(&d.msg_id.0);
                out.put_u32(d.status);
            }
            Body::ActiveTest | Body::ActiveTestResp | Body::Exit | Body::ExitResp => {}
        }
        Ok(())
    }

    /// Octets this PDU takes, header included (whether or not it encodes).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len()
    }
}

impl Body {
    /// The request id of this body.
    pub fn request_id(&self) -> RequestId {
        match self {
            Body::Login(_) => RequestId::Login,
            Body::LoginResp(_) => RequestId::LoginResp,
            Body::Submit(_) => RequestId::Submit,
            Body::SubmitResp(_) => RequestId::SubmitResp,
            Body::Deliver(_) => RequestId::Deliver,
            Body::DeliverResp(_) => RequestId::DeliverResp,
            Body::ActiveTest => RequestId::ActiveTest,
            Body::ActiveTestResp => RequestId::ActiveTestResp,
            Body::Exit => RequestId::Exit,
            Body::ExitResp => RequestId::ExitResp,
        }
    }

    /// Octets of the body alone.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Login(_) => 8 + 16 + 1 + 4 + 1,
            Body::LoginResp(_) => 4 + 16 + 1,
            Body::Submit(s) => {
                SUBMIT_FIXED_LEN
                    + s.dest_term_ids.len() * TERM_ID_LEN
                    + s.msg_content.len()
                    + tlvs_len(&s.tlvs)
            }
            Body::SubmitResp(_) | Body::DeliverResp(_) => 10 + 4,
            Body::Deliver(d) => DELIVER_FIXED_LEN + d.msg_content.len() + tlvs_len(&d.tlvs),
            Body::ActiveTest | Body::ActiveTestResp | Body::Exit | Body::ExitResp => 0,
        }
    }
}

/// SUBMIT without its destinations, content and TLVs: MsgType, NeedReport, Priority,
/// ServiceID, FeeType, FeeCode, FixedFee, MsgFormat, ValidTime, AtTime, SrcTermID,
/// ChargeTermID, DestTermIDCount, MsgLength, Reserve.
const SUBMIT_FIXED_LEN: usize = 3 + 10 + 2 + 6 + 6 + 1 + 17 + 17 + 21 + 21 + 1 + 1 + 8;

/// DELIVER without its content and TLVs: MsgID, IsReport, MsgFormat, RecvTime, SrcTermID,
/// DestTermID, MsgLength, Reserve.
const DELIVER_FIXED_LEN: usize = 10 + 1 + 1 + 14 + 21 + 21 + 1 + 8;

fn tlvs_len(tlvs: &[Tlv]) -> usize {
    tlvs.iter().map(Tlv::encoded_len).sum()
}

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

fn put_tlvs(out: &mut BytesMut, tlvs: &[Tlv]) -> Result<(), EncodeError> {
    tlvs.iter().try_for_each(|tlv| tlv.encode(out))
}

fn encode_submit(s: &Submit, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_u8(s.msg_type);
    out.put_u8(s.need_report);
    out.put_u8(s.priority);
    put_text(out, &s.service_id, 10, field!("ServiceID"))?;
    put_text(out, &s.fee_type, 2, field!("FeeType"))?;
    put_text(out, &s.fee_code, 6, field!("FeeCode"))?;
    put_text(out, &s.fixed_fee, 6, field!("FixedFee"))?;
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
    out.put_slice(&s.reserve);
    put_tlvs(out, &s.tlvs)
}

fn encode_deliver(d: &Deliver, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_slice(&d.msg_id.0);
    out.put_u8(d.is_report);
    out.put_u8(d.msg_format);
    put_text(out, &d.recv_time, 14, field!("RecvTime"))?;
    put_text(out, &d.src_term_id, TERM_ID_LEN, field!("SrcTermID"))?;
    put_text(out, &d.dest_term_id, TERM_ID_LEN, field!("DestTermID"))?;
    put_content(out, &d.msg_content)?;
    out.put_slice(&d.reserve);
    put_tlvs(out, &d.tlvs)
}
