//! The CNGP 2.0 specification's layouts written out by hand, octet by octet, for every PDU
//! this crate knows. No other CNGP implementation is available to test against, so these
//! vectors are the specification's field tables transcribed, not captures of a gateway;
//! each PDU must encode to exactly its vector and the vector must decode to the PDU.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::msgid::MsgId;

/// `text` padded with NUL to `width`.
fn pad(text: &str, width: usize) -> Vec<u8> {
    let mut field = text.as_bytes().to_vec();
    field.resize(width, 0);
    field
}

fn frame(command_id: u32, status: u32, sequence_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&sequence_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn decode_all(bytes: &[u8]) -> Result<Option<Pdu>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let result = Decoder::new(DEFAULT_MAX_LEN).decode(&mut buf);
    if matches!(result, Ok(Some(_))) {
        assert!(buf.is_empty(), "a decoded frame is consumed whole");
    }
    result
}

/// `pdu` encodes to exactly `bytes` and `bytes` decodes to `pdu`.
fn assert_wire(pdu: &Pdu, bytes: &[u8]) {
    let mut out = BytesMut::new();
    pdu.encode(&mut out).expect("encodes");
    assert_eq!(&out[..], bytes, "encoding of {pdu:?}");
    assert_eq!(pdu.encoded_len(), bytes.len());
    assert_eq!(decode_all(bytes), Ok(Some(pdu.clone())));
}

/// MD5(b"SP0001" + 7 × 0x00 + b"secret" + b"0301120000"), computed apart with Python's
/// hashlib.
const AUTH_CLIENT: [u8; 16] = [
    0x58, 0x27, 0x00, 0xf8, 0x13, 0x59, 0xa8, 0xa1, 0xa7, 0x9a, 0xf2, 0x08, 0x7e, 0x7b, 0x4e, 0x15,
];
/// MD5(4 × 0x00 + AUTH_CLIENT + b"secret"), likewise.
const AUTH_SERVER: [u8; 16] = [
    0x9d, 0x1e, 0x54, 0xeb, 0xea, 0x42, 0xc1, 0xa9, 0x2f, 0x1a, 0xa3, 0x5e, 0xd8, 0x92, 0x1f, 0x64,
];

#[test]
fn login_with_a_known_authenticator() {
    let bytes: &[u8] = &[
        0x00, 0x00, 0x00, 0x30, // Total_Length 48
        0x00, 0x00, 0x00, 0x01, // Login
        0x00, 0x00, 0x00, 0x00, // Command_Status
        0x00, 0x00, 0x00, 0x01, // Sequence_Id
        b'S', b'P', b'0', b'0', b'0', b'1', 0, 0, 0, 0, // ClientID
        0x58, 0x27, 0x00, 0xf8, 0x13, 0x59, 0xa8, 0xa1, // AuthenticatorClient
        0xa7, 0x9a, 0xf2, 0x08, 0x7e, 0x7b, 0x4e, 0x15, //
        0x02, // LoginMode: send and receive
        0x11, 0xf2, 0xba, 0x00, // TimeStamp 0301120000
        0x20, // Version 2.0
    ];
    let login = crate::auth::login("SP0001", b"secret", login_mode::TRANSMIT, 301_120_000);
    assert_eq!(login.authenticator_client, AUTH_CLIENT);
    assert_wire(&Pdu::request(1, Body::Login(login)), bytes);
}

