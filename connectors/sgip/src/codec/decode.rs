//! Bytes → PDUs. Two steps, as in mini-redis: look at the header and check Message Length
//! against `[HEADER_LEN, max_len]` before reserving or reading a body octet, then, once the
//! whole frame is buffered, split it off and parse the body with the exact layout of its
//! command. Counts (UserCount, a Trace_Resp's Count, MessageLength) are checked against the
//! octets actually in the body before anything is reserved for them.

use bytes::{Bytes, BytesMut};
use tern_cn::frame::{next_frame, word};

use super::fields::{field, Reader, SgipFields};
use super::{
    Bind, Body, CommandId, Deliver, FrameError, Pdu, Report, Response, Submit, Trace, TraceHop,
    TraceResp, HEADER_LEN, LOGIN_LEN, MAX_USERS, NUMBER_LEN, TIME_LEN, TRACE_HOP_LEN,
};
use crate::msgid::{SequenceNumber, SEQUENCE_LEN};

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
    /// the missing octets have been reserved). A Message Length outside
    /// `HEADER_LEN..=max_len` is [`FrameError::BadLength`] before anything is reserved, and
    /// leaves `buf` as it was: the stream cannot be framed any more. An unknown command or
    /// a malformed body consumes its frame, so the caller may answer and go on.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Pdu>, FrameError> {
        let Some(frame) =
            next_frame(buf, HEADER_LEN, self.max_len).map_err(FrameError::BadLength)?
        else {
            return Ok(None);
        };
        let command_id = word(&frame, 4);
        let mut sequence = [0u8; SEQUENCE_LEN];
        if let Some(src) = frame.get(8..HEADER_LEN) {
            sequence.copy_from_slice(src);
        }
        let sequence = SequenceNumber::from_bytes(sequence);
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        let Some(command) = CommandId::from_value(command_id) else {
            return Err(FrameError::UnknownCommand {
                command_id,
                sequence,
            });
        };
        let body = decode_body(command, sequence, body)?;
        Ok(Some(Pdu { sequence, body }))
    }
}

/// Parses one body of exactly the length the header announced.
pub(crate) fn decode_body(
    command: CommandId,
    sequence: SequenceNumber,
    body: &[u8],
) -> Result<Body, FrameError> {
    let mut r = Reader::new(body, (command, sequence));
    let decoded = match command {
        CommandId::Bind => Body::Bind(Bind {
            login_type: r.u8(field!("Login Type"))?,
            login_name: r.text(LOGIN_LEN, field!("Login Name"))?,
            login_password: r.text(LOGIN_LEN, field!("Login Password"))?,
            reserve: r.reserve()?,
        }),
        CommandId::BindResp => Body::BindResp(response(&mut r)?),
        CommandId::Unbind => Body::Unbind,
        CommandId::UnbindResp => Body::UnbindResp,
        CommandId::Submit => Body::Submit(decode_submit(&mut r)?),
        CommandId::SubmitResp => Body::SubmitResp(response(&mut r)?),
        CommandId::Deliver => Body::Deliver(Deliver {
            user_number: r.text(NUMBER_LEN, field!("UserNumber"))?,
            sp_number: r.text(NUMBER_LEN, field!("SPNumber"))?,
            tp_pid: r.u8(field!("TP_pid"))?,
            tp_udhi: r.u8(field!("TP_udhi"))?,
            message_coding: r.u8(field!("MessageCoding"))?,
            message_content: content(&mut r)?,
            reserve: r.reserve()?,
        }),
        CommandId::DeliverResp => Body::DeliverResp(response(&mut r)?),
        CommandId::Report => Body::Report(Report {
            submit_sequence: r.sequence(field!("SubmitSequenceNumber"))?,
            report_type: r.u8(field!("ReportType"))?,
            user_number: r.text(NUMBER_LEN, field!("UserNumber"))?,
            state: r.u8(field!("State"))?,
            error_code: r.u8(field!("ErrorCode"))?,
            reserve: r.reserve()?,
        }),
        CommandId::ReportResp => Body::ReportResp(response(&mut r)?),
        CommandId::Trace => Body::Trace(Trace {
            submit_sequence: r.sequence(field!("SubmitSequenceNumber"))?,
            user_number: r.text(NUMBER_LEN, field!("UserNumber"))?,
            reserve: r.reserve()?,
        }),
        CommandId::TraceResp => Body::TraceResp(decode_trace_resp(&mut r)?),
    };
    r.finish()?;
    Ok(decoded)
}

