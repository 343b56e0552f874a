//! The ledger: durable state of a batch, one row per (source record id, Kit).
//!
//! Every state change is one committed statement, so a process killed at any instant
//! leaves a ledger from which the next run resumes: records being created keep their
//! Idempotency-Key (derived from the source id, the Kit, the content and the generation), so a
//! creation whose answer was lost is replayed by the server instead of duplicated.
//!
//! What a record may become is decided once, in [`Transition`]; a store ([`Ledger`]: SQLite
//! or PostgreSQL) applies transitions and answers claims.
//!
//! # Clocks
//!
//! Each time has one source. `updated_at` and `created_at` are the database's clock. Due
//! times (a retry's `next_attempt_at`, a poll's `next_poll_at`) and leases are set as a
//! delay from "now" and compared with "now" by the same clock: the worker's injected clock
//! ([`semarize::runtime::Clock`], virtual in tests) in SQLite, where one process owns the
//! ledger, and the database's in PostgreSQL, where workers on machines whose clocks
//! disagree share every due time. A store is given the worker's `now_ms` and uses it only
//! where it owns no shared clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

mod error;
mod kit;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) mod sql;
mod state;

pub use error::LedgerError;

use crate::Wake;

/// What every [`Ledger`] operation returns: a boxed, sendable future of its result.
pub type LedgerFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, LedgerError>> + Send>>;
pub use kit::Kit;
pub use state::{RecordState, Terminal, TerminalState, Transition};

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
    /// Polls so far, this one included.
    pub polls: u32,
}

/// What a claim takes: records to create, or runs to poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimKind {
    /// Pending records whose retry time has come, and records whose creation lease
    /// expired (their worker died); they become `creating`, leased to the claimer.
    Create,
    /// Accepted records due for a poll whose poll lease (if any) expired; they stay
    /// `accepted`, leased to the claimer.
    Poll,
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
    /// Records per state (states with no record are left out).
    pub states: BTreeMap<RecordState, u64>,
    /// Failed and rejected records per error code.
    pub errors: BTreeMap<String, u64>,
    /// Credits recorded so far.
    pub credits: i64,
    /// Terminal runs whose usage is not recorded yet.
    pub credits_unknown: u64,
}

impl LedgerCounts {
    /// Records in `state`.
    pub fn count(&self, state: RecordState) -> u64 {
        self.states.get(&state).copied().unwrap_or(0)
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

/// The durable state of a batch: a store that applies [`Transition`]s atomically and
/// answers claims. Implemented over SQLite (one process) and PostgreSQL (many workers on
/// many machines); see the module's notes on clocks for `now_ms`.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Adds records; ones already present (same source id and Kit) are left untouched, so
    /// ingesting again after a crash is harmless. Returns how many were new.
    fn ingest(&self, records: Vec<NewRecord>) -> LedgerFuture<u64>;

    /// Claims up to `limit` records to create ([`ClaimKind::Create`]), leased to `owner`
    /// for `lease`.
    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<CreateClaim>>;

    /// Claims up to `limit` runs to poll ([`ClaimKind::Poll`]), leased to `owner` for
    /// `lease`.
    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<PollClaim>>;

    /// Applies `transition` to the record (`source_id`, `kit`) if it is in one of the
    /// transition's [`from_states`](Transition::from_states), releasing its lease.
    /// Returns whether it changed.
    fn apply(
        &self,
        source_id: &str,
        kit: &Kit,
        transition: Transition,
        now_ms: i64,
    ) -> LedgerFuture<bool>;

    /// The run with this id is terminal (a webhook): finishes its record if the record is
    /// `accepted`. Returns whether a record changed.
    fn finish_run(&self, run_id: &str, terminal: Terminal) -> LedgerFuture<bool>;

    /// Counts per state and error code, and credits.
    fn counts(&self) -> LedgerFuture<LedgerCounts>;

    /// Whether any record is in one of `states`. Every worker asks this each time it
    /// finds nothing to claim, so a backend answers it from an index; this default counts
    /// the whole ledger, which is right but costs a full scan.
    fn any_in(&self, states: &'static [RecordState]) -> LedgerFuture<bool> {
        let counts = self.counts();
        Box::pin(async move {
            let counts = counts.await?;
            Ok(states.iter().any(|state| counts.count(*state) > 0))
        })
    }

    /// Results in input order, `limit` rows after line `after_line`.
    fn results(&self, after_line: u64, limit: usize) -> LedgerFuture<Vec<ResultRow>>;

    /// Terminal runs without a recorded credit figure.
    fn runs_without_credits(&self, limit: usize) -> LedgerFuture<Vec<RunRef>>;

    /// Records the credits of a record's run.
    fn set_credits(&self, source_id: &str, kit: &Kit, credits: i64) -> LedgerFuture<()>;

    /// Starts the selected records again with a new generation (so a new Idempotency-Key,
    /// hence a new run). Records still in flight are left alone. Returns how many.
    fn replay(&self, selection: ReplaySelection) -> LedgerFuture<u64>;

    /// How long until the earliest creation and the earliest poll are due (zero or less:
    /// due now), each if any record waits for one. A creation is not due before the fleet's
    /// pause ends. Idle workers ask this once per rest, so it is one statement.
    fn next_due(&self, now_ms: i64) -> LedgerFuture<NextDue>;

    /// Runs for as long as the engine does (it is dropped when the engine ends), calling
    /// `wake` whenever the ledger learns that another process may have given this worker
    /// something to do: records ingested or replayed, or the last open record finished.
    /// Without it, idle workers still find such work, after a rest of up to five seconds.
    /// The default, for a ledger that learns of nothing, waits for ever.
    fn watch(&self, wake: Wake) -> LedgerFuture<()> {
        drop(wake);
        Box::pin(std::future::pending())
    }

    /// Pauses every worker's creations for `delay` from now (a 429's capped advice),
    /// unless they are paused longer already: Semarize's limits are per workspace, and a
    /// ledger serves one. Creation claims return nothing until the pause ends.
    fn pause_creations(&self, delay: Duration, now_ms: i64) -> LedgerFuture<()>;

    /// Reserves `count` creation slots `interval` apart for the whole fleet (after the
    /// slots already reserved and after a pause) and returns how long from now until the
    /// first; slot `i` is `i × interval` later. Every worker drawing its slots here keeps
    /// the fleet under one rate.
    fn reserve_creations(
        &self,
        count: usize,
        interval: Duration,
        now_ms: i64,
    ) -> LedgerFuture<Duration>;
}

/// What is due next ([`Ledger::next_due`]), in milliseconds from now; `None` where no
/// record waits for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextDue {
    /// The earliest creation (a pending record, or one whose creation lease ran out).
    pub create_in_ms: Option<i64>,
    /// The earliest poll of an accepted record.
    pub poll_in_ms: Option<i64>,
}

/// The current schema version of both backends.
pub const SCHEMA_VERSION: i64 = 3;

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
