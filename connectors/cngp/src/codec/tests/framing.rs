//! The decoder's framing rules, refusals and the error responses they call for.

use bytes::{Bytes, BytesMut};

use super::super::*;
use super::{decode_all, frame, submit};
use crate::msgid::MsgId;

fn encoded(pdu: &Pdu) -> Vec<u8> {
    let mut out = BytesMut::new();
    pdu.encode(&mut out).expect("encodes");
    out.to_vec()
}

fn malformed_reason(bytes: &[u8]) -> &'static str {
    match decode_all(bytes) {
        Err(FrameError::Malformed { reason, .. }) => reason,
        other => panic!("not malformed: {other:?}"),
    }
}

#[test]
fn partial_frames_wait_for_more_bytes() {
    let pdu = Pdu::request(3, Body::Submit(submit()));
    let wire = encoded(&pdu);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let mut buf = BytesMut::new();
    for (i, byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let got = decoder.decode(&mut buf).expect("no error");
        if i + 1 < wire.len() {
            assert_eq!(got, None, "after {} octets", i + 1);
        } else {
            assert_eq!(got, Some(pdu.clone()));
        }
    }
}

#[test]
fn two_frames_in_one_read_come_out_in_order() {
    let mut wire = encoded(&Pdu::request(1, Body::ActiveTest));
    wire.extend(encoded(&Pdu::request(2, Body::Exit)));
    let mut buf = BytesMut::from(&wire[..]);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Pdu::request(1, Body::ActiveTest)))
    );
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Pdu::request(2, Body::Exit)))
    );
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn oversize_or_undersize_length_is_refused_before_any_reservation() {
    for length in [u32::MAX, DEFAULT_MAX_LEN as u32 + 1, 15, 0] {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut buf = BytesMut::from(&bytes[..]);
        let capacity = buf.capacity();
        let got = Decoder::new(DEFAULT_MAX_LEN).decode(&mut buf);
        assert_eq!(got, Err(FrameError::BadLength(length)));
        assert_eq!(buf.capacity(), capacity, "nothing reserved for {length}");
        assert_eq!(buf.len(), 16, "nothing consumed");
        assert_eq!(FrameError::BadLength(length).response(), None);
    }
    // The limit is the decoder's: a small one refuses a SUBMIT that the default takes.
    let wire = encoded(&Pdu::request(3, Body::Submit(submit())));
    let mut buf = BytesMut::from(&wire[..]);
    assert!(matches!(
        Decoder::new(100).decode(&mut buf),
        Err(FrameError::BadLength(178))
    ));
}

#[test]
fn unknown_request_is_consumed_and_answered_with_bad_command() {
    // Query (0x00000007), which this crate does not model, then an Active_Test.
    let mut bytes = frame(0x0000_0007, 0, 4, &[1, 2, 3]);
    bytes.extend(frame(4, 0, 5, &[]));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let err = decoder.decode(&mut buf).expect_err("unknown");
    assert_eq!(
        err,
        FrameError::UnknownCommand {
            command_id: 7,
            sequence_id: 4
        }
    );
    let answer = err.response().expect("a request gets an answer");
    assert_eq!(encoded(&answer), frame(0x8000_0007, 11, 4, &[]));
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Pdu::request(5, Body::ActiveTest)))
    );

    // An unknown response is consumed and gets nothing.
    let mut buf = BytesMut::from(&frame(0x8000_0007, 0, 4, &[])[..]);
    let err = decoder.decode(&mut buf).expect_err("unknown");
    assert!(buf.is_empty());
    assert_eq!(err.response(), None);
}

#[test]
fn truncated_bodies_are_malformed_and_answered() {
    let login = encoded(&Pdu::request(
        9,
        Body::Login(crate::auth::login("SP0001", b"s", 0, 1)),
    ));
    let mut short = login[..login.len() - 1].to_vec();
    short[3] -= 1; // Total_Length 47: the body ends before Version.
    let err = decode_all(&short).expect_err("short");
    assert_eq!(
        err,
        FrameError::Malformed {
            command: CommandId::Login,
            sequence_id: 9,
            reason: "body ends inside Version"
        }
    );
    let answer = err.response().expect("Login has a response");
    assert_eq!(
        answer,
        Pdu {
            sequence_id: 9,
            status: status::BAD_STRUCTURE,
            body: Body::LoginResp(LoginResp {
                authenticator_server: [0; 16],
                version: VERSION
            })
        }
    );
    assert_eq!(
        malformed_reason(&frame(2, 0, 1, &[0; 50])),
        "body ends inside AtTime"
    );
    assert_eq!(
        malformed_reason(&frame(3, 0, 1, &[0; 5])),
        "body ends inside MsgID"
    );
    assert_eq!(
        malformed_reason(&frame(4, 0, 1, &[0])),
        "octets after the last field"
    );
}

