//! The decoder's framing rules, refusals and the error responses they call for.

use bytes::{Bytes, BytesMut};

use super::super::*;
use super::{auth, decode_all, frame, submit};

#[test]
fn active_test_resp_without_its_reserved_octet_is_read() {
    let got = decode_all(Version::V20, &frame(0x8000_0008, 1, &[]));
    assert_eq!(
        got,
        Ok(Some(Pdu {
            sequence_id: 1,
            body: Body::ActiveTestResp(0)
        }))
    );
}

#[test]
fn text_padding_with_spaces_and_garbage_after_nul_is_trimmed() {
    let mut body = b"9012 ".to_vec();
    body.push(b' ');
    body.extend_from_slice(&auth());
    body.extend_from_slice(&[0x20, 0, 0, 0, 1]);
    let got = decode_all(Version::V20, &frame(1, 1, &body)).expect("decodes");
    let Some(Pdu {
        body: Body::Connect(c),
        ..
    }) = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(c.source_addr, "9012");

    let mut body = b"90\0\xff\xfe\x01".to_vec();
    body.extend_from_slice(&auth());
    body.extend_from_slice(&[0x20, 0, 0, 0, 1]);
    let got = decode_all(Version::V20, &frame(1, 1, &body)).expect("decodes");
    let Some(Pdu {
        body: Body::Connect(c),
        ..
    }) = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(c.source_addr, "90");
}

#[test]
fn non_ascii_text_is_malformed_and_the_frame_consumed() {
    let mut body = "中文".as_bytes().to_vec();
    body.extend_from_slice(&auth());
    body.extend_from_slice(&[0x20, 0, 0, 0, 1]);
    let mut bytes = frame(1, 9, &body);
    bytes.extend(frame(8, 10, &[]));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(Version::V30, DEFAULT_MAX_LEN);
    let err = decoder.decode(&mut buf).expect_err("malformed");
    assert_eq!(
        err,
        FrameError::Malformed {
            command: CommandId::Connect,
            sequence_id: 9,
            reason: "Source_Addr is not ASCII text",
        }
    );
    let answer = err.response().expect("CONNECT has a response");
    assert_eq!(
        answer.body,
        Body::ConnectResp(ConnectResp {
            status: 1,
            authenticator_ismg: [0; 16],
            version: 0x30
        })
    );
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Pdu {
            sequence_id: 10,
            body: Body::ActiveTest
        }))
    );
}

#[test]
fn unknown_command_is_consumed() {
    let mut buf = BytesMut::from(&frame(0x0000_0003, 4, &[1, 2, 3])[..]);
    let err = Decoder::new(Version::V20, DEFAULT_MAX_LEN).decode(&mut buf);
    assert_eq!(
        err,
        Err(FrameError::UnknownCommand {
            command_id: 3,
            sequence_id: 4
        })
    );
    assert!(buf.is_empty());
}

#[test]
fn huge_length_is_refused_before_any_reservation() {
    for length in [u32::MAX, DEFAULT_MAX_LEN as u32 + 1, 11, 0] {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 1]);
        let mut buf = BytesMut::from(&bytes[..]);
        let capacity = buf.capacity();
        let got = Decoder::new(Version::V30, DEFAULT_MAX_LEN).decode(&mut buf);
        assert_eq!(got, Err(FrameError::BadLength(length)));
        assert_eq!(buf.capacity(), capacity, "nothing reserved for {length}");
        assert_eq!(buf.len(), 12, "nothing consumed");
    }
}

#[test]
fn partial_frames_wait_for_more_bytes() {
    let pdu = Pdu {
        sequence_id: 3,
        body: Body::Submit(submit()),
    };
    let mut wire = BytesMut::new();
    pdu.encode(Version::V30, &mut wire).expect("encodes");
    let mut decoder = Decoder::new(Version::V30, DEFAULT_MAX_LEN);
    let mut buf = BytesMut::new();
    for (i, byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let got = decoder.decode(&mut buf).expect("no error");
        if i + 1 < wire.len() {
            assert_eq!(got, None);
        } else {
            assert_eq!(got, Some(pdu.clone()));
        }
    }
}

#[test]
fn set_version_switches_layouts() {
    let pdu = Pdu {
        sequence_id: 3,
        body: Body::Submit(submit()),
    };
    let mut wire = BytesMut::new();
    pdu.encode(Version::V30, &mut wire).expect("encodes");
    let mut decoder = Decoder::new(Version::V20, DEFAULT_MAX_LEN);
    assert!(decoder.decode(&mut wire.clone()).is_err());
    decoder.set_version(Version::V30);
    assert_eq!(decoder.decode(&mut wire), Ok(Some(pdu)));
}

