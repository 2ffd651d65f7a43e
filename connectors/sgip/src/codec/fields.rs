//! The fixed-width fields every SGIP body is made of: `tern-cn`'s readers and writers of
//! padded ASCII text and big-endian integers, with SGIP's [`FrameError`], its sequence
//! numbers and its Reserve.
//!
//! `Text` fields are left-aligned and padded with NUL (SGIP 1.2 §4.2.1). Reserve is read leniently: peers put anything there, so a Reserve that is not ASCII
//! text is read as empty instead of refusing the command.

use bytes::BytesMut;
use tern_cn::fields::{BodyError, Flaw};

pub(crate) use tern_cn::field;
pub(crate) use tern_cn::fields::{check_text, put_text, Field};

use super::{result, CommandId, EncodeError, FrameError, RESERVE_LEN};
use crate::msgid::{SequenceNumber, SEQUENCE_LEN};

/// A body of the wrong length is answered with result 8, a field of the wrong format with
/// result 5.
impl BodyError for FrameError {
    type Header = (CommandId, SequenceNumber);

    fn malformed((command, sequence): Self::Header, flaw: Flaw, reason: &'static str) -> Self {
        let result = match flaw {
            Flaw::Length => result::BAD_LENGTH,
            Flaw::Value => result::BAD_PARAMETER_FORMAT,
        };
        FrameError::Malformed {
            command,
            sequence,
            reason,
            result,
        }
    }
}

/// A cursor over one SGIP body.
pub(crate) type Reader<'a> = tern_cn::fields::Reader<'a, FrameError>;

/// The fields only SGIP has.
pub(crate) trait SgipFields {
    /// A twelve-octet sequence number (a SubmitSequenceNumber).
    fn sequence(&mut self, field: Field) -> Result<SequenceNumber, FrameError>;

    /// The 8-octet Reserve: its text, or empty when it is not ASCII text.
    fn reserve(&mut self) -> Result<String, FrameError>;
}

impl SgipFields for Reader<'_> {
    fn sequence(&mut self, field: Field) -> Result<SequenceNumber, FrameError> {
        Ok(SequenceNumber::from_bytes(
            self.array::<SEQUENCE_LEN>(field)?,
        ))
    }

    fn reserve(&mut self) -> Result<String, FrameError> {
        self.lenient_text(RESERVE_LEN, field!("Reserve"))
    }
}

/// Writes an 8-octet Reserve.
pub(crate) fn put_reserve(out: &mut BytesMut, value: &str) -> Result<(), EncodeError> {
    put_text(out, value, RESERVE_LEN, field!("Reserve"))?;
    Ok(())
}