#[test]
fn bad_tlv_lengths_are_malformed() {
    let base = encoded(&Pdu::request(
        1,
        Body::Submit(Submit {
            tlvs: Tlvs::new(),
            ..submit()
        }),
    ));
    let with = |tail: &[u8]| {
        let mut bytes = base.clone();
        bytes.extend_from_slice(tail);
        let length = bytes.len() as u32;
        bytes[..4].copy_from_slice(&length.to_be_bytes());
        bytes
    };
    assert_eq!(
        malformed_reason(&with(&[0x01, 0x00, 0x00, 0x02, 0x07])),
        "TLV length runs past the end of the body"
    );
    assert_eq!(
        malformed_reason(&with(&[0x01, 0x00, 0x00])),
        "body ends inside a TLV header"
    );
    let err = decode_all(&with(&[0x01])).expect_err("malformed");
    assert_eq!(
        err.response().map(|p| (p.status, p.body)),
        Some((
            status::BAD_STRUCTURE,
            Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                tlvs: Tlvs::new()
            })
        ))
    );
    // A TLV of length 0 at the very end is fine.
    assert!(decode_all(&with(&[0x12, 0x34, 0x00, 0x00])).is_ok());
}

#[test]
fn unknown_tlvs_round_trip_in_their_order() {
    let tlvs: Tlvs = vec![
        Tlv::new(0x7777, Bytes::from_static(b"vendor")),
        Tlv::u8(tag::PROTOCOL_ID, 0x41),
        Tlv::new(0x7777, Bytes::new()),
        Tlv::u8(tag::TP_UDHI, 1),
    ]
    .into();
    let pdu = Pdu::request(
        1,
        Body::Submit(Submit {
            tlvs: tlvs.clone(),
            ..submit()
        }),
    );
    let Ok(Some(Pdu {
        body: Body::Submit(back),
        ..
    })) = decode_all(&encoded(&pdu))
    else {
        panic!("decodes")
    };
    assert_eq!(back.tlvs, tlvs);
    assert_eq!(back.tlvs.u8(tag::PROTOCOL_ID), Some(0x41));
    assert_eq!(back.tlvs.get(0x7777), Some(&b"vendor"[..]));
    assert_eq!(back.tlvs.u8(0x7777), None, "six octets are not one");
}

#[test]
fn dest_term_id_count_must_be_1_to_100_and_present() {
    let wire = encoded(&Pdu::request(1, Body::Submit(submit())));
    let count_at = 16 + 10 + 3 + 10 + 2 + 1 + 6 + 1 + 17 + 17 + 21 + 21;
    assert_eq!(wire[count_at], 2);
    for (count, reason) in [
        (0u8, "DestTermIDCount is not 1 to 100"),
        (101, "DestTermIDCount is not 1 to 100"),
        (100, "body ends inside DestTermID"),
    ] {
        let mut bytes = wire.clone();
        bytes[count_at] = count;
        assert_eq!(malformed_reason(&bytes), reason, "{count}");
    }
}

#[test]
fn text_padding_is_trimmed_and_non_ascii_refused() {
    let mut body = b"SP01 \0\xff\xfe\x01\x02".to_vec();
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&[0, 0, 0, 0, 1, 0x20]);
    let Ok(Some(Pdu {
        body: Body::Login(login),
        ..
    })) = decode_all(&frame(1, 0, 1, &body))
    else {
        panic!("decodes")
    };
    assert_eq!(login.client_id, "SP01");

    let mut body = "中文号码".as_bytes()[..10].to_vec();
    body.extend_from_slice(&[0; 22]);
    assert_eq!(
        malformed_reason(&frame(1, 0, 1, &body)),
        "ClientID is not ASCII text"
    );
}

