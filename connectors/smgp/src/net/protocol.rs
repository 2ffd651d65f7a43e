//! SMGP's side of the shared connection layer: its PDUs as the session reads them
//! ([`Wire`]), its codec for the driver, and its Login PDUs ([`Protocol`]).
//!
//! SMGP has no generic NACK: a request whose body does not decode gets its own response
//! with status 10 (bad structure) and the session goes on; a request id we do not know
//! has no response at all and is only counted; a PacketLength out of bounds ends the
//! session, since the stream cannot be framed any more.

use bytes::BytesMut;
use tern_cn::session::{Garbled, Kind, Wire};
use tern_transport::driver::{self, Frame};

use crate::codec::{
    Body, Decoder, EncodeError, FrameError, Login, LoginResp, Pdu, RequestId, VERSION,
};
use crate::link::{Command, LoginAnswer, LoginFields, Names, Protocol};

/// SMGP 3.0, as the shared connection layer runs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smgp;

/// The shared command of a request id, and whether it is the response.
pub(crate) fn command(id: RequestId) -> Option<(Command, bool)> {
    Command::from_id(id.value())
}

impl Wire for Smgp {
    type Pdu = Pdu;
    type Body = Body;
    crate::link_wire_items!();

    fn sequence(pdu: &Pdu) -> u32 {
        pdu.sequence_id
    }

    fn command(pdu: &Pdu) -> Option<(Command, bool)> {
        command(pdu.body.request_id())
    }

    fn body_command(body: &Body) -> Option<Command> {
        command(body.request_id()).map(|(command, _)| command)
    }

    fn request(sequence_id: u32, body: Body) -> Pdu {
        Pdu { sequence_id, body }
    }

    fn plain(kind: Kind) -> Option<Body> {
        match Command::plain(kind)? {
            Command::ActiveTest => Some(Body::ActiveTest),
            Command::Exit => Some(Body::Exit),
            _ => None,
        }
    }

    fn response_for(request: &Pdu, status: u32) -> Option<Pdu> {
        Pdu::response_for(request, status)
    }
}

crate::link_driven!(Smgp, Decoder, Pdu);

impl Protocol for Smgp {
    const NAME: &'static str = "smgp";
    const NAMES: Names = crate::metric_names!("smgp");
    const VERSION: u8 = VERSION;

    fn codec(max_pdu_bytes: usize) -> Decoder {
        Decoder::new(max_pdu_bytes)
    }

    fn error_response(command: Command, sequence: u32, status: u32) -> Option<Pdu> {
        let request = RequestId::from_value(command.id())?;
        Pdu::error_response(request, sequence, status)
    }

    fn login(sequence_id: u32, login: &LoginFields) -> Pdu {
        Pdu {
            sequence_id,
            body: Body::Login(Login {
                client_id: login.client_id.clone(),
                authenticator_client: login.authenticator_client,
                login_mode: login.login_mode,
                timestamp: login.timestamp,
                client_version: login.version,
            }),
        }
    }

    fn login_fields(pdu: &Pdu) -> Option<LoginFields> {
        let Body::Login(login) = &pdu.body else {
            return None;
        };
        Some(LoginFields {
            client_id: login.client_id.clone(),
            authenticator_client: login.authenticator_client,
            login_mode: login.login_mode,
            timestamp: login.timestamp,
            version: login.client_version,
        })
    }

    fn login_resp(sequence_id: u32, answer: LoginAnswer) -> Pdu {
        Pdu {
            sequence_id,
            body: Body::LoginResp(LoginResp {
                status: answer.status,
                authenticator_server: answer.authenticator_server,
                server_version: answer.version,
            }),
        }
    }

    fn login_answer(pdu: &Pdu) -> Option<LoginAnswer> {
        let Body::LoginResp(resp) = &pdu.body else {
            return None;
        };
        Some(LoginAnswer {
            status: resp.status,
            authenticator_server: resp.authenticator_server,
            version: resp.server_version,
        })
    }
}

impl driver::Codec for Decoder {
    type FrameError = FrameError;
    type EncodeError = EncodeError;
    type Malformed = Garbled<Smgp>;
    type In = Pdu;
    type Out = Pdu;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        let error = match Decoder::decode(self, buf) {
            Ok(pdu) => return Ok(pdu.map(Frame::Pdu)),
            Err(error) => error,
        };
        let (command, sequence_id) = match error {
            FrameError::Malformed {
                request,
                sequence_id,
                ..
            } => (command(request), sequence_id),
            FrameError::UnknownRequest { sequence_id, .. } => (None, sequence_id),
            FrameError::BadLength(_) => return Err(error),
        };
        let answer = error.response();
        Ok(Some(Frame::Malformed(Garbled::new(
            command,
            sequence_id,
            answer,
            &error,
        ))))
    }

    fn encode(&mut self, pdu: &Pdu, buf: &mut BytesMut) -> Result<(), EncodeError> {
        pdu.encode(buf)
    }
}

// The statuses the shared layer assumes are this specification's.
const _: () = assert!(
    Smgp::BUSY == crate::codec::status::SYSTEM_BUSY
        && Smgp::DUPLICATE_SEQUENCE == crate::codec::status::DUPLICATE_SEQUENCE
        && Smgp::AUTH_FAILED == crate::codec::status::AUTH_FAILED
        && Smgp::VERSION_TOO_HIGH == crate::codec::status::VERSION_TOO_HIGH
        && Smgp::BAD_STRUCTURE == crate::codec::status::BAD_STRUCTURE
);
