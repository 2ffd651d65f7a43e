//! Bytes → PDUs. Two steps, as in mini-redis: look at the header and check Total_Length
//! against `[HEADER_LEN, max_len]` before reserving or reading a body octet, then, once the
//! whole frame is buffered, split it off and parse the body with the exact layout of its
//! command in the negotiated version.
//!
//! Responses whose layout differs between the versions only in the width of one integer
//! (CONNECT_RESP, SUBMIT_RESP, DELIVER_RESP, CANCEL_RESP) are read by their length: the two
//! widths give different lengths, so nothing is guessed, and a client that asked for 3.0 can
//! still read a 2.0 gateway's refusal. ACTIVE_TEST_RESP without its reserved octet, which
//! some gateways send, is read as reserved 0.

use bytes::BytesMut;
use tern_cn::frame::{next_frame, word};

use super::fields::{field, Reader};
use super::{
    Body, Cancel, CancelResp, CommandId, Connect, ConnectResp, Deliver, DeliverResp, FrameError,
    Pdu, Query, QueryResp, Submit, SubmitResp, Version, HEADER_LEN, MAX_DESTINATIONS,
};

/// Splits frames off a read buffer and decodes them in the version negotiated by CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_len: usize,
    version: Version,
}

impl Decoder {
    /// A decoder for `version` that refuses frames longer than `max_len` octets (header
    /// included; raised to [`HEADER_LEN`] if below it).
    pub fn new(version: Version, max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
            version,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Switches the body layouts, once CONNECT has settled the version.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
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
        let (command_id, sequence_id) = (word(&frame, 4), word(&frame, 8));
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        let Some(command) = CommandId::from_value(command_id) else {
            return Err(FrameError::UnknownCommand {
                command_id,
                sequence_id,
            });
        };
        let body = decode_body(command, sequence_id, body, self.version)?;
        Ok(Some(Pdu { sequence_id, body }))
    }
}

/// Parses one body of exactly the length the header announced.
pub(crate) fn decode_body(
    command: CommandId,
    sequence_id: u32,
    body: &[u8],
    version: Version,
) -> Result<Body, FrameError> {
    let mut r = Reader::new(body, (command, sequence_id));
    let decoded = match command {
        CommandId::Connect => Body::Connect(Connect {
            source_addr: r.text(6, field!("Source_Addr"))?,
            authenticator_source: r.array(field!("AuthenticatorSource"))?,
            version: r.u8(field!("Version"))?,
            timestamp: r.u32(field!("Timestamp"))?,
        }),
        CommandId::ConnectResp => {
            let width = by_length(&r, 17)?;
            Body::ConnectResp(ConnectResp {
                status: r.uint(width, field!("Status"))?,
                authenticator_ismg: r.array(field!("AuthenticatorISMG"))?,
                version: r.u8(field!("Version"))?,
            })
        }
        CommandId::Terminate => Body::Terminate,
        CommandId::TerminateResp => Body::TerminateResp,
        CommandId::Submit => Body::Submit(decode_submit(&mut r, version)?),
        CommandId::SubmitResp => {
            let width = by_length(&r, 8)?;
            Body::SubmitResp(SubmitResp {
                msg_id: r.u64(field!("Msg_Id"))?,
                result: r.uint(width, field!("Result"))?,
            })
        }
        CommandId::Deliver => Body::Deliver(decode_deliver(&mut r, version)?),
        CommandId::DeliverResp => {
            let width = by_length(&r, 8)?;
            Body::DeliverResp(DeliverResp {
                msg_id: r.u64(field!("Msg_Id"))?,
                result: r.uint(width, field!("Result"))?,
            })
        }
        CommandId::Query => Body::Query(Query {
            time: r.text(8, field!("Time"))?,
            query_type: r.u8(field!("Query_Type"))?,
            query_code: r.text(10, field!("Query_Code"))?,
            reserve: r.text(8, field!("Reserve"))?,
        }),
        CommandId::QueryResp => Body::QueryResp(QueryResp {
            time: r.text(8, field!("Time"))?,
            query_type: r.u8(field!("Query_Type"))?,
            query_code: r.text(10, field!("Query_Code"))?,
            mt_tl_msg: r.u32(field!("MT_TLMsg"))?,
            mt_tl_usr: r.u32(field!("MT_Tlusr"))?,
            mt_scs: r.u32(field!("MT_Scs"))?,
            mt_wt: r.u32(field!("MT_WT"))?,
            mt_fl: r.u32(field!("MT_FL"))?,
            mo_scs: r.u32(field!("MO_Scs"))?,
            mo_wt: r.u32(field!("MO_WT"))?,
            mo_fl: r.u32(field!("MO_FL"))?,
        }),
        CommandId::Cancel => Body::Cancel(Cancel {
            msg_id: r.u64(field!("Msg_Id"))?,
        }),
        CommandId::CancelResp => {
            let width = by_length(&r, 0)?;
            Body::CancelResp(CancelResp {
                success_id: r.uint(width, field!("Success_Id"))?,
            })
        }
        CommandId::ActiveTest => Body::ActiveTest,
        CommandId::ActiveTestResp if r.remaining() == 0 => Body::ActiveTestResp(0),
        CommandId::ActiveTestResp => Body::ActiveTestResp(r.u8(field!("Reserved"))?),
    };
    r.finish()?;
    Ok(decoded)
}

