//! The load over SGIP 1.2 as an SP: each connection binds with login type 1 (the account's
//! Login_Name and password) and only sends SUBMITs, in the closed loop every SP protocol
//! shares ([`super::sp`]); `tern-sgip`'s mapping writes the messages. A SUBMIT's message id
//! is its sequence number, which the answer carries back.
//!
//! Status reports and MO come the other way: the gateway binds with login type 2 to a
//! listener of the load (its `deliver_to` address for the account) and sends REPORTs,
//! each naming its SUBMIT by SubmitSequenceNumber, and DELIVERs. Every one is answered;
//! reports are matched to their SUBMITs.
//!
//! One SP has one node id, the first word of its sequence numbers, and the gateway puts
//! that of the SP's session back in a report. Each `tern-sgip` client starts its counter
//! at a random point, so the connections of a run, under that one node id, hand out
//! distinct ids unless two random starts fall within a run's count of each other (for two
//! connections of 100,000 SUBMITs each, at most one run in twenty thousand); a repeated id
//! would show as a receipt matched to the wrong SUBMIT or none.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use tern_model::Message;
use tern_sgip::codec::Submit;
use tern_sgip::mapping::{self, LinkOptions, MapError, MAX_ASCII_CONTENT};
use tern_sgip::msgid::{sp_node_id, SequenceNumber};
use tern_sgip::net::{
    serve, BindRequest, Client, ClientConfig, ClientEvent, Handler, ServerConfig, SessionEvent,
    SessionHandle,
};
use tern_sgip::{result, Body, LoginType, Pdu};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::bind::BindOutcome;
use super::sp::{self, Answer, Failure, Seen, SpLinks, SpProtocol, Texts};
use super::{invalid, LoadConfig, LoadError, Run};

/// How messages are written: ASCII of at most one SMS, long texts in parts of 153 as over
/// SMPP (the mapping's parts hold more), and a --source that is not a number as a China
/// Unicom SP access number.
const TEXTS: Texts = Texts {
    one_part: MAX_ASCII_CONTENT,
    part_chars: 153,
    numeric_source: "10655",
};

/// The area code in the load's node id (SGIP 1.2 §3.3: `3AAAAQQQQQ`, area code and
/// CorpId).
const AREA_CODE: &str = "10";

/// Where an SGIP load binds, and where the gateway binds back.
#[derive(Debug, Clone, Serialize)]
pub struct SgipTarget {
    /// Login_Name of the type-1 BIND: the account at the gateway.
    pub login_name: String,
    #[serde(skip)]
    pub password: String,
    /// CorpId of every SUBMIT (up to 5 digits), also in the load's node id.
    pub corp_id: String,
    /// Where the gateway binds with login type 2 to send REPORTs and MO; needed for
    /// receipts.
    pub listen: Option<SocketAddr>,
}

/// The SUBMIT_RESP results by name (SGIP 1.2 §5.2).
pub(crate) const RESULTS: &[(u8, &str)] = sp::result_names!(result:
    OK, ILLEGAL_LOGIN, BAD_PARAMETER_FORMAT, ILLEGAL_PHONE_NUMBER, BAD_MESSAGE_ID, BAD_LENGTH,
    BAD_SEQUENCE_NUMBER, NODE_BUSY, SYSTEM_FAILURE, SMSC_QUEUE_FULL
);

/// How the SP's link writes messages.
fn link_options(target: &SgipTarget) -> LinkOptions {
    LinkOptions {
        corp_id: target.corp_id.clone(),
        ..LinkOptions::default()
    }
}

/// SGIP as an SP speaks it: its link's options write the messages.
impl SpProtocol for LinkOptions {
    type Submit = Submit;
    type Id = SequenceNumber;
    type Client = Client;
    type Event = ClientEvent;
    type Error = MapError;

    fn submits(&self, message: &Message, reference: u8) -> Result<Vec<Submit>, MapError> {
        mapping::message_to_submits(message, self, reference)
    }

