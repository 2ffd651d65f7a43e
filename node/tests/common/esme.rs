//! The customer: one SMPP session on the frame codec that binds as transmitter, receiver
//! or transceiver, answers what the node asks, and records every deliver_sm it gets.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tern_model::{DeliveryReport, MessageState};
use tern_smpp::codec::{self, Decoder, Inbound};
use tern_smpp::mapping;
use tern_smpp::rusmpp::pdus::{
    BindReceiver, BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp, SubmitSm,
};
use tern_smpp::rusmpp::values::{InterfaceVersion, Npi, Ton};
use tern_smpp::session::{c_octet, BindKind};
use tern_smpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::{eventually, WAIT};

/// A deliver_sm a customer received.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub esm_class: u8,
    pub source: String,
    pub destination: String,
    pub data_coding: u8,
    pub short_message: Vec<u8>,
    /// `receipted_message_id`, for receipts.
    pub receipted_id: Option<String>,
    /// The report, when the deliver_sm is a receipt that parses.
    pub report: Option<DeliveryReport>,
}

impl Delivered {
    pub fn is_receipt(&self) -> bool {
        tern_smpp::receipt::is_receipt(self.esm_class)
    }

    pub fn state(&self) -> Option<MessageState> {
        self.report.as_ref().map(|r| r.state)
    }

    fn from_pdu(deliver: &DeliverSm) -> Self {
        let esm_class = u8::from(deliver.esm_class);
        let receipt = tern_smpp::receipt::is_receipt(esm_class);
        Self {
            esm_class,
            source: deliver.source_addr.as_str().to_owned(),
            destination: deliver.destination_addr.as_str().to_owned(),
            data_coding: u8::from(deliver.data_coding),
            short_message: deliver.short_message().as_ref().to_vec(),
            receipted_id: tern_smpp::receipt::receipted_message_id(deliver.tlvs())
                .map(str::to_owned),
            report: receipt
                .then(|| mapping::deliver_sm_to_report(deliver).ok())
                .flatten(),
        }
    }
}

/// Every deliver_sm one or more binds of a customer received, in order.
#[derive(Debug, Default)]
pub struct Inbox {
    items: Mutex<Vec<Delivered>>,
}

impl Inbox {
    pub fn all(&self) -> Vec<Delivered> {
        self.items.lock().unwrap().clone()
    }

    pub fn receipts(&self) -> Vec<Delivered> {
        self.all().into_iter().filter(|d| d.is_receipt()).collect()
    }

    pub fn mos(&self) -> Vec<Delivered> {
        self.all().into_iter().filter(|d| !d.is_receipt()).collect()
    }

    /// Receipts by `receipted_message_id` (those without it under "").
    pub fn receipts_by_id(&self) -> HashMap<String, Vec<Delivered>> {
        let mut by_id: HashMap<String, Vec<Delivered>> = HashMap::new();
        for receipt in self.receipts() {
            by_id
                .entry(receipt.receipted_id.clone().unwrap_or_default())
                .or_default()
                .push(receipt);
        }
        by_id
    }

    /// Waits until every id in `ids` has a receipt; returns whether they all came.
    pub async fn wait_for_receipts<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a String> + Clone,
        timeout: Duration,
    ) -> bool {
        eventually(timeout, || {
            let by_id = self.receipts_by_id();
            ids.clone().into_iter().all(|id| by_id.contains_key(id))
        })
        .await
    }

    fn push(&self, item: Delivered) {
        self.items.lock().unwrap().push(item);
    }
}

/// What became of a submit_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// submit_sm_resp OK with this message id.
    Accepted(String),
    Refused(CommandStatus),
}

/// The connection ended before the response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

type Waiters = Arc<Mutex<HashMap<u32, oneshot::Sender<Command>>>>;

/// One bound SMPP session of a customer. deliver_sm are answered OK and recorded in the
/// inbox; enquire_link and unbind from the node are answered.
pub struct Esme {
    writes: mpsc::UnboundedSender<Command>,
    next_sequence: AtomicU32,
    waiters: Waiters,
    closed: Arc<AtomicBool>,
    pub inbox: Arc<Inbox>,
}

