//! `semarize-emulator`: run the local Semarize API.

use std::process::ExitCode;

use clap::Parser;
use semarize_emulator::cli::EmulatorArgs;

/// A faithful local Semarize API with fault injection (control surface under /_emulator).
#[derive(Parser)]
#[command(name = "semarize-emulator", version)]
struct Args {
    #[command(flatten)]
    emulator: EmulatorArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Args::parse().emulator.serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
