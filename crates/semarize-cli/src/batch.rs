//! `semarize batch`: durable batch runs over a ledger.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use semarize::Client;
use semarize::webhooks::WebhookSecret;
use semarize_batch::{
    Batch, BatchError, BatchOptions, Kit, LedgerCounts, LedgerError, Progress, ReceiverOptions,
    RecordState, ReplaySelection, ResultFormat, RunBuilder, RunEnd,
};

use crate::output::{self, Failure, OutputFormat};
use crate::signals::{StopSignal, shutdown_signal};

#[derive(Subcommand, Debug)]
pub enum BatchCommand {
    /// Run a Kit over every line of a JSON Lines file; resumable after any crash.
    Run(RunArgs),
    /// Counts per state, failures by error code, credits consumed.
    Status {
        /// The ledger: a SQLite file or a postgres:// URL.
        #[arg(long)]
        ledger: String,
    },
    /// Start records again with a new Idempotency-Key (a new run each), then finish them.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["failed", "ids"])))]
    Replay {
        /// The ledger: a SQLite file or a postgres:// URL.
        #[arg(long)]
        ledger: String,
        /// Failed, cancelled and rejected records.
        #[arg(long)]
        failed: bool,
        /// These source ids (comma-separated).
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        /// Write all results here when done.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Results format.
        #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
        format: FormatArg,
        /// Run creations in flight at most.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FormatArg {
    Jsonl,
    Csv,
}

impl From<FormatArg> for ResultFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Jsonl => ResultFormat::JsonLines,
            FormatArg::Csv => ResultFormat::Csv,
        }
    }
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("kit_choice").required(true).args(["kit", "kit_version"])))]
pub struct RunArgs {
    /// JSON Lines: {"id": ..., "transcript": "..."} or {"id": ..., "input": {...}} per line.
    pub input: PathBuf,
    /// The 8-character Kit code.
    #[arg(long)]
    pub kit: Option<String>,
    /// A Kit version id (pins the version).
    #[arg(long)]
    pub kit_version: Option<String>,
    /// The ledger: a SQLite file (created if missing) or a postgres:// URL.
    #[arg(long)]
    pub ledger: String,
    /// Where to write the results.
    #[arg(long)]
    pub out: PathBuf,
    /// Results format.
    #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
    pub format: FormatArg,
    /// Run creations in flight at most.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Creations per second for every worker on this ledger together, at most: set it at
    /// or just under the workspace's limit and the fleet provokes no 429s (without it, a
    /// 429 any worker gets still pauses them all).
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_rate)]
    pub max_create_rate: Option<f64>,
    /// Receive webhooks on this address (registered as the workspace endpoint); polls are
    /// then only the fallback for late webhooks. An endpoint the workspace already has
    /// elsewhere is an error unless --replace-webhook.
    #[arg(long)]
    pub webhook_listen: Option<std::net::SocketAddr>,
    /// The public HTTPS URL that forwards to --webhook-listen's /webhooks/semarize (a
    /// tunnel or reverse proxy); registered instead of the local http:// address, which
    /// only the emulator accepts. Also spelt --register-webhook.
    #[arg(long, visible_alias = "register-webhook", requires = "webhook_listen")]
    pub webhook_url: Option<String>,
    /// Replace the workspace's existing webhook endpoint (v1 has one per workspace: its
    /// deliveries come here and its old secret stops working).
    #[arg(long, requires = "webhook_listen")]
    pub replace_webhook: bool,
    /// The secret of the workspace's endpoint when it already has this receiver's URL
    /// (comma-separated during a rotation): the endpoint is reused with it, never
    /// registered again, so receivers verifying with it keep working. Prefer the
    /// environment: a command line is visible to other users of the machine.
    #[arg(
        long,
        env = "SEMARIZE_WEBHOOK_SECRET",
        hide_env_values = true,
        value_delimiter = ',',
        value_name = "SECRET"
    )]
    pub webhook_secret: Vec<String>,
    /// Mint a new secret for an endpoint that already has this receiver's URL (the
    /// --webhook-secret ones keep verifying beside it; every other receiver of the URL
    /// needs the new one).
    #[arg(long, requires = "webhook_listen")]
    pub rotate_webhook_secret: bool,
    /// A run's first poll waits this many seconds, so polls are only the fallback for
    /// late webhooks: for webhooks received elsewhere (`semarize webhooks listen --ledger`
    /// on this ledger), or with --webhook-listen (default 30 there).
    #[arg(long, value_name = "SECONDS")]
    pub webhook_grace: Option<u64>,
    /// This worker's name in the ledger's leases (default: random).
    #[arg(long)]
    pub worker_id: Option<String>,
    /// Seconds a claimed record stays this worker's; a dead worker's records are taken
    /// over after it (PostgreSQL ledgers; SQLite releases them at start).
    #[arg(long, default_value_t = 60)]
    pub lease_seconds: u64,
}

