//! Arbitrary bytes as a CMPP stream, in the version the first byte picks: the decoder must
//! never panic or reserve past its limit; whatever decodes must re-encode and decode to
//! itself; a refused request must get a response that encodes; a decoded SUBMIT or DELIVER
//! must go through the mapping without panicking.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_cmpp::codec::{Body, Decoder, EncodeError, FrameError, Pdu, Version};
use tern_cmpp::mapping;

const MAX_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let version = if first & 1 == 0 {
        Version::V20
    } else {
        Version::V30
    };
    let mut decoder = Decoder::new(version, MAX_LEN);
    let mut buf = BytesMut::from(stream);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(pdu)) => {
                check_round_trip(version, &pdu);
                exercise_mapping(version, &pdu);
            }
            Err(error @ FrameError::Malformed { .. }) => {
                if let Some(response) = error.response() {
                    let mut wire = BytesMut::new();
                    response
                        .encode(version, &mut wire)
                        .expect("error responses encode");
                }
            }
            Err(FrameError::UnknownCommand { .. }) => {}
            Ok(None) => {
                assert!(buf.capacity() <= 2 * MAX_LEN.max(stream.len()));
                break;
            }
            Err(FrameError::BadLength(_)) => break,
        }
    }
});

fn check_round_trip(version: Version, pdu: &Pdu) {
    let mut wire = BytesMut::new();
    // A response is read by its length, so a 2.0 link may hold a 3.0-wide result.
    let version = match pdu.encode(version, &mut wire) {
        Ok(()) => version,
        Err(EncodeError::ValueTooLarge { .. }) => {
            pdu.encode(Version::V30, &mut wire).expect("encodes in 3.0");
            Version::V30
        }
        Err(error) => panic!("{pdu:?} decoded but does not encode: {error}"),
    };
    assert_eq!(wire.len(), pdu.encoded_len(version));
    let again = Decoder::new(version, MAX_LEN).decode(&mut wire);
    assert_eq!(again, Ok(Some(pdu.clone())));
}

fn exercise_mapping(version: Version, pdu: &Pdu) {
    match &pdu.body {
        Body::Submit(submit) => {
            let _ = mapping::submit_to_messages(submit, version, 1_709_265_600);
        }
        Body::Deliver(deliver) => match deliver.report(version) {
            Some(Ok(report)) => {
                let domain = mapping::report_to_domain(&report);
                let _ = mapping::domain_to_report(&domain, report.msg_id, "13800138000");
            }
            Some(Err(_)) => {}
            None => {
                if let Ok(message) = mapping::deliver_to_message(deliver, version) {
                    let link = mapping::LinkOptions {
                        version,
                        ..mapping::LinkOptions::default()
                    };
                    let _ = mapping::message_to_delivers(&message, &link, 1);
                }
            }
        },
        _ => {}
    }
}
