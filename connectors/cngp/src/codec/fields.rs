//! Reading and writing the fixed-width fields every CNGP body is made of.
//!
//! Reading works on a frame whose length was already checked, so nothing here allocates
//! from a length field: a slice is only taken when that many octets are there. Text fields
//! are `Octet String`s padded on the right; peers pad with NUL, some with spaces, and a few
//! leave garbage after a C-style terminator, so a field ends at its first NUL and trailing
//! spaces are dropped. What remains must be ASCII: these fields carry codes and numbers.

use bytes::{BufMut, BytesMut};

use super::{CommandId, EncodeError, FrameError};
use crate::msgid::{MsgId, MSG_ID_LEN};

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
    sequence_id: u32,
}

impl<'a> Reader<'a> {
    pub fn new(body: &'a [u8], command: CommandId, sequence_id: u32) -> Self {
        Self {
            rest: body,
            command,
            sequence_id,
        }
    }

    pub fn malformed(&self, reason: &'static str) -> FrameError {
        FrameError::Malformed {
            command: self.command,
            sequence_id: self.sequence_id,
            reason,
        }
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub fn take(&mut self, len: usize, field: Field) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < len {
            return Err(self.malformed(field.short));
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
        bytes.try_into().map_err(|_| self.malformed(field.short))
    }

    pub fn msg_id(&mut self) -> Result<MsgId, FrameError> {
        self.array::<MSG_ID_LEN>(field!("MsgID")).map(MsgId)
    }

    pub fn text(&mut self, width: usize, field: Field) -> Result<String, FrameError> {
        let raw = self.take(width, field)?;
        parse_text(raw).ok_or_else(|| self.malformed(field.text))
    }

    /// The body must end here: octets after the last field are refused.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("octets after the last field"))
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
