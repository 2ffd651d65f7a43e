use bytes::{BufMut, BytesMut};
use rusmpp::pdus::{SubmitSm, SubmitSmResp};
use rusmpp::types::{COctetString, OctetString};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use super::*;

const SUBMIT_SM: u32 = 0x0000_0004;
const SUBMIT_SM_RESP: u32 = 0x8000_0004;
const BIND_TRANSMITTER: u32 = 0x0000_0002;
const ENQUIRE_LINK: u32 = 0x0000_0015;

fn frame(command_id: u32, sequence: u32, body: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u32(u32::try_from(HEADER_LEN + body.len()).unwrap());
    buf.put_u32(command_id);
    buf.put_u32(0);
    buf.put_u32(sequence);
    buf.put_slice(body);
    buf
}

fn header_only(command_length: u32) -> BytesMut {
    let mut buf = BytesMut::with_capacity(HEADER_LEN);
    buf.put_u32(command_length);
    buf.put_u32(SUBMIT_SM);
    buf.put_u32(0);
    buf.put_u32(7);
    buf
}

struct Submit<'a> {
    source: &'a [u8],
    destination: &'a [u8],
    schedule: &'a [u8],
    validity: &'a [u8],
    sm_length: u8,
    short_message: &'a [u8],
    tlvs: &'a [u8],
}

impl Default for Submit<'_> {
    fn default() -> Self {
        Self {
            source: b"Tern\0",
            destination: b"4915112345678\0",
            schedule: b"\0",
            validity: b"\0",
            sm_length: 5,
            short_message: b"hello",
            tlvs: b"",
        }
    }
}

impl Submit<'_> {
    fn body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(b"\0"); // service_type
        body.extend_from_slice(&[5, 0]);
        body.extend_from_slice(self.source);
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(self.destination);
        body.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
        body.extend_from_slice(self.schedule);
        body.extend_from_slice(self.validity);
        body.extend_from_slice(&[1, 0, 0, 0]); // registered_delivery .. sm_default_msg_id
        body.push(self.sm_length);
        body.extend_from_slice(self.short_message);
        body.extend_from_slice(self.tlvs);
        body
    }
}

fn decode_one(buf: &mut BytesMut) -> Inbound {
    Decoder::default().decode(buf).unwrap().unwrap()
}

fn rejected_status(inbound: Inbound) -> (CommandStatus, DecodeFailure) {
    match inbound {
        Inbound::Rejected { status, reason, .. } => (status, reason),
        Inbound::Command(command) => panic!("expected a rejection, got {command:?}"),
    }
}

#[test]
fn invalid_lengths_are_refused_without_reserving_the_body() {
    let decoder = Decoder::new(4096);
    for length in [0, 1, 15, 4097, 0x7FFF_FFFF, 0xFFFF_FFFF] {
        let mut buf = header_only(length);
        let capacity = buf.capacity();
        let error = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(
            error,
            FrameError::InvalidLength {
                length,
                max: 4096,
                header: peek_header(&buf).unwrap(),
            }
        );
        assert_eq!(error.header().sequence_number, 7);
        assert_eq!(error.status(), CommandStatus::EsmeRinvcmdlen);
        assert_eq!(buf.capacity(), capacity, "length {length} grew the buffer");
        assert_eq!(
            buf.len(),
            HEADER_LEN,
            "the header stays for the caller to read"
        );
    }
}

#[test]
fn an_http_request_is_not_an_smpp_frame() {
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: smsc.example\r\n\r\n"[..]);
    let capacity = buf.capacity();
    let error = Decoder::default().decode(&mut buf).unwrap_err();
    let FrameError::InvalidLength { length, .. } = error;
    assert_eq!(length, u32::from_be_bytes(*b"GET "));
    assert_eq!(buf.capacity(), capacity);
}

#[test]
fn fewer_than_sixteen_octets_wait_for_more() {
    let mut buf = BytesMut::from(&frame(ENQUIRE_LINK, 1, b"")[..15]);
    assert_eq!(Decoder::default().decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), 15);
}

