//! Arbitrary bytes as the content of a status report DELIVER, in the version the first byte
//! picks: decoding never panics, whatever decodes re-encodes to a report that decodes the
//! same, and the domain mapping and the time readers take any text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_cmpp::auth::timestamp_to_unix_near;
use tern_cmpp::codec::{Report, Version};
use tern_cmpp::mapping::{domain_to_report, report_to_domain};
use tern_cmpp::time::{report_time_to_unix, smpp_time_to_unix};

fuzz_target!(|data: &[u8]| {
    let Some((&first, content)) = data.split_first() else {
        return;
    };
    let version = if first & 1 == 0 {
        Version::V20
    } else {
        Version::V30
    };
    if let Ok(report) = Report::decode(version, content) {
        // A report may have been read in the other version's length.
        let width = if content.len() == Report::encoded_len(version) {
            version
        } else if version == Version::V20 {
            Version::V30
        } else {
            Version::V20
        };
        let wire = report.encode(width).expect("a decoded report encodes");
        assert_eq!(Report::decode(version, &wire), Ok(report.clone()));
        let domain = report_to_domain(&report);
        let back = domain_to_report(&domain, report.msg_id, &report.dest_terminal_id);
        back.encode(width).expect("a mapped report encodes");
    }
    if let Ok(text) = std::str::from_utf8(content) {
        let _ = report_time_to_unix(text);
        let _ = smpp_time_to_unix(text, 1_709_265_600);
    }
    if let Some(word) = content.get(..4) {
        let ts = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        let _ = timestamp_to_unix_near(ts, 1_709_265_600);
    }
});
