//! Wall-clock fields in Beijing time, as SGIP writes them.
//!
//! SGIP's times carry no zone: the second word of every sequence number is the command's
//! local time as the decimal MMDDHHMMSS, and a SUBMIT's ExpireTime and ScheduleTime are
//! `yymmddhhmmsstnnp` with `tnnp` fixed to `032+` ("Beijing time", SGIP 1.2 §4.2.3.3.1);
//! peers that follow SMPP 3.4 §7.1.1 instead are read too. China Standard Time is UTC+8
//! all year. The conversions are `tern-cn`'s, shared with the other Chinese operators'
//! protocols.

pub use tern_cn::time::{
    smpp_time_to_unix, timestamp_from_unix, timestamp_to_unix_near, unix_now,
    unix_to_smpp_absolute, Civil, SmppTimeError, CHINA_OFFSET_SECS, SMPP_TIME_LEN,
};
