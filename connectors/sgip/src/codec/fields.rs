//! Reading and writing the fixed-width fields every SGIP body is made of.
//!
//! Reading works on a frame whose length was already checked, so nothing here allocates
//! from a length field: a slice is only taken when that many octets are there. `Text`
//! fields are left-aligned and padded with NUL (SGIP 1.2 §4.2.1); some peers pad with
//! spaces or leave garbage after a C-style terminator, so a field ends at its first NUL and
//! trailing spaces are dropped. What remains must be ASCII: these fields carry numbers,
//! codes and login names. Reserve is read more leniently still: peers put anything there,
//! so a Reserve that is not ASCII text is read as empty instead of refusing the command.
//! Writing pads with NUL.

use bytes::{BufMut, BytesMut};

use super::{result, CommandId, EncodeError, FrameError, RESERVE_LEN};
use crate::msgid::{SequenceNumber, SEQUENCE_LEN};

/// The two reasons a field can be refused, named after the field (built by [`field!`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The name in the specification, for encode errors.
    pub name: &'static str,
    /// The body ended inside this field.
    pub short: &'static str,
    /// The field's content is not ASCII.
    pub text: &'static str,
}

/// A [`Field`] for a spec field name, with its reasons as static strings.
macro_rules! field {
    ($name:literal) => {
        $crate::codec::fields::Field {
            name: $name,
            short: concat!("body ends inside ", $name),
            text: concat!($name, " is not ASCII text"),
        }
    };
}
pub(crate) use field;

/// A cursor over one body.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    command: CommandId,
    sequence: SequenceNumber,
}

impl<'a> Reader<'a> {
    pub fn new(body: &'a [u8], command: CommandId, sequence: SequenceNumber) -> Self {
        Self {
            rest: body,
            command,
            sequence,
        }
    }

    /// A body of the wrong length: result 8.
    pub fn short(&self, reason: &'static str) -> FrameError {
        self.malformed(reason, result::BAD_LENGTH)
    }

    /// A field of the wrong format or range: result 5.
    pub fn bad_value(&self, reason: &'static str) -> FrameError {
        self.malformed(reason, result::BAD_PARAMETER_FORMAT)
    }

    fn malformed(&self, reason: &'static str, result: u8) -> FrameError {
        FrameError::Malformed {
            command: self.command,
            sequence: self.sequence,
            reason,
            result,
        }
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn take(&mut self, len: usize, field: Field) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < len {
            return Err(self.short(field.short));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub fn u8(&mut self, field: Field) -> Result<u8, FrameError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    pub fn u32(&mut self, field: Field) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn array<const N: usize>(&mut self, field: Field) -> Result<[u8; N], FrameError> {
        let bytes = self.take(N, field)?;
        bytes.try_into().map_err(|_| self.short(field.short))
    }

    pub fn sequence(&mut self, field: Field) -> Result<SequenceNumber, FrameError> {
        Ok(SequenceNumber::from_bytes(
            self.array::<SEQUENCE_LEN>(field)?,
        ))
    }

    pub fn text(&mut self, width: usize, field: Field) -> Result<String, FrameError> {
        let raw = self.take(width, field)?;
        parse_text(raw).ok_or_else(|| self.bad_value(field.text))
    }

    /// The 8-octet Reserve: its text, or empty when it is not ASCII text.
    pub fn reserve(&mut self) -> Result<String, FrameError> {
        let raw = self.take(RESERVE_LEN, field!("Reserve"))?;
        Ok(parse_text(raw).unwrap_or_default())
    }

    /// The body must end here: octets after the last field are refused.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.short("octets after the last field"))
        }
    }
}

/// A padded text field without its padding, or `None` when it is not ASCII.
pub(crate) fn parse_text(raw: &[u8]) -> Option<String> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let text = raw.get(..end)?;
    let trimmed = match text.iter().rposition(|&b| b != b' ') {
        Some(last) => text.get(..=last)?,
        None => &[],
    };
    if !trimmed.is_ascii() {
        return None;
    }
    // ASCII is UTF-8.
    String::from_utf8(trimmed.to_vec()).ok()
}

/// Checks that `value` can be written as a text field of `width` octets.
pub(crate) fn check_text(value: &str, width: usize, field: Field) -> Result<(), EncodeError> {
    if !value.is_ascii() || value.bytes().any(|b| b == 0) {
        return Err(EncodeError::NotAscii { field: field.name });
    }
    if value.len() > width {
        return Err(EncodeError::TooLong {
            field: field.name,
            len: value.len(),
            max: width,
        });
    }
    Ok(())
}

/// Writes `value` padded with NUL to `width` octets.
pub(crate) fn put_text(
    out: &mut BytesMut,
    value: &str,
    width: usize,
    field: Field,
) -> Result<(), EncodeError> {
    check_text(value, width, field)?;
    out.put_slice(value.as_bytes());
    out.put_bytes(0, width - value.len());
    Ok(())
}

/// Writes an 8-octet Reserve.
pub(crate) fn put_reserve(out: &mut BytesMut, value: &str) -> Result<(), EncodeError> {
    put_text(out, value, RESERVE_LEN, field!("Reserve"))
}