/// `--max-create-rate`: a positive number of creations a second, from 0.001 to 1,000,000.
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.001..=1_000_000.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate from 0.001 to 1000000 creations a second"
        )),
    }
}

impl RunArgs {
    fn kit(&self) -> Kit {
        match (&self.kit, &self.kit_version) {
            (_, Some(version)) => Kit::Version(version.clone()),
            (Some(code), None) => Kit::Code(code.clone()),
            (None, None) => unreachable!("clap requires one of them"),
        }
    }
}

/// A batch's failure by cause: the API's as for every command, a ledger's by
/// [`ledger_failure`], a file or listening address that cannot be used is usage (2).
pub fn batch_failure(e: BatchError) -> Failure {
    match e {
        BatchError::Api(e) => Failure::from(e),
        BatchError::Ledger(e) => ledger_failure(&e),
        other => Failure::usage(with_causes(&other)),
    }
}

/// A ledger that is not there, a wrong location or a corrupted ledger is configuration
/// (2); a database that cannot be reached, or fails mid-run, is unavailable (4).
pub fn ledger_failure(e: &LedgerError) -> Failure {
    if e.is_unavailable() {
        Failure::unavailable(with_causes(e))
    } else {
        Failure::usage(with_causes(e))
    }
}

/// The error and every cause under it that adds something (a cause whose text the
/// message already holds is not repeated).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let more = inner.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = inner.source();
    }
    text
}

/// Opens a batch's ledger, creating it when there is none: only `batch run` does.
pub async fn open_or_create(location: &str) -> Result<Batch, Failure> {
    Batch::open_or_create(location).await.map_err(batch_failure)
}

/// Opens a ledger that must exist (status, replay, a webhook receiver): never creates one.
pub async fn open(location: &str) -> Result<Batch, Failure> {
    Batch::open(location).await.map_err(batch_failure)
}

impl BatchCommand {
    pub async fn run(&self, cli: &crate::Cli, format: OutputFormat) -> Result<(), Failure> {
        match self {
            BatchCommand::Run(args) => {
                let client = cli.client()?;
                let batch = open_or_create(&args.ledger).await?;
                let (counts, stopped) = run_batch(&client, &batch, args).await?;
                summary(&counts, format);
                outcome(&counts, stopped)
            }
            BatchCommand::Status { ledger } => {
                let batch = open(ledger).await?;
                let client = cli.can_call_api().then(|| cli.client().ok()).flatten();
                status(&batch, client.as_ref(), format).await
            }
            BatchCommand::Replay {
                ledger,
                failed,
                ids,
                out,
                format: file_format,
                concurrency,
            } => {
                let client = cli.client()?;
                let batch = open(ledger).await?;
                let selection = if *failed {
                    ReplaySelection::Failed
                } else {
                    ReplaySelection::Ids(ids.clone())
                };
                let count = batch.replay(selection).await.map_err(batch_failure)?;
                eprintln!("replaying {count} records with a new generation (new Idempotency-Keys)");
                let run = batch
                    .run(client.clone())
                    .options(BatchOptions::default().concurrency(*concurrency));
                let (counts, stopped) = drive(run, &client).await?;
                if let Some(out) = out {
                    write(&batch, out, (*file_format).into()).await?;
                }
                summary(&counts, format);
                outcome(&counts, stopped)
            }
        }
    }
}

