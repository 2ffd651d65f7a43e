//! The PDUs of SGIP 1.2 a gateway needs, as the specification lays them out (§4.2.3 and
//! §4.4). Text fields are `Text`s of fixed width, left-aligned and padded with NUL; they are
//! kept here as Rust strings without the padding (ASCII; a field with other octets is
//! malformed, except Reserve, which is read leniently). Integer fields are one octet unless
//! said otherwise.

use bytes::Bytes;

use crate::msgid::SequenceNumber;

/// The command ids of SGIP 1.2 §5.1 this codec implements; a response is its request's id
/// with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandId {
    Bind,
    BindResp,
    Unbind,
    UnbindResp,
    Submit,
    SubmitResp,
    Deliver,
    DeliverResp,
    Report,
    ReportResp,
    Trace,
    TraceResp,
}

impl CommandId {
    pub fn value(self) -> u32 {
        match self {
            CommandId::Bind => 0x0000_0001,
            CommandId::BindResp => 0x8000_0001,
            CommandId::Unbind => 0x0000_0002,
            CommandId::UnbindResp => 0x8000_0002,
            CommandId::Submit => 0x0000_0003,
            CommandId::SubmitResp => 0x8000_0003,
            CommandId::Deliver => 0x0000_0004,
            CommandId::DeliverResp => 0x8000_0004,
            CommandId::Report => 0x0000_0005,
            CommandId::ReportResp => 0x8000_0005,
            CommandId::Trace => 0x0000_1000,
            CommandId::TraceResp => 0x8000_1000,
        }
    }

    pub fn from_value(value: u32) -> Option<CommandId> {
        Some(match value {
            0x0000_0001 => CommandId::Bind,
            0x8000_0001 => CommandId::BindResp,
            0x0000_0002 => CommandId::Unbind,
            0x8000_0002 => CommandId::UnbindResp,
            0x0000_0003 => CommandId::Submit,
            0x8000_0003 => CommandId::SubmitResp,
            0x0000_0004 => CommandId::Deliver,
            0x8000_0004 => CommandId::DeliverResp,
            0x0000_0005 => CommandId::Report,
            0x8000_0005 => CommandId::ReportResp,
            0x0000_1000 => CommandId::Trace,
            0x8000_1000 => CommandId::TraceResp,
            _ => return None,
        })
    }

    pub fn is_response(self) -> bool {
        self.value() & 0x8000_0000 != 0
    }
}

/// Bind's Login Type: who connects to whom, and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginType {
    /// 1: an SP connects to the SMG to send commands (SUBMIT, TRACE).
    SpToSmg,
    /// 2: the SMG connects to an SP to send commands (DELIVER, REPORT).
    SmgToSp,
    /// 3: between SMGs, to forward commands.
    SmgToSmg,
    /// 4: an SMG to the GNS, to look up and maintain routes.
    SmgToGns,
    /// 5: the GNS to an SMG, to update routes.
    GnsToSmg,
    /// 6: between the primary and the standby GNS.
    GnsToGns,
    /// 11: a test connection of an SP or an SMG, for TRACE.
    Test,
}

impl LoginType {
    pub fn value(self) -> u8 {
        match self {
            LoginType::SpToSmg => 1,
            LoginType::SmgToSp => 2,
            LoginType::SmgToSmg => 3,
            LoginType::SmgToGns => 4,
            LoginType::GnsToSmg => 5,
            LoginType::GnsToGns => 6,
            LoginType::Test => 11,
        }
    }

    /// The login type of a Login Type octet; `None` for a reserved value.
    pub fn from_value(value: u8) -> Option<LoginType> {
        Some(match value {
            1 => LoginType::SpToSmg,
            2 => LoginType::SmgToSp,
            3 => LoginType::SmgToSmg,
            4 => LoginType::SmgToGns,
            5 => LoginType::GnsToSmg,
            6 => LoginType::GnsToGns,
            11 => LoginType::Test,
            _ => return None,
        })
    }
}

/// ReportFlag values (SGIP 1.2 §4.2.3.3.1).
pub mod report_flag {
    /// A report only when the message finally fails (the default).
    pub const ON_FAILURE: u8 = 0;
    /// A report whether the message is delivered or not.
    pub const ALWAYS: u8 = 1;
    pub const NEVER: u8 = 2;
    /// Carries monthly billing only, is not sent to the user, and is reported on.
    pub const BILLING_ONLY: u8 = 3;
}

/// MorelatetoMTFlag values: why the MT is sent.
pub mod mo_relation {
    /// The first MT answering an MO request.
    pub const FIRST_REPLY: u8 = 0;
    /// A further MT answering an MO request.
    pub const FURTHER_REPLY: u8 = 1;
    /// An MT not caused by an MO.
    pub const UNSOLICITED: u8 = 2;
    /// An MT sent as system feedback.
    pub const SYSTEM: u8 = 3;
}

/// FeeType values (SGIP 1.2 §5.3).
pub mod fee_type {
    /// No information fee; the bill only offsets the SP's channel fee.
    pub const CHANNEL_ONLY: u8 = 0;
    pub const FREE: u8 = 1;
    pub const PER_MESSAGE: u8 = 2;
    pub const MONTHLY: u8 = 3;
    /// The SP charges the user itself.
    pub const BY_SP: u8 = 4;
}

