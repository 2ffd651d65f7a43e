//! CMPP customers: the front end that admits CONNECTs, and what a CustomerSession does
//! with a CMPP connection — SUBMITs through the common accept path under a CMPP Msg_Id,
//! QUERY and CANCEL answered, receipts and MO rendered as DELIVERs.
//!
//! A CMPP account is an account with a CMPP shared secret: its Source_Addr (the SP's
//! enterprise code) is the account id. The CONNECT authenticator is an MD5 over that
//! secret, so the secret is kept as given rather than hashed.

use std::sync::Arc;

use tern_cmpp::codec::{CancelResp, QueryResp, SubmitResp};
use tern_cmpp::mapping;
use tern_cmpp::net::{AuthFailure, ConnectRequest, Handler, SessionEvent, SessionHandle};
use tern_cmpp::{result, Body, Pdu, Version};
use tern_smpp::CommandStatus;
use tern_storage::{HeldDelivery, HeldKind, RecordState};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::accept::refuse;
use crate::accounts::{BindRefusal, BindSlot};
use crate::cmpp_parts::Hold;
use crate::context::{now_ms, Context, Slot};
use crate::outbox::OutboxMsg;
use crate::session::{CustomerState, Frontend, SessionSupervisorMsg};

/// The CMPP result a customer gets for a refusal the accept path names with an SMPP
/// status.
pub fn result_for(status: CommandStatus) -> u32 {
    match status {
        CommandStatus::EsmeRok => result::OK,
        CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful => result::FLOW_CONTROL,
        CommandStatus::EsmeRinvdstadr => 13,
        CommandStatus::EsmeRinvsrcadr => 10,
        CommandStatus::EsmeRinvmsglen => result::BAD_MSG_LENGTH,
        // Over the message limit, out of credit, account disabled: "no authority" (9).
        CommandStatus::EsmeRsubmitfail => 9,
        CommandStatus::EsmeRsyserr => 9,
        _ => result::BAD_STRUCTURE,
    }
}

/// The CMPP server's handler: CONNECTs are checked against the accounts, connected
/// customers become CustomerSession actors.
#[derive(Debug)]
pub struct CmppFrontend {
    pub ctx: Arc<Context>,
    /// The session supervisor's slot, refilled when it restarts.
    pub sessions: Arc<Slot<SessionSupervisorMsg>>,
    /// How text is split and rendered for these customers (the version is the session's).
    pub options: mapping::LinkOptions,
}

impl Handler for CmppFrontend {
    type Grant = BindSlot;

    async fn connect(&self, request: ConnectRequest) -> Result<(BindSlot, String), u32> {
        let outcome = self
            .ctx
            .accounts
            .admit(&request.source_addr, request.peer.ip());
        let label = match &outcome {
            Ok(_) => "ok",
            Err(BindRefusal::LockedOut(_)) => "locked",
            Err(_) => "refused",
        };
        metrics::counter!("tern_cmpp_connect_attempts_total", "result" => label).increment(1);
        let slot = outcome.map_err(|refusal| {
            warn!(source_addr = request.source_addr, peer = %request.peer, %refusal, "CMPP connect refused");
            match refusal {
                BindRefusal::UnknownAccount => result::BAD_SOURCE_ADDR,
                // A lockout is "other error" (5), as a disabled account: it says nothing
                // about the secret.
                _ => 5,
            }
        })?;
        let Some(secret) = slot.account.policy().cmpp_secret.clone() else {
            // An account without a CMPP secret cannot authenticate over CMPP.
            return Err(result::AUTH_FAILED);
        };
        Ok((slot, secret))
    }

    fn authentication_failed(
        &self,
        request: &ConnectRequest,
        failure: AuthFailure,
        _slot: &BindSlot,
    ) {
        // A timestamp outside the window comes with the right secret (a replay or a clock
        // far off): it guesses nothing, and counting it would let a replay lock the SP out.
        if failure == AuthFailure::Authenticator {
            self.ctx.accounts.authentication_failed(
                &request.source_addr,
                request.peer.ip(),
                "cmpp",
            );
        }
    }

