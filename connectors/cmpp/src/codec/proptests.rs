//! Property tests: every valid PDU and report round-trips in either version, and the
//! decoder never panics on arbitrary or mutated bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// ASCII text of at most `max` octets that survives the padding rules: no NUL, and no
/// trailing space (the decoder trims spaces as padding).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("([ -~]{{0,{}}}[!-~])?", max.saturating_sub(1)))
        .expect("valid regex")
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V20), Just(Version::V30)]
}

fn result_for(version: Version) -> BoxedStrategy<u32> {
    match version {
        Version::V20 => (0u32..=255).boxed(),
        Version::V30 => any::<u32>().boxed(),
    }
}

fn content() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..=255).prop_map(Bytes::from)
}

fn submit(version: Version) -> impl Strategy<Value = Submit> {
    let t = version.terminal_id_len();
    let v3 = version == Version::V30;
    (
        (
            any::<u64>(),
            any::<[u8; 4]>(),
            text(10),
            any::<u8>(),
            text(t),
        ),
        (any::<u8>(), any::<[u8; 3]>(), text(6), text(2), text(6)),
        (text(17), text(17), text(21)),
        (
            proptest::collection::vec(text(t), 1..=MAX_DESTINATIONS),
            any::<u8>(),
            content(),
            text(version.link_id_len()),
        ),
    )
        .prop_map(move |(a, b, c, d)| Submit {
            msg_id: a.0,
            pk_total: a.1[0],
            pk_number: a.1[1],
            registered_delivery: a.1[2],
            msg_level: a.1[3],
            service_id: a.2,
            fee_user_type: a.3,
            fee_terminal_id: a.4,
            fee_terminal_type: if v3 { b.0 } else { 0 },
            tp_pid: b.1[0],
            tp_udhi: b.1[1],
            msg_fmt: b.1[2],
            msg_src: b.2,
            fee_type: b.3,
            fee_code: b.4,
            valid_time: c.0,
            at_time: c.1,
            src_id: c.2,
            dest_terminal_ids: d.0,
            dest_terminal_type: if v3 { d.1 } else { 0 },
            msg_content: d.2,
            link_id: d.3,
        })
}

fn deliver(version: Version) -> impl Strategy<Value = Deliver> {
    let v3 = version == Version::V30;
    (
        (any::<u64>(), text(21), text(10), any::<[u8; 3]>()),
        (text(version.terminal_id_len()), any::<u8>(), any::<u8>()),
        (content(), text(version.link_id_len())),
    )
        .prop_map(move |(a, b, c)| Deliver {
            msg_id: a.0,
            dest_id: a.1,
            service_id: a.2,
            tp_pid: a.3[0],
            tp_udhi: a.3[1],
            msg_fmt: a.3[2],
            src_terminal_id: b.0,
            src_terminal_type: if v3 { b.1 } else { 0 },
            registered_delivery: b.2,
            msg_content: c.0,
            link_id: c.1,
        })
}

pub(crate) fn report(version: Version) -> impl Strategy<Value = Report> {
    (
        any::<u64>(),
        text(STAT_LEN),
        text(REPORT_TIME_LEN),
        text(REPORT_TIME_LEN),
        text(version.terminal_id_len()),
        any::<u32>(),
    )
        .prop_map(|(msg_id, stat, submit_time, done_time, dest, seq)| Report {
            msg_id,
            stat,
            submit_time,
            done_time,
            dest_terminal_id: dest,
            smsc_sequence: seq,
        })
}

