//! Arbitrary bytes as a receipt text (as UTF-8 when they are, and as Latin-1 as SMSCs send
//! them): the parser must never panic, and what it reads must be usable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_smpp::receipt::parse_text;

fuzz_target!(|data: &[u8]| {
    let latin1: String = data.iter().map(|&b| char::from(b)).collect();
    let utf8 = std::str::from_utf8(data).ok();
    for text in [Some(latin1.as_str()), utf8].into_iter().flatten() {
        if let Ok(report) = parse_text(text) {
            assert!(!report.message_id.is_empty());
            assert!(!report.message_id.contains(char::is_whitespace));
        }
    }
});
