//! Property tests of the PROXY protocol parser.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use tern_transport::proxy::{parse, Parsed};

fn v1(source: SocketAddr, dest: SocketAddr) -> Vec<u8> {
    let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        source.ip(),
        dest.ip(),
        source.port(),
        dest.port()
    )
    .into_bytes()
}

fn v2(source: SocketAddr, dest: SocketAddr) -> Vec<u8> {
    let mut out = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let (family, block) = match (source.ip(), dest.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            (0x11, [s.octets().to_vec(), d.octets().to_vec()].concat())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            (0x21, [s.octets().to_vec(), d.octets().to_vec()].concat())
        }
        _ => unreachable!("same family by construction"),
    };
    out.push(0x21);
    out.push(family);
    let len = block.len() + 4;
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&dest.port().to_be_bytes());
    out
}

fn pair() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    prop_oneof![
        (
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<[u8; 4]>(),
            any::<u16>()
        )
            .prop_map(|(s, sp, d, dp)| (
                SocketAddr::new(IpAddr::from(s), sp),
                SocketAddr::new(IpAddr::from(d), dp)
            )),
        (
            any::<[u8; 16]>(),
            any::<u16>(),
            any::<[u8; 16]>(),
            any::<u16>()
        )
            .prop_map(|(s, sp, d, dp)| (
                SocketAddr::new(IpAddr::from(s), sp),
                SocketAddr::new(IpAddr::from(d), dp)
            )),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Parsed::Done { consumed, .. }) = parse(&data) {
            prop_assert!(consumed <= data.len());
        }
    }

    #[test]
    fn generated_headers_give_back_the_source((source, dest) in pair(), trailer in proptest::collection::vec(any::<u8>(), 0..32), v2_form in any::<bool>()) {
        let header = if v2_form { v2(source, dest) } else { v1(source, dest) };
        let mut buf = header.clone();
        buf.extend_from_slice(&trailer);
        prop_assert_eq!(parse(&buf), Ok(Parsed::Done { consumed: header.len(), source: Some(source) }));
        // Every strict prefix asks for more.
        for cut in 0..header.len() {
            prop_assert_eq!(parse(&header[..cut]), Ok(Parsed::Incomplete), "cut at {}", cut);
        }
    }
}
