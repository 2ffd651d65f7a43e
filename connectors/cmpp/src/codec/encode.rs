//! PDUs → bytes. Every field is checked against its width in the chosen version before it
//! is written; a value that does not fit is an [`EncodeError`] and nothing is appended, so a
//! caller never sends a frame the peer would read differently from what was meant.

use bytes::{BufMut, BytesMut};
use tern_cn::fields::append_whole;

use super::fields::{field, put_text, put_uint};
use super::{Body, Deliver, Pdu, Submit, Version, HEADER_LEN, MAX_DESTINATIONS};

tern_cn::encode_error! {
    /// A field that does not fit its width in the chosen version.
    pub enum EncodeError {
        #[error("{field} is {value}, at most {max} fits")]
        ValueTooLarge {
            field: &'static str,
            value: u32,
            max: u32,
        },
        /// DestUsr_tl is 1 to 100.
        #[error("{0} destinations, 1 to 100 fit")]
        Destinations(usize),
    }
}

impl Pdu {
    /// Appends this PDU as one frame in `version`'s layout. On error nothing is appended.
    pub fn encode(&self, version: Version, out: &mut BytesMut) -> Result<(), EncodeError> {
        append_whole(out, |out| self.encode_unchecked(version, out))
    }

    fn encode_unchecked(&self, version: Version, out: &mut BytesMut) -> Result<(), EncodeError> {
        let length = self.encoded_len(version);
        out.reserve(length);
        // The largest PDU (a SUBMIT to 100 terminals of 32 octets) is under 4 KiB.
        out.put_u32(u32::try_from(length).unwrap_or(u32::MAX));
        out.put_u32(self.body.command_id().value());
        out.put_u32(self.sequence_id);
        let result_width = version.result_len();
        match &self.body {
            Body::Connect(c) => {
                put_text(out, &c.source_addr, 6, field!("Source_Addr"))?;
                out.put_slice(&c.authenticator_source);
                out.put_u8(c.version);
                out.put_u32(c.timestamp);
            }
            Body::ConnectResp(c) => {
                put_uint(out, c.status, result_width, field!("Status"))?;
                out.put_slice(&c.authenticator_ismg);
                out.put_u8(c.version);
            }
            Body::Terminate | Body::TerminateResp | Body::ActiveTest => {}
            Body::Submit(s) => encode_submit(s, version, out)?,
            Body::SubmitResp(s) => {
                out.put_u64(s.msg_id);
                put_uint(out, s.result, result_width, field!("Result"))?;
            }
            Body::Deliver(d) => encode_deliver(d, version, out)?,
            Body::DeliverResp(d) => {
                out.put_u64(d.msg_id);
                put_uint(out, d.result, result_width, field!("Result"))?;
            }
            Body::Query(q) => {
                put_text(out, &q.time, 8, field!("Time"))?;
                out.put_u8(q.query_type);
                put_text(out, &q.query_code, 10, field!("Query_Code"))?;
                put_text(out, &q.reserve, 8, field!("Reserve"))?;
            }
            Body::QueryResp(q) => {
                put_text(out, &q.time, 8, field!("Time"))?;
                out.put_u8(q.query_type);
                put_text(out, &q.query_code, 10, field!("Query_Code"))?;
                for value in [
                    q.mt_tl_msg,
                    q.mt_tl_usr,
                    q.mt_scs,
                    q.mt_wt,
                    q.mt_fl,
                    q.mo_scs,
                    q.mo_wt,
                    q.mo_fl,
                ] {
                    out.put_u32(value);
                }
            }
            Body::Cancel(c) => out.put_u64(c.msg_id),
            Body::CancelResp(c) => put_uint(out, c.success_id, result_width, field!("Success_Id"))?,
            Body::ActiveTestResp(reserved) => out.put_u8(*reserved),
        }
        Ok(())
    }

    /// Octets this PDU takes in `version`, header included (whether or not it encodes).
    pub fn encoded_len(&self, version: Version) -> usize {
        HEADER_LEN + self.body.encoded_len(version)
    }
}

impl Body {
    /// The command id of this body.
    pub fn command_id(&self) -> super::CommandId {
        use super::CommandId as C;
        match self {
            Body::Connect(_) => C::Connect,
            Body::ConnectResp(_) => C::ConnectResp,
            Body::Terminate => C::Terminate,
            Body::TerminateResp => C::TerminateResp,
            Body::Submit(_) => C::Submit,
            Body::SubmitResp(_) => C::SubmitResp,
            Body::Deliver(_) => C::Deliver,
            Body::DeliverResp(_) => C::DeliverResp,
            Body::Query(_) => C::Query,
            Body::QueryResp(_) => C::QueryResp,
            Body::Cancel(_) => C::Cancel,
            Body::CancelResp(_) => C::CancelResp,
            Body::ActiveTest => C::ActiveTest,
            Body::ActiveTestResp(_) => C::ActiveTestResp,
        }
    }

