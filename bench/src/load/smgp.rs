//! The load over SMGP 3.0: each connection is an SP's link (Login in transmit mode with the
//! ClientID and the shared secret) driven by one task in the closed loop every SP protocol
//! shares ([`super::sp`]), as over CMPP. A message is a domain `Message` written out by
//! `tern-smgp`'s own mapping (the GSM 7-bit kinds as ASCII, UCS-2 as UCS-2, long text
//! split under a UDH flagged by TP_udhi), one SUBMIT per part; every DELIVER is answered,
//! and status reports (IsReport 1) are matched to their SUBMIT by MsgID.
//!
//! A one-part ASCII text holds up to 159 characters and the parts of a long one 153, as
//! the mapping writes them: the same number of parts per message as over SMPP.
//!
//! CNGP runs on SMGP's connection layer (`tern_smgp::link`), so the link settings and the
//! start of a run are written here once for both ([`client_config`], [`start_links`]).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tern_smgp::link;
use tern_smgp::mapping::{LinkOptions, MAX_ASCII_CONTENT};
use tern_smgp::status;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::sp::{self, Answer, Failure, Seen, SpLinks, SpProtocol, Texts};
use super::{invalid, LoadConfig, LoadError};

/// How messages are written: ASCII of at most the mapping's one-part limit, long texts in
/// parts of 153 characters as the mapping cuts them (and as over SMPP), and a --source
/// that is not a number as a China Telecom SP access number.
const TEXTS: Texts = Texts {
    one_part: MAX_ASCII_CONTENT,
    part_chars: 153,
    numeric_source: "10659",
};

/// The longest ClientID of an SMGP Login.
const CLIENT_ID_LEN: usize = 8;

/// Where an SMGP load logs in.
#[derive(Debug, Clone, Serialize)]
pub struct SmgpTarget {
    /// ClientID of the Login (up to 8 characters): the account at the gateway.
    pub client_id: String,
    #[serde(skip)]
    pub secret: String,
}

/// The SUBMIT_RESP statuses by name (SMGP 3.0 error code table).
pub(crate) const RESULTS: &[(u32, &str)] = sp::result_names!(status:
    OK, SYSTEM_BUSY, TOO_MANY_CONNECTIONS, BAD_STRUCTURE, BAD_REQUEST_ID, DUPLICATE_SEQUENCE,
    BAD_MSG_TYPE, BAD_FEE_TYPE, BAD_FEE_CODE, BAD_MSG_FORMAT, BAD_MSG_LENGTH, EXPIRED,
    ROUTING_ERROR, BAD_SERVICE_ID, BAD_VALID_TIME, BAD_AT_TIME, BAD_SRC_TERM_ID,
    BAD_DEST_TERM_ID, BAD_CHARGE_TERM_ID, NO_MATCHING_ROUTE, BAD_SP_ID, SP_FORBIDDEN_PERIOD,
    SP_DAILY_LIMIT
);

/// The [`SpProtocol`] of SMGP or CNGP, named by its crate: the two differ only in where a
/// SUBMIT_RESP's status travels, which `|response, resp| status` reads from the whole PDU
/// (`response`) or its body (`resp`).
macro_rules! cn_sp_protocol {
    ($krate:ident, |$response:ident, $resp:ident| $status:expr) => {
        /// The protocol as an SP speaks it: its link's options write the messages.
        impl SpProtocol for $krate::mapping::LinkOptions {
            type Submit = $krate::codec::Submit;
            type Id = $krate::MsgId;
            type Client = $krate::net::Client;
            type Event = $krate::net::ClientEvent;
            type Error = $krate::mapping::MapError;

            fn submits(
                &self,
                message: &tern_model::Message,
                reference: u8,
            ) -> Result<Vec<Self::Submit>, Self::Error> {
                $krate::mapping::message_to_submits(message, self, reference)
            }

            async fn submit(
                client: Self::Client,
                submit: Self::Submit,
            ) -> Result<Answer<Self::Id>, Failure> {
                let $response = client.request($krate::Body::Submit(submit)).await?;
                Ok(match $response.body {
                    $krate::Body::SubmitResp($resp) => {
                        Answer::of($status, $krate::status::OK, $resp.msg_id)
                    }
                    _ => Answer::UNEXPECTED,
                })
            }

            fn event(event: Self::Event) -> Seen {
                use $krate::net::ClientEvent;
                let (pdu, handle) = match event {
                    ClientEvent::Up => return Seen::Up,
                    ClientEvent::Down { .. } => return Seen::Down,
                    ClientEvent::LateResponse(_) => return Seen::LateResponse,
                    ClientEvent::Request { pdu, handle } => (pdu, handle),
                };
                // A gateway sends an SP DELIVERs only; anything else times out at its end.
                let $krate::Body::Deliver(deliver) = &pdu.body else {
                    return Seen::Other;
                };
                if let Some(response) = $krate::Pdu::response_for(&pdu, $krate::status::OK) {
                    handle.respond(response);
                }
                match deliver.report() {
                    None => Seen::Mo,
                    Some(Ok(report)) => Seen::Receipt(report.msg_id.to_string()),
                    Some(Err(_)) => Seen::Unreadable,
                }
            }

            fn is_up(client: &Self::Client) -> bool {
                client.is_up()
            }
        }
    };
}
pub(crate) use cn_sp_protocol;

