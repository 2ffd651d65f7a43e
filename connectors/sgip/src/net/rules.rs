//! Small facts about SGIP commands the session needs: which requests a login type
//! carries, and bounded metric labels.

use crate::codec::{CommandId, LoginType};

/// The application requests a connection of `login_type` carries from the binding side to
/// the accepting side (SGIP 1.2 §4.1): SUBMIT from an SP to the SMG, DELIVER and REPORT
/// from the SMG to an SP. UNBIND belongs to the session; TRACE and the SMG-to-SMG and GNS
/// commands are not served here.
pub(crate) fn carried(login_type: LoginType) -> &'static [CommandId] {
    match login_type {
        LoginType::SpToSmg => &[CommandId::Submit],
        LoginType::SmgToSp => &[CommandId::Deliver, CommandId::Report],
        LoginType::SmgToSmg
        | LoginType::SmgToGns
        | LoginType::GnsToSmg
        | LoginType::GnsToGns
        | LoginType::Test => &[],
    }
}

/// A bounded metric label for a command.
pub(crate) fn command_name(command: CommandId) -> &'static str {
    match command {
        CommandId::Bind => "bind",
        CommandId::BindResp => "bind_resp",
        CommandId::Unbind => "unbind",
        CommandId::UnbindResp => "unbind_resp",
        CommandId::Submit => "submit",
        CommandId::SubmitResp => "submit_resp",
        CommandId::Deliver => "deliver",
        CommandId::DeliverResp => "deliver_resp",
        CommandId::Report => "report",
        CommandId::ReportResp => "report_resp",
        CommandId::Trace => "trace",
        CommandId::TraceResp => "trace_resp",
    }
}

/// A bounded metric label for a login type.
pub(crate) fn login_type_name(login_type: LoginType) -> &'static str {
    match login_type {
        LoginType::SpToSmg => "sp_to_smg",
        LoginType::SmgToSp => "smg_to_sp",
        LoginType::SmgToSmg => "smg_to_smg",
        LoginType::SmgToGns => "smg_to_gns",
        LoginType::GnsToSmg => "gns_to_smg",
        LoginType::GnsToGns => "gns_to_gns",
        LoginType::Test => "test",
    }
}
