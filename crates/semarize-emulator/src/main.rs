//! `semarize-emulator`: run the local Semarize API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use semarize_emulator::{Config, Emulator, Settings, kits::Catalog};

/// A faithful local Semarize API with fault injection (control surface under /_emulator).
#[derive(Parser)]
#[command(name = "semarize-emulator", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// API key to accept (repeatable); with none, a smz_test_ key is generated and printed.
    #[arg(long = "api-key", value_name = "KEY")]
    api_keys: Vec<String>,
    /// Expired API key to seed (answers 401 api_key_expired; repeatable).
    #[arg(long = "expired-api-key", value_name = "KEY")]
    expired_api_keys: Vec<String>,
    /// Time from queued to terminal, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    run_latency_ms: u64,
    /// How long sync mode waits before the 202 fallback, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    sync_wait_ms: u64,
    /// Run creations per second per workspace before 429 (default: unlimited).
    #[arg(long)]
    create_rate: Option<f64>,
    /// Reads per second per workspace before 429 (default: unlimited).
    #[arg(long)]
    read_rate: Option<f64>,
    /// Run the webhook retry schedule this many times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Permit http:// and loopback webhook URLs (local use).
    #[arg(long)]
    allow_http_webhooks: bool,
    /// Webhook payloads larger than this many bytes are sent as thin events.
    #[arg(long, default_value_t = 256 * 1024)]
    webhook_payload_limit: usize,
    /// Add unknown fields and enum values to responses.
    #[arg(long)]
    additive: bool,
    /// JSON file with more Kits (an array of kit definitions; see the README).
    #[arg(long, value_name = "FILE")]
    kits: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let catalog = match &args.kits {
        Some(path) => match Catalog::with_file(path) {
            Ok(catalog) => catalog,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => Catalog::default(),
    };
    let generated = args.api_keys.is_empty();
    let config = Config {
        addr: args.addr,
        api_keys: args.api_keys,
        expired_api_keys: args.expired_api_keys,
        catalog,
        settings: Settings {
            run_latency_ms: args.run_latency_ms,
            sync_wait_ms: args.sync_wait_ms,
            create_rate: args.create_rate,
            read_rate: args.read_rate,
            time_scale: args.time_scale,
            additive: args.additive,
            allow_http_webhooks: args.allow_http_webhooks,
            webhook_payload_limit_bytes: args.webhook_payload_limit,
        },
        ..Config::default()
    };
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("listening on {}", emulator.base_url());
    if generated {
        // The key was made here, so printing it is how the user learns it.
        println!("api key: {}", emulator.api_key());
    }
    wait_for_signal().await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
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
