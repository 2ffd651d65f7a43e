//! One pipeline session per account on this node, started by its first request (or, for
//! an account with a callback, by the node at start) and kept: the HTTP API has no bind,
//! so the session stands for the account's API on this node. It submits the account's
//! messages and is the bind its receipts and MO are delivered on ([`HttpLink`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ractor::{ActorRef, ActorStatus};
use tern_actors::accounts::{Account, Accounts};
use tern_actors::session::SessionMsg;
use tokio::sync::Mutex;

use crate::callback::HttpLink;
use crate::error::ApiError;

/// Sessions of the accounts, by account id.
pub struct AccountSessions {
    sessions: tern_actors::Sessions,
    client: reqwest::Client,
    live: Mutex<HashMap<String, ActorRef<SessionMsg>>>,
}

impl AccountSessions {
    pub fn new(sessions: tern_actors::Sessions, client: reqwest::Client) -> Self {
        Self {
            sessions,
            client,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub fn pipeline(&self) -> &tern_actors::Sessions {
        &self.sessions
    }

    pub fn accounts(&self) -> &Accounts {
        &self.sessions.ctx.accounts
    }

    /// The session of `account`, started if it has none (or its last one stopped).
    pub async fn of(
        &self,
        account: &Arc<Account>,
        peer: IpAddr,
    ) -> Result<ActorRef<SessionMsg>, ApiError> {
        let mut live = self.live.lock().await;
        if let Some(session) = live.get(&account.id) {
            if matches!(
                session.get_status(),
                ActorStatus::Running | ActorStatus::Starting
            ) {
                return Ok(session.clone());
            }
            live.remove(&account.id);
        }
        let link = HttpLink::new(&account.id, self.accounts().clone(), self.client.clone());
        let slot = Accounts::api_slot(account.clone(), peer);
        let Some(session) = self.sessions.start(slot, Arc::new(link.clone())).await else {
            return Err(ApiError::throttled(
                "the gateway is restarting: retry later",
            ));
        };
        let _ = link.session.set(session.clone());
        live.insert(account.id.clone(), session.clone());
        Ok(session)
    }

    /// Starts the sessions of the accounts that have a callback and none yet, so that what
    /// is held for them is delivered without waiting for a request; ends those of accounts
    /// that are gone.
    pub async fn keep_receivers(&self, local: IpAddr) {
        let accounts = self.accounts().clone();
        for id in accounts.ids() {
            let Some(account) = accounts.get(&id) else {
                continue;
            };
            let policy = account.policy();
            let running = {
                let live = self.live.lock().await;
                live.get(&id).is_some_and(|s| {
                    matches!(s.get_status(), ActorStatus::Running | ActorStatus::Starting)
                })
            };
            if policy.enabled && policy.callback.is_some() && !running {
                if let Err(error) = self.of(&account, local).await {
                    tracing::debug!(
                        account = id,
                        error = error.message,
                        "callback session not started"
                    );
                }
            }
        }
        let mut live = self.live.lock().await;
        live.retain(|id, session| {
            let keep = accounts.get(id).is_some();
            if !keep {
                let _ = session.cast(SessionMsg::Closed("account removed".into()));
            }
            keep
        });
    }
}
