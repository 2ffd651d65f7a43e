//! CMPP QUERY: an SP's MT traffic of one day counted from the store's records.

use std::sync::Arc;

use tern_actors::context::Context;
use tern_storage::RecordState;
use tracing::warn;

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
pub(super) async fn query_counts(
    ctx: &Arc<Context>,
    account: &str,
    query: &crate::codec::Query,
) -> crate::codec::QueryResp {
    let empty = crate::codec::QueryResp {
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
        Ok(counts) => crate::codec::QueryResp {
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
    let civil = crate::time::Civil {
        year: i64::from(field(0..4)?),
        month: field(4..6)?,
        day: field(6..8)?,
        hour: 0,
        minute: 0,
        second: 0,
    };
    u64::try_from(civil.to_unix()?).ok()?.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
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