    async fn submit(client: Client, submit: Submit) -> Result<Answer<SequenceNumber>, Failure> {
        // The session numbers the SUBMIT; its answer carries the number, the message id.
        let response = client.request(Body::Submit(submit)).await?;
        Ok(match response.body {
            Body::SubmitResp(resp) => Answer::of(resp.result, result::OK, response.sequence),
            _ => Answer::UNEXPECTED,
        })
    }

    /// A type-1 link carries nothing from the gateway: its reports come to the listener.
    fn event(event: ClientEvent) -> Seen {
        match event {
            ClientEvent::Up => Seen::Up,
            ClientEvent::Down { .. } => Seen::Down,
            ClientEvent::LateResponse(_) => Seen::LateResponse,
        }
    }

    fn is_up(client: &Client) -> bool {
        client.is_up()
    }
}

fn node_id(target: &SgipTarget) -> Option<u32> {
    sp_node_id(AREA_CODE, &target.corp_id)
}

/// What an SGIP run needs beyond the common settings: credentials that fit the BIND, a
/// CorpId, with receipts a listener, and what every SP run needs.
pub(crate) fn validate(config: &LoadConfig, target: &SgipTarget) -> Result<(), LoadError> {
    if let Err(error) =
        tern_sgip::auth::bind(LoginType::SpToSmg, &target.login_name, &target.password)
    {
        return Err(invalid("system_id", error.to_string()));
    }
    if node_id(target).is_none() {
        return Err(invalid("corp_id", "must be 1-5 digits"));
    }
    if config.registered_delivery && target.listen.is_none() {
        return Err(invalid(
            "sgip_listen",
            "receipts come to a listener the gateway binds to with login type 2",
        ));
    }
    sp::validate(config, &link_options(target), &TEXTS, "SGIP")
}

fn client_config(config: &LoadConfig, target: &SgipTarget, index: usize) -> ClientConfig {
    let mut client = ClientConfig::new(format!("load-{index}"), config.host.clone(), config.port);
    client.login_name = target.login_name.clone();
    client.password = target.password.clone();
    client.login_type = LoginType::SpToSmg;
    client.node_id = node_id(target).unwrap_or_default();
    client.window = config.window;
    // A pause in the run must not leave a connection unbound when sending resumes.
    client.keep_open = true;
    client.response_timeout = config.response_timeout;
    client.reconnect_min = Duration::from_millis(50);
    client.reconnect_max = Duration::from_secs(1);
    client.connect_timeout = config.bind_timeout;
    client.ready_timeout = config.bind_timeout;
    client
}

/// Starts the connections of a run, after opening the listener for the gateway's type-2
/// binds when receipts are asked for.
pub(crate) async fn start(
    config: &LoadConfig,
    target: &SgipTarget,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) -> Result<Box<dyn SpLinks>, LoadError> {
    let beside = match (config.registered_delivery, target.listen) {
        (true, Some(addr)) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|error| invalid("sgip_listen", format!("{addr}: {error}")))?;
            let reports = Reports {
                login_name: target.login_name.clone(),
                password: target.password.clone(),
                config: Arc::new(ServerConfig {
                    // Never answer the gateway's reports with node busy.
                    window: config.window.max(1024),
                    login_types: vec![LoginType::SmgToSp],
                    node_id: node_id(target).unwrap_or_default(),
                    ..ServerConfig::default()
                }),
                shutdown: shutdown.child_token(),
                tracker: tracker.clone(),
            };
            let beside: sp::Beside = Box::new(move |run| reports.serve(run, listener).boxed());
            Some(beside)
        }
        _ => None,
    };
    let links = (0..config.binds)
        .map(|i| Client::start(client_config(config, target, i), shutdown.clone(), tracker))
        .collect();
    Ok(Box::new(sp::Connections {
        protocol: Arc::new(link_options(target)),
        texts: Arc::new(TEXTS),
        links,
        beside,
    }))
}

