//! The PDUs of CNGP 2.0 a gateway needs in either role. Text fields are `Octet String`s of
//! fixed width, padded with NUL on the right; they are kept here as Rust strings without
//! the padding (ASCII; a field with other octets is malformed). The status of a response
//! is in the header ([`Pdu::status`]), not in its body.

use bytes::Bytes;

use super::Tlvs;
use crate::msgid::MsgId;

/// The command ids; a response is its request's id with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandId {
    Login,
    LoginResp,
    Submit,
    SubmitResp,
    Deliver,
    DeliverResp,
    ActiveTest,
    ActiveTestResp,
    Exit,
    ExitResp,
}

impl CommandId {
    pub fn value(self) -> u32 {
        match self {
            CommandId::Login => 0x0000_0001,
            CommandId::LoginResp => 0x8000_0001,
            CommandId::Submit => 0x0000_0002,
            CommandId::SubmitResp => 0x8000_0002,
            CommandId::Deliver => 0x0000_0003,
            CommandId::DeliverResp => 0x8000_0003,
            CommandId::ActiveTest => 0x0000_0004,
            CommandId::ActiveTestResp => 0x8000_0004,
            CommandId::Exit => 0x0000_0006,
            CommandId::ExitResp => 0x8000_0006,
        }
    }

    pub fn from_value(value: u32) -> Option<CommandId> {
        Some(match value {
            0x0000_0001 => CommandId::Login,
            0x8000_0001 => CommandId::LoginResp,
            0x0000_0002 => CommandId::Submit,
            0x8000_0002 => CommandId::SubmitResp,
            0x0000_0003 => CommandId::Deliver,
            0x8000_0003 => CommandId::DeliverResp,
            0x0000_0004 => CommandId::ActiveTest,
            0x8000_0004 => CommandId::ActiveTestResp,
            0x0000_0006 => CommandId::Exit,
            0x8000_0006 => CommandId::ExitResp,
            _ => return None,
        })
    }

    pub fn is_response(self) -> bool {
        self.value() & RESPONSE_BIT != 0
    }
}

/// The bit that makes a request's command id its response's.
pub const RESPONSE_BIT: u32 = 0x8000_0000;

/// LoginMode values.
pub mod login_mode {
    /// Sends short messages only.
    pub const SEND: u8 = 0;
    /// Receives short messages only.
    pub const RECEIVE: u8 = 1;
    /// Both.
    pub const TRANSMIT: u8 = 2;
}

/// SubType values of a SUBMIT.
pub mod sub_type {
    /// Cancels a subscription.
    pub const CANCEL_SUBSCRIPTION: u8 = 0;
    /// A subscription or on-demand request.
    pub const REQUEST: u8 = 1;
    /// Delivery of an on-demand service.
    pub const ON_DEMAND: u8 = 2;
    /// Delivery of a subscribed service.
    pub const SUBSCRIPTION: u8 = 3;
}

/// Login, from a client (an SP, or a gateway towards another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The account, 10 octets.
    pub client_id: String,
    /// MD5(ClientID + 7 × 0x00 + shared secret + TimeStamp as "MMDDHHMMSS").
    pub authenticator_client: [u8; 16],
    /// [`login_mode`].
    pub login_mode: u8,
    /// MMDDHHMMSS as a decimal number.
    pub timestamp: u32,
    /// The version the client speaks: 0x20.
    pub version: u8,
}

/// Login_Resp; its status is in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResp {
    /// MD5(Status + AuthenticatorClient + shared secret); zeros when the status is not 0.
    pub authenticator_server: [u8; 16],
    /// The highest version the server speaks.
    pub version: u8,
}

