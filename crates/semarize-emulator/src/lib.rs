//! A faithful, stateful local Semarize API, for tests and local development.
//!
//! The emulator behaves as the Semarize documentation says: API keys (stored hashed, with
//! expiry) scoped to workspaces, validation with the documented error codes, runs that
//! move from `queued` through `running` to a terminal state on a clock, idempotent run
//! creation, sync mode with the 202 fallback, rate limits with `Retry-After`, Kit schemas
//! and Brick metadata, and signed webhooks delivered at least once with the documented
//! backoff. A control surface injects the faults the guides warn about.
//!
//! Start it in-process on an ephemeral loopback port:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let emulator = semarize_emulator::Emulator::start(Default::default()).await.unwrap();
//! let context = semarize_api::RequestContext::new().with_bearer(emulator.api_key()).unwrap();
//! let client = semarize_api::Client::new(emulator.base_url(), context);
//! let runs = client.list_runs().send().await.unwrap();
//! assert!(runs.is_empty());
//! emulator.control().fail_next("create_run", 1, 503, None);
//! emulator.shutdown().await;
//! # }
//! ```

// Feature badges on gated items in the docs.rs build.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

pub mod additive;
mod admission;
mod auth;
pub mod catalogue;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
pub mod control;
pub mod error;
pub mod faults;
mod http;
mod idempotency;
mod ids;
pub mod inspect;
pub mod kits;
pub mod routes;
mod runs;
mod server;
mod state;
mod webhooks;
mod workspace;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{Config, Settings};
pub use control::Control;
pub use faults::{FaultAction, FaultSpec, ForcedOutcome, RawResponse, WebhookFaults};

/// The emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The settings are not usable.
    #[error("invalid settings: {0}")]
    Settings(String),
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    base_url: String,
    api_key: String,
    control: Control,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    // The API key is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts the emulator on the current Tokio runtime.
    pub async fn start(config: Config) -> Result<Emulator, StartError> {
        config.settings.validate().map_err(StartError::Settings)?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
        let (jobs_tx, jobs_rx) = tokio::sync::mpsc::unbounded_channel();
        let (core, api_key) = state::Core::new(&config, jobs_tx);
        let core = Arc::new(core);
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(webhooks::run(core.clone(), jobs_rx, shutdown_rx.clone()));
        let router = http::router(http::App { core: core.clone() });
        let server = tokio::spawn(server::serve(listener, router, shutdown_rx));
        Ok(Emulator {
            addr,
            base_url: format!("http://{addr}"),
            api_key,
            control: Control { core },
            shutdown,
            server: Some(server),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, to give clients as their base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `http://HOST:PORT/_emulator/`: the inspector page (requests, runs, webhook
    /// deliveries, armed faults, settings), to open in a browser.
    pub fn inspector_url(&self) -> String {
        format!("{}/_emulator/", self.base_url)
    }

    /// A valid API key of the default workspace.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Fault injection, settings and inspection.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops accepting, closes connections and stops webhook delivery.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Locks a mutex of the emulator's state.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a lock must not take the whole emulator down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A generated type from its builder. The emulator answers with the spec's types, and
/// builds them through the generated builders rather than struct literals, so that a field
/// a later, additive spec adds (optional, by definition) never breaks this crate.
pub(crate) fn built<B, T>(builder: B) -> T
where
    T: TryFrom<B>,
    T::Error: std::fmt::Display,
{
    T::try_from(builder)
        .unwrap_or_else(|e| panic!("the emulator sets every field the spec requires: {e}"))
}
