//! The PDUs of CMPP 2.0 and 3.0. Text fields are `Octet String`s of fixed width, padded
//! with NUL on the right; they are kept here as Rust strings without the padding (ASCII;
//! a field with other octets is malformed). Fields whose width or presence depends on the
//! version say so; the other version's value is ignored when encoding.

use bytes::Bytes;

/// The command ids; a response is its request's id with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandId {
    Connect,
    ConnectResp,
    Terminate,
    TerminateResp,
    Submit,
    SubmitResp,
    Deliver,
    DeliverResp,
    Query,
    QueryResp,
    Cancel,
    CancelResp,
    ActiveTest,
    ActiveTestResp,
}

impl CommandId {
    pub fn value(self) -> u32 {
        match self {
            CommandId::Connect => 0x0000_0001,
            CommandId::ConnectResp => 0x8000_0001,
            CommandId::Terminate => 0x0000_0002,
            CommandId::TerminateResp => 0x8000_0002,
            CommandId::Submit => 0x0000_0004,
            CommandId::SubmitResp => 0x8000_0004,
            CommandId::Deliver => 0x0000_0005,
            CommandId::DeliverResp => 0x8000_0005,
            CommandId::Query => 0x0000_0006,
            CommandId::QueryResp => 0x8000_0006,
            CommandId::Cancel => 0x0000_0007,
            CommandId::CancelResp => 0x8000_0007,
            CommandId::ActiveTest => 0x0000_0008,
            CommandId::ActiveTestResp => 0x8000_0008,
        }
    }

    pub fn from_value(value: u32) -> Option<CommandId> {
        Some(match value {
            0x0000_0001 => CommandId::Connect,
            0x8000_0001 => CommandId::ConnectResp,
            0x0000_0002 => CommandId::Terminate,
            0x8000_0002 => CommandId::TerminateResp,
            0x0000_0004 => CommandId::Submit,
            0x8000_0004 => CommandId::SubmitResp,
            0x0000_0005 => CommandId::Deliver,
            0x8000_0005 => CommandId::DeliverResp,
            0x0000_0006 => CommandId::Query,
            0x8000_0006 => CommandId::QueryResp,
            0x0000_0007 => CommandId::Cancel,
            0x8000_0007 => CommandId::CancelResp,
            0x0000_0008 => CommandId::ActiveTest,
            0x8000_0008 => CommandId::ActiveTestResp,
            _ => return None,
        })
    }

    pub fn is_response(self) -> bool {
        self.value() & 0x8000_0000 != 0
    }
}

/// CMPP_CONNECT. The same layout in both versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The SP's enterprise code, 6 octets.
    pub source_addr: String,
    /// MD5(Source_Addr + 9 × 0x00 + shared secret + timestamp "MMDDHHMMSS").
    pub authenticator_source: [u8; 16],
    /// The version the client speaks (0x20, 0x30).
    pub version: u8,
    /// MMDDHHMMSS as a decimal number.
    pub timestamp: u32,
}

/// CMPP_CONNECT_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResp {
    /// 0 correct, 1 bad structure, 2 bad source address, 3 authentication failed, 4 version
    /// too high, 5+ other. One octet in 2.0, four in 3.0.
    pub status: u32,
    /// MD5(Status + AuthenticatorSource + shared secret); zeros when the status is not 0.
    pub authenticator_ismg: [u8; 16],
    /// The version the gateway speaks.
    pub version: u8,
}