/// The exit of a batch command whose summary is printed: 130 or 143 when a signal stopped
/// it, else [`records_outcome`].
pub fn outcome(counts: &LedgerCounts, stopped: Option<StopSignal>) -> Result<(), Failure> {
    if let Some(signal) = stopped {
        return Err(Failure {
            exit_code: signal.exit_code(),
            message: format!(
                "stopped by {} with {} of {} records still open; every answer received \
                 is in the ledger: run the same command again to resume",
                signal.name(),
                counts.open(),
                counts.total()
            ),
        });
    }
    records_outcome(counts)
}

/// Exit 1 when any record of the ledger ended without succeeding (the README's promise,
/// which schedulers and scripts read); the summary is already printed.
fn records_outcome(counts: &LedgerCounts) -> Result<(), Failure> {
    match counts.unsuccessful() {
        0 => Ok(()),
        unsuccessful => Err(Failure::run(format!(
            "{unsuccessful} of {} records did not succeed ({} failed, {} cancelled, {} rejected); \
             `semarize batch replay --failed` runs them again",
            counts.total(),
            counts.count(RecordState::Failed),
            counts.count(RecordState::Cancelled),
            counts.count(RecordState::Rejected),
        ))),
    }
}

async fn write(batch: &Batch, out: &Path, format: ResultFormat) -> Result<u64, Failure> {
    let rows = batch
        .write_results(out, format)
        .await
        .map_err(batch_failure)?;
    eprintln!("results: {} ({rows} records)", out.display());
    Ok(rows)
}

