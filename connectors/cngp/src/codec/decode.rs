//! Bytes → PDUs. Two steps, as in mini-redis: look at the header and check Total_Length
//! against `[HEADER_LEN, max_len]` before reserving or reading a body octet, then, once the
//! whole frame is buffered, split it off and parse the body with the exact layout of its
//! command.
//!
//! A refusing Login_Resp, Submit_Resp or Deliver_Resp (status not 0) that comes as a bare
//! header is read as zeros: the status says all there is, and some gateways send nothing
//! after it.

use bytes::{Bytes, BytesMut};
use tern_cn::frame::{next_frame, word};

use super::fields::{field, Reader};
use super::{
    Body, CommandId, Deliver, DeliverResp, FrameError, Login, LoginResp, Pdu, Submit, SubmitResp,
    Tlvs, HEADER_LEN, MAX_DESTINATIONS, TERM_ID_LEN,
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
    /// the missing octets have been reserved). A Total_Length outside
    /// `HEADER_LEN..=max_len` is [`FrameError::BadLength`] before anything is reserved, and
    /// leaves `buf` as it was: the stream cannot be framed any more. An unknown command or
    /// a malformed body consumes its frame, so the caller may answer and go on.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        let Some(frame) =
            next_frame(buf, HEADER_LEN, self.max_len).map_err(FrameError::BadLength)?
        else {
            return Ok(None);
        };
        let (command_id, status, sequence_id) =
            (word(&frame, 4), word(&frame, 8), word(&frame, 12));
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        let Some(command) = CommandId::from_value(command_id) else {
            return Err(FrameError::UnknownCommand {
                command_id,
                sequence_id,
            });
        };
        let body = decode_body(command, sequence_id, status, body)?;
        Ok(Some(Pdu {
            sequence_id,
            status,
            body,
        }))
    }
}

/// Parses one body of exactly the length the header announced.
pub(crate) fn decode_body(
    command: CommandId,
    sequence_id: u32,
    status: u32,
    body: &[u8],
) -> Result<Body, FrameError> {
    let mut r = Reader::new(body, (command, sequence_id));
    // A refusal with nothing after the header.
    let bare_refusal = status != 0 && body.is_empty();
    let decoded = match command {
        CommandId::Login => Body::Login(Login {
            client_id: r.text(10, field!("ClientID"))?,
            authenticator_client: r.array(field!("AuthenticatorClient"))?,
            login_mode: r.u8(field!("LoginMode"))?,
            timestamp: r.u32(field!("TimeStamp"))?,
            version: r.u8(field!("Version"))?,
        }),
        CommandId::LoginResp if bare_refusal => Body::LoginResp(LoginResp {
            authenticator_server: [0; 16],
            version: 0,
        }),
        CommandId::LoginResp => Body::LoginResp(LoginResp {
            authenticator_server: r.array(field!("AuthenticatorServer"))?,
            version: r.u8(field!("Version"))?,
        }),
        CommandId::Submit => Body::Submit(decode_submit(&mut r)?),
        CommandId::SubmitResp if bare_refusal => Body::SubmitResp(SubmitResp {
            msg_id: MsgId::ZERO,
            tlvs: Tlvs::new(),
        }),
        CommandId::SubmitResp => Body::SubmitResp(SubmitResp {
            msg_id: r.array(field!("MsgID")).map(MsgId)?,
            tlvs: Tlvs::decode(&mut r)?,
        }),
        CommandId::Deliver => Body::Deliver(decode_deliver(&mut r)?),
        CommandId::DeliverResp if bare_refusal => Body::DeliverResp(DeliverResp {
            msg_id: MsgId::ZERO,
            tlvs: Tlvs::new(),
        }),
        CommandId::DeliverResp => Body::DeliverResp(DeliverResp {
            msg_id: r.array(field!("MsgID")).map(MsgId)?,
            tlvs: Tlvs::decode(&mut r)?,
        }),
        CommandId::ActiveTest => Body::ActiveTest,
        CommandId::ActiveTestResp => Body::ActiveTestResp,
        CommandId::Exit => Body::Exit,
        CommandId::ExitResp => Body::ExitResp,
    };
    r.finish()?;
    Ok(decoded)
}

fn decode_submit(r: &mut Reader<'_>) -> Result<Submit, FrameError> {
    let sp_id = r.text(10, field!("SPID"))?;
    let sub_type = r.u8(field!("SubType"))?;
    let need_report = r.u8(field!("NeedReport"))?;
    let priority = r.u8(field!("Priority"))?;
    let service_id = r.text(10, field!("ServiceID"))?;
    let fee_type = r.text(2, field!("FeeType"))?;
    let fee_user_type = r.u8(field!("FeeUserType"))?;
    let fee_code = r.text(6, field!("FeeCode"))?;
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
    let tlvs = Tlvs::decode(r)?;
    Ok(Submit {
        sp_id,
        sub_type,
        need_report,
        priority,
        service_id,
        fee_type,
        fee_user_type,
        fee_code,
        msg_format,
        valid_time,
        at_time,
        src_term_id,
        charge_term_id,
        dest_term_ids,
        msg_content,
        tlvs,
    })
}

fn decode_deliver(r: &mut Reader<'_>) -> Result<Deliver, FrameError> {
    Ok(Deliver {
        msg_id: r.array(field!("MsgID")).map(MsgId)?,
        is_report: r.u8(field!("IsReport"))?,
        msg_format: r.u8(field!("MsgFormat"))?,
        recv_time: r.text(14, field!("RecvTime"))?,
        src_term_id: r.text(TERM_ID_LEN, field!("SrcTermID"))?,
        dest_term_id: r.text(TERM_ID_LEN, field!("DestTermID"))?,
        msg_content: content(r)?,
        tlvs: Tlvs::decode(r)?,
    })
}

/// MsgLength and MsgContent.
fn content(r: &mut Reader<'_>) -> Result<Bytes, FrameError> {
    let len = usize::from(r.u8(field!("MsgLength"))?);
    let raw = r.take(len, field!("MsgContent"))?;
    Ok(Bytes::copy_from_slice(raw))
}