#[test]
fn a_partial_frame_reserves_only_what_is_missing() {
    let full = frame(SUBMIT_SM, 3, &Submit::default().body());
    let mut buf = BytesMut::with_capacity(20);
    buf.put_slice(&full[..20]);
    assert_eq!(Decoder::default().decode(&mut buf), Ok(None));
    assert!(buf.capacity() >= full.len());
    assert!(buf.capacity() < DEFAULT_MAX_LEN);
    buf.put_slice(&full[20..]);
    assert!(matches!(decode_one(&mut buf), Inbound::Command(_)));
    assert!(buf.is_empty());
}

#[test]
fn back_to_back_frames_come_out_one_at_a_time() {
    let mut buf = frame(ENQUIRE_LINK, 1, b"");
    buf.extend_from_slice(&frame(ENQUIRE_LINK, 2, b""));
    let decoder = Decoder::default();
    for sequence in [1, 2] {
        let Some(Inbound::Command(command)) = decoder.decode(&mut buf).unwrap() else {
            panic!("expected a command");
        };
        assert_eq!(command.sequence_number(), sequence);
        assert_eq!(command.pdu(), Some(&Pdu::EnquireLink));
    }
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn a_valid_submit_sm_decodes() {
    let mut buf = frame(SUBMIT_SM, 9, &Submit::default().body());
    let Inbound::Command(command) = decode_one(&mut buf) else {
        panic!("expected a command");
    };
    assert_eq!(command.id(), CommandId::SubmitSm);
    let Some(Pdu::SubmitSm(submit)) = command.pdu() else {
        panic!("expected submit_sm");
    };
    assert_eq!(submit.source_addr.as_str(), "Tern");
    assert_eq!(submit.short_message().as_ref(), b"hello");
}

#[test]
fn an_unknown_command_id_is_rejected_with_rinvcmdid() {
    for command_id in [
        0x0000_0000,
        0x0000_000A,
        0x0000_0200,
        0x8000_0102,
        0xFFFF_FFFF,
    ] {
        let mut buf = frame(command_id, 5, b"whatever");
        let Inbound::Rejected {
            header,
            status,
            reason,
        } = decode_one(&mut buf)
        else {
            panic!("expected a rejection");
        };
        assert_eq!(status, CommandStatus::EsmeRinvcmdid);
        assert_eq!(reason, DecodeFailure::UnknownCommandId { command_id });
        assert_eq!(header.sequence_number, 5);
        assert!(buf.is_empty(), "the frame is consumed, the session goes on");
    }
}

#[test]
fn a_truncated_body_is_rejected() {
    let body = Submit::default().body();
    // Cut inside the fixed octets after destination_addr.
    let cut = 1 + 2 + 5 + 2 + 14 + 1;
    let (status, _) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body[..cut])));
    assert_eq!(status, CommandStatus::EsmeRinvcmdlen);
}

#[test]
fn a_request_without_its_body_is_rejected() {
    let (status, reason) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, b"")));
    assert_eq!(status, CommandStatus::EsmeRinvcmdlen);
    assert_eq!(
        reason,
        DecodeFailure::MissingBody {
            command_id: SUBMIT_SM
        }
    );
}

#[test]
fn sm_length_past_the_body_is_a_message_length_error() {
    let body = Submit {
        sm_length: 200,
        ..Submit::default()
    }
    .body();
    let (status, reason) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvmsglen);
    assert!(reason.to_string().contains("short_message"), "{reason}");
}

