//! Arbitrary bytes as an SMPP stream: the frame decoder must never panic or allocate past
//! its limit, every frame it accepts must re-encode to exactly the bytes it came from, and
//! every rejection must yield a response that encodes.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_smpp::codec::{encode, error_response, peek_header, Decoder, Inbound};

const MAX_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let decoder = Decoder::new(MAX_LEN);
    let mut buf = BytesMut::from(data);
    loop {
        let frame = peek_header(&buf)
            .and_then(|header| usize::try_from(header.command_length).ok())
            .and_then(|len| buf.get(..len))
            .map(<[u8]>::to_vec);
        match decoder.decode(&mut buf) {
            Ok(Some(Inbound::Command(command))) => {
                let mut wire = BytesMut::new();
                encode(&command, &mut wire);
                assert_eq!(
                    Some(&wire[..]),
                    frame.as_deref(),
                    "re-encoding changed the frame"
                );
                match decoder.decode(&mut wire) {
                    Ok(Some(Inbound::Command(again))) => assert_eq!(again, command),
                    other => panic!("our own encoding of {command:?} decoded as {other:?}"),
                }
            }
            Ok(Some(Inbound::Rejected { header, status, .. })) => {
                let mut wire = BytesMut::new();
                encode(&error_response(&header, status), &mut wire);
                assert!(wire.len() >= 16);
            }
            Ok(None) => {
                // BytesMut may double on reserve, but never beyond the frame limit it was asked for.
                assert!(buf.capacity() <= 2 * MAX_LEN.max(data.len()));
                break;
            }
            Err(_) => break,
        }
    }
});
