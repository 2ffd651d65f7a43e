//! Arbitrary bytes as an SGIP stream: the decoder must never panic or reserve past its
//! limit; whatever decodes must re-encode and decode to itself; a refused request must get
//! a response that encodes; a decoded SUBMIT, DELIVER or REPORT must go through the mapping
//! without panicking, and what the mapping makes must encode.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use tern_sgip::codec::{Body, Decoder, Deliver, FrameError, Pdu};
use tern_sgip::mapping::{self, LinkOptions};

const MAX_LEN: usize = 4096;
// 2024-03-01 12:00:00 +08:00.
const NOW: i64 = 1_709_265_600;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(MAX_LEN);
    let mut buf = BytesMut::from(data);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(pdu)) => {
                check_round_trip(&pdu);
                exercise_mapping(&pdu);
            }
            Err(error @ FrameError::Malformed { .. }) => {
                if let Some(response) = error.response() {
                    let mut wire = BytesMut::new();
                    response.encode(&mut wire).expect("error responses encode");
                }
            }
            Err(FrameError::UnknownCommand { .. }) => {}
            Ok(None) => {
                assert!(buf.capacity() <= 2 * MAX_LEN.max(data.len()));
                break;
            }
            Err(FrameError::BadLength(_)) => break,
        }
    }
});

fn check_round_trip(pdu: &Pdu) {
    let mut wire = BytesMut::new();
    if let Err(error) = pdu.encode(&mut wire) {
        panic!("{pdu:?} decoded but does not encode: {error}");
    }
    assert_eq!(wire.len(), pdu.encoded_len());
    let again = Decoder::new(MAX_LEN).decode(&mut wire);
    assert_eq!(again, Ok(Some(pdu.clone())));
    if let Some(answer) = Pdu::response_for(pdu, 0) {
        answer
            .encode(&mut BytesMut::new())
            .expect("responses encode");
    }
}

fn encodes(pdu: Pdu) {
    let mut wire = BytesMut::new();
    if let Err(error) = pdu.encode(&mut wire) {
        panic!("{pdu:?} came from the mapping but does not encode: {error}");
    }
}

fn exercise_mapping(pdu: &Pdu) {
    let link = LinkOptions {
        sp_number: "10655".into(),
        ..LinkOptions::default()
    };
    match &pdu.body {
        Body::Submit(submit) => {
            if let Ok(messages) = mapping::submit_to_messages(submit, NOW) {
                for message in messages.iter().take(3) {
                    for part in mapping::message_to_submits(message, &link, 1).unwrap_or_default()
                    {
                        encodes(Pdu {
                            sequence: pdu.sequence,
                            body: Body::Submit(part),
                        });
                    }
                }
            }
            let _ = mapping::text_part(submit);
        }
        Body::Deliver(deliver) => {
            if let Ok(message) = mapping::deliver_to_message(deliver) {
                for part in mapping::message_to_delivers(&message, &link, 1).unwrap_or_default() {
                    encodes(Pdu {
                        sequence: pdu.sequence,
                        body: Body::Deliver(part),
                    });
                }
            }
        }
        Body::Report(report) => {
            let domain = mapping::report_to_domain(report, NOW);
            // The user's address as the mapping reads it from a DELIVER (this crate names
            // no domain type itself).
            let probe = Deliver {
                user_number: report.user_number.clone(),
                sp_number: "10655".into(),
                tp_pid: 0,
                tp_udhi: 0,
                message_coding: 0,
                message_content: Bytes::new(),
                reserve: String::new(),
            };
            let Ok(message) = mapping::deliver_to_message(&probe) else {
                return;
            };
            if let Ok(back) =
                mapping::domain_to_report(&domain, report.submit_sequence, &message.source)
            {
                assert_eq!(back.submit_sequence, report.submit_sequence);
                encodes(Pdu {
                    sequence: pdu.sequence,
                    body: Body::Report(back),
                });
            }
        }
        _ => {}
    }
}

