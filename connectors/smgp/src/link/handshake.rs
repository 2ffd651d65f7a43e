//! Login and Login_Resp on a fresh stream, before a session exists.
//!
//! Server: Login must be the first PDU; a version above ours is refused, the application
//! names the account's shared secret, and the AuthenticatorClient is checked in constant
//! time together with the timestamp, which must lie within a window around now
//! (`tern_cn::login`). Client: Login goes out with a fresh timestamp; a non-zero status
//! ends the attempt. A wrong AuthenticatorServer is only logged: gateways fill it
//! carelessly, and refusing them would refuse working links while protecting nothing the
//! TCP connection does not.

use std::time::Duration;

use bytes::BytesMut;
use tern_cn::auth::authenticator_client;
use tern_cn::driver::Driven;
use tern_transport::driver::handshake;
use tern_transport::Stream;
use tracing::{debug, warn};

use super::{Command, LoginAnswer, LoginFields, Protocol};

/// Why no PDU could be read.
pub(crate) type ReadError<P> = handshake::ReadError<<P as Driven>::Codec>;

/// Reads until one whole PDU is decoded; what follows it stays in `rbuf`.
pub(crate) async fn read_pdu<P: Protocol>(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    codec: &mut P::Codec,
) -> Result<P::Pdu, ReadError<P>> {
    handshake::read_pdu(stream, rbuf, codec).await
}

/// Writes one PDU at once (only used before the session's write buffer exists).
pub(crate) async fn write_pdu<P: Protocol>(
    stream: &mut Stream,
    codec: &mut P::Codec,
    pdu: &P::Pdu,
) -> std::io::Result<()> {
    handshake::write_pdu(stream, codec, pdu).await
}

/// The Login_Resp accepting `login`.
pub(crate) fn accept<P: Protocol>(login: &LoginFields, sequence: u32, secret: &str) -> P::Pdu {
    let authenticator_server =
        tern_cn::auth::authenticator_server(P::OK, &login.authenticator_client, secret.as_bytes());
    let answer = LoginAnswer {
        status: P::OK,
        authenticator_server,
        version: login.version.min(P::VERSION),
    };
    P::login_resp(sequence, answer)
}

/// A Login_Resp refusing with `status`: no authenticator.
pub(crate) fn refuse<P: Protocol>(sequence: u32, status: u32) -> P::Pdu {
    let answer = LoginAnswer {
        status,
        authenticator_server: [0; 16],
        version: P::VERSION,
    };
    P::login_resp(sequence, answer)
}

/// Why a client's Login did not give a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientFailure {
    /// The gateway answered with this non-zero status.
    #[error("Login refused with status {0}")]
    Refused(u32),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

/// Client: the sequence id of our Login; the session's requests follow it.
pub(crate) const LOGIN_SEQUENCE: u32 = 1;

/// What a client logs in with.
pub(crate) struct Credentials<'a> {
    pub client_id: &'a str,
    pub secret: &'a str,
    pub login_mode: u8,
    pub version: u8,
}

/// Client: sends Login and waits up to `timeout` for Login_Resp.
pub(crate) async fn client_login<P: Protocol>(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    codec: &mut P::Codec,
    credentials: &Credentials<'_>,
    timeout: Duration,
) -> Result<(), ClientFailure> {
    let timestamp = tern_cn::time::timestamp_now();
    let secret = credentials.secret.as_bytes();
    let login = LoginFields {
        client_id: credentials.client_id.to_owned(),
        authenticator_client: authenticator_client(credentials.client_id, secret, timestamp),
        login_mode: credentials.login_mode,
        timestamp,
        version: credentials.version,
    };
    write_pdu::<P>(stream, codec, &P::login(LOGIN_SEQUENCE, &login))
        .await
        .map_err(|error| ClientFailure::Io(error.to_string()))?;
    let response = tokio::time::timeout(timeout, read_pdu::<P>(stream, rbuf, codec))
        .await
        .map_err(|_| ClientFailure::Timeout)?;
    let answer = match response {
        Ok(pdu) => match P::login_answer(&pdu) {
            Some(answer) => answer,
            None => {
                return Err(ClientFailure::Protocol(format!(
                    "expected Login_Resp, got {pdu:?}"
                )))
            }
        },
        Err(handshake::ReadError::Io(error)) => return Err(ClientFailure::Io(error.to_string())),
        Err(error) => return Err(ClientFailure::Protocol(error.to_string())),
    };
    if answer.status != P::OK {
        return Err(ClientFailure::Refused(answer.status));
    }
    if !P::server_knows_secret(&answer, &login.authenticator_client, secret) {
        warn!("the gateway's AuthenticatorServer does not match our secret; staying logged in");
    }
    if answer.version != credentials.version {
        debug!(
            asked = credentials.version,
            answered = answer.version,
            "the gateway answered with another version"
        );
    }
    Ok(())
}

/// Whether a frame that did not decode was a Login.
pub(crate) fn is_login(command: Option<(Command, bool)>) -> bool {
    command == Some((Command::Login, false))
}
