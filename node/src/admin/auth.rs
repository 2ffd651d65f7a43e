//! The bearer token check in front of every admin call, reflection included.
//!
//! The token is kept as its SHA-256 digest and a presented token is hashed before the
//! comparison, so the comparison takes the same time whatever the presented token
//! shares with the real one. The audit trail names the token by the first six hex
//! digits of that digest: enough to tell two tokens apart, useless to an attacker.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::service::Interceptor;
use tonic::{Request, Status};

#[derive(Clone)]
pub(super) struct Token {
    digest: Arc<[u8; 32]>,
}

impl Token {
    pub(super) fn new(token: &str) -> Self {
        Self {
            digest: Arc::new(Sha256::digest(token.as_bytes()).into()),
        }
    }

    /// The `who` of the audit records of changes made with this token.
    pub(super) fn who(&self) -> String {
        let hex: String = self.digest[..3]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("token:{hex}")
    }

    fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl Interceptor for Token {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(value) = request.metadata().get("authorization") else {
            return Err(Status::unauthenticated(
                "missing authorization: Bearer <token>",
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization is not Bearer <token>"))?;
        if self.accepts(presented.trim()) {
            Ok(request)
        } else {
            Err(Status::unauthenticated("wrong token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(token: &mut Token, header: Option<&str>) -> Result<(), tonic::Code> {
        let mut request = Request::new(());
        if let Some(header) = header {
            request
                .metadata_mut()
                .insert("authorization", header.parse().unwrap());
        }
        token.call(request).map(|_| ()).map_err(|s| s.code())
    }

    #[test]
    fn only_the_right_bearer_token_passes() {
        let mut token = Token::new("s3cret");
        assert_eq!(call(&mut token, Some("Bearer s3cret")), Ok(()));
        let refused = Err(tonic::Code::Unauthenticated);
        assert_eq!(call(&mut token, Some("Bearer s3cre")), refused);
        assert_eq!(call(&mut token, Some("Basic s3cret")), refused);
        assert_eq!(call(&mut token, Some("s3cret")), refused);
        assert_eq!(call(&mut token, None), refused);
    }

    #[test]
    fn who_names_the_token_by_a_digest_prefix() {
        // sha256("s3cret") = 1ec1c26b...
        assert_eq!(Token::new("s3cret").who(), "token:1ec1c2");
        assert_ne!(Token::new("s3cret").who(), Token::new("other").who());
    }
}
