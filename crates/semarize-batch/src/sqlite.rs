//! The embedded ledger: one SQLite file (WAL), for one process at a time.
//!
//! The process holds an exclusive lock on `<file name>.lock` while the ledger is open, so no
//! other process can be using it: leases left by a process that died are released at
//! once instead of waiting for them to expire.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::Create;

use super::ledger::{
    CreateClaim, Kit, Ledger, LedgerCounts, LedgerError, NewRecord, PollClaim, RecordState,
    ReplaySelection, ResultRow, RunRef, SCHEMA_VERSION, Terminal, derive_idempotency_key,
};
use semarize::runtime::BoxFuture;

/// SQLite's "now" in Unix milliseconds: what `updated_at` records.
const DB_NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/// Versioned migrations, applied in order; the index + 1 is the version.
fn migrations() -> Vec<String> {
    vec![
        super::ledger::schema_v1("INTEGER"),
        super::ledger::schema_v2(),
    ]
}

/// The SQLite ledger.
#[derive(Clone)]
pub struct SqliteLedger {
    connection: Arc<Mutex<Connection>>,
    location: String,
    /// Held for the life of the ledger: the exclusive lock on `<file name>.lock`.
    _lock: Arc<std::fs::File>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("location", &self.location)
            .finish()
    }
}

fn db(e: rusqlite::Error) -> LedgerError {
    LedgerError::database(e)
}

impl SqliteLedger {
    /// Opens the ledger file, creating it when there is none, takes its exclusive lock,
    /// applies pending migrations, and releases leases left by processes that died.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Self::open_with(path, Create::IfMissing)
    }

    /// [`SqliteLedger::open`] for a ledger that must exist: a file that is not there, or
    /// holds no ledger, is [`LedgerError::NotFound`], and nothing is created.
    pub fn open_existing(path: &Path) -> Result<Self, LedgerError> {
        Self::open_with(path, Create::Never)
    }

    pub(crate) fn open_with(path: &Path, create: Create) -> Result<Self, LedgerError> {
        let location = path.display().to_string();
        let invalid = |reason: String| LedgerError::Invalid {
            location: location.clone(),
            reason,
        };
        let not_found = |reason: &str| LedgerError::NotFound {
            location: location.clone(),
            reason: format!("{reason} (check the path; only a batch run creates a ledger)"),
        };
        if create == Create::Never {
            // Looked at before the lock file is made: a path that holds no ledger is left
            // exactly as it was.
            if !path.is_file() {
                return Err(not_found("no such file"));
            }
            let holds_ledger = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|connection| has_schema(&connection));
            let not_a_database = |e: &rusqlite::Error| {
                e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)
            };
            match holds_ledger {
                Ok(true) => {}
                Ok(false) => return Err(not_found("the file holds no ledger")),
                Err(e) if not_a_database(&e) => {
                    return Err(not_found("the file is not a SQLite database"));
                }
                Err(e) => return Err(invalid(e.to_string())),
            }
        }
        // `<file name>.lock`, the whole name kept: `l.db` and `l.sqlite` in one folder are
        // two ledgers with two locks.
        let mut lock_name = path.file_name().unwrap_or_default().to_os_string();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| invalid(format!("{}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|_| {
            invalid(
                "another process is using this ledger (use PostgreSQL for several workers)".into(),
            )
        })?;
        let connection = Connection::open(path).map_err(|e| invalid(e.to_string()))?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .map_err(|e| invalid(e.to_string()))?;
        migrate(&connection).map_err(|e| match e {
            LedgerError::Database { message, .. } => invalid(message),
            other => other,
        })?;
        // We hold the only lock: leases of earlier processes belong to the dead. Records
        // being created go back to the queue (their key is unchanged, so a creation that
        // did reach the API is replayed, not duplicated).
        connection
            .execute_batch(
                "UPDATE records SET state = 'pending', lease_owner = NULL, lease_until = NULL WHERE state = 'creating';
                 UPDATE records SET lease_owner = NULL, lease_until = NULL WHERE state = 'accepted' AND lease_until IS NOT NULL;",
            )
            .map_err(|e| invalid(e.to_string()))?;
        Ok(SqliteLedger {
            connection: Arc::new(Mutex::new(connection)),
            location,
            _lock: Arc::new(lock),
        })
    }

    /// Runs `f` on the connection off the async runtime.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> BoxFuture<Result<T, LedgerError>> {
        let connection = self.connection.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = connection.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut guard)
            })
            .await
            .map_err(LedgerError::database)?
        })
    }
}