#[test]
fn malformed_bodies_name_what_is_wrong() {
    let cases: [(u32, Vec<u8>, &str); 4] = [
        (8, vec![0], "octets after the last field"),
        (7, vec![0; 7], "body ends inside Msg_Id"),
        (
            0x8000_0004,
            vec![0; 10],
            "body length fits neither CMPP 2.0 nor 3.0",
        ),
        (
            0x8000_0001,
            vec![0; 19],
            "body length fits neither CMPP 2.0 nor 3.0",
        ),
    ];
    for (id, body, reason) in cases {
        match decode_all(Version::V20, &frame(id, 1, &body)) {
            Err(FrameError::Malformed { reason: got, .. }) => assert_eq!(got, reason),
            other => panic!("{id:#x}: {other:?}"),
        }
    }
    // DestUsr_tl 0, and a count whose terminal ids are not in the body.
    let mut s = BytesMut::new();
    Pdu {
        sequence_id: 1,
        body: Body::Submit(submit()),
    }
    .encode(Version::V20, &mut s)
    .expect("encodes");
    let count_at = 12 + 117 - 1;
    for (count, reason) in [
        (0u8, "DestUsr_tl is not 1 to 100"),
        (101, "DestUsr_tl is not 1 to 100"),
        (100, "body ends inside Dest_terminal_Id"),
    ] {
        let mut bytes = s.to_vec();
        bytes[count_at] = count;
        match decode_all(Version::V20, &bytes) {
            Err(FrameError::Malformed { reason: got, .. }) => assert_eq!(got, reason),
            other => panic!("{count}: {other:?}"),
        }
    }
}

#[test]
fn encode_refuses_what_does_not_fit_and_appends_nothing() {
    let cases = [
        (
            Submit {
                dest_terminal_ids: vec![],
                ..submit()
            },
            EncodeError::Destinations(0),
        ),
        (
            Submit {
                dest_terminal_ids: vec!["1".into(); 101],
                ..submit()
            },
            EncodeError::Destinations(101),
        ),
        (
            Submit {
                msg_content: Bytes::from(vec![0; 256]),
                ..submit()
            },
            EncodeError::TooLong {
                field: "Msg_Content",
                len: 256,
                max: 255,
            },
        ),
        (
            Submit {
                service_id: "服务".into(),
                ..submit()
            },
            EncodeError::NotAscii {
                field: "Service_Id",
            },
        ),
        (
            Submit {
                src_id: "1".repeat(22),
                ..submit()
            },
            EncodeError::TooLong {
                field: "Src_Id",
                len: 22,
                max: 21,
            },
        ),
        (
            Submit {
                dest_terminal_ids: vec!["1".repeat(22)],
                ..submit()
            },
            EncodeError::TooLong {
                field: "Dest_terminal_Id",
                len: 22,
                max: 21,
            },
        ),
    ];
    for (s, expected) in cases {
        let mut out = BytesMut::from(&b"kept"[..]);
        let got = Pdu {
            sequence_id: 1,
            body: Body::Submit(s),
        }
        .encode(Version::V20, &mut out);
        assert_eq!(got, Err(expected));
        assert_eq!(&out[..], b"kept");
    }
    let resp = Pdu {
        sequence_id: 1,
        body: Body::SubmitResp(SubmitResp {
            msg_id: 0,
            result: 256,
        }),
    };
    assert!(matches!(
        resp.encode(Version::V20, &mut BytesMut::new()),
        Err(EncodeError::ValueTooLarge { .. })
    ));
    assert_eq!(resp.encode(Version::V30, &mut BytesMut::new()), Ok(()));
}

#[test]
fn error_responses_for_requests() {
    let submit_req = Pdu {
        sequence_id: 11,
        body: Body::Submit(submit()),
    };
    assert_eq!(
        Pdu::response_for(&submit_req, result::FLOW_CONTROL),
        Some(Pdu {
            sequence_id: 11,
            body: Body::SubmitResp(SubmitResp {
                msg_id: 0,
                result: 8
            })
        })
    );
    let cancel = Pdu {
        sequence_id: 12,
        body: Body::Cancel(Cancel { msg_id: 5 }),
    };
    assert_eq!(
        Pdu::response_for(&cancel, result::BAD_STRUCTURE).map(|p| p.body),
        Some(Body::CancelResp(CancelResp { success_id: 1 }))
    );
    let query = Pdu {
        sequence_id: 13,
        body: Body::Query(Query {
            time: String::new(),
            query_type: 0,
            query_code: String::new(),
            reserve: String::new(),
        }),
    };
    assert_eq!(Pdu::response_for(&query, 1), None);
    let connect = Pdu {
        sequence_id: 14,
        body: Body::Connect(Connect {
            source_addr: "1".into(),
            authenticator_source: [0; 16],
            version: 0x20,
            timestamp: 0,
        }),
    };
    assert_eq!(
        Pdu::response_for(&connect, result::AUTH_FAILED).map(|p| p.body),
        Some(Body::ConnectResp(ConnectResp {
            status: 3,
            authenticator_ismg: [0; 16],
            version: 0x20
        }))
    );
    let resp = Pdu {
        sequence_id: 1,
        body: Body::SubmitResp(SubmitResp {
            msg_id: 0,
            result: 0,
        }),
    };
    assert_eq!(Pdu::response_for(&resp, 1), None);
}
