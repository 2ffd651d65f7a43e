//! Property tests: every valid PDU round-trips, and the decoder never panics on arbitrary
//! or mutated bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::msgid::SequenceNumber;

/// ASCII text of at most `max` octets that survives the padding rules: no NUL, and no
/// trailing space (the decoder trims spaces as padding).
pub(crate) fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("([ -~]{{0,{}}}[!-~])?", max.saturating_sub(1)))
        .expect("valid regex")
}

fn sequence() -> impl Strategy<Value = SequenceNumber> {
    any::<(u32, u32, u32)>().prop_map(SequenceNumber::from)
}

fn content() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..=300).prop_map(Bytes::from)
}

fn response() -> impl Strategy<Value = Response> {
    (any::<u8>(), text(RESERVE_LEN)).prop_map(|(result, reserve)| Response { result, reserve })
}

fn submit() -> impl Strategy<Value = Submit> {
    (
        (
            text(NUMBER_LEN),
            text(NUMBER_LEN),
            proptest::collection::vec(text(NUMBER_LEN), 1..=MAX_USERS),
            text(5),
            text(10),
        ),
        (any::<[u8; 4]>(), text(6), text(6)),
        (text(TIME_LEN), text(TIME_LEN), any::<[u8; 5]>()),
        (content(), text(RESERVE_LEN)),
    )
        .prop_map(|(a, b, c, d)| Submit {
            sp_number: a.0,
            charge_number: a.1,
            user_numbers: a.2,
            corp_id: a.3,
            service_type: a.4,
            fee_type: b.0[0],
            fee_value: b.1,
            given_value: b.2,
            agent_flag: b.0[1],
            morelate_to_mt_flag: b.0[2],
            priority: b.0[3],
            expire_time: c.0,
            schedule_time: c.1,
            report_flag: c.2[0],
            tp_pid: c.2[1],
            tp_udhi: c.2[2],
            message_coding: c.2[3],
            message_type: c.2[4],
            message_content: d.0,
            reserve: d.1,
        })
}

fn deliver() -> impl Strategy<Value = Deliver> {
    (
        text(NUMBER_LEN),
        text(NUMBER_LEN),
        any::<[u8; 3]>(),
        content(),
        text(RESERVE_LEN),
    )
        .prop_map(|(user, sp, octets, content, reserve)| Deliver {
            user_number: user,
            sp_number: sp,
            tp_pid: octets[0],
            tp_udhi: octets[1],
            message_coding: octets[2],
            message_content: content,
            reserve,
        })
}

fn report() -> impl Strategy<Value = Report> {
    (
        sequence(),
        any::<[u8; 3]>(),
        text(NUMBER_LEN),
        text(RESERVE_LEN),
    )
        .prop_map(|(submit_sequence, octets, user, reserve)| Report {
            submit_sequence,
            report_type: octets[0],
            user_number: user,
            state: octets[1],
            error_code: octets[2],
            reserve,
        })
}

fn trace_hop() -> impl Strategy<Value = TraceHop> {
    (
        any::<u8>(),
        text(6),
        text(TIME_LEN),
        text(TIME_LEN),
        text(RESERVE_LEN),
    )
        .prop_map(
            |(result, node_id, receive_time, send_time, reserve)| TraceHop {
                result,
                node_id,
                receive_time,
                send_time,
                reserve,
            },
        )
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            any::<u8>(),
            text(LOGIN_LEN),
            text(LOGIN_LEN),
            text(RESERVE_LEN)
        )
            .prop_map(|(login_type, name, password, reserve)| Body::Bind(Bind {
                login_type,
                login_name: name,
                login_password: password,
                reserve,
            })),
        response().prop_map(Body::BindResp),
        Just(Body::Unbind),
        Just(Body::UnbindResp),
        submit().prop_map(Body::Submit),
        response().prop_map(Body::SubmitResp),
        deliver().prop_map(Body::Deliver),
        response().prop_map(Body::DeliverResp),
        report().prop_map(Body::Report),
        response().prop_map(Body::ReportResp),
        (sequence(), text(NUMBER_LEN), text(RESERVE_LEN)).prop_map(|(s, user, reserve)| {
            Body::Trace(Trace {
                submit_sequence: s,
                user_number: user,
                reserve,
            })
        }),
        proptest::collection::vec(trace_hop(), 0..=20)
            .prop_map(|hops| Body::TraceResp(TraceResp { hops })),
    ]
}

fn pdu() -> impl Strategy<Value = Pdu> {
    (sequence(), body()).prop_map(|(sequence, body)| Pdu { sequence, body })
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
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
        // Each step consumes a frame, waits or stops at a bad length.
        while let Ok(Some(_)) | Err(FrameError::Malformed { .. } | FrameError::UnknownCommand { .. }) =
            decoder.decode(&mut buf)
        {}
        prop_assert!(buf.capacity() <= 2 * DEFAULT_MAX_LEN.max(bytes.len()));
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
            // Whatever decodes re-encodes to something that decodes the same.
            Ok(Some(decoded)) => {
                let mut again = BytesMut::new();
                decoded.encode(&mut again).expect("what decodes encodes");
                prop_assert_eq!(decoder.decode(&mut again), Ok(Some(decoded)));
            }
            // A refused request's answer encodes.
            Err(error) => {
                if let Some(answer) = error.response() {
                    prop_assert!(answer.encode(&mut BytesMut::new()).is_ok());
                }
            }
            Ok(None) => {}
        }
    }
}
