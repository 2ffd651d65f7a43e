//! The answers a refused request gets, and the status codes they carry. CNGP puts the
//! status in the header of every response, so any request, even one of a command this
//! crate does not know, can be answered: by its own response with an error status, or by a
//! bare header with the response bit set ([`super::Body::Bare`]). An unknown response gets
//! no answer.

use super::{
    Body, CommandId, DeliverResp, FrameError, LoginResp, Pdu, SubmitResp, Tlvs, RESPONSE_BIT,
};
use crate::msgid::MsgId;

/// Command_Status codes, as the CNGP 2.0 specification numbers them; the numbers it leaves
/// out are reserved, 128 to 255 are the vendor's.
pub mod status {
    /// Success.
    pub const OK: u32 = 0;
    /// System busy: the answer to a peer over its rate or window.
    pub const SYSTEM_BUSY: u32 = 1;
    /// More connections than allowed.
    pub const TOO_MANY_CONNECTIONS: u32 = 2;
    /// The body does not have its command's layout.
    pub const BAD_STRUCTURE: u32 = 10;
    /// Unknown command id.
    pub const BAD_COMMAND: u32 = 11;
    /// A sequence id repeated while its first request is unanswered.
    pub const DUPLICATE_SEQUENCE: u32 = 12;
    /// The peer's IP address is not allowed.
    pub const BAD_IP: u32 = 20;
    /// Login: AuthenticatorClient wrong (or the timestamp outside the window).
    pub const AUTH_FAILED: u32 = 21;
    /// Login: version not supported.
    pub const VERSION_TOO_HIGH: u32 = 22;
    pub const BAD_FEE_USER_TYPE: u32 = 23;
    pub const BAD_SUB_TYPE: u32 = 24;
    /// NodesCount over its threshold (between gateways).
    pub const NODES_COUNT: u32 = 25;
    pub const BAD_MSG_ID: u32 = 26;
    /// Bad message type.
    pub const BAD_MSG_TYPE: u32 = 30;
    pub const BAD_PRIORITY: u32 = 31;
    pub const BAD_FEE_TYPE: u32 = 32;
    pub const BAD_FEE_CODE: u32 = 33;
    pub const BAD_MSG_FORMAT: u32 = 34;
    pub const BAD_TIME_FORMAT: u32 = 35;
    /// MsgLength does not fit the content or the format, or the content is too long.
    pub const BAD_MSG_LENGTH: u32 = 36;
    /// The validity period has passed.
    pub const EXPIRED: u32 = 37;
    pub const BAD_QUERY_TYPE: u32 = 38;
    pub const ROUTING_ERROR: u32 = 39;
    pub const BAD_FIXED_FEE: u32 = 40;
    pub const BAD_UPDATE_TYPE: u32 = 41;
    pub const BAD_ROUTE_ID: u32 = 42;
    pub const BAD_SERVICE_ID: u32 = 43;
    pub const BAD_VALID_TIME: u32 = 44;
    pub const BAD_AT_TIME: u32 = 45;
    pub const BAD_SRC_TERM_ID: u32 = 46;
    pub const BAD_DEST_TERM_ID: u32 = 47;
    pub const BAD_CHARGE_TERM_ID: u32 = 48;
    pub const BAD_SP_CODE: u32 = 49;
    pub const BAD_SRC_GATEWAY_ID: u32 = 56;
    pub const BAD_QUERY_TERM_ID: u32 = 57;
    /// No route matches the destination.
    pub const NO_ROUTE: u32 = 58;
    pub const BAD_SP_TYPE: u32 = 59;
    pub const BAD_LAST_ROUTE_ID: u32 = 60;
    pub const BAD_ROUTE_TYPE: u32 = 61;
    pub const BAD_DEST_GATEWAY_ID: u32 = 62;
    pub const BAD_DEST_GATEWAY_IP: u32 = 63;
    pub const BAD_DEST_GATEWAY_PORT: u32 = 64;
    pub const BAD_TERM_RANGE_ID: u32 = 65;
    pub const BAD_PROVINCE_CODE: u32 = 66;
    pub const BAD_USER_TYPE: u32 = 67;
    pub const ROUTE_UPDATE_UNSUPPORTED: u32 = 68;
    /// SPID unknown or wrong.
    pub const BAD_SP_ID: u32 = 69;
    pub const BAD_SP_ACCESS_TYPE: u32 = 70;
    pub const ROUTE_UPDATE_FAILED: u32 = 71;
    pub const BAD_TIMESTAMP: u32 = 72;
    pub const BAD_MSERVICE_ID: u32 = 73;

