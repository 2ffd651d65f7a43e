//! Bytes → commands: the length check, then rusmpp's body decoder, then our strictness checks.

use bytes::BytesMut;
use rusmpp::command::CommandParts;
use rusmpp::decode::DecodeWithKeyOptional;
use rusmpp::encode::owned::Encode;
use rusmpp::encode::Length;
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use super::failure::{classify, DecodeFailure};
use super::{is_response, peek_header, Header, HEADER_LEN};

/// The default largest frame accepted: 64 KiB holds any message a handset can receive (255
/// concatenated parts are under 36 KiB of user data) while bounding what one peer can make us
/// buffer per connection.
pub const DEFAULT_MAX_LEN: usize = 64 * 1024;

/// The stream can no longer be framed: answer `generic_nack` with `ESME_RINVCMDLEN` and the
/// header's sequence number, then close the connection (SMPP 3.4 §2.9: the length is the only
/// way to find the next frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("command_length {length} is outside 16..={max}")]
    InvalidLength {
        length: u32,
        max: usize,
        header: Header,
    },
}

impl FrameError {
    /// The header of the frame that broke the stream, for the `generic_nack`.
    pub fn header(&self) -> &Header {
        match self {
            FrameError::InvalidLength { header, .. } => header,
        }
    }

    /// The status of the `generic_nack` owed to the peer.
    pub fn status(&self) -> CommandStatus {
        CommandStatus::EsmeRinvcmdlen
    }
}

/// One framed PDU from the peer.
// Boxing the command would cost an allocation on every PDU to save a few hundred bytes on
// the rare rejection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A well-formed command.
    Command(Command),
    /// The frame was intact but its body was not: answer with `status`
    /// ([`super::error_response`]) and keep the session.
    Rejected {
        header: Header,
        status: CommandStatus,
        reason: DecodeFailure,
    },
}

/// Splits frames off a read buffer and decodes them. Holds only its limit, so one decoder
/// can serve every connection of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    max_len: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LEN)
    }
}

impl Decoder {
    /// A decoder that refuses frames longer than `max_len` octets (header included). SMPP
    /// deployments use 4-64 KiB; a limit below the header length is raised to it.
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
        }
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Takes the next frame off `buf`. `Ok(None)`: not all of it is buffered yet (at most the
    /// missing octets have been reserved). A length outside `16..=max_len` is an error before
    /// any octet of the body is reserved or read, so a `command_length` of 0xFFFFFFFF costs
    /// nothing.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        let Some(header) = peek_header(buf) else {
            return Ok(None);
        };
        let length = usize::try_from(header.command_length).unwrap_or(usize::MAX);
        if !(HEADER_LEN..=self.max_len).contains(&length) {
            return Err(FrameError::InvalidLength {
                length: header.command_length,
                max: self.max_len,
                header,
            });
        }
        if buf.len() < length {
            // Bounded by max_len through the check above.
            buf.reserve(length - buf.len());
            return Ok(None);
        }
        let frame = buf.split_to(length);
        let raw = frame.get(HEADER_LEN..).unwrap_or_default();
        // rusmpp consumes what it decodes; the copy lets the TLVs be checked against their
        // original octets afterwards, and lets the read buffer reuse its space at once
        // instead of staying pinned by the decoded command's fields.
        Ok(Some(decode_body(header, raw, BytesMut::from(raw))))
    }
}

fn rejected(header: Header, status: CommandStatus, reason: DecodeFailure) -> Inbound {
    Inbound::Rejected {
        header,
        status,
        reason,
    }
}

/// Decodes one body of exactly the length the header announced; `raw` is the same octets.
fn decode_body(header: Header, raw: &[u8], mut body: BytesMut) -> Inbound {
    let id = CommandId::from(header.command_id);
    if let CommandId::Other(command_id) = id {
        // SMPP 3.4 §5.1.2.1: not ours to guess at; rusmpp would return it as Pdu::Other.
        return rejected(
            header,
            CommandStatus::EsmeRinvcmdid,
            DecodeFailure::UnknownCommandId { command_id },
        );
    }
    let body_len = body.len();
    let pdu = match Pdu::decode(id, &mut body, body_len) {
        Ok(Some((pdu, _))) => Some(pdu),
        Ok(None) if body_len > 0 => {
            // rusmpp declines a body for PDUs that have none (enquire_link, unbind, ...).
            return rejected(
                header,
                CommandStatus::EsmeRinvcmdlen,
                DecodeFailure::TrailingBytes { count: body_len },
            );
        }
        // SMPP 3.4 §4.4.2 and its siblings: a response with an error status carries no body,
        // and many SMSCs and ESMEs also leave it out on success (deliver_sm_resp above all).
        Ok(None) if is_response(header.command_id) => None,
        Ok(None) => {
            return rejected(
                header,
                CommandStatus::EsmeRinvcmdlen,
                DecodeFailure::MissingBody {
                    command_id: header.command_id,
                },
            );
        }
        Err(error) => {
            let (status, reason) = classify(&error);
            return rejected(header, status, reason);
        }
    };
    if !body.is_empty() {
        // Fixed-field bodies stop where their fields end; what follows is not ignored.
        return rejected(
            header,
            CommandStatus::EsmeRinvcmdlen,
            DecodeFailure::TrailingBytes { count: body.len() },
        );
    }
    if let Some(pdu) = &pdu {
        if let Some(reason) = tlv_length_mismatch(pdu) {
            return rejected(header, CommandStatus::EsmeRinvtlvlen, reason);
        }
        if let Some(reason) = tlv_not_preserved(pdu, raw) {
            return rejected(header, CommandStatus::EsmeRinvtlvval, reason);
        }
    }
    let status = CommandStatus::from(header.command_status);
    Inbound::Command(Command::from_parts(CommandParts::new(
        id,
        status,
        header.sequence_number,
        pdu,
    )))
}

