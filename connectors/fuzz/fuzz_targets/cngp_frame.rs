//! Arbitrary bytes as a CNGP stream: the decoder must never panic or reserve past its
//! limit; whatever decodes must re-encode and decode to itself; a refused request must get
//! a response that encodes; a decoded SUBMIT or DELIVER (and the status report inside one)
//! must go through the mapping without panicking.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern_cngp::codec::{Body, Decoder, FrameError, Pdu, Report};
use tern_cngp::mapping;
use tern_cngp::msgid::MsgId;

const MAX_LEN: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(MAX_LEN);
    let mut buf = BytesMut::from(data);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(pdu)) => {
                check_round_trip(&pdu);
                exercise_mapping(&pdu);
            }
            Err(error @ (FrameError::Malformed { .. } | FrameError::UnknownCommand { .. })) => {
                if let Some(response) = error.response() {
                    let mut wire = BytesMut::new();
                    response.encode(&mut wire).expect("error responses encode");
                }
            }
            Ok(None) => {
                assert!(buf.capacity() <= 2 * MAX_LEN.max(data.len()));
                break;
            }
            Err(FrameError::BadLength(_)) => break,
        }
    }
    // The same bytes as the content of a status report.
    if let Ok(report) = Report::decode(data) {
        let domain = mapping::report_to_domain(&report);
        let _ = mapping::domain_to_report(&domain, report.msg_id);
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
}

fn exercise_mapping(pdu: &Pdu) {
    match &pdu.body {
        Body::Submit(submit) => {
            let _ = mapping::submit_to_messages(submit, 1_709_265_600);
            let _ = mapping::text_part(submit);
        }
        Body::Deliver(deliver) => match deliver.report() {
            Some(Ok(report)) => {
                let domain = mapping::report_to_domain(&report);
                let back = mapping::domain_to_report(&domain, report.msg_id);
                let _ = back.encode();
            }
            Some(Err(_)) => {}
            None => {
                if let Ok(message) = mapping::deliver_to_message(deliver) {
                    let link = mapping::LinkOptions::default();
                    let _ = mapping::message_to_delivers(&message, &link, 1, 1_709_265_600);
                }
            }
        },
        Body::SubmitResp(resp) => {
            let _ = MsgId::parse_text(&resp.msg_id.to_text());
            let _ = resp.msg_id.to_u64();
        }
        _ => {}
    }
}
