//! The one error shape of the JSON API: `{"error": {"code", "message", "field"}}`, with a
//! stable `code` per kind of refusal and the HTTP status that goes with it. Throttling is
//! 429 with `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tern_actors::accounts::BindRefusal;
use tern_model::Rejection;
use utoipa::ToSchema;

/// Seconds a throttled client is asked to wait.
pub const RETRY_AFTER_SECS: u32 = 1;

/// A refused request: its status, stable code, message and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What was wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `unauthorized`, `forbidden`, `locked_out`,
    /// `invalid_request`, `invalid_destination`, `invalid_source`, `message_too_long`,
    /// `not_allowed`, `throttled`, `not_found`, `not_cancellable`,
    /// `idempotency_key_in_use`, `idempotency_key_reused`, `payload_too_large`,
    /// `system_error`.
    pub code: String,
    /// For people; may change between releases.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A request field that is missing or wrong.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message).at(field)
    }

    pub fn at(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn throttled(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", message)
    }

    /// The refusal of a message by the pipeline, as the SMPP path refuses it.
    pub fn rejection(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Throttled => {
                Self::throttled("too many requests or the gateway is busy: retry later")
            }
            Rejection::InvalidDestination => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_destination",
                "the destination is not a number, or no route leads to it",
            )
            .at("to"),
            Rejection::InvalidSource => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_source",
                "the sender is not valid, or not one this account may send from",
            )
            .at("from"),
            Rejection::NotAllowed => Self::new(
                StatusCode::FORBIDDEN,
                "not_allowed",
                "the account may not send this: disabled, over its quota or out of credit",
            ),
            Rejection::CannotSplit => Self::new(
                StatusCode::BAD_REQUEST,
                "message_too_long",
                "the message does not fit the parts the operator takes",
            )
            .at("text"),
            Rejection::Malformed => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the message is not valid",
            ),
            Rejection::SystemError => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "system_error",
                "the gateway failed to take the message; it was not accepted",
            ),
        }
    }

    /// A refused credential.
    pub fn refused(refusal: BindRefusal) -> Self {
        match refusal {
            BindRefusal::LockedOut(_) => Self::new(
                StatusCode::FORBIDDEN,
                "locked_out",
                "too many failed logins from this address or for this account: wait and retry",
            ),
            BindRefusal::NotAllowed => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the account is disabled or this address is not allowed",
            ),
            _ => Self::unauthorized("unknown or wrong credentials"),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
                field: self.field.map(str::to_owned),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tern\""),
            );
        }
        metrics::counter!("tern_http_errors_total", "code" => self.code).increment(1);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_has_a_code_and_a_client_or_retry_status() {
        for rejection in [
            Rejection::Throttled,
            Rejection::InvalidDestination,
            Rejection::InvalidSource,
            Rejection::NotAllowed,
            Rejection::CannotSplit,
            Rejection::Malformed,
            Rejection::SystemError,
        ] {
            let error = ApiError::rejection(rejection);
            assert!(!error.code.is_empty());
            let expected_server = rejection == Rejection::SystemError;
            assert_eq!(
                error.status.is_server_error(),
                expected_server,
                "{rejection:?}"
            );
        }
        let throttled = ApiError::rejection(Rejection::Throttled).into_response();
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "1");
    }
}
