//! The decoder's framing rules, refusals and the error responses they call for.

use bytes::{Bytes, BytesMut};

use super::super::*;
use super::{decode_all, frame, submit};
use crate::msgid::MsgId;

fn login_body(client_id: &[u8]) -> Vec<u8> {
    let mut body = client_id.to_vec();
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&[2, 0x11, 0xf2, 0xba, 0x00, 0x30]);
    body
}

fn submit_wire(s: Submit) -> Vec<u8> {
    let mut out = BytesMut::new();
    Pdu {
        sequence_id: 5,
        body: Body::Submit(s),
    }
    .encode(&mut out)
    .expect("encodes");
    out.to_vec()
}

fn reason(bytes: &[u8]) -> &'static str {
    match decode_all(bytes) {
        Err(FrameError::Malformed { reason, .. }) => reason,
        other => panic!("{other:?}"),
    }
}

#[test]
fn partial_frames_wait_for_more_bytes() {
    let pdu = Pdu {
        sequence_id: 3,
        body: Body::Submit(submit()),
    };
    let mut wire = BytesMut::new();
    pdu.encode(&mut wire).expect("encodes");
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
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
fn two_frames_in_one_read_come_out_one_by_one() {
    let mut bytes = frame(4, 1, &[]);
    bytes.extend(frame(0x8000_0004, 2, &[]));
    bytes.extend_from_slice(&[0, 0]);
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let mut next = || decoder.decode(&mut buf).map(|p| p.map(|p| p.body));
    assert_eq!(next(), Ok(Some(Body::ActiveTest)));
    assert_eq!(next(), Ok(Some(Body::ActiveTestResp)));
    assert_eq!(next(), Ok(None));
}

#[test]
fn oversize_length_is_refused_before_any_reservation() {
    for length in [u32::MAX, DEFAULT_MAX_LEN as u32 + 1, 11, 0] {
        let mut bytes = length.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 1]);
        let mut buf = BytesMut::from(&bytes[..]);
        let capacity = buf.capacity();
        let got = Decoder::new(DEFAULT_MAX_LEN).decode(&mut buf);
        assert_eq!(got, Err(FrameError::BadLength(length)));
        assert_eq!(buf.capacity(), capacity, "nothing reserved for {length}");
        assert_eq!(buf.len(), 12, "nothing consumed");
        assert_eq!(FrameError::BadLength(length).response(), None);
    }
}

#[test]
fn unknown_request_id_is_consumed_without_an_answer() {
    // Query (0x00000007) is SMGP's, but not read here.
    let mut bytes = frame(0x0000_0007, 4, &[1, 2, 3]);
    bytes.extend(frame(4, 5, &[]));
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(DEFAULT_MAX_LEN);
    let err = decoder.decode(&mut buf).expect_err("unknown");
    assert_eq!(
        err,
        FrameError::UnknownRequest {
            request_id: 7,
            sequence_id: 4
        }
    );
    assert_eq!(err.response(), None);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Pdu {
            sequence_id: 5,
            body: Body::ActiveTest
        }))
    );
}

#[test]
fn truncated_bodies_name_the_field_and_are_answered() {
    let mut login = login_body(b"SP000001");
    login.pop();
    let bytes = frame(1, 9, &login);
    assert_eq!(reason(&bytes), "body ends inside ClientVersion");
    let err = decode_all(&bytes).expect_err("malformed");
    assert_eq!(
        err.response(),
        Some(Pdu {
            sequence_id: 9,
            body: Body::LoginResp(LoginResp {
                status: status::BAD_STRUCTURE,
                authenticator_server: [0; 16],
                server_version: VERSION,
            })
        })
    );
    assert_eq!(
        reason(&frame(0x8000_0002, 1, &[0; 13])),
        "body ends inside Status"
    );
    assert_eq!(reason(&frame(3, 1, &[0; 9])), "body ends inside MsgID");
    assert_eq!(reason(&frame(4, 1, &[0])), "octets after the last field");

    // A SUBMIT cut inside its content.
    let wire = submit_wire(submit());
    let cut = &wire[12..12 + 114 + 42 - 8 + 2];
    let bytes = frame(2, 6, cut);
    assert_eq!(reason(&bytes), "body ends inside MsgContent");
    assert_eq!(
        decode_all(&bytes).expect_err("malformed").response(),
        Some(Pdu {
            sequence_id: 6,
            body: Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                status: status::BAD_STRUCTURE
            })
        })
    );
}

