//! The emulator's command line, shared by the `semarize-emulator` binary and
//! `semarize emulator`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::kits::{Catalog, KitsError};
use crate::{Config, Emulator, Settings, StartError};

/// A faithful local Semarize API with fault injection (control surface under /_emulator).
#[derive(clap::Args, Clone)]
pub struct EmulatorArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub addr: SocketAddr,
    /// API key to accept (repeatable); with none, a smz_test_ key is generated and printed.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Expired API key to seed (answers 401 api_key_expired; repeatable).
    #[arg(long = "expired-api-key", value_name = "KEY")]
    pub expired_api_keys: Vec<String>,
    /// Time from queued to terminal, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub run_latency_ms: u64,
    /// How long sync mode waits before the 202 fallback, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub sync_wait_ms: u64,
    /// Run creations per second per workspace before 429 (default: unlimited).
    #[arg(long)]
    pub create_rate: Option<f64>,
    /// Reads per second per workspace before 429 (default: unlimited).
    #[arg(long)]
    pub read_rate: Option<f64>,
    /// Run the webhook retry schedule this many times faster.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Permit http:// and loopback webhook URLs (local use).
    #[arg(long)]
    pub allow_http_webhooks: bool,
    /// Webhook payloads larger than this many bytes are sent as thin events.
    #[arg(long, default_value_t = 256 * 1024)]
    pub webhook_payload_limit: usize,
    /// Add unknown fields and enum values to responses.
    #[arg(long)]
    pub additive: bool,
    /// JSON file with more Kits (an array of kit definitions; see the README).
    #[arg(long, value_name = "FILE")]
    pub kits: Option<PathBuf>,
    /// Answer the requests this cassette (from `semarize --record`) holds with their
    /// recorded responses, in any order, each once; everything else as usual.
    #[arg(long, value_name = "FILE")]
    pub serve_cassette: Option<PathBuf>,
}

impl std::fmt::Debug for EmulatorArgs {
    // API keys are secrets: only their number is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorArgs")
            .field("addr", &self.addr)
            .field("api_keys", &self.api_keys.len())
            .field("run_latency_ms", &self.run_latency_ms)
            .field("sync_wait_ms", &self.sync_wait_ms)
            .field("create_rate", &self.create_rate)
            .field("read_rate", &self.read_rate)
            .field("time_scale", &self.time_scale)
            .field("serve_cassette", &self.serve_cassette)
            .finish_non_exhaustive()
    }
}

/// The emulator could not start from these arguments.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The kits file is unusable.
    #[error(transparent)]
    Kits(#[from] KitsError),
    /// The cassette to serve is unusable.
    #[error(transparent)]
    Cassette(#[from] semarize_api::cassette::CassetteError),
    /// The server could not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

impl EmulatorArgs {
    /// The configuration these arguments describe, and whether a key must be generated.
    pub fn config(&self) -> Result<(Config, bool), CliError> {
        let catalog = match &self.kits {
            Some(path) => Catalog::with_file(path)?,
            None => Catalog::default(),
        };
        let config = Config {
            addr: self.addr,
            api_keys: self.api_keys.clone(),
            expired_api_keys: self.expired_api_keys.clone(),
            catalog,
            settings: Settings {
                run_latency_ms: self.run_latency_ms,
                sync_wait_ms: self.sync_wait_ms,
                create_rate: self.create_rate,
                read_rate: self.read_rate,
                time_scale: self.time_scale,
                additive: self.additive,
                allow_http_webhooks: self.allow_http_webhooks,
                webhook_payload_limit_bytes: self.webhook_payload_limit,
            },
            cassette: match &self.serve_cassette {
                Some(path) => Some(
                    semarize_api::cassette::Cassette::replay(path)?
                        .order(semarize_api::cassette::Order::AnyOrder),
                ),
                None => None,
            },
            ..Config::default()
        };
        Ok((config, self.api_keys.is_empty()))
    }

    /// Starts the emulator, prints `listening on http://HOST:PORT` (and a generated key on
    /// the next line, then the inspector page's address), and serves until Ctrl-C or
    /// SIGTERM.
    pub async fn serve(&self) -> Result<(), CliError> {
        let (config, generated) = self.config()?;
        let served = config
            .cassette
            .as_ref()
            .map(|c| (c.path().display().to_string(), c.len()));
        let emulator = Emulator::start(config).await?;
        println!("listening on {}", emulator.base_url());
        if generated {
            // The key was made here, so printing it is how the user learns it.
            println!("api key: {}", emulator.api_key());
        }
        println!("inspector: {}", emulator.inspector_url());
        if let Some((path, interactions)) = served {
            eprintln!("serving cassette {path}: {interactions} interactions, any order, each once");
        }
        wait_for_signal().await;
        emulator.shutdown().await;
        Ok(())
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
