//! CNGP's side of the shared connection layer: its PDUs as the session reads them
//! ([`Wire`]), its codec for the driver, and its Login PDUs ([`Protocol`]).
//!
//! CNGP carries a response's status in the header, so every request can be answered, even
//! one of a command this crate does not know (a bare header with status 11). A
//! Total_Length out of bounds ends the session: the stream cannot be framed any more.

use bytes::BytesMut;
use tern_cn::session::{Garbled, Kind, Wire};
use tern_smgp::link::{Command, LoginAnswer, LoginFields, Names, Protocol};
use tern_transport::driver::{self, Frame};

use crate::auth;
use crate::codec::{Body, Decoder, EncodeError, FrameError, Login, LoginResp, Pdu, VERSION};

/// CNGP 2.0, as the shared connection layer runs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cngp;

impl Wire for Cngp {
    type Pdu = Pdu;
    type Body = Body;
    tern_smgp::link_wire_items!();

    fn sequence(pdu: &Pdu) -> u32 {
        pdu.sequence_id
    }

    fn command(pdu: &Pdu) -> Option<(Command, bool)> {
        Command::from_id(pdu.body.command()?.value())
    }

    fn body_command(body: &Body) -> Option<Command> {
        Command::from_id(body.command()?.value()).map(|(command, _)| command)
    }

    fn request(sequence_id: u32, body: Body) -> Pdu {
        Pdu::request(sequence_id, body)
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

tern_smgp::link_driven!(Cngp, Decoder, Pdu);

impl Protocol for Cngp {
    const NAME: &'static str = "cngp";
    const NAMES: Names = tern_smgp::metric_names!("cngp");
    const VERSION: u8 = VERSION;

    fn codec(max_pdu_bytes: usize) -> Decoder {
        Decoder::new(max_pdu_bytes)
    }

    fn error_response(command: Command, sequence: u32, status: u32) -> Option<Pdu> {
        Pdu::error_response(command.id(), sequence, status)
    }

    fn login(sequence_id: u32, login: &LoginFields) -> Pdu {
        let body = Body::Login(Login {
            client_id: login.client_id.clone(),
            authenticator_client: login.authenticator_client,
            login_mode: login.login_mode,
            timestamp: login.timestamp,
            version: login.version,
        });
        Pdu::request(sequence_id, body)
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
            version: login.version,
        })
    }

    /// The status goes in the header.
    fn login_resp(sequence_id: u32, answer: LoginAnswer) -> Pdu {
        Pdu {
            sequence_id,
            status: answer.status,
            body: Body::LoginResp(LoginResp {
                authenticator_server: answer.authenticator_server,
                version: answer.version,
            }),
        }
    }

    fn login_answer(pdu: &Pdu) -> Option<LoginAnswer> {
        let Body::LoginResp(resp) = &pdu.body else {
            return None;
        };
        Some(LoginAnswer {
            status: pdu.status,
            authenticator_server: resp.authenticator_server,
            version: resp.version,
        })
    }

    /// Status hashed in four octets or, as some servers do, in one.
    fn server_knows_secret(answer: &LoginAnswer, client: &[u8; 16], secret: &[u8]) -> bool {
        let resp = LoginResp {
            authenticator_server: answer.authenticator_server,
            version: answer.version,
        };
        auth::verify_login_resp(&resp, answer.status, client, secret)
    }
}

impl driver::Codec for Decoder {
    type FrameError = FrameError;
    type EncodeError = EncodeError;
    type Malformed = Garbled<Cngp>;
    type In = Pdu;
    type Out = Pdu;

    fn decode(&mut self, buf: &mut BytesMut) -> driver::Decoded<Self> {
        match Decoder::decode(self, buf) {
            Ok(pdu) => Ok(pdu.map(Frame::Pdu)),
            Err(FrameError::BadLength(length)) => Err(FrameError::BadLength(length)),
            // Consumed frames: answered from the header alone.
            Err(error) => {
                let (id, sequence_id) = match error {
                    FrameError::Malformed {
                        command,
                        sequence_id,
                        ..
                    } => (command.value(), sequence_id),
                    FrameError::UnknownCommand {
                        command_id,
                        sequence_id,
                    } => (command_id, sequence_id),
                    FrameError::BadLength(_) => (0, 0),
                };
                let garbled =
                    Garbled::new(Command::from_id(id), sequence_id, error.response(), &error);
                Ok(Some(Frame::Malformed(garbled)))
            }
        }
    }

    fn encode(&mut self, pdu: &Pdu, buf: &mut BytesMut) -> Result<(), EncodeError> {
        pdu.encode(buf)
    }
}

// The statuses the shared layer assumes are this specification's.
const _: () = assert!(
    Cngp::BUSY == crate::codec::status::SYSTEM_BUSY
        && Cngp::DUPLICATE_SEQUENCE == crate::codec::status::DUPLICATE_SEQUENCE
        && Cngp::AUTH_FAILED == crate::codec::status::AUTH_FAILED
        && Cngp::VERSION_TOO_HIGH == crate::codec::status::VERSION_TOO_HIGH
        && Cngp::BAD_STRUCTURE == crate::codec::status::BAD_STRUCTURE
);