fn bind_pdu(kind: BindKind, system_id: &str, password: &str) -> Pdu {
    let (id, password, system_type) = (c_octet(system_id), c_octet(password), c_octet(""));
    let version = InterfaceVersion::Smpp3_4;
    let range = c_octet("");
    let (ton, npi) = (Ton::Unknown, Npi::Unknown);
    match kind {
        BindKind::Transmitter => Pdu::from(BindTransmitter::new(
            id,
            password,
            system_type,
            version,
            ton,
            npi,
            range,
        )),
        BindKind::Receiver => Pdu::from(BindReceiver::new(
            id,
            password,
            system_type,
            version,
            ton,
            npi,
            range,
        )),
        BindKind::Transceiver => Pdu::from(BindTransceiver::new(
            id,
            password,
            system_type,
            version,
            ton,
            npi,
            range,
        )),
    }
}

async fn read_command(
    stream: &mut (impl AsyncReadExt + Unpin),
    buffer: &mut BytesMut,
    decoder: &Decoder,
) -> Option<Inbound> {
    loop {
        match decoder.decode(buffer) {
            Ok(Some(inbound)) => return Some(inbound),
            Ok(None) => {}
            Err(_) => return None,
        }
        match stream.read_buf(buffer).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

impl Esme {
    /// Binds to `addr`; a refused bind gives its status.
    pub async fn bind(
        addr: SocketAddr,
        kind: BindKind,
        system_id: &str,
        password: &str,
    ) -> Result<Esme, CommandStatus> {
        Self::bind_into(addr, kind, system_id, password, Arc::default()).await
    }

    /// Binds from the local address `local` (such as 127.0.0.2, another source on the
    /// loopback); a refused bind gives its status.
    pub async fn bind_from(
        local: IpAddr,
        addr: SocketAddr,
        kind: BindKind,
        system_id: &str,
        password: &str,
    ) -> Result<Esme, CommandStatus> {
        Self::bind_over(Some(local), addr, kind, system_id, password, Arc::default()).await
    }

    /// Binds and records deliveries in `inbox` (shared with earlier binds).
    pub async fn bind_into(
        addr: SocketAddr,
        kind: BindKind,
        system_id: &str,
        password: &str,
        inbox: Arc<Inbox>,
    ) -> Result<Esme, CommandStatus> {
        Self::bind_over(None, addr, kind, system_id, password, inbox).await
    }

    async fn bind_over(
        local: Option<IpAddr>,
        addr: SocketAddr,
        kind: BindKind,
        system_id: &str,
        password: &str,
        inbox: Arc<Inbox>,
    ) -> Result<Esme, CommandStatus> {
        let connect = async {
            match local {
                Some(local) => {
                    let socket = match local {
                        IpAddr::V4(_) => TcpSocket::new_v4(),
                        IpAddr::V6(_) => TcpSocket::new_v6(),
                    }?;
                    socket.bind(SocketAddr::new(local, 0))?;
                    socket.connect(addr).await
                }
                None => TcpStream::connect(addr).await,
            }
        };
        let mut stream = tokio::time::timeout(WAIT, connect)
            .await
            .expect("connect in time")
            .expect("connect");
        let _ = stream.set_nodelay(true);
        let decoder = Decoder::new(1024 * 1024);
        let mut out = BytesMut::new();
        codec::encode(
            &Command::new(
                CommandStatus::EsmeRok,
                1,
                bind_pdu(kind, system_id, password),
            ),
            &mut out,
        );
        stream.write_all(&out).await.expect("write the bind");
        let mut buffer = BytesMut::with_capacity(8192);
        let response = tokio::time::timeout(WAIT, read_command(&mut stream, &mut buffer, &decoder))
            .await
            .expect("bind response in time")
            .expect("a bind response");
        let Inbound::Command(response) = response else {
            panic!("bind response did not decode: {response:?}");
        };
        assert_eq!(response.sequence_number(), 1);
        if response.status() != CommandStatus::EsmeRok {
            return Err(response.status());
        }
        let (read, mut write) = stream.into_split();
        let (writes, mut to_write) = mpsc::unbounded_channel::<Command>();
        tokio::spawn(async move {
            let mut out = BytesMut::new();
            while let Some(command) = to_write.recv().await {
                out.clear();
                codec::encode(&command, &mut out);
                if write.write_all(&out).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let esme = Esme {
            writes: writes.clone(),
            next_sequence: AtomicU32::new(2),
            waiters: Waiters::default(),
            closed: Arc::default(),
            inbox,
        };
        tokio::spawn(read_loop(
            read,
            buffer,
            decoder,
            writes,
            esme.waiters.clone(),
            esme.closed.clone(),
            esme.inbox.clone(),
        ));
        Ok(esme)
    }

    /// Binds and panics if the bind is refused.
    pub async fn connect(
        addr: SocketAddr,
        kind: BindKind,
        system_id: &str,
        password: &str,
    ) -> Esme {
        Self::bind(addr, kind, system_id, password)
            .await
            .unwrap_or_else(|status| panic!("bind of {system_id} refused: {status:?}"))
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Sends a request and waits (at most [`WAIT`]) for its response.
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Command, Lost> {
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().unwrap().insert(sequence, tx);
        if self.is_closed() {
            return Err(Lost);
        }
        let command = Command::new(CommandStatus::EsmeRok, sequence, pdu.into());
        self.writes.send(command).map_err(|_| Lost)?;
        match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(Lost),
            Err(_) => panic!("no response to request {sequence} within {WAIT:?}"),
        }
    }

    pub async fn submit(&self, pdu: SubmitSm) -> Result<Outcome, Lost> {
        let response = self.request(pdu).await?;
        if response.status() != CommandStatus::EsmeRok {
            return Ok(Outcome::Refused(response.status()));
        }
        match response.pdu() {
            Some(Pdu::SubmitSmResp(resp)) => {
                Ok(Outcome::Accepted(resp.message_id().as_str().to_owned()))
            }
            other => panic!("not a submit_sm_resp: {other:?}"),
        }
    }

    /// Submits and returns the message id; panics unless the submit is accepted.
    pub async fn submit_ok(&self, pdu: SubmitSm) -> String {
        match self.submit(pdu).await {
            Ok(Outcome::Accepted(id)) => id,
            other => panic!("submit not accepted: {other:?}"),
        }
    }

    /// Submits and returns the status of the refusal; panics if it is accepted.
    pub async fn submit_refused(&self, pdu: SubmitSm) -> CommandStatus {
        match self.submit(pdu).await {
            Ok(Outcome::Refused(status)) => status,
            other => panic!("submit not refused: {other:?}"),
        }
    }

    /// Unbinds and waits for the node's unbind_resp.
    pub async fn unbind(self) {
        if let Ok(response) = self.request(Pdu::Unbind).await {
            assert_eq!(response.id(), CommandId::UnbindResp);
        }
    }
}

async fn read_loop(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut buffer: BytesMut,
    decoder: Decoder,
    writes: mpsc::UnboundedSender<Command>,
    waiters: Waiters,
    closed: Arc<AtomicBool>,
    inbox: Arc<Inbox>,
) {
    while let Some(inbound) = read_command(&mut read, &mut buffer, &decoder).await {
        let command = match inbound {
            Inbound::Command(command) => command,
            Inbound::Rejected { header, status, .. } => {
                let _ = writes.send(codec::error_response(&header, status));
                continue;
            }
        };
        let sequence = command.sequence_number();
        if codec::is_response(u32::from(command.id())) {
            if let Some(waiter) = waiters.lock().unwrap().remove(&sequence) {
                let _ = waiter.send(command);
            }
            continue;
        }
        let response = match command.pdu() {
            Some(Pdu::DeliverSm(deliver)) => {
                inbox.push(Delivered::from_pdu(deliver));
                Command::new(CommandStatus::EsmeRok, sequence, DeliverSmResp::default())
            }
            Some(Pdu::EnquireLink) => {
                Command::new(CommandStatus::EsmeRok, sequence, Pdu::EnquireLinkResp)
            }
            Some(Pdu::Unbind) => {
                let _ = writes.send(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::UnbindResp,
                ));
                break;
            }
            _ => tern_smpp::session::error_response(
                command.id(),
                sequence,
                CommandStatus::EsmeRinvcmdid,
            ),
        };
        let _ = writes.send(response);
    }
    closed.store(true, Ordering::Release);
    // Dropping the waiters tells every outstanding request that its answer is lost.
    waiters.lock().unwrap().clear();
}
