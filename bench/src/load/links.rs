//! The connections of a run in the protocol it speaks, and a task per connection.

use std::sync::Arc;

use tern_smpp::net::LinkState;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bind::{self, BindOutcome};
use super::cmpp::{self, CmppTarget};
use super::Run;

pub(crate) enum Links {
    Smpp(
        Vec<(
            tern_smpp::net::Client,
            mpsc::Receiver<tern_smpp::net::ClientEvent>,
        )>,
    ),
    Cmpp(CmppTarget, Vec<cmpp::Link>),
}

impl Links {
    /// Connections bound (SMPP) or connected (CMPP).
    pub(crate) fn up(&self) -> usize {
        match self {
            Links::Smpp(links) => links
                .iter()
                .filter(|(client, _)| client.state() == LinkState::Up)
                .count(),
            Links::Cmpp(_, links) => links.iter().filter(|(client, _)| client.is_up()).count(),
        }
    }

    /// A task per connection, each ending with what it did.
    pub(crate) fn spawn(self, run: &Arc<Run>, t0: Instant) -> Vec<JoinHandle<BindOutcome>> {
        match self {
            Links::Smpp(links) => links
                .into_iter()
                .enumerate()
                .map(|(i, (client, events))| {
                    tokio::spawn(bind::run(run.clone(), i, client, events, t0))
                })
                .collect(),
            Links::Cmpp(target, links) => links
                .into_iter()
                .map(|(client, events)| {
                    tokio::spawn(cmpp::run(run.clone(), target.clone(), client, events))
                })
                .collect(),
        }
    }
}
