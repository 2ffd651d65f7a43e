//! The store's tables, created and changed by numbered migrations that every node runs
//! when it connects (see the module doc of `cql` for the tables and their compaction).
//!
//! A migration is a version, a description and statements that are each safe to run again
//! (`IF NOT EXISTS`), so that a node that dies half-way leaves nothing the next one trips
//! over. `schema_migrations` lists the versions applied. Nodes that start together agree on
//! who applies them through a lock row taken with a lightweight transaction
//! (`INSERT … IF NOT EXISTS USING TTL 60`, refreshed after every statement): the winner
//! applies what is missing, waits for schema agreement after each migration, records its
//! version and releases the lock; the others poll until the versions are there (or take
//! the lock themselves once a dead winner's lock has expired). A keyspace with a version
//! this build does not know was migrated by a newer build, and is refused.
//!
//! The two bookkeeping tables (`schema_migrations`, `schema_lock`) are created before any
//! lock can exist, by every node that finds them missing. ScyllaDB (schema changes through
//! Raft) and Cassandra 5.1 and later serialise such concurrent `CREATE TABLE IF NOT
//! EXISTS`; on Cassandra 5.0 and earlier with several nodes, two coordinators creating the
//! same table at once can give it two ids. On those, start one node first on a new
//! keyspace (or create the keyspace and let one node migrate it) before the others.

use std::collections::BTreeSet;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::statement::unprepared::Statement;
use scylla::statement::SerialConsistency;
use scylla::value::{CqlValue, Row};

use super::Requests;
use crate::StoreError;

/// How long a node waits for another to finish migrating before it gives up.
const MIGRATION_WAIT: Duration = Duration::from_secs(120);
/// Between two looks at the applied versions while another node migrates.
const POLL: Duration = Duration::from_millis(500);
/// Life of the lock row: a winner that dies frees it this long after its last statement.
const LOCK_TTL_SECS: i32 = 60;
const LOCK_NAME: &str = "migrations";

/// gc_grace_seconds of the short-lived, delete-heavy tables: 3 h, Cassandra's and
/// ScyllaDB's default `max_hint_window` (see the module doc of `cql`).
const SHORT_GC_GRACE_SECS: u32 = 3 * 3600;

/// One schema change.
pub(super) struct Migration {
    pub(super) version: i32,
    pub(super) description: &'static str,
    /// CQL with `{ks}` for the keyspace; each statement safe to run twice.
    pub(super) statements: Vec<String>,
}

/// The newest version this build knows.
pub const SCHEMA_VERSION: i32 = 2;

/// Every migration, oldest first. Never change one that was released: add another.
pub(super) fn migrations() -> Vec<Migration> {
    let leveled = format!(
        "compaction = {{'class': 'LeveledCompactionStrategy'}} \
         AND gc_grace_seconds = {SHORT_GC_GRACE_SECS}"
    );
    let daily = "compaction = {'class': 'TimeWindowCompactionStrategy', \
                 'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}";
    let tiered = "compaction = {'class': 'SizeTieredCompactionStrategy'}";
    vec![
        Migration {
            version: 1,
            description: "messages, pending, receipts, held, CDR indexes, client references, \
                      charges and meta",
            statements: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.messages (id bigint, part smallint, \
                 record blob, submission blob, PRIMARY KEY ((id), part)) WITH {daily}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.pending (shard int, bucket bigint, \
                 id bigint, part smallint, entry blob, \
                 PRIMARY KEY ((shard, bucket), id, part)) WITH {leveled}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.pending_buckets (shard int, bucket bigint, \
                 PRIMARY KEY ((shard), bucket)) WITH {leveled}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.receipts (link text, operator_id text, \
                 id bigint, part smallint, PRIMARY KEY ((link, operator_id))) WITH {leveled}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.held (account text, key bigint, \
                 delivery blob, PRIMARY KEY ((account), key)) WITH {leveled}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.held_accounts (one int, account text, \
                 PRIMARY KEY ((one), account)) WITH {leveled}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.cdr_by_account (account text, day int, \
                 accepted_ms bigint, id bigint, part smallint, record blob, \
                 PRIMARY KEY ((account, day), accepted_ms, id, part)) WITH {daily}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.cdr_by_link (link text, day int, \
                 accepted_ms bigint, id bigint, part smallint, \
                 PRIMARY KEY ((link, day), accepted_ms, id, part)) WITH {daily}"
                ),
                format!(
                "CREATE TABLE IF NOT EXISTS {{ks}}.client_refs (account text, client_ref text, \
                 id bigint, PRIMARY KEY ((account, client_ref), id)) \
                 WITH CLUSTERING ORDER BY (id DESC) AND {daily}"
            ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.charges (lease bigint, id bigint, \
                 parts bigint, amount bigint, PRIMARY KEY ((lease), id)) WITH {tiered}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {{ks}}.meta (key text PRIMARY KEY, value blob) \
                 WITH {tiered}"
                ),
            ],
        },
        Migration {
            version: 2,
            description: "idempotency records",
            statements: vec![format!(
                "CREATE TABLE IF NOT EXISTS {{ks}}.idempotency (account text, key text, \
             value blob, expires_ms bigint, PRIMARY KEY ((account, key))) WITH {leveled}"
            )],
        },
    ]
}

