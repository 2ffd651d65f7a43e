//! Which PDU is legal in which bind (SMPP 3.4 §2.3, SMPP 5.0 §2.4), and the error responses
//! a session sends on its own.

use rusmpp::types::COctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use super::Role;
use crate::codec::Header;

/// The three kinds of bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindKind {
    Transmitter,
    Receiver,
    Transceiver,
}

impl BindKind {
    pub fn from_command_id(id: CommandId) -> Option<Self> {
        match id {
            CommandId::BindTransmitter | CommandId::BindTransmitterResp => Some(Self::Transmitter),
            CommandId::BindReceiver | CommandId::BindReceiverResp => Some(Self::Receiver),
            CommandId::BindTransceiver | CommandId::BindTransceiverResp => Some(Self::Transceiver),
            _ => None,
        }
    }

    /// Whether the ESME of this bind may submit messages.
    pub fn can_submit(self) -> bool {
        matches!(self, Self::Transmitter | Self::Transceiver)
    }

    /// Whether the ESME of this bind receives deliver_sm (MO and receipts).
    pub fn can_receive(self) -> bool {
        matches!(self, Self::Receiver | Self::Transceiver)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transmitter => "transmitter",
            Self::Receiver => "receiver",
            Self::Transceiver => "transceiver",
        }
    }
}

/// Requests that carry or concern a message: they count against the windows and the
/// application answers them. Session requests (enquire_link, unbind) do not.
pub fn is_message_request(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::SubmitSm
            | CommandId::SubmitMulti
            | CommandId::DeliverSm
            | CommandId::DataSm
            | CommandId::QuerySm
            | CommandId::CancelSm
            | CommandId::ReplaceSm
            | CommandId::BroadcastSm
            | CommandId::QueryBroadcastSm
            | CommandId::CancelBroadcastSm
    )
}

/// Requests that have no response at all (SMPP 3.4 §4.1.7, §4.12.1).
pub fn expects_no_response(id: CommandId) -> bool {
    matches!(id, CommandId::AlertNotification | CommandId::Outbind)
}

/// Whether `sender` may send request `id` in a bind of `kind`.
pub fn request_allowed(sender: Role, kind: BindKind, id: CommandId) -> bool {
    if matches!(id, CommandId::EnquireLink | CommandId::Unbind) {
        return true;
    }
    match sender {
        // The ESME.
        Role::Client => {
            kind.can_submit()
                && matches!(
                    id,
                    CommandId::SubmitSm
                        | CommandId::SubmitMulti
                        | CommandId::DataSm
                        | CommandId::QuerySm
                        | CommandId::CancelSm
                        | CommandId::ReplaceSm
                        | CommandId::BroadcastSm
                        | CommandId::QueryBroadcastSm
                        | CommandId::CancelBroadcastSm
                )
        }
        // The SMSC.
        Role::Server => {
            kind.can_receive()
                && matches!(
                    id,
                    CommandId::DeliverSm | CommandId::DataSm | CommandId::AlertNotification
                )
        }
    }
}

/// The response to request `id` with an error status: the codec's body-less `_resp`
/// (or generic_nack for a request without a response).
pub fn error_response(id: CommandId, sequence_number: u32, status: CommandStatus) -> Command {
    let header = Header {
        command_length: crate::codec::HEADER_LEN as u32,
        command_id: u32::from(id),
        command_status: 0,
        sequence_number,
    };
    crate::codec::error_response(&header, status)
}

/// The interface_version of a bind request.
pub fn bind_interface_version(command: &Command) -> u8 {
    let version = match command.pdu() {
        Some(Pdu::BindTransmitter(b)) => b.interface_version,
        Some(Pdu::BindReceiver(b)) => b.interface_version,
        Some(Pdu::BindTransceiver(b)) => b.interface_version,
        _ => return 0,
    };
    u8::from(version)
}

/// The sc_interface_version TLV of a bind response, if present.
pub fn bind_resp_interface_version(command: &Command) -> Option<u8> {
    let version = match command.pdu()? {
        Pdu::BindTransmitterResp(r) => r.sc_interface_version(),
        Pdu::BindReceiverResp(r) => r.sc_interface_version(),
        Pdu::BindTransceiverResp(r) => r.sc_interface_version(),
        _ => None,
    };
    version.map(u8::from)
}

/// SMPP 3.3, 3.4 and 5.0 binds are accepted. Older ESMEs that send 0x00 speak 3.3 or
/// earlier in practice and are accepted as 3.3.
pub fn accepted_interface_version(version: u8) -> bool {
    matches!(version, 0x00 | 0x33 | 0x34 | 0x50)
}

/// A C-octet string from text: cut to the field's size, non-ASCII replaced by `?`, so that
/// text of ours always fits the wire.
pub fn c_octet<const MIN: usize, const MAX: usize>(text: &str) -> COctetString<MIN, MAX> {
    let mut bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b.is_ascii() && b != 0 { b } else { b'?' })
        .take(MAX.saturating_sub(1))
        .collect();
    bytes.push(0);
    COctetString::from_vec(bytes).unwrap_or_else(|_| COctetString::empty())
}
