//! The `Admin` gRPC service: each RPC is a function of one of the modules beside this
//! one, given the service and the request message; here are what they share: reading
//! the state, proposing a change with its audit record, and editing an account's spec.

use std::sync::Arc;

use tern_ledger::{AccountSpec, Audit, Command, Request, Response, State};
use tonic::Status;

use super::{accounts, api_keys, catalog, cluster, convert, local, mo, proto, reports};
use super::{now_ms, Control, NodeOps};

pub(super) struct AdminService {
    pub(super) control: Arc<dyn Control>,
    pub(super) ops: Arc<dyn NodeOps>,
    who: String,
}

impl AdminService {
    pub(super) fn new(control: Arc<dyn Control>, ops: Arc<dyn NodeOps>, who: String) -> Self {
        Self { control, ops, who }
    }

    /// Runs `f` on the state and returns what it computed.
    pub(super) async fn read<T: Send>(
        &self,
        f: impl FnOnce(&State) -> T + Send,
    ) -> Result<T, Status> {
        let mut f = Some(f);
        let mut out = None;
        {
            let mut call = |state: &State| {
                if let Some(f) = f.take() {
                    out = Some(f(state));
                }
            };
            self.control
                .read(&mut call)
                .await
                .map_err(Status::unavailable)?;
        }
        out.ok_or_else(|| Status::unavailable("the state could not be read"))
    }

    /// Runs `f` on the state as this node has applied it (see [`Control::read_local`]).
    pub(super) fn read_local<T>(&self, f: impl FnOnce(&State) -> T) -> Option<T> {
        let mut f = Some(f);
        let mut out = None;
        self.control.read_local(&mut |state: &State| {
            if let Some(f) = f.take() {
                out = Some(f(state));
            }
        });
        out
    }

    /// Proposes `command` with an audit record saying `what`; a refusal becomes the
    /// matching gRPC status.
    pub(super) async fn change(&self, what: String, command: Command) -> Result<Response, Status> {
        let at_ms = now_ms();
        let request = Request {
            at_ms,
            audit: Some(Audit {
                who: self.who.clone(),
                what: what.clone(),
                at_ms,
            }),
            command,
        };
        let outcome = self.control.propose(request).await;
        let (result, status) = match outcome {
            Ok(Response::Refused(refusal)) => {
                let status = refusal.to_string();
                (Err(convert::refusal_status(refusal)), status)
            }
            Ok(response) => (Ok(response), "applied".to_owned()),
            Err(error) => {
                let status = format!("not applied: {error}");
                (Err(Status::unavailable(error)), status)
            }
        };
        tracing::info!(target: "tern::audit", who = %self.who, what = %what, outcome = %status);
        result
    }

    /// Logs a change that does not go through the state machine (cluster membership).
    pub(super) fn audit_local(&self, what: &str, outcome: &Result<(), String>) {
        let status = match outcome {
            Ok(()) => "applied".to_owned(),
            Err(error) => format!("not applied: {error}"),
        };
        tracing::info!(target: "tern::audit", who = %self.who, what = %what, outcome = %status);
    }

    pub(super) async fn account_view(&self, id: &str) -> Result<proto::Account, Status> {
        let at_ms = now_ms();
        self.read(|state| {
            state
                .accounts
                .get(id)
                .map(|account| convert::account(state, account, at_ms))
        })
        .await?
        .ok_or_else(|| not_found("account", id))
    }

    /// Reads an account's spec, lets `edit` change it and proposes it back; answers with
    /// the account as it is afterwards.
    pub(super) async fn edit_account(
        &self,
        what: String,
        id: &str,
        edit: impl FnOnce(&mut AccountSpec) -> Result<(), Status>,
    ) -> Result<proto::Account, Status> {
        let mut spec = self
            .read(|state| state.accounts.get(id).map(|a| a.spec.clone()))
            .await?
            .ok_or_else(|| not_found("account", id))?;
        edit(&mut spec)?;
        self.change(what, Command::UpdateAccount { spec }).await?;
        self.account_view(id).await
    }
}

pub(super) fn not_found(kind: &str, id: &str) -> Status {
    Status::not_found(format!("{kind} {id} not found"))
}

/// The size of a page when the caller asks for 0.
pub(super) fn limit_or_default(limit: u32) -> usize {
    match limit {
        0 => 100,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    }
}

/// Implements the generated trait by calling `module::function(service, message)`.
macro_rules! rpcs {
    ($($rpc:ident($req:ident) -> $resp:ident = $module:ident::$function:ident;)*) => {
        #[tonic::async_trait]
        impl proto::admin_server::Admin for AdminService {
            $(
                async fn $rpc(
                    &self,
                    request: tonic::Request<proto::$req>,
                ) -> Result<tonic::Response<proto::$resp>, Status> {
                    $module::$function(self, request.into_inner())
                        .await
                        .map(tonic::Response::new)
                }
            )*
        }
    };
}