    /// A short English description of `code` for logs.
    pub fn describe(code: u32) -> &'static str {
        match code {
            OK => "success",
            SYSTEM_BUSY => "system busy",
            TOO_MANY_CONNECTIONS => "too many connections",
            BAD_STRUCTURE => "bad message structure",
            BAD_COMMAND => "bad command id",
            DUPLICATE_SEQUENCE => "repeated sequence id",
            BAD_IP => "bad IP address",
            AUTH_FAILED => "authentication failed",
            VERSION_TOO_HIGH => "version too high",
            BAD_FEE_USER_TYPE => "bad FeeUserType",
            BAD_SUB_TYPE => "bad SubType",
            NODES_COUNT => "NodesCount over threshold",
            BAD_MSG_ID => "bad MsgID",
            BAD_MSG_TYPE => "bad message type",
            BAD_PRIORITY => "bad Priority",
            BAD_FEE_TYPE => "bad FeeType",
            BAD_FEE_CODE => "bad FeeCode",
            BAD_MSG_FORMAT => "bad MsgFormat",
            BAD_TIME_FORMAT => "bad time format",
            BAD_MSG_LENGTH => "bad MsgLength",
            EXPIRED => "validity expired",
            BAD_QUERY_TYPE => "bad QueryType",
            ROUTING_ERROR => "routing error",
            BAD_FIXED_FEE => "bad FixedFee",
            BAD_UPDATE_TYPE => "bad UpdateType",
            BAD_ROUTE_ID => "bad RouteID",
            BAD_SERVICE_ID => "bad ServiceID",
            BAD_VALID_TIME => "bad ValidTime",
            BAD_AT_TIME => "bad AtTime",
            BAD_SRC_TERM_ID => "bad SrcTermID",
            BAD_DEST_TERM_ID => "bad DestTermID",
            BAD_CHARGE_TERM_ID => "bad ChargeTermID",
            BAD_SP_CODE => "bad SP code",
            BAD_SRC_GATEWAY_ID => "bad source gateway id",
            BAD_QUERY_TERM_ID => "bad QueryTermID",
            NO_ROUTE => "no matching route",
            BAD_SP_TYPE => "bad SPType",
            BAD_LAST_ROUTE_ID => "bad LastRouteID",
            BAD_ROUTE_TYPE => "bad RouteType",
            BAD_DEST_GATEWAY_ID => "bad destination gateway id",
            BAD_DEST_GATEWAY_IP => "bad destination gateway IP",
            BAD_DEST_GATEWAY_PORT => "bad destination gateway port",
            BAD_TERM_RANGE_ID => "bad TermRangeID",
            BAD_PROVINCE_CODE => "bad ProvinceCode",
            BAD_USER_TYPE => "bad UserType",
            ROUTE_UPDATE_UNSUPPORTED => "route update not supported",
            BAD_SP_ID => "bad SPID",
            BAD_SP_ACCESS_TYPE => "bad SPAccessType",
            ROUTE_UPDATE_FAILED => "route update failed",
            BAD_TIMESTAMP => "bad timestamp",
            BAD_MSERVICE_ID => "bad MServiceID",
            128..=255 => "vendor error",
            _ => "reserved",
        }
    }
}

/// The protocol version this crate speaks, and the one a Login_Resp sent without having
/// read the Login carries: CNGP 2.0.
pub const VERSION: u8 = 0x20;

impl Pdu {
    /// The response that answers `request` with `status`, or `None` when it is a response
    /// itself. Submit_Resp carries MsgID zero, Deliver_Resp the DELIVER's MsgID, Login_Resp
    /// a zero authenticator and the requested version capped at 2.0.
    pub fn response_for(request: &Pdu, status: u32) -> Option<Pdu> {
        let sequence_id = request.sequence_id;
        let body = match &request.body {
            Body::Deliver(d) => Body::DeliverResp(DeliverResp {
                msg_id: d.msg_id,
                tlvs: Tlvs::new(),
            }),
            Body::Login(l) => Body::LoginResp(LoginResp {
                authenticator_server: [0; 16],
                version: l.version.min(VERSION),
            }),
            other => return Pdu::error_response(other.command_id(), sequence_id, status),
        };
        Some(Pdu {
            sequence_id,
            status,
            body,
        })
    }

    /// As [`Pdu::response_for`] when only the command id and sequence id are known (a
    /// [`FrameError`] frame): Deliver_Resp carries MsgID zero, Login_Resp version
    /// [`VERSION`]; a request of a command this crate does not model gets a bare header.
    /// `None` for a response.
    pub fn error_response(command_id: u32, sequence_id: u32, status: u32) -> Option<Pdu> {
        if command_id & RESPONSE_BIT != 0 {
            return None;
        }
        let body = match CommandId::from_value(command_id) {
            Some(CommandId::Submit) => Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                tlvs: Tlvs::new(),
            }),
            Some(CommandId::Deliver) => Body::DeliverResp(DeliverResp {
                msg_id: MsgId::ZERO,
                tlvs: Tlvs::new(),
            }),
            Some(CommandId::Login) => Body::LoginResp(LoginResp {
                authenticator_server: [0; 16],
                version: VERSION,
            }),
            Some(CommandId::ActiveTest) => Body::ActiveTestResp,
            Some(CommandId::Exit) => Body::ExitResp,
            _ => Body::Bare {
                command_id: command_id | RESPONSE_BIT,
            },
        };
        Some(Pdu {
            sequence_id,
            status,
            body,
        })
    }
}

impl FrameError {
    /// The response owed for a frame that was consumed but refused: a malformed request
    /// gets its response with [`status::BAD_STRUCTURE`], a request of an unknown command a
    /// bare header with [`status::BAD_COMMAND`]; responses get none, and neither does a bad
    /// length (close the link).
    pub fn response(&self) -> Option<Pdu> {
        match self {
            FrameError::Malformed {
                command,
                sequence_id,
                ..
            } => Pdu::error_response(command.value(), *sequence_id, status::BAD_STRUCTURE),
            FrameError::UnknownCommand {
                command_id,
                sequence_id,
            } => Pdu::error_response(*command_id, *sequence_id, status::BAD_COMMAND),
            FrameError::BadLength(_) => None,
        }
    }
}
