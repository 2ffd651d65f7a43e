//! The HAProxy PROXY protocol, versions 1 (text) and 2 (binary), parsed without I/O.
//!
//! A listener behind a load balancer reads the first octets of a connection into its read
//! buffer, calls [`parse`] until it returns `Done`, drops the consumed octets and hands the
//! rest to the protocol codec. The client address then comes from the header instead of
//! the socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Version 1 headers are at most 107 octets (PROXY protocol §2.1).
const V1_MAX: usize = 107;
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest version 2 header accepted: addresses plus a generous allowance for TLVs.
const V2_MAX: usize = 16 + 1024;

/// The outcome of looking at the start of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More octets are needed.
    Incomplete,
    /// The header is `consumed` octets long. `source` is the client address, or `None` for
    /// a LOCAL command or an UNKNOWN / non-IP family (use the socket's address then).
    Done {
        consumed: usize,
        source: Option<SocketAddr>,
    },
}

/// Why the start of a connection is not an acceptable PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    #[error("PROXY v1 header is longer than {V1_MAX} octets")]
    V1TooLong,
    #[error("PROXY v1 header is malformed: {0}")]
    V1Malformed(&'static str),
    #[error("PROXY v2 header has version/command octet {0:#04x}")]
    V2BadVersion(u8),
    #[error("PROXY v2 header of {0} octets is longer than allowed")]
    V2TooLong(usize),
    #[error("PROXY v2 address block of {len} octets is too short for family {family:#04x}")]
    V2ShortAddress { family: u8, len: usize },
}

