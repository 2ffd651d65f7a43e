//! Why a frame's body was refused, and which `command_status` that earns (table in the
//! module doc of `codec`).

use rusmpp::decode::{DecodeError, DecodeErrorKind};
use rusmpp::fields::SmppField;
use rusmpp::CommandStatus;

/// A body that could not be decoded. The frame boundary was sound, so the session answers
/// with the status and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeFailure {
    #[error("command_id {command_id:#010x} is not an SMPP 3.4 or 5.0 operation")]
    UnknownCommandId { command_id: u32 },
    #[error("command_id {command_id:#010x} needs a body and none was sent")]
    MissingBody { command_id: u32 },
    #[error("{count} octets follow the last field of the body")]
    TrailingBytes { count: usize },
    #[error("TLV {tag:#06x} declares {declared} octets but its value takes {actual}")]
    TlvLength {
        tag: u16,
        declared: u16,
        actual: usize,
    },
    #[error("TLV {tag:#06x} has reserved bits set or a value that would not be relayed unchanged")]
    TlvValue { tag: u16 },
    /// `field` is the path rusmpp reported, outermost first (`tlvs.value`, `short_message`).
    #[error("field {field}: {detail}")]
    Field { field: String, detail: String },
    #[error("malformed body: {detail}")]
    Malformed { detail: String },
}

/// How a field's failure is answered when it is not a plain truncation.
fn field_status(field: SmppField) -> Option<CommandStatus> {
    use SmppField as F;
    Some(match field {
        F::short_message | F::sm_length => CommandStatus::EsmeRinvmsglen,
        F::source_addr | F::address_range => CommandStatus::EsmeRinvsrcadr,
        F::destination_addr | F::dest_address | F::dl_name | F::esme_addr => {
            CommandStatus::EsmeRinvdstadr
        }
        F::system_id => CommandStatus::EsmeRinvsysid,
        F::password => CommandStatus::EsmeRinvpaswd,
        F::system_type => CommandStatus::EsmeRinvsystyp,
        F::service_type => CommandStatus::EsmeRinvsertyp,
        F::message_id => CommandStatus::EsmeRinvmsgid,
        F::schedule_delivery_time => CommandStatus::EsmeRinvsched,
        F::validity_period => CommandStatus::EsmeRinvexpiry,
        _ => return None,
    })
}

/// Fields that are themselves one TLV or a list of them.
fn is_tlv_field(field: SmppField) -> bool {
    matches!(
        field,
        SmppField::tlvs
            | SmppField::sc_interface_version
            | SmppField::ms_availability_status
            | SmppField::message_payload
            | SmppField::user_message_reference
    )
}

/// The chain of fields rusmpp reported, outermost first.
fn field_path(error: &DecodeError) -> Vec<SmppField> {
    let mut path = Vec::new();
    let mut next = error.source();
    while let Some(source) = next {
        path.push(source.field());
        next = source.error().source();
    }
    path
}

fn path_name(path: &[SmppField]) -> String {
    path.iter()
        .map(|field| format!("{field:?}"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Classifies a rusmpp body decode error.
pub(crate) fn classify(error: &DecodeError) -> (CommandStatus, DecodeFailure) {
    let kind = error.kind();
    let path = field_path(error);
    let detail = kind.to_string();
    let truncated = matches!(kind, DecodeErrorKind::UnexpectedEof);

    let Some(&outer) = path.first() else {
        let status = if truncated {
            CommandStatus::EsmeRinvcmdlen
        } else {
            CommandStatus::EsmeRsyserr
        };
        return (status, DecodeFailure::Malformed { detail });
    };

    let status = if is_tlv_field(outer) {
        match path.get(1) {
            // SMPP 5.0 §4.8.4.x: a value that runs past the body, or an octet string outside
            // its size range, is a length problem; anything else about the value is a value
            // problem.
            Some(SmppField::value) => match kind {
                DecodeErrorKind::UnexpectedEof | DecodeErrorKind::OctetStringDecodeError(_) => {
                    CommandStatus::EsmeRinvtlvlen
                }
                _ => CommandStatus::EsmeRinvtlvval,
            },
            // The 4-octet tag/length header itself is cut off.
            _ => CommandStatus::EsmeRinvtlvstream,
        }
    } else {
        match field_status(outer) {
            // A cut-off short_message is still a message length problem: sm_length lied.
            Some(status) if outer == SmppField::short_message => status,
            // Any other field cut off means the body is shorter than its mandatory fields.
            _ if truncated => CommandStatus::EsmeRinvcmdlen,
            Some(status) => status,
            None => CommandStatus::EsmeRsyserr,
        }
    };

    let failure = DecodeFailure::Field {
        field: path_name(&path),
        detail,
    };
    (status, failure)
}