    /// Octets of the body alone in `version`.
    pub fn encoded_len(&self, version: Version) -> usize {
        let result = version.result_len();
        match self {
            Body::Connect(_) => 6 + 16 + 1 + 4,
            Body::ConnectResp(_) => result + 16 + 1,
            Body::Terminate | Body::TerminateResp | Body::ActiveTest => 0,
            Body::Submit(s) => {
                submit_fixed_len(version)
                    + s.dest_terminal_ids.len() * version.terminal_id_len()
                    + s.msg_content.len()
            }
            Body::SubmitResp(_) | Body::DeliverResp(_) => 8 + result,
            Body::Deliver(d) => deliver_fixed_len(version) + d.msg_content.len(),
            Body::Query(_) => 8 + 1 + 10 + 8,
            Body::QueryResp(_) => 8 + 1 + 10 + 8 * 4,
            Body::Cancel(_) => 8,
            Body::CancelResp(_) => result,
            Body::ActiveTestResp(_) => 1,
        }
    }
}

/// SUBMIT without its destinations and content.
fn submit_fixed_len(version: Version) -> usize {
    let v3_types = if version == Version::V30 { 2 } else { 0 };
    // Msg_Id .. Fee_UserType, Fee_terminal_Id, TP_pId .. Msg_Fmt, Msg_src .. Src_Id,
    // DestUsr_tl, Msg_Length, LinkID/Reserve.
    8 + 4
        + 10
        + 1
        + version.terminal_id_len()
        + 3
        + 6
        + 2
        + 6
        + 17
        + 17
        + 21
        + 1
        + 1
        + version.link_id_len()
        + v3_types
}

/// DELIVER without its content.
fn deliver_fixed_len(version: Version) -> usize {
    let v3_type = usize::from(version == Version::V30);
    // Msg_Id, Dest_Id, Service_Id, TP_pid .. Msg_Fmt, Src_terminal_Id, Registered_Delivery,
    // Msg_Length, LinkID/Reserve.
    8 + 21 + 10 + 3 + version.terminal_id_len() + 1 + 1 + version.link_id_len() + v3_type
}

fn put_content(out: &mut BytesMut, content: &[u8]) -> Result<(), EncodeError> {
    let len = u8::try_from(content.len()).map_err(|_| EncodeError::TooLong {
        field: "Msg_Content",
        len: content.len(),
        max: usize::from(u8::MAX),
    })?;
    out.put_u8(len);
    out.put_slice(content);
    Ok(())
}

fn encode_submit(s: &Submit, version: Version, out: &mut BytesMut) -> Result<(), EncodeError> {
    let v3 = version == Version::V30;
    let terminal = version.terminal_id_len();
    out.put_u64(s.msg_id);
    out.put_u8(s.pk_total);
    out.put_u8(s.pk_number);
    out.put_u8(s.registered_delivery);
    out.put_u8(s.msg_level);
    put_text(out, &s.service_id, 10, field!("Service_Id"))?;
    out.put_u8(s.fee_user_type);
    put_text(out, &s.fee_terminal_id, terminal, field!("Fee_terminal_Id"))?;
    if v3 {
        out.put_u8(s.fee_terminal_type);
    }
    out.put_u8(s.tp_pid);
    out.put_u8(s.tp_udhi);
    out.put_u8(s.msg_fmt);
    put_text(out, &s.msg_src, 6, field!("Msg_src"))?;
    put_text(out, &s.fee_type, 2, field!("FeeType"))?;
    put_text(out, &s.fee_code, 6, field!("FeeCode"))?;
    put_text(out, &s.valid_time, 17, field!("ValId_Time"))?;
    put_text(out, &s.at_time, 17, field!("At_Time"))?;
    put_text(out, &s.src_id, 21, field!("Src_Id"))?;
    let count = s.dest_terminal_ids.len();
    let count_octet = u8::try_from(count)
        .ok()
        .filter(|&n| n > 0 && usize::from(n) <= MAX_DESTINATIONS)
        .ok_or(EncodeError::Destinations(count))?;
    out.put_u8(count_octet);
    for dest in &s.dest_terminal_ids {
        put_text(out, dest, terminal, field!("Dest_terminal_Id"))?;
    }
    if v3 {
        out.put_u8(s.dest_terminal_type);
    }
    put_content(out, &s.msg_content)?;
    put_text(
        out,
        &s.link_id,
        version.link_id_len(),
        field!("LinkID/Reserve"),
    )?;
    Ok(())
}

fn encode_deliver(d: &Deliver, version: Version, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_u64(d.msg_id);
    put_text(out, &d.dest_id, 21, field!("Dest_Id"))?;
    put_text(out, &d.service_id, 10, field!("Service_Id"))?;
    out.put_u8(d.tp_pid);
    out.put_u8(d.tp_udhi);
    out.put_u8(d.msg_fmt);
    put_text(
        out,
        &d.src_terminal_id,
        version.terminal_id_len(),
        field!("Src_terminal_Id"),
    )?;
    if version == Version::V30 {
        out.put_u8(d.src_terminal_type);
    }
    out.put_u8(d.registered_delivery);
    put_content(out, &d.msg_content)?;
    put_text(
        out,
        &d.link_id,
        version.link_id_len(),
        field!("LinkID/Reserve"),
    )?;
    Ok(())
}
