//! The fixed-width fields every CMPP body is made of: `tern-cn`'s readers and writers of
//! padded ASCII text and big-endian integers, with CMPP's [`FrameError`] and its 1- or
//! 4-octet integers (2.0 and 3.0 write some results in one and some in the other).

use bytes::{BufMut, BytesMut};
use tern_cn::fields::{BodyError, Flaw};

pub(crate) use tern_cn::field;
pub(crate) use tern_cn::fields::{check_text, put_text, Field};

use super::{CommandId, EncodeError, FrameError};

impl BodyError for FrameError {
    type Header = (CommandId, u32);

    fn malformed((command, sequence_id): Self::Header, _: Flaw, reason: &'static str) -> Self {
        FrameError::Malformed {
            command,
            sequence_id,
            reason,
        }
    }
}

/// A cursor over one CMPP body.
pub(crate) type Reader<'a> = tern_cn::fields::Reader<'a, FrameError>;

/// Writes a 1-octet (2.0) or 4-octet (3.0) integer, by `width`.
pub(crate) fn put_uint(
    out: &mut BytesMut,
    value: u32,
    width: usize,
    field: Field,
) -> Result<(), EncodeError> {
    if width == 1 {
        let byte = u8::try_from(value).map_err(|_| EncodeError::ValueTooLarge {
            field: field.name,
            value,
            max: u32::from(u8::MAX),
        })?;
        out.put_u8(byte);
    } else {
        out.put_u32(value);
    }
    Ok(())
}
