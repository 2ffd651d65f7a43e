//! Wall-clock fields in China Standard Time, as CNGP writes them.
//!
//! CNGP's timestamps (Login's MMDDHHMMSS, MsgID's month to minute, DELIVER's RecvTime
//! YYYYMMDDHHMMSS, a report's YYMMDDHHMM) carry no zone: peers write UTC+8, the operator
//! network's time, whatever the host's zone. ValidTime and AtTime follow SMPP's format.
//! The conversions are `tern-cn`'s, shared with the other Chinese operators' protocols.

pub use tern_cn::time::{
    recv_time_to_unix, report_time_to_unix, smpp_time_to_unix, unix_now, unix_to_recv_time,
    unix_to_report_time, unix_to_smpp_absolute, Civil, SmppTimeError, CHINA_OFFSET_SECS,
};