/// Parses a PROXY header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let v1_prefix = b"PROXY ";
    let prefix_of = |sig: &[u8]| buf.len() < sig.len() && sig.starts_with(buf);
    if buf.starts_with(v1_prefix) {
        return parse_v1(buf);
    }
    if buf.starts_with(&V2_SIGNATURE) {
        return parse_v2(buf);
    }
    if prefix_of(v1_prefix) || prefix_of(&V2_SIGNATURE) {
        return Ok(Parsed::Incomplete);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    let line =
        std::str::from_utf8(&window[..end]).map_err(|_| ProxyError::V1Malformed("not ASCII"))?;
    let mut fields = line.split(' ').skip(1);
    let consumed = end + 2;
    let family = fields.next().ok_or(ProxyError::V1Malformed("no family"))?;
    if family == "UNKNOWN" {
        return Ok(Parsed::Done {
            consumed,
            source: None,
        });
    }
    let mut next = |what| fields.next().ok_or(ProxyError::V1Malformed(what));
    let src: IpAddr = next("no source address")?
        .parse()
        .map_err(|_| ProxyError::V1Malformed("bad source address"))?;
    let _dst: IpAddr = next("no destination address")?
        .parse()
        .map_err(|_| ProxyError::V1Malformed("bad destination address"))?;
    let sport: u16 = next("no source port")?
        .parse()
        .map_err(|_| ProxyError::V1Malformed("bad source port"))?;
    let _dport: u16 = next("no destination port")?
        .parse()
        .map_err(|_| ProxyError::V1Malformed("bad destination port"))?;
    let family_matches = matches!(
        (family, src),
        ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_))
    );
    if !family_matches {
        return Err(ProxyError::V1Malformed("family does not match the address"));
    }
    Ok(Parsed::Done {
        consumed,
        source: Some(SocketAddr::new(src, sport)),
    })
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(&[ver_cmd, family, len_hi, len_lo]) = buf.get(12..16) else {
        return Ok(Parsed::Incomplete);
    };
    if ver_cmd >> 4 != 2 || ver_cmd & 0x0f > 1 {
        return Err(ProxyError::V2BadVersion(ver_cmd));
    }
    let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    let total = 16 + len;
    if total > V2_MAX {
        return Err(ProxyError::V2TooLong(total));
    }
    let Some(block) = buf.get(16..total) else {
        return Ok(Parsed::Incomplete);
    };
    // LOCAL: a health check from the proxy itself; keep the socket's address.
    if ver_cmd & 0x0f == 0 {
        return Ok(Parsed::Done {
            consumed: total,
            source: None,
        });
    }
    let short = || ProxyError::V2ShortAddress { family, len };
    let source = match family >> 4 {
        // AF_INET: src(4) dst(4) sport(2) dport(2).
        1 => {
            let a: [u8; 4] = block
                .get(0..4)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?;
            let p: [u8; 2] = block
                .get(8..10)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?;
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(a)),
                u16::from_be_bytes(p),
            ))
        }
        // AF_INET6: src(16) dst(16) sport(2) dport(2).
        2 => {
            let a: [u8; 16] = block
                .get(0..16)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?;
            let p: [u8; 2] = block
                .get(32..34)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?;
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(a)),
                u16::from_be_bytes(p),
            ))
        }
        // AF_UNSPEC and AF_UNIX carry no IP address.
        _ => None,
    };
    Ok(Parsed::Done {
        consumed: total,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_tcp4_gives_the_client_address() {
        let buf = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 2775\r\n\x00\x00\x00\x10";
        assert_eq!(
            parse(buf),
            Ok(Parsed::Done {
                consumed: 46,
                source: Some("192.0.2.7:40000".parse().unwrap())
            })
        );
    }

    #[test]
    fn v1_unknown_keeps_the_socket_address() {
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Ok(Parsed::Done {
                consumed: 15,
                source: None
            })
        );
    }

    #[test]
    fn partial_headers_ask_for_more() {
        assert_eq!(parse(b"PRO"), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Ok(Parsed::Incomplete));
        assert_eq!(parse(&V2_SIGNATURE[..5]), Ok(Parsed::Incomplete));
        assert_eq!(parse(&V2_SIGNATURE), Ok(Parsed::Incomplete));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            parse(b"\x00\x00\x00\x10\x00\x00\x00\x15"),
            Err(ProxyError::Missing)
        );
        assert_eq!(
            parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 x 1\r\n"),
            Err(ProxyError::V1Malformed("bad source port"))
        );
        assert_eq!(
            parse(b"PROXY TCP6 1.2.3.4 5.6.7.8 1 1\r\n"),
            Err(ProxyError::V1Malformed("family does not match the address"))
        );
        assert_eq!(
            parse(&[b'P', b'R', b'O', b'X', b'Y', b' ', b'A'].repeat(20)),
            Err(ProxyError::V1TooLong)
        );
    }

    fn v2(ver_cmd: u8, family: u8, block: &[u8]) -> Vec<u8> {
        let mut buf = V2_SIGNATURE.to_vec();
        buf.push(ver_cmd);
        buf.push(family);
        buf.extend_from_slice(&(block.len() as u16).to_be_bytes());
        buf.extend_from_slice(block);
        buf
    }

    #[test]
    fn v2_tcp4_and_tcp6_give_the_client_address() {
        let block = [10, 0, 0, 1, 10, 0, 0, 2, 0x9c, 0x40, 0x0a, 0xd7];
        assert_eq!(
            parse(&v2(0x21, 0x11, &block)),
            Ok(Parsed::Done {
                consumed: 28,
                source: Some("10.0.0.1:40000".parse().unwrap())
            })
        );
        let mut block6 = [0u8; 36];
        block6[15] = 1;
        block6[32..34].copy_from_slice(&5000u16.to_be_bytes());
        assert_eq!(
            parse(&v2(0x21, 0x21, &block6)),
            Ok(Parsed::Done {
                consumed: 52,
                source: Some("[::1]:5000".parse().unwrap())
            })
        );
    }

    #[test]
    fn v2_local_and_bad_headers() {
        assert_eq!(
            parse(&v2(0x20, 0x00, &[])),
            Ok(Parsed::Done {
                consumed: 16,
                source: None
            })
        );
        assert_eq!(
            parse(&v2(0x31, 0x11, &[])),
            Err(ProxyError::V2BadVersion(0x31))
        );
        assert_eq!(
            parse(&v2(0x21, 0x11, &[1, 2, 3])),
            Err(ProxyError::V2ShortAddress {
                family: 0x11,
                len: 3
            })
        );
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Err(ProxyError::V2TooLong(16 + 0xffff)));
    }
}