/// rusmpp decodes a known TLV's value by its type and ignores the declared length, so a
/// `sar_msg_ref_num` declared 3 octets long would silently shift the rest of the stream.
/// Every declared length must equal what its value took (SMPP 3.4 §3.2.4.1).
fn tlv_length_mismatch(pdu: &Pdu) -> Option<DecodeFailure> {
    let (list, single) = tlvs_of(pdu);
    list.iter().chain(single).find_map(|tlv| {
        let actual = tlv.value().map_or(0, Length::length);
        (usize::from(tlv.value_length()) != actual).then(|| DecodeFailure::TlvLength {
            tag: u16::from(tlv.tag()),
            declared: tlv.value_length(),
            actual,
        })
    })
}

/// rusmpp reads some typed TLV values through masks and drops the bits the spec reserves
/// (callback_num_pres_ind bits 7-4, ms_msg_wait_facilities bits 6-2, ...), so relaying the
/// decoded value would change it. Reserved bits must be zero (SMPP 3.4 §5.3.2), so such a
/// TLV is refused rather than silently altered. Vendor TLVs are kept as raw octets and
/// cannot differ; the check only runs when a typed TLV is present.
fn tlv_not_preserved(pdu: &Pdu, raw: &[u8]) -> Option<DecodeFailure> {
    let (list, single) = tlvs_of(pdu);
    let typed = list
        .iter()
        .chain(single)
        .any(|tlv| !matches!(tlv.value(), None | Some(TlvValue::Other { .. })));
    if !typed {
        return None;
    }
    // The TLVs end the body and their lengths were checked, so they are its last octets.
    let tail: usize = list
        .iter()
        .chain(single)
        .map(|tlv| 4 + usize::from(tlv.value_length()))
        .sum();
    let mut at = raw.len().checked_sub(tail)?;
    let mut scratch = BytesMut::with_capacity(tail);
    for tlv in list.iter().chain(single) {
        scratch.clear();
        tlv.encode(&mut scratch);
        let end = at + scratch.len();
        if raw.get(at..end) != Some(&scratch[..]) {
            return Some(DecodeFailure::TlvValue {
                tag: u16::from(tlv.tag()),
            });
        }
        at = end;
    }
    None
}

/// The optional parameters of a PDU: its TLV list, or the single TLV some PDUs allow.
pub(crate) fn tlvs_of(pdu: &Pdu) -> (&[Tlv], Option<&Tlv>) {
    match pdu {
        Pdu::SubmitSm(p) => (p.tlvs(), None),
        Pdu::SubmitSmResp(p) => (p.tlvs(), None),
        Pdu::SubmitMulti(p) => (p.tlvs(), None),
        Pdu::SubmitMultiResp(p) => (p.tlvs(), None),
        Pdu::DeliverSm(p) => (p.tlvs(), None),
        Pdu::DeliverSmResp(p) => (p.tlvs(), None),
        Pdu::DataSm(p) => (p.tlvs(), None),
        Pdu::DataSmResp(p) => (p.tlvs(), None),
        Pdu::BroadcastSm(p) => (p.tlvs(), None),
        Pdu::BroadcastSmResp(p) => (p.tlvs(), None),
        Pdu::QueryBroadcastSmResp(p) => (p.tlvs(), None),
        Pdu::CancelBroadcastSm(p) => (p.tlvs(), None),
        Pdu::BindTransmitterResp(p) => (&[], p.sc_interface_version_tlv()),
        Pdu::BindReceiverResp(p) => (&[], p.sc_interface_version_tlv()),
        Pdu::BindTransceiverResp(p) => (&[], p.sc_interface_version_tlv()),
        Pdu::ReplaceSm(p) => (&[], p.message_payload_tlv()),
        Pdu::AlertNotification(p) => (&[], p.ms_availability_status_tlv()),
        Pdu::QueryBroadcastSm(p) => (&[], p.user_message_reference_tlv()),
        _ => (&[], None),
    }
}
