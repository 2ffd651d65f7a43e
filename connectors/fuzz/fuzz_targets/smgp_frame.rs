//! Arbitrary bytes as an SMGP stream: the decoder must never panic or reserve past its
//! limit; whatever decodes must re-encode and decode to itself; a refused request must get
//! a response that encodes; a decoded SUBMIT or DELIVER (and a report's content) must go
//! through the mapping without panicking, and what the mapping writes must encode.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_smgp::codec::{Body, Decoder, FrameError, Pdu, Report};
use tern_smgp::mapping;
use tern_smgp::msgid::MsgId;

const MAX_LEN: usize = 4096;
const NOON: i64 = 1_709_265_600;

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
            Err(FrameError::UnknownRequest { .. }) => {}
            Ok(None) => {
                assert!(buf.capacity() <= 2 * MAX_LEN.max(data.len()));
                break;
            }
            Err(FrameError::BadLength(_)) => break,
        }
    }
    // The same bytes as a report's content.
    if let Ok(report) = Report::decode(data) {
        let again = report.encode().expect("a decoded report encodes");
        assert_eq!(Report::decode(&again), Ok(report));
    }
});

fn check_round_trip(pdu: &Pdu) {
    let mut wire = BytesMut::new();
    if let Err(error) = pdu.encode(&mut wire) {
        panic!("{pdu:?} decoded but does not encode: {error}");
    }
    assert_eq!(wire.len(), pdu.encoded_len());
    // Fixed-width text TLVs are written at their full width, so a frame may grow.
    let again = Decoder::new(wire.len()).decode(&mut wire);
    assert_eq!(again, Ok(Some(pdu.clone())));
}

fn encodes(body: Body) {
    let pdu = Pdu {
        sequence_id: 1,
        body,
    };
    let mut wire = BytesMut::new();
    pdu.encode(&mut wire)
        .expect("what the mapping writes encodes");
}

fn exercise_mapping(pdu: &Pdu) {
    let link = mapping::LinkOptions::default();
    match &pdu.body {
        Body::Submit(submit) => {
            if let Ok(messages) = mapping::submit_to_messages(submit, NOON) {
                for message in messages.iter().take(2) {
                    if let Ok(submits) = mapping::message_to_submits(message, &link, 1) {
                        submits.into_iter().for_each(|s| encodes(Body::Submit(s)));
                    }
                }
            }
        }
        Body::Deliver(deliver) => match deliver.report() {
            Some(Ok(report)) => {
                let domain = mapping::report_to_domain(&report);
                let back = mapping::domain_to_report(&domain, report.msg_id);
                if let Ok(d) = mapping::report_deliver(&back, MsgId::ZERO, "1", "2", NOON) {
                    encodes(Body::Deliver(d));
                }
            }
            Some(Err(_)) => {}
            None => {
                if let Ok(message) = mapping::deliver_to_message(deliver) {
                    if let Ok(delivers) = mapping::message_to_delivers(&message, &link, 1, NOON) {
                        delivers.into_iter().for_each(|d| encodes(Body::Deliver(d)));
                    }
                }
            }
        },
        _ => {}
    }
}