    fn session(
        self: &Arc<Self>,
        slot: BindSlot,
        version: Version,
        handle: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        let mut options = self.options.clone();
        options.version = version;
        let terminate = handle.clone();
        let started = self.sessions.cast(SessionSupervisorMsg::StartCmpp {
            slot,
            handle,
            options,
            events,
        });
        if !started {
            warn!("session supervisor not running; terminating the CMPP customer");
            tokio::spawn(async move { terminate.terminate().await });
        }
    }
}

fn respond(handle: &SessionHandle, sequence_id: u32, body: Body) {
    handle.respond(Pdu { sequence_id, body });
}

/// A request of a CMPP customer.
pub(crate) async fn handle_event(state: &mut CustomerState, event: SessionEvent) {
    let Frontend::Cmpp { handle, .. } = &state.frontend else {
        return;
    };
    let handle = handle.clone();
    let SessionEvent::Request(pdu) = event else {
        return;
    };
    let sequence_id = pdu.sequence_id;
    match pdu.body {
        Body::Submit(submit) => {
            let started = std::time::Instant::now();
            submit_one(state, &handle, sequence_id, &submit).await;
            metrics::histogram!("tern_accept_processing_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        Body::Query(query) => {
            let (ctx, account) = (state.ctx.clone(), state.account.id.clone());
            tokio::spawn(async move {
                let counts = query_counts(&ctx, &account, &query).await;
                respond(&handle, sequence_id, Body::QueryResp(counts));
            });
        }
        Body::Cancel(cancel) => {
            let (ctx, account) = (state.ctx.clone(), state.account.id.clone());
            tokio::spawn(async move {
                let cancelled = cancel_by_msg_id(&ctx, &account, cancel.msg_id).await;
                metrics::counter!("tern_cmpp_cancels_total", "result" => if cancelled { "cancelled" } else { "failed" })
                    .increment(1);
                // Success_Id: 0 withdrawn, 1 not (unknown, already sent or final).
                let success_id = u32::from(!cancelled);
                respond(
                    &handle,
                    sequence_id,
                    Body::CancelResp(CancelResp { success_id }),
                );
            });
        }
        Body::Deliver(deliver) => {
            handle.respond(crate::link_cmpp::deliver_resp(
                sequence_id,
                deliver.msg_id,
                result::BAD_COMMAND,
            ));
        }
        other => debug!(?other, "CMPP request ignored"),
    }
}

/// Withdraws the message a customer knows by `msg_id` while it has not reached an
/// operator. Msg_Ids carry the second they were given, so the message is among the
/// account's records accepted around that second; no index of Msg_Ids is kept.
async fn cancel_by_msg_id(ctx: &Arc<Context>, account: &str, msg_id: u64) -> bool {
    let now = (now_ms() / 1000) as i64;
    let Some(second) = tern_cmpp::msgid::MsgId::from_u64(msg_id).unix_second(now) else {
        return false;
    };
    let at_ms = u64::try_from(second).unwrap_or(0).saturating_mul(1000);
    // One second of one account; its Msg_Ids are unique within it.
    let records = ctx
        .store
        .messages_by_account(
            account,
            None,
            at_ms.saturating_sub(1000),
            at_ms + 2000,
            usize::from(u16::MAX) + 1,
        )
        .await;
    let found = records.ok().and_then(|records| {
        records
            .into_iter()
            .find(|r| r.wire_id == Some(msg_id))
            .map(|r| r.id)
    });
    match found {
        Some(id) => crate::dispatcher::withdraw(ctx, id, "cancelled by the customer")
            .await
            .unwrap_or(false),
        None => false,
    }
}

/// Records a QUERY reads from the store at once: the day is counted page by page, so the
/// memory a QUERY takes does not grow with the day's traffic.
const QUERY_PAGE: usize = 1_000;
/// Records a QUERY counts at most; a busier day is counted up to here.
const QUERY_LIMIT: usize = 1_000_000;
/// Distinct destinations a QUERY tells apart; past this, `MT_TLUsr` says at least this many.
const QUERY_MAX_USERS: usize = 1 << 18;

/// The answer to a customer's QUERY: its MT messages of the day `query.time` (YYYYMMDD,
/// China time) from the store's records, all of them (Query_Type 0) or those of one
/// Service_Id (1): parts accepted, distinct destinations, delivered, still waiting, and
/// failed. Parts merged into a joined message count once, as the joined message's parts.
/// MO is not kept per account, so its fields are 0. A date that does not parse counts
/// nothing.
async fn query_counts(
    ctx: &Arc<Context>,
    account: &str,
    query: &tern_cmpp::codec::Query,
) -> QueryResp {
    let empty = QueryResp {
        time: query.time.clone(),
        query_type: query.query_type,
        query_code: query.query_code.clone(),
        mt_tl_msg: 0,
        mt_tl_usr: 0,
        mt_scs: 0,
        mt_wt: 0,
        mt_fl: 0,
        mo_scs: 0,
        mo_wt: 0,
        mo_fl: 0,
    };
    let Some(day_ms) = day_start_ms(&query.time) else {
        return empty;
    };
    let service = (query.query_type != 0).then(|| query.query_code.trim());
    match count_day(ctx.store.as_ref(), account, day_ms, service, QUERY_PAGE).await {
        Ok(counts) => QueryResp {
            mt_tl_msg: counts.total,
            mt_tl_usr: counts.users,
            mt_scs: counts.delivered,
            mt_wt: counts.waiting,
            mt_fl: counts.failed,
            ..empty
        },
        Err(error) => {
            warn!(%error, "QUERY could not read the store");
            empty
        }
    }
}

/// What a QUERY counts of one day.
#[derive(Debug, Default, PartialEq, Eq)]
struct DayCounts {
    total: u32,
    users: u32,
    delivered: u32,
    waiting: u32,
    failed: u32,
}

/// Counts the MT records of `account` accepted in the day starting at `day_ms` (of one
/// Service_Id when `service` is given), reading `page` records at a time and keeping none.
async fn count_day(
    store: &dyn tern_storage::MessageStore,
    account: &str,
    day_ms: u64,
    service: Option<&str>,
    page: usize,
) -> Result<DayCounts, tern_storage::StoreError> {
    let mut counts = DayCounts::default();
    // Destinations by hash: a bounded set of u64, not the numbers themselves.
    let mut users = std::collections::HashSet::new();
    let count = |n: &mut u32| *n = n.saturating_add(1);
    let (mut after, mut read) = (None, 0);
    while read < QUERY_LIMIT {
        let records = store
            .messages_by_account(
                account,
                after,
                day_ms,
                day_ms + 86_400_000,
                page.min(QUERY_LIMIT - read),
            )
            .await?;
        read += records.len();
        for record in records.iter().filter(|r| {
            !matches!(r.state, RecordState::Rejected | RecordState::Merged)
                && service.is_none_or(|s| r.message.service_type == s)
        }) {
            count(&mut counts.total);
            if users.len() < QUERY_MAX_USERS {
                let mut hasher = std::hash::DefaultHasher::new();
                std::hash::Hash::hash(record.message.destination.value.as_str(), &mut hasher);
                users.insert(std::hash::Hasher::finish(&hasher));
            }
            match record.state {
                RecordState::Delivered => count(&mut counts.delivered),
                RecordState::Accepted | RecordState::Submitted => count(&mut counts.waiting),
                _ => count(&mut counts.failed),
            }
        }
        match records.last() {
            Some(last) if records.len() == page => {
                after = Some((last.accepted_ms, last.id, last.part));
            }
            _ => break,
        }
    }
    counts.users = u32::try_from(users.len()).unwrap_or(u32::MAX);
    Ok(counts)
}

/// Midnight China time of a YYYYMMDD date, in Unix milliseconds.
fn day_start_ms(date: &str) -> Option<u64> {
    let field = |range: std::ops::Range<usize>| date.get(range)?.parse::<u32>().ok();
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let civil = tern_cmpp::time::Civil {
        year: i64::from(field(0..4)?),
        month: field(4..6)?,
        day: field(6..8)?,
        hour: 0,
        minute: 0,
        second: 0,
    };
    u64::try_from(civil.to_unix()?).ok()?.checked_mul(1000)
}

async fn submit_one(
    state: &mut CustomerState,
    handle: &SessionHandle,
    sequence_id: u32,
    submit: &tern_cmpp::codec::Submit,
) {
    let refuse_with = |result: u32| {
        respond(
            handle,
            sequence_id,
            Body::SubmitResp(SubmitResp { msg_id: 0, result }),
        )
    };
    let now = (now_ms() / 1000) as i64;
    let messages = match mapping::submit_to_messages(submit, handle.version(), now) {
        Ok(messages) => messages,
        Err(error) => {
            let refusal = refuse(CommandStatus::EsmeRinvmsglen, "malformed");
            state.refused(refusal, None, "cmpp");
            refuse_with(error.result());
            return;
        }
    };
    let Some(msg_id) = state
        .ctx
        .cmpp_ids
        .next((now_ms() / 1000) as i64)
        .map(|id| id.to_u64())
    else {
        // 65,536 Msg_Ids in this second already: the customer slows down.
        let refusal = refuse(CommandStatus::EsmeRthrottled, "msg_id_space");
        state.refused(refusal, None, "cmpp");
        refuse_with(result::FLOW_CONTROL);
        return;
    };
    // A text part of a long message to one destination is held to be joined with the
    // others (see crate::cmpp_parts); anything else goes as it is.
    let hold = match mapping::text_part(submit) {
        Some((concat, octets))
            if messages.len() == 1 && concat.total <= crate::cmpp_parts::MAX_TOTAL =>
        {
            Some(Hold {
                concat,
                octets: octets.to_vec(),
                wire_id: msg_id,
            })
        }
        _ => None,
    };
    let reply = handle.clone();
    let outcome = state
        .accept_and_store(messages, &[msg_id], hold, move |outcome| {
            let body = match outcome {
                Ok(_) => SubmitResp {
                    msg_id,
                    result: result::OK,
                },
                Err(status) => SubmitResp {
                    msg_id: 0,
                    result: result_for(status),
                },
            };
            reply.respond(Pdu {
                sequence_id,
                body: Body::SubmitResp(body),
            });
        })
        .await;
    if let Err((refusal, message)) = outcome {
        state.refused(refusal, message, "cmpp");
        refuse_with(result_for(refusal.status));
    }
}

/// Renders a receipt or MO for a CMPP customer and sends it; the outbox hears whether it
/// was taken.
pub(crate) fn deliver(state: &CustomerState, item: Arc<HeldDelivery>) {
    let Frontend::Cmpp { handle, options } = &state.frontend else {
        return;
    };
    let delivers = match (&item.kind, &item.report) {
        // One report per Msg_Id the customer was given: a long message it sent in parts
        // that was joined here carries the Msg_Id of every part.
        (HeldKind::Receipt, Some(report)) => report
            .message_id
            .split_whitespace()
            .map(|id| id.parse::<u64>().unwrap_or(item.key))
            .map(|msg_id| {
                let cmpp_report =
                    mapping::domain_to_report(report, msg_id, &item.message.destination.value);
                let own_id = state
                    .ctx
                    .cmpp_ids
                    .next((now_ms() / 1000) as i64)
                    .map_or(0, |id| id.to_u64());
                mapping::report_deliver(
                    &cmpp_report,
                    options.version,
                    own_id,
                    &item.message.source.value,
                    &options.service_id,
                )
            })
            .collect(),
        _ => mapping::message_to_delivers(&item.message, options, (item.key & 0xff) as u8).map(
            |mut delivers| {
                // Each MO part gets a Msg_Id of its own.
                for deliver in &mut delivers {
                    deliver.msg_id = state
                        .ctx
                        .cmpp_ids
                        .next((now_ms() / 1000) as i64)
                        .map_or(0, |id| id.to_u64());
                }
                delivers
            },
        ),
    };
    let handle = handle.clone();
    let ctx = state.ctx.clone();
    let account = state.account.id.clone();
    tokio::spawn(async move {
        let delivered = match delivers {
            Ok(delivers) => {
                let mut ok = true;
                for deliver in delivers {
                    match handle.request(Body::Deliver(deliver)).await {
                        Ok(Pdu {
                            body: Body::DeliverResp(resp),
                            ..
                        }) if resp.result == result::OK => {}
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                ok
            }
            Err(error) => {
                warn!(%error, key = item.key, "held delivery cannot be rendered for CMPP; dropped");
                true
            }
        };
        ctx.refs.outbox.cast(OutboxMsg::Result {
            account,
            key: item.key,
            delivered,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_model::{Address, Message, MessageId};
    use tern_storage::{MessageRecord, WriteOp};

    fn record(id: u64, part: u8, to: &str, service: &str, state: RecordState) -> WriteOp {
        let mut message = Message::text(
            Address::international("4930123"),
            Address::international(to),
            "hello",
        );
        message.service_type = service.into();
        message.id = Some(MessageId(id));
        WriteOp::PutMessage(Arc::new(MessageRecord {
            id: MessageId(id),
            part,
            parts: 2,
            account: "sp1".into(),
            message,
            state,
            history: Vec::new(),
            attempts: 0,
            link: None,
            operator_id: None,
            error: None,
            receipt: None,
            // Two records share a millisecond: a page may end between them.
            accepted_ms: 5_000 + id / 2,
            expires_ms: 90_000_000,
            wire_id: None,
            route: Some("cn".into()),
            price: 5,
            client_ref: None,
            receipt_made_ms: None,
        }))
    }

    #[tokio::test]
    async fn a_day_is_counted_page_by_page_to_the_same_totals() {
        let dir = tempfile::tempdir().unwrap();
        let store = tern_storage::EmbeddedStore::open(dir.path(), Default::default()).unwrap();
        let ops = vec![
            record(1, 0, "8613800000001", "A", RecordState::Delivered),
            record(1, 1, "8613800000001", "A", RecordState::Delivered),
            record(2, 0, "8613800000002", "A", RecordState::Submitted),
            record(3, 0, "8613800000001", "B", RecordState::Failed),
            record(4, 0, "8613800000003", "B", RecordState::Rejected),
            record(5, 0, "8613800000004", "A", RecordState::Merged),
            record(6, 0, "8613800000004", "A", RecordState::Accepted),
        ];
        // A record is indexed by account when it is first written, as ACCEPTED.
        let accepted = ops
            .iter()
            .map(|op| match op {
                WriteOp::PutMessage(r) if r.state != RecordState::Rejected => {
                    let mut first = (**r).clone();
                    first.state = RecordState::Accepted;
                    WriteOp::PutMessage(Arc::new(first))
                }
                op => op.clone(),
            })
            .collect();
        tern_storage::write_durable(&store, accepted).await.unwrap();
        tern_storage::write_durable(&store, ops).await.unwrap();
        let all = DayCounts {
            total: 5,
            users: 3,
            delivered: 2,
            waiting: 2,
            failed: 1,
        };
        let only_b = DayCounts {
            total: 1,
            users: 1,
            delivered: 0,
            waiting: 0,
            failed: 1,
        };
        for page in [1, 2, 3, QUERY_PAGE] {
            assert_eq!(
                count_day(&store, "sp1", 0, None, page).await.unwrap(),
                all,
                "{page}"
            );
            assert_eq!(
                count_day(&store, "sp1", 0, Some("B"), page).await.unwrap(),
                only_b,
                "{page}"
            );
        }
        // Another day, another account: nothing.
        assert_eq!(
            count_day(&store, "sp1", 86_400_000, None, 2).await.unwrap(),
            DayCounts::default()
        );
        assert_eq!(
            count_day(&store, "sp2", 0, None, 2).await.unwrap(),
            DayCounts::default()
        );
    }
}
