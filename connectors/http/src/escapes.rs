//! A message's own receipt endpoint, as the Kannel and Jasmin style requests give it:
//! Kannel's `dlr-url`, whose `%` escapes are filled in per receipt and which is called
//! with GET; Jasmin's `dlr-url` with its `dlr-method` and `dlr-level`, called with the
//! receipt's fields as parameters. Noted on the message ([`Message::CALLBACK_URL_TAG`]) as
//! `kannel <url>` or `jasmin <GET|POST> <level> <url>`.

use tern_model::{DeliveryReport, Message, MessageState};
use tern_storage::HeldDelivery;

/// Longest per-message endpoint kept.
pub const MAX_URL: usize = 2048;

/// A message's own endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerMessage {
    Kannel { url: String },
    Jasmin { post: bool, level: u8, url: String },
}

impl PerMessage {
    /// What is noted on the message.
    pub fn note(&self) -> String {
        match self {
            PerMessage::Kannel { url } => format!("kannel {url}"),
            PerMessage::Jasmin { post, level, url } => {
                let method = if *post { "POST" } else { "GET" };
                format!("jasmin {method} {level} {url}")
            }
        }
    }

    /// Reads a note; `None` for one this build does not know.
    pub fn parse(note: &str) -> Option<Self> {
        let (kind, rest) = note.split_once(' ')?;
        match kind {
            "kannel" => Some(PerMessage::Kannel {
                url: rest.to_owned(),
            }),
            "jasmin" => {
                let mut fields = rest.splitn(3, ' ');
                let post = match fields.next()? {
                    "POST" => true,
                    "GET" => false,
                    _ => return None,
                };
                let level = fields.next()?.parse().ok()?;
                let url = fields.next()?.to_owned();
                Some(PerMessage::Jasmin { post, level, url })
            }
            _ => None,
        }
    }

    /// The endpoint, for its backoff: scheme, host and port.
    pub fn endpoint(&self) -> String {
        let url = match self {
            PerMessage::Kannel { url } | PerMessage::Jasmin { url, .. } => url,
        };
        url::Url::parse(url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|| url.clone())
    }

    /// The request that delivers `report` of `item` here.
    pub fn request(
        &self,
        client: &reqwest::Client,
        item: &HeldDelivery,
        report: &DeliveryReport,
    ) -> Result<reqwest::RequestBuilder, String> {
        match self {
            PerMessage::Kannel { url } => {
                let expanded = kannel_expand(url, item, report);
                let parsed = url::Url::parse(&expanded).map_err(|e| format!("dlr-url: {e}"))?;
                Ok(client.get(parsed))
            }
            PerMessage::Jasmin { post, url, .. } => {
                let params = jasmin_params(item, report);
                let parsed = url::Url::parse(url).map_err(|e| format!("dlr-url: {e}"))?;
                Ok(if *post {
                    client.post(parsed).form(&params)
                } else {
                    client.get(parsed).query(&params)
                })
            }
        }
    }
}

/// Kannel's DLR type of a final state: 1 delivered, 2 failed; 4 (buffered) for a state
/// that is not final.
pub fn kannel_dlr_type(state: MessageState) -> u8 {
    match state {
        MessageState::Delivered => 1,
        MessageState::Enroute | MessageState::Accepted => 4,
        _ => 2,
    }
}

/// The SMPP-style receipt text Kannel gives as `%A`.
pub fn receipt_text(id: &str, report: &DeliveryReport) -> String {
    let date = |unix: Option<i64>| unix.map(yymmddhhmm).unwrap_or_default();
    format!(
        "id:{id} sub:{:03} dlvrd:{:03} submit date:{} done date:{} stat:{} err:{:03} text:{}",
        report.submitted,
        report.delivered,
        date(report.submit_unix),
        date(report.done_unix),
        report.state.stat_word(),
        report.error,
        report.text.chars().take(20).collect::<String>(),
    )
}

fn civil(unix: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(unix).ok()
}

