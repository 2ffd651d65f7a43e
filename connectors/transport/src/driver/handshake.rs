//! Reads and writes on a fresh stream before a session exists: the login or CONNECT
//! exchange of protocols that authenticate before anything else. The frames go through the
//! protocol's [`Codec`], so the same length limits hold as in the session.

use std::fmt;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Codec, Frame};

/// Why no PDU could be read.
#[derive(Debug)]
pub enum ReadError<C: Codec> {
    /// The peer closed the connection.
    Closed,
    Io(std::io::Error),
    /// A whole frame whose body did not decode.
    Malformed(C::Malformed),
    /// The stream cannot be framed.
    Frame(C::FrameError),
}

impl<C: Codec> fmt::Display for ReadError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed => f.write_str("the peer closed the connection"),
            ReadError::Io(error) => write!(f, "{error}"),
            ReadError::Malformed(_) => f.write_str("a malformed PDU"),
            ReadError::Frame(error) => write!(f, "{error}"),
        }
    }
}

/// Reads until one whole PDU is decoded; what follows it stays in `rbuf`.
pub async fn read_pdu<C: Codec>(
    stream: &mut (impl AsyncRead + Unpin),
    rbuf: &mut BytesMut,
    codec: &mut C,
) -> Result<C::In, ReadError<C>> {
    loop {
        match codec.decode(rbuf) {
            Ok(Some(Frame::Pdu(pdu))) => return Ok(pdu),
            Ok(Some(Frame::Malformed(frame))) => return Err(ReadError::Malformed(frame)),
            Ok(None) => {}
            Err(error) => return Err(ReadError::Frame(error)),
        }
        match stream.read_buf(rbuf).await {
            Ok(0) => return Err(ReadError::Closed),
            Ok(_) => {}
            Err(error) => return Err(ReadError::Io(error)),
        }
    }
}

/// Writes one PDU at once and flushes it.
pub async fn write_pdu<C: Codec>(
    stream: &mut (impl AsyncWrite + Unpin),
    codec: &mut C,
    pdu: &C::Out,
) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(64);
    codec.encode(pdu, &mut buf).map_err(|error| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string())
    })?;
    stream.write_all(&buf).await?;
    stream.flush().await
}
