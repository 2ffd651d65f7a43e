//! Property tests: every valid PDU and report round-trips, and the decoder never panics on
//! arbitrary or mutated bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::msgid::MsgId;

/// ASCII text of at most `max` octets that survives the padding rules: no NUL, and no
/// trailing space (the decoder trims spaces as padding).
pub(crate) fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("([ -~]{{0,{}}}[!-~])?", max.saturating_sub(1)))
        .expect("valid regex")
}

fn content() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..=255).prop_map(Bytes::from)
}

fn msg_id() -> impl Strategy<Value = MsgId> {
    any::<[u8; 10]>().prop_map(MsgId)
}

fn tlvs() -> impl Strategy<Value = Tlvs> {
    let tlv = (
        prop_oneof![
            Just(tag::PROTOCOL_ID),
            Just(tag::TP_UDHI),
            Just(tag::LINK_ID),
            Just(tag::CONGESTION_STATE),
            any::<u16>(),
        ],
        proptest::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(tag, value)| Tlv::new(tag, value));
    proptest::collection::vec(tlv, 0..4).prop_map(Tlvs::from)
}

fn submit() -> impl Strategy<Value = Submit> {
    (
        (text(10), any::<[u8; 3]>(), text(10), text(2), any::<u8>()),
        (text(6), any::<u8>(), text(17), text(17), text(21), text(21)),
        (
            proptest::collection::vec(text(TERM_ID_LEN), 1..=MAX_DESTINATIONS),
            content(),
            tlvs(),
        ),
    )
        .prop_map(|(a, b, c)| Submit {
            sp_id: a.0,
            sub_type: a.1[0],
            need_report: a.1[1],
            priority: a.1[2],
            service_id: a.2,
            fee_type: a.3,
            fee_user_type: a.4,
            fee_code: b.0,
            msg_format: b.1,
            valid_time: b.2,
            at_time: b.3,
            src_term_id: b.4,
            charge_term_id: b.5,
            dest_term_ids: c.0,
            msg_content: c.1,
            tlvs: c.2,
        })
}

fn deliver() -> impl Strategy<Value = Deliver> {
    (
        (msg_id(), any::<[u8; 2]>(), text(14)),
        (text(21), text(21), content(), tlvs()),
    )
        .prop_map(|(a, b)| Deliver {
            msg_id: a.0,
            is_report: a.1[0],
            msg_format: a.1[1],
            recv_time: a.2,
            src_term_id: b.0,
            dest_term_id: b.1,
            msg_content: b.2,
            tlvs: b.3,
        })
}

/// A field of a report: what its layout can carry and read back.
fn code(max: usize) -> BoxedStrategy<String> {
    let plain =
        proptest::string::string_regex(&format!("[A-Z0-9]{{0,{max}}}")).expect("valid regex");
    if max >= 7 {
        prop_oneof![plain, Just("MK:0005".to_owned())].boxed()
    } else {
        plain.boxed()
    }
}

pub(crate) fn report() -> impl Strategy<Value = Report> {
    (
        (msg_id(), code(3), code(3), code(10), code(10)),
        (
            code(7),
            code(3),
            proptest::collection::vec(any::<u8>(), 0..=20)
                .prop_filter("no trailing NUL", |t| t.last() != Some(&0)),
        ),
    )
        .prop_map(|(a, b)| Report {
            msg_id: a.0,
            sub: a.1,
            dlvrd: a.2,
            submit_date: a.3,
            done_date: a.4,
            stat: b.0,
            err: b.1,
            txt: Bytes::from(b.2),
        })
}

fn body() -> BoxedStrategy<Body> {
    prop_oneof![
        (
            text(10),
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
                version: v,
            })),
        (any::<[u8; 16]>(), any::<u8>()).prop_map(|(a, v)| Body::LoginResp(LoginResp {
            authenticator_server: a,
            version: v,
        })),
        submit().prop_map(Body::Submit),
        (msg_id(), tlvs()).prop_map(|(msg_id, tlvs)| Body::SubmitResp(SubmitResp { msg_id, tlvs })),
        deliver().prop_map(Body::Deliver),
        (msg_id(), tlvs())
            .prop_map(|(msg_id, tlvs)| Body::DeliverResp(DeliverResp { msg_id, tlvs })),
        Just(Body::ActiveTest),
        Just(Body::ActiveTestResp),
        Just(Body::Exit),
        Just(Body::ExitResp),
    ]
    .boxed()
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (any::<u32>(), any::<u32>(), body()).prop_map(|(sequence_id, status, body)| Pdu {
        sequence_id,
        status,
        body,
    })
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
        prop_assert_eq!(content.len(), REPORT_LEN);
        prop_assert_eq!(Report::decode(&content), Ok(report));
    }

    #[test]
    fn report_decoding_never_panics(content in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Report::decode(&content);
        let mut prefixed = b"id:".to_vec();
        prefixed.extend_from_slice(&content);
        let _ = Report::decode(&prefixed);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
        // Each step consumes a frame, waits or stops at a bad length.
        while let Ok(Some(_)) | Err(FrameError::Malformed { .. } | FrameError::UnknownCommand { .. }) =
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
                decoded.encode(&mut again).expect("a decoded PDU encodes");
                prop_assert_eq!(decoder.decode(&mut again), Ok(Some(decoded)));
            }
            Err(error) => {
                if let Some(answer) = error.response() {
                    answer.encode(&mut BytesMut::new()).expect("answers encode");
                }
            }
            Ok(None) => {}
        }
    }
}
