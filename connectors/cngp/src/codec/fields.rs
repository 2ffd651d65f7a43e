//! The fixed-width fields every CNGP body is made of: `tern-cn`'s readers and writers of
//! padded ASCII text and big-endian integers, with CNGP's [`FrameError`].

use tern_cn::fields::{BodyError, Flaw};

pub(crate) use tern_cn::field;
pub(crate) use tern_cn::fields::{check_text, parse_text, put_text};

use super::{CommandId, FrameError};

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

/// A cursor over one CNGP body.
pub(crate) type Reader<'a> = tern_cn::fields::Reader<'a, FrameError>;