#[test]
fn a_c_string_without_nul_names_its_field() {
    let cases: [(Submit, CommandStatus); 4] = [
        (
            Submit {
                source: b"0123456789012345678901234",
                ..Submit::default()
            },
            CommandStatus::EsmeRinvsrcadr,
        ),
        (
            Submit {
                destination: b"0123456789012345678901234",
                ..Submit::default()
            },
            CommandStatus::EsmeRinvdstadr,
        ),
        (
            Submit {
                validity: b"2401\0",
                ..Submit::default()
            },
            CommandStatus::EsmeRinvexpiry,
        ),
        (
            Submit {
                schedule: b"2401\0",
                ..Submit::default()
            },
            CommandStatus::EsmeRinvsched,
        ),
    ];
    for (submit, expected) in cases {
        let (status, reason) =
            rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &submit.body())));
        assert_eq!(status, expected, "{reason}");
    }
}

#[test]
fn bind_fields_map_to_their_own_statuses() {
    let long_system_id = b"a-system-id-of-twenty\0secret\0\0\x34\0\0\0";
    let (status, _) = rejected_status(decode_one(&mut frame(BIND_TRANSMITTER, 1, long_system_id)));
    assert_eq!(status, CommandStatus::EsmeRinvsysid);

    let password_without_nul = b"tern\0secret08";
    let (status, _) = rejected_status(decode_one(&mut frame(
        BIND_TRANSMITTER,
        1,
        password_without_nul,
    )));
    assert_eq!(status, CommandStatus::EsmeRinvpaswd);
}

#[test]
fn trailing_octets_are_an_error_not_ignored() {
    let mut bind = b"tern\0secret\0\0\x34\0\0\0".to_vec();
    let Inbound::Command(_) = decode_one(&mut frame(BIND_TRANSMITTER, 1, &bind)) else {
        panic!("the bind itself is valid");
    };
    bind.extend_from_slice(b"xx");
    let (status, reason) = rejected_status(decode_one(&mut frame(BIND_TRANSMITTER, 1, &bind)));
    assert_eq!(status, CommandStatus::EsmeRinvcmdlen);
    assert_eq!(reason, DecodeFailure::TrailingBytes { count: 2 });

    let (status, reason) = rejected_status(decode_one(&mut frame(ENQUIRE_LINK, 1, b"\0\0\0\0")));
    assert_eq!(status, CommandStatus::EsmeRinvcmdlen);
    assert_eq!(reason, DecodeFailure::TrailingBytes { count: 4 });

    // After the mandatory fields of a PDU that takes TLVs, stray octets are a broken TLV
    // stream (fewer than the 4 octets of a TLV header).
    let body = Submit {
        tlvs: b"\x14\x00\x00",
        ..Submit::default()
    }
    .body();
    let (status, _) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvstream);
}

#[test]
fn a_tlv_length_that_disagrees_with_its_value_is_rejected() {
    // sar_msg_ref_num is a 2-octet integer. Declared 1 octet: rusmpp still reads 2.
    let body = Submit {
        tlvs: b"\x02\x0c\x00\x01\x00\x05",
        ..Submit::default()
    }
    .body();
    let (status, reason) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvlen);
    assert_eq!(
        reason,
        DecodeFailure::TlvLength {
            tag: 0x020c,
            declared: 1,
            actual: 2
        }
    );

    // Declared 3 octets, and what follows the 2 read still parses as a TLV.
    let body = Submit {
        tlvs: b"\x02\x0c\x00\x03\x00\x01\x02\x14\x00\x00",
        ..Submit::default()
    }
    .body();
    let (status, _) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvlen);

    // Declared 3 octets and the rest no longer parses: the stream is broken.
    let body = Submit {
        tlvs: b"\x02\x0c\x00\x03\x00\x01\x02",
        ..Submit::default()
    }
    .body();
    let (status, _) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvstream);
}

#[test]
fn a_tlv_value_past_the_body_is_a_tlv_length_error() {
    let body = Submit {
        tlvs: b"\x14\x01\x00\x10abc",
        ..Submit::default()
    }
    .body();
    let (status, _) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvlen);
}

#[test]
fn a_malformed_known_tlv_value_is_a_tlv_value_error() {
    // receipted_message_id without its NUL.
    let body = Submit {
        tlvs: b"\x00\x1e\x00\x03abc",
        ..Submit::default()
    }
    .body();
    let (status, _) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvval);
}

