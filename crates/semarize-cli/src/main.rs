//! `semarize`: the Semarize API from the command line.
//!
//! Exit codes: 0 success; 1 a run ended `failed` or `cancelled`, or a batch ended with
//! failed records; 2 bad usage, configuration or input file; 3 the API refused the request
//! (4xx); 4 the API was unavailable after retries (5xx, 429, network, timeout), or the
//! ledger's database could not be reached or failed; 5 a wait reached its maximum; 6 a
//! webhook did not verify; 130 and 143 a batch stopped by SIGINT or SIGTERM.

mod batch;
mod commands;
mod demo;
mod output;
mod signals;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::{Failure, OutputFormat};

/// The Semarize API from the command line.
#[derive(Parser, Debug)]
#[command(name = "semarize", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// API key (smz_live_... or smz_test_...).
    #[arg(long, env = "SEMARIZE_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// Base URL of the API.
    #[arg(long, env = "SEMARIZE_BASE_URL", global = true, default_value = semarize::DEFAULT_BASE_URL)]
    base_url: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// More logging (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 run failed or cancelled, or batch records failed; \
2 usage, configuration or file error; 3 API refused the request (4xx); \
4 API unavailable after retries (5xx, 429, network), or ledger database unreachable; \
5 wait reached its maximum; 6 webhook did not verify; 130/143 batch stopped by SIGINT/SIGTERM.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Create, get, list, wait for runs and read their usage.
    #[command(subcommand)]
    Runs(commands::RunsCommand),
    /// Kit output schemas.
    #[command(subcommand)]
    Kits(commands::KitsCommand),
    /// Brick metadata for comma-separated brick ids.
    Bricks {
        /// Comma-separated brick ids (at most 100).
        ids: String,
    },
    /// The workspace webhook endpoint; verify deliveries; a local receiver.
    #[command(subcommand)]
    Webhooks(commands::WebhooksCommand),
    /// Durable batch runs over a ledger (SQLite file or PostgreSQL URL).
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Run the local emulator. The global --api-key (or SEMARIZE_API_KEY) is seeded as a
    /// key, so the other commands work against it; --seed-api-key adds more.
    #[command(mut_arg("api_keys", |arg| arg.long("seed-api-key")))]
    Emulator(semarize_emulator::cli::EmulatorArgs),
    /// A batch over sample transcripts against an in-process emulator: no key, no network.
    Demo(demo::DemoArgs),
}

impl Cli {
    fn client(&self) -> Result<semarize::Client, Failure> {
        let key = self.api_key.as_deref().ok_or_else(|| {
            Failure::usage(
                "no API key: pass --api-key or set SEMARIZE_API_KEY (smz_live_... or smz_test_...)",
            )
        })?;
        semarize::Client::builder()
            .api_key(key)
            .base_url(&self.base_url)
            .build()
            .map_err(Failure::from)
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "semarize=info,info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match &cli.command {
        Command::Runs(command) => match cli.client() {
            Ok(client) => command.run(&client, cli.output).await,
            Err(e) => Err(e),
        },
        Command::Kits(command) => match cli.client() {
            Ok(client) => command.run(&client, cli.output).await,
            Err(e) => Err(e),
        },
        Command::Bricks { ids } => match cli.client() {
            Ok(client) => commands::bricks(&client, ids, cli.output).await,
            Err(e) => Err(e),
        },
        Command::Webhooks(command) => command.run(&cli, cli.output).await,
        Command::Batch(command) => command.run(&cli, cli.output).await,
        Command::Emulator(args) => {
            let mut args = args.clone();
            args.api_keys.extend(cli.api_key.clone());
            args.serve()
                .await
                .map_err(|e| Failure::usage(e.to_string()))
        }
        Command::Demo(args) => demo::run(args, cli.output).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(failure.exit_code)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