#[test]
fn login_resp_carries_its_status_in_the_header() {
    let mut bytes = vec![
        0x00, 0x00, 0x00, 0x21, // Total_Length 33
        0x80, 0x00, 0x00, 0x01, // Login_Resp
        0x00, 0x00, 0x00, 0x00, // Command_Status 0
        0x00, 0x00, 0x00, 0x01, // Sequence_Id
    ];
    bytes.extend_from_slice(&AUTH_SERVER);
    bytes.push(0x20);
    let pdu = Pdu {
        sequence_id: 1,
        status: status::OK,
        body: Body::LoginResp(LoginResp {
            authenticator_server: AUTH_SERVER,
            version: 0x20,
        }),
    };
    assert_wire(&pdu, &bytes);

    // A refusal (21, authentication failed) with an empty authenticator.
    let mut body = [0u8; 17];
    body[16] = 0x20;
    let refused = frame(0x8000_0001, 21, 1, &body);
    assert_eq!(&refused[8..12], &[0, 0, 0, 0x15]);
    let pdu = Pdu {
        status: status::AUTH_FAILED,
        body: Body::LoginResp(LoginResp {
            authenticator_server: [0; 16],
            version: 0x20,
        }),
        ..pdu
    };
    assert_wire(&pdu, &refused);
}

pub(super) fn submit() -> Submit {
    Submit {
        sp_id: "901234".into(),
        sub_type: sub_type::ON_DEMAND,
        need_report: 1,
        priority: 1,
        service_id: "TEST".into(),
        fee_type: "01".into(),
        fee_user_type: 2,
        fee_code: "000010".into(),
        msg_format: 8,
        valid_time: String::new(),
        at_time: String::new(),
        src_term_id: "1065800001".into(),
        charge_term_id: String::new(),
        dest_term_ids: vec!["13300133000".into(), "13900139000".into()],
        msg_content: Bytes::from_static(&[0x4f, 0x60, 0x59, 0x7d]),
        tlvs: vec![Tlv::u8(tag::PROTOCOL_ID, 0)].into(),
    }
}

#[test]
fn submit_to_two_destinations_in_ucs2() {
    let mut body = Vec::new();
    body.extend(pad("901234", 10)); // SPID
    body.extend_from_slice(&[2, 1, 1]); // SubType, NeedReport, Priority
    body.extend(pad("TEST", 10)); // ServiceID
    body.extend_from_slice(b"01"); // FeeType
    body.push(2); // FeeUserType: the SP pays
    body.extend_from_slice(b"000010"); // FeeCode
    body.push(8); // MsgFormat: UCS-2
    body.extend(pad("", 17)); // ValidTime
    body.extend(pad("", 17)); // AtTime
    body.extend(pad("1065800001", 21)); // SrcTermID
    body.extend(pad("", 21)); // ChargeTermID
    body.push(2); // DestTermIDCount
    body.extend(pad("13300133000", 21));
    body.extend(pad("13900139000", 21));
    body.push(4); // MsgLength
    body.extend_from_slice(&[0x4f, 0x60, 0x59, 0x7d]); // "你好"
    body.extend_from_slice(&[0x01, 0x00, 0x00, 0x01, 0x00]); // Protocol_ID 0
    assert_eq!(body.len(), 111 + 2 * 21 + 4 + 5);
    let bytes = frame(2, 0, 0x0102_0304, &body);
    assert_eq!(&bytes[..4], &[0x00, 0x00, 0x00, 0xb2], "178 octets");
    assert_wire(&Pdu::request(0x0102_0304, Body::Submit(submit())), &bytes);
}

#[test]
fn submit_resp_with_msg_id_and_congestion_state() {
    let bytes: &[u8] = &[
        0x00, 0x00, 0x00, 0x1f, // Total_Length 31
        0x80, 0x00, 0x00, 0x02, // Submit_Resp
        0x00, 0x00, 0x00, 0x00, // Command_Status
        0x01, 0x02, 0x03, 0x04, // Sequence_Id
        0x12, 0x34, 0x56, 0x03, 0x01, 0x12, 0x00, 0x00, 0x00, 0x07, // MsgID
        0x04, 0x28, 0x00, 0x01, 0x05, // CongestionState 5
    ];
    let msg_id = MsgId::parse_text("12345603011200000007").expect("id");
    let resp = SubmitResp {
        msg_id,
        tlvs: vec![Tlv::u8(tag::CONGESTION_STATE, 5)].into(),
    };
    assert_eq!(resp.tlvs.u8(tag::CONGESTION_STATE), Some(5));
    let pdu = Pdu {
        sequence_id: 0x0102_0304,
        status: 0,
        body: Body::SubmitResp(resp),
    };
    assert_wire(&pdu, bytes);
    // Refused for flow: status 1 in the header, MsgID zeros, no TLV.
    let busy = Pdu {
        sequence_id: 9,
        status: status::SYSTEM_BUSY,
        body: Body::SubmitResp(SubmitResp {
            msg_id: MsgId::ZERO,
            tlvs: Tlvs::new(),
        }),
    };
    assert_wire(&busy, &frame(0x8000_0002, 1, 9, &[0; 10]));
}

