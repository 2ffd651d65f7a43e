//! The answers a refused request gets. CMPP has no generic NACK: a SUBMIT, DELIVER, CANCEL
//! or CONNECT that the gateway cannot accept is answered by its own response with an error
//! result, so the peer can free its window slot; QUERY has no error form and an unknown
//! command has no response at all (the peer times out, or the link is closed).

use super::{Body, CancelResp, CommandId, ConnectResp, DeliverResp, FrameError, Pdu, SubmitResp};

/// Result codes of SUBMIT_RESP and DELIVER_RESP, and the statuses of CONNECT_RESP.
pub mod result {
    /// Accepted.
    pub const OK: u32 = 0;
    /// The body does not have its command's layout (also CONNECT_RESP status 1).
    pub const BAD_STRUCTURE: u32 = 1;
    /// Command word error.
    pub const BAD_COMMAND: u32 = 2;
    /// A sequence id repeated while its first request is unanswered.
    pub const DUPLICATE_SEQUENCE: u32 = 3;
    /// Msg_Length does not fit the content or the format.
    pub const BAD_MSG_LENGTH: u32 = 4;
    pub const BAD_FEE_CODE: u32 = 5;
    /// Content longer than the largest message.
    pub const TOO_LONG: u32 = 6;
    pub const BAD_SERVICE_ID: u32 = 7;
    /// Over the link's rate or window.
    pub const FLOW_CONTROL: u32 = 8;

    /// CMPP 3.0: the gateway does not serve this fee terminal (2.0: other error).
    pub const NOT_SERVED_FEE_TERMINAL: u32 = 9;
    /// CMPP 3.0: Src_Id wrong.
    pub const BAD_SRC_ID: u32 = 10;
    /// CMPP 3.0: Msg_src wrong.
    pub const BAD_MSG_SRC: u32 = 11;
    /// CMPP 3.0: Fee_terminal_Id wrong.
    pub const BAD_FEE_TERMINAL_ID: u32 = 12;
    /// CMPP 3.0: Dest_terminal_Id wrong.
    pub const BAD_DEST_TERMINAL_ID: u32 = 13;

    /// CONNECT_RESP: Source_Addr unknown.
    pub const BAD_SOURCE_ADDR: u32 = 2;
    /// CONNECT_RESP: AuthenticatorSource wrong (or timestamp outside the window).
    pub const AUTH_FAILED: u32 = 3;
    /// CONNECT_RESP: version not supported.
    pub const VERSION_TOO_HIGH: u32 = 4;

    /// CANCEL_RESP: Success_Id of a cancel that did not happen.
    pub const CANCEL_FAILED: u32 = 1;
}

/// The version octet the gateway puts in a CONNECT_RESP it sends without having read the
/// CONNECT (3.0, the highest supported).
pub const GATEWAY_VERSION: u8 = 0x30;

impl Pdu {
    /// The response that refuses `request` with `result`, or `None` when the request has no
    /// such response (QUERY, a response, an unknown command). SUBMIT_RESP carries Msg_Id 0,
    /// DELIVER_RESP the DELIVER's Msg_Id, CANCEL_RESP Success_Id 1 whatever `result` is,
    /// CONNECT_RESP `result` as its status, a zero authenticator and the requested version
    /// capped at 3.0.
    pub fn response_for(request: &Pdu, result: u32) -> Option<Pdu> {
        let seq = request.sequence_id;
        match &request.body {
            Body::Deliver(d) => Some(Pdu {
                sequence_id: seq,
                body: Body::DeliverResp(DeliverResp {
                    msg_id: d.msg_id,
                    result,
                }),
            }),
            Body::Connect(c) => Some(Pdu {
                sequence_id: seq,
                body: Body::ConnectResp(ConnectResp {
                    status: result,
                    authenticator_ismg: [0; 16],
                    version: c.version.min(GATEWAY_VERSION),
                }),
            }),
            other => Pdu::error_response(other.command_id(), seq, result),
        }
    }

    /// As [`Pdu::response_for`] when only the command and sequence id are known (a
    /// [`FrameError::Malformed`] frame): DELIVER_RESP carries Msg_Id 0, CONNECT_RESP
    /// version [`GATEWAY_VERSION`]. TERMINATE and ACTIVE_TEST get their plain responses.
    pub fn error_response(command: CommandId, sequence_id: u32, result: u32) -> Option<Pdu> {
        let body = match command {
            CommandId::Submit => Body::SubmitResp(SubmitResp { msg_id: 0, result }),
            CommandId::Deliver => Body::DeliverResp(DeliverResp { msg_id: 0, result }),
            CommandId::Cancel => Body::CancelResp(CancelResp {
                success_id: result::CANCEL_FAILED,
            }),
            CommandId::Connect => Body::ConnectResp(ConnectResp {
                status: result,
                authenticator_ismg: [0; 16],
                version: GATEWAY_VERSION,
            }),
            CommandId::Terminate => Body::TerminateResp,
            CommandId::ActiveTest => Body::ActiveTestResp(0),
            _ => return None,
        };
        Some(Pdu { sequence_id, body })
    }
}

impl FrameError {
    /// The response owed for a frame that was consumed but refused: a malformed request
    /// gets its response with [`result::BAD_STRUCTURE`]; an unknown command or a bad length
    /// gets none (after a bad length, close the link).
    pub fn response(&self) -> Option<Pdu> {
        match self {
            FrameError::Malformed {
                command,
                sequence_id,
                ..
            } => Pdu::error_response(*command, *sequence_id, result::BAD_STRUCTURE),
            FrameError::BadLength(_) | FrameError::UnknownCommand { .. } => None,
        }
    }
}
