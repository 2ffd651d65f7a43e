//! The receipt text of SMPP 3.4 Appendix B:
//! `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
//! err:E text:...`. The appendix calls the format vendor-specific, and vendors took it at its
//! word, so the parser reads what operators actually send: fields in any order, keys in any
//! case, `submit_date`/`submitdate` spellings, 10, 12 or 14 digit dates, missing fields.

use tern_model::{DeliveryReport, MessageState};

use crate::time::{receipt_date_to_unix, unix_to_receipt_date};

/// Characters of the original message a receipt echoes (SMPP 3.4 Appendix B: "the first 20
/// characters of the short message").
pub const RECEIPT_TEXT_CHARS: usize = 20;

/// A receipt text that cannot be matched or understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptTextError {
    #[error("receipt text has no id")]
    MissingId,
    #[error("receipt text has no stat")]
    MissingStat,
    #[error("receipt stat {0:?} is not a known message state")]
    UnknownStat(String),
}

/// Writes the receipt text for `report`. Dates are UTC, `YYMMDDhhmm`, or `YYMMDDhhmmss` with
/// `seconds`; an unknown date is written as zeros, which [`parse_text`] reads back as unknown.
pub fn build_text(report: &DeliveryReport, seconds: bool) -> String {
    let date = |unix: Option<i64>| match unix {
        Some(unix) => unix_to_receipt_date(unix, seconds),
        None if seconds => "000000000000".to_owned(),
        None => "0000000000".to_owned(),
    };
    let text: String = report.text.chars().take(RECEIPT_TEXT_CHARS).collect();
    format!(
        "id:{} sub:{:03} dlvrd:{:03} submit date:{} done date:{} stat:{} err:{:03} text:{}",
        report.message_id,
        report.submitted,
        report.delivered,
        date(report.submit_unix),
        date(report.done_unix),
        report.state.stat_word(),
        report.error,
        text
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Keys as operators spell them, lower case. A key counts only at the start of the text or
/// after a separator, and only when a colon follows (spaces allowed before it), so `sub`
/// does not match `submit date` and `id` does not match inside a value.
const KEYS: [(&str, Key); 17] = [
    ("submit date", Key::SubmitDate),
    ("submit_date", Key::SubmitDate),
    ("submitdate", Key::SubmitDate),
    ("submit-date", Key::SubmitDate),
    ("done date", Key::DoneDate),
    ("done_date", Key::DoneDate),
    ("donedate", Key::DoneDate),
    ("done-date", Key::DoneDate),
    ("dlvrd", Key::Dlvrd),
    ("sub", Key::Sub),
    ("stat", Key::Stat),
    ("state", Key::Stat),
    ("err", Key::Err),
    ("error", Key::Err),
    ("text", Key::Text),
    ("txt", Key::Text),
    ("id", Key::Id),
];

fn is_separator(byte: u8) -> bool {
    byte.is_ascii_whitespace() || byte == b',' || byte == b';'
}

/// The key starting at `at` and where its value begins, after the colon.
fn key_at(lower: &[u8], at: usize) -> Option<(Key, usize)> {
    let rest = lower.get(at..)?;
    KEYS.iter().find_map(|&(name, key)| {
        let after = rest.strip_prefix(name.as_bytes())?;
        let spaces = after.iter().take_while(|&&b| b == b' ').count();
        (after.get(spaces) == Some(&b':')).then_some((key, at + name.len() + spaces + 1))
    })
}

/// The fields of a receipt text: key, and the byte range of its raw value.
fn fields(text: &str) -> Vec<(Key, usize, usize)> {
    let lower = text.to_ascii_lowercase().into_bytes();
    let mut found: Vec<(Key, usize, usize)> = Vec::new();
    let mut at = 0;
    while at < lower.len() {
        let boundary = at == 0 || lower.get(at - 1).copied().is_some_and(is_separator);
        if let Some((key, value_start)) = boundary.then(|| key_at(&lower, at)).flatten() {
            if let Some(last) = found.last_mut() {
                last.2 = at;
            }
            found.push((key, value_start, lower.len()));
            if key == Key::Text {
                // The echoed text runs to the end and may itself contain "id:" or "stat:".
                break;
            }
            at = value_start;
        } else {
            at += 1;
        }
    }
    found
}

/// Reads a receipt text. Only `id` and `stat` are required; counts, dates and the error
/// code that are missing or unreadable are left at zero / unknown.
pub fn parse_text(text: &str) -> Result<DeliveryReport, ReceiptTextError> {
    let mut id = None;
    let mut stat = None;
    let mut report = DeliveryReport {
        message_id: String::new(),
        state: MessageState::Unknown,
        submitted: 0,
        delivered: 0,
        submit_unix: None,
        done_unix: None,
        error: 0,
        text: String::new(),
    };
    let mut seen: Vec<Key> = Vec::with_capacity(KEYS.len());
    for (key, start, end) in fields(text) {
        // The first occurrence of a key wins.
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let raw = text.get(start..end).unwrap_or("");
        if key == Key::Text {
            report.text = raw.trim_start().to_owned();
            continue;
        }
        let value = raw
            .trim_matches(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .split_whitespace()
            .next()
            .unwrap_or("");
        match key {
            Key::Id => id = Some(value).filter(|v| !v.is_empty()),
            Key::Stat => stat = Some(value),
            Key::Sub => report.submitted = value.parse().unwrap_or(0),
            Key::Dlvrd => report.delivered = value.parse().unwrap_or(0),
            Key::SubmitDate => report.submit_unix = receipt_date_to_unix(value),
            Key::DoneDate => report.done_unix = receipt_date_to_unix(value),
            Key::Err => report.error = parse_error_code(value),
            Key::Text => {}
        }
    }
    report.message_id = id.ok_or(ReceiptTextError::MissingId)?.to_owned();
    let stat = stat
        .filter(|s| !s.is_empty())
        .ok_or(ReceiptTextError::MissingStat)?;
    report.state = MessageState::from_stat_word(stat)
        .ok_or_else(|| ReceiptTextError::UnknownStat(stat.to_owned()))?;
    Ok(report)
}

/// `err:` is three decimal digits in the appendix; some SMSCs write hex (`err:0B4`).
fn parse_error_code(value: &str) -> u16 {
    value
        .parse()
        .or_else(|_| u16::from_str_radix(value, 16))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn report() -> DeliveryReport {
        DeliveryReport {
            message_id: "1A2B3C".to_owned(),
            state: MessageState::Delivered,
            submitted: 1,
            delivered: 1,
            submit_unix: Some(1_706_704_200),
            done_unix: Some(1_706_704_260),
            error: 0,
            text: "Your code is 1234567 and nothing else".to_owned(),
        }
    }

    #[test]
    fn builds_the_appendix_b_layout() {
        assert_eq!(
            build_text(&report(), false),
            "id:1A2B3C sub:001 dlvrd:001 submit date:2401311230 done date:2401311231 \
             stat:DELIVRD err:000 text:Your code is 1234567"
        );
        assert!(build_text(&report(), true).contains("submit date:240131123000"));
    }

    #[test]
    fn parses_the_appendix_b_layout() {
        let parsed = parse_text(&build_text(&report(), false)).unwrap();
        assert_eq!(
            parsed,
            DeliveryReport {
                text: "Your code is 1234567".to_owned(),
                ..report()
            }
        );
    }

    #[test]
    fn parses_what_operators_send() {
        let text = "ID:0000006699 Sub:1 DLVRD:0 Submit_Date:240131123045 \
                    Done_Date:240131123112 Stat:undeliv ERR:0B4";
        let parsed = parse_text(text).unwrap();
        assert_eq!(parsed.message_id, "0000006699");
        assert_eq!(parsed.state, MessageState::Undeliverable);
        assert_eq!(parsed.submitted, 1);
        assert_eq!(parsed.delivered, 0);
        assert_eq!(parsed.submit_unix, Some(1_706_704_245));
        assert_eq!(parsed.done_unix, Some(1_706_704_272));
        assert_eq!(parsed.error, 0xB4);
        assert_eq!(parsed.text, "");

        let reordered = parse_text("stat:EXPIRED err:001 id:abc-123 text:id:9 stat:x").unwrap();
        assert_eq!(reordered.message_id, "abc-123");
        assert_eq!(reordered.state, MessageState::Expired);
        assert_eq!(reordered.error, 1);
        assert_eq!(reordered.text, "id:9 stat:x");
    }

    #[test]
    fn missing_id_or_stat_is_an_error() {
        assert_eq!(
            parse_text("sub:001 stat:DELIVRD"),
            Err(ReceiptTextError::MissingId)
        );
        assert_eq!(
            parse_text("id: stat:DELIVRD"),
            Err(ReceiptTextError::MissingId)
        );
        assert_eq!(
            parse_text("id:42 err:000"),
            Err(ReceiptTextError::MissingStat)
        );
        assert_eq!(
            parse_text("id:42 stat:SOMEDAY"),
            Err(ReceiptTextError::UnknownStat("SOMEDAY".to_owned()))
        );
        assert_eq!(parse_text(""), Err(ReceiptTextError::MissingId));
        assert_eq!(parse_text("hello, world"), Err(ReceiptTextError::MissingId));
    }

    #[test]
    fn keys_only_count_at_a_word_start() {
        let parsed = parse_text("msgid:1 id:2 substat:x stat:ACCEPTD").unwrap();
        assert_eq!(parsed.message_id, "2");
        assert_eq!(parsed.state, MessageState::Accepted);
    }

    fn any_state() -> impl Strategy<Value = MessageState> {
        prop::sample::select(MessageState::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn build_then_parse_round_trips(
            id in "[0-9A-Za-z-]{1,64}",
            state in any_state(),
            submitted in 0u16..1000,
            delivered in 0u16..1000,
            submit in proptest::option::of(0i64..3_155_760_000),
            done in proptest::option::of(0i64..3_155_760_000),
            error in 0u16..1000,
            text in "([A-Za-z0-9.,!?:][A-Za-z0-9 .,!?:]{0,19})?",
            seconds in any::<bool>(),
        ) {
            let minute = |t: i64| if seconds { t } else { t - t.rem_euclid(60) };
            let report = DeliveryReport {
                message_id: id,
                state,
                submitted,
                delivered,
                submit_unix: submit,
                done_unix: done,
                error,
                text,
            };
            let parsed = parse_text(&build_text(&report, seconds)).unwrap();
            prop_assert_eq!(parsed, DeliveryReport {
                submit_unix: submit.map(minute),
                done_unix: done.map(minute),
                ..report
            });
        }

        #[test]
        fn any_text_parses_or_fails_cleanly(text in "\\PC{0,200}") {
            let _ = parse_text(&text);
        }
    }
}
