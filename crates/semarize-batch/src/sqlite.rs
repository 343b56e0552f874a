//! The embedded ledger: one SQLite file (WAL), for one process at a time.
//!
//! The process holds an exclusive lock on `<file name>.lock` while the ledger is open, so no
//! other process can be using it: leases left by a process that died are released at
//! once instead of waiting for them to expire.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Row, params};

use crate::Create;
use crate::ledger::sql::{self, Dialect, Statement, Value, micros};
use crate::ledger::{
    ClaimKind, CreateClaim, Kit, Ledger, LedgerCounts, LedgerError, LedgerFuture, NewRecord,
    NextDue, PollClaim, RecordState, ReplaySelection, ResultRow, RunRef, SCHEMA_VERSION, Terminal,
    Transition, derive_idempotency_key,
};
use crate::wake::{Wake, Watchers};

const DIALECT: Dialect = Dialect::Sqlite;

/// The SQLite ledger.
#[derive(Clone)]
pub struct SqliteLedger {
    connection: Arc<Mutex<Connection>>,
    location: String,
    /// The engines of this process, woken when records are added or finished.
    watchers: Watchers,
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
            watchers: Watchers::default(),
            _lock: Arc::new(lock),
        })
    }

    /// Runs `f` on the connection off the async runtime.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> LedgerFuture<T> {
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
    for (index, sql) in DIALECT
        .migrations()
        .iter()
        .enumerate()
        .skip(current as usize)
    {
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

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Int(value) => value.to_sql(),
            Value::Text(value) => value.to_sql(),
        }
    }
}

/// Runs a statement; the rows it changed.
fn execute(connection: &Connection, statement: &Statement) -> Result<usize, LedgerError> {
    connection
        .prepare_cached(&statement.sql)
        .and_then(|mut prepared| prepared.execute(rusqlite::params_from_iter(&statement.params)))
        .map_err(db)
}

/// Runs a query, reading each row with `read`.
fn query<T>(
    connection: &Connection,
    statement: &Statement,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, LedgerError> {
    let mut prepared = connection.prepare_cached(&statement.sql).map_err(db)?;
    let rows = prepared
        .query_map(rusqlite::params_from_iter(&statement.params), read)
        .map_err(db)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db)
}

/// A statement without parameters.
fn plain(sql: impl Into<String>) -> Statement {
    Statement {
        sql: sql.into(),
        params: Vec::new(),
    }
}

/// A stored count or counter, which SQLite keeps as a signed 64-bit integer.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn counter(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

impl SqliteLedger {
    fn claim<T: Send + 'static>(
        &self,
        kind: ClaimKind,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
        read: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> LedgerFuture<Vec<T>> {
        let statement = sql::claim(DIALECT, kind, owner, now_ms, lease, limit);
        self.with(move |connection| query(connection, &statement, read))
    }

    /// Runs one statement that changes records; whether any changed.
    fn change(&self, statement: Statement) -> LedgerFuture<bool> {
        self.with(move |connection| Ok(execute(connection, &statement)? > 0))
    }
}

impl Ledger for SqliteLedger {
    fn ingest(&self, records: Vec<NewRecord>) -> LedgerFuture<u64> {
        let watchers = self.watchers.clone();
        self.with(move |connection| {
            let tx = connection.transaction().map_err(db)?;
            let mut added = 0;
            {
                let mut insert = tx.prepare_cached(&sql::ingest_sql(DIALECT)).map_err(db)?;
                for record in &records {
                    let params = sql::ingest_params(record);
                    added += insert
                        .execute(rusqlite::params_from_iter(&params))
                        .map_err(db)? as u64;
                }
            }
            tx.commit().map_err(db)?;
            if added > 0 {
                watchers.wake_all();
            }
            Ok(added)
        })
    }

    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<CreateClaim>> {
        self.claim(ClaimKind::Create, owner, now_ms, lease, limit, |r| {
            Ok(CreateClaim {
                source_id: r.get(0)?,
                kit: r.get(1)?,
                input: r.get(2)?,
                idempotency_key: r.get(3)?,
                attempts: counter(r.get(4)?),
            })
        })
    }

    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<PollClaim>> {
        self.claim(ClaimKind::Poll, owner, now_ms, lease, limit, |r| {
            Ok(PollClaim {
                source_id: r.get(0)?,
                kit: r.get(1)?,
                run_id: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                polls: counter(r.get(3)?),
            })
        })
    }

    fn apply(
        &self,
        source_id: &str,
        kit: &Kit,
        transition: Transition,
        now_ms: i64,
    ) -> LedgerFuture<bool> {
        self.change(sql::apply(DIALECT, source_id, kit, &transition, now_ms))
    }

