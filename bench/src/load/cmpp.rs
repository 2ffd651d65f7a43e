//! The load over CMPP 2.0/3.0: each connection is an SP's link (CONNECT with the Source_Addr
//! and the shared secret) driven by one task in the closed loop every SP protocol shares
//! ([`super::sp`]), like an SMPP bind. A message
//! is a domain `Message` written out by `tern-cmpp`'s own mapping (the GSM 7-bit kinds as
//! ASCII, UCS-2 as UCS-2, long text split under a UDH), one SUBMIT per part; every DELIVER
//! is answered, and status reports are matched to their SUBMIT by Msg_Id.
//!
//! The mapping writes parts of at most 140 octets in every format, so a one-part text is
//! capped at 140 characters and a long text's parts carry 134 (140 less the UDH): the same
//! number of parts per message as over SMPP, with fewer characters in each.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tern_cmpp::codec::{DeliverResp, Submit};
use tern_cmpp::mapping::{self, LinkOptions, MapError, MAX_ASCII_CONTENT};
use tern_cmpp::net::{Client, ClientConfig, ClientEvent};
use tern_cmpp::{result, Body, Pdu, Version};
use tern_model::Message;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::sp::{self, Answer, Failure, Seen, SpLinks, SpProtocol, Texts};
use super::{invalid, LoadConfig, LoadError};

/// How messages are written: ASCII of at most the mapping's one-part limit, long texts in
/// parts of that less the 8-bit-reference concatenation UDH, and a --source that is not a
/// number as a China Mobile SP service code prefix.
const TEXTS: Texts = Texts {
    one_part: MAX_ASCII_CONTENT,
    part_chars: MAX_ASCII_CONTENT - 6,
    numeric_source: "1065",
};

/// Where a CMPP load logs in.
#[derive(Debug, Clone, Serialize)]
pub struct CmppTarget {
    #[serde(serialize_with = "version_name")]
    pub version: Version,
    /// The SP's enterprise code (6 digits), the account's system_id at the gateway.
    pub source_addr: String,
    #[serde(skip)]
    pub secret: String,
}

fn version_name<S: serde::Serializer>(version: &Version, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match version {
        Version::V20 => "2.0",
        Version::V30 => "3.0",
    })
}

/// The SUBMIT_RESP results by name.
pub(crate) const RESULTS: &[(u32, &str)] = sp::result_names!(result:
    OK, BAD_STRUCTURE, BAD_COMMAND, DUPLICATE_SEQUENCE, BAD_MSG_LENGTH, BAD_FEE_CODE, TOO_LONG,
    BAD_SERVICE_ID, FLOW_CONTROL, BAD_SRC_ID, BAD_DEST_TERMINAL_ID
);

/// How the SP's link writes messages.
fn link_options(target: &CmppTarget) -> LinkOptions {
    LinkOptions {
        version: target.version,
        msg_src: target.source_addr.clone(),
        ..LinkOptions::default()
    }
}

/// CMPP as an SP speaks it: its link's options write the messages.
impl SpProtocol for LinkOptions {
    type Submit = Submit;
    type Id = u64;
    type Client = Client;
    type Event = ClientEvent;
    type Error = MapError;

    fn submits(&self, message: &Message, reference: u8) -> Result<Vec<Submit>, MapError> {
        mapping::message_to_submits(message, self, reference)
    }

    async fn submit(client: Client, submit: Submit) -> Result<Answer<u64>, Failure> {
        let response = client.request(Body::Submit(submit)).await?;
        Ok(match response.body {
            Body::SubmitResp(resp) => Answer::of(resp.result, result::OK, resp.msg_id),
            _ => Answer::UNEXPECTED,
        })
    }