fn yymmddhhmm(unix: i64) -> String {
    civil(unix)
        .map(|t| {
            format!(
                "{:02}{:02}{:02}{:02}{:02}",
                t.year().rem_euclid(100),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS`, UTC.
fn timestamp(unix: i64) -> String {
    civil(unix)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// Kannel's URL encoding: letters, digits and `-_.!~*'()` as they are, a space as `+`,
/// everything else as `%XX`.
fn encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(char::from(b)),
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A number as Kannel's `%q`/`%Q` give it: a leading `00` as `+`, encoded.
fn plus_form(number: &str) -> String {
    match number.strip_prefix("00") {
        Some(rest) => format!("%2B{}", encoded(rest)),
        None => encoded(number),
    }
}

/// Fills in Kannel's escapes for a receipt, as Kannel 1.4.5 does for a DLR: `%p` is the
/// number the message went to and `%P` the one it came from (not swapped for a DLR);
/// values are URL-encoded as Kannel encodes them, except the raw ones (`%t`, `%T`, `%I`,
/// `%c`, `%C`). Escapes with no value here (an SMSC number, a UDH, meta-data) are empty;
/// one Kannel does not know stays as written. `%I` is the gateway's id of the message
/// (Kannel gives a fresh UUID), `%F` the same (Kannel: the SMSC's id).
pub fn kannel_expand(template: &str, item: &HeldDelivery, report: &DeliveryReport) -> String {
    kannel_expand_as(template, item, report, &item.account)
}

fn kannel_expand_as(
    template: &str,
    item: &HeldDelivery,
    report: &DeliveryReport,
    username: &str,
) -> String {
    let message: &Message = &item.message;
    let id = item.key.to_string();
    let done = report.done_unix.unwrap_or((item.held_ms / 1000) as i64);
    let dlr_text = receipt_text(&id, report);
    let words: Vec<&str> = dlr_text.split_whitespace().collect();
    let mut next_word = 0;
    let mut out = String::with_capacity(template.len() + 64);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(escape) = chars.next() else {
            out.push('%');
            break;
        };
        let value = match escape {
            'd' => kannel_dlr_type(report.state).to_string(),
            'A' | 'b' => encoded(&dlr_text),
            'a' => words
                .iter()
                .map(|w| encoded(w))
                .collect::<Vec<_>>()
                .join("+"),
            'k' => words.first().map(|w| encoded(w)).unwrap_or_default(),
            's' => {
                next_word += 1;
                words.get(next_word).map(|w| encoded(w)).unwrap_or_default()
            }
            'r' => words
                .get(next_word + 1..)
                .unwrap_or_default()
                .iter()
                .map(|w| encoded(w))
                .collect::<Vec<_>>()
                .join("+"),
            'e' => crate::callback::hex(dlr_text.as_bytes()),
            'p' => encoded(&message.destination.value),
            'P' => encoded(&message.source.value),
            'q' => plus_form(&message.destination.value),
            'Q' => plus_form(&message.source.value),
            't' => timestamp(done).replace(' ', "+"),
            'T' => done.to_string(),
            'I' => id.clone(),
            'F' => encoded(&id),
            'n' => encoded(username),
            'c' | 'm' | 'M' => "-1".into(),
            'C' => "UTF-8".into(),
            'i' | 'o' | 'B' | 'D' | 'u' | 'f' | 'O' | 'v' | 'V' | 'S' => String::new(),
            'R' => encoded(template),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&value);
    }
    out
}

/// The parameters Jasmin sends a `dlr-url` for a terminal receipt (level 2).
pub fn jasmin_params(item: &HeldDelivery, report: &DeliveryReport) -> Vec<(&'static str, String)> {
    let date = |unix: Option<i64>| unix.map(yymmddhhmm).unwrap_or_default();
    vec![
        ("id", item.key.to_string()),
        ("message_status", report.state.stat_word().to_owned()),
        ("level", "2".into()),
        ("connector", "tern".into()),
        ("id_smsc", report.message_id.clone()),
        ("sub", format!("{:03}", report.submitted)),
        ("dlvrd", format!("{:03}", report.delivered)),
        ("subdate", date(report.submit_unix)),
        ("donedate", date(report.done_unix)),
        ("err", format!("{:03}", report.error)),
        ("text", report.text.chars().take(20).collect()),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tern_model::Address;
    use tern_storage::HeldKind;

    fn item() -> (HeldDelivery, DeliveryReport) {
        let report = DeliveryReport {
            message_id: "77".into(),
            state: MessageState::Delivered,
            submitted: 1,
            delivered: 1,
            submit_unix: Some(1_700_000_000),
            done_unix: Some(1_700_000_060),
            error: 0,
            text: "hello there".into(),
        };
        let message = Message::text(
            Address::alphanumeric("Tern"),
            Address::international("491701234567"),
            "hello there",
        );
        let item = HeldDelivery {
            account: "a".into(),
            key: 77,
            kind: HeldKind::Receipt,
            message,
            report: Some(report.clone()),
            held_ms: 1_700_000_061_000,
            expires_ms: u64::MAX,
        };
        (item, report)
    }

    #[test]
    fn kannel_escapes_are_filled_in_and_url_encoded() {
        let (item, report) = item();
        let url = "http://h/dlr?type=%d&to=%p&from=%P&id=%I&at=%T&t=%t&answer=%A&pct=%%&x=%Z";
        let expanded = kannel_expand(url, &item, &report);
        let start = "http://h/dlr?type=1&to=491701234567&from=Tern&id=77&at=1700000060\
                     &t=2023-11-14+22:14:20&answer=id%3A77+sub%3A001+dlvrd%3A001+submit+date%3A";
        assert!(expanded.starts_with(start), "{expanded}");
        assert!(
            expanded.contains("+stat%3ADELIVRD+err%3A000+text%3Ahello+there"),
            "{expanded}"
        );
        assert!(expanded.ends_with("&pct=%&x=%Z"), "{expanded}");
        let mut dialled = item.clone();
        dialled.message.destination.value = "00491701234567".into();
        assert_eq!(
            kannel_expand("%q|%k", &dialled, &report),
            "%2B491701234567|id%3A77"
        );
        let mut failed = report.clone();
        failed.state = MessageState::Undeliverable;
        assert!(kannel_expand("%d", &item, &failed) == "2");
    }

    #[test]
    fn notes_round_trip_and_unknown_ones_are_refused() {
        for per in [
            PerMessage::Kannel {
                url: "http://h/x?a=%d b".into(),
            },
            PerMessage::Jasmin {
                post: true,
                level: 2,
                url: "http://h/dlr".into(),
            },
            PerMessage::Jasmin {
                post: false,
                level: 3,
                url: "http://h/dlr".into(),
            },
        ] {
            assert_eq!(PerMessage::parse(&per.note()), Some(per));
        }
        assert_eq!(PerMessage::parse("smtp x"), None);
        assert_eq!(PerMessage::parse("jasmin PUT 2 http://h"), None);
        assert_eq!(PerMessage::parse(""), None);
    }

    proptest::proptest! {
        #[test]
        fn any_template_expands_without_panicking(template in ".{0,64}") {
            let (item, report) = item();
            let _ = kannel_expand(&template, &item, &report);
            let _ = PerMessage::parse(&template);
        }
    }
}
