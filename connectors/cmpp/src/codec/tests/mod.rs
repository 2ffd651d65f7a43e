//! Every PDU against bytes written out by hand from the specification's field tables, and
//! the decoder's framing rules.

use bytes::{Bytes, BytesMut};

use super::*;

/// `text` padded with NUL to `width`.
fn pad(text: &str, width: usize) -> Vec<u8> {
    let mut field = text.as_bytes().to_vec();
    field.resize(width, 0);
    field
}

fn frame(command_id: u32, sequence_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(12 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&sequence_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn decode_all(version: Version, bytes: &[u8]) -> Result<Option<Pdu>, FrameError> {
    let mut buf = BytesMut::from(bytes);
    let result = Decoder::new(version, DEFAULT_MAX_LEN).decode(&mut buf);
    if matches!(result, Ok(Some(_))) {
        assert!(buf.is_empty(), "a decoded frame is consumed whole");
    }
    result
}

/// `pdu` encodes to exactly `bytes` in `version` and `bytes` decodes to `pdu`.
fn assert_wire(version: Version, pdu: &Pdu, bytes: &[u8]) {
    let mut out = BytesMut::new();
    pdu.encode(version, &mut out).expect("encodes");
    assert_eq!(&out[..], bytes, "encoding of {pdu:?}");
    assert_eq!(pdu.encoded_len(version), bytes.len());
    assert_eq!(decode_all(version, bytes), Ok(Some(pdu.clone())));
}

fn auth() -> [u8; 16] {
    core::array::from_fn(|i| i as u8 + 1)
}

#[test]
fn connect_is_the_same_in_both_versions() {
    let bytes: &[u8] = &[
        0x00, 0x00, 0x00, 0x27, // Total_Length 39
        0x00, 0x00, 0x00, 0x01, // CMPP_CONNECT
        0x00, 0x00, 0x00, 0x07, // Sequence_Id
        b'9', b'0', b'1', b'2', b'3', b'4', // Source_Addr
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,   // AuthenticatorSource
        0x30, // Version
        0x06, 0x05, 0x23, 0x40, // Timestamp 0101000000
    ];
    let pdu = Pdu {
        sequence_id: 7,
        body: Body::Connect(Connect {
            source_addr: "901234".into(),
            authenticator_source: auth(),
            version: 0x30,
            timestamp: 101_000_000,
        }),
    };
    assert_wire(Version::V20, &pdu, bytes);
    assert_wire(Version::V30, &pdu, bytes);
}

#[test]
fn connect_resp_status_is_one_octet_in_2_0_and_four_in_3_0() {
    let pdu = Pdu {
        sequence_id: 7,
        body: Body::ConnectResp(ConnectResp {
            status: 3,
            authenticator_ismg: auth(),
            version: 0x20,
        }),
    };
    let mut v20 = vec![0, 0, 0, 30, 0x80, 0, 0, 1, 0, 0, 0, 7, 3];
    v20.extend_from_slice(&auth());
    v20.push(0x20);
    assert_wire(Version::V20, &pdu, &v20);

    let mut v30 = vec![0, 0, 0, 33, 0x80, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 3];
    v30.extend_from_slice(&auth());
    v30.push(0x20);
    assert_wire(Version::V30, &pdu, &v30);

    // A client that asked for 3.0 still reads a 2.0 gateway's answer, and the reverse.
    assert_eq!(decode_all(Version::V30, &v20), Ok(Some(pdu.clone())));
    assert_eq!(decode_all(Version::V20, &v30), Ok(Some(pdu)));
}

fn submit() -> Submit {
    Submit {
        msg_id: 0,
        pk_total: 1,
        pk_number: 1,
        registered_delivery: 1,
        msg_level: 0,
        service_id: "TEST".into(),
        fee_user_type: 2,
        fee_terminal_id: String::new(),
        fee_terminal_type: 0,
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 8,
        msg_src: "901234".into(),
        fee_type: "01".into(),
        fee_code: "000000".into(),
        valid_time: String::new(),
        at_time: String::new(),
        src_id: "1065800001".into(),
        dest_terminal_ids: vec!["13800138000".into(), "13900139000".into()],
        dest_terminal_type: 0,
        msg_content: Bytes::from_static(&[0x4f, 0x60, 0x59, 0x7d]),
        link_id: String::new(),
    }
}

#[test]
fn submit_2_0_layout() {
    let s = submit();
    let mut body = Vec::new();
    body.extend_from_slice(&[0; 8]); // Msg_Id
    body.extend_from_slice(&[1, 1, 1, 0]); // Pk_total, Pk_number, Registered_Delivery, Msg_level
    body.extend(pad("TEST", 10));
    body.push(2); // Fee_UserType
    body.extend(pad("", 21)); // Fee_terminal_Id
    body.extend_from_slice(&[0, 0, 8]); // TP_pId, TP_udhi, Msg_Fmt
    body.extend(pad("901234", 6));
    body.extend(pad("01", 2));
    body.extend(pad("000000", 6));
    body.extend(pad("", 17));
    body.extend(pad("", 17));
    body.extend(pad("1065800001", 21));
    body.push(2); // DestUsr_tl
    body.extend(pad("13800138000", 21));
    body.extend(pad("13900139000", 21));
    body.push(4); // Msg_Length
    body.extend_from_slice(&[0x4f, 0x60, 0x59, 0x7d]);
    body.extend(pad("", 8)); // Reserve
    assert_eq!(body.len(), 126 + 2 * 21 + 4);
    let pdu = Pdu {
        sequence_id: 0x0102_0304,
        body: Body::Submit(s),
    };
    assert_wire(Version::V20, &pdu, &frame(4, 0x0102_0304, &body));
}

#[test]
fn submit_3_0_layout() {
    let s = Submit {
        fee_terminal_type: 1,
        dest_terminal_type: 0,
        fee_terminal_id: "13800138000".into(),
        link_id: "LINK42".into(),
        ..submit()
    };
    let mut body = Vec::new();
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&[1, 1, 1, 0]);
    body.extend(pad("TEST", 10));
    body.push(2);
    body.extend(pad("13800138000", 32)); // Fee_terminal_Id
    body.push(1); // Fee_terminal_type
    body.extend_from_slice(&[0, 0, 8]);
    body.extend(pad("901234", 6));
    body.extend(pad("01", 2));
    body.extend(pad("000000", 6));
    body.extend(pad("", 17));
    body.extend(pad("", 17));
    body.extend(pad("1065800001", 21));
    body.push(2);
    body.extend(pad("13800138000", 32));
    body.extend(pad("13900139000", 32));
    body.push(0); // Dest_terminal_type
    body.push(4);
    body.extend_from_slice(&[0x4f, 0x60, 0x59, 0x7d]);
    body.extend(pad("LINK42", 20)); // LinkID
    assert_eq!(body.len(), 151 + 2 * 32 + 4);
    let pdu = Pdu {
        sequence_id: 9,
        body: Body::Submit(s),
    };
    assert_wire(Version::V30, &pdu, &frame(4, 9, &body));
}

#[test]
fn submit_resp_and_deliver_resp_result_widths() {
    for (command, resp) in [
        (
            0x8000_0004,
            Body::SubmitResp(SubmitResp {
                msg_id: 0x1122_3344_5566_7788,
                result: 8,
            }),
        ),
        (
            0x8000_0005,
            Body::DeliverResp(DeliverResp {
                msg_id: 0x1122_3344_5566_7788,
                result: 8,
            }),
        ),
    ] {
        let pdu = Pdu {
            sequence_id: 5,
            body: resp,
        };
        let id = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let mut v20 = id.to_vec();
        v20.push(8);
        assert_wire(Version::V20, &pdu, &frame(command, 5, &v20));
        let mut v30 = id.to_vec();
        v30.extend_from_slice(&[0, 0, 0, 8]);
        assert_wire(Version::V30, &pdu, &frame(command, 5, &v30));
    }
}

#[test]
fn deliver_status_report_3_0_layout() {
    let report = Report {
        msg_id: 0x0102_0304_0506_0708,
        stat: "DELIVRD".into(),
        submit_time: "2403011200".into(),
        done_time: "2403011201".into(),
        dest_terminal_id: "13800138000".into(),
        smsc_sequence: 0x0a0b_0c0d,
    };
    let mut content = vec![1, 2, 3, 4, 5, 6, 7, 8];
    content.extend_from_slice(b"DELIVRD2403011200240301120113800138000");
    content.extend_from_slice(&[0; 32 - 11]);
    content.extend_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d]);
    assert_eq!(content.len(), 71);
    assert_eq!(report.encode(Version::V30).as_deref(), Ok(&content[..]));
    assert_eq!(Report::decode(Version::V30, &content), Ok(report.clone()));

    let deliver = Deliver {
        msg_id: 0x00ff_0000_0000_0001,
        dest_id: "1065800001".into(),
        service_id: "TEST".into(),
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 0,
        src_terminal_id: "13800138000".into(),
        src_terminal_type: 0,
        registered_delivery: 1,
        msg_content: Bytes::from(content.clone()),
        link_id: String::new(),
    };
    let mut body = vec![0x00, 0xff, 0, 0, 0, 0, 0, 1];
    body.extend(pad("1065800001", 21));
    body.extend(pad("TEST", 10));
    body.extend_from_slice(&[0, 0, 0]);
    body.extend(pad("13800138000", 32));
    body.push(0); // Src_terminal_type
    body.push(1); // Registered_Delivery
    body.push(71);
    body.extend_from_slice(&content);
    body.extend(pad("", 20));
    let pdu = Pdu {
        sequence_id: 1,
        body: Body::Deliver(deliver.clone()),
    };
    assert_wire(Version::V30, &pdu, &frame(5, 1, &body));
    assert_eq!(deliver.report(Version::V30), Some(Ok(report)));
}

