//! The decoder's framing rules, refusals and the error responses they call for.

use bytes::{Bytes, BytesMut};

use super::super::*;
use super::{decode_all, frame, pad, submit, SEQ};

fn malformed(bytes: &[u8]) -> (&'static str, u8) {
    match decode_all(bytes) {
        Err(FrameError::Malformed { reason, result, .. }) => (reason, result),
        other => panic!("not malformed: {other:?}"),
    }
}

fn submit_frame() -> Vec<u8> {
    let mut wire = BytesMut::new();
    Pdu {
        sequence: SEQ,
        body: Body::Submit(submit()),
    }
    .encode(&mut wire)
    .expect("encodes");
    wire.to_vec()
}

/// Where UserCount sits in a SUBMIT frame: after the header, SPNumber and ChargeNumber.
const USER_COUNT_AT: usize = 20 + 21 + 21;

#[test]
fn partial_frames_wait_for_more_bytes() {
    let wire = submit_frame();
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let mut buf = BytesMut::new();
    for (i, byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let got = decoder.decode(&mut buf).expect("no error");
        if i + 1 < wire.len() {
            assert_eq!(got, None, "after {} octets", i + 1);
        } else {
            assert_eq!(
                got,
                Some(Pdu {
                    sequence: SEQ,
                    body: Body::Submit(submit())
                })
            );
        }
    }
    assert!(buf.is_empty());
}

#[test]
fn two_frames_in_one_read_come_out_one_by_one() {
    let mut bytes = frame(2, &[]);
    bytes.extend(frame(0x8000_0002, &[]));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let first = decoder.decode(&mut buf).expect("decodes").expect("a frame");
    assert_eq!(first.body, Body::Unbind);
    let second = decoder.decode(&mut buf).expect("decodes").expect("a frame");
    assert_eq!(second.body, Body::UnbindResp);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn a_bad_length_is_refused_before_any_reservation() {
    for length in [u32::MAX, DEFAULT_MAX_LEN as u32 + 1, 19, 0] {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 3]);
        bytes.extend_from_slice(&[0; 12]);
        let mut buf = BytesMut::from(&bytes[..]);
        let capacity = buf.capacity();
        let got = Decoder::new(DEFAULT_MAX_LEN).decode(&mut buf);
        assert_eq!(got, Err(FrameError::BadLength(length)));
        assert_eq!(buf.capacity(), capacity, "nothing reserved for {length}");
        assert_eq!(buf.len(), 20, "nothing consumed");
        assert_eq!(FrameError::BadLength(length).response(), None);
    }
    // A decoder's limit is its own; below the header it is the header.
    let mut buf = BytesMut::from(&frame(3, &[0; 200])[..]);
    assert_eq!(
        Decoder::new(100).decode(&mut buf),
        Err(FrameError::BadLength(220))
    );
    assert_eq!(Decoder::new(3).max_len(), 20);
}

#[test]
fn an_unknown_command_is_consumed_without_an_answer() {
    // SGIP_USERRPT (0x11): an SGIP command this codec does not implement.
    let mut bytes = frame(0x11, &[1, 2, 3]);
    bytes.extend(frame(2, &[]));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let err = decoder.decode(&mut buf).expect_err("unknown");
    assert_eq!(
        err,
        FrameError::UnknownCommand {
            command_id: 0x11,
            sequence: SEQ
        }
    );
    assert_eq!(err.response(), None);
    assert_eq!(
        decoder.decode(&mut buf).map(|p| p.map(|p| p.body)),
        Ok(Some(Body::Unbind))
    );
}

#[test]
fn a_truncated_body_is_a_length_error_and_is_answered() {
    // A SUBMIT cut after its MessageLength: the content and Reserve are missing.
    let mut bytes = submit_frame();
    bytes.truncate(bytes.len() - 12);
    let new_length = (bytes.len() as u32).to_be_bytes();
    bytes[..4].copy_from_slice(&new_length);
    let mut buf = BytesMut::from(&bytes[..]);
    let err = Decoder::new(DEFAULT_MAX_LEN)
        .decode(&mut buf)
        .expect_err("truncated");
    assert!(buf.is_empty(), "the frame is consumed");
    assert_eq!(
        err,
        FrameError::Malformed {
            command: CommandId::Submit,
            sequence: SEQ,
            reason: "body ends inside MessageContent",
            result: result::BAD_LENGTH,
        }
    );
    assert_eq!(
        err.response(),
        Some(Pdu {
            sequence: SEQ,
            body: Body::SubmitResp(Response {
                result: 8,
                reserve: String::new()
            })
        })
    );
}

