//! Login and Login_Resp on a fresh stream, before a session exists.
//!
//! Server: Login must be the first PDU; a ClientVersion above ours is refused with status
//! 22, the application names the account's shared secret, and the AuthenticatorClient is
//! checked in constant time together with the timestamp, which must lie within a window
//! around now (`tern_cn::login`). Client: Login goes out with a fresh timestamp; a non-zero
//! status ends the attempt. A wrong AuthenticatorServer is only logged: gateways fill it
//! carelessly, and refusing them would refuse working links while protecting nothing the
//! TCP connection does not.

use std::time::Duration;

use bytes::BytesMut;
use tern_transport::driver::handshake;
use tern_transport::Stream;
use tracing::{debug, warn};

use crate::auth;
use crate::codec::{status, Body, Decoder, Login, LoginResp, Pdu, VERSION};

/// Why no PDU could be read.
pub(crate) type ReadError = handshake::ReadError<Decoder>;

/// Reads until one whole PDU is decoded; what follows it stays in `rbuf`.
pub(crate) async fn read_pdu(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    decoder: &mut Decoder,
) -> Result<Pdu, ReadError> {
    handshake::read_pdu(stream, rbuf, decoder).await
}

/// Writes one PDU at once (only used before the session's write buffer exists).
pub(crate) async fn write_pdu(
    stream: &mut Stream,
    decoder: &mut Decoder,
    pdu: &Pdu,
) -> std::io::Result<()> {
    handshake::write_pdu(stream, decoder, pdu).await
}

/// The Login_Resp accepting `login`.
pub(crate) fn accept(login: &Login, sequence_id: u32, secret: &str) -> Pdu {
    let authenticator_server =
        auth::authenticator_server(status::OK, &login.authenticator_client, secret.as_bytes());
    Pdu {
        sequence_id,
        body: Body::LoginResp(LoginResp {
            status: status::OK,
            authenticator_server,
            server_version: VERSION,
        }),
    }
}

/// A Login_Resp refusing with `status`: no authenticator.
pub(crate) fn refuse(sequence_id: u32, status: u32) -> Pdu {
    Pdu {
        sequence_id,
        body: Body::LoginResp(LoginResp {
            status,
            authenticator_server: [0; 16],
            server_version: VERSION,
        }),
    }
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

/// Client: the SequenceID of our Login; the session's requests follow it.
pub(crate) const LOGIN_SEQUENCE: u32 = 1;

/// What a client logs in with.
pub(crate) struct Credentials<'a> {
    pub client_id: &'a str,
    pub secret: &'a str,
    pub login_mode: u8,
    pub version: u8,
}

/// Client: sends Login and waits up to `timeout` for Login_Resp.
pub(crate) async fn client_login(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    decoder: &mut Decoder,
    credentials: &Credentials<'_>,
    timeout: Duration,
) -> Result<(), ClientFailure> {
    let timestamp = auth::timestamp_now();
    let secret = credentials.secret.as_bytes();
    let authenticator_client = auth::authenticator_client(credentials.client_id, secret, timestamp);
    let login = Pdu {
        sequence_id: LOGIN_SEQUENCE,
        body: Body::Login(Login {
            client_id: credentials.client_id.to_owned(),
            authenticator_client,
            login_mode: credentials.login_mode,
            timestamp,
            client_version: credentials.version,
        }),
    };
    write_pdu(stream, decoder, &login)
        .await
        .map_err(|error| ClientFailure::Io(error.to_string()))?;
    let response = tokio::time::timeout(timeout, read_pdu(stream, rbuf, decoder))
        .await
        .map_err(|_| ClientFailure::Timeout)?;
    let resp = match response {
        Ok(Pdu {
            body: Body::LoginResp(resp),
            ..
        }) => resp,
        Ok(other) => {
            return Err(ClientFailure::Protocol(format!(
                "expected Login_Resp, got {:?}",
                other.body.request_id()
            )))
        }
        Err(ReadError::Io(error)) => return Err(ClientFailure::Io(error.to_string())),
        Err(error) => return Err(ClientFailure::Protocol(error.to_string())),
    };
    if resp.status != status::OK {
        return Err(ClientFailure::Refused(resp.status));
    }
    if !auth::verify_login_resp(&resp, &authenticator_client, secret) {
        warn!("the gateway's AuthenticatorServer does not match our secret; staying logged in");
    }
    if resp.server_version != credentials.version {
        debug!(
            asked = credentials.version,
            answered = resp.server_version,
            "the gateway answered with another version"
        );
    }
    Ok(())
}
