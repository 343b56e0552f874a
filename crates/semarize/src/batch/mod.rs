//! Durable batch runs (feature `batch`): the integration pattern of the Semarize guides.
//!
//! A [`Ledger`] keeps one row per (source record id, Kit): Idempotency-Key, run_id,
//! status, next_poll_at, attempts, terminal status, error code and message, output. The
//! [`BatchEngine`] creates runs with bounded concurrency behind a shared admission gate (a
//! 429 pauses creation for the advised delay and puts the work back in the queue), polls
//! accepted runs separately by `next_poll_at`, and accepts webhook completions. Keys are
//! derived from the source id, the Kit and a replay generation, so killing the process at
//! any instant and starting again finishes the batch with no record run twice and none
//! lost. Replay is explicit ([`Ledger::replay`]): it never creates a new run for a record
//! with a run unless asked, and then with a new generation.
//!
//! ```no_run
//! # async fn demo(client: semarize::Client) -> Result<(), semarize::batch::BatchError> {
//! use std::sync::Arc;
//! use semarize::batch::{self, BatchEngine, BatchOptions, Progress};
//!
//! let ledger = batch::open_ledger("calls.ledger").await?;
//! let input = std::io::BufReader::new(std::fs::File::open("calls.jsonl").unwrap());
//! batch::ingest_jsonl(ledger.as_ref(), input, "A1B2C3D4").await?;
//! BatchEngine::new(ledger.clone(), client, BatchOptions::default(), Arc::new(Progress::default())).run().await?;
//! batch::write_results(ledger.as_ref(), std::path::Path::new("results.jsonl"), batch::ResultFormat::JsonLines).await?;
//! # Ok(()) }
//! ```

mod engine;
mod input;
mod ledger;
mod results;
mod sqlite;
mod webhook;

#[cfg(feature = "postgres")]
mod postgres;

use std::sync::Arc;

pub use engine::{BatchEngine, BatchOptions, Progress, RunEnd};
pub use input::{IngestReport, RESERVED_ID_PREFIX, ingest_jsonl, parse_line};
pub use ledger::{
    CreateClaim, Ledger, LedgerCounts, LedgerError, NewRecord, PollClaim, RecordState,
    ReplaySelection, ResultRow, RunRef, SCHEMA_VERSION, Terminal, derive_idempotency_key,
};
#[cfg(feature = "postgres")]
pub use postgres::PostgresLedger;
pub use results::{ResultFormat, write_results};
pub use sqlite::SqliteLedger;
pub use webhook::{ReceiverOptions, WebhookReceiver, start_webhook_receiver};

/// A batch operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The API refused in a way no retry fixes (authentication, permissions).
    #[error("{0}")]
    Api(#[source] crate::Error),
    /// The input could not be read.
    #[error("input: {0}")]
    Input(String),
    /// The results could not be written.
    #[error("results: {0}")]
    Output(String),
}

/// Now, Unix milliseconds (the ledger's clock; leases compare these across machines).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Opens a ledger that must exist already: what read-only commands and replays use, so a
/// mistyped path is an error instead of a new, empty ledger.
pub async fn open_existing_ledger(location: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    let is_url = location.starts_with("postgres://") || location.starts_with("postgresql://");
    if !is_url && !std::path::Path::new(location).is_file() {
        return Err(LedgerError::Open {
            location: location.to_owned(),
            reason: "no ledger file there (check the path; only `batch run` creates a ledger)"
                .into(),
        });
    }
    open_ledger(location).await
}

/// Opens a ledger: a `postgres://` or `postgresql://` URL (feature `postgres`), or a SQLite
/// file path.
pub async fn open_ledger(location: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            return Ok(Arc::new(PostgresLedger::connect(location).await?));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(LedgerError::Open {
            location: "a PostgreSQL URL".into(),
            reason: "this build has no PostgreSQL support (feature `postgres`)".into(),
        });
    }
    let path = std::path::PathBuf::from(location);
    let ledger = tokio::task::spawn_blocking(move || SqliteLedger::open(&path))
        .await
        .map_err(|e| LedgerError::Database(e.to_string()))??;
    Ok(Arc::new(ledger))
}
