//! The PDUs of SMGP 3.0. Text fields are fixed-width octet strings padded with NUL on the
//! right; they are kept here as Rust strings without the padding (ASCII; a field with
//! other octets is malformed). Reserve is kept as its raw octets. SUBMIT and DELIVER carry
//! their TLVs in wire order, unknown tags included, so a PDU re-encodes as it came.

use bytes::Bytes;

use super::tlv::{self, Tlv};
use crate::msgid::MsgId;

/// The request ids; a response is its request's id with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestId {
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

impl RequestId {
    pub fn value(self) -> u32 {
        match self {
            RequestId::Login => 0x0000_0001,
            RequestId::LoginResp => 0x8000_0001,
            RequestId::Submit => 0x0000_0002,
            RequestId::SubmitResp => 0x8000_0002,
            RequestId::Deliver => 0x0000_0003,
            RequestId::DeliverResp => 0x8000_0003,
            RequestId::ActiveTest => 0x0000_0004,
            RequestId::ActiveTestResp => 0x8000_0004,
            RequestId::Exit => 0x0000_0006,
            RequestId::ExitResp => 0x8000_0006,
        }
    }

    pub fn from_value(value: u32) -> Option<RequestId> {
        Some(match value {
            0x0000_0001 => RequestId::Login,
            0x8000_0001 => RequestId::LoginResp,
            0x0000_0002 => RequestId::Submit,
            0x8000_0002 => RequestId::SubmitResp,
            0x0000_0003 => RequestId::Deliver,
            0x8000_0003 => RequestId::DeliverResp,
            0x0000_0004 => RequestId::ActiveTest,
            0x8000_0004 => RequestId::ActiveTestResp,
            0x0000_0006 => RequestId::Exit,
            0x8000_0006 => RequestId::ExitResp,
            _ => return None,
        })
    }

    pub fn is_response(self) -> bool {
        self.value() & 0x8000_0000 != 0
    }
}

/// SMGP Login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The account the client logs in with, 8 octets.
    pub client_id: String,
    /// MD5(ClientID + 7 × 0x00 + shared secret + TimeStamp as "MMDDHHMMSS").
    pub authenticator_client: [u8; 16],
    /// [`super::login_mode`]: 0 send, 1 receive, 2 transmit.
    pub login_mode: u8,
    /// MMDDHHMMSS as a decimal number.
    pub timestamp: u32,
    /// The version the client speaks (0x30).
    pub client_version: u8,
}

/// SMGP Login_Resp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginResp {
    /// 0 accepted; see [`super::status`].
    pub status: u32,
    /// MD5(Status + AuthenticatorClient + shared secret); zeros when the status is not 0.
    pub authenticator_server: [u8; 16],
    /// The version the server speaks.
    pub server_version: u8,
}

/// SMGP Submit: an SP's message to up to 100 terminals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// 0 MO, 6 MT, 7 point to point.
    pub msg_type: u8,
    /// 1: a status report is wanted.
    pub need_report: u8,
    /// 0 (lowest) to 3 (highest).
    pub priority: u8,
    /// 10 octets.
    pub service_id: String,
    /// 2 octets: "00" free, "01" per message, "02" monthly, "03" capped.
    pub fee_type: String,
    /// 6 octets, in fen.
    pub fee_code: String,
    /// 6 octets: the monthly or capped fee, in fen.
    pub fixed_fee: String,
    /// 0 ASCII, 3 SIM card, 4 binary, 8 UCS-2, 15 GB.
    pub msg_format: u8,
    /// 17 octets each, SMPP absolute or relative time format, may be empty.
    pub valid_time: String,
    pub at_time: String,
    /// 21 octets: the sender number (SP service code + extension).
    pub src_term_id: String,
    /// 21 octets: the number billed; may be empty.
    pub charge_term_id: String,
    /// DestTermIDCount entries of 21 octets; 1 to 100.
    pub dest_term_ids: Vec<String>,
    /// MsgLength (one octet) octets.
    pub msg_content: Bytes,
    pub reserve: [u8; 8],
    pub tlvs: Vec<Tlv>,
}

/// SMGP Submit_Resp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitResp {
    pub msg_id: MsgId,
    pub status: u32,
}

/// SMGP Deliver: an MO, or with `is_report` 1 a status report whose content is a
/// [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub msg_id: MsgId,
    /// 0 an MO, 1 a status report.
    pub is_report: u8,
    pub msg_format: u8,
    /// 14 octets, YYYYMMDDHHMMSS.
    pub recv_time: String,
    /// 21 octets: the handset (MO) or the terminal the report is about.
    pub src_term_id: String,
    /// 21 octets: the SP number.
    pub dest_term_id: String,
    pub msg_content: Bytes,
    pub reserve: [u8; 8],
    pub tlvs: Vec<Tlv>,
}

/// SMGP Deliver_Resp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverResp {
    pub msg_id: MsgId,
    pub status: u32,
}

/// The content of a status report DELIVER:
/// `id:<MsgID> sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
/// stat:SSSSSSS err:EEE text:<20 octets>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The MsgID the SUBMIT_RESP gave, as 10 binary octets.
    pub msg_id: MsgId,
    /// Parts submitted and delivered, usually "001".
    pub sub: String,
    pub dlvrd: String,
    /// YYMMDDhhmm (some gateways add seconds).
    pub submit_date: String,
    pub done_date: String,
    /// DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or an operator code.
    pub stat: String,
    /// Error code, usually three digits.
    pub err: String,
    /// The first octets of the message, at most [`super::REPORT_TEXT_LEN`].
    pub text: Bytes,
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
}

/// One PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub sequence_id: u32,
    pub body: Body,
}

impl Submit {
    /// TP_udhi: 1 when the content starts with a UDH (0 when the TLV is absent).
    pub fn tp_udhi(&self) -> u8 {
        tlv::byte(&self.tlvs, tlv::tag::TP_UDHI).unwrap_or(0)
    }

    /// TP_pid (0 when absent).
    pub fn tp_pid(&self) -> u8 {
        tlv::byte(&self.tlvs, tlv::tag::TP_PID).unwrap_or(0)
    }

    /// PkTotal and PkNumber, when both are present.
    pub fn pk(&self) -> Option<(u8, u8)> {
        Some((
            tlv::byte(&self.tlvs, tlv::tag::PK_TOTAL)?,
            tlv::byte(&self.tlvs, tlv::tag::PK_NUMBER)?,
        ))
    }

    /// The LinkID, when present and not empty.
    pub fn link_id(&self) -> Option<&str> {
        tlv::link_id(&self.tlvs)
    }
}

impl Deliver {
    /// Whether this DELIVER is a status report rather than an MO.
    pub fn is_report(&self) -> bool {
        self.is_report == 1
    }

    /// TP_udhi: 1 when the content starts with a UDH (0 when the TLV is absent).
    pub fn tp_udhi(&self) -> u8 {
        tlv::byte(&self.tlvs, tlv::tag::TP_UDHI).unwrap_or(0)
    }

    /// TP_pid (0 when absent).
    pub fn tp_pid(&self) -> u8 {
        tlv::byte(&self.tlvs, tlv::tag::TP_PID).unwrap_or(0)
    }

    /// The LinkID, when present and not empty.
    pub fn link_id(&self) -> Option<&str> {
        tlv::link_id(&self.tlvs)
    }
}
