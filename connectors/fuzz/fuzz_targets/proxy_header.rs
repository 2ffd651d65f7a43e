//! The PROXY protocol parser on arbitrary connection prefixes: it never panics, never claims
//! more octets than it was given, and gives the same answer when more octets follow a
//! complete header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_transport::proxy::{parse, Parsed};

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(Parsed::Done { consumed, source }) => {
            assert!(consumed <= data.len());
            // A complete header is complete whatever follows it.
            let prefix = &data[..consumed];
            assert_eq!(parse(prefix), Ok(Parsed::Done { consumed, source }));
        }
        Ok(Parsed::Incomplete) | Err(_) => {}
    }
});
