//! The user data of a SUBMIT or DELIVER ↔ the parts of a [`Message`]: what every protocol
//! here does alike once its PDU's fields are read.
//!
//! Incoming: the content is checked against its format's limit, a UDH split off when the
//! protocol's UDH indicator is set, a concatenation IE read from it, and the rest decoded
//! ([`user_data`]); a SUBMIT's report flag, priority, service and times are read alike
//! ([`submit_message`]). Parts of a long text whose UDH holds the concatenation alone can
//! be joined ([`text_part`], [`joined`]) and split again for the operator's part size.
//! Outgoing: a long message is split with an 8-bit-reference concatenation UDH, leaving
//! room in every part for the signature the operator appends; a message that already is a
//! part goes as one part with its UDH ([`wire_parts`]). Which PDU field or TLV carries the
//! indicator and the part numbers is the protocol's.

use bytes::Bytes;
use tern_encoding::udh::{concat_udh16, concat_udh8};
use tern_encoding::{parse_concat_udh, split_user_data, Alphabet, UdhError};
use tern_model::{Address, ConcatRef, Message, Priority, ReceiptRequest};

use crate::address::address_of;
use crate::content::{self, max_content, ContentError};
use crate::time::{smpp_time_to_unix, SmppTimeError};

/// What an incoming SUBMIT or DELIVER's content makes of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    pub udh: Option<Bytes>,
    pub concat: Option<ConcatRef>,
    pub body: tern_model::Body,
}

/// Content in `format`: at most its limit (`max_ascii` in ASCII), a UDH split off when
/// `has_udh`, and the rest decoded.
pub fn user_data(
    has_udh: bool,
    format: u8,
    data: &[u8],
    max_ascii: usize,
) -> Result<UserData, ContentError> {
    let max = max_content(format, max_ascii);
    if data.len() > max {
        return Err(ContentError::TooLong {
            octets: data.len(),
            max,
        });
    }
    let (udh, text) = if has_udh {
        let (udh, rest) = split_user_data(data).map_err(ContentError::Udh)?;
        (Some(udh), rest)
    } else {
        (None, data)
    };
    let concat = match udh.map(parse_concat_udh).transpose() {
        Ok(found) => found.flatten().map(|info| ConcatRef {
            reference: info.reference,
            total: info.total,
            seq: info.seq,
        }),
        // TS 23.040 §9.2.3.24.1: a concatenation IE with impossible numbers is ignored
        // and the message treated as a single one.
        Err(UdhError::Concat(_)) => None,
        Err(error) => return Err(ContentError::Udh(error)),
    };
    Ok(UserData {
        udh: udh.map(Bytes::copy_from_slice),
        body: content::decode(format, text, concat.is_some())?,
        concat,
    })
}

/// A message from `source` with `data` in `format`; the destination and the rest are the
/// caller's to set.
pub fn message(source: Address, format: u8, protocol_id: u8, data: UserData) -> Message {
    Message {
        coding: pipeline_coding(format, &data.body),
        data_coding: format,
        udh: data.udh,
        body: data.body,
        concat: data.concat,
        protocol_id,
        ..Message::text(source, Address::default(), "")
    }
}

/// What a SUBMIT says of its message besides its destinations, read from the protocol's
/// fields. The times are in SMPP's format, each with the name of its field for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitFields<'a> {
    pub source: &'a str,
    /// The protocol's UDH indicator is set.
    pub has_udh: bool,
    pub format: u8,
    pub content: &'a [u8],
    /// The largest ASCII content of one message.
    pub max_ascii: usize,
    pub protocol_id: u8,
    /// The report flag asks for a final report.
    pub wants_report: bool,
    /// The protocol's priority or message level; above 3 reads as 3.
    pub priority: u8,
    pub service_id: &'a str,
    /// The validity period and its field's name.
    pub valid_time: (&'a str, &'static str),
    /// The scheduled delivery time and its field's name.
    pub at_time: (&'a str, &'static str),
    /// The domain TLVs the protocol's fields carry (a LinkID, say).
    pub tlvs: Vec<tern_model::Tlv>,
}

/// Why a SUBMIT's fields do not make a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitError {
    Content(ContentError),
    /// A time that is not in SMPP's format, with its field's name.
    Time {
        field: &'static str,
        error: SmppTimeError,
    },
}

impl From<ContentError> for SubmitError {
    fn from(error: ContentError) -> Self {
        SubmitError::Content(error)
    }
}

/// The message a SUBMIT makes for each of its destinations (the destination is the
/// caller's to set, as [`crate::address::per_destination`] does): the content checked and
/// decoded as [`user_data`] does, then the times read relative to `now_unix`. CMPP, SMGP
/// and CNGP read their SUBMITs by these rules; only where each field sits differs.
pub fn submit_message(fields: SubmitFields<'_>, now_unix: i64) -> Result<Message, SubmitError> {
    let data = user_data(
        fields.has_udh,
        fields.format,
        fields.content,
        fields.max_ascii,
    )?;
    let time = |(text, field): (&str, &'static str)| {
        smpp_time_to_unix(text, now_unix).map_err(|error| SubmitError::Time { field, error })
    };
    let validity_unix = time(fields.valid_time)?;
    let schedule_unix = time(fields.at_time)?;
    Ok(Message {
        receipt: if fields.wants_report {
            ReceiptRequest::Final
        } else {
            ReceiptRequest::None
        },
        priority: Priority(fields.priority.min(3)),
        service_type: fields.service_id.to_owned(),
        validity_unix,
        schedule_unix,
        tlvs: fields.tlvs,
        ..message(
            address_of(fields.source),
            fields.format,
            fields.protocol_id,
            data,
        )
    })
}