/// Submit, an MT from an SP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// SPID: the SP's enterprise code, 10 octets.
    pub sp_id: String,
    /// [`sub_type`].
    pub sub_type: u8,
    /// 1: a status report is wanted.
    pub need_report: u8,
    /// 0 (lowest) to 3.
    pub priority: u8,
    /// ServiceID, 10 octets.
    pub service_id: String,
    /// FeeType, 2 octets: "00" free, "01" per message, "02" monthly, "03" capped.
    pub fee_type: String,
    /// 0 charge the destination, 1 the source, 2 the SP, 3 ChargeTermID.
    pub fee_user_type: u8,
    /// FeeCode in fen, 6 octets.
    pub fee_code: String,
    /// 0 ASCII, 3 write to card, 4 binary, 8 UCS-2, 15 GB-coded Chinese.
    pub msg_format: u8,
    /// ValidTime and AtTime, 17 octets each, SMPP absolute or relative time, may be empty.
    pub valid_time: String,
    pub at_time: String,
    /// SrcTermID, 21 octets: the sender number (SP service code + extension).
    pub src_term_id: String,
    /// ChargeTermID, 21 octets: the number billed.
    pub charge_term_id: String,
    /// DestTermIDCount entries of 21 octets; 1 to 100.
    pub dest_term_ids: Vec<String>,
    /// MsgLength (one octet) octets.
    pub msg_content: Bytes,
    /// Protocol_ID, TP_udhi, LinkID and any other optional parameter.
    pub tlvs: Tlvs,
}

/// Submit_Resp; its status is in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitResp {
    /// The id the gateway gave the message (zeros on a refusal).
    pub msg_id: MsgId,
    /// CongestionState and any other optional parameter.
    pub tlvs: Tlvs,
}

/// Deliver: an MO, or with `is_report` 1 a status report whose content is a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub msg_id: MsgId,
    /// 0 an MO, 1 a status report.
    pub is_report: u8,
    pub msg_format: u8,
    /// RecvTime, 14 octets, YYYYMMDDHHMMSS.
    pub recv_time: String,
    /// SrcTermID, 21 octets: the handset (of an MO, or the one a report is about).
    pub src_term_id: String,
    /// DestTermID, 21 octets: the SP number written to.
    pub dest_term_id: String,
    pub msg_content: Bytes,
    /// Protocol_ID, TP_udhi, LinkID and any other optional parameter.
    pub tlvs: Tlvs,
}

/// Deliver_Resp; its status is in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverResp {
    /// The MsgID of the DELIVER answered.
    pub msg_id: MsgId,
    pub tlvs: Tlvs,
}

/// The content of a status report DELIVER: `id:` and the ten octets of the reported
/// MsgID, then `sub:`, `dlvrd:`, `Submit date:`, `done date:`, `stat:`, `err:` and `Txt:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The MsgID of the SUBMIT this reports on.
    pub msg_id: MsgId,
    /// Parts submitted and delivered, three digits each ("001").
    pub sub: String,
    pub dlvrd: String,
    /// YYMMDDHHMM each.
    pub submit_date: String,
    pub done_date: String,
    /// DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or an operator's
    /// own code; 7 octets.
    pub stat: String,
    /// The operator's error code, 3 octets.
    pub err: String,
    /// The first octets of the message, at most 20.
    pub txt: Bytes,
}

/// A PDU's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Login(Login),
    LoginResp(LoginResp),
    Submit(Submit),
    SubmitResp(SubmitResp),
    Deliver(Deliver),
    DeliverResp(DeliverResp),
    ActiveTest,
    ActiveTestResp,
    Exit,
    ExitResp,
    /// A header without a body, of a command this crate does not model: the answer, with
    /// a status such as [`super::status::BAD_COMMAND`], to a request of an unknown command
    /// ([`super::FrameError::response`]). The decoder never yields it.
    Bare {
        command_id: u32,
    },
}

/// One PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub sequence_id: u32,
    /// Command_Status: 0 in requests; the outcome in responses ([`super::status`]).
    pub status: u32,
    pub body: Body,
}

impl Pdu {
    /// A request (status 0).
    pub fn request(sequence_id: u32, body: Body) -> Pdu {
        Pdu {
            sequence_id,
            status: 0,
            body,
        }
    }
}
