//! Bytes → PDUs. Two steps, as in mini-redis: look at the header and check PacketLength
//! against `[HEADER_LEN, max_len]` before reserving or reading a body octet, then, once the
//! whole frame is buffered, split it off and parse the body with the exact layout of its
//! request. SUBMIT and DELIVER read TLVs to the end of the body; every other body must end
//! with its last field.

use bytes::{Bytes, BytesMut};
use tern_cn::frame::{next_frame, word};

use super::fields::{field, Reader};
use super::{
    tlv, Body, Deliver, DeliverResp, FrameError, Login, LoginResp, Pdu, RequestId, Submit,
    SubmitResp, HEADER_LEN, MAX_DESTINATIONS, TERM_ID_LEN,
};
use crate::msgid::MsgId;

/// Splits frames off a read buffer and decodes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_len: usize,
}

impl Decoder {
    /// A decoder that refuses frames longer than `max_len` octets (header included; raised
    /// to [`HEADER_LEN`] if below it).
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
        }
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Takes the next frame off `buf`. `Ok(None)`: not all of it is buffered yet (at most
    /// the missing octets have been reserved). A PacketLength outside
    /// `HEADER_LEN..=max_len` is [`FrameError::BadLength`] before anything is reserved, and
    /// leaves `buf` as it was: the stream cannot be framed any more. An unknown request or
    /// a malformed body consumes its frame, so the caller may answer and go on.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        let Some(frame) =
            next_frame(buf, HEADER_LEN, self.max_len).map_err(FrameError::BadLength)?
        else {
            return Ok(None);
        };
        let (request_id, sequence_id) = (word(&frame, 4), word(&frame, 8));
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        let Some(request) = RequestId::from_value(request_id) else {
            return Err(FrameError::UnknownRequest {
                request_id,
                sequence_id,
            });
        };
        let body = decode_body(request, sequence_id, body)?;
        Ok(Some(Pdu { sequence_id, body }))
    }
}

/// Parses one body of exactly the length the header announced.
pub(crate) fn decode_body(
    request: RequestId,
    sequence_id: u32,
    body: &[u8],
) -> Result<Body, FrameError> {
    let mut r = Reader::new(body, (request, sequence_id));
    let decoded = match request {
        RequestId::Login => Body::Login(Login {
            client_id: r.text(8, field!("ClientID"))?,
            authenticator_client: r.array(field!("AuthenticatorClient"))?,
            login_mode: r.u8(field!("LoginMode"))?,
            timestamp: r.u32(field!("TimeStamp"))?,
            client_version: r.u8(field!("ClientVersion"))?,
        }),
        RequestId::LoginResp => Body::LoginResp(LoginResp {
            status: r.u32(field!("Status"))?,
            authenticator_server: r.array(field!("AuthenticatorServer"))?,
            server_version: r.u8(field!("ServerVersion"))?,
        }),
        RequestId::Submit => Body::Submit(decode_submit(&mut r)?),
        RequestId::SubmitResp => Body::SubmitResp(SubmitResp {
            msg_id: MsgId(r.array(field!("MsgID"))?),
            status: r.u32(field!("Status"))?,
        }),
        RequestId::Deliver => Body::Deliver(decode_deliver(&mut r)?),
        RequestId::DeliverResp => Body::DeliverResp(DeliverResp {
            msg_id: MsgId(r.array(field!("MsgID"))?),
            status: r.u32(field!("Status"))?,
        }),
        RequestId::ActiveTest => Body::ActiveTest,
        RequestId::ActiveTestResp => Body::ActiveTestResp,
        RequestId::Exit => Body::Exit,
        RequestId::ExitResp => Body::ExitResp,
    };
    r.finish()?;
    Ok(decoded)
}

fn decode_submit(r: &mut Reader<'_>) -> Result<Submit, FrameError> {
    let msg_type = r.u8(field!("MsgType"))?;
    let need_report = r.u8(field!("NeedReport"))?;
    let priority = r.u8(field!("Priority"))?;
    let service_id = r.text(10, field!("ServiceID"))?;
    let fee_type = r.text(2, field!("FeeType"))?;
    let fee_code = r.text(6, field!("FeeCode"))?;
    let fixed_fee = r.text(6, field!("FixedFee"))?;
    let msg_format = r.u8(field!("MsgFormat"))?;
    let valid_time = r.text(17, field!("ValidTime"))?;
    let at_time = r.text(17, field!("AtTime"))?;
    let src_term_id = r.text(TERM_ID_LEN, field!("SrcTermID"))?;
    let charge_term_id = r.text(TERM_ID_LEN, field!("ChargeTermID"))?;
    let count = usize::from(r.u8(field!("DestTermIDCount"))?);
    if count == 0 || count > MAX_DESTINATIONS {
        return Err(r.bad_value("DestTermIDCount is not 1 to 100"));
    }
    // At most 100 × 21 octets, and only after they are known to be in the body.
    if r.remaining() < count * TERM_ID_LEN {
        return Err(r.short("body ends inside DestTermID"));
    }
    let mut dest_term_ids = Vec::with_capacity(count);
    for _ in 0..count {
        dest_term_ids.push(r.text(TERM_ID_LEN, field!("DestTermID"))?);
    }
    let msg_content = content(r)?;
    let reserve = r.array(field!("Reserve"))?;
    let tlvs = tlv::read_all(r)?;
    Ok(Submit {
        msg_type,
        need_report,
        priority,
        service_id,
        fee_type,
        fee_code,
        fixed_fee,
        msg_format,
        valid_time,
        at_time,
        src_term_id,
        charge_term_id,
        dest_term_ids,
        msg_content,
        reserve,
        tlvs,
    })
}

fn decode_deliver(r: &mut Reader<'_>) -> Result<Deliver, FrameError> {
    let msg_id = MsgId(r.array(field!("MsgID"))?);
    let is_report = r.u8(field!("IsReport"))?;
    let msg_format = r.u8(field!("MsgFormat"))?;
    let recv_time = r.text(14, field!("RecvTime"))?;
    let src_term_id = r.text(TERM_ID_LEN, field!("SrcTermID"))?;
    let dest_term_id = r.text(TERM_ID_LEN, field!("DestTermID"))?;
    let msg_content = content(r)?;
    let reserve = r.array(field!("Reserve"))?;
    let tlvs = tlv::read_all(r)?;
    Ok(Deliver {
        msg_id,
        is_report,
        msg_format,
        recv_time,
        src_term_id,
        dest_term_id,
        msg_content,
        reserve,
        tlvs,
    })
}

/// MsgLength and MsgContent.
fn content(r: &mut Reader<'_>) -> Result<Bytes, FrameError> {
    let len = usize::from(r.u8(field!("MsgLength"))?);
    let raw = r.take(len, field!("MsgContent"))?;
    Ok(Bytes::copy_from_slice(raw))
}
