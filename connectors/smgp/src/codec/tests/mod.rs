//! Every PDU against bytes written out by hand from the SMGP 3.0 specification's field
//! tables, and (in `framing`) the decoder's framing rules.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::msgid::MsgId;

/// `text` padded with NUL to `width`.
pub(super) fn pad(text: &str, width: usize) -> Vec<u8> {
    let mut field = text.as_bytes().to_vec();
    field.resize(width, 0);
    field
}

pub(super) fn frame(request_id: u32, sequence_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(12 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(&sequence_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub(super) fn decode_all(bytes: &[u8]) -> Result<Option<Pdu>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let result = Decoder::new(DEFAULT_MAX_LEN).decode(&mut buf);
    if matches!(result, Ok(Some(_))) {
        assert!(buf.is_empty(), "a decoded frame is consumed whole");
    }
    result
}

/// `pdu` encodes to exactly `bytes` and `bytes` decodes to `pdu`.
pub(super) fn assert_wire(pdu: &Pdu, bytes: &[u8]) {
    let mut out = BytesMut::new();
    pdu.encode(&mut out).expect("encodes");
    assert_eq!(&out[..], bytes, "encoding of {pdu:?}");
    assert_eq!(pdu.encoded_len(), bytes.len());
    assert_eq!(decode_all(bytes), Ok(Some(pdu.clone())));
}

/// MsgID 0x0000 77 / 0301 1200 / 000042: gateway 000077, March 1st 12:00, sequence 42.
pub(super) const MSG_ID: [u8; 10] = [0x00, 0x00, 0x77, 0x03, 0x01, 0x12, 0x00, 0x00, 0x00, 0x42];

#[test]
fn login_with_a_known_authenticator() {
    // MD5("SP000001" + 7 × 0x00 + "secret" + "0301120000"), computed with Python's hashlib.
    let auth = [
        0xf9, 0x5e, 0x00, 0xf6, 0x8b, 0x72, 0x7f, 0x3c, 0xcb, 0x61, 0x0d, 0x66, 0xe4, 0xde, 0x68,
        0x44,
    ];
    assert_eq!(
        crate::auth::authenticator_client("SP000001", b"secret", 301_120_000),
        auth
    );
    let mut bytes = vec![
        0x00, 0x00, 0x00, 0x2a, // PacketLength 42
        0x00, 0x00, 0x00, 0x01, // Login
        0x00, 0x00, 0x00, 0x07, // SequenceID
        b'S', b'P', b'0', b'0', b'0', b'0', b'0', b'1', // ClientID
    ];
    bytes.extend_from_slice(&auth); // AuthenticatorClient
    bytes.push(0x02); // LoginMode: transmit
    bytes.extend_from_slice(&[0x11, 0xf2, 0xba, 0x00]); // TimeStamp 0301120000
    bytes.push(0x30); // ClientVersion
    let pdu = Pdu {
        sequence_id: 7,
        body: Body::Login(Login {
            client_id: "SP000001".into(),
            authenticator_client: auth,
            login_mode: login_mode::TRANSMIT,
            timestamp: 301_120_000,
            client_version: VERSION,
        }),
    };
    assert_wire(&pdu, &bytes);

    // MD5(0x00000000 + AuthenticatorClient + "secret").
    let server = [
        0x6f, 0xfc, 0x09, 0xd3, 0x4f, 0x66, 0xe3, 0x70, 0xe5, 0xcd, 0x2b, 0x80, 0x33, 0x5e, 0xc4,
        0xef,
    ];
    assert_eq!(
        crate::auth::authenticator_server(0, &auth, b"secret"),
        server
    );
    let mut bytes = vec![
        0x00, 0x00, 0x00, 0x21, // PacketLength 33
        0x80, 0x00, 0x00, 0x01, // Login_Resp
        0x00, 0x00, 0x00, 0x07, // SequenceID
        0x00, 0x00, 0x00, 0x00, // Status
    ];
    bytes.extend_from_slice(&server);
    bytes.push(0x30); // ServerVersion
    let resp = Pdu {
        sequence_id: 7,
        body: Body::LoginResp(LoginResp {
            status: status::OK,
            authenticator_server: server,
            server_version: VERSION,
        }),
    };
    assert_wire(&resp, &bytes);
}

pub(super) fn submit() -> Submit {
    Submit {
        msg_type: 6,
        need_report: 1,
        priority: 1,
        service_id: "TEST".into(),
        fee_type: "01".into(),
        fee_code: "000010".into(),
        fixed_fee: "000000".into(),
        msg_format: 8,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "1065900001".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec!["13300000001".into(), "8618900000002".into()],
        msg_content: Bytes::from_static(&[0x4f, 0x60, 0x59, 0x7d]),
        reserve: [0; 8],
        tlvs: vec![Tlv::LinkId("LNK0001".into())],
    }
}

#[test]
fn submit_to_two_terminals_in_ucs2_with_a_link_id() {
    let mut body = vec![6, 1, 1]; // MsgType MT, NeedReport, Priority
    body.extend(pad("TEST", 10)); // ServiceID
    body.extend(pad("01", 2)); // FeeType
    body.extend(pad("000010", 6)); // FeeCode
    body.extend(pad("000000", 6)); // FixedFee
    body.push(8); // MsgFormat UCS-2
    body.extend(pad("", 17)); // ValidTime
    body.extend(pad("", 17)); // AtTime
    body.extend(pad("1065900001", 21)); // SrcTermID
    body.extend(pad("", 21)); // ChargeTermID
    body.push(2); // DestTermIDCount
    body.extend(pad("13300000001", 21));
    body.extend(pad("8618900000002", 21));
    body.push(4); // MsgLength
    body.extend_from_slice(&[0x4f, 0x60, 0x59, 0x7d]); // 你好
    body.extend_from_slice(&[0; 8]); // Reserve
    body.extend_from_slice(&[0x00, 0x03, 0x00, 0x14]); // LinkID, 20 octets
    body.extend(pad("LNK0001", 20));
    assert_eq!(body.len(), 114 + 2 * 21 + 4 + 24);
    let pdu = Pdu {
        sequence_id: 0x0102_0304,
        body: Body::Submit(submit()),
    };
    assert_wire(&pdu, &frame(0x0000_0002, 0x0102_0304, &body));
    let Body::Submit(s) = &pdu.body else {
        unreachable!()
    };
    assert_eq!(
        (s.link_id(), s.tp_udhi(), s.pk()),
        (Some("LNK0001"), 0, None)
    );
}

#[test]
fn every_tlv_tag_of_the_specification() {
    let tlvs = vec![
        (Tlv::TpPid(0x7f), vec![0x00, 0x01, 0x00, 0x01, 0x7f]),
        (Tlv::TpUdhi(1), vec![0x00, 0x02, 0x00, 0x01, 0x01]),
        (Tlv::ChargeUserType(2), vec![0x00, 0x04, 0x00, 0x01, 0x02]),
        (Tlv::ChargeTermType(1), vec![0x00, 0x05, 0x00, 0x01, 0x01]),
        (
            Tlv::ChargeTermPseudo("P1".into()),
            vec![0x00, 0x06, 0x00, 0x02, b'P', b'1'],
        ),
        (Tlv::DestTermType(0), vec![0x00, 0x07, 0x00, 0x01, 0x00]),
        (
            Tlv::DestTermPseudo("P2".into()),
            vec![0x00, 0x08, 0x00, 0x02, b'P', b'2'],
        ),
        (Tlv::PkTotal(3), vec![0x00, 0x09, 0x00, 0x01, 0x03]),
        (Tlv::PkNumber(2), vec![0x00, 0x0a, 0x00, 0x01, 0x02]),
        (Tlv::SubmitMsgType(0), vec![0x00, 0x0b, 0x00, 0x01, 0x00]),
        (Tlv::SpDealResult(1), vec![0x00, 0x0c, 0x00, 0x01, 0x01]),
        (Tlv::SrcTermType(0), vec![0x00, 0x0d, 0x00, 0x01, 0x00]),
        (
            Tlv::SrcTermPseudo("P3".into()),
            vec![0x00, 0x0e, 0x00, 0x02, b'P', b'3'],
        ),
        (Tlv::NodesCount(4), vec![0x00, 0x0f, 0x00, 0x01, 0x04]),
        (Tlv::SrcType(1), vec![0x00, 0x11, 0x00, 0x01, 0x01]),
        (
            Tlv::Other {
                tag: 0x1234,
                value: Bytes::from_static(&[0xde, 0xad]),
            },
            vec![0x12, 0x34, 0x00, 0x02, 0xde, 0xad],
        ),
    ];
    let mut msg_src = vec![0x00, 0x10, 0x00, 0x08];
    msg_src.extend(pad("901234", 8));
    let mut m_service_id = vec![0x00, 0x12, 0x00, 0x15];
    m_service_id.extend(pad("SVC", 21));
    let tlvs = tlvs.into_iter().chain([
        (Tlv::MsgSrc("901234".into()), msg_src),
        (Tlv::MServiceId("SVC".into()), m_service_id),
    ]);
    let (tlvs, wire): (Vec<Tlv>, Vec<Vec<u8>>) = tlvs.unzip();
    let s = Submit {
        tlvs: tlvs.clone(),
        dest_term_ids: vec!["1".into()],
        ..submit()
    };
    let mut encoded = BytesMut::new();
    let pdu = Pdu {
        sequence_id: 1,
        body: Body::Submit(s.clone()),
    };
    pdu.encode(&mut encoded).expect("encodes");
    let tail: Vec<u8> = wire.concat();
    assert!(encoded.ends_with(&tail));
    assert_eq!(decode_all(&encoded), Ok(Some(pdu)));
    assert_eq!((s.tp_pid(), s.tp_udhi(), s.pk()), (0x7f, 1, Some((3, 2))));
}

pub(super) fn report_content() -> Vec<u8> {
    let mut content = b"id:".to_vec();
    content.extend_from_slice(&MSG_ID);
    content.extend_from_slice(
        b" sub:001 dlvrd:001 submit date:2403011200 done date:2403011201 stat:DELIVRD err:000 text:",
    );
    content.extend(pad("hello", 20));
    content
}

#[test]
fn status_report_deliver_and_its_response() {
    let content = report_content();
    assert_eq!(content.len(), 122);
    let report = Report {
        msg_id: MsgId(MSG_ID),
        sub: "001".into(),
        dlvrd: "001".into(),
        submit_date: "2403011200".into(),
        done_date: "2403011201".into(),
        stat: "DELIVRD".into(),
        err: "000".into(),
        text: Bytes::from_static(b"hello"),
    };
    assert_eq!(report.encode().as_deref(), Ok(&content[..]));
    assert_eq!(report.encoded_len(), 122);
    assert_eq!(Report::decode(&content), Ok(report.clone()));

    let deliver_id = [0x00, 0x00, 0x77, 0x03, 0x01, 0x12, 0x01, 0x00, 0x00, 0x01];
    let mut body = deliver_id.to_vec(); // MsgID of this DELIVER
    body.push(1); // IsReport
    body.push(0); // MsgFormat
    body.extend_from_slice(b"20240301120100"); // RecvTime
    body.extend(pad("13300000001", 21)); // SrcTermID: the handset
    body.extend(pad("1065900001", 21)); // DestTermID: the SP number
    body.push(122); // MsgLength
    body.extend_from_slice(&content);
    body.extend_from_slice(&[0; 8]); // Reserve
    assert_eq!(body.len(), 199);
    let deliver = Deliver {
        msg_id: MsgId(deliver_id),
        is_report: 1,
        msg_format: 0,
        recv_time: "20240301120100".into(),
        src_term_id: "13300000001".into(),
        dest_term_id: "1065900001".into(),
        msg_content: Bytes::from(content),
        reserve: [0; 8],
        tlvs: Vec::new(),
    };
    let pdu = Pdu {
        sequence_id: 9,
        body: Body::Deliver(deliver.clone()),
    };
    assert_wire(&pdu, &frame(0x0000_0003, 9, &body));
    assert_eq!(deliver.report(), Some(Ok(report)));

    let mut resp = deliver_id.to_vec();
    resp.extend_from_slice(&[0, 0, 0, 0]);
    assert_wire(
        &Pdu {
            sequence_id: 9,
            body: Body::DeliverResp(DeliverResp {
                msg_id: MsgId(deliver_id),
                status: 0,
            }),
        },
        &frame(0x8000_0003, 9, &resp),
    );
}

#[test]
fn submit_resp_carries_the_msg_id_and_status() {
    let mut body = MSG_ID.to_vec();
    body.extend_from_slice(&[0x00, 0x00, 0x00, 0x2f]); // Status 47
    assert_wire(
        &Pdu {
            sequence_id: 0x0102_0304,
            body: Body::SubmitResp(SubmitResp {
                msg_id: MsgId(MSG_ID),
                status: status::BAD_DEST_TERM_ID,
            }),
        },
        &frame(0x8000_0002, 0x0102_0304, &body),
    );
}

#[test]
fn active_test_and_exit_have_empty_bodies() {
    for (body, id) in [
        (Body::ActiveTest, 0x0000_0004),
        (Body::ActiveTestResp, 0x8000_0004),
        (Body::Exit, 0x0000_0006),
        (Body::ExitResp, 0x8000_0006),
    ] {
        assert_wire(
            &Pdu {
                sequence_id: 3,
                body,
            },
            &frame(id, 3, &[]),
        );
    }
}

mod framing;
mod report;