/// The listener for the gateway's type-2 binds.
struct Reports {
    login_name: String,
    password: String,
    config: Arc<ServerConfig>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Reports {
    /// Serves the gateway's binds until the run finishes; the outcome carries the receipt
    /// latencies and the MO.
    async fn serve(self, run: Arc<Run>, listener: TcpListener) -> BindOutcome {
        let out = Arc::new(Mutex::new(BindOutcome::new(&run.histogram)));
        let handler = Arc::new(Sessions {
            login_name: self.login_name,
            password: self.password,
            run: run.clone(),
            out: out.clone(),
        });
        let server = serve(
            listener,
            self.config,
            handler,
            self.shutdown.clone(),
            self.tracker,
        );
        tokio::select! {
            _ = server => {}
            _ = run.finish.cancelled() => {}
        }
        // The gateway's sessions unbind.
        self.shutdown.cancel();
        let taken = match out.lock() {
            Ok(mut out) => std::mem::replace(&mut *out, BindOutcome::new(&run.histogram)),
            Err(_) => BindOutcome::new(&run.histogram),
        };
        taken
    }
}

/// The gateway's type-2 sessions, which record into one outcome.
struct Sessions {
    login_name: String,
    password: String,
    run: Arc<Run>,
    out: Arc<Mutex<BindOutcome>>,
}

impl Handler for Sessions {
    type Grant = ();

    async fn bind(&self, request: BindRequest) -> Result<((), String), u8> {
        if request.login_name != self.login_name {
            return Err(result::ILLEGAL_LOGIN);
        }
        Ok(((), self.password.clone()))
    }

    fn session(
        self: &Arc<Self>,
        _: (),
        _: BindRequest,
        handle: SessionHandle,
        mut events: mpsc::Receiver<SessionEvent>,
    ) {
        let sessions = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let pdu = match event {
                    SessionEvent::Request(pdu) => pdu,
                    // We send nothing on a type-2 session.
                    SessionEvent::LateResponse(_) => continue,
                    SessionEvent::Closed { .. } => break,
                };
                let now = Instant::now();
                let seen = answer(&handle, pdu);
                if let Ok(mut out) = sessions.out.lock() {
                    sp::note(&sessions.run, &mut out, seen, now);
                }
            }
        });
    }
}

/// Answers a REPORT or DELIVER of the gateway and says what it was.
fn answer(handle: &SessionHandle, pdu: Pdu) -> Seen {
    if let Some(response) = Pdu::response_for(&pdu, result::OK) {
        handle.respond(response);
    }
    match pdu.body {
        Body::Report(report) => Seen::Receipt(report.submit_sequence.to_string()),
        Body::Deliver(_) => Seen::Mo,
        _ => Seen::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::sp::checks::{as_many_parts_as_over_smpp, every_kind};

    fn target() -> SgipTarget {
        SgipTarget {
            login_name: "901234".into(),
            password: "demo".into(),
            corp_id: "0".into(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        }
    }

    #[test]
    fn each_kind_has_as_many_parts_as_over_smpp() {
        let shape = every_kind();
        let sgip = link_options(&target());
        for n in 0..32 {
            let submits = as_many_parts_as_over_smpp(&sgip, &TEXTS, &shape, n);
            for part in &submits {
                assert!(part.sp_number.starts_with(TEXTS.numeric_source));
                assert_eq!(part.report_flag, tern_sgip::codec::report_flag::ALWAYS);
                assert_eq!(part.user_numbers.len(), 1);
            }
        }
    }

    #[test]
    fn receipts_need_a_listener() {
        let mut config = LoadConfig {
            sgip: Some(target()),
            registered_delivery: true,
            binds: 1,
            ..LoadConfig::default()
        };
        assert!(config.validate().is_ok());
        config.binds = 4;
        assert!(config.validate().is_ok());
        config.sgip = Some(SgipTarget {
            listen: None,
            ..target()
        });
        assert!(config.validate().is_err());
        config.sgip = Some(SgipTarget {
            password: "seventeen-octets!".into(),
            ..target()
        });
        assert!(config.validate().is_err());
        config.sgip = Some(SgipTarget {
            corp_id: "123456".into(),
            ..target()
        });
        assert!(config.validate().is_err());
        config.sgip = Some(target());
        config.rate = Some(10.0);
        assert!(config.validate().is_err());
        assert_eq!(sp::result_name(11, RESULTS), "NODE_BUSY");
        assert_eq!(sp::result_name(99, RESULTS), "RESULT_99");
    }
}
