//! The HTTP front end: a JSON REST API (send, batch, status, cancel, balance) under `/v1`
//! authenticated by API keys, signed callbacks for receipts and MO, the OpenAPI document
//! at `/openapi.json`, and drop-in endpoints for clients of Kannel (`/cgi-bin/sendsms`)
//! and Jasmin (`/send`, `/balance`). Every send goes through the same accept path as SMPP
//! and CMPP: one pipeline session per account ([`sessions`]), answered once durable.
//! It knows the pipeline's seams (`tern-actors`) and the store, not the node.

pub mod api;
pub mod callback;
pub mod error;
pub mod escapes;
pub mod idempotency;
mod jasmin;
mod kannel;
pub mod openapi;
pub mod params;
mod rest;
pub mod send;
pub mod sessions;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use tern_actors::accounts::Account;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::sessions::AccountSessions;

/// The protocol's name, as metrics, CDRs and message origins give it.
pub const PROTOCOL: &str = "http";

/// The front end's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Requests handled at once; more are answered 429.
    pub max_in_flight: usize,
    /// How often the sessions of accounts with a callback are checked.
    pub receivers_every: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_in_flight: 4096,
            receivers_every: Duration::from_secs(2),
        }
    }
}

/// What every handler shares.
pub struct HttpFrontend {
    pub(crate) sessions: AccountSessions,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) config: HttpConfig,
}

impl HttpFrontend {
    pub fn new(pipeline: tern_actors::Sessions, config: HttpConfig) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("tern/", env!("CARGO_PKG_VERSION")))
            // The outbox has up to 64 deliveries of an account under way: as many kept
            // connections spare a receiver a new connection per callback.
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        Arc::new(Self {
            sessions: AccountSessions::new(pipeline, client),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
        })
    }

    pub(crate) fn ctx(&self) -> &tern_actors::Context {
        &self.sessions.pipeline().ctx
    }

    /// The account an API key in `headers` (`Authorization: Bearer <key>` or
    /// `X-API-Key: <key>`) belongs to.
    pub(crate) fn by_key(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
    ) -> Result<Arc<Account>, ApiError> {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").map(str::trim));
        let key = bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        let Some(key) = key else {
            return Err(ApiError::unauthorized(
                "an API key is needed: Authorization: Bearer <key>, or X-API-Key",
            ));
        };
        self.sessions
            .accounts()
            .authenticate_key(key, peer)
            .map_err(ApiError::refused)
    }

    /// The account of a username and password (the account's id and password, or an API
    /// key as the password), as Kannel's and Jasmin's clients log in.
    pub(crate) async fn by_password(
        &self,
        username: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<Arc<Account>, ApiError> {
        let accounts = self.sessions.accounts();
        if tern_actors::api_key::id_of(password).is_some() {
            let account = accounts
                .authenticate_key(password, peer)
                .map_err(ApiError::refused)?;
            if account.id != username {
                return Err(ApiError::unauthorized("the key is not this account's"));
            }
            return Ok(account);
        }
        accounts
            .check_password(username, password, peer, PROTOCOL)
            .await
            .map_err(ApiError::refused)
    }
}

/// The routes.
pub fn router(frontend: Arc<HttpFrontend>) -> Router {
    let limit = frontend.config.max_body_bytes;
    Router::new()
        .route("/v1/messages", post(rest::send).get(rest::by_reference))
        .route("/v1/messages/batch", post(rest::batch))
        .route("/v1/messages/{id}", get(rest::status).delete(rest::cancel))
        .route("/v1/balance", get(rest::balance))
        .route("/openapi.json", get(openapi::serve))
        .route(
            "/cgi-bin/sendsms",
            get(kannel::sendsms).post(kannel::sendsms_post),
        )
        .route("/send", get(jasmin::send).post(jasmin::send_post))
        .route("/balance", get(jasmin::balance).post(jasmin::balance_post))
        .fallback(rest::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(frontend)
}

/// Serves until `stop` is cancelled; keeps the sessions of accounts with a callback
/// meanwhile.
pub async fn serve(listener: TcpListener, frontend: Arc<HttpFrontend>, stop: CancellationToken) {
    let local = listener
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let keeper = {
        let (frontend, stop) = (frontend.clone(), stop.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(frontend.config.receivers_every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = every.tick() => frontend.sessions.keep_receivers(local).await,
                }
            }
        })
    };
    let app = router(frontend).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "HTTP server stopped");
    }
    stop.cancel();
    let _ = keeper.await;
}