    fn finish_run(&self, run_id: &str, terminal: Terminal) -> LedgerFuture<bool> {
        // A webhook receiver in this process: the engine learns at once that a record it
        // waits for is done (it may be the last).
        let (changed, watchers) = (
            self.change(sql::finish_run(DIALECT, run_id, &terminal)),
            self.watchers.clone(),
        );
        Box::pin(async move {
            let changed = changed.await?;
            if changed {
                watchers.wake_all();
            }
            Ok(changed)
        })
    }

    fn counts(&self) -> LedgerFuture<LedgerCounts> {
        self.with(|connection| {
            let mut counts = LedgerCounts::default();
            let states = query(connection, &plain(sql::COUNT_STATES), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for (state, n) in states {
                counts.states.insert(RecordState::parse(&state)?, count(n));
            }
            let errors = query(connection, &plain(sql::count_errors()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            counts.errors = errors
                .into_iter()
                .map(|(code, n)| (code, count(n)))
                .collect();
            let credits = query(connection, &plain(sql::count_credits()), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })?;
            if let Some((credits, unknown)) = credits.first() {
                counts.credits = *credits;
                counts.credits_unknown = count(*unknown);
            }
            Ok(counts)
        })
    }

    fn any_in(&self, states: &'static [RecordState]) -> LedgerFuture<bool> {
        self.with(move |connection| {
            let found = query(connection, &plain(sql::any_in(states)), |r| {
                r.get::<_, bool>(0)
            })?;
            Ok(found.first().copied().unwrap_or(false))
        })
    }

    fn results(&self, after_line: u64, limit: usize) -> LedgerFuture<Vec<ResultRow>> {
        self.with(move |connection| {
            let rows = query(connection, &sql::results(DIALECT, after_line, limit), |r| {
                let row = ResultRow {
                    line: count(r.get(0)?),
                    id: r.get(1)?,
                    kit: r.get(2)?,
                    state: RecordState::Pending,
                    run_id: r.get(4)?,
                    idempotency_key: r.get(5)?,
                    error_code: r.get(6)?,
                    error_message: r.get(7)?,
                    output: r.get(8)?,
                    attempts: counter(r.get(9)?),
                    credits: r.get(10)?,
                    created_by: r.get(11)?,
                };
                Ok((row, r.get::<_, String>(3)?))
            })?;
            rows.into_iter()
                .map(|(mut row, state)| {
                    row.state = RecordState::parse(&state)?;
                    Ok(row)
                })
                .collect()
        })
    }

    fn runs_without_credits(&self, limit: usize) -> LedgerFuture<Vec<RunRef>> {
        self.with(move |connection| {
            query(
                connection,
                &sql::runs_without_credits(DIALECT, limit),
                |r| {
                    Ok(RunRef {
                        source_id: r.get(0)?,
                        kit: r.get(1)?,
                        run_id: r.get(2)?,
                    })
                },
            )
        })
    }

    fn set_credits(&self, source_id: &str, kit: &Kit, credits: i64) -> LedgerFuture<()> {
        let statement = sql::set_credits(DIALECT, source_id, kit, credits);
        self.with(move |connection| execute(connection, &statement).map(drop))
    }

    fn replay(&self, selection: ReplaySelection) -> LedgerFuture<u64> {
        let watchers = self.watchers.clone();
        self.with(move |connection| {
            let tx = connection.transaction().map_err(db)?;
            let selected = query(&tx, &sql::replay_selection(DIALECT, &selection), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Kit>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for (source_id, kit, generation, input) in &selected {
                let next = generation.saturating_add(1);
                let key = derive_idempotency_key(source_id, kit, input, counter(next));
                execute(&tx, &sql::replay_one(DIALECT, source_id, kit, next, &key))?;
            }
            tx.commit().map_err(db)?;
            if !selected.is_empty() {
                watchers.wake_all();
            }
            Ok(selected.len() as u64)
        })
    }

    fn next_due(&self, now_ms: i64) -> LedgerFuture<NextDue> {
        let statement = sql::next_due(DIALECT, now_ms);
        self.with(move |connection| {
            let due = query(connection, &statement, |r| {
                Ok(NextDue {
                    create_in_ms: r.get(0)?,
                    poll_in_ms: r.get(1)?,
                })
            })?;
            Ok(due.into_iter().next().unwrap_or_default())
        })
    }

    fn watch(&self, wake: Wake) -> LedgerFuture<()> {
        self.watchers.watch(wake)
    }

    fn pause_creations(&self, delay: Duration, now_ms: i64) -> LedgerFuture<()> {
        let changed = self.change(sql::pause_creations(DIALECT, delay, now_ms));
        Box::pin(async move { changed.await.map(drop) })
    }

    fn reserve_creations(
        &self,
        count: usize,
        interval: Duration,
        now_ms: i64,
    ) -> LedgerFuture<Duration> {
        let statement = sql::reserve_creations(DIALECT, count, interval, now_ms);
        self.with(move |connection| {
            let first = query(connection, &statement, |r| r.get::<_, i64>(0))?;
            Ok(micros(first.first().copied().unwrap_or(0)))
        })
    }
}