#[test]
fn malformed_bodies_name_what_is_wrong() {
    let cases: [(u32, Vec<u8>, &str, u8); 5] = [
        (2, vec![0], "octets after the last field", 8),
        (0x8000_0003, vec![0], "body ends inside Reserve", 8),
        (1, vec![1; 10], "body ends inside Login Name", 8),
        (0x8000_1000, vec![1], "body ends inside a Trace_Resp hop", 8),
        (5, vec![0; 43], "body ends inside Reserve", 8),
    ];
    for (id, body, reason, result) in cases {
        assert_eq!(malformed(&frame(id, &body)), (reason, result), "{id:#x}");
    }
    let mut bind = vec![1];
    bind.extend_from_slice("名字".as_bytes());
    bind.extend(pad("", 10 + 16 + 8));
    assert_eq!(
        malformed(&frame(1, &bind)),
        ("Login Name is not ASCII text", result::BAD_PARAMETER_FORMAT)
    );
}

#[test]
fn user_count_must_be_1_to_100_and_present() {
    let bytes = submit_frame();
    for (count, expected) in [
        (0u8, ("UserCount is not 1 to 100", 5)),
        (101, ("UserCount is not 1 to 100", 5)),
        (100, ("body ends inside UserNumber", 8)),
    ] {
        let mut bytes = bytes.clone();
        bytes[USER_COUNT_AT] = count;
        assert_eq!(malformed(&bytes), expected, "UserCount {count}");
    }
}

#[test]
fn a_message_length_past_the_body_is_refused() {
    let mut bytes = submit_frame();
    // MessageLength sits before the 4 octets of content and the 8 of Reserve.
    let at = bytes.len() - 8 - 4 - 4;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        malformed(&bytes),
        ("body ends inside MessageContent", result::BAD_LENGTH)
    );
    bytes[at..at + 4].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(
        malformed(&bytes),
        ("octets after the last field", result::BAD_LENGTH)
    );
}

#[test]
fn text_is_read_leniently() {
    // Space padding, garbage after a NUL, and a Reserve that is not text.
    let mut name = b"sp001".to_vec();
    name.resize(16, b' ');
    let mut password = b"pw\0\xff\xfe".to_vec();
    password.resize(16, b'x');
    let mut body = vec![2];
    body.extend(name);
    body.extend(password);
    body.extend_from_slice(&[0xff, 0xfe, 0, 1, 2, 3, 4, 5]);
    let got = decode_all(&frame(1, &body)).expect("decodes");
    assert_eq!(
        got.map(|p| p.body),
        Some(Body::Bind(Bind {
            login_type: 2,
            login_name: "sp001".into(),
            login_password: "pw".into(),
            reserve: String::new(),
        }))
    );
}

