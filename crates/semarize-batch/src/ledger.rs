//! The ledger: durable state of a batch, one row per (source record id, Kit).
//!
//! Every state change is one committed statement, so a process killed at any instant
//! leaves a ledger from which the next run resumes: records being created keep their
//! Idempotency-Key (derived from the source id, the Kit, the content and the generation), so a
//! creation whose answer was lost is replayed by the server instead of duplicated.

use std::collections::BTreeMap;

use serde::Serialize;

use semarize::runtime::BoxFuture;

/// A ledger operation failed.
///
/// The variants say whose move it is: [`NotFound`](LedgerError::NotFound),
/// [`Invalid`](LedgerError::Invalid) and [`Corrupt`](LedgerError::Corrupt) need a person
/// (a path, a URL, a ledger to repair), while [`Unavailable`](LedgerError::Unavailable)
/// and [`Database`](LedgerError::Database) may pass by themselves
/// ([`LedgerError::is_unavailable`]): the `semarize` command exits 2 for the first kind
/// and 4 for the second.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// No ledger is there: a SQLite file that does not exist or holds no ledger, a
    /// PostgreSQL database without the ledger's tables. Only a batch run creates one.
    #[error("no ledger at {location}: {reason}")]
    NotFound {
        /// The file or URL (without credentials).
        location: String,
        /// Why.
        reason: String,
    },
    /// The location or its options are wrong (a malformed URL, an option out of range, a
    /// certificate file that cannot be read, a SQLite ledger another process holds).
    #[error("cannot open the ledger {location}: {reason}")]
    Invalid {
        /// The file or URL (without credentials).
        location: String,
        /// Why.
        reason: String,
    },
    /// The database could not be reached (refused, no answer, a failed TLS handshake).
    #[error("cannot reach the ledger {location}: {reason}")]
    Unavailable {
        /// The file or URL (without credentials).
        location: String,
        /// Why, with the causes underneath.
        reason: String,
        /// The driver's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A statement failed.
    #[error("ledger error: {message}")]
    Database {
        /// What failed, with the database's own message.
        message: String,
        /// The database driver's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The ledger holds something this version does not understand (a corrupted row or a
    /// newer schema).
    #[error("the ledger is not usable: {0}")]
    Corrupt(String),
}

impl LedgerError {
    /// Whether the database failed rather than the request: it could not be reached, or
    /// a statement failed (an outage in the middle of a run). Trying again later may
    /// succeed; a missing ledger, a wrong location or a corrupted ledger will not.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            LedgerError::Unavailable { .. } | LedgerError::Database { .. }
        )
    }

    /// A driver error, its text kept as the message.
    #[cfg(feature = "sqlite")]
    pub(crate) fn database(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        LedgerError::Database {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// A failure described by this crate, with no error underneath.
    #[cfg(feature = "postgres")]
    pub(crate) fn database_message(message: impl Into<String>) -> Self {
        LedgerError::Database {
            message: message.into(),
            source: None,
        }
    }
}

/// The Kit a record runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kit {
    /// An 8-character Kit code: its current version runs.
    Code(String),
    /// A Kit version id: exactly that version runs.
    Version(String),
}

impl Kit {
    /// How a pinned version is written in the ledger's `kit` column and in results files.
    const VERSION_PREFIX: &'static str = "version:";

    /// The ledger's text form: the code, or `version:<id>`. It is part of each record's
    /// key and of its Idempotency-Key derivation, so it never changes.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Kit::Code(code) => code.clone(),
            Kit::Version(id) => format!("{}{id}", Self::VERSION_PREFIX),
        }
    }

    /// Reads the ledger's text form.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_text(text: &str) -> Kit {
        match text.strip_prefix(Self::VERSION_PREFIX) {
            Some(id) => Kit::Version(id.to_owned()),
            None => Kit::Code(text.to_owned()),
        }
    }
}

/// The ledger's text form (the `kit` column of results files): the code, or
/// `version:<id>`.
impl std::fmt::Display for Kit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Serialize for Kit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for Kit {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_text()))
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::types::FromSql for Kit {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value.as_str().map(Kit::from_text)
    }
}

#[cfg(feature = "postgres")]
impl tokio_postgres::types::ToSql for Kit {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_text().to_sql(ty, out)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <String as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(feature = "postgres")]
impl<'a> tokio_postgres::types::FromSql<'a> for Kit {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw).map(Kit::from_text)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as tokio_postgres::types::FromSql>::accepts(ty)
    }
}

