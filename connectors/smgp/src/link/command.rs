//! The five commands SMGP 3.0 and CNGP 2.0 both have, with the ids the two number alike,
//! and what each is to the shared session of `tern_cn::session`.

use tern_cn::session::Kind;

/// The commands SMGP 3.0 and CNGP 2.0 both have; a response is the same command with
/// the response bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Login,
    Submit,
    Deliver,
    ActiveTest,
    Exit,
}

/// The bit that makes a request's id its response's.
const RESPONSE_BIT: u32 = 0x8000_0000;

impl Command {
    /// The request's id on the wire: SMGP 3.0 and CNGP 2.0 number these five alike.
    pub fn id(self) -> u32 {
        match self {
            Command::Login => 1,
            Command::Submit => 2,
            Command::Deliver => 3,
            Command::ActiveTest => 4,
            Command::Exit => 6,
        }
    }

    /// The command of a wire id, and whether the id is its response's.
    pub fn from_id(id: u32) -> Option<(Command, bool)> {
        let command = match id & !RESPONSE_BIT {
            1 => Command::Login,
            2 => Command::Submit,
            3 => Command::Deliver,
            4 => Command::ActiveTest,
            6 => Command::Exit,
            _ => return None,
        };
        Some((command, id & RESPONSE_BIT != 0))
    }

    /// What the command is to the session.
    pub fn kind(self) -> Kind {
        match self {
            Command::Login => Kind::Login,
            Command::Submit | Command::Deliver => Kind::Request,
            Command::ActiveTest => Kind::ActiveTest,
            Command::Exit => Kind::Exit,
        }
    }

    /// Requests the application sends and answers; the session owns Login, Active_Test
    /// and Exit.
    pub fn is_application_request(self) -> bool {
        self.kind() == Kind::Request
    }

    /// The body-less request the session sends of `kind`.
    pub fn plain(kind: Kind) -> Option<Command> {
        match kind {
            Kind::ActiveTest => Some(Command::ActiveTest),
            Kind::Exit => Some(Command::Exit),
            Kind::Login | Kind::Request => None,
        }
    }

    /// A bounded metric label.
    pub fn name(self, response: bool) -> &'static str {
        match (self, response) {
            (Command::Login, false) => "login",
            (Command::Login, true) => "login_resp",
            (Command::Submit, false) => "submit",
            (Command::Submit, true) => "submit_resp",
            (Command::Deliver, false) => "deliver",
            (Command::Deliver, true) => "deliver_resp",
            (Command::ActiveTest, false) => "active_test",
            (Command::ActiveTest, true) => "active_test_resp",
            (Command::Exit, false) => "exit",
            (Command::Exit, true) => "exit_resp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_same_in_smgp_and_cngp() {
        for command in [
            Command::Login,
            Command::Submit,
            Command::Deliver,
            Command::ActiveTest,
            Command::Exit,
        ] {
            assert_eq!(Command::from_id(command.id()), Some((command, false)));
            assert_eq!(
                Command::from_id(command.id() | 0x8000_0000),
                Some((command, true))
            );
        }
        assert_eq!(Command::from_id(5), None);
    }
}
