//! Wall-clock fields in China Standard Time, as CMPP writes them.
//!
//! CMPP's timestamps (CONNECT's MMDDHHMMSS, Msg_Id's month to second, a report's
//! Submit_time and Done_time YYMMDDHHMM) carry no zone: peers write UTC+8, the operator
//! network's time, whatever the host's zone. ValId_Time and At_Time follow SMPP's format.
//! The conversions are `tern-cn`'s, shared with the other Chinese operators' protocols.

pub use tern_cn::time::{
    report_time_to_unix, smpp_time_to_unix, unix_now, unix_to_report_time, unix_to_smpp_absolute,
    Civil, SmppTimeError, CHINA_OFFSET_SECS,
};
