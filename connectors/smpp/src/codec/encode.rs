//! Commands → bytes, and the responses the decoder's rejections call for.

use bytes::{BufMut, BytesMut};
use rusmpp::command::CommandParts;
use rusmpp::encode::owned::Encode;
use rusmpp::encode::Length;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use super::{response_id, Header};

/// Octets `command` takes on the wire, header included.
pub fn encoded_len(command: &Command) -> usize {
    // rusmpp's Command length covers id, status, sequence and body, not command_length.
    4 + command.length()
}

/// Appends `command` to `dst` as one frame. rusmpp sets `command_id` from the PDU, so the id
/// and the body cannot disagree.
pub fn encode(command: &Command, dst: &mut BytesMut) {
    let length = encoded_len(command);
    dst.reserve(length);
    // A body past 4 GiB cannot be built from SMPP fields (every TLV is at most 64 KiB and a
    // PDU holds a bounded number of them), so saturating never happens in practice.
    dst.put_u32(u32::try_from(length).unwrap_or(u32::MAX));
    command.encode(dst);
}

/// `generic_nack` with `status` for the frame with sequence number `sequence_number`
/// (SMPP 3.4 §4.3).
pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Command {
    Command::new(status, sequence_number, Pdu::GenericNack)
}

/// The response owed to a request that was refused with `status`: the request's `_resp`
/// with its sequence number and no body (SMPP 3.4 §4.4.2 and its siblings: "the body is not
/// returned if the command_status field contains a non-zero value"; most SMSCs send
/// submit_sm_resp without a message_id on error, so do we). A request without a response
/// (`outbind`, `alert_notification`), a response or an unknown id gets `generic_nack`.
pub fn error_response(request: &Header, status: CommandStatus) -> Command {
    let Some(resp) = response_id(request.command_id) else {
        return generic_nack(request.sequence_number, status);
    };
    let id = CommandId::from(resp);
    Command::from_parts(CommandParts::new(
        id,
        status,
        request.sequence_number,
        empty_body(id),
    ))
}

/// The body of a response that has no fields at all, so that decoding our own error
/// response gives back the same command.
fn empty_body(id: CommandId) -> Option<Pdu> {
    Some(match id {
        CommandId::UnbindResp => Pdu::UnbindResp,
        CommandId::EnquireLinkResp => Pdu::EnquireLinkResp,
        CommandId::CancelSmResp => Pdu::CancelSmResp,
        CommandId::ReplaceSmResp => Pdu::ReplaceSmResp,
        CommandId::CancelBroadcastSmResp => Pdu::CancelBroadcastSmResp,
        _ => return None,
    })
}