    fn event(event: ClientEvent) -> Seen {
        let (pdu, handle) = match event {
            ClientEvent::Up => return Seen::Up,
            ClientEvent::Down { .. } => return Seen::Down,
            ClientEvent::LateResponse(_) => return Seen::LateResponse,
            ClientEvent::Request { pdu, handle } => (pdu, handle),
        };
        // A gateway sends an SP DELIVERs only; anything else times out at its end.
        let Body::Deliver(deliver) = &pdu.body else {
            return Seen::Other;
        };
        handle.respond(Pdu {
            sequence_id: pdu.sequence_id,
            body: Body::DeliverResp(DeliverResp {
                msg_id: deliver.msg_id,
                result: result::OK,
            }),
        });
        match deliver.report(handle.version()) {
            None => Seen::Mo,
            Some(Ok(report)) => Seen::Receipt(report.msg_id.to_string()),
            Some(Err(_)) => Seen::Unreadable,
        }
    }

    fn is_up(client: &Client) -> bool {
        client.is_up()
    }
}

/// What a CMPP run needs beyond the common settings: a 6-digit Source_Addr, and what every
/// SP run needs.
pub(crate) fn validate(config: &LoadConfig, target: &CmppTarget) -> Result<(), LoadError> {
    if target.source_addr.len() != 6 || !target.source_addr.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("source_addr", "must be 6 digits"));
    }
    sp::validate(config, &link_options(target), &TEXTS, "CMPP")
}

fn client_config(config: &LoadConfig, target: &CmppTarget, index: usize) -> ClientConfig {
    let mut client = ClientConfig::new(format!("load-{index}"), config.host.clone(), config.port);
    client.source_addr = target.source_addr.clone();
    client.secret = target.secret.clone();
    client.version = target.version;
    // One window per direction: it bounds the SUBMITs in flight and the reports the
    // gateway may have unanswered.
    client.window = config.window;
    client.response_timeout = config.response_timeout;
    client.reconnect_min = Duration::from_millis(50);
    client.reconnect_max = Duration::from_secs(1);
    client.connect_timeout = config.bind_timeout;
    client.ready_timeout = config.bind_timeout;
    client
}

/// Starts the connections of a run.
pub(crate) fn start(
    config: &LoadConfig,
    target: &CmppTarget,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Box<dyn SpLinks> {
    let links = (0..config.binds)
        .map(|i| Client::start(client_config(config, target, i), shutdown.clone(), tracker))
        .collect();
    Box::new(sp::Connections {
        protocol: Arc::new(link_options(target)),
        texts: Arc::new(TEXTS),
        links,
        beside: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::sp::checks::{as_many_parts_as_over_smpp, every_kind};

    fn target(version: Version) -> CmppTarget {
        CmppTarget {
            version,
            source_addr: "901234".into(),
            secret: "s".into(),
        }
    }

    #[test]
    fn each_kind_has_as_many_parts_as_over_smpp() {
        let shape = every_kind();
        for version in [Version::V20, Version::V30] {
            let cmpp = link_options(&target(version));
            for n in 0..32 {
                let submits = as_many_parts_as_over_smpp(&cmpp, &TEXTS, &shape, n);
                for part in &submits {
                    assert_eq!(part.src_id, TEXTS.numeric_source);
                    assert_eq!(part.registered_delivery, 1);
                    let limit = if part.msg_fmt == mapping::msg_fmt::ASCII {
                        MAX_ASCII_CONTENT
                    } else {
                        mapping::MAX_CONTENT
                    };
                    assert!(part.msg_content.len() <= limit);
                    let expected_fmt = match shape.kind(n) {
                        super::super::messages::Kind::Ucs2 => mapping::msg_fmt::UCS2,
                        _ => mapping::msg_fmt::ASCII,
                    };
                    assert_eq!(part.msg_fmt, expected_fmt, "message {n}");
                }
            }
        }
    }

    #[test]
    fn open_loop_and_bad_source_addr_are_refused() {
        let mut config = LoadConfig {
            cmpp: Some(target(Version::V30)),
            ..LoadConfig::default()
        };
        assert!(config.validate().is_ok());
        config.rate = Some(100.0);
        assert!(config.validate().is_err());
        config.rate = None;
        config.cmpp = Some(CmppTarget {
            source_addr: "12345".into(),
            ..target(Version::V20)
        });
        assert!(config.validate().is_err());
        assert_eq!(sp::result_name(8, RESULTS), "FLOW_CONTROL");
        assert_eq!(sp::result_name(99, RESULTS), "RESULT_99");
    }
}
