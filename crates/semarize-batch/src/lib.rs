//! Durable batch runs: the integration pattern of the Semarize guides, over the `semarize`
//! client.
//!
//! A [`Batch`] is the whole job: it opens (or, for a run, creates) a [`Ledger`] with one
//! row per (source record id, Kit), ingests JSON Lines, runs them, writes the results,
//! reconciles credits and replays. Underneath, the [`BatchEngine`] creates runs with
//! bounded concurrency behind a shared admission gate (a 429 pauses creation for the
//! advised delay and puts the work back in the queue), polls accepted runs separately, and
//! a [`Receiver`] completes them from verified webhooks. A record's life is a typed
//! [`Transition`] applied by the store. Keys are derived from the source id, the Kit, the
//! record's content and a replay generation ([`derive_idempotency_key`]), so killing the
//! process at any instant and starting again finishes the batch with no record run twice
//! and none lost. Replay is explicit ([`Batch::replay`]): it never creates a new run for a
//! record with a run unless asked, and then with a new generation.
//!
//! ```no_run
//! # async fn demo(client: semarize::Client) -> Result<(), semarize_batch::BatchError> {
//! use semarize_batch::{Batch, Kit, ResultFormat};
//! use std::path::Path;
//!
//! let batch = Batch::open_or_create("calls.ledger").await?;
//! batch.ingest_file(Path::new("calls.jsonl"), &Kit::Code("A1B2C3D4".into())).await?;
//! let report = batch.run(client).start().await?.to_end().await?;
//! batch.write_results(Path::new("results.jsonl"), ResultFormat::JsonLines).await?;
//! assert_eq!(report.counts.open(), 0);
//! # Ok(()) }
//! ```
//!
//! Features: `sqlite` (default: a SQLite file ledger), `postgres` (a PostgreSQL ledger
//! for many workers on many machines), `webhooks` (completion by verified webhook), and the
//! TLS choice of `semarize` (`rustls` by default, `rustls-ring`, `native-tls`).

// Feature badges on gated items in the docs.rs build.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

mod batch;
mod completion;
mod engine;
mod input;
mod ledger;
mod progress;
mod results;
#[cfg(feature = "sqlite")]
mod sqlite;
mod wake;
#[cfg(feature = "webhooks")]
mod webhook;

#[cfg(feature = "postgres")]
mod postgres;

use std::sync::Arc;

pub use batch::{Batch, RunBuilder, RunReport, StartedRun};
pub use completion::{Completion, complete_from_webhook};
pub use engine::{BatchEngine, BatchOptions, DEFAULT_WEBHOOK_GRACE, RunEnd};
pub use input::{IngestReport, RESERVED_ID_PREFIX, ingest_jsonl, parse_line};
pub use ledger::{
    ClaimKind, CreateClaim, Kit, Ledger, LedgerCounts, LedgerError, LedgerFuture, NewRecord,
    NextDue, PollClaim, RecordState, ReplaySelection, ResultRow, RunRef, SCHEMA_VERSION, Terminal,
    TerminalState, Transition, derive_idempotency_key,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresLedger;
pub use progress::Progress;
pub use results::{ResultFormat, write_results};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteLedger;
pub use wake::Wake;
#[cfg(feature = "webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
pub use webhook::{Delivery, Receiver, ReceiverOptions, WebhookReceiver, start_webhook_receiver};

/// A batch operation failed. Each variant keeps the error underneath as its `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The API refused in a way no retry fixes (authentication, permissions), or a
    /// webhook endpoint could not be registered.
    #[error(transparent)]
    Api(#[from] semarize::Error),
    /// The input file could not be opened.
    #[error("cannot read input file {}", path.display())]
    InputFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The input could not be read.
    #[error("cannot read the input at line {line}")]
    Input {
        /// The line being read (1-based).
        line: u64,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The results could not be written.
    #[error("cannot write the results to {}", path.display())]
    Output {
        /// The results file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The webhook receiver cannot listen where it was asked to.
    #[error("cannot listen on {addr} for webhooks")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The workspace's webhook endpoint already has the receiver's URL, and no secret was
    /// given to verify its deliveries with: registering it again would mint a new secret
    /// and break every receiver using the current one (see `ReceiverOptions::secrets` and
    /// `ReceiverOptions::rotate_secret`).
    #[error(
        "the workspace's webhook endpoint is already {url}; give its secret to reuse it \
         (SEMARIZE_WEBHOOK_SECRET, comma-separated during a rotation), or mint a new one \
         deliberately (--rotate-webhook-secret; every receiver of that URL then needs it)"
    )]
    WebhookSecretNeeded {
        /// The URL (printable).
        url: String,
    },
    /// Another worker registered the workspace's webhook endpoint at the same moment: its
    /// secret, not this one's, is the live one.
    #[error(
        "another worker registered the workspace's webhook endpoint while this one did; \
         start again with that endpoint's secret (SEMARIZE_WEBHOOK_SECRET) to reuse {url}"
    )]
    WebhookRegistrationRaced {
        /// The URL this worker registered (printable).
        url: String,
    },
    /// The workspace already has a webhook endpoint elsewhere, and registering this
    /// batch's receiver would replace it (see `ReceiverOptions::replace_existing`).
    #[error(
        "the workspace already has a webhook endpoint ({existing_url}); registering this \
         batch's receiver would replace it, point its deliveries here and break its secret. \
         Complete runs by polling, or replace it deliberately (--replace-webhook)"
    )]
    WebhookEndpointInUse {
        /// The endpoint's URL (printable).
        existing_url: String,
    },
}

/// Whether opening a ledger may create it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Create {
    /// A new, empty ledger where there is none: what a batch run does.
    IfMissing,
    /// The ledger must be there already ([`LedgerError::NotFound`] otherwise).
    Never,
}

/// Opens a ledger that must exist already: what a webhook receiver, `batch status` and
/// `batch replay` use, so that a mistyped path or URL is [`LedgerError::NotFound`] instead
/// of a new, empty ledger that would acknowledge deliveries for runs it never heard of.
/// Nothing is created: no SQLite file, no PostgreSQL table. (A ledger of an older schema
/// is upgraded.)
pub async fn open_existing_ledger(location: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    open(location, Create::Never).await
}

/// Opens a ledger, creating it when there is none: a `postgres://` or `postgresql://` URL
/// (feature `postgres`; the database must exist, its tables are created), or a SQLite
/// file path (feature `sqlite`).
pub async fn open_ledger(location: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    open(location, Create::IfMissing).await
}

async fn open(location: &str, create: Create) -> Result<Arc<dyn Ledger>, LedgerError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            return Ok(Arc::new(
                PostgresLedger::connect_with(location, create).await?,
            ));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(LedgerError::Invalid {
            location: "a PostgreSQL URL".into(),
            reason: "this build has no PostgreSQL support (feature `postgres`)".into(),
        });
    }
    #[cfg(feature = "sqlite")]
    {
        let path = std::path::PathBuf::from(location);
        let ledger = tokio::task::spawn_blocking(move || SqliteLedger::open_with(&path, create))
            .await
            .map_err(LedgerError::database)??;
        Ok(Arc::new(ledger))
    }
    #[cfg(not(feature = "sqlite"))]
    {
        let _ = create;
        Err(LedgerError::Invalid {
            location: location.to_owned(),
            reason: "this build has no SQLite support (feature `sqlite`); give a postgres:// URL"
                .into(),
        })
    }
}