/// REPORT's ReportType and State values (SGIP 1.2 §4.2.3.5.1).
pub mod report {
    /// ReportType: a report on an earlier SUBMIT.
    pub const ON_SUBMIT: u8 = 0;
    /// ReportType: a report on an earlier forwarded DELIVER.
    pub const ON_DELIVER: u8 = 1;
    /// State: delivered.
    pub const DELIVERED: u8 = 0;
    /// State: waiting to be sent.
    pub const WAITING: u8 = 1;
    /// State: failed; ErrorCode says why.
    pub const FAILED: u8 = 2;
}

/// SGIP_BIND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// A [`LoginType`] value; other values are reserved, and kept so they can be refused
    /// with the right result.
    pub login_type: u8,
    /// 16 octets.
    pub login_name: String,
    /// 16 octets.
    pub login_password: String,
    /// 8 octets.
    pub reserve: String,
}

/// Bind_Resp, Submit_Resp, Deliver_Resp and Report_Resp, which share one layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// 0 accepted; otherwise a [`result`](super::result) code.
    pub result: u8,
    /// 8 octets.
    pub reserve: String,
}

/// SGIP_SUBMIT: an MT from an SP to the SMG, to one or more users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// 21 octets: the SP's access number, the sender the user sees.
    pub sp_number: String,
    /// 21 octets: who pays. Empty: each user (group sends only); 21 zeros: the SP;
    /// otherwise a number with the "86" prefix.
    pub charge_number: String,
    /// UserCount (1 to 100) numbers of 21 octets, each with the "86" prefix.
    pub user_numbers: Vec<String>,
    /// 5 octets: the corporation code, 0-99999.
    pub corp_id: String,
    /// 10 octets: the service code, defined by the SP.
    pub service_type: String,
    /// A [`fee_type`] value.
    pub fee_type: u8,
    /// 6 octets each: the fee and the credit given, in fen (0-99999).
    pub fee_value: String,
    pub given_value: String,
    /// 0 the fee is receivable, 1 it is collected.
    pub agent_flag: u8,
    /// A [`mo_relation`] value.
    pub morelate_to_mt_flag: u8,
    /// 0-9, lowest to highest.
    pub priority: u8,
    /// 16 octets each, `yymmddhhmmss032+`, or empty for the SMSC's default / at once.
    pub expire_time: String,
    pub schedule_time: String,
    /// A [`report_flag`] value.
    pub report_flag: u8,
    pub tp_pid: u8,
    /// Bit 0: the content starts with a user data header.
    pub tp_udhi: u8,
    /// 0 ASCII, 3 write to the card, 4 binary, 8 UCS-2, 15 GBK; others as GSM 03.38 DCS.
    pub message_coding: u8,
    /// 0: a short message; other values are not defined.
    pub message_type: u8,
    /// MessageLength (4 octets) octets.
    pub message_content: Bytes,
    /// 8 octets.
    pub reserve: String,
}

/// SGIP_DELIVER: an MO from the SMG to an SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// 21 octets: the handset that sent it, with the "86" prefix.
    pub user_number: String,
    /// 21 octets: the SP access number it was sent to.
    pub sp_number: String,
    pub tp_pid: u8,
    pub tp_udhi: u8,
    pub message_coding: u8,
    /// MessageLength (4 octets) octets.
    pub message_content: Bytes,
    /// 8 octets.
    pub reserve: String,
}

/// SGIP_REPORT: the state of an earlier SUBMIT (or forwarded DELIVER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The sequence number of the SUBMIT this reports on: its message id.
    pub submit_sequence: SequenceNumber,
    /// A [`report`] ReportType.
    pub report_type: u8,
    /// 21 octets: the handset the message went to, with the "86" prefix.
    pub user_number: String,
    /// A [`report`] State.
    pub state: u8,
    /// With State 2, a [`result`](super::result) code (21 and up); otherwise 0.
    pub error_code: u8,
    /// 8 octets.
    pub reserve: String,
}

/// SGIP_TRACE: asks the SMG where an MT is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub submit_sequence: SequenceNumber,
    /// 21 octets, with the "86" prefix.
    pub user_number: String,
    /// 8 octets.
    pub reserve: String,
}

/// One node an MT passed, in a Trace_Resp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHop {
    /// 0 received, 1 waiting, otherwise a [`result`](super::result) code.
    pub result: u8,
    /// 6 octets: the node's number.
    pub node_id: String,
    /// 16 octets each, `yymmddhhmmss`.
    pub receive_time: String,
    pub send_time: String,
    /// 8 octets.
    pub reserve: String,
}

/// Trace_Resp: Count (one octet) hops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceResp {
    pub hops: Vec<TraceHop>,
}

/// A PDU's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Bind(Bind),
    BindResp(Response),
    Unbind,
    UnbindResp,
    Submit(Submit),
    SubmitResp(Response),
    Deliver(Deliver),
    DeliverResp(Response),
    Report(Report),
    ReportResp(Response),
    Trace(Trace),
    TraceResp(TraceResp),
}

/// One PDU. A response carries its request's sequence number; a SUBMIT's is its message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub sequence: SequenceNumber,
    pub body: Body,
}
