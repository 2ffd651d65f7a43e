//! The status report text: what gateways write besides the specification's spelling.

use bytes::Bytes;

use super::super::*;
use super::{report_content, MSG_ID};
use crate::msgid::MsgId;

fn with_id(id: &[u8], rest: &str) -> Vec<u8> {
    let mut content = b"id:".to_vec();
    content.extend_from_slice(id);
    content.extend_from_slice(rest.as_bytes());
    content
}

#[test]
fn labels_are_read_whatever_their_case_and_spelling() {
    let content = with_id(
        &MSG_ID,
        " Sub:001 Dlvrd:000 Submit_date:2403011200 Done_Date:240301120105 Stat:UNDELIV Err:012 Txt:",
    );
    let report = Report::decode(&content).expect("reads");
    assert_eq!(report.msg_id, MsgId(MSG_ID));
    assert_eq!(
        (report.dlvrd.as_str(), report.done_date.as_str()),
        ("000", "240301120105")
    );
    assert_eq!(
        (report.stat.as_str(), report.err.as_str()),
        ("UNDELIV", "012")
    );
    assert_eq!(report.text, Bytes::new());
}

#[test]
fn a_report_without_text_or_padding_is_read() {
    let content = with_id(
        &MSG_ID,
        " sub:1 dlvrd:1 submit date: done date:2403011201 stat:MK:0005 err:5",
    );
    let report = Report::decode(&content).expect("reads");
    assert_eq!(
        (report.sub.as_str(), report.submit_date.as_str()),
        ("1", "")
    );
    assert_eq!(report.stat, "MK:0005");
    assert_eq!(report.text, Bytes::new());
    // Written back in the specification's widths.
    let again = report.encode().expect("encodes");
    assert_eq!(again.len(), 122);
    assert_eq!(Report::decode(&again), Ok(report));
}

#[test]
fn a_msg_id_written_as_twenty_digits_is_read() {
    let content = with_id(
        b"00007703011200000042",
        " sub:001 dlvrd:001 submit date:2403011200 done date:2403011201 stat:DELIVRD err:000 text:x",
    );
    let report = Report::decode(&content).expect("reads");
    assert_eq!(report.msg_id, MsgId(MSG_ID));
    assert_eq!(report.text, Bytes::from_static(b"x"));
}

#[test]
fn a_binary_msg_id_may_hold_any_octets() {
    let id = *b"sub: id: \0";
    let mut content = report_content();
    content[3..13].copy_from_slice(&id);
    assert_eq!(Report::decode(&content).map(|r| r.msg_id), Ok(MsgId(id)));
}

#[test]
fn the_text_is_cut_to_twenty_octets() {
    let mut content = report_content();
    content.truncate(122 - 20);
    content.extend_from_slice(b"0123456789abcdefghijKLMN");
    let report = Report::decode(&content).expect("reads");
    assert_eq!(report.text, Bytes::from_static(b"0123456789abcdefghij"));
}

#[test]
fn broken_reports_say_what_is_missing() {
    assert_eq!(Report::decode(b"hello"), Err(ReportError::NoId));
    assert_eq!(Report::decode(b"id:short"), Err(ReportError::NoId));
    let content = with_id(&MSG_ID, " sub:001 stat:DELIVRD");
    assert_eq!(Report::decode(&content), Err(ReportError::Missing("dlvrd")));
    let content = with_id(
        &MSG_ID,
        " sub:001 dlvrd:001 submit date:2403011200 done date:2403011201 stat:VERYLONGSTAT err:0",
    );
    assert_eq!(
        Report::decode(&content),
        Err(ReportError::TooLong {
            field: "stat",
            len: 12,
            max: 10
        })
    );
    let mut content = with_id(&MSG_ID, " sub:0");
    content.push(0xff);
    assert_eq!(Report::decode(&content), Err(ReportError::NotText("sub")));
}

#[test]
fn encode_refuses_values_that_would_read_back_differently() {
    let report = Report::decode(&report_content()).expect("reads");
    let spaced = Report {
        stat: "DELI RD".into(),
        ..report.clone()
    };
    assert_eq!(
        spaced.encode(),
        Err(EncodeError::NotAscii { field: "stat" })
    );
    let long_text = Report {
        text: Bytes::from(vec![b'x'; 21]),
        ..report
    };
    assert_eq!(
        long_text.encode(),
        Err(EncodeError::TooLong {
            field: "text",
            len: 21,
            max: 20
        })
    );
}