/// Where a record is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordState {
    /// Waiting for a creation worker.
    Pending,
    /// A worker holds it and may have sent the creation (lease).
    Creating,
    /// The run exists; waiting for its terminal state.
    Accepted,
    /// The run succeeded; the output is stored.
    Succeeded,
    /// The run failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
    /// The API refused to create the run (a non-retryable 4xx), or the input line was
    /// malformed; see the error code.
    Rejected,
}

impl RecordState {
    /// Every state.
    pub const ALL: [RecordState; 7] = [
        RecordState::Pending,
        RecordState::Creating,
        RecordState::Accepted,
        RecordState::Succeeded,
        RecordState::Failed,
        RecordState::Cancelled,
        RecordState::Rejected,
    ];

    /// The states of a record not yet terminal.
    pub const OPEN: &'static [RecordState] = &[
        RecordState::Pending,
        RecordState::Creating,
        RecordState::Accepted,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Pending => "pending",
            RecordState::Creating => "creating",
            RecordState::Accepted => "accepted",
            RecordState::Succeeded => "succeeded",
            RecordState::Failed => "failed",
            RecordState::Cancelled => "cancelled",
            RecordState::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, LedgerError> {
        RecordState::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| LedgerError::Corrupt(format!("unknown record state {raw:?}")))
    }

    /// Whether nothing more will happen to the record (until an explicit replay).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RecordState::Succeeded
                | RecordState::Failed
                | RecordState::Cancelled
                | RecordState::Rejected
        )
    }
}

// The records below cross the `Ledger` trait and stay exhaustive on purpose: a ledger
// implemented outside this crate builds them.

/// A record to add.
#[derive(Clone, Debug)]
pub struct NewRecord {
    /// The source record id.
    pub source_id: String,
    /// The Kit.
    pub kit: Kit,
    /// The run input (a JSON object), as JSON text.
    pub input: String,
    /// The input line number (1-based), for ordering results.
    pub line: u64,
    /// The Idempotency-Key of generation 0.
    pub idempotency_key: String,
    /// Set for malformed lines: the record is stored `rejected` with this error.
    pub rejected: Option<String>,
    /// Now, Unix milliseconds.
    pub now_ms: i64,
}

/// A record claimed for creation.
#[derive(Clone, Debug)]
pub struct CreateClaim {
    /// Source record id.
    pub source_id: String,
    /// Kit identifier.
    pub kit: Kit,
    /// Input JSON text.
    pub input: String,
    /// The Idempotency-Key to send.
    pub idempotency_key: String,
    /// Creation attempts so far, this one included.
    pub attempts: u32,
}

/// A record claimed for a poll.
#[derive(Clone, Debug)]
pub struct PollClaim {
    /// Source record id.
    pub source_id: String,
    /// Kit identifier.
    pub kit: Kit,
    /// The run.
    pub run_id: String,
    /// Polls so far.
    pub polls: u32,
}

/// How a record ended.
#[derive(Clone, Debug, Default)]
pub struct Terminal {
    /// `succeeded`, `failed`, `cancelled` or `rejected`.
    pub state: Option<RecordState>,
    /// The run's status as the API gave it.
    pub status: String,
    /// `error_code`.
    pub error_code: Option<String>,
    /// `error_message`.
    pub error_message: Option<String>,
    /// The output, as JSON text.
    pub output: Option<String>,
}

/// One line of the results.
#[derive(Clone, Debug, Serialize)]
pub struct ResultRow {
    /// Input line number.
    pub line: u64,
    /// Source record id.
    pub id: String,
    /// Kit identifier.
    pub kit: Kit,
    /// The record's state.
    pub state: RecordState,
    /// The run, when created.
    pub run_id: Option<String>,
    /// Idempotency-Key of the current generation.
    pub idempotency_key: String,
    /// Error code (failed or rejected records).
    pub error_code: Option<String>,
    /// Error message (failed or rejected records).
    pub error_message: Option<String>,
    /// The output JSON (succeeded records).
    pub output: Option<String>,
    /// Creation attempts.
    pub attempts: u32,
    /// Credits consumed, when fetched (`batch status`).
    pub credits: Option<i64>,
    /// The worker that last claimed the record for creation.
    pub created_by: Option<String>,
}

/// A record's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// Source record id.
    pub source_id: String,
    /// Kit identifier.
    pub kit: Kit,
    /// The run.
    pub run_id: String,
}

