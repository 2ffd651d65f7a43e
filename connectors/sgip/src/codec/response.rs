//! The answers a refused request gets, and the result codes they carry. SGIP has no generic
//! NACK: a BIND, SUBMIT, DELIVER, REPORT or TRACE that cannot be accepted is answered by its
//! own response with an error result, so the peer can free its window slot. SGIP 1.2
//! §3.7.2.4.2 has a receiver close the link on a command it cannot parse or recognise;
//! the codec still offers the answer to a malformed request and leaves that choice to the
//! session. An unknown command has no response here: its layout is not known.

use super::{Body, CommandId, FrameError, Pdu, Response, TraceHop, TraceResp};
use crate::msgid::SequenceNumber;

/// Result and ErrorCode values, SGIP 1.2 §5.2. Codes 1 to 20 answer commands; 21 and up
/// mostly travel in a REPORT's ErrorCode.
pub mod result {
    /// No error: the command was accepted.
    pub const OK: u8 = 0;
    /// Illegal login: wrong login name or password, or the two do not match.
    pub const ILLEGAL_LOGIN: u8 = 1;
    /// Repeated login: a second Bind on one connection.
    pub const REPEATED_LOGIN: u8 = 2;
    /// Too many connections from one node.
    pub const TOO_MANY_CONNECTIONS: u8 = 3;
    /// Bad Login Type in a Bind.
    pub const BAD_LOGIN_TYPE: u8 = 4;
    /// A parameter does not have its type's format or is outside the specified range.
    pub const BAD_PARAMETER_FORMAT: u8 = 5;
    /// Illegal phone number: not a mobile number, or without the "86" prefix.
    pub const ILLEGAL_PHONE_NUMBER: u8 = 6;
    /// Bad message id.
    pub const BAD_MESSAGE_ID: u8 = 7;
    /// Bad message length.
    pub const BAD_LENGTH: u8 = 8;
    /// Illegal sequence number: repeated or malformed.
    pub const BAD_SEQUENCE_NUMBER: u8 = 9;
    /// Illegal operation on the GNS.
    pub const ILLEGAL_GNS_OPERATION: u8 = 10;
    /// Node busy: its queue is full, or it cannot serve for the moment.
    pub const NODE_BUSY: u8 = 11;
    /// The destination is routed but its node cannot serve for the moment.
    pub const DESTINATION_UNREACHABLE: u8 = 21;
    /// Route error: a route exists but the message went the wrong way.
    pub const ROUTE_ERROR: u8 = 22;
    /// No route: the node the message is routed to is not in the route table.
    pub const ROUTE_NOT_FOUND: u8 = 23;
    /// The charged number is invalid: authentication failed.
    pub const INVALID_CHARGE_NUMBER: u8 = 24;
    /// The user cannot be reached (out of coverage, switched off).
    pub const USER_UNREACHABLE: u8 = 25;
    /// The handset's memory is full.
    pub const HANDSET_MEMORY_FULL: u8 = 26;
    /// The handset does not support short messages.
    pub const HANDSET_NO_SMS: u8 = 27;
    /// The handset failed to receive the message.
    pub const HANDSET_ERROR: u8 = 28;
    /// Unknown user.
    pub const UNKNOWN_USER: u8 = 29;
    /// The function is not provided.
    pub const NOT_PROVIDED: u8 = 30;
    /// Illegal device.
    pub const ILLEGAL_DEVICE: u8 = 31;
    /// System failure.
    pub const SYSTEM_FAILURE: u8 = 32;
    /// The SMSC's queue is full.
    pub const SMSC_QUEUE_FULL: u8 = 33;
}

impl Pdu {
    /// The response that answers `request` with `result`, or `None` when the request has
    /// no response (it is a response itself). Unbind_Resp has no result; a Trace_Resp
    /// carries one hop with the result and empty fields.
    pub fn response_for(request: &Pdu, result: u8) -> Option<Pdu> {
        Pdu::error_response(request.body.command_id(), request.sequence, result)
    }

    /// As [`Pdu::response_for`] when only the command and sequence number are known (a
    /// [`FrameError::Malformed`] frame).
    pub fn error_response(command: CommandId, sequence: SequenceNumber, result: u8) -> Option<Pdu> {
        let answer = Response {
            result,
            reserve: String::new(),
        };
        let body = match command {
            CommandId::Bind => Body::BindResp(answer),
            CommandId::Unbind => Body::UnbindResp,
            CommandId::Submit => Body::SubmitResp(answer),
            CommandId::Deliver => Body::DeliverResp(answer),
            CommandId::Report => Body::ReportResp(answer),
            CommandId::Trace => Body::TraceResp(TraceResp {
                hops: vec![TraceHop {
                    result,
                    node_id: String::new(),
                    receive_time: String::new(),
                    send_time: String::new(),
                    reserve: String::new(),
                }],
            }),
            CommandId::BindResp
            | CommandId::UnbindResp
            | CommandId::SubmitResp
            | CommandId::DeliverResp
            | CommandId::ReportResp
            | CommandId::TraceResp => return None,
        };
        Some(Pdu { sequence, body })
    }
}

impl FrameError {
    /// The response owed for a frame that was consumed but refused: a malformed request
    /// gets its response with the error's result (8 for a wrong length, 5 for a bad field);
    /// an unknown command or a bad length gets none (after a bad length, close the link).
    pub fn response(&self) -> Option<Pdu> {
        match self {
            FrameError::Malformed {
                command,
                sequence,
                result,
                ..
            } => Pdu::error_response(*command, *sequence, *result),
            FrameError::BadLength(_) | FrameError::UnknownCommand { .. } => None,
        }
    }

    /// The result code a response to this error carries, when there is one.
    pub fn result(&self) -> Option<u8> {
        match self {
            FrameError::Malformed { result, .. } => Some(*result),
            FrameError::BadLength(_) | FrameError::UnknownCommand { .. } => None,
        }
    }
}
