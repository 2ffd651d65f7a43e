//! BIND and BIND_RESP on a fresh stream, before a session exists.
//!
//! Server: BIND must be the first PDU; its login type must be one the listener takes (else
//! result 4), the application names the password of the login name (or refuses), and the
//! name and password are compared in constant time (`crate::auth`; else result 1). Client:
//! BIND goes out with the link's login type and credentials; a non-zero result ends the
//! attempt.

use std::time::Duration;

use bytes::BytesMut;
use tern_transport::driver::handshake;
use tern_transport::Stream;

use crate::auth;
use crate::codec::{Body, Decoder, LoginType, Pdu, Response};
use crate::msgid::SequenceNumber;
use crate::result;

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

/// Writes one PDU at once (only before the session's write buffer exists).
pub(crate) async fn write_pdu(stream: &mut Stream, pdu: &Pdu) -> std::io::Result<()> {
    handshake::write_pdu(
        stream,
        &mut Decoder::new(crate::codec::DEFAULT_MAX_LEN),
        pdu,
    )
    .await
}

/// The BIND_RESP to the BIND numbered `sequence`.
pub(crate) fn bind_resp(sequence: SequenceNumber, result: u8) -> Pdu {
    Pdu {
        sequence,
        body: Body::BindResp(Response {
            result,
            reserve: String::new(),
        }),
    }
}

/// Why a client's BIND did not give a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientFailure {
    /// The peer answered with this non-zero result.
    #[error("BIND refused with result {0}")]
    Refused(u8),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

/// What a client binds with.
pub(crate) struct Login<'a> {
    pub login_type: LoginType,
    pub login_name: &'a str,
    pub password: &'a str,
    pub sequence: SequenceNumber,
}

/// Client: sends BIND and waits up to `timeout` for BIND_RESP.
pub(crate) async fn client_bind(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    decoder: &mut Decoder,
    login: Login<'_>,
    timeout: Duration,
) -> Result<(), ClientFailure> {
    let bind = auth::bind(login.login_type, login.login_name, login.password)
        .map_err(|error| ClientFailure::Protocol(error.to_string()))?;
    let request = Pdu {
        sequence: login.sequence,
        body: Body::Bind(bind),
    };
    write_pdu(stream, &request)
        .await
        .map_err(|error| ClientFailure::Io(error.to_string()))?;
    let answer = tokio::time::timeout(timeout, read_pdu(stream, rbuf, decoder))
        .await
        .map_err(|_| ClientFailure::Timeout)?;
    let resp = match answer {
        Ok(Pdu {
            body: Body::BindResp(resp),
            ..
        }) => resp,
        Ok(other) => {
            return Err(ClientFailure::Protocol(format!(
                "expected BIND_RESP, got {:?}",
                other.body.command_id()
            )))
        }
        Err(ReadError::Io(error)) => return Err(ClientFailure::Io(error.to_string())),
        Err(error @ ReadError::Closed) => return Err(ClientFailure::Io(error.to_string())),
        Err(ReadError::Malformed(error)) => return Err(ClientFailure::Protocol(error.to_string())),
        Err(ReadError::Frame(error)) => return Err(ClientFailure::Protocol(error.to_string())),
    };
    if resp.result != result::OK {
        return Err(ClientFailure::Refused(resp.result));
    }
    Ok(())
}