/// Counts for `batch status`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LedgerCounts {
    /// Records per state.
    pub states: BTreeMap<String, u64>,
    /// Failed and rejected records per error code.
    pub errors: BTreeMap<String, u64>,
    /// Credits recorded so far, and how many terminal runs have no credit figure yet.
    pub credits: i64,
    /// Runs whose usage is not recorded yet.
    pub credits_unknown: u64,
}

impl LedgerCounts {
    /// Records in `state`.
    pub fn count(&self, state: RecordState) -> u64 {
        self.states.get(state.as_str()).copied().unwrap_or(0)
    }

    /// Records in any state.
    pub fn total(&self) -> u64 {
        self.states.values().sum()
    }

    /// Records not yet terminal.
    pub fn open(&self) -> u64 {
        RecordState::OPEN.iter().map(|s| self.count(*s)).sum()
    }

    /// Records that ended without succeeding: failed, cancelled or rejected.
    pub fn unsuccessful(&self) -> u64 {
        self.count(RecordState::Failed)
            + self.count(RecordState::Cancelled)
            + self.count(RecordState::Rejected)
    }
}

/// Which records a replay starts again.
#[derive(Clone, Debug)]
pub enum ReplaySelection {
    /// Failed, cancelled and rejected records.
    Failed,
    /// These source ids (every Kit).
    Ids(Vec<String>),
}

/// The durable state of a batch. Implemented over SQLite (one process) and PostgreSQL
/// (many workers on many machines).
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Adds records; ones already present (same source id and Kit) are left untouched, so
    /// ingesting again after a crash is harmless. Returns how many were new.
    fn ingest(&self, records: Vec<NewRecord>) -> BoxFuture<Result<u64, LedgerError>>;

    /// Claims up to `limit` records to create: pending ones whose retry time has come, and
    /// ones whose creation lease expired (their worker died). The lease lasts until
    /// `lease_until_ms` (PostgreSQL: for `lease_until_ms - now_ms` by the database's
    /// clock, which every worker shares).
    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<CreateClaim>, LedgerError>>;

    /// The run exists: store its id; poll it from `next_poll_at_ms`.
    fn accepted(
        &self,
        source_id: &str,
        kit: &Kit,
        run_id: &str,
        status: &str,
        next_poll_at_ms: i64,
    ) -> BoxFuture<Result<(), LedgerError>>;

    /// The creation must be tried again from `next_attempt_at_ms` (same key).
    fn retry_create(
        &self,
        source_id: &str,
        kit: &Kit,
        next_attempt_at_ms: i64,
        error_code: Option<&str>,
    ) -> BoxFuture<Result<(), LedgerError>>;

    /// Claims up to `limit` accepted records due for a poll.
    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<PollClaim>, LedgerError>>;

    /// The run is not terminal yet (or the poll failed): poll again from `next_poll_at_ms`.
    /// `status` is the status seen, when the poll got one.
    fn polled(
        &self,
        source_id: &str,
        kit: &Kit,
        status: Option<&str>,
        next_poll_at_ms: i64,
    ) -> BoxFuture<Result<(), LedgerError>>;

    /// The record is terminal (unless it already was). Returns whether it changed.
    fn finish(
        &self,
        source_id: &str,
        kit: &Kit,
        terminal: Terminal,
    ) -> BoxFuture<Result<bool, LedgerError>>;

    /// The run with this id is terminal (a webhook): finishes its record unless it already
    /// is. Returns whether a record changed.
    fn finish_run(&self, run_id: &str, terminal: Terminal) -> BoxFuture<Result<bool, LedgerError>>;

    /// Counts per state and error code, and credits.
    fn counts(&self) -> BoxFuture<Result<LedgerCounts, LedgerError>>;

    /// Whether any record is in one of `states`. Every worker asks this each time it
    /// finds nothing to claim, so a backend answers it from an index; this default counts
    /// the whole ledger, which is right but costs a full scan.
    fn any_in(&self, states: &'static [RecordState]) -> BoxFuture<Result<bool, LedgerError>> {
        let counts = self.counts();
        Box::pin(async move {
            let counts = counts.await?;
            Ok(states.iter().any(|state| counts.count(*state) > 0))
        })
    }

    /// Results in input order, `limit` rows after line `after_line`.
    fn results(
        &self,
        after_line: u64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<ResultRow>, LedgerError>>;

    /// Terminal runs without a recorded credit figure.
    fn runs_without_credits(&self, limit: usize) -> BoxFuture<Result<Vec<RunRef>, LedgerError>>;

    /// Records the credits of a record's run.
    fn set_credits(
        &self,
        source_id: &str,
        kit: &Kit,
        credits: i64,
    ) -> BoxFuture<Result<(), LedgerError>>;

    /// Starts the selected records again with a new generation (so a new Idempotency-Key,
    /// hence a new run). Records still in flight are left alone. Returns how many.
    fn replay(
        &self,
        selection: ReplaySelection,
        now_ms: i64,
    ) -> BoxFuture<Result<u64, LedgerError>>;

    /// The earliest time any pending or accepted record is due, if any.
    fn next_due_ms(&self) -> BoxFuture<Result<Option<i64>, LedgerError>>;
}