#[test]
fn a_refusal_without_a_body_is_read_as_zeros() {
    for (id, body) in [
        (
            0x8000_0002,
            Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                tlvs: Tlvs::new(),
            }),
        ),
        (
            0x8000_0003,
            Body::DeliverResp(DeliverResp {
                msg_id: MsgId::ZERO,
                tlvs: Tlvs::new(),
            }),
        ),
        (
            0x8000_0001,
            Body::LoginResp(LoginResp {
                authenticator_server: [0; 16],
                version: 0,
            }),
        ),
    ] {
        let got = decode_all(&frame(id, status::SYSTEM_BUSY, 8, &[]));
        assert_eq!(
            got,
            Ok(Some(Pdu {
                sequence_id: 8,
                status: 1,
                body
            }))
        );
        // With status 0 the body is owed.
        assert!(decode_all(&frame(id, 0, 8, &[])).is_err());
    }
}

#[test]
fn encode_refuses_what_does_not_fit_and_appends_nothing() {
    let cases = [
        (
            Submit {
                dest_term_ids: vec![],
                ..submit()
            },
            EncodeError::Destinations(0),
        ),
        (
            Submit {
                dest_term_ids: vec!["1".into(); 101],
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
                field: "MsgContent",
                len: 256,
                max: 255,
            },
        ),
        (
            Submit {
                service_id: "服务".into(),
                ..submit()
            },
            EncodeError::NotAscii { field: "ServiceID" },
        ),
        (
            Submit {
                src_term_id: "1".repeat(22),
                ..submit()
            },
            EncodeError::TooLong {
                field: "SrcTermID",
                len: 22,
                max: 21,
            },
        ),
        (
            Submit {
                tlvs: vec![Tlv::new(1, vec![0; 65_536])].into(),
                ..submit()
            },
            EncodeError::TooLong {
                field: "TLV value",
                len: 65_536,
                max: 65_535,
            },
        ),
    ];
    for (s, expected) in cases {
        let mut out = BytesMut::from(&b"kept"[..]);
        let got = Pdu::request(1, Body::Submit(s)).encode(&mut out);
        assert_eq!(got, Err(expected));
        assert_eq!(&out[..], b"kept");
    }
}

#[test]
fn error_responses_for_requests() {
    let deliver = Deliver {
        msg_id: MsgId([9; 10]),
        is_report: 0,
        msg_format: 0,
        recv_time: String::new(),
        src_term_id: "1".into(),
        dest_term_id: "2".into(),
        msg_content: Bytes::new(),
        tlvs: Tlvs::new(),
    };
    let cases = [
        (
            Body::Submit(submit()),
            Some(Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                tlvs: Tlvs::new(),
            })),
        ),
        (
            Body::Deliver(deliver),
            Some(Body::DeliverResp(DeliverResp {
                msg_id: MsgId([9; 10]),
                tlvs: Tlvs::new(),
            })),
        ),
        (Body::ActiveTest, Some(Body::ActiveTestResp)),
        (Body::Exit, Some(Body::ExitResp)),
        (Body::ExitResp, None),
        (Body::ActiveTestResp, None),
    ];
    for (request, expected) in cases {
        let got = Pdu::response_for(&Pdu::request(12, request), status::SYSTEM_BUSY);
        assert_eq!(
            got,
            expected.map(|body| Pdu {
                sequence_id: 12,
                status: 1,
                body
            })
        );
    }
    let login = Login {
        version: 0x30,
        ..crate::auth::login("SP0001", b"s", 0, 1)
    };
    let answer = Pdu::response_for(
        &Pdu::request(13, Body::Login(login)),
        status::VERSION_TOO_HIGH,
    );
    assert_eq!(
        answer.map(|p| (p.status, p.body)),
        Some((
            22,
            Body::LoginResp(LoginResp {
                authenticator_server: [0; 16],
                version: 0x20
            })
        ))
    );
}

#[test]
fn status_codes_have_descriptions() {
    assert_eq!(status::describe(status::OK), "success");
    assert_eq!(status::describe(status::BAD_MSG_LENGTH), "bad MsgLength");
    assert_eq!(status::describe(200), "vendor error");
    assert_eq!(status::describe(5), "reserved");
}
