//! `tern ctl session|message|queue|cluster|notify|audit ...`: what the answering node
//! runs, the cluster's membership, and the notification and audit trails.

use std::time::Duration;

use clap::Subcommand;
use tokio::time::Instant;

use super::proto;
use super::render;
use super::time::parse_time;
use super::{Ctl, CtlError};

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Lists the customer sessions bound to the node.
    List,
    /// Unbinds a session.
    Kick { id: u64 },
}

pub(crate) async fn session(ctl: &Ctl, command: SessionCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    match command {
        SessionCommand::List => {
            let list = client.list_sessions(ctl.req(proto::Empty {})).await?;
            ctl.show(&list.into_inner(), render::sessions)
        }
        SessionCommand::Kick { id } => {
            client.kick_session(ctl.req(proto::IdRef { id })).await?;
            ctl.done()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Shows one message.
    Show { id: u64 },
    /// Lists an account's messages submitted in a time range, oldest first.
    List {
        #[arg(long)]
        account: String,
        /// ms since the epoch or YYYY-MM-DDTHH:MM:SSZ; the epoch without.
        #[arg(long, value_parser = parse_time, default_value = "0")]
        from: u64,
        /// ms since the epoch or YYYY-MM-DDTHH:MM:SSZ; now without.
        #[arg(long, value_parser = parse_time)]
        to: Option<u64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Cancels a message that is not final yet.
    Cancel { id: u64 },
}

pub(crate) async fn message(ctl: &Ctl, command: MessageCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    match command {
        MessageCommand::Show { id } => {
            let message = client.get_message(ctl.req(proto::IdRef { id })).await?;
            ctl.show(&message.into_inner(), render::message)
        }
        MessageCommand::List {
            account,
            from,
            to,
            limit,
        } => {
            let request = proto::ListMessagesRequest {
                account,
                from_ms: from,
                to_ms: to.unwrap_or(0),
                limit,
            };
            let list = client.list_messages(ctl.req(request)).await?;
            ctl.show(&list.into_inner(), render::messages)
        }
        MessageCommand::Cancel { id } => {
            client.cancel_message(ctl.req(proto::IdRef { id })).await?;
            ctl.done()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Depth of each link's and each shard's queue.
    List,
}

pub(crate) async fn queue(ctl: &Ctl, command: QueueCommand) -> Result<(), CtlError> {
    let QueueCommand::List = command;
    let list = ctl.client().list_queues(ctl.req(proto::Empty {})).await?;
    ctl.show(&list.into_inner(), render::queues)
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The node's view of raft (leader, term, indexes, members), every node's liveness,
    /// and who owns which shard and which bind.
    Status,
    /// Adds a node that receives the log without voting.
    AddLearner { id: u64, addr: String },
    /// Makes learners voters.
    Promote {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
    /// Removes nodes from the cluster.
    Remove {
        #[arg(required = true)]
        ids: Vec<u64>,
    },
    /// Moves a node's shards and binds to the other live nodes and waits until it holds
    /// nothing: then it can be stopped without a pause in the work. Fails when the node
    /// is not drained in time.
    Drain {
        node: u64,
        /// Seconds to wait for the node to be drained; 0 proposes and returns.
        #[arg(long, default_value_t = 60)]
        wait: u64,
        /// Lets the node take work again.
        #[arg(long)]
        undo: bool,
    },
    /// Forgets a node removed for good (dead, not coming back): its work moves to the
    /// others and it is no longer listed.
    Forget { node: u64 },
}

pub(crate) async fn cluster(ctl: &Ctl, command: ClusterCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    match command {
        ClusterCommand::Status => {
            let status = client.cluster_status(ctl.req(proto::Empty {})).await?;
            return ctl.show(&status.into_inner(), render::cluster);
        }
        ClusterCommand::AddLearner { id, addr } => {
            let request = proto::AddLearnerRequest { id, addr };
            client.add_learner(ctl.req(request)).await?;
        }
        ClusterCommand::Promote { ids } => {
            client.promote(ctl.req(proto::NodeIds { ids })).await?;
        }
        ClusterCommand::Remove { ids } => {
            client.remove_node(ctl.req(proto::NodeIds { ids })).await?;
        }
        ClusterCommand::Drain { node, wait, undo } => {
            let request = proto::DrainRequest { node, undo };
            let state = client.drain(ctl.req(request)).await?.into_inner();
            if undo || wait == 0 {
                return ctl.show(&state, render::drain);
            }
            return wait_drained(ctl, state, Duration::from_secs(wait)).await;
        }
        ClusterCommand::Forget { node } => {
            client.forget_node(ctl.req(proto::NodeRef { node })).await?;
        }
    }
    ctl.done()
}

/// How often `cluster drain` asks whether the node is drained.
const DRAIN_POLL: Duration = Duration::from_millis(500);

/// Asks every [`DRAIN_POLL`] until the node is drained or `wait` has passed, then prints
/// how it stands; not drained in time is a failure. A node that cannot be reached for a
/// moment (a leader election) is asked again.
async fn wait_drained(
    ctl: &Ctl,
    mut state: proto::DrainState,
    wait: Duration,
) -> Result<(), CtlError> {
    let mut client = ctl.client();
    let node = state.node;
    let deadline = Instant::now() + wait;
    while !state.drained {
        let now = Instant::now();
        if now >= deadline {
            ctl.show(&state, render::drain)?;
            return Err(CtlError::Other(format!(
                "node {node} is not drained after {} s",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(DRAIN_POLL.min(deadline - now)).await;
        match client.drain_status(ctl.req(proto::NodeRef { node })).await {
            Ok(reply) => state = reply.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {}
            Err(status) => return Err(status.into()),
        }
    }
    ctl.show(&state, render::drain)
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Sets the percentages of use that raise an event for an account.
    Thresholds {
        account: String,
        #[arg(required = true)]
        percents: Vec<u32>,
    },
    /// Webhooks the events are posted to.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Lists threshold, lease and top-up events and how each stands at its webhooks:
    /// delivered, pending (tries so far, next try) or given up.
    Events {
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Adds or replaces a webhook.
    Add {
        id: String,
        url: String,
        /// Only events of this account and its descendants; repeatable; all without.
        #[arg(long = "account")]
        accounts: Vec<String>,
    },
    Remove {
        id: String,
    },
    List,
}

pub(crate) async fn notify(ctl: &Ctl, command: NotifyCommand) -> Result<(), CtlError> {
    let mut client = ctl.client();
    match command {
        NotifyCommand::Thresholds { account, percents } => {
            let request = proto::SetThresholdsRequest { account, percents };
            let account = client.set_thresholds(ctl.req(request)).await?;
            ctl.show(&account.into_inner(), render::account)
        }
        NotifyCommand::Webhook(WebhookCommand::Add { id, url, accounts }) => {
            let request = proto::Webhook { id, url, accounts };
            let webhook = client.put_webhook(ctl.req(request)).await?;
            ctl.show(&webhook.into_inner(), render::webhook)
        }
        NotifyCommand::Webhook(WebhookCommand::Remove { id }) => {
            client
                .delete_webhook(ctl.req(proto::NameRef { name: id }))
                .await?;
            ctl.done()
        }
        NotifyCommand::Webhook(WebhookCommand::List) => {
            let list = client.list_webhooks(ctl.req(proto::Empty {})).await?;
            ctl.show(&list.into_inner(), render::webhooks)
        }
        NotifyCommand::Events { after, limit } => {
            let request = proto::ListEventsRequest {
                after_seq: after,
                limit,
            };
            let list = client.list_events(ctl.req(request)).await?;
            ctl.show(&list.into_inner(), render::events)
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// The most recent changes, oldest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

pub(crate) async fn audit(ctl: &Ctl, command: AuditCommand) -> Result<(), CtlError> {
    let AuditCommand::List { limit } = command;
    let list = ctl
        .client()
        .list_audit(ctl.req(proto::ListAuditRequest { limit }))
        .await?;
    ctl.show(&list.into_inner(), render::audit)
}