/// The report of MsgID 12345603011200000007, delivered, echoing "hello".
pub(super) fn report_content() -> Vec<u8> {
    let mut content = b"id:".to_vec();
    content.extend_from_slice(&[0x12, 0x34, 0x56, 0x03, 0x01, 0x12, 0x00, 0x00, 0x00, 0x07]);
    content.extend_from_slice(b" sub:001 dlvrd:001 Submit date:2403011200");
    content.extend_from_slice(b" done date:2403011201 stat:DELIVRD err:000 Txt:hello");
    content.extend_from_slice(&[0; 15]);
    content
}

pub(super) fn report() -> Report {
    Report {
        msg_id: MsgId::parse_text("12345603011200000007").expect("id"),
        sub: "001".into(),
        dlvrd: "001".into(),
        submit_date: "2403011200".into(),
        done_date: "2403011201".into(),
        stat: "DELIVRD".into(),
        err: "000".into(),
        txt: Bytes::from_static(b"hello"),
    }
}

#[test]
fn deliver_of_a_status_report() {
    let content = report_content();
    assert_eq!(content.len(), REPORT_LEN);
    assert_eq!(report().encode().as_deref(), Ok(&content[..]));
    assert_eq!(Report::decode(&content), Ok(report()));

    let mut body = vec![0x99, 0x99, 0x01, 0x03, 0x01, 0x12, 0x01, 0x00, 0x00, 0x42]; // MsgID
    body.push(1); // IsReport
    body.push(0); // MsgFormat
    body.extend_from_slice(b"20240301120100"); // RecvTime
    body.extend(pad("13300133000", 21)); // SrcTermID: the handset
    body.extend(pad("1065800001", 21)); // DestTermID: the SP number
    body.push(121); // MsgLength
    body.extend_from_slice(&content);
    let bytes = frame(3, 0, 77, &body);
    assert_eq!(&bytes[..4], &[0x00, 0x00, 0x00, 0xce], "206 octets");
    let deliver = Deliver {
        msg_id: MsgId::parse_text("99990103011201000042").expect("id"),
        is_report: 1,
        msg_format: 0,
        recv_time: "20240301120100".into(),
        src_term_id: "13300133000".into(),
        dest_term_id: "1065800001".into(),
        msg_content: Bytes::from(content),
        tlvs: Tlvs::new(),
    };
    assert_wire(&Pdu::request(77, Body::Deliver(deliver.clone())), &bytes);
    assert_eq!(deliver.report(), Some(Ok(report())));
}

