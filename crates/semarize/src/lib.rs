//! The Semarize API for Rust.
//!
//! Semarize runs a *Kit* (a set of *Bricks*) over a conversation transcript and returns
//! structured output. This crate is the client production integrations want: every call
//! of the API, typed, with the discipline the Semarize guides ask for built in:
//!
//! - **Idempotent run creation.** Every creation carries an Idempotency-Key (yours, or
//!   one made once per logical call) and every retry reuses it, so timeouts, 429 and 5xx
//!   never create a second run.
//! - **Safe retries.** Connection failures, timeouts, 408, 429 and 5xx are retried with
//!   capped exponential backoff and full jitter, never sooner than `Retry-After` or
//!   `retry_after_seconds`; other 4xx are final. Attempts and elapsed time are bounded,
//!   and a client-wide [`RetryBudget`] stops retry storms.
//! - **Waiting.** [`Runs::wait`](resources::Runs::wait) polls from the advised delay with
//!   bounded backoff, honours `Retry-After` and 429, and needs a maximum wait. Sync
//!   creations that fall back to 202 continue by polling, never by resubmitting.
//! - **Typed errors.** One [`Error`] with an [`ErrorKind`] to match on, the documented
//!   [`ErrorCode`]s, and a [`SupportSummary`] for escalations.
//! - **Webhooks.** [`webhooks::Verifier`] (constant-time, timestamp tolerance, secret
//!   rotation), [`webhooks::Deduper`], thin-event completion, and an axum extractor.
//!
//! ```no_run
//! use std::time::Duration;
//! use semarize::{Client, RunOutcome, RunOutputExt};
//!
//! # async fn demo() -> Result<(), semarize::Error> {
//! let client = Client::from_env()?; // SEMARIZE_API_KEY, SEMARIZE_BASE_URL
//! let outcome = client
//!     .runs()
//!     .create_with_kit_code("A1B2C3D4")
//!     .transcript("Rep: What drove the urgency? Prospect: ...")
//!     .idempotency_key("call-123-kit-A1B2C3D4")
//!     .send_and_wait(Duration::from_secs(300))
//!     .await?;
//! match outcome {
//!     RunOutcome::Succeeded(run) => {
//!         let pain = run.brick("pain_is_specific").expect("the kit has this brick");
//!         println!("{:?} because {:?}", pain.value(), pain.reason());
//!     }
//!     RunOutcome::Failed(failure) => eprintln!("failed: {:?}", failure.error_user_message()),
//!     RunOutcome::Cancelled(_) => eprintln!("cancelled"),
//! }
//! # Ok(()) }
//! ```
//!
//! Features: `rustls` (default), `rustls-ring` or `native-tls` (HTTPS; see
//! `semarize_api::tls`), `axum` (the webhook extractor), `cassette` (record responses once,
//! replay them offline: [`cassette`]), `metrics` (counters and histograms through the
//! `metrics` facade; the README lists them), `testing` (insta redactions, an in-process emulator
//! and cassettes for your tests). Durable batch runs are the `semarize-batch` crate.

// Feature badges on gated items in the docs.rs build.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

mod backoff;
mod call;
mod client;
mod error;
mod idempotency;
mod limits;
mod output;
pub mod resources;
mod response;
mod retry;
pub mod runtime;
mod telemetry;
pub mod text;
mod wait;
pub mod webhooks;

#[cfg(feature = "testing")]
pub mod testing;

/// Record real responses once, replay them offline (re-exported from `semarize-api`):
/// set a [`Cassette`](cassette::Cassette) with [`ClientBuilder::cassette`].
#[cfg(feature = "cassette")]
#[cfg_attr(docsrs, doc(cfg(feature = "cassette")))]
pub use semarize_api::cassette;

/// Per-attempt hooks (re-exported from `semarize-api`): add headers to every request,
/// observe every response. Register them with [`ClientBuilder::hook`].
pub use semarize_api::hooks;

pub use backoff::Backoff;
pub use client::{ApiKey, Client, ClientBuilder, DEFAULT_BASE_URL};
pub use error::{Error, ErrorKind, MAX_RAW_BODY_BYTES, RetryStop, SupportSummary};
pub use idempotency::{
    IdempotencyKey, KeyGenerator, MAX_IDEMPOTENCY_KEY_LEN, SequentialKeys, UuidKeys,
};
pub use output::{Brick, RunOutputExt};
pub use response::Response;
pub use retry::{RetryBudget, RetryPolicy, parse_retry_after};
pub use wait::{RunFailure, RunOutcome, WaitOptions};

/// Every operation's facts, generated from the spec (re-exported from `semarize-api`).
pub use semarize_api::operations;
/// The API's types, generated from the spec (re-exported from `semarize-api`).
pub use semarize_api::types;
pub use semarize_api::types::{ErrorCode, RunMode, RunStatus, RunType, WebhookEventType};
/// The `serde_json` this crate's types use (`Brick::value()` is a [`serde_json::Value`]),
/// so callers need not match its version themselves.
pub use serde_json;
