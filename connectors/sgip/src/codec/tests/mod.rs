//! Every PDU against bytes written out by hand from the field tables of SGIP 1.2 §4.2.3 and
//! §4.4, and the decoder's framing rules.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::msgid::SequenceNumber;

/// `text` padded with NUL to `width`.
pub(super) fn pad(text: &str, width: usize) -> Vec<u8> {
    let mut field = text.as_bytes().to_vec();
    field.resize(width, 0);
    field
}

/// The sequence number of the hand-written frames: node 3100012345 (an SP in area 10,
/// corporation 12345), 20 November 20:32:25, number 7.
pub(super) const SEQ: SequenceNumber = SequenceNumber::new(3_100_012_345, 1_120_203_225, 7);
pub(super) const SEQ_BYTES: [u8; 12] = [
    0xb8, 0xc6, 0x6f, 0x39, // node id 3100012345
    0x42, 0xc4, 0xf1, 0xd9, // 1120203225
    0x00, 0x00, 0x00, 0x07, // 7
];

pub(super) fn frame(command_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(20 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&SEQ_BYTES);
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

/// `body` encodes to exactly `bytes` and `bytes` decodes to it.
fn assert_wire(body: Body, bytes: &[u8]) {
    let pdu = Pdu {
        sequence: SEQ,
        body,
    };
    let mut out = BytesMut::new();
    pdu.encode(&mut out).expect("encodes");
    assert_eq!(&out[..], bytes, "encoding of {pdu:?}");
    assert_eq!(pdu.encoded_len(), bytes.len());
    assert_eq!(decode_all(bytes), Ok(Some(pdu)));
}

fn ok() -> Response {
    Response {
        result: 0,
        reserve: String::new(),
    }
}

#[test]
fn bind_layout() {
    let bytes: &[u8] = &[
        0x00, 0x00, 0x00, 0x3d, // Message Length 61
        0x00, 0x00, 0x00, 0x01, // SGIP_BIND
        0xb8, 0xc6, 0x6f, 0x39, 0x42, 0xc4, 0xf1, 0xd9, 0x00, 0x00, 0x00, 0x07, // Sequence
        0x01, // Login Type: SP to SMG
        b's', b'p', b'0', b'0', b'1', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // Login Name
        b'p', b'w', b'1', b'2', b'3', b'4', b'5', b'6', 0, 0, 0, 0, 0, 0, 0, 0, // Password
        0, 0, 0, 0, 0, 0, 0, 0, // Reserve
    ];
    let bind = Bind {
        login_type: LoginType::SpToSmg.value(),
        login_name: "sp001".into(),
        login_password: "pw123456".into(),
        reserve: String::new(),
    };
    assert_wire(Body::Bind(bind), bytes);
}

#[test]
fn responses_are_result_and_reserve() {
    for (id, body) in [
        (0x8000_0001u32, Body::BindResp(ok())),
        (0x8000_0003, Body::SubmitResp(ok())),
        (0x8000_0004, Body::DeliverResp(ok())),
        (0x8000_0005, Body::ReportResp(ok())),
    ] {
        let mut bytes = vec![0x00, 0x00, 0x00, 0x1d]; // Message Length 29
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&SEQ_BYTES);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]); // Result 0, Reserve
        assert_wire(body, &bytes);
    }
    let refused = Body::BindResp(Response {
        result: result::ILLEGAL_LOGIN,
        reserve: "ext".into(),
    });
    assert_wire(
        refused,
        &frame(0x8000_0001, &[1, b'e', b'x', b't', 0, 0, 0, 0, 0]),
    );
}

#[test]
fn unbind_and_its_response_have_no_body() {
    let unbind = [
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x02, 0xb8, 0xc6, 0x6f, 0x39, 0x42, 0xc4, 0xf1,
        0xd9, 0x00, 0x00, 0x00, 0x07,
    ];
    assert_wire(Body::Unbind, &unbind);
    assert_wire(Body::UnbindResp, &frame(0x8000_0002, &[]));
}

pub(super) fn submit() -> Submit {
    Submit {
        sp_number: "10655001".into(),
        charge_number: "000000000000000000000".into(),
        user_numbers: vec!["8613800138000".into(), "8613900139000".into()],
        corp_id: "12345".into(),
        service_type: "TEST".into(),
        fee_type: fee_type::PER_MESSAGE,
        fee_value: "100".into(),
        given_value: "0".into(),
        agent_flag: 0,
        morelate_to_mt_flag: mo_relation::UNSOLICITED,
        priority: 0,
        expire_time: String::new(),
        schedule_time: String::new(),
        report_flag: report_flag::ALWAYS,
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: 8,
        message_type: 0,
        message_content: Bytes::from_static(&[0x4f, 0x60, 0x59, 0x7d]), // 你好 in UCS-2
        reserve: String::new(),
    }
}

#[test]
fn submit_to_two_users_in_ucs2() {
    let mut body = Vec::new();
    body.extend(pad("10655001", 21)); // SPNumber
    body.extend_from_slice(b"000000000000000000000"); // ChargeNumber: the SP pays
    body.push(2); // UserCount
    body.extend(pad("8613800138000", 21)); // UserNumber
    body.extend(pad("8613900139000", 21)); // UserNumber
    body.extend_from_slice(b"12345"); // CorpId
    body.extend(pad("TEST", 10)); // ServiceType
    body.push(2); // FeeType: per message
    body.extend(pad("100", 6)); // FeeValue
    body.extend(pad("0", 6)); // GivenValue
    body.extend_from_slice(&[0, 2, 0]); // AgentFlag, MorelatetoMTFlag, Priority
    body.extend(pad("", 16)); // ExpireTime
    body.extend(pad("", 16)); // ScheduleTime
    body.extend_from_slice(&[1, 0, 0, 8, 0]); // ReportFlag .. MessageType
    body.extend_from_slice(&[0, 0, 0, 4]); // MessageLength
    body.extend_from_slice(&[0x4f, 0x60, 0x59, 0x7d]); // MessageContent
    body.extend(pad("", 8)); // Reserve
    assert_eq!(body.len(), 123 + 2 * 21 + 4);
    let bytes = frame(3, &body);
    assert_eq!(&bytes[..4], &[0, 0, 0, 189]);
    assert_wire(Body::Submit(submit()), &bytes);
}

