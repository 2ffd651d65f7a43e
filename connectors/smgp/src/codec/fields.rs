//! The fixed-width fields every SMGP body is made of: `tern-cn`'s readers and writers of
//! padded ASCII text and big-endian integers, with SMGP's [`FrameError`].

use tern_cn::fields::{BodyError, Flaw};

pub(crate) use tern_cn::field;
pub(crate) use tern_cn::fields::{check_text, parse_text, put_text, Field};

use super::{FrameError, RequestId};

impl BodyError for FrameError {
    type Header = (RequestId, u32);

    fn malformed((request, sequence_id): Self::Header, _: Flaw, reason: &'static str) -> Self {
        FrameError::Malformed {
            request,
            sequence_id,
            reason,
        }
    }
}

/// A cursor over one SMGP body.
pub(crate) type Reader<'a> = tern_cn::fields::Reader<'a, FrameError>;
