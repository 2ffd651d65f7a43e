//! The OpenAPI 3 document of the JSON API, generated from the handlers and types
//! themselves (utoipa), served at `/openapi.json` and committed as `docs/openapi.json`
//! (a test checks that the committed one is the one this build makes).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api, error, rest};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tern HTTP API",
        description = "Send SMS through Tern, follow them, and receive their receipts and replies as signed callbacks.\n\nAuthenticate with an API key of the account (`tern ctl apikey create`), as `Authorization: Bearer <key>` or `X-API-Key: <key>`. A send is answered only once the message is durable, with its id. Every error has the same shape, `{\"error\": {\"code\", \"message\", \"field\"}}`, with a stable `code`. Throttling is 429 with `Retry-After`.\n\nCallbacks: receipts and MO are POSTed as JSON (`Callback`) to the account's callback URL (`tern ctl account callback`), with the header `Tern-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the callback secret>`. A receiver verifies the signature and refuses a timestamp more than five minutes old. Anything but a 2xx answer is retried with backoff (1 s doubling to 30 s) while the gateway holds it durably, until its TTL.",
        version = "1",
    ),
    paths(rest::send, rest::batch, rest::status, rest::cancel, rest::by_reference, rest::balance),
    components(schemas(
        api::SendRequest, api::Encoding, api::Accepted, api::BatchRequest, api::BatchTemplate,
        api::BatchAnswer, api::BatchResult, api::BatchError, api::MessageStatus, api::State,
        api::Step, api::MessageList, api::Cancelled, api::Balance, api::Callback,
        error::ErrorBody, error::ErrorDetail,
    )),
    modifiers(&Security),
    tags(
        (name = "messages", description = "Send and follow messages"),
        (name = "account", description = "The account's balance and use"),
    ),
)]
struct Document;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, as JSON.
pub fn document() -> String {
    Document::openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}

pub(crate) async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}