/// The current schema version of both backends.
pub const SCHEMA_VERSION: i64 = 2;

/// Version 1 of the records table, shared by both backends; `big` is the SQL type of
/// millisecond timestamps and other 64-bit values (`INTEGER` in SQLite, `BIGINT` in
/// PostgreSQL).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn schema_v1(big: &str) -> String {
    format!(
        r#"
CREATE TABLE records (
    source_id        TEXT    NOT NULL,
    kit              TEXT    NOT NULL,
    line             {big}   NOT NULL,
    input            TEXT    NOT NULL,
    generation       INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    run_id           TEXT,
    status           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    polls            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  {big}   NOT NULL DEFAULT 0,
    next_poll_at     {big},
    lease_owner      TEXT,
    lease_until      {big},
    terminal_status  TEXT,
    error_code       TEXT,
    error_message    TEXT,
    output           TEXT,
    credits          {big},
    created_by       TEXT,
    created_at       {big}   NOT NULL,
    updated_at       {big}   NOT NULL,
    PRIMARY KEY (source_id, kit)
);
CREATE INDEX records_state ON records (state, next_attempt_at);
CREATE INDEX records_poll ON records (state, next_poll_at);
CREATE INDEX records_run ON records (run_id);
CREATE INDEX records_line ON records (line);
"#
    )
}

/// Version 2: the claimable records in line order. A claim walks `line` until it finds
/// pending or expired records; over the whole-table `records_line` index that walk passed
/// every record already done, so claims grew with the batch (quadratic over a batch, and
/// on PostgreSQL with four workers enough to delay webhook completions past Semarize's
/// 10 s answer window). Partial indexes exist in both backends.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn schema_v2() -> String {
    "CREATE INDEX records_claimable ON records (line) WHERE state = 'pending' OR state = 'creating';"
        .to_owned()
}

/// The Idempotency-Key of a record's generation: derived from the record's identity
/// (source id, Kit), its content (the input as stored) and the replay generation. Derived,
/// so a crash between sending a creation and recording its answer still reuses the key;
/// content included, so two batches that reuse source ids (`1`, `2`, ...) for different
/// transcripts never share a key (which would be a 409 conflict); hashed, so any source
/// id fits in the 254-character limit.
///
/// ```
/// use semarize_batch::{Kit, derive_idempotency_key as key};
/// let kit = Kit::Code("A1B2C3D4".into());
/// let a = key("call-1", &kit, r#"{"transcript":"a"}"#, 0);
/// assert_eq!(a, key("call-1", &kit, r#"{"transcript":"a"}"#, 0));
/// assert_ne!(a, key("call-1", &kit, r#"{"transcript":"a"}"#, 1));
/// assert_ne!(a, key("call-1", &kit, r#"{"transcript":"b"}"#, 0));
/// let pinned = Kit::Version("0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d40101".into());
/// assert_ne!(a, key("call-1", &pinned, r#"{"transcript":"a"}"#, 0));
/// assert!(a.len() <= 254);
/// ```
pub fn derive_idempotency_key(source_id: &str, kit: &Kit, input: &str, generation: u32) -> String {
    use sha2::Digest;
    let kit = kit.to_text();
    // Lengths first, so no two different (id, kit, input) triples hash the same bytes.
    let digest = sha2::Sha256::new()
        .chain_update((source_id.len() as u64).to_be_bytes())
        .chain_update(source_id.as_bytes())
        .chain_update((kit.len() as u64).to_be_bytes())
        .chain_update(kit.as_bytes())
        .chain_update((input.len() as u64).to_be_bytes())
        .chain_update(input.as_bytes())
        .chain_update(generation.to_be_bytes())
        .finalize();
    format!("smz-batch-{}-g{generation}", hex::encode(&digest[..20]))
}