rpcs! {
    create_account(CreateAccountRequest) -> Account = accounts::create;
    update_account(UpdateAccountRequest) -> Account = accounts::update;
    disable_account(AccountRef) -> Account = accounts::disable;
    enable_account(AccountRef) -> Account = accounts::enable;
    delete_account(AccountRef) -> Done = accounts::delete;
    set_password(SetPasswordRequest) -> Account = accounts::set_password;
    set_allowlist(SetAllowlistRequest) -> Account = accounts::set_allowlist;
    set_limits(SetLimitsRequest) -> Account = accounts::set_limits;
    top_up(TopUpRequest) -> Account = accounts::top_up;
    get_account(AccountRef) -> Account = accounts::get;
    list_accounts(ListAccountsRequest) -> AccountList = accounts::list;
    usage(UsageRequest) -> UsageReply = accounts::usage;
    set_thresholds(SetThresholdsRequest) -> Account = accounts::set_thresholds;
    create_api_key(CreateApiKeyRequest) -> CreatedApiKey = api_keys::create;
    list_api_keys(ListApiKeysRequest) -> ApiKeyList = api_keys::list;
    revoke_api_key(ApiKeyRef) -> Done = api_keys::revoke;
    set_callback(SetCallbackRequest) -> CallbackReply = api_keys::set_callback;

    set_prices(SetPricesRequest) -> PriceList = catalog::set_prices;
    list_prices(Empty) -> PriceList = catalog::list_prices;
    book_campaign(BookCampaignRequest) -> Campaign = catalog::book_campaign;
    resize_campaign(ResizeCampaignRequest) -> Campaign = catalog::resize_campaign;
    cancel_campaign(NameRef) -> Done = catalog::cancel_campaign;
    list_campaigns(ListCampaignsRequest) -> CampaignList = catalog::list_campaigns;
    put_route(PutSpecRequest) -> Spec = catalog::put_route;
    enable_route(NameRef) -> Spec = catalog::enable_route;
    disable_route(NameRef) -> Spec = catalog::disable_route;
    delete_route(NameRef) -> Done = catalog::delete_route;
    list_routes(Empty) -> SpecList = catalog::list_routes;
    put_link(PutSpecRequest) -> Spec = catalog::put_link;
    enable_link(NameRef) -> Spec = catalog::enable_link;
    disable_link(NameRef) -> Spec = catalog::disable_link;
    delete_link(NameRef) -> Done = catalog::delete_link;
    list_links(Empty) -> LinkList = catalog::list_links;
    put_mo_rule(PutSpecRequest) -> MoRule = mo::put;
    enable_mo_rule(NameRef) -> MoRule = mo::enable;
    disable_mo_rule(NameRef) -> MoRule = mo::disable;
    delete_mo_rule(NameRef) -> Done = mo::delete;
    list_mo_rules(Empty) -> MoRuleList = mo::list;
    put_webhook(Webhook) -> Webhook = catalog::put_webhook;
    delete_webhook(NameRef) -> Done = catalog::delete_webhook;
    list_webhooks(Empty) -> WebhookList = catalog::list_webhooks;

    list_sessions(Empty) -> SessionList = local::list_sessions;
    kick_session(IdRef) -> Done = local::kick_session;
    get_message(IdRef) -> Message = local::get_message;
    list_messages(ListMessagesRequest) -> MessageList = local::list_messages;
    cancel_message(IdRef) -> Done = local::cancel_message;
    list_queues(Empty) -> QueueList = local::list_queues;
    traffic(TrafficRequest) -> TrafficReply = reports::traffic;
    account_report(ReportRequest) -> ReportReply = reports::account_report;
    link_report(ReportRequest) -> ReportReply = reports::link_report;
    list_failed(ListFailedRequest) -> FailedList = reports::list_failed;
    message_history(MessageHistoryRequest) -> MessageHistoryReply = reports::history;
    cluster_status(Empty) -> ClusterStatusReply = cluster::cluster_status;
    add_learner(AddLearnerRequest) -> Done = cluster::add_learner;
    promote(NodeIds) -> Done = cluster::promote;
    remove_node(NodeIds) -> Done = cluster::remove_node;
    drain(DrainRequest) -> DrainState = cluster::drain;
    drain_status(NodeRef) -> DrainState = cluster::drain_status;
    forget_node(NodeRef) -> Done = cluster::forget_node;
    list_events(ListEventsRequest) -> EventList = local::list_events;
    list_audit(ListAuditRequest) -> AuditList = local::list_audit;
}
