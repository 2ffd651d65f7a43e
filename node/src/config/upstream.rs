//! `[[upstream]]`: the operator links, and the URL that names each one's protocol,
//! address and credentials.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamBind {
    Transceiver,
    TxRx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdFormatConfig {
    AsIs,
    Decimal,
    Hex,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    /// `smpp://USER:PASSWORD@HOST:PORT`, or `smpps://` for TLS.
    pub url: String,
    #[serde(default = "default_upstream_bind")]
    pub bind: UpstreamBind,
    #[serde(default = "default_upstream_window")]
    pub window: usize,
    /// Submits per second; 0 is unlimited.
    #[serde(default)]
    pub tps: u32,
    #[serde(default)]
    pub system_type: String,
    /// CA certificates (PEM) that the SMSC's TLS certificate must chain to.
    pub tls_ca: Option<PathBuf>,
    /// How the SMSC writes message ids in submit_sm_resp ...
    #[serde(default = "default_id_format")]
    pub submit_id_format: IdFormatConfig,
    /// ... and in its receipts, so the two can be matched.
    #[serde(default = "default_id_format")]
    pub receipt_id_format: IdFormatConfig,
    /// How long messages are split for this SMSC.
    #[serde(default = "default_concat")]
    pub concat: ConcatConfig,
    /// SGIP only: where the operator's SMG connects to deliver reports and MO.
    #[serde(default)]
    pub report_listen: Option<SocketAddr>,
    /// SGIP only: the SP's CorpId (five digits), in every SUBMIT and in the node id of the
    /// link's sequence numbers.
    #[serde(default)]
    pub corp_id: String,
    /// SGIP only: the area code in the link's node id (3AAAAQQQQQ, SGIP 1.2 §3.3), up to
    /// four digits.
    #[serde(default)]
    pub area_code: String,
    /// CMPP only: "3.0" or "2.0".
    #[serde(default = "default_cmpp_version")]
    pub version: String,
    /// CMPP only: the Service_Id of every SUBMIT.
    #[serde(default)]
    pub service_id: String,
    /// CMPP only: the Src_Id prefix (the SP's service number); the message's sender is
    /// appended.
    #[serde(default)]
    pub src_id: String,
    /// CMPP only: characters the operator appends as a signature; long messages leave
    /// room for them.
    #[serde(default)]
    pub signature_chars: usize,
    /// CMPP only: send Chinese text as GBK (Msg_Fmt 15) instead of UCS-2 when GBK can
    /// carry it.
    #[serde(default)]
    pub gbk: bool,
    /// The binds the operator allows: the cluster holds exactly this many, spread over its
    /// nodes (a node of its own holds them all).
    #[serde(default = "default_binds")]
    pub binds: u16,
}

fn default_binds() -> u16 {
    1
}

fn default_cmpp_version() -> String {
    "3.0".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConcatConfig {
    Udh8,
    Udh16,
    Sar,
    Payload,
}

fn default_concat() -> ConcatConfig {
    ConcatConfig::Udh8
}

fn default_upstream_bind() -> UpstreamBind {
    UpstreamBind::Transceiver
}

fn default_upstream_window() -> usize {
    64
}

fn default_id_format() -> IdFormatConfig {
    IdFormatConfig::AsIs
}

/// A parsed upstream URL: `SCHEME://USER:PASSWORD@HOST:PORT`, the scheme one a protocol of
/// the node registered (`smpp`, `smpps`, `cmpp`, ...; see `crate::protocols`). What the
/// user and password are is the protocol's (a system_id and password, a Source_Addr and
/// shared secret, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUrl {
    pub scheme: String,
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
}

/// What a URL's user-info cannot hold raw but an operator's password may: the credentials
/// end at the last `@`, so these are escaped there before the URL is parsed.
const USERINFO_ESCAPES: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b'/').add(b'?').add(b'#');

impl LinkUrl {
    /// `SCHEME://USER:PASSWORD@HOST:PORT` (`smpp://`, `smpps://` for TLS, `cmpp://`, ...),
    /// read with the `url` crate. `%XX` escapes in the user and the password are decoded; a password may
    /// also hold `@`, `/`, `?` or `#` as they are, since the credentials end at the last
    /// `@`. Nothing may follow the port but a `/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let schemes = crate::protocols::schemes();
        let scheme = match text.split_once("://").map(|(scheme, _)| scheme) {
            Some(scheme) if schemes.contains(&scheme) => scheme.to_owned(),
            _ => {
                let list: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
                return Err(format!("must start with one of {}", list.join(", ")));
            }
        };
        let escaped = match text.rsplit_once('@') {
            Some((credentials, address)) => {
                let (scheme, userinfo) = credentials.split_once("://").unwrap_or(("", ""));
                let userinfo = percent_encoding::utf8_percent_encode(userinfo, USERINFO_ESCAPES);
                format!("{scheme}://{userinfo}@{address}")
            }
            None => return Err("must name USER:PASSWORD@HOST:PORT".into()),
        };
        let url = url::Url::parse(&escaped).map_err(|error| match error {
            url::ParseError::InvalidPort => {
                let port = text.rsplit_once(':').map_or("", |(_, port)| port);
                format!("port {port:?} is not a number from 1 to 65535")
            }
            error => format!("not a USER:PASSWORD@HOST:PORT URL: {error}"),
        })?;
        let password = url.password().ok_or("credentials must be USER:PASSWORD")?;
        let port = url.port().ok_or("must end in HOST:PORT")?;
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() || port == 0 {
            return Err("host and port must not be empty".into());
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("nothing may follow HOST:PORT".into());
        }
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        Ok(Self {
            scheme,
            user: decode(url.username()),
            password: decode(password),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        })
    }
}