/// Ingests, runs to completion or a signal (with webhooks when asked), writes results.
/// Returns the final counts for the caller to show, and the signal if one stopped it.
pub async fn run_batch(
    client: &Client,
    batch: &Batch,
    args: &RunArgs,
) -> Result<(LedgerCounts, Option<StopSignal>), Failure> {
    let report = batch
        .ingest_file(&args.input, &args.kit())
        .await
        .map_err(batch_failure)?;
    for (line, why) in &report.rejected_lines {
        eprintln!("rejected input line {line}: {why}");
    }
    if report.rejected > report.rejected_lines.len() as u64 {
        eprintln!(
            "... {} rejected lines in all (see the ledger)",
            report.rejected
        );
    }
    eprintln!(
        "input: {} lines, {} new records, {} rejected",
        report.lines, report.added, report.rejected
    );

    let mut options = BatchOptions::default()
        .concurrency(args.concurrency)
        .lease(Duration::from_secs(args.lease_seconds.max(1)));
    if let Some(worker_id) = &args.worker_id {
        options = options.worker_id(worker_id.clone());
    }
    if let Some(rate) = args.max_create_rate {
        options = options.max_create_rate(rate);
    }
    if let Some(seconds) = args.webhook_grace {
        options = options.webhook_grace(Duration::from_secs(seconds));
    }
    let mut run = batch.run(client.clone()).options(options);
    if let Some(addr) = args.webhook_listen {
        let secrets = args
            .webhook_secret
            .iter()
            .map(|secret| WebhookSecret::new(secret.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Failure::usage("a webhook secret starts with whsec_"))?;
        let mut receiver = ReceiverOptions::default()
            .replace_existing(args.replace_webhook)
            .secrets(secrets)
            .rotate_secret(args.rotate_webhook_secret);
        if let Some(url) = &args.webhook_url {
            receiver = receiver.public_url(url);
        }
        run = run.webhooks(addr, receiver);
    }
    let finished = drive(run, client).await?;
    write(batch, &args.out, args.format.into()).await?;
    Ok(finished)
}

/// Starts a run and drives it until every record is terminal or a signal stops it,
/// showing progress; the final counts, and the signal if one stopped it.
async fn drive(
    run: RunBuilder,
    client: &Client,
) -> Result<(LedgerCounts, Option<StopSignal>), Failure> {
    let run = run.start().await.map_err(batch_failure)?;
    if let Some(url) = run.webhook_url() {
        eprintln!("webhooks: receiving on {url}");
    }
    let display = tokio::spawn(show_progress(run.progress().clone(), client.clone()));
    let stopped_by = Arc::new(std::sync::OnceLock::new());
    let result = run.until(shutdown_signal(stopped_by.clone())).await;
    display.abort();
    let _ = display.await;
    let report = result.map_err(batch_failure)?;
    let stopped = match report.end {
        RunEnd::Stopped => stopped_by.get().copied(),
        _ => None,
    };
    Ok((report.counts, stopped))
}

/// Progress bars on a terminal, a plain line every two seconds otherwise. Time is the
/// client's clock, the one the engine pauses creation by.
async fn show_progress(progress: Arc<Progress>, client: Client) {
    let clock = client.runtime().clock();
    let started = clock.now();
    let initial = progress.done();
    let line = |p: &Progress| {
        let (done, total) = (p.done(), p.total());
        let elapsed = clock.now().saturating_duration_since(started);
        let rate = (done - initial.min(done)) as f64 / elapsed.as_secs_f64().max(0.001);
        let now_ms = clock.now_utc().timestamp_millis();
        let paused_until = p.creation_paused_until_ms().unwrap_or(0);
        let eta = if paused_until > now_ms {
            // The ETA cannot be known while the API holds creation back: say so.
            format!(
                "- (creation paused {}s more: rate limited)",
                (paused_until - now_ms) / 1000
            )
        } else if rate > 0.0 {
            format!("{:.0}s", (total.saturating_sub(done)) as f64 / rate)
        } else {
            "-".into()
        };
        format!(
            "in flight {}, rate-limited {}, failed {}, {rate:.1}/s, eta {eta}",
            p.in_flight(),
            p.rate_limited(),
            p.failed(),
        )
    };
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(progress.total());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} done, {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        loop {
            bar.set_length(progress.total());
            bar.set_position(progress.done());
            bar.set_message(line(&progress));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    } else {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            eprintln!(
                "progress: {}/{} done, {}",
                progress.done(),
                progress.total(),
                line(&progress)
            );
        }
    }
}

fn summary(counts: &LedgerCounts, format: OutputFormat) {
    match format {
        OutputFormat::Json => output::json(counts),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = RecordState::ALL
                .iter()
                .map(|s| vec![s.as_str().to_owned(), counts.count(*s).to_string()])
                .collect();
            output::table(&["state", "records"], &rows);
            if !counts.errors.is_empty() {
                let rows: Vec<Vec<String>> = counts
                    .errors
                    .iter()
                    .map(|(code, n)| vec![code.clone(), n.to_string()])
                    .collect();
                output::table(&["error_code", "records"], &rows);
            }
        }
    }
}

async fn status(
    batch: &Batch,
    client: Option<&Client>,
    format: OutputFormat,
) -> Result<(), Failure> {
    if let Some(client) = client {
        // Credits come from the usage endpoint, fetched once per terminal run and kept.
        batch
            .reconcile_credits(client)
            .await
            .map_err(batch_failure)?;
    }
    let counts = batch.counts().await.map_err(batch_failure)?;
    summary(&counts, format);
    if format == OutputFormat::Table {
        match (counts.credits_unknown, client) {
            (0, _) => println!("credits consumed: {}", counts.credits),
            (n, None) => println!(
                "credits consumed: {} so far ({n} runs unknown: pass --api-key to fetch)",
                counts.credits
            ),
            (n, Some(_)) => println!("credits consumed: {} ({n} runs unknown)", counts.credits),
        }
    }
    Ok(())
}
