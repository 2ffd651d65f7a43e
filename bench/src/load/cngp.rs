//! The load over CNGP 2.0: each connection is an SP's link (Login in transmit mode with the
//! ClientID and the shared secret) driven by one task in the closed loop every SP protocol
//! shares ([`super::sp`]), as over CMPP and SMGP, on the connection layer CNGP shares with
//! SMGP (the settings are [`super::smgp`]'s). A message is a domain `Message` written out
//! by `tern-cngp`'s own mapping (the GSM 7-bit kinds as ASCII, UCS-2 as UCS-2, long text
//! split under a UDH flagged by TP_udhi), one SUBMIT per part with the ClientID as SPID;
//! every DELIVER is answered, and status reports (IsReport 1) are matched to their SUBMIT
//! by MsgID. Unlike SMGP, a response's status travels in the header.
//!
//! A one-part ASCII text holds up to 159 characters and the parts of a long one 153, as
//! the mapping writes them: the same number of parts per message as over SMPP.

use serde::Serialize;
use tern_cngp::auth::MAX_SECRET_LEN;
use tern_cngp::mapping::{LinkOptions, MAX_ASCII_CONTENT};
use tern_cngp::status;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::smgp::{cn_sp_protocol, fits_client_id, start_links};
use super::sp::{self, Answer, Failure, Seen, SpLinks, SpProtocol, Texts};
use super::{invalid, LoadConfig, LoadError};

/// How messages are written: ASCII of at most the mapping's one-part limit, long texts in
/// parts of 153 characters as the mapping cuts them (and as over SMPP), and a --source
/// that is not a number as an SP access number.
const TEXTS: Texts = Texts {
    one_part: MAX_ASCII_CONTENT,
    part_chars: 153,
    numeric_source: "10657",
};

/// The longest ClientID of a CNGP Login, and of SPID.
const CLIENT_ID_LEN: usize = 10;

/// Where a CNGP load logs in.
#[derive(Debug, Clone, Serialize)]
pub struct CngpTarget {
    /// ClientID of the Login (up to 10 characters): the account at the gateway, also the
    /// SPID of every SUBMIT.
    pub client_id: String,
    #[serde(skip)]
    pub secret: String,
}

/// The SUBMIT_RESP statuses by name (CNGP 2.0 Command_Status).
pub(crate) const RESULTS: &[(u32, &str)] = sp::result_names!(status:
    OK, SYSTEM_BUSY, TOO_MANY_CONNECTIONS, BAD_STRUCTURE, BAD_COMMAND, DUPLICATE_SEQUENCE,
    BAD_FEE_USER_TYPE, BAD_SUB_TYPE, BAD_MSG_TYPE, BAD_FEE_TYPE, BAD_FEE_CODE, BAD_MSG_FORMAT,
    BAD_MSG_LENGTH, EXPIRED, ROUTING_ERROR, BAD_SERVICE_ID, BAD_VALID_TIME, BAD_AT_TIME,
    BAD_SRC_TERM_ID, BAD_DEST_TERM_ID, BAD_CHARGE_TERM_ID, NO_ROUTE, BAD_SP_ID
);

/// How the SP's link writes messages: its ClientID as SPID.
fn link_options(target: &CngpTarget) -> LinkOptions {
    LinkOptions {
        sp_id: target.client_id.clone(),
        ..LinkOptions::default()
    }
}

// CNGP's status is the header's.
cn_sp_protocol!(tern_cngp, |response, resp| response.status);

/// What a CNGP run needs beyond the common settings: a ClientID and a secret that fit the
/// Login, and what every SP run needs.
pub(crate) fn validate(config: &LoadConfig, target: &CngpTarget) -> Result<(), LoadError> {
    if !fits_client_id(&target.client_id, CLIENT_ID_LEN) {
        return Err(invalid(
            "system_id",
            format!("the ClientID must be 1 to {CLIENT_ID_LEN} printable ASCII characters"),
        ));
    }
    if target.secret.len() > MAX_SECRET_LEN {
        return Err(invalid(
            "secret",
            format!(
                "the shared secret (--secret or --password) is at most {MAX_SECRET_LEN} octets"
            ),
        ));
    }
    sp::validate(config, &link_options(target), &TEXTS, "CNGP")
}

/// Starts the connections of a run.
pub(crate) fn start(
    config: &LoadConfig,
    target: &CngpTarget,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Box<dyn SpLinks> {
    let credentials = (target.client_id.as_str(), target.secret.as_str());
    let messages = (link_options(target), TEXTS);
    start_links(config, credentials, messages, shutdown, tracker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::messages::Kind;
    use crate::load::sp::checks::{as_many_parts_as_over_smpp, every_kind};
    use tern_cngp::codec::tag;
    use tern_cngp::mapping;

    fn target() -> CngpTarget {
        CngpTarget {
            client_id: "901234".into(),
            secret: "demo".into(),
        }
    }

    #[test]
    fn each_kind_has_as_many_parts_as_over_smpp() {
        let shape = every_kind();
        let cngp = link_options(&target());
        for n in 0..32 {
            let submits = as_many_parts_as_over_smpp(&cngp, &TEXTS, &shape, n);
            for part in &submits {
                assert_eq!(part.src_term_id, TEXTS.numeric_source);
                assert_eq!(part.sp_id, "901234");
                assert_eq!(part.need_report, 1);
                assert_eq!(part.dest_term_ids.len(), 1);
                let (expected_fmt, limit) = match shape.kind(n) {
                    Kind::Ucs2 => (mapping::msg_format::UCS2, mapping::MAX_CONTENT),
                    _ => (mapping::msg_format::ASCII, MAX_ASCII_CONTENT),
                };
                assert_eq!(part.msg_format, expected_fmt, "message {n}");
                assert!(part.msg_content.len() <= limit, "message {n}");
                let long = matches!(shape.kind(n), Kind::Long { .. });
                let udhi = part.tlvs.u8(tag::TP_UDHI).unwrap_or(0);
                assert_eq!(udhi, u8::from(long), "message {n}");
            }
        }
    }

    #[test]
    fn open_loop_and_bad_credentials_are_refused() {
        let mut config = LoadConfig {
            cngp: Some(target()),
            registered_delivery: true,
            ..LoadConfig::default()
        };
        assert!(config.validate().is_ok());
        config.rate = Some(100.0);
        assert!(config.validate().is_err());
        config.rate = None;
        for client_id in ["", "12345678901", "90\u{e9}1234"] {
            config.cngp = Some(CngpTarget {
                client_id: client_id.into(),
                ..target()
            });
            assert!(config.validate().is_err(), "{client_id:?}");
        }
        config.cngp = Some(CngpTarget {
            client_id: "1234567890".into(),
            ..target()
        });
        assert!(config.validate().is_ok(), "ten characters fit");
        config.cngp = Some(CngpTarget {
            secret: "sixteen-octets!!".into(),
            ..target()
        });
        assert!(config.validate().is_err());
        config.cngp = Some(target());
        config.smgp = Some(crate::load::SmgpTarget {
            client_id: "901234".into(),
            secret: "demo".into(),
        });
        assert!(config.validate().is_err(), "one protocol at a time");
        assert_eq!(sp::result_name(1, RESULTS), "SYSTEM_BUSY");
        assert_eq!(sp::result_name(58, RESULTS), "NO_ROUTE");
        assert_eq!(sp::result_name(99, RESULTS), "RESULT_99");
    }
}