#[test]
fn bad_tlv_lengths_are_malformed() {
    let plain = submit_wire(Submit {
        tlvs: Vec::new(),
        ..submit()
    });
    let with = |tlv: &[u8]| {
        let mut body = plain[12..].to_vec();
        body.extend_from_slice(tlv);
        frame(2, 1, &body)
    };
    assert_eq!(
        reason(&with(&[0x00, 0x03, 0x00, 0x14, b'L'])),
        "TLV Length runs past the end of the body"
    );
    assert_eq!(
        reason(&with(&[0x00, 0x02])),
        "body ends inside a TLV header"
    );
    assert_eq!(
        reason(&with(&[0x00, 0x02, 0x00, 0x02, 0x00, 0x01])),
        "TP_udhi has a bad length"
    );
    assert_eq!(
        reason(&with(&[0x00, 0x09, 0x00, 0x00])),
        "PkTotal has a bad length"
    );
    let mut long_link = vec![0x00, 0x03, 0x00, 0x15];
    long_link.extend_from_slice(&[b'L'; 21]);
    assert_eq!(reason(&with(&long_link)), "LinkID has a bad length");
    assert_eq!(
        reason(&with(&[0x00, 0x10, 0x00, 0x02, 0xc4, 0xe3])),
        "MsgSrc is not ASCII text"
    );
    // A LinkID of 20 characters and its C terminator is read.
    let mut terminated = vec![0x00, 0x03, 0x00, 0x15];
    terminated.extend_from_slice(&[b'L'; 20]);
    terminated.push(0);
    let Ok(Some(Pdu {
        body: Body::Submit(s),
        ..
    })) = decode_all(&with(&terminated))
    else {
        panic!("decodes")
    };
    assert_eq!(s.link_id(), Some("LLLLLLLLLLLLLLLLLLLL"));
    // TLVs after a body that has none are not TLVs.
    assert_eq!(
        reason(&frame(0x8000_0003, 1, &[0; 18])),
        "octets after the last field"
    );
}

#[test]
fn destination_counts_outside_1_to_100_are_malformed() {
    let wire = submit_wire(Submit {
        tlvs: Vec::new(),
        ..submit()
    });
    let count_at = 12 + 104;
    assert_eq!(wire[count_at], 2);
    for (count, expected) in [
        (0u8, "DestTermIDCount is not 1 to 100"),
        (101, "DestTermIDCount is not 1 to 100"),
        (100, "body ends inside DestTermID"),
    ] {
        let mut bytes = wire.clone();
        bytes[count_at] = count;
        assert_eq!(reason(&bytes), expected, "{count}");
    }
}

#[test]
fn text_padding_with_spaces_and_garbage_after_nul_is_trimmed() {
    let got = decode_all(&frame(1, 1, &login_body(b"SP01  \0\0")));
    let Ok(Some(Pdu {
        body: Body::Login(l),
        ..
    })) = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(l.client_id, "SP01");
    let got = decode_all(&frame(1, 1, &login_body(b"SP\0\xff\xfe\x01\x02\x03")));
    let Ok(Some(Pdu {
        body: Body::Login(l),
        ..
    })) = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(l.client_id, "SP");
    assert_eq!(
        reason(&frame(1, 1, &login_body("中文客户".as_bytes()))),
        "ClientID is not ASCII text"
    );
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
                dest_term_ids: vec!["1".repeat(22)],
                ..submit()
            },
            EncodeError::TooLong {
                field: "DestTermID",
                len: 22,
                max: 21,
            },
        ),
        (
            Submit {
                tlvs: vec![Tlv::LinkId("L".repeat(21))],
                ..submit()
            },
            EncodeError::TooLong {
                field: "LinkID",
                len: 21,
                max: 20,
            },
        ),
        (
            Submit {
                tlvs: vec![Tlv::Other {
                    tag: 0x4000,
                    value: Bytes::from(vec![0; 65_536]),
                }],
                ..submit()
            },
            EncodeError::TooLong {
                field: "TLV Value",
                len: 65_536,
                max: 65_535,
            },
        ),
    ];
    for (s, expected) in cases {
        let mut out = BytesMut::from(&b"kept"[..]);
        let got = Pdu {
            sequence_id: 1,
            body: Body::Submit(s),
        }
        .encode(&mut out);
        assert_eq!(got, Err(expected));
        assert_eq!(&out[..], b"kept");
    }
}

#[test]
fn error_responses_for_requests() {
    let submit_req = Pdu {
        sequence_id: 11,
        body: Body::Submit(submit()),
    };
    assert_eq!(
        Pdu::response_for(&submit_req, status::SYSTEM_BUSY),
        Some(Pdu {
            sequence_id: 11,
            body: Body::SubmitResp(SubmitResp {
                msg_id: MsgId::ZERO,
                status: 1
            })
        })
    );
    let deliver = Deliver {
        msg_id: MsgId(super::MSG_ID),
        is_report: 0,
        msg_format: 0,
        recv_time: String::new(),
        src_term_id: "1".into(),
        dest_term_id: "2".into(),
        msg_content: Bytes::new(),
        reserve: [0; 8],
        tlvs: Vec::new(),
    };
    let answer = Pdu::response_for(
        &Pdu {
            sequence_id: 12,
            body: Body::Deliver(deliver),
        },
        status::BAD_MSG_FORMAT,
    );
    assert_eq!(
        answer.map(|p| p.body),
        Some(Body::DeliverResp(DeliverResp {
            msg_id: MsgId(super::MSG_ID),
            status: 34
        }))
    );
    let exit = Pdu {
        sequence_id: 13,
        body: Body::Exit,
    };
    assert_eq!(
        Pdu::response_for(&exit, 0).map(|p| p.body),
        Some(Body::ExitResp)
    );
    let resp = Pdu {
        sequence_id: 1,
        body: Body::ActiveTestResp,
    };
    assert_eq!(Pdu::response_for(&resp, 1), None);
}
