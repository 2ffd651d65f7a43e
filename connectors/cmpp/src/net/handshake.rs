//! CONNECT and CONNECT_RESP on a fresh stream, before a session exists.
//!
//! Server: CONNECT must be the first PDU; the version is settled (a version above ours is
//! refused with status 4), the application names the account's shared secret, and the
//! AuthenticatorSource is checked in constant time together with the timestamp, which
//! must lie within a window around now so that a captured CONNECT cannot be replayed
//! later. Client: CONNECT goes out with a fresh timestamp; a non-zero status ends the
//! attempt. A wrong AuthenticatorISMG is only logged: many gateways fill it carelessly
//! (a wrong status width, zeros, the 2.0 formula on a 3.0 link), and refusing them would
//! refuse working links while protecting nothing the TCP connection does not.

use std::time::Duration;

use bytes::BytesMut;
use tern_transport::driver::handshake;
use tern_transport::Stream;
use tracing::{debug, warn};

use super::rules::CONNECT_OTHER;
use crate::auth;
use crate::codec::{Body, Connect, ConnectResp, Decoder, Pdu, Version, DEFAULT_MAX_LEN};
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

/// Writes one PDU at once in `version`'s layout (only used before the session's write
/// buffer exists).
pub(crate) async fn write_pdu(
    stream: &mut Stream,
    pdu: &Pdu,
    version: Version,
) -> std::io::Result<()> {
    handshake::write_pdu(stream, &mut Decoder::new(version, DEFAULT_MAX_LEN), pdu).await
}

/// The server's verdict on a CONNECT's version octet.
pub(crate) enum VersionCheck {
    Accepted(Version),
    /// Refuse with `status`, answering in `layout`.
    Refused {
        status: u32,
        layout: Version,
    },
}

pub(crate) fn check_version(requested: u8, max: Version) -> VersionCheck {
    match Version::from_byte(requested) {
        Some(version) if version.byte() <= max.byte() => VersionCheck::Accepted(version),
        // The client reads the answer in the layout of the version it asked for.
        Some(version) => VersionCheck::Refused {
            status: result::VERSION_TOO_HIGH,
            layout: version,
        },
        None if requested > max.byte() => VersionCheck::Refused {
            status: result::VERSION_TOO_HIGH,
            layout: max,
        },
        // Below 2.0 (CMPP 1.x): not too high, just not spoken here.
        None => VersionCheck::Refused {
            status: CONNECT_OTHER,
            layout: max,
        },
    }
}

/// Why the server refuses a CONNECT whose account it knows; both are status 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The AuthenticatorSource is not the MD5 of the account's secret: a wrong secret.
    Authenticator,
    /// The timestamp is further than the window from now: a replay, or a clock far off.
    Timestamp,
}

/// Checks a CONNECT against the account's secret (in constant time) and the clock.
pub(crate) fn verify_connect(
    connect: &Connect,
    secret: &str,
    window: Duration,
    now_unix: i64,
) -> Result<(), AuthFailure> {
    if !auth::verify_connect(connect, secret.as_bytes()) {
        return Err(AuthFailure::Authenticator);
    }
    // The specification's clock is China time; SPs whose hosts run on UTC write UTC.
    // Either reading within the window is fresh: the window still refuses replays.
    let china = auth::timestamp_skew(connect.timestamp, now_unix);
    let utc = auth::timestamp_skew(connect.timestamp, now_unix - CHINA_OFFSET_SECS);
    if china.min(utc) > window {
        return Err(AuthFailure::Timestamp);
    }
    Ok(())
}

/// UTC+8, the clock CMPP timestamps are written in.
const CHINA_OFFSET_SECS: i64 = 8 * 3600;

/// The CONNECT_RESP accepting `connect` in `version`.
pub(crate) fn accept(connect: &Connect, sequence_id: u32, version: Version, secret: &str) -> Pdu {
    let authenticator_ismg = auth::authenticator_ismg(
        result::OK,
        version,
        &connect.authenticator_source,
        secret.as_bytes(),
    );
    Pdu {
        sequence_id,
        body: Body::ConnectResp(ConnectResp {
            status: result::OK,
            authenticator_ismg,
            version: version.byte(),
        }),
    }
}