/// Whether the file holds a ledger's tables (any schema version).
fn has_schema(connection: &Connection) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT COUNT(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('records', 'schema_version')",
        [],
        |r| r.get(0),
    )
}

fn migrate(connection: &Connection) -> Result<(), LedgerError> {
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL)")
        .map_err(db)?;
    let current: i64 = connection
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(db)?;
    if current > SCHEMA_VERSION {
        return Err(LedgerError::Corrupt(format!(
            "the ledger has schema version {current}; this build knows up to {SCHEMA_VERSION}"
        )));
    }
    for (index, sql) in migrations().iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = connection.unchecked_transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, datetime('now'))",
            params![version],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

/// Makes the records matching `condition` terminal. The terminal fields are `?1`..`?5`;
/// `key` fills `?6` onwards. Returns whether a record changed.
fn finish_where(
    connection: &Connection,
    condition: &str,
    key: &[String],
    terminal: Terminal,
) -> Result<bool, LedgerError> {
    let state = terminal.state.unwrap_or(RecordState::Failed);
    let sql = format!(
        "UPDATE records SET state = ?1, status = ?2, terminal_status = ?2, error_code = ?3,
             error_message = ?4, output = ?5, lease_owner = NULL, lease_until = NULL,
             updated_at = {DB_NOW_MS}
         WHERE {condition}"
    );
    let terminal_params: [&dyn rusqlite::ToSql; 5] = [
        &state.as_str(),
        &terminal.status,
        &terminal.error_code,
        &terminal.error_message,
        &terminal.output,
    ];
    let all: Vec<&dyn rusqlite::ToSql> = terminal_params
        .into_iter()
        .chain(key.iter().map(|k| k as &dyn rusqlite::ToSql))
        .collect();
    let changed = connection.execute(&sql, all.as_slice()).map_err(db)?;
    Ok(changed > 0)
}

fn state_of(raw: String) -> Result<RecordState, LedgerError> {
    RecordState::parse(&raw)
}