#[test]
fn vendor_tlvs_pass_through() {
    let body = Submit {
        tlvs: b"\x14\x01\x00\x03abc\x3f\xff\x00\x00",
        ..Submit::default()
    }
    .body();
    let Inbound::Command(command) = decode_one(&mut frame(SUBMIT_SM, 1, &body)) else {
        panic!("expected a command");
    };
    let mut out = BytesMut::new();
    encode(&command, &mut out);
    assert_eq!(&out[..], &frame(SUBMIT_SM, 1, &body)[..]);
}

#[test]
fn an_error_response_without_body_decodes_and_encodes() {
    let request = Header {
        command_length: 0,
        command_id: SUBMIT_SM,
        command_status: 0,
        sequence_number: 42,
    };
    let response = error_response(&request, CommandStatus::EsmeRthrottled);
    assert_eq!(response.id(), CommandId::SubmitSmResp);
    assert_eq!(response.pdu(), None);
    let mut buf = BytesMut::new();
    encode(&response, &mut buf);
    assert_eq!(buf.len(), HEADER_LEN);
    assert_eq!(encoded_len(&response), HEADER_LEN);
    let header = peek_header(&buf).unwrap();
    assert_eq!(header.command_id, SUBMIT_SM_RESP);
    assert_eq!(header.command_status, 0x58);
    assert_eq!(header.sequence_number, 42);
    assert_eq!(decode_one(&mut buf), Inbound::Command(response));
}

#[test]
fn error_responses_for_requests_without_a_response_are_generic_nacks() {
    for command_id in [0x0000_000B, 0x0000_0102, SUBMIT_SM_RESP, 0x0000_0200] {
        let request = Header {
            command_length: 16,
            command_id,
            command_status: 0,
            sequence_number: 3,
        };
        let response = error_response(&request, CommandStatus::EsmeRinvcmdid);
        assert_eq!(response.id(), CommandId::GenericNack);
        assert_eq!(response.sequence_number(), 3);
    }
    let unbind = Header {
        command_length: 16,
        command_id: 0x0000_0006,
        command_status: 0,
        sequence_number: 3,
    };
    let response = error_response(&unbind, CommandStatus::EsmeRsyserr);
    assert_eq!(response.pdu(), Some(&Pdu::UnbindResp));
}

#[test]
fn a_successful_submit_sm_resp_round_trips() {
    let command = Command::new(
        CommandStatus::EsmeRok,
        8,
        SubmitSmResp::new(COctetString::from_string("6699".into()).unwrap(), vec![]),
    );
    let mut buf = BytesMut::new();
    encode(&command, &mut buf);
    assert_eq!(buf.len(), encoded_len(&command));
    assert_eq!(decode_one(&mut buf), Inbound::Command(command));
}

#[test]
fn a_frame_at_exactly_max_len_is_accepted() {
    let submit = SubmitSm::builder()
        .short_message(OctetString::from_vec(vec![b'x'; 100]).unwrap())
        .build();
    let command = Command::new(CommandStatus::EsmeRok, 1, submit);
    let mut buf = BytesMut::new();
    encode(&command, &mut buf);
    let exact = Decoder::new(buf.len());
    assert!(matches!(exact.decode(&mut buf.clone()), Ok(Some(_))));
    let short = Decoder::new(buf.len() - 1);
    assert!(short.decode(&mut buf).is_err());
}

#[test]
fn requests_and_responses_are_told_apart_by_bit_31() {
    assert!(!is_response(SUBMIT_SM));
    assert!(is_response(SUBMIT_SM_RESP));
    assert!(is_response(0x8000_0000));
    assert_eq!(response_id(SUBMIT_SM), Some(SUBMIT_SM_RESP));
    assert_eq!(response_id(0x0000_0103), Some(0x8000_0103));
    assert_eq!(response_id(0x0000_000B), None, "outbind has no response");
    assert_eq!(
        response_id(0x0000_0102),
        None,
        "alert_notification has none"
    );
    assert_eq!(response_id(SUBMIT_SM_RESP), None);
}

