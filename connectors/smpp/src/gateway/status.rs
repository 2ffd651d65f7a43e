//! The SMPP statuses of the pipeline's refusals, and the verdicts of an SMSC's statuses.

use tern_actors::accounts::BindRefusal;
use tern_actors::link::Verdict;
use tern_model::Rejection;

use crate::CommandStatus;

/// The command_status a customer's submit is refused with.
pub fn status_for(rejection: Rejection) -> CommandStatus {
    match rejection {
        Rejection::Throttled => CommandStatus::EsmeRthrottled,
        Rejection::InvalidDestination => CommandStatus::EsmeRinvdstadr,
        Rejection::InvalidSource => CommandStatus::EsmeRinvsrcadr,
        Rejection::NotAllowed => CommandStatus::EsmeRsubmitfail,
        Rejection::CannotSplit => CommandStatus::EsmeRinvmsglen,
        Rejection::Malformed => CommandStatus::EsmeRinvmsglen,
        Rejection::SystemError => CommandStatus::EsmeRsyserr,
    }
}

/// The bind_resp status of a refused bind: a lockout reads as any other bind failure
/// (0x0D), so that it tells a guesser nothing about the password.
pub fn bind_status(refusal: BindRefusal) -> CommandStatus {
    match refusal {
        BindRefusal::UnknownAccount => CommandStatus::EsmeRinvsysid,
        BindRefusal::BadPassword => CommandStatus::EsmeRinvpaswd,
        BindRefusal::LockedOut(_) | BindRefusal::NotAllowed => CommandStatus::EsmeRbindfail,
    }
}

/// How a submit_sm_resp status is handled: throttling, queue-full and system errors pass;
/// the rest describe the message itself and fail it (SMPP 3.4 §5.1.3).
pub fn verdict(status: CommandStatus) -> Verdict {
    match status {
        CommandStatus::EsmeRok => Verdict::Accepted,
        CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful => Verdict::Throttled,
        CommandStatus::EsmeRsyserr
        | CommandStatus::EsmeRxTAppn
        | CommandStatus::EsmeRsubmitfail
        | CommandStatus::EsmeRunknownerr
        | CommandStatus::EsmeRdeliveryfailure
        | CommandStatus::EsmeRinvbndsts => Verdict::Transient,
        _ => Verdict::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_into_verdicts() {
        assert_eq!(verdict(CommandStatus::EsmeRok), Verdict::Accepted);
        assert_eq!(verdict(CommandStatus::EsmeRthrottled), Verdict::Throttled);
        assert_eq!(verdict(CommandStatus::EsmeRmsgqful), Verdict::Throttled);
        assert_eq!(verdict(CommandStatus::EsmeRsyserr), Verdict::Transient);
        assert_eq!(verdict(CommandStatus::EsmeRinvdstadr), Verdict::Permanent);
        assert_eq!(verdict(CommandStatus::EsmeRxPAppn), Verdict::Permanent);
    }

    #[test]
    fn every_refusal_has_an_error_status() {
        for rejection in [
            Rejection::Throttled,
            Rejection::InvalidDestination,
            Rejection::InvalidSource,
            Rejection::NotAllowed,
            Rejection::CannotSplit,
            Rejection::Malformed,
            Rejection::SystemError,
        ] {
            assert_ne!(
                status_for(rejection),
                CommandStatus::EsmeRok,
                "{rejection:?}"
            );
        }
    }
}