impl Ledger for SqliteLedger {
    fn ingest(&self, records: Vec<NewRecord>) -> BoxFuture<Result<u64, LedgerError>> {
        self.with(move |connection| {
            let tx = connection.transaction().map_err(db)?;
            let mut added = 0;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO records (source_id, kit, line, input, idempotency_key, state,
                             error_code, error_message, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                    )
                    .map_err(db)?;
                for r in records {
                    let (state, code) = match &r.rejected {
                        Some(_) => (RecordState::Rejected, Some("invalid_input_line")),
                        None => (RecordState::Pending, None),
                    };
                    added += insert
                        .execute(params![
                            r.source_id,
                            r.kit,
                            r.line as i64,
                            r.input,
                            r.idempotency_key,
                            state.as_str(),
                            code,
                            r.rejected,
                            r.now_ms
                        ])
                        .map_err(db)? as u64;
                }
            }
            tx.commit().map_err(db)?;
            Ok(added)
        })
    }

    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<CreateClaim>, LedgerError>> {
        let owner = owner.to_owned();
        self.with(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "UPDATE records SET state = 'creating', lease_owner = ?1, created_by = ?1, lease_until = ?2,
                         attempts = attempts + 1, updated_at = ?3
                     WHERE rowid IN (
                         SELECT rowid FROM records
                         WHERE (state = 'pending' AND next_attempt_at <= ?3)
                            OR (state = 'creating' AND lease_until < ?3)
                         ORDER BY line LIMIT ?4)
                     RETURNING source_id, kit, input, idempotency_key, attempts",
                )
                .map_err(db)?;
            let rows = statement
                .query_map(params![owner, lease_until_ms, now_ms, limit as i64], |r| {
                    Ok(CreateClaim {
                        source_id: r.get(0)?,
                        kit: r.get(1)?,
                        input: r.get(2)?,
                        idempotency_key: r.get(3)?,
                        attempts: r.get::<_, i64>(4)? as u32,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn accepted(
        &self,
        source_id: &str,
        kit: &Kit,
        run_id: &str,
        status: &str,
        next_poll_at_ms: i64,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let (source_id, kit, run_id, status) = (
            source_id.to_owned(),
            kit.clone(),
            run_id.to_owned(),
            status.to_owned(),
        );
        self.with(move |connection| {
            connection
                .execute(
                    &format!(
                        "UPDATE records SET state = 'accepted', run_id = ?3, status = ?4, next_poll_at = ?5,
                         lease_owner = NULL, lease_until = NULL, updated_at = {DB_NOW_MS}
                     WHERE source_id = ?1 AND kit = ?2 AND state IN ('pending', 'creating')"
                    ),
                    params![source_id, kit, run_id, status, next_poll_at_ms],
                )
                .map_err(db)?;
            Ok(())
        })
    }

    fn retry_create(
        &self,
        source_id: &str,
        kit: &Kit,
        next_attempt_at_ms: i64,
        error_code: Option<&str>,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let (source_id, kit, code) = (
            source_id.to_owned(),
            kit.clone(),
            error_code.map(str::to_owned),
        );
        self.with(move |connection| {
            connection
                .execute(
                    &format!(
                        "UPDATE records SET state = 'pending', next_attempt_at = ?3, error_code = ?4,
                         lease_owner = NULL, lease_until = NULL, updated_at = {DB_NOW_MS}
                     WHERE source_id = ?1 AND kit = ?2 AND state = 'creating'"
                    ),
                    params![source_id, kit, next_attempt_at_ms, code],
                )
                .map_err(db)?;
            Ok(())
        })
    }

    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<PollClaim>, LedgerError>> {
        let owner = owner.to_owned();
        self.with(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "UPDATE records SET lease_owner = ?1, lease_until = ?2, polls = polls + 1
                     WHERE rowid IN (
                         SELECT rowid FROM records
                         WHERE state = 'accepted' AND next_poll_at <= ?3
                           AND (lease_until IS NULL OR lease_until < ?3)
                         ORDER BY next_poll_at LIMIT ?4)
                     RETURNING source_id, kit, run_id, polls",
                )
                .map_err(db)?;
            let rows = statement
                .query_map(params![owner, lease_until_ms, now_ms, limit as i64], |r| {
                    Ok(PollClaim {
                        source_id: r.get(0)?,
                        kit: r.get(1)?,
                        run_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        polls: r.get::<_, i64>(3)? as u32,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn polled(
        &self,
        source_id: &str,
        kit: &Kit,
        status: Option<&str>,
        next_poll_at_ms: i64,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let (source_id, kit, status) =
            (source_id.to_owned(), kit.clone(), status.map(str::to_owned));
        self.with(move |connection| {
            connection
                .execute(
                    "UPDATE records SET status = COALESCE(?3, status), next_poll_at = ?4, lease_owner = NULL, lease_until = NULL
                     WHERE source_id = ?1 AND kit = ?2 AND state = 'accepted'",
                    params![source_id, kit, status, next_poll_at_ms],
                )
                .map_err(db)?;
            Ok(())
        })
    }

    fn finish(
        &self,
        source_id: &str,
        kit: &Kit,
        terminal: Terminal,
    ) -> BoxFuture<Result<bool, LedgerError>> {
        let key = vec![source_id.to_owned(), kit.to_text()];
        self.with(move |connection| {
            finish_where(
                connection,
                "source_id = ?6 AND kit = ?7 AND state NOT IN ('succeeded', 'failed', 'cancelled', 'rejected')",
                &key,
                terminal,
            )
        })
    }

    fn finish_run(&self, run_id: &str, terminal: Terminal) -> BoxFuture<Result<bool, LedgerError>> {
        let key = vec![run_id.to_owned()];
        self.with(move |connection| {
            finish_where(
                connection,
                "run_id = ?6 AND state = 'accepted'",
                &key,
                terminal,
            )
        })
    }

    fn counts(&self) -> BoxFuture<Result<LedgerCounts, LedgerError>> {
        self.with(|connection| {
            let mut counts = LedgerCounts::default();
            let mut states = connection.prepare("SELECT state, COUNT(*) FROM records GROUP BY state").map_err(db)?;
            for row in states.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(db)? {
                let (state, n) = row.map_err(db)?;
                counts.states.insert(state_of(state)?.as_str().to_owned(), n as u64);
            }
            let mut errors = connection
                .prepare(
                    "SELECT COALESCE(error_code, 'unknown'), COUNT(*) FROM records
                     WHERE state IN ('failed', 'rejected', 'cancelled') GROUP BY 1",
                )
                .map_err(db)?;
            for row in errors.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(db)? {
                let (code, n) = row.map_err(db)?;
                counts.errors.insert(code, n as u64);
            }
            let (credits, unknown): (i64, i64) = connection
                .query_row(
                    "SELECT COALESCE(SUM(credits), 0),
                            COALESCE(SUM(CASE WHEN credits IS NULL AND run_id IS NOT NULL
                                AND state IN ('succeeded', 'failed', 'cancelled') THEN 1 ELSE 0 END), 0)
                     FROM records",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db)?;
            counts.credits = credits;
            counts.credits_unknown = unknown as u64;
            Ok(counts)
        })
    }

    fn results(
        &self,
        after_line: u64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<ResultRow>, LedgerError>> {
        self.with(move |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT line, source_id, kit, state, run_id, idempotency_key, error_code, error_message,
                            output, attempts, credits, created_by
                     FROM records WHERE line > ?1 ORDER BY line, kit LIMIT ?2",
                )
                .map_err(db)?;
            let rows = statement
                .query_map(params![after_line as i64, limit as i64], |r| {
                    let state: String = r.get(3)?;
                    let row = ResultRow {
                        line: r.get::<_, i64>(0)? as u64,
                        id: r.get(1)?,
                        kit: r.get(2)?,
                        state: RecordState::Pending,
                        run_id: r.get(4)?,
                        idempotency_key: r.get(5)?,
                        error_code: r.get(6)?,
                        error_message: r.get(7)?,
                        output: r.get(8)?,
                        attempts: r.get::<_, i64>(9)? as u32,
                        credits: r.get(10)?,
                        created_by: r.get(11)?,
                    };
                    Ok((row, state))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (mut row, state) = row.map_err(db)?;
                row.state = state_of(state)?;
                out.push(row);
            }
            Ok(out)
        })
    }

    fn runs_without_credits(&self, limit: usize) -> BoxFuture<Result<Vec<RunRef>, LedgerError>> {
        self.with(move |connection| {
            let mut statement = connection
                .prepare(
                    "SELECT source_id, kit, run_id FROM records
                     WHERE credits IS NULL AND run_id IS NOT NULL AND state IN ('succeeded', 'failed', 'cancelled')
                     LIMIT ?1",
                )
                .map_err(db)?;
            let rows = statement
                .query_map(params![limit as i64], |r| Ok(RunRef { source_id: r.get(0)?, kit: r.get(1)?, run_id: r.get(2)? }))
                .map_err(db)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db)
        })
    }

    fn set_credits(
        &self,
        source_id: &str,
        kit: &Kit,
        credits: i64,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let (source_id, kit) = (source_id.to_owned(), kit.clone());
        self.with(move |connection| {
            connection
                .execute(
                    "UPDATE records SET credits = ?3 WHERE source_id = ?1 AND kit = ?2",
                    params![source_id, kit, credits],
                )
                .map_err(db)?;
            Ok(())
        })
    }

    fn replay(
        &self,
        selection: ReplaySelection,
        now_ms: i64,
    ) -> BoxFuture<Result<u64, LedgerError>> {
        self.with(move |connection| {
            let tx = connection.transaction().map_err(db)?;
            let selected: Vec<(String, Kit, i64, String)> = {
                let (sql, ids) = match &selection {
                    ReplaySelection::Failed => (
                        "SELECT source_id, kit, generation, input FROM records
                         WHERE state IN ('failed', 'cancelled')
                            OR (state = 'rejected' AND COALESCE(error_code, '') != 'invalid_input_line')"
                            .to_owned(),
                        Vec::new(),
                    ),
                    ReplaySelection::Ids(ids) => (
                        format!(
                            "SELECT source_id, kit, generation, input FROM records
                             WHERE source_id IN ({}) AND state IN ('succeeded', 'failed', 'cancelled', 'rejected')
                               AND NOT (state = 'rejected' AND error_code = 'invalid_input_line')",
                            vec!["?"; ids.len()].join(",")
                        ),
                        ids.clone(),
                    ),
                };
                let mut statement = tx.prepare(&sql).map_err(db)?;
                let rows = statement
                    .query_map(rusqlite::params_from_iter(ids.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .map_err(db)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(db)?
            };
            for (source_id, kit, generation, input) in &selected {
                let next = (*generation + 1) as u32;
                tx.execute(
                    "UPDATE records SET generation = ?3, idempotency_key = ?4, state = 'pending', run_id = NULL,
                         status = NULL, attempts = 0, polls = 0, next_attempt_at = 0, next_poll_at = NULL,
                         terminal_status = NULL, error_code = NULL, error_message = NULL, output = NULL,
                         credits = NULL, lease_owner = NULL, lease_until = NULL, updated_at = ?5
                     WHERE source_id = ?1 AND kit = ?2",
                    params![source_id, kit, next, derive_idempotency_key(source_id, kit, input, next), now_ms],
                )
                .map_err(db)?;
            }
            tx.commit().map_err(db)?;
            Ok(selected.len() as u64)
        })
    }

    fn any_in(&self, states: &'static [RecordState]) -> BoxFuture<Result<bool, LedgerError>> {
        self.with(move |connection| {
            let placeholders = vec!["?"; states.len()].join(", ");
            connection
                .prepare_cached(&format!(
                    "SELECT EXISTS (SELECT 1 FROM records WHERE state IN ({placeholders}))"
                ))
                .and_then(|mut statement| {
                    statement.query_row(
                        rusqlite::params_from_iter(states.iter().map(|s| s.as_str())),
                        |r| r.get::<_, bool>(0),
                    )
                })
                .map_err(db)
        })
    }

    fn next_due_ms(&self) -> BoxFuture<Result<Option<i64>, LedgerError>> {
        self.with(|connection| {
            connection
                .query_row(
                    "SELECT MIN(due) FROM (
                         SELECT MIN(next_attempt_at) AS due FROM records WHERE state = 'pending'
                         UNION ALL SELECT MIN(lease_until) FROM records WHERE state = 'creating'
                         UNION ALL SELECT MIN(MAX(next_poll_at, COALESCE(lease_until, 0))) FROM records WHERE state = 'accepted')",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )
                .optional()
                .map(Option::flatten)
                .map_err(db)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Kit, Ledger, NewRecord};

    /// A record of the Kit `A1B2C3D4` with the source id `id`.
    fn record(id: &str, now_ms: i64) -> NewRecord {
        NewRecord {
            source_id: id.to_owned(),
            kit: Kit::Code("A1B2C3D4".to_owned()),
            input: r#"{"transcript": "t"}"#.to_owned(),
            line: 1,
            idempotency_key: format!("key-{id}"),
            rejected: None,
            now_ms,
        }
    }

    #[tokio::test]
    async fn updated_at_is_when_a_record_changed_never_its_next_poll() {
        let dir = std::env::temp_dir().join(format!("semarize-updated-at-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ledger.sqlite");
        let ledger = SqliteLedger::open(&path).unwrap();
        let now = crate::now_ms();
        let hour = 3_600_000;
        ledger
            .ingest(vec![record("a", now), record("b", now)])
            .await
            .unwrap();
        let claimed = ledger
            .claim_for_create("w", now, now + 60_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        // Both are told to come back an hour from now: neither update happens then.
        ledger
            .accepted(
                "a",
                &Kit::Code("A1B2C3D4".into()),
                "run-a",
                "queued",
                now + hour,
            )
            .await
            .unwrap();
        ledger
            .retry_create(
                "b",
                &Kit::Code("A1B2C3D4".into()),
                now + hour,
                Some("rate_limited"),
            )
            .await
            .unwrap();
        let connection = rusqlite::Connection::open(&path).unwrap();
        let newest: i64 = connection
            .query_row("SELECT MAX(updated_at) FROM records", [], |row| row.get(0))
            .unwrap();
        assert!(
            newest <= crate::now_ms() + 1_000,
            "updated_at {newest} lies in the future (now {now})"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn any_in_answers_per_state_as_the_counts_do() {
        let dir = std::env::temp_dir().join(format!("semarize-any-in-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ledger = SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap();
        let (pending, accepted) = (&[RecordState::Pending][..], &[RecordState::Accepted][..]);
        assert!(!ledger.any_in(RecordState::OPEN).await.unwrap());
        let now = crate::now_ms();
        let kit = Kit::Code("A1B2C3D4".to_owned());
        ledger.ingest(vec![record("a", now)]).await.unwrap();
        assert!(ledger.any_in(pending).await.unwrap());
        assert!(!ledger.any_in(accepted).await.unwrap());
        ledger
            .claim_for_create("w", now, now + 60_000, 1)
            .await
            .unwrap();
        ledger
            .accepted("a", &kit, "run-a", "queued", now)
            .await
            .unwrap();
        assert!(!ledger.any_in(pending).await.unwrap());
        assert!(ledger.any_in(accepted).await.unwrap());
        assert!(ledger.any_in(RecordState::OPEN).await.unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