#[test]
fn submit_with_times_and_a_udh() {
    let s = Submit {
        user_numbers: vec!["8613800138000".into()],
        expire_time: "240302120000032+".into(),
        schedule_time: "240301130000032+".into(),
        priority: 9,
        tp_udhi: 1,
        message_coding: 0,
        message_content: Bytes::from_static(&[5, 0, 3, 0x2a, 2, 1, b'h', b'i']),
        reserve: "R1".into(),
        ..submit()
    };
    let mut body = Vec::new();
    body.extend(pad("10655001", 21));
    body.extend_from_slice(b"000000000000000000000");
    body.push(1);
    body.extend(pad("8613800138000", 21));
    body.extend_from_slice(b"12345");
    body.extend(pad("TEST", 10));
    body.push(2);
    body.extend(pad("100", 6));
    body.extend(pad("0", 6));
    body.extend_from_slice(&[0, 2, 9]);
    body.extend_from_slice(b"240302120000032+");
    body.extend_from_slice(b"240301130000032+");
    body.extend_from_slice(&[1, 0, 1, 0, 0]);
    body.extend_from_slice(&[0, 0, 0, 8, 5, 0, 3, 0x2a, 2, 1, b'h', b'i']);
    body.extend(pad("R1", 8));
    assert_wire(Body::Submit(s), &frame(3, &body));
}

#[test]
fn deliver_in_gbk() {
    let deliver = Deliver {
        user_number: "8613800138000".into(),
        sp_number: "10655001".into(),
        tp_pid: 0,
        tp_udhi: 0,
        message_coding: 15,
        message_content: Bytes::from_static(&[0xc4, 0xe3, 0xba, 0xc3]), // 你好 in GBK
        reserve: String::new(),
    };
    let mut body = Vec::new();
    body.extend(pad("8613800138000", 21)); // UserNumber
    body.extend(pad("10655001", 21)); // SPNumber
    body.extend_from_slice(&[0, 0, 15]); // TP_pid, TP_udhi, MessageCoding
    body.extend_from_slice(&[0, 0, 0, 4]); // MessageLength
    body.extend_from_slice(&[0xc4, 0xe3, 0xba, 0xc3]);
    body.extend(pad("", 8));
    assert_eq!(body.len(), 57 + 4);
    assert_wire(Body::Deliver(deliver), &frame(4, &body));
}

#[test]
fn report_layout() {
    let report = Report {
        submit_sequence: SequenceNumber::new(3_100_012_345, 1_120_203_225, 6),
        report_type: report::ON_SUBMIT,
        user_number: "8613800138000".into(),
        state: report::FAILED,
        error_code: result::USER_UNREACHABLE,
        reserve: String::new(),
    };
    let bytes: &[u8] = &[
        0x00, 0x00, 0x00, 0x40, // Message Length 64
        0x00, 0x00, 0x00, 0x05, // SGIP_REPORT
        0xb8, 0xc6, 0x6f, 0x39, 0x42, 0xc4, 0xf1, 0xd9, 0x00, 0x00, 0x00, 0x07, // Sequence
        0xb8, 0xc6, 0x6f, 0x39, 0x42, 0xc4, 0xf1, 0xd9, 0x00, 0x00, 0x00, 0x06, // Submit's
        0x00, // ReportType: on a SUBMIT
        b'8', b'6', b'1', b'3', b'8', b'0', b'0', b'1', b'3', b'8', b'0', b'0', b'0', 0, 0, 0, 0,
        0, 0, 0, 0,    // UserNumber
        0x02, // State: failed
        0x19, // ErrorCode 25
        0, 0, 0, 0, 0, 0, 0, 0, // Reserve
    ];
    assert_wire(Body::Report(report), bytes);
}

#[test]
fn trace_and_its_response() {
    let trace = Trace {
        submit_sequence: SequenceNumber::new(1, 2, 3),
        user_number: "8613800138000".into(),
        reserve: String::new(),
    };
    let mut body = vec![0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    body.extend(pad("8613800138000", 21));
    body.extend(pad("", 8));
    assert_wire(Body::Trace(trace), &frame(0x1000, &body));

    let hop = |result: u8, node: &str| TraceHop {
        result,
        node_id: node.into(),
        receive_time: "241120203225".into(),
        send_time: "241120203226".into(),
        reserve: String::new(),
    };
    let resp = TraceResp {
        hops: vec![hop(0, "110001"), hop(1, "210002")],
    };
    let mut body = vec![2]; // Count
    for (result, node) in [(0, "110001"), (1, "210002")] {
        body.push(result);
        body.extend_from_slice(node.as_bytes());
        body.extend(pad("241120203225", 16));
        body.extend(pad("241120203226", 16));
        body.extend(pad("", 8));
    }
    assert_eq!(body.len(), 1 + 2 * 47);
    assert_wire(Body::TraceResp(resp), &frame(0x8000_1000, &body));
    assert_wire(
        Body::TraceResp(TraceResp { hops: vec![] }),
        &frame(0x8000_1000, &[0]),
    );
}

mod framing;
