//! The connections of a run in the protocol it speaks, and a task per connection.

use std::sync::Arc;

use tern_smpp::net::LinkState;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bind::{self, BindOutcome};
use super::http::{self, DlrListener, HttpTarget};
use super::sp::SpLinks;
use super::Run;

pub(crate) enum Links {
    Smpp(
        Vec<(
            tern_smpp::net::Client,
            mpsc::Receiver<tern_smpp::net::ClientEvent>,
        )>,
    ),
    /// An SP's connections over CMPP or SGIP.
    Sp(Box<dyn SpLinks>),
    /// HTTP clients, one per bind, and the endpoint receipts come back to when asked for.
    Http {
        target: HttpTarget,
        clients: Vec<reqwest::Client>,
        dlr: Option<DlrListener>,
    },
}

impl Links {
    /// Connections bound.
    pub(crate) fn up(&self) -> usize {
        match self {
            Links::Smpp(links) => links
                .iter()
                .filter(|(client, _)| client.state() == LinkState::Up)
                .count(),
            Links::Sp(links) => links.up(),
            // Connections open with the first request and stay open.
            Links::Http { clients, .. } => clients.len(),
        }
    }

    /// A task per connection, each ending with what it did (over HTTP and SGIP, one more:
    /// the receipt endpoint or listener).
    pub(crate) fn spawn(self, run: &Arc<Run>, t0: Instant) -> Vec<JoinHandle<BindOutcome>> {
        match self {
            Links::Smpp(links) => links
                .into_iter()
                .enumerate()
                .map(|(i, (client, events))| {
                    tokio::spawn(bind::run(run.clone(), i, client, events, t0))
                })
                .collect(),
            Links::Sp(links) => links.spawn(run),
            Links::Http {
                target,
                clients,
                dlr,
            } => {
                let base = dlr.as_ref().map(|dlr| dlr.base().to_owned());
                let mut tasks: Vec<_> = clients
                    .into_iter()
                    .enumerate()
                    .map(|(i, client)| {
                        tokio::spawn(http::run(
                            run.clone(),
                            target.clone(),
                            i,
                            client,
                            base.clone(),
                            t0,
                        ))
                    })
                    .collect();
                if let Some(dlr) = dlr {
                    tasks.push(tokio::spawn(http::serve_receipts(run.clone(), dlr)));
                }
                tasks
            }
        }
    }
}
