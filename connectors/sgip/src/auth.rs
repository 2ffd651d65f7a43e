//! Checking a Bind, and building one.
//!
//! SGIP authenticates with a plain login name and password in the Bind (SGIP 1.2
//! §4.2.3.1): no digest and no timestamp, so the link itself must be trusted (a private
//! line or TLS) for the password to stay secret. The server compares both in constant
//! time, over the full field width, so neither how much of a guess matched nor the length
//! of the expected values shows in the time a refusal takes.
//!
//! The login type says who connects to whom: a gateway's server takes type 1 from its SPs
//! and type 2 from an operator's SMG that delivers MOs and reports; the server passes the
//! types a listener accepts.

use crate::codec::fields::{check_text, field};
use crate::codec::{result, Bind, EncodeError, LoginType, LOGIN_LEN};

/// Why a Bind is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BindRefusal {
    /// A reserved login type, or one this listener does not take.
    #[error("login type {0} is not accepted here")]
    LoginType(u8),
    /// The login name or the password is wrong.
    #[error("login name or password is wrong")]
    Credentials,
}

impl BindRefusal {
    /// The Bind_Resp result: 4 for the login type, 1 for the credentials.
    pub fn result(&self) -> u8 {
        match self {
            BindRefusal::LoginType(_) => result::BAD_LOGIN_TYPE,
            BindRefusal::Credentials => result::ILLEGAL_LOGIN,
        }
    }
}

/// The login type of `bind` if it is one of `accepted`.
pub fn check_login_type(bind: &Bind, accepted: &[LoginType]) -> Result<LoginType, BindRefusal> {
    LoginType::from_value(bind.login_type)
        .filter(|login_type| accepted.contains(login_type))
        .ok_or(BindRefusal::LoginType(bind.login_type))
}

/// Whether `bind` carries `login_name` and `password`, compared in constant time. Expected
/// values longer than the 16-octet fields never match.
pub fn verify_credentials(bind: &Bind, login_name: &str, password: &str) -> bool {
    let names = constant_time_eq(bind.login_name.as_bytes(), login_name.as_bytes());
    let passwords = constant_time_eq(bind.login_password.as_bytes(), password.as_bytes());
    names & passwords
}

/// The login type, then the credentials: what a server answers a Bind with. On success,
/// the login type the link was opened with.
pub fn check_bind(
    bind: &Bind,
    accepted: &[LoginType],
    login_name: &str,
    password: &str,
) -> Result<LoginType, BindRefusal> {
    let login_type = check_login_type(bind, accepted)?;
    if verify_credentials(bind, login_name, password) {
        Ok(login_type)
    } else {
        Err(BindRefusal::Credentials)
    }
}

/// The Bind a client sends, or which field does not fit.
pub fn bind(login_type: LoginType, login_name: &str, password: &str) -> Result<Bind, EncodeError> {
    check_text(login_name, LOGIN_LEN, field!("Login Name"))?;
    check_text(password, LOGIN_LEN, field!("Login Password"))?;
    Ok(Bind {
        login_type: login_type.value(),
        login_name: login_name.to_owned(),
        login_password: password.to_owned(),
        reserve: String::new(),
    })
}

/// Equality of two values of at most [`LOGIN_LEN`] octets, in time that depends on neither:
/// both are compared as NUL-padded fields, with their lengths folded in.
fn constant_time_eq(got: &[u8], expected: &[u8]) -> bool {
    let padded = |value: &[u8]| {
        let mut field = [0u8; LOGIN_LEN];
        for (slot, byte) in field.iter_mut().zip(value) {
            *slot = *byte;
        }
        field
    };
    let (a, b) = (padded(got), padded(expected));
    let fields = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y));
    // Lengths differ also when one value is longer than the field and the rest is equal.
    let lengths = (got.len() ^ expected.len()) | usize::from(expected.len() > LOGIN_LEN);
    fields == 0 && lengths == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &[LoginType] = &[LoginType::SpToSmg, LoginType::SmgToSp];

    fn sp_bind(name: &str, password: &str) -> Bind {
        bind(LoginType::SpToSmg, name, password).expect("fits")
    }

    #[test]
    fn the_right_credentials_bind() {
        let b = sp_bind("sp001", "secret");
        assert_eq!(
            check_bind(&b, SERVER, "sp001", "secret"),
            Ok(LoginType::SpToSmg)
        );
    }

    #[test]
    fn wrong_credentials_are_an_illegal_login() {
        let b = sp_bind("sp001", "secret");
        for (name, password) in [
            ("sp001", "Secret"),
            ("sp002", "secret"),
            ("sp001", "secret\0"),
            ("sp001", "secre"),
            ("sp001", ""),
            ("sp001", "secretsecretsecretsecret"),
        ] {
            let refusal = check_bind(&b, SERVER, name, password).expect_err(password);
            assert_eq!(refusal, BindRefusal::Credentials);
            assert_eq!(refusal.result(), result::ILLEGAL_LOGIN);
        }
        let full = sp_bind("1234567890123456", "1234567890123456");
        assert!(verify_credentials(
            &full,
            "1234567890123456",
            "1234567890123456"
        ));
        assert!(!verify_credentials(
            &full,
            "1234567890123456",
            "12345678901234567"
        ));
    }

    #[test]
    fn login_types_are_checked_first() {
        let mut b = sp_bind("sp001", "wrong");
        b.login_type = 3;
        assert_eq!(
            check_bind(&b, SERVER, "sp001", "secret"),
            Err(BindRefusal::LoginType(3))
        );
        b.login_type = 7;
        let refusal = check_bind(&b, SERVER, "sp001", "secret").expect_err("reserved");
        assert_eq!(refusal.result(), result::BAD_LOGIN_TYPE);
        b.login_type = 2;
        b.login_password = "secret".into();
        assert_eq!(
            check_bind(&b, SERVER, "sp001", "secret"),
            Ok(LoginType::SmgToSp)
        );
        assert_eq!(
            check_bind(&b, &[LoginType::SpToSmg], "sp001", "secret"),
            Err(BindRefusal::LoginType(2))
        );
    }

    #[test]
    fn a_bind_that_does_not_fit_is_refused() {
        assert!(matches!(
            bind(LoginType::SpToSmg, "x", &"p".repeat(17)),
            Err(EncodeError::TooLong {
                field: "Login Password",
                ..
            })
        ));
        assert!(matches!(
            bind(LoginType::SpToSmg, "名字", "p"),
            Err(EncodeError::NotAscii {
                field: "Login Name"
            })
        ));
    }
}
