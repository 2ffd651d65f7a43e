//! MsgID: ten octets of BCD, twenty decimal digits: the gateway (SMGW) code in 3 octets,
//! the time MMDDHHMM in 4 and a sequence in 3, as SMGP 3.0 lays it out.
//!
//! CNGP 2.0 gives the same layout, so the type, its forms and its generator are
//! `tern-cn`'s ([`tern_cn::msgid::bcd`]): a peer's id is kept as its ten octets whatever
//! they hold, and a generator hands out at most 1,000,000 ids per minute, never one twice.

pub use tern_cn::msgid::bcd::{
    MsgId, MsgIdFields, MsgIdGenerator, ParseMsgIdError, IDS_PER_MINUTE, MAX_GATEWAY_CODE,
    MSG_ID_LEN,
};