/// Result and Reserve: the body of every response but Unbind_Resp and Trace_Resp.
fn response(r: &mut Reader<'_>) -> Result<Response, FrameError> {
    Ok(Response {
        result: r.u8(field!("Result"))?,
        reserve: r.reserve()?,
    })
}

fn decode_submit(r: &mut Reader<'_>) -> Result<Submit, FrameError> {
    let sp_number = r.text(NUMBER_LEN, field!("SPNumber"))?;
    let charge_number = r.text(NUMBER_LEN, field!("ChargeNumber"))?;
    let count = usize::from(r.u8(field!("UserCount"))?);
    if count == 0 || count > MAX_USERS {
        return Err(r.bad_value("UserCount is not 1 to 100"));
    }
    // At most 100 × 21 octets, and only after they are known to be in the body.
    if r.remaining() < count * NUMBER_LEN {
        return Err(r.short("body ends inside UserNumber"));
    }
    let mut user_numbers = Vec::with_capacity(count);
    for _ in 0..count {
        user_numbers.push(r.text(NUMBER_LEN, field!("UserNumber"))?);
    }
    Ok(Submit {
        sp_number,
        charge_number,
        user_numbers,
        corp_id: r.text(5, field!("CorpId"))?,
        service_type: r.text(10, field!("ServiceType"))?,
        fee_type: r.u8(field!("FeeType"))?,
        fee_value: r.text(6, field!("FeeValue"))?,
        given_value: r.text(6, field!("GivenValue"))?,
        agent_flag: r.u8(field!("AgentFlag"))?,
        morelate_to_mt_flag: r.u8(field!("MorelatetoMTFlag"))?,
        priority: r.u8(field!("Priority"))?,
        expire_time: r.text(TIME_LEN, field!("ExpireTime"))?,
        schedule_time: r.text(TIME_LEN, field!("ScheduleTime"))?,
        report_flag: r.u8(field!("ReportFlag"))?,
        tp_pid: r.u8(field!("TP_pid"))?,
        tp_udhi: r.u8(field!("TP_udhi"))?,
        message_coding: r.u8(field!("MessageCoding"))?,
        message_type: r.u8(field!("MessageType"))?,
        message_content: content(r)?,
        reserve: r.reserve()?,
    })
}

fn decode_trace_resp(r: &mut Reader<'_>) -> Result<TraceResp, FrameError> {
    let count = usize::from(r.u8(field!("Count"))?);
    if r.remaining() < count * TRACE_HOP_LEN {
        return Err(r.short("body ends inside a Trace_Resp hop"));
    }
    let mut hops = Vec::with_capacity(count);
    for _ in 0..count {
        hops.push(TraceHop {
            result: r.u8(field!("Result"))?,
            node_id: r.text(6, field!("NodeId"))?,
            receive_time: r.text(TIME_LEN, field!("ReceiveTime"))?,
            send_time: r.text(TIME_LEN, field!("SendTime"))?,
            reserve: r.reserve()?,
        });
    }
    Ok(TraceResp { hops })
}

/// MessageLength (4 octets) and MessageContent.
fn content(r: &mut Reader<'_>) -> Result<Bytes, FrameError> {
    let len = r.u32(field!("MessageLength"))?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let raw = r.take(len, field!("MessageContent"))?;
    Ok(Bytes::copy_from_slice(raw))
}