/// The bookkeeping tables, created before any lock can exist.
fn bookkeeping(ks: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version int PRIMARY KEY, \
             description text, applied_at timestamp)"
        ),
        format!("CREATE TABLE IF NOT EXISTS {ks}.schema_lock (name text PRIMARY KEY, owner text)"),
    ]
}

/// Talks to the database for the migrations; every request is counted.
pub(super) struct Migrator<'a> {
    pub(super) session: &'a Session,
    pub(super) keyspace: &'a str,
    pub(super) requests: &'a Requests,
    /// This node's name in the lock row.
    pub(super) owner: String,
}

impl Migrator<'_> {
    /// Creates the keyspace when it is missing (`replication` given) or checks that it is
    /// there.
    pub(super) async fn keyspace(&self, replication: Option<String>) -> Result<(), StoreError> {
        let ks = self.keyspace;
        if let Some(replication) = replication {
            self.ddl(&format!(
                "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}"
            ))
            .await?;
            return self.agree().await;
        }
        let rows = self
            .query(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (ks,),
            )
            .await?;
        if rows.is_empty() {
            return Err(StoreError::Invalid(format!(
                "keyspace {ks} does not exist: create it with the replication the cluster \
                 needs, or set store.cql.create_keyspace"
            )));
        }
        Ok(())
    }

    /// Brings the keyspace to [`SCHEMA_VERSION`], or waits for the node that does.
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        for statement in bookkeeping(self.keyspace) {
            self.ddl(&statement).await?;
        }
        self.agree().await?;
        let deadline = tokio::time::Instant::now() + MIGRATION_WAIT;
        loop {
            let applied = self.applied().await?;
            refuse_newer(self.keyspace, &applied)?;
            if migrations().iter().all(|m| applied.contains(&m.version)) {
                return Ok(());
            }
            if self.lock().await? {
                let result = self.apply_missing().await;
                let released = self.unlock().await;
                result?;
                released?;
                continue;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(format!(
                    "keyspace {}: another node holds the schema lock and has not finished \
                     its migrations within {} s",
                    self.keyspace,
                    MIGRATION_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Applies, in order, every migration not recorded yet. Runs under the lock.
    async fn apply_missing(&self) -> Result<(), StoreError> {
        let applied = self.applied().await?;
        refuse_newer(self.keyspace, &applied)?;
        for migration in migrations() {
            if applied.contains(&migration.version) {
                continue;
            }
            tracing::info!(
                keyspace = self.keyspace,
                version = migration.version,
                description = migration.description,
                "applying a CQL schema migration"
            );
            for statement in &migration.statements {
                self.ddl(&statement.replace("{ks}", self.keyspace)).await?;
                self.refresh_lock().await?;
            }
            self.agree().await?;
            let record = format!(
                "INSERT INTO {}.schema_migrations (version, description, applied_at) \
                 VALUES (?, ?, toTimestamp(now()))",
                self.keyspace
            );
            self.query(&record, (migration.version, migration.description))
                .await?;
        }
        Ok(())
    }

    async fn applied(&self) -> Result<BTreeSet<i32>, StoreError> {
        let cql = format!("SELECT version FROM {}.schema_migrations", self.keyspace);
        let rows = self.query(&cql, ()).await?;
        let mut versions = BTreeSet::new();
        for row in rows {
            match row.columns.first() {
                Some(Some(CqlValue::Int(v))) => {
                    versions.insert(*v);
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "{}.schema_migrations: version {other:?}",
                        self.keyspace
                    )))
                }
            }
        }
        Ok(versions)
    }

    async fn lock(&self) -> Result<bool, StoreError> {
        let cql = format!(
            "INSERT INTO {}.schema_lock (name, owner) VALUES (?, ?) IF NOT EXISTS USING TTL {}",
            self.keyspace, LOCK_TTL_SECS
        );
        self.conditional(&cql, (LOCK_NAME, &self.owner)).await
    }

    async fn refresh_lock(&self) -> Result<(), StoreError> {
        let cql = format!(
            "UPDATE {}.schema_lock USING TTL {} SET owner = ? WHERE name = ? IF owner = ?",
            self.keyspace, LOCK_TTL_SECS
        );
        if self
            .conditional(&cql, (&self.owner, LOCK_NAME, &self.owner))
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "keyspace {}: lost the schema lock while migrating (a statement took longer \
                 than {LOCK_TTL_SECS} s)",
                self.keyspace
            )))
        }
    }

    async fn unlock(&self) -> Result<(), StoreError> {
        let cql = format!(
            "DELETE FROM {}.schema_lock WHERE name = ? IF owner = ?",
            self.keyspace
        );
        self.conditional(&cql, (LOCK_NAME, &self.owner))
            .await
            .map(|_| ())
    }

    /// Runs a lightweight transaction at SERIAL (not LOCAL_SERIAL: nodes of every
    /// datacenter compete for the one lock); true when it applied.
    async fn conditional(
        &self,
        cql: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<bool, StoreError> {
        let mut statement = Statement::new(cql);
        statement.set_serial_consistency(Some(SerialConsistency::Serial));
        self.requests.count(1);
        let result = self
            .session
            .query_unpaged(statement, values)
            .await
            .map_err(|e| schema_error(cql, e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| schema_error(cql, e))?;
        let row: Row = rows.first_row().map_err(|e| schema_error(cql, e))?;
        match row.columns.first() {
            Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
            other => Err(StoreError::Corrupt(format!(
                "{cql}: [applied] is {other:?}"
            ))),
        }
    }

    async fn query(
        &self,
        cql: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Vec<Row>, StoreError> {
        self.requests.count(1);
        let result = self
            .session
            .query_unpaged(cql, values)
            .await
            .map_err(|e| schema_error(cql, e))?;
        if !result.is_rows() {
            return Ok(Vec::new());
        }
        let rows = result
            .into_rows_result()
            .map_err(|e| schema_error(cql, e))?;
        rows.rows::<Row>()
            .map_err(|e| schema_error(cql, e))?
            .collect::<Result<Vec<Row>, _>>()
            .map_err(|e| schema_error(cql, e))
    }

    async fn ddl(&self, cql: &str) -> Result<(), StoreError> {
        self.query(cql, ()).await.map(|_| ())
    }

    async fn agree(&self) -> Result<(), StoreError> {
        self.requests.count(1);
        self.session
            .await_schema_agreement()
            .await
            .map(|_| ())
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "keyspace {}: the nodes do not agree on the schema: {e}",
                    self.keyspace
                ))
            })
    }
}