/// A CONNECT_RESP refusing with `status`: no authenticator; the version octet says what
/// we speak.
pub(crate) fn refuse(sequence_id: u32, status: u32, ours: Version) -> Pdu {
    Pdu {
        sequence_id,
        body: Body::ConnectResp(ConnectResp {
            status,
            authenticator_ismg: [0; 16],
            version: ours.byte(),
        }),
    }
}

/// Why a client's CONNECT did not give a session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientFailure {
    /// The gateway answered with this non-zero status.
    #[error("CONNECT refused with status {0}")]
    Refused(u32),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

/// Client: the Sequence_Id of our CONNECT; the session's requests follow it.
pub(crate) const CONNECT_SEQUENCE: u32 = 1;

/// Client: sends CONNECT and waits up to `timeout` for CONNECT_RESP.
pub(crate) async fn client_connect(
    stream: &mut Stream,
    rbuf: &mut BytesMut,
    decoder: &mut Decoder,
    source_addr: &str,
    secret: &str,
    timeout: Duration,
) -> Result<(), ClientFailure> {
    let version = decoder.version();
    let timestamp = auth::timestamp_now();
    let authenticator_source =
        auth::authenticator_source(source_addr, secret.as_bytes(), timestamp);
    let connect = Pdu {
        sequence_id: CONNECT_SEQUENCE,
        body: Body::Connect(Connect {
            source_addr: source_addr.to_owned(),
            authenticator_source,
            version: version.byte(),
            timestamp,
        }),
    };
    write_pdu(stream, &connect, version)
        .await
        .map_err(|error| ClientFailure::Io(error.to_string()))?;
    let response = tokio::time::timeout(timeout, read_pdu(stream, rbuf, decoder))
        .await
        .map_err(|_| ClientFailure::Timeout)?;
    let resp = match response {
        Ok(Pdu {
            body: Body::ConnectResp(resp),
            ..
        }) => resp,
        Ok(other) => {
            return Err(ClientFailure::Protocol(format!(
                "expected CONNECT_RESP, got {:?}",
                other.body.command_id()
            )))
        }
        Err(ReadError::Io(error)) => return Err(ClientFailure::Io(error.to_string())),
        Err(ReadError::Malformed(frame)) => {
            return Err(ClientFailure::Protocol(format!(
                "malformed {:?}: {}",
                frame.command, frame.reason
            )))
        }
        Err(error) => return Err(ClientFailure::Protocol(error.to_string())),
    };
    if resp.status != result::OK {
        return Err(ClientFailure::Refused(resp.status));
    }
    let expected = auth::authenticator_ismg(
        result::OK,
        version,
        &authenticator_source,
        secret.as_bytes(),
    );
    if expected != resp.authenticator_ismg {
        warn!("the gateway's AuthenticatorISMG does not match our secret; staying connected");
    }
    if resp.version != version.byte() {
        debug!(
            asked = version.byte(),
            answered = resp.version,
            "the gateway answered with another version octet"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_at(secret: &str, timestamp: u32) -> Connect {
        Connect {
            source_addr: "901234".into(),
            authenticator_source: auth::authenticator_source(
                "901234",
                secret.as_bytes(),
                timestamp,
            ),
            version: 0x30,
            timestamp,
        }
    }

    #[test]
    fn timestamps_in_china_time_or_utc_are_fresh_and_old_ones_are_not() {
        let now = 1_795_400_000;
        let window = Duration::from_secs(900);
        // `timestamp_from_unix` writes China time; a host on UTC writes eight hours less.
        let china = auth::timestamp_from_unix(now);
        let utc = auth::timestamp_from_unix(now - CHINA_OFFSET_SECS);
        let old = auth::timestamp_from_unix(now - 3600);
        assert_eq!(
            verify_connect(&connect_at("s", china), "s", window, now),
            Ok(())
        );
        assert_eq!(
            verify_connect(&connect_at("s", utc), "s", window, now),
            Ok(())
        );
        assert_eq!(
            verify_connect(&connect_at("s", old), "s", window, now),
            Err(AuthFailure::Timestamp)
        );
        assert_eq!(
            verify_connect(&connect_at("s", china), "other", window, now),
            Err(AuthFailure::Authenticator)
        );
    }
}