#[test]
fn interface_versions_3_3_3_4_and_5_0_are_accepted() {
    for version in [0x00, 0x33, 0x34, 0x50] {
        assert!(accepted_interface_version(version), "{version:#x}");
    }
    for version in [0x35, 0x40, 0x51, 0xFF] {
        assert!(!accepted_interface_version(version), "{version:#x}");
    }
    assert_eq!(InterfaceVersion::from_wire(0), Some(InterfaceVersion::V33));
    assert!(!InterfaceVersion::V33.supports_tlvs());
    assert!(InterfaceVersion::V34.supports_tlvs());
}

mod fuzz_like {
    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::*;

    fn seeds() -> Vec<BytesMut> {
        vec![
            frame(
                SUBMIT_SM,
                1,
                &Submit {
                    tlvs: b"\x14\x01\x00\x03abc\x02\x0c\x00\x02\x00\x01\x00\x1e\x00\x03ab\0",
                    ..Submit::default()
                }
                .body(),
            ),
            frame(
                0x0000_0005,
                2,
                &Submit {
                    short_message: b"id:1 stat:DELIVRD",
                    sm_length: 17,
                    tlvs: b"\x04\x27\x00\x01\x02\x04\x23\x00\x03\x03\x00\x22",
                    ..Submit::default()
                }
                .body(),
            ),
            frame(BIND_TRANSMITTER, 3, b"tern\0secret\0\0\x34\0\0\0"),
            frame(0x8000_0009, 4, b"smsc\0\x02\x10\x00\x01\x34"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// What the fuzz target checks, on stable and in CI: no panic, and every accepted
        /// frame re-encodes to exactly its own bytes.
        #[test]
        fn mutated_frames_decode_or_reject_cleanly(
            seed in any::<Index>(),
            flips in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..6),
            tail in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let seeds = seeds();
            let mut bytes = seed.get(&seeds).to_vec();
            for (at, value) in flips {
                // Leave command_length alone half the time so bodies get mutated too.
                let at = at.index(bytes.len());
                if at >= 4 || value % 2 == 0 {
                    if let Some(byte) = bytes.get_mut(at) {
                        *byte = value;
                    }
                }
            }
            bytes.extend_from_slice(&tail);
            let decoder = Decoder::new(1024);
            let mut buf = BytesMut::from(&bytes[..]);
            loop {
                let frame = peek_header(&buf)
                    .and_then(|h| buf.get(..h.command_length as usize))
                    .map(<[u8]>::to_vec);
                match decoder.decode(&mut buf) {
                    Ok(Some(Inbound::Command(command))) => {
                        let mut wire = BytesMut::new();
                        encode(&command, &mut wire);
                        prop_assert_eq!(Some(&wire[..]), frame.as_deref());
                    }
                    Ok(Some(Inbound::Rejected { header, status, .. })) => {
                        let response = error_response(&header, status);
                        prop_assert_eq!(response.sequence_number(), header.sequence_number);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}

#[test]
fn a_tlv_with_reserved_bits_set_is_refused_not_altered() {
    // callback_num_pres_ind 0x33: bits 7-4 are reserved (SMPP 3.4 §5.3.2.37).
    let body = Submit {
        tlvs: b"\x03\x02\x00\x01\x33",
        ..Submit::default()
    }
    .body();
    let (status, reason) = rejected_status(decode_one(&mut frame(SUBMIT_SM, 1, &body)));
    assert_eq!(status, CommandStatus::EsmeRinvtlvval);
    assert_eq!(reason, DecodeFailure::TlvValue { tag: 0x0302 });

    let body = Submit {
        tlvs: b"\x03\x02\x00\x01\x03",
        ..Submit::default()
    }
    .body();
    assert!(matches!(
        decode_one(&mut frame(SUBMIT_SM, 1, &body)),
        Inbound::Command(_)
    ));
}