fn refuse_newer(keyspace: &str, applied: &BTreeSet<i32>) -> Result<(), StoreError> {
    match applied.last() {
        Some(&newest) if newest > SCHEMA_VERSION => Err(StoreError::Invalid(format!(
            "keyspace {keyspace} has schema version {newest}, newer than this build knows \
             ({SCHEMA_VERSION}): a newer Tern migrated it; run that version or newer"
        ))),
        _ => Ok(()),
    }
}

fn schema_error(cql: &str, e: impl std::fmt::Display) -> StoreError {
    let statement: String = cql.split_whitespace().collect::<Vec<_>>().join(" ");
    StoreError::Unavailable(format!("{statement}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_grow_and_end_at_the_schema_version() {
        let versions: Vec<i32> = migrations().iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        assert_eq!(versions.last(), Some(&SCHEMA_VERSION));
    }

    #[test]
    fn every_statement_can_run_twice() {
        for migration in migrations() {
            for statement in &migration.statements {
                assert!(statement.contains("IF NOT EXISTS"), "{statement}");
                assert!(statement.contains("{ks}."), "{statement}");
            }
        }
    }

    #[test]
    fn a_newer_keyspace_is_refused_with_both_versions() {
        let err = refuse_newer("tern", &BTreeSet::from([1, SCHEMA_VERSION + 1])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("version {}", SCHEMA_VERSION + 1)),
            "{text}"
        );
        assert!(refuse_newer("tern", &BTreeSet::from([SCHEMA_VERSION])).is_ok());
        assert!(refuse_newer("tern", &BTreeSet::new()).is_ok());
    }
}
