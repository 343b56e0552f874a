//! `semarize`: the Semarize API from the command line.
//!
//! Exit codes: 0 success; 1 a run ended `failed` or `cancelled`, or a batch ended with
//! failed records; 2 bad usage, configuration or input file; 3 the API refused the request
//! (4xx); 4 the API was unavailable after retries (5xx, 429, network, timeout), or the
//! ledger's database could not be reached or failed; 5 a wait reached its maximum; 6 a
//! webhook did not verify; 130 and 143 a batch stopped by SIGINT or SIGTERM; 1 also when
//! `cassette check` found a problem.

mod batch;
mod cassette;
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
    /// How long one attempt of an API call may take, in seconds (default 30); a slower
    /// answer counts as a timeout, retried like a 503.
    #[arg(
        long,
        env = "SEMARIZE_REQUEST_TIMEOUT",
        global = true,
        value_name = "SECONDS",
        value_parser = parse_request_timeout
    )]
    request_timeout: Option<std::time::Duration>,
    /// More logging (-v: info, -vv: debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Record every API request and response into this cassette file (secrets are
    /// never written).
    #[arg(
        long,
        env = "SEMARIZE_RECORD",
        global = true,
        value_name = "FILE",
        conflicts_with = "replay"
    )]
    record: Option<std::path::PathBuf>,
    /// Answer every API request from this cassette file: nothing is sent and no API key
    /// is needed; a request it does not hold exits 2.
    #[arg(long, env = "SEMARIZE_REPLAY", global = true, value_name = "FILE")]
    replay: Option<std::path::PathBuf>,
    /// With --record: replace transcripts and evidence quotes by stable placeholders
    /// (the cassette still replays).
    #[arg(long, global = true)]
    redact_transcripts: bool,
    /// The cassette of --record or --replay, opened once for every client of the command.
    #[arg(skip)]
    cassette: Option<semarize::cassette::Cassette>,
    #[command(subcommand)]
    command: Command,
}

/// `--request-timeout`: seconds, above 0 and at most an hour (fractions allowed).
fn parse_request_timeout(text: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(format!("{text} is not in (0, 3600] seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 run failed or cancelled, batch records failed, \
or cassette check found a problem; \
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
    /// Cassettes recorded with --record: check them against the spec.
    #[command(subcommand)]
    Cassette(cassette::CassetteCommand),
}

impl Cli {
    /// Whether a replayed cassette answers every call (so no key is needed).
    fn replaying(&self) -> bool {
        self.cassette
            .as_ref()
            .is_some_and(|c| c.mode() == semarize::cassette::Mode::Replay)
    }

    /// Whether API calls can be made: a key, or a replay.
    fn can_call_api(&self) -> bool {
        self.api_key.is_some() || self.replaying()
    }

    fn client(&self) -> Result<semarize::Client, Failure> {
        let mut builder = semarize::Client::builder().base_url(&self.base_url);
        if let Some(timeout) = self.request_timeout {
            builder = builder.request_timeout(timeout);
        }
        if let Some(cassette) = &self.cassette {
            builder = builder.cassette(cassette.clone());
        }
        match self.api_key.as_deref() {
            Some(key) => builder = builder.api_key(key),
            // A replay sends nothing, so it needs no key.
            None if self.replaying() => {}
            None => {
                return Err(Failure::usage(
                    "no API key: pass --api-key or set SEMARIZE_API_KEY (smz_live_... or smz_test_...)",
                ));
            }
        }
        builder.build().map_err(Failure::from)
    }

    /// Opens the cassette of --record/--replay, for commands that call the API.
    fn open_cassette(&mut self) -> Result<(), Failure> {
        let options = cassette::CassetteOptions {
            record: self.record.clone(),
            replay: self.replay.clone(),
            redact_transcripts: self.redact_transcripts,
        };
        if self.redact_transcripts && self.record.is_none() {
            return Err(Failure::usage("--redact-transcripts applies to --record"));
        }
        if !options.is_set() {
            return Ok(());
        }
        let refused = match &self.command {
            Command::Webhooks(commands::WebhooksCommand::Listen { .. }) => Some("webhooks listen"),
            Command::Webhooks(commands::WebhooksCommand::Verify { .. }) => Some("webhooks verify"),
            Command::Emulator(_) => Some("emulator"),
            Command::Demo(_) => Some("demo"),
            Command::Cassette(_) => Some("cassette"),
            _ => None,
        };
        if let Some(command) = refused {
            return Err(Failure::usage(format!(
                "--record and --replay apply to commands that call the API; `semarize {command}` \
                 does not take them"
            )));
        }
        // A batch's calls are concurrent: their order differs from run to run.
        let concurrent = matches!(
            self.command,
            Command::Batch(batch::BatchCommand::Run(_) | batch::BatchCommand::Replay { .. })
        );
        self.cassette = options.open(concurrent)?;
        Ok(())
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
    let mut cli = Cli::parse();
    init_logging(cli.verbose);
    if let Err(failure) = cli.open_cassette() {
        eprintln!("{failure}");
        return ExitCode::from(failure.exit_code);
    }
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
        Command::Cassette(command) => command.run(),
    };
    // The recording is written whatever the command's outcome: failures are worth
    // replaying too. A failure to write it is reported; the command's own failure wins.
    let result = match (&cli.cassette, result) {
        (Some(cassette), Ok(())) => cassette::finish(cassette),
        (Some(cassette), Err(failure)) => {
            if let Err(unsaved) = cassette::finish(cassette) {
                eprintln!("{unsaved}");
            }
            Err(failure)
        }
        (None, result) => result,
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
