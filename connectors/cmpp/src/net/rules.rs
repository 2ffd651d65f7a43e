//! Small facts about CMPP commands the session needs: which requests belong to the
//! application, which request a response answers, the results the codec does not
//! name, and bounded metric labels.

use crate::codec::CommandId;
use crate::result;

/// CONNECT_RESP status 5 and up: other errors (the spec numbers none of them).
pub(crate) const CONNECT_OTHER: u32 = 5;
/// SUBMIT_RESP and DELIVER_RESP result 9 and up: other errors.
pub(crate) const RESULT_OTHER: u32 = 9;

/// Requests the application sends through a session and answers from the peer; the
/// session itself owns CONNECT, TERMINATE and ACTIVE_TEST.
pub(crate) fn is_application_request(command: CommandId) -> bool {
    matches!(
        command,
        CommandId::Submit | CommandId::Deliver | CommandId::Query | CommandId::Cancel
    )
}

/// The request a response command answers.
pub(crate) fn request_command(response: CommandId) -> Option<CommandId> {
    if !response.is_response() {
        return None;
    }
    CommandId::from_value(response.value() & 0x7fff_ffff)
}

/// The result a malformed request gets: the decoder names the failing field, and a body
/// that ends inside (or runs past) the content means Msg_Length was wrong.
pub(crate) fn malformed_result(reason: &str) -> u32 {
    if reason.contains("Msg_Length") || reason.contains("Msg_Content") {
        result::BAD_MSG_LENGTH
    } else {
        result::BAD_STRUCTURE
    }
}

/// A bounded metric label for a command.
pub(crate) fn command_name(command: CommandId) -> &'static str {
    match command {
        CommandId::Connect => "connect",
        CommandId::ConnectResp => "connect_resp",
        CommandId::Terminate => "terminate",
        CommandId::TerminateResp => "terminate_resp",
        CommandId::Submit => "submit",
        CommandId::SubmitResp => "submit_resp",
        CommandId::Deliver => "deliver",
        CommandId::DeliverResp => "deliver_resp",
        CommandId::Query => "query",
        CommandId::QueryResp => "query_resp",
        CommandId::Cancel => "cancel",
        CommandId::CancelResp => "cancel_resp",
        CommandId::ActiveTest => "active_test",
        CommandId::ActiveTestResp => "active_test_resp",
    }
}