/// The width of a response's result integer from the body length: `fixed` octets plus 1
/// (2.0) or 4 (3.0).
fn by_length(r: &Reader<'_>, fixed: usize) -> Result<usize, FrameError> {
    match r.remaining().checked_sub(fixed) {
        Some(1) => Ok(1),
        Some(4) => Ok(4),
        _ => Err(r.short("body length fits neither CMPP 2.0 nor 3.0")),
    }
}

fn decode_submit(r: &mut Reader<'_>, version: Version) -> Result<Submit, FrameError> {
    let v3 = version == Version::V30;
    let terminal = version.terminal_id_len();
    let msg_id = r.u64(field!("Msg_Id"))?;
    let pk_total = r.u8(field!("Pk_total"))?;
    let pk_number = r.u8(field!("Pk_number"))?;
    let registered_delivery = r.u8(field!("Registered_Delivery"))?;
    let msg_level = r.u8(field!("Msg_level"))?;
    let service_id = r.text(10, field!("Service_Id"))?;
    let fee_user_type = r.u8(field!("Fee_UserType"))?;
    let fee_terminal_id = r.text(terminal, field!("Fee_terminal_Id"))?;
    let fee_terminal_type = if v3 {
        r.u8(field!("Fee_terminal_type"))?
    } else {
        0
    };
    let tp_pid = r.u8(field!("TP_pId"))?;
    let tp_udhi = r.u8(field!("TP_udhi"))?;
    let msg_fmt = r.u8(field!("Msg_Fmt"))?;
    let msg_src = r.text(6, field!("Msg_src"))?;
    let fee_type = r.text(2, field!("FeeType"))?;
    let fee_code = r.text(6, field!("FeeCode"))?;
    let valid_time = r.text(17, field!("ValId_Time"))?;
    let at_time = r.text(17, field!("At_Time"))?;
    let src_id = r.text(21, field!("Src_Id"))?;
    let count = usize::from(r.u8(field!("DestUsr_tl"))?);
    if count == 0 || count > MAX_DESTINATIONS {
        return Err(r.bad_value("DestUsr_tl is not 1 to 100"));
    }
    // At most 100 × 32 octets, and only after they are known to be in the body.
    if r.remaining() < count * terminal {
        return Err(r.short("body ends inside Dest_terminal_Id"));
    }
    let mut dest_terminal_ids = Vec::with_capacity(count);
    for _ in 0..count {
        dest_terminal_ids.push(r.text(terminal, field!("Dest_terminal_Id"))?);
    }
    let dest_terminal_type = if v3 {
        r.u8(field!("Dest_terminal_type"))?
    } else {
        0
    };
    let msg_content = content(r)?;
    let link_id = r.text(version.link_id_len(), field!("LinkID/Reserve"))?;
    Ok(Submit {
        msg_id,
        pk_total,
        pk_number,
        registered_delivery,
        msg_level,
        service_id,
        fee_user_type,
        fee_terminal_id,
        fee_terminal_type,
        tp_pid,
        tp_udhi,
        msg_fmt,
        msg_src,
        fee_type,
        fee_code,
        valid_time,
        at_time,
        src_id,
        dest_terminal_ids,
        dest_terminal_type,
        msg_content,
        link_id,
    })
}

fn decode_deliver(r: &mut Reader<'_>, version: Version) -> Result<Deliver, FrameError> {
    let msg_id = r.u64(field!("Msg_Id"))?;
    let dest_id = r.text(21, field!("Dest_Id"))?;
    let service_id = r.text(10, field!("Service_Id"))?;
    let tp_pid = r.u8(field!("TP_pid"))?;
    let tp_udhi = r.u8(field!("TP_udhi"))?;
    let msg_fmt = r.u8(field!("Msg_Fmt"))?;
    let src_terminal_id = r.text(version.terminal_id_len(), field!("Src_terminal_Id"))?;
    let src_terminal_type = if version == Version::V30 {
        r.u8(field!("Src_terminal_type"))?
    } else {
        0
    };
    let registered_delivery = r.u8(field!("Registered_Delivery"))?;
    let msg_content = content(r)?;
    let link_id = r.text(version.link_id_len(), field!("LinkID/Reserve"))?;
    Ok(Deliver {
        msg_id,
        dest_id,
        service_id,
        tp_pid,
        tp_udhi,
        msg_fmt,
        src_terminal_id,
        src_terminal_type,
        registered_delivery,
        msg_content,
        link_id,
    })
}

/// Msg_Length and Msg_Content.
fn content(r: &mut Reader<'_>) -> Result<bytes::Bytes, FrameError> {
    let len = usize::from(r.u8(field!("Msg_Length"))?);
    let raw = r.take(len, field!("Msg_Content"))?;
    Ok(bytes::Bytes::copy_from_slice(raw))
}
