//! Property tests: every valid PDU and report round-trips, and the decoder never panics on
//! arbitrary or mutated bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::msgid::MsgId;

/// ASCII text of at most `max` octets that survives the padding rules: no NUL, and no
/// trailing space (the decoder trims spaces as padding).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("([ -~]{{0,{}}}[!-~])?", max.saturating_sub(1)))
        .expect("valid regex")
}

/// A value of a report field: printable ASCII without spaces.
fn word(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!-~]{{0,{max}}}")).expect("valid regex")
}

fn msg_id() -> impl Strategy<Value = MsgId> {
    any::<[u8; 10]>().prop_map(MsgId)
}

fn content() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..=255).prop_map(Bytes::from)
}

fn tlv() -> impl Strategy<Value = Tlv> {
    let unknown =
        (0x0013u16.., proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(tag, value)| {
            Tlv::Other {
                tag,
                value: Bytes::from(value),
            }
        });
    prop_oneof![
        any::<u8>().prop_map(Tlv::TpPid),
        any::<u8>().prop_map(Tlv::TpUdhi),
        text(20).prop_map(Tlv::LinkId),
        any::<u8>().prop_map(Tlv::ChargeUserType),
        any::<u8>().prop_map(Tlv::ChargeTermType),
        text(32).prop_map(Tlv::ChargeTermPseudo),
        any::<u8>().prop_map(Tlv::DestTermType),
        text(32).prop_map(Tlv::DestTermPseudo),
        any::<u8>().prop_map(Tlv::PkTotal),
        any::<u8>().prop_map(Tlv::PkNumber),
        any::<u8>().prop_map(Tlv::SubmitMsgType),
        any::<u8>().prop_map(Tlv::SpDealResult),
        any::<u8>().prop_map(Tlv::SrcTermType),
        text(32).prop_map(Tlv::SrcTermPseudo),
        any::<u8>().prop_map(Tlv::NodesCount),
        text(8).prop_map(Tlv::MsgSrc),
        any::<u8>().prop_map(Tlv::SrcType),
        text(21).prop_map(Tlv::MServiceId),
        unknown,
    ]
}

fn tlvs() -> impl Strategy<Value = Vec<Tlv>> {
    proptest::collection::vec(tlv(), 0..6)
}

fn submit() -> impl Strategy<Value = Submit> {
    (
        (
            any::<[u8; 3]>(),
            text(10),
            text(2),
            text(6),
            text(6),
            any::<u8>(),
        ),
        (text(17), text(17), text(21), text(21)),
        (
            proptest::collection::vec(text(TERM_ID_LEN), 1..=MAX_DESTINATIONS),
            content(),
            any::<[u8; 8]>(),
            tlvs(),
        ),
    )
        .prop_map(|(a, b, c)| Submit {
            msg_type: a.0[0],
            need_report: a.0[1],
            priority: a.0[2],
            service_id: a.1,
            fee_type: a.2,
            fee_code: a.3,
            fixed_fee: a.4,
            msg_format: a.5,
            valid_time: b.0,
            at_time: b.1,
            src_term_id: b.2,
            charge_term_id: b.3,
            dest_term_ids: c.0,
            msg_content: c.1,
            reserve: c.2,
            tlvs: c.3,
        })
}

fn deliver() -> impl Strategy<Value = Deliver> {
    (
        (msg_id(), any::<u8>(), any::<u8>(), text(14)),
        (text(21), text(21), content(), any::<[u8; 8]>(), tlvs()),
    )
        .prop_map(|(a, b)| Deliver {
            msg_id: a.0,
            is_report: a.1,
            msg_format: a.2,
            recv_time: a.3,
            src_term_id: b.0,
            dest_term_id: b.1,
            msg_content: b.2,
            reserve: b.3,
            tlvs: b.4,
        })
}

pub(crate) fn report() -> impl Strategy<Value = Report> {
    (
        (msg_id(), word(10), word(10), word(12), word(12)),
        (
            word(10),
            word(10),
            proptest::collection::vec(any::<u8>(), 0..=20),
        ),
    )
        .prop_map(|(a, b)| {
            // The decoder trims trailing NUL and spaces from the text.
            let mut text = b.2;
            while text.last().is_some_and(|&c| c == 0 || c == b' ') {
                text.pop();
            }
            Report {
                msg_id: a.0,
                sub: a.1,
                dlvrd: a.2,
                submit_date: a.3,
                done_date: a.4,
                stat: b.0,
                err: b.1,
                text: Bytes::from(text),
            }
        })
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            text(8),
            any::<[u8; 16]>(),
            any::<u8>(),
            any::<u32>(),
            any::<u8>()
        )
            .prop_map(|(c, a, m, t, v)| Body::Login(Login {
                client_id: c,
                authenticator_client: a,
                login_mode: m,
                timestamp: t,
                client_version: v,
            })),
        (any::<u32>(), any::<[u8; 16]>(), any::<u8>()).prop_map(|(s, a, v)| {
            Body::LoginResp(LoginResp {
                status: s,
                authenticator_server: a,
                server_version: v,
            })
        }),
        submit().prop_map(Body::Submit),
        (msg_id(), any::<u32>())
            .prop_map(|(msg_id, status)| Body::SubmitResp(SubmitResp { msg_id, status })),
        deliver().prop_map(Body::Deliver),
        (msg_id(), any::<u32>())
            .prop_map(|(msg_id, status)| Body::DeliverResp(DeliverResp { msg_id, status })),
        Just(Body::ActiveTest),
        Just(Body::ActiveTestResp),
        Just(Body::Exit),
        Just(Body::ExitResp),
    ]
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (any::<u32>(), body()).prop_map(|(sequence_id, body)| Pdu { sequence_id, body })
}

proptest! {
    #[test]
    fn any_pdu_round_trips(pdu in pdu()) {
        let mut wire = BytesMut::new();
        pdu.encode(&mut wire).expect("a valid PDU encodes");
        prop_assert_eq!(wire.len(), pdu.encoded_len());
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
        prop_assert_eq!(decoder.decode(&mut wire), Ok(Some(pdu)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn any_report_round_trips(report in report()) {
        let content = report.encode().expect("a valid report encodes");
        prop_assert_eq!(content.len(), report.encoded_len());
        prop_assert_eq!(Report::decode(&content), Ok(report));
    }

    #[test]
    fn report_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(report) = Report::decode(&bytes) {
            let again = report.encode().expect("what decodes encodes");
            prop_assert_eq!(Report::decode(&again), Ok(report));
        }
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
        // Each step consumes a frame, waits or stops at a bad length.
        while let Ok(Some(_)) | Err(FrameError::Malformed { .. } | FrameError::UnknownRequest { .. }) =
            decoder.decode(&mut buf)
        {}
    }

    #[test]
    fn decoder_never_panics_on_mutated_frames(
        pdu in pdu(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = BytesMut::new();
        pdu.encode(&mut wire).expect("a valid PDU encodes");
        let mut bytes = wire.to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
        match decoder.decode(&mut buf) {
            Ok(Some(decoded)) => {
                // Whatever decodes re-encodes to something that decodes the same.
                let mut again = BytesMut::new();
                decoded.encode(&mut again).expect("what decodes encodes");
                prop_assert_eq!(decoder.decode(&mut again), Ok(Some(decoded)));
            }
            Err(error @ FrameError::Malformed { .. }) => {
                if let Some(response) = error.response() {
                    response.encode(&mut BytesMut::new()).expect("responses encode");
                }
            }
            _ => {}
        }
    }
}
