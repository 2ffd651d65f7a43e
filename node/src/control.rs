//! The admin API's view of the replicated state: [`crate::admin::Control`] on raft.

use tern_actors::quota::Ledger;
use tern_ledger::{Request, Response};

use crate::ledger::ClusterLedger;

impl crate::admin::Control for ClusterLedger {
    fn propose(&self, request: Request) -> crate::admin::BoxFut<'_, Result<Response, String>> {
        Ledger::propose(self, request)
    }

    fn read<'a>(
        &'a self,
        f: &'a mut (dyn FnMut(&tern_ledger::State) + Send),
    ) -> crate::admin::BoxFut<'a, Result<(), String>> {
        Box::pin(async move {
            // A linearizable read when a leader is reachable; else what this node has.
            match self.cluster().read_linearizable(|s| f(s)).await {
                Ok(()) => Ok(()),
                Err(_) => {
                    self.cluster().read(|s| f(s));
                    Ok(())
                }
            }
        })
    }

    fn read_local(&self, f: &mut dyn FnMut(&tern_ledger::State)) {
        self.cluster().read(|s| f(s));
    }

    fn status(&self) -> crate::admin::ClusterView {
        let status = self.cluster().status();
        crate::admin::ClusterView {
            node_id: status.node_id,
            leader: status.leader,
            term: status.term,
            role: status.role,
            last_log_index: status.last_log_index,
            applied_index: status.applied_index,
            members: status
                .members
                .into_iter()
                .map(|m| crate::admin::MemberView {
                    id: m.id,
                    addr: m.addr,
                    voter: m.voter,
                })
                .collect(),
        }
    }

    fn add_learner(&self, id: u64, addr: String) -> crate::admin::BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            self.cluster()
                .add_learner(id, addr)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn promote(&self, ids: Vec<u64>) -> crate::admin::BoxFut<'_, Result<(), String>> {
        Box::pin(async move { self.cluster().promote(ids).await.map_err(|e| e.to_string()) })
    }

    fn remove(&self, ids: Vec<u64>) -> crate::admin::BoxFut<'_, Result<(), String>> {
        Box::pin(async move { self.cluster().remove(ids).await.map_err(|e| e.to_string()) })
    }
}