// SMGP's status is the SUBMIT_RESP body's.
cn_sp_protocol!(tern_smgp, |response, resp| resp.status);

/// Whether `client_id` fits a Login's ClientID of `max` octets: 1 to `max` printable ASCII
/// characters.
pub(crate) fn fits_client_id(client_id: &str, max: usize) -> bool {
    (1..=max).contains(&client_id.len()) && client_id.bytes().all(|b| b.is_ascii_graphic())
}

/// What an SMGP run needs beyond the common settings: a ClientID that fits the Login, and
/// what every SP run needs.
pub(crate) fn validate(config: &LoadConfig, target: &SmgpTarget) -> Result<(), LoadError> {
    if !fits_client_id(&target.client_id, CLIENT_ID_LEN) {
        return Err(invalid(
            "system_id",
            format!("the ClientID must be 1 to {CLIENT_ID_LEN} printable ASCII characters"),
        ));
    }
    sp::validate(config, &LinkOptions::default(), &TEXTS, "SMGP")
}

/// Connection `index`'s link settings, for SMGP and CNGP alike: the Login's ClientID and
/// secret, in the protocol's own version and transmit mode (the link's defaults).
pub(crate) fn client_config<P: link::Protocol>(
    config: &LoadConfig,
    client_id: &str,
    secret: &str,
    index: usize,
) -> link::ClientConfig<P> {
    let mut client =
        link::ClientConfig::new(format!("load-{index}"), config.host.clone(), config.port);
    client.client_id = client_id.to_owned();
    client.secret = secret.to_owned();
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

/// Starts the connections of an SMGP or CNGP run, their messages written by `protocol`.
pub(crate) fn start_links<P, L>(
    config: &LoadConfig,
    (client_id, secret): (&str, &str),
    (protocol, texts): (L, Texts),
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Box<dyn SpLinks>
where
    P: link::Protocol,
    L: SpProtocol<Client = link::Client<P>, Event = link::ClientEvent<P>>,
{
    let links = (0..config.binds)
        .map(|i| {
            let client = client_config::<P>(config, client_id, secret, i);
            link::Client::start(client, shutdown.clone(), tracker)
        })
        .collect();
    Box::new(sp::Connections {
        protocol: Arc::new(protocol),
        texts: Arc::new(texts),
        links,
        beside: None,
    })
}

/// Starts the connections of a run.
pub(crate) fn start(
    config: &LoadConfig,
    target: &SmgpTarget,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Box<dyn SpLinks> {
    let credentials = (target.client_id.as_str(), target.secret.as_str());
    let messages = (LinkOptions::default(), TEXTS);
    start_links(config, credentials, messages, shutdown, tracker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::messages::Kind;
    use crate::load::sp::checks::{as_many_parts_as_over_smpp, every_kind};
    use tern_smgp::mapping;

    fn target() -> SmgpTarget {
        SmgpTarget {
            client_id: "901234".into(),
            secret: "demo".into(),
        }
    }

    #[test]
    fn each_kind_has_as_many_parts_as_over_smpp() {
        let shape = every_kind();
        let smgp = LinkOptions::default();
        for n in 0..32 {
            let submits = as_many_parts_as_over_smpp(&smgp, &TEXTS, &shape, n);
            for part in &submits {
                assert_eq!(part.src_term_id, TEXTS.numeric_source);
                assert_eq!(part.need_report, 1);
                assert_eq!(part.dest_term_ids.len(), 1);
                let (expected_fmt, limit) = match shape.kind(n) {
                    Kind::Ucs2 => (mapping::msg_format::UCS2, mapping::MAX_CONTENT),
                    _ => (mapping::msg_format::ASCII, MAX_ASCII_CONTENT),
                };
                assert_eq!(part.msg_format, expected_fmt, "message {n}");
                assert!(part.msg_content.len() <= limit, "message {n}");
                let long = matches!(shape.kind(n), Kind::Long { .. });
                assert_eq!(part.tp_udhi(), u8::from(long), "message {n}");
            }
        }
    }

    #[test]
    fn open_loop_and_bad_client_ids_are_refused() {
        let mut config = LoadConfig {
            smgp: Some(target()),
            registered_delivery: true,
            ..LoadConfig::default()
        };
        assert!(config.validate().is_ok());
        config.rate = Some(100.0);
        assert!(config.validate().is_err());
        config.rate = None;
        for client_id in ["", "123456789", "90 1234"] {
            config.smgp = Some(SmgpTarget {
                client_id: client_id.into(),
                ..target()
            });
            assert!(config.validate().is_err(), "{client_id:?}");
        }
        config.smgp = Some(target());
        config.cmpp = Some(crate::load::CmppTarget {
            version: tern_cmpp::Version::V30,
            source_addr: "901234".into(),
            secret: "demo".into(),
        });
        assert!(config.validate().is_err(), "one protocol at a time");
        assert_eq!(sp::result_name(1, RESULTS), "SYSTEM_BUSY");
        assert_eq!(sp::result_name(47, RESULTS), "BAD_DEST_TERM_ID");
        assert_eq!(sp::result_name(99, RESULTS), "RESULT_99");
    }
}