fn body(version: Version) -> BoxedStrategy<Body> {
    prop_oneof![
        (text(6), any::<[u8; 16]>(), any::<u8>(), any::<u32>()).prop_map(|(s, a, v, t)| {
            Body::Connect(Connect {
                source_addr: s,
                authenticator_source: a,
                version: v,
                timestamp: t,
            })
        }),
        (result_for(version), any::<[u8; 16]>(), any::<u8>()).prop_map(|(s, a, v)| {
            Body::ConnectResp(ConnectResp {
                status: s,
                authenticator_ismg: a,
                version: v,
            })
        }),
        Just(Body::Terminate),
        Just(Body::TerminateResp),
        submit(version).prop_map(Body::Submit),
        (any::<u64>(), result_for(version))
            .prop_map(|(msg_id, result)| Body::SubmitResp(SubmitResp { msg_id, result })),
        deliver(version).prop_map(Body::Deliver),
        (any::<u64>(), result_for(version))
            .prop_map(|(msg_id, result)| Body::DeliverResp(DeliverResp { msg_id, result })),
        (text(8), any::<u8>(), text(10), text(8)).prop_map(|(t, q, c, r)| Body::Query(Query {
            time: t,
            query_type: q,
            query_code: c,
            reserve: r,
        })),
        (text(8), any::<u8>(), text(10), any::<[u32; 8]>()).prop_map(|(t, q, c, n)| {
            Body::QueryResp(QueryResp {
                time: t,
                query_type: q,
                query_code: c,
                mt_tl_msg: n[0],
                mt_tl_usr: n[1],
                mt_scs: n[2],
                mt_wt: n[3],
                mt_fl: n[4],
                mo_scs: n[5],
                mo_wt: n[6],
                mo_fl: n[7],
            })
        }),
        any::<u64>().prop_map(|msg_id| Body::Cancel(Cancel { msg_id })),
        result_for(version).prop_map(|success_id| Body::CancelResp(CancelResp { success_id })),
        Just(Body::ActiveTest),
        any::<u8>().prop_map(Body::ActiveTestResp),
    ]
    .boxed()
}

fn versioned_pdu() -> impl Strategy<Value = (Version, Pdu)> {
    version().prop_flat_map(|v| {
        (Just(v), any::<u32>(), body(v))
            .prop_map(|(v, sequence_id, body)| (v, Pdu { sequence_id, body }))
    })
}

proptest! {
    #[test]
    fn any_pdu_round_trips((version, pdu) in versioned_pdu()) {
        let mut wire = BytesMut::new();
        pdu.encode(version, &mut wire).expect("a valid PDU encodes");
        prop_assert_eq!(wire.len(), pdu.encoded_len(version));
        let mut decoder = Decoder::new(version, DEFAULT_MAX_LEN);
        prop_assert_eq!(decoder.decode(&mut wire), Ok(Some(pdu)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn any_report_round_trips(
        (version, report) in version().prop_flat_map(|v| (Just(v), report(v)))
    ) {
        let content = report.encode(version).expect("a valid report encodes");
        prop_assert_eq!(content.len(), Report::encoded_len(version));
        prop_assert_eq!(Report::decode(version, &content), Ok(report));
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        v3 in any::<bool>(),
    ) {
        let version = if v3 { Version::V30 } else { Version::V20 };
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(version, DEFAULT_MAX_LEN);
        // Each step consumes a frame, waits or stops at a bad length.
        while let Ok(Some(_)) | Err(FrameError::Malformed { .. } | FrameError::UnknownCommand { .. }) =
            decoder.decode(&mut buf)
        {}
    }

    #[test]
    fn decoder_never_panics_on_mutated_frames(
        (version, pdu) in versioned_pdu(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut wire = BytesMut::new();
        pdu.encode(version, &mut wire).expect("a valid PDU encodes");
        let mut bytes = wire.to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(version, DEFAULT_MAX_LEN);
        if let Ok(Some(decoded)) = decoder.decode(&mut buf) {
            // Whatever decodes re-encodes to something that decodes the same.
            // A response read by its length may hold a 3.0-wide result on a 2.0 link; it
            // re-encodes in 3.0 then.
            let mut again = BytesMut::new();
            let version = match decoded.encode(version, &mut again) {
                Ok(()) => version,
                Err(EncodeError::ValueTooLarge { .. }) => {
                    decoded.encode(Version::V30, &mut again).expect("encodes in 3.0");
                    Version::V30
                }
                Err(other) => return Err(TestCaseError::fail(format!("{other}"))),
            };
            let mut decoder = Decoder::new(version, DEFAULT_MAX_LEN);
            prop_assert_eq!(decoder.decode(&mut again), Ok(Some(decoded)));
        }
    }
}