#[test]
fn deliver_of_an_mo_with_protocol_id() {
    let mut body = vec![0x99, 0x99, 0x01, 0x03, 0x01, 0x12, 0x01, 0x00, 0x00, 0x43];
    body.extend_from_slice(&[0, 15]); // IsReport 0, MsgFormat 15 (GB)
    body.extend_from_slice(b"20240301120100");
    body.extend(pad("13300133000", 21));
    body.extend(pad("1065800001", 21));
    body.push(4);
    body.extend_from_slice(&[0xc4, 0xe3, 0xba, 0xc3]); // "你好" in GB
    body.extend_from_slice(&[0x01, 0x00, 0x00, 0x01, 0x00]); // Protocol_ID 0
    assert_eq!(
        body.len() + 16,
        90 + 4,
        "69 fixed octets, content and one TLV"
    );
    let deliver = Deliver {
        msg_id: MsgId::parse_text("99990103011201000043").expect("id"),
        is_report: 0,
        msg_format: 15,
        recv_time: "20240301120100".into(),
        src_term_id: "13300133000".into(),
        dest_term_id: "1065800001".into(),
        msg_content: Bytes::from_static(&[0xc4, 0xe3, 0xba, 0xc3]),
        tlvs: vec![Tlv::u8(tag::PROTOCOL_ID, 0)].into(),
    };
    assert_eq!(deliver.report(), None);
    assert_wire(
        &Pdu::request(78, Body::Deliver(deliver)),
        &frame(3, 0, 78, &body),
    );
}

#[test]
fn deliver_resp_echoes_the_msg_id() {
    let bytes: &[u8] = &[
        0x00, 0x00, 0x00, 0x1a, // Total_Length 26
        0x80, 0x00, 0x00, 0x03, // Deliver_Resp
        0x00, 0x00, 0x00, 0x00, // Command_Status
        0x00, 0x00, 0x00, 0x4d, // Sequence_Id 77
        0x99, 0x99, 0x01, 0x03, 0x01, 0x12, 0x01, 0x00, 0x00, 0x42, // MsgID
    ];
    let pdu = Pdu {
        sequence_id: 77,
        status: 0,
        body: Body::DeliverResp(DeliverResp {
            msg_id: MsgId::parse_text("99990103011201000042").expect("id"),
            tlvs: Tlvs::new(),
        }),
    };
    assert_wire(&pdu, bytes);
}

#[test]
fn active_test_and_exit_are_bare_headers() {
    let cases = [
        (Body::ActiveTest, 0x0000_0004u32),
        (Body::ActiveTestResp, 0x8000_0004),
        (Body::Exit, 0x0000_0006),
        (Body::ExitResp, 0x8000_0006),
    ];
    for (body, id) in cases {
        let pdu = Pdu::request(5, body);
        let bytes = frame(id, 0, 5, &[]);
        assert_eq!(&bytes[..4], &[0, 0, 0, 16]);
        assert_wire(&pdu, &bytes);
    }
    let active_test: &[u8] = &[0, 0, 0, 0x10, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5];
    assert_eq!(
        decode_all(active_test),
        Ok(Some(Pdu::request(5, Body::ActiveTest)))
    );
}

#[test]
fn report_variants_from_gateways_are_read() {
    // Underscored keys, ';' between fields, lower case, a short Txt and no padding.
    let mut content = b"ID:".to_vec();
    content.extend_from_slice(&[0x12, 0x34, 0x56, 0x03, 0x01, 0x12, 0x00, 0x00, 0x00, 0x07]);
    content.extend_from_slice(b" sub:001 dlvrd:000;submit_date:2403011200 done_date:2403011201");
    content.extend_from_slice(b" stat:MK:0005;err:005;text:hi");
    let report = Report::decode(&content).expect("reads");
    assert_eq!(
        (
            report.dlvrd.as_str(),
            report.stat.as_str(),
            report.err.as_str()
        ),
        ("000", "MK:0005", "005")
    );
    assert_eq!(report.done_date, "2403011201");
    assert_eq!(&report.txt[..], b"hi");

    // The id as twenty digits of text, and no Txt at all.
    let text = b"id:12345603011200000007 sub:001 dlvrd:001 submit date:2403011200 done date:2403011201 stat:DELIVRD err:000";
    let report = Report::decode(text).expect("reads");
    assert_eq!(report.msg_id.to_text(), "12345603011200000007");
    assert!(report.txt.is_empty());

    for bad in [
        &b"sub:001 stat:DELIVRD"[..],
        b"id:123",
        b"id:0123456789 sub:001",
    ] {
        assert!(Report::decode(bad).is_err(), "{bad:?}");
    }
}

mod framing;