#[test]
fn deliver_report_2_0_is_145_octets() {
    let report = Report {
        msg_id: 1,
        stat: "EXPIRED".into(),
        submit_time: "2401010000".into(),
        done_time: "2401020000".into(),
        dest_terminal_id: "8613800138000".into(),
        smsc_sequence: 0,
    };
    let content = report.encode(Version::V20).expect("encodes");
    assert_eq!(content.len(), 60);
    let deliver = Deliver {
        msg_id: 2,
        dest_id: "10658".into(),
        service_id: String::new(),
        tp_pid: 0,
        tp_udhi: 0,
        msg_fmt: 0,
        src_terminal_id: "8613800138000".into(),
        src_terminal_type: 0,
        registered_delivery: 1,
        msg_content: content.clone(),
        link_id: String::new(),
    };
    let pdu = Pdu {
        sequence_id: 3,
        body: Body::Deliver(deliver),
    };
    assert_eq!(pdu.encoded_len(Version::V20), 145);
    // A 3.0 link reading a 2.0-sized report.
    assert_eq!(Report::decode(Version::V30, &content), Ok(report));
}

#[test]
fn small_pdus_in_both_versions() {
    let query_body = {
        let mut b = pad("20240301", 8);
        b.push(1);
        b.extend(pad("TEST", 10));
        b.extend(pad("", 8));
        b
    };
    let query = Pdu {
        sequence_id: 2,
        body: Body::Query(Query {
            time: "20240301".into(),
            query_type: 1,
            query_code: "TEST".into(),
            reserve: String::new(),
        }),
    };
    let query_resp_body = {
        let mut b = pad("20240301", 8);
        b.push(1);
        b.extend(pad("TEST", 10));
        for n in 1u32..=8 {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b
    };
    let query_resp = Pdu {
        sequence_id: 2,
        body: Body::QueryResp(QueryResp {
            time: "20240301".into(),
            query_type: 1,
            query_code: "TEST".into(),
            mt_tl_msg: 1,
            mt_tl_usr: 2,
            mt_scs: 3,
            mt_wt: 4,
            mt_fl: 5,
            mo_scs: 6,
            mo_wt: 7,
            mo_fl: 8,
        }),
    };
    let cancel = Pdu {
        sequence_id: 4,
        body: Body::Cancel(Cancel { msg_id: 258 }),
    };
    for version in [Version::V20, Version::V30] {
        assert_wire(version, &query, &frame(6, 2, &query_body));
        assert_wire(
            version,
            &query_resp,
            &frame(0x8000_0006, 2, &query_resp_body),
        );
        assert_wire(version, &cancel, &frame(7, 4, &[0, 0, 0, 0, 0, 0, 1, 2]));
        let simple = [
            (Body::Terminate, 2, vec![]),
            (Body::TerminateResp, 0x8000_0002, vec![]),
            (Body::ActiveTest, 8, vec![]),
            (Body::ActiveTestResp(0), 0x8000_0008, vec![0]),
        ];
        for (body, id, bytes) in simple {
            assert_wire(
                version,
                &Pdu {
                    sequence_id: 1,
                    body,
                },
                &frame(id, 1, &bytes),
            );
        }
    }
    let cancel_resp = Pdu {
        sequence_id: 4,
        body: Body::CancelResp(CancelResp { success_id: 1 }),
    };
    assert_wire(Version::V20, &cancel_resp, &frame(0x8000_0007, 4, &[1]));
    assert_wire(
        Version::V30,
        &cancel_resp,
        &frame(0x8000_0007, 4, &[0, 0, 0, 1]),
    );
}

mod framing;