#[test]
fn encode_refuses_what_does_not_fit_and_appends_nothing() {
    let cases = [
        (
            Submit {
                user_numbers: vec![],
                ..submit()
            },
            EncodeError::Users(0),
        ),
        (
            Submit {
                user_numbers: vec!["8613800138000".into(); 101],
                ..submit()
            },
            EncodeError::Users(101),
        ),
        (
            Submit {
                service_type: "服务".into(),
                ..submit()
            },
            EncodeError::NotAscii {
                field: "ServiceType",
            },
        ),
        (
            Submit {
                corp_id: "123456".into(),
                ..submit()
            },
            EncodeError::TooLong {
                field: "CorpId",
                len: 6,
                max: 5,
            },
        ),
        (
            Submit {
                user_numbers: vec!["1".repeat(22)],
                ..submit()
            },
            EncodeError::TooLong {
                field: "UserNumber",
                len: 22,
                max: 21,
            },
        ),
        (
            Submit {
                reserve: "with\0nul".into(),
                ..submit()
            },
            EncodeError::NotAscii { field: "Reserve" },
        ),
    ];
    for (s, expected) in cases {
        let mut out = BytesMut::from(&b"kept"[..]);
        let got = Pdu {
            sequence: SEQ,
            body: Body::Submit(s),
        }
        .encode(&mut out);
        assert_eq!(got, Err(expected));
        assert_eq!(&out[..], b"kept");
    }
    let hop = TraceHop {
        result: 0,
        node_id: String::new(),
        receive_time: String::new(),
        send_time: String::new(),
        reserve: String::new(),
    };
    let many = Pdu {
        sequence: SEQ,
        body: Body::TraceResp(TraceResp {
            hops: vec![hop; 256],
        }),
    };
    assert_eq!(
        many.encode(&mut BytesMut::new()),
        Err(EncodeError::Hops(256))
    );
}

#[test]
fn every_request_has_an_error_response() {
    let requests = [
        Body::Bind(Bind {
            login_type: 1,
            login_name: String::new(),
            login_password: String::new(),
            reserve: String::new(),
        }),
        Body::Unbind,
        Body::Submit(submit()),
        Body::Deliver(Deliver {
            user_number: String::new(),
            sp_number: String::new(),
            tp_pid: 0,
            tp_udhi: 0,
            message_coding: 0,
            message_content: Bytes::new(),
            reserve: String::new(),
        }),
        Body::Trace(Trace {
            submit_sequence: SEQ,
            user_number: String::new(),
            reserve: String::new(),
        }),
    ];
    let expected = [
        CommandId::BindResp,
        CommandId::UnbindResp,
        CommandId::SubmitResp,
        CommandId::DeliverResp,
        CommandId::TraceResp,
    ];
    for (body, expected) in requests.into_iter().zip(expected) {
        let request = Pdu {
            sequence: SEQ,
            body,
        };
        let answer = Pdu::response_for(&request, result::NODE_BUSY).expect("answered");
        assert_eq!(answer.sequence, SEQ);
        assert_eq!(answer.body.command_id(), expected);
        match &answer.body {
            Body::BindResp(r) | Body::SubmitResp(r) | Body::DeliverResp(r) => {
                assert_eq!(r.result, result::NODE_BUSY)
            }
            Body::TraceResp(t) => assert_eq!(t.hops[0].result, result::NODE_BUSY),
            Body::UnbindResp => {}
            other => panic!("{other:?}"),
        }
        assert!(answer.encode(&mut BytesMut::new()).is_ok());
    }
    let report_resp = Pdu::error_response(CommandId::Report, SEQ, result::BAD_SEQUENCE_NUMBER);
    assert_eq!(
        report_resp.map(|p| p.body),
        Some(Body::ReportResp(Response {
            result: 9,
            reserve: String::new()
        }))
    );
    let resp = Pdu {
        sequence: SEQ,
        body: Body::SubmitResp(Response {
            result: 0,
            reserve: String::new(),
        }),
    };
    assert_eq!(Pdu::response_for(&resp, 1), None);
}

#[test]
fn command_ids_round_trip_and_responses_set_the_top_bit() {
    for value in [1u32, 2, 3, 4, 5, 0x1000] {
        let request = CommandId::from_value(value).expect("known");
        let response = CommandId::from_value(value | 0x8000_0000).expect("known");
        assert_eq!(
            (request.value(), response.value()),
            (value, value | 0x8000_0000)
        );
        assert!(!request.is_response() && response.is_response());
    }
    for unknown in [0, 6, 0x11, 0x8000_0006, 0xffff_ffff] {
        assert_eq!(CommandId::from_value(unknown), None);
    }
    for value in [1u8, 2, 3, 4, 5, 6, 11] {
        assert_eq!(
            LoginType::from_value(value).map(LoginType::value),
            Some(value)
        );
    }
    assert_eq!(LoginType::from_value(7), None);
}