/// One part of a longer text: its concatenation numbers and the part's octets after the
/// UDH, when `has_udh`, the format is text and the UDH holds the concatenation and nothing
/// else. Anything else (ports, binary, odd headers) travels as sent.
pub fn text_part(has_udh: bool, format: u8, data: &[u8]) -> Option<(ConcatRef, &[u8])> {
    if !has_udh || !content::is_text(format) {
        return None;
    }
    let (udh, octets) = split_user_data(data).ok()?;
    // Exactly one IE: 8-bit (00, 3 octets) or 16-bit (08, 4 octets) concatenation.
    let only_concat = matches!(udh, [5, 0x00, 3, ..] | [6, 0x08, 4, ..]);
    let info = parse_concat_udh(udh).ok().flatten()?;
    only_concat.then_some((
        ConcatRef {
            reference: info.reference,
            total: info.total,
            seq: info.seq,
        },
        octets,
    ))
}

/// The message whose parts' octets (as [`text_part`] gives them, in order) are `octets`,
/// with the addresses and options of `part`, one of its parts.
pub fn joined(part: &Message, octets: &[u8]) -> Result<Message, ContentError> {
    let body = content::decode(part.data_coding, octets, false)?;
    Ok(Message {
        udh: None,
        concat: None,
        coding: pipeline_coding(part.data_coding, &body),
        body,
        ..part.clone()
    })
}

/// The coding a text in `format` has in the pipeline: ASCII text that the GSM 7-bit
/// alphabet holds is GSM 7-bit text, as an SMS of an SMPP customer would be. An SMPP
/// operator then sends (and the ledger bills) it as the SP counted it: 160 characters a
/// part, not 140 octets of 8-bit ASCII, so that an SP's one SMS of 141 to 160 characters
/// is not charged and delivered as two. Operators of these protocols write 7-bit text as
/// ASCII again ([`content::encode`]).
fn pipeline_coding(format: u8, body: &tern_model::Body) -> tern_model::Coding {
    use tern_model::{Body, Coding};
    match (content::coding_of(format), body) {
        (Coding::Ascii, Body::Text(text)) if Alphabet::Gsm7.can_encode(text) => Coding::Gsm7,
        (coding, _) => coding,
    }
}

/// How a link writes parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Characters the operator appends to every part; each part leaves room for them.
    pub signature_chars: usize,
    /// A message needing more parts is refused.
    pub max_parts: u8,
    /// Send text that is not ASCII as GBK when GBK can carry all of it.
    pub prefer_gbk: bool,
    /// The largest ASCII content of one message.
    pub max_ascii: usize,
}

/// One part on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WirePart {
    pub format: u8,
    /// The content, with the UDH first when `udh` is set.
    pub content: Bytes,
    /// For a part that starts with a UDH, the total and number of its concatenation
    /// (1 and 1 for a UDH without one).
    pub udh: Option<(u8, u8)>,
}

/// The parts of `message`: split with an 8-bit-reference UDH of `reference` when long;
/// sent as one part with its UDH when it already is a part (it carries a UDH or a
/// concatenation reference).
pub fn wire_parts(
    message: &Message,
    split: &Split,
    reference: u8,
) -> Result<Vec<WirePart>, ContentError> {
    let encoded = content::encode(&message.body, message.coding, split.prefer_gbk);
    let udh = match (&message.udh, message.concat) {
        (Some(udh), _) => Some(udh.to_vec()),
        (None, Some(part)) => Some(match u8::try_from(part.reference) {
            Ok(reference) => concat_udh8(reference, part.total, part.seq).to_vec(),
            Err(_) => concat_udh16(part.reference, part.total, part.seq).to_vec(),
        }),
        (None, None) => None,
    };
    if let Some(udh) = udh {
        let numbers = match parse_concat_udh(&udh) {
            Ok(Some(info)) => (info.total, info.seq),
            _ => (1, 1),
        };
        let mut content = udh;
        content.extend_from_slice(&encoded.octets);
        let limit = max_content(encoded.format, split.max_ascii);
        if content.len() > limit {
            return Err(ContentError::TooLong {
                octets: content.len(),
                max: limit,
            });
        }
        return Ok(vec![WirePart {
            format: encoded.format,
            content: content.into(),
            udh: Some(numbers),
        }]);
    }
    let parts = encoded.split(split.signature_chars, split.max_parts, split.max_ascii)?;
    // split returns at most max_parts (a u8) parts.
    let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
    Ok(parts
        .into_iter()
        .zip(1..=total)
        .map(|(octets, seq)| {
            if total == 1 {
                return WirePart {
                    format: encoded.format,
                    content: Bytes::copy_from_slice(octets),
                    udh: None,
                };
            }
            let mut content = concat_udh8(reference, total, seq).to_vec();
            content.extend_from_slice(octets);
            WirePart {
                format: encoded.format,
                content: content.into(),
                udh: Some((total, seq)),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests;
