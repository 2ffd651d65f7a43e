//! The answers a refused request gets. SMGP has no generic NACK: a Login, SUBMIT or DELIVER
//! that cannot be accepted is answered by its own response with an error status, so the
//! peer can free its window slot; an unknown request id has no response at all (the peer
//! times out, or the link is closed).

use super::{Body, DeliverResp, FrameError, LoginResp, Pdu, RequestId, SubmitResp, VERSION};
use crate::msgid::MsgId;

/// The Status of Login_Resp, Submit_Resp and Deliver_Resp (SMGP 3.0 error code table).
/// SMGP has no flow-control status: a gateway over its rate answers [`status::SYSTEM_BUSY`].
pub mod status {
    pub const OK: u32 = 0;
    /// Also the answer to a request over the link's rate or window.
    pub const SYSTEM_BUSY: u32 = 1;
    pub const TOO_MANY_CONNECTIONS: u32 = 2;
    /// The body does not have its request's layout.
    pub const BAD_STRUCTURE: u32 = 10;
    /// RequestID wrong.
    pub const BAD_REQUEST_ID: u32 = 11;
    /// A SequenceID repeated while its first request is unanswered.
    pub const DUPLICATE_SEQUENCE: u32 = 12;
    /// Login from an address the account may not use.
    pub const BAD_IP: u32 = 20;
    /// AuthenticatorClient wrong (or the timestamp outside the window).
    pub const AUTH_FAILED: u32 = 21;
    pub const VERSION_TOO_HIGH: u32 = 22;
    pub const BAD_MSG_TYPE: u32 = 30;
    pub const BAD_PRIORITY: u32 = 31;
    pub const BAD_FEE_TYPE: u32 = 32;
    pub const BAD_FEE_CODE: u32 = 33;
    pub const BAD_MSG_FORMAT: u32 = 34;
    pub const BAD_TIME_FORMAT: u32 = 35;
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
    pub const NO_MATCHING_ROUTE: u32 = 58;
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
    pub const BAD_SP_ID: u32 = 69;
    pub const BAD_SP_ACCESS_TYPE: u32 = 70;
    pub const ROUTE_UPDATE_FAILED: u32 = 71;
    pub const BAD_TIME: u32 = 72;
    pub const BAD_MSERVICE_ID: u32 = 73;
    /// The SP may not send at this time of day.
    pub const SP_FORBIDDEN_PERIOD: u32 = 74;
    /// The SP is over its daily volume.
    pub const SP_DAILY_LIMIT: u32 = 75;
    pub const SP_ACCOUNT_EXPIRED: u32 = 76;
}

impl Pdu {
    /// The response that refuses `request` with `status`, or `None` when the request has no
    /// such response (a response). Submit_Resp carries MsgID 0, Deliver_Resp the DELIVER's
    /// MsgID, Login_Resp a zero authenticator and [`VERSION`]; Active_Test and Exit get
    /// their plain responses whatever `status` is.
    pub fn response_for(request: &Pdu, status: u32) -> Option<Pdu> {
        match &request.body {
            Body::Deliver(d) => Some(Pdu {
                sequence_id: request.sequence_id,
                body: Body::DeliverResp(DeliverResp {
                    msg_id: d.msg_id,
                    status,
                }),
            }),
            other => Pdu::error_response(other.request_id(), request.sequence_id, status),
        }
    }

    /// As [`Pdu::response_for`] when only the request id and sequence id are known (a
    /// [`FrameError::Malformed`] frame): Deliver_Resp carries MsgID 0 then.
    pub fn error_response(request: RequestId, sequence_id: u32, status: u32) -> Option<Pdu> {
        let body = match request {
            RequestId::Login => Body::LoginResp(LoginResp {
                status,
                authenticator_server: [0; 16],
                server_version: VERSION,
            }),
            RequestId::Submit => Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                status,
            }),
            RequestId::Deliver => Body::DeliverResp(DeliverResp {
                msg_id: MsgId::ZERO,
                status,
            }),
            RequestId::ActiveTest => Body::ActiveTestResp,
            RequestId::Exit => Body::ExitResp,
            _ => return None,
        };
        Some(Pdu { sequence_id, body })
    }
}

impl FrameError {
    /// The response owed for a frame that was consumed but refused: a malformed request
    /// gets its response with [`status::BAD_STRUCTURE`]; an unknown request id or a bad
    /// length gets none (after a bad length, close the link).
    pub fn response(&self) -> Option<Pdu> {
        match self {
            FrameError::Malformed {
                request,
                sequence_id,
                ..
            } => Pdu::error_response(*request, *sequence_id, status::BAD_STRUCTURE),
            FrameError::BadLength(_) | FrameError::UnknownRequest { .. } => None,
        }
    }
}
