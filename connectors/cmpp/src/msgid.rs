//! Msg_Id: 64 bits of month, day, hour, minute, second, gateway code and sequence.