/// CMPP_SUBMIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// 0 from the SP; the gateway assigns the id.
    pub msg_id: u64,
    /// Parts of the message and this part's number, from 1.
    pub pk_total: u8,
    pub pk_number: u8,
    /// 0 no report, 1 a status report is wanted (2 for SMC bills in 2.0).
    pub registered_delivery: u8,
    pub msg_level: u8,
    /// 10 octets.
    pub service_id: String,
    pub fee_user_type: u8,
    /// 21 octets in 2.0, 32 in 3.0.
    pub fee_terminal_id: String,
    /// 3.0 only.
    pub fee_terminal_type: u8,
    pub tp_pid: u8,
    /// 1: the content starts with a UDH.
    pub tp_udhi: u8,
    /// 0 ASCII, 3 SMS card, 4 binary, 8 UCS-2, 15 GB-coded Chinese.
    pub msg_fmt: u8,
    /// 6 octets: the SP's enterprise code.
    pub msg_src: String,
    /// 2 octets.
    pub fee_type: String,
    /// 6 octets.
    pub fee_code: String,
    /// 17 octets each, SMPP absolute or relative time format, may be empty.
    pub valid_time: String,
    pub at_time: String,
    /// 21 octets: the sender number (SP service code + extension).
    pub src_id: String,
    /// DestUsr_tl entries of 21 (2.0) or 32 (3.0) octets; 1 to 100.
    pub dest_terminal_ids: Vec<String>,
    /// 3.0 only.
    pub dest_terminal_type: u8,
    /// Msg_Length (one octet) octets.
    pub msg_content: Bytes,
    /// 2.0: Reserve, 8 octets; 3.0: LinkID, 20 octets.
    pub link_id: String,
}

/// CMPP_SUBMIT_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitResp {
    pub msg_id: u64,
    /// 0 correct, 1 bad structure, 2 bad command, 3 repeated sequence, 4 bad Msg_Length,
    /// 5 bad fee code, 6 content too long, 7 bad service id, 8 flow control, 9+ other.
    /// One octet in 2.0, four in 3.0.
    pub result: u32,
}

/// CMPP_DELIVER: an MO, or with `registered_delivery` 1 a status report whose content is
/// a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    pub msg_id: u64,
    /// 21 octets: the number the MO was sent to.
    pub dest_id: String,
    /// 10 octets.
    pub service_id: String,
    pub tp_pid: u8,
    pub tp_udhi: u8,
    pub msg_fmt: u8,
    /// 21 octets in 2.0, 32 in 3.0.
    pub src_terminal_id: String,
    /// 3.0 only.
    pub src_terminal_type: u8,
    /// 0 an MO, 1 a status report.
    pub registered_delivery: u8,
    pub msg_content: Bytes,
    /// 2.0: Reserve, 8 octets; 3.0: LinkID, 20 octets.
    pub link_id: String,
}

/// The content of a status report DELIVER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The Msg_Id of the SUBMIT this reports on.
    pub msg_id: u64,
    /// 7 octets: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, or an
    /// operator's own code.
    pub stat: String,
    /// 10 octets each, YYMMDDHHMM.
    pub submit_time: String,
    pub done_time: String,
    /// 21 octets in 2.0, 32 in 3.0.
    pub dest_terminal_id: String,
    pub smsc_sequence: u32,
}

/// CMPP_DELIVER_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverResp {
    pub msg_id: u64,
    /// 0 correct, 1 bad structure, 2 bad command, 3 repeated sequence, 4 bad Msg_Length,
    /// 5 bad fee code, 6 content too long, 7 bad service id, 8 flow control, 9+ other.
    /// One octet in 2.0, four in 3.0.
    pub result: u32,
}

/// CMPP_QUERY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// 8 octets, YYYYMMDD.
    pub time: String,
    /// 0 totals, 1 by service code.
    pub query_type: u8,
    /// 10 octets.
    pub query_code: String,
    /// 8 octets.
    pub reserve: String,
}

/// CMPP_QUERY_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryResp {
    pub time: String,
    pub query_type: u8,
    pub query_code: String,
    pub mt_tl_msg: u32,
    pub mt_tl_usr: u32,
    pub mt_scs: u32,
    pub mt_wt: u32,
    pub mt_fl: u32,
    pub mo_scs: u32,
    pub mo_wt: u32,
    pub mo_fl: u32,
}

/// CMPP_CANCEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub msg_id: u64,
}

/// CMPP_CANCEL_RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelResp {
    /// 0 succeeded, 1 failed. One octet in 2.0, four in 3.0.
    pub success_id: u32,
}

/// A PDU's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Connect(Connect),
    ConnectResp(ConnectResp),
    Terminate,
    TerminateResp,
    Submit(Submit),
    SubmitResp(SubmitResp),
    Deliver(Deliver),
    DeliverResp(DeliverResp),
    Query(Query),
    QueryResp(QueryResp),
    Cancel(Cancel),
    CancelResp(CancelResp),
    ActiveTest,
    /// Reserved, one octet.
    ActiveTestResp(u8),
}

/// One PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub sequence_id: u32,
    pub body: Body,
}
