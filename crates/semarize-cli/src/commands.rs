//! `runs`, `kits`, `bricks` and `webhooks`.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use semarize::webhooks::{Verifier, WebhookError};
use semarize::{Client, RunMode, WaitOptions};

use crate::output::{self, Failure, OutputFormat};

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Create a run (retried safely with one Idempotency-Key).
    Create(CreateArgs),
    /// Get a run.
    Get {
        /// The run id.
        run_id: String,
    },
    /// List runs, most recent first.
    List {
        /// How many (1 to 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(list_limit_range()))]
        limit: Option<u32>,
    },
    /// Wait for a run to finish.
    Wait {
        /// The run id.
        run_id: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        max_wait: u64,
    },
    /// A run's token usage and credits.
    Usage {
        /// The run id.
        run_id: String,
    },
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("kit_choice").required(true).args(["kit", "kit_version"])))]
#[command(group(clap::ArgGroup::new("what").required(true).args(["transcript", "input"])))]
pub struct CreateArgs {
    /// The 8-character Kit code.
    #[arg(long)]
    kit: Option<String>,
    /// A Kit version id (pins the version).
    #[arg(long)]
    kit_version: Option<String>,
    /// File with the transcript, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    transcript: Option<PathBuf>,
    /// The whole input as a JSON object.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// async (default) or sync.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Wait for the run to finish (polls). `--mode sync` always waits: a sync fallback
    /// continues by polling.
    #[arg(long)]
    wait: bool,
    /// With --wait or --mode sync: give up after this many seconds (exit 5).
    #[arg(long, default_value_t = 300)]
    max_wait: u64,
    /// Your Idempotency-Key (at most 254 characters); one is generated otherwise.
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModeArg {
    Async,
    Sync,
}

/// The range of `runs list --limit`: the spec's `limit` parameter.
fn list_limit_range() -> std::ops::RangeInclusive<i64> {
    let limits = semarize::operations::LIST_RUNS
        .parameter("limit")
        .map(|p| p.limits)
        .unwrap_or_default();
    let bound = |b: Option<f64>, otherwise: i64| b.map_or(otherwise, |b| b as i64);
    bound(limits.minimum, 1)..=bound(limits.maximum, i64::from(u32::MAX))
}

fn read_transcript(path: &PathBuf) -> Result<String, Failure> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::usage(format!("cannot read standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read transcript file {}: {e}",
                path.display()
            ))
        })?;
    }
    if text.trim().is_empty() {
        return Err(Failure::usage("the transcript is empty"));
    }
    Ok(text)
}

impl RunsCommand {
    pub async fn run(&self, client: &Client, format: OutputFormat) -> Result<(), Failure> {
        match self {
            RunsCommand::Create(args) => create(client, args, format).await,
            RunsCommand::Get { run_id } => {
                output::run(&client.runs().get(run_id).send().await?, format);
                Ok(())
            }
            RunsCommand::List { limit } => {
                let mut request = client.runs().list();
                if let Some(limit) = limit {
                    request = request.limit(*limit);
                }
                let runs = request.send().await?;
                match format {
                    OutputFormat::Json => output::json(&runs),
                    OutputFormat::Table => {
                        let rows: Vec<Vec<String>> = runs
                            .iter()
                            .map(|r| {
                                vec![
                                    r.run_id.clone(),
                                    r.status.to_string(),
                                    r.run_type
                                        .as_ref()
                                        .map(|t| t.to_string())
                                        .unwrap_or_default(),
                                    r.created_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                                ]
                            })
                            .collect();
                        output::table(&["run_id", "status", "run_type", "created_at"], &rows);
                    }
                }
                Ok(())
            }
            RunsCommand::Wait { run_id, max_wait } => {
                let outcome = client
                    .runs()
                    .wait(run_id, WaitOptions::new(Duration::from_secs(*max_wait)))
                    .await?;
                finish(outcome, format)
            }
            RunsCommand::Usage { run_id } => {
                let usage = client.runs().usage(run_id).send().await?;
                match format {
                    OutputFormat::Json => output::json(&usage),
                    OutputFormat::Table => output::table(
                        &["run_id", "prompt_tokens", "completion_tokens", "credits"],
                        &[vec![
                            usage.run_id.clone(),
                            usage.token_usage.prompt.to_string(),
                            usage.token_usage.completion.to_string(),
                            usage.credits_consumed.to_string(),
                        ]],
                    ),
                }
                Ok(())
            }
        }
    }
}

async fn create(client: &Client, args: &CreateArgs, format: OutputFormat) -> Result<(), Failure> {
    let runs = client.runs();
    let mut request = match (&args.kit, &args.kit_version) {
        (_, Some(version)) => runs.create_with_kit_version(version),
        (Some(kit), None) => runs.create_with_kit_code(kit),
        (None, None) => return Err(Failure::usage("give --kit or --kit-version")),
    };
    request = match (&args.transcript, &args.input) {
        (Some(path), _) => request.transcript(read_transcript(path)?),
        (None, Some(json)) => {
            let input: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| Failure::usage(format!("--input is not JSON: {e}")))?;
            if !input.is_object() {
                return Err(Failure::usage("--input must be a JSON object"));
            }
            request.input(input)
        }
        (None, None) => return Err(Failure::usage("give --transcript or --input")),
    };
    if let Some(mode) = args.mode {
        request = request.mode(match mode {
            ModeArg::Async => RunMode::Async,
            ModeArg::Sync => RunMode::Sync,
        });
    }
    if let Some(key) = &args.idempotency_key {
        request = request.idempotency_key(key);
    }
    let created = request.send().await?;
    eprintln!("idempotency key: {}", created.idempotency_key);
    // Sync mode asks for the finished run: a 202 fallback continues by polling, as the
    // guides say, and the outcome decides the exit code with or without --wait.
    let sync = matches!(args.mode, Some(ModeArg::Sync));
    if args.wait || sync {
        if created.is_sync_fallback() {
            eprintln!(
                "run {} did not finish within the sync wait; polling (at most {} s)",
                created.run.run_id, args.max_wait
            );
        }
        let outcome = created
            .wait(client, Duration::from_secs(args.max_wait))
            .await?;
        return finish(outcome, format);
    }
    output::run(&created.run, format);
    Ok(())
}

/// Prints a finished run; failed and cancelled runs exit 1.
fn finish(outcome: semarize::RunOutcome, format: OutputFormat) -> Result<(), Failure> {
    output::run(outcome.run(), format);
    match outcome {
        semarize::RunOutcome::Succeeded(_) => Ok(()),
        semarize::RunOutcome::Failed(f) => Err(Failure::run(format!(
            "run {} failed [code: {}]: {}",
            f.run.run_id,
            f.error_code().map(|c| c.as_str()).unwrap_or("unknown"),
            f.error_user_message()
                .or(f.error_message())
                .unwrap_or("no message")
        ))),
        semarize::RunOutcome::Cancelled(f) => {
            Err(Failure::run(format!("run {} was cancelled", f.run.run_id)))
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum KitsCommand {
    /// A Kit's output schema.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["kit_code", "kit_id", "kit_version_id"])))]
    Schema {
        /// The 8-character Kit code.
        #[arg(long)]
        kit_code: Option<String>,
        /// The Kit id.
        #[arg(long)]
        kit_id: Option<String>,
        /// A Kit version id.
        #[arg(long)]
        kit_version_id: Option<String>,
    },
}

impl KitsCommand {
    pub async fn run(&self, client: &Client, format: OutputFormat) -> Result<(), Failure> {
        let KitsCommand::Schema {
            kit_code,
            kit_id,
            kit_version_id,
        } = self;
        let kits = client.kits();
        let schema = match (kit_code, kit_id, kit_version_id) {
            (_, _, Some(version)) => kits.schema_by_version(version).send().await?,
            (_, Some(id), None) => kits.schema(id).send().await?,
            (Some(code), None, None) => kits.schema_by_code(code).send().await?,
            (None, None, None) => {
                return Err(Failure::usage(
                    "give --kit-code, --kit-id or --kit-version-id",
                ));
            }
        };
        match format {
            OutputFormat::Json => output::json(&schema),
            OutputFormat::Table => {
                println!(
                    "kit {} ({}), version {}",
                    schema.kit_code,
                    schema.kit_id,
                    schema.kit_version_id.as_deref().unwrap_or("-")
                );
                let flag = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_owned();
                let rows: Vec<Vec<String>> = schema
                    .bricks
                    .iter()
                    .map(|b| {
                        vec![
                            b.brick_key.clone(),
                            b.brick_id.clone().unwrap_or_default(),
                            flag(b.fields.confidence),
                            flag(b.fields.reason),
                            flag(b.fields.evidence),
                        ]
                    })
                    .collect();
                output::table(
                    &["brick_key", "brick_id", "confidence", "reason", "evidence"],
                    &rows,
                );
            }
        }
        Ok(())
    }
}

pub async fn bricks(client: &Client, ids: &str, format: OutputFormat) -> Result<(), Failure> {
    let ids: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let bricks = client.bricks().get(ids).send().await?;
    match format {
        OutputFormat::Json => output::json(&bricks),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = bricks
                .iter()
                .map(|b| {
                    vec![
                        b.brick_id.clone(),
                        b.brick_key.clone(),
                        b.name.clone(),
                        b.type_.to_string(),
                        b.categories.join("|"),
                    ]
                })
                .collect();
            output::table(
                &["brick_id", "brick_key", "name", "type", "categories"],
                &rows,
            );
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Register (or replace) the workspace endpoint; prints its new secret.
    Set {
        /// HTTPS URL that receives events.
        url: String,
    },
    /// List the endpoints.
    List,
    /// Delete an endpoint.
    Delete {
        /// The webhook id.
        id: String,
    },
    /// Verify a saved delivery: headers file (`Name: value` lines) and raw body file.
    Verify {
        /// Webhook secret (repeat for rotation).
        #[arg(long = "secret", required = true)]
        secrets: Vec<String>,
        /// File with the delivery's headers, one `Name: value` per line.
        #[arg(long)]
        headers: PathBuf,
        /// File with the raw body.
        #[arg(long)]
        body: PathBuf,
        /// Timestamp tolerance in seconds.
        #[arg(long, default_value_t = 300)]
        tolerance: u64,
    },
    /// A receiver that verifies, dedupes and prints events; with `--ledger`, it also
    /// completes the ledger's records (the production shape: this receiver behind your
    /// public HTTPS URL, batch workers polling only for late webhooks).
    Listen {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8788")]
        addr: std::net::SocketAddr,
        /// Webhook secret (repeat, or separate with commas, for rotation). Prefer the
        /// environment: a command line is visible to other users of the machine.
        #[arg(
            long = "secret",
            env = "SEMARIZE_WEBHOOK_SECRET",
            hide_env_values = true,
            value_delimiter = ',',
            required = true
        )]
        secrets: Vec<String>,
        /// Complete this ledger's records from the deliveries: a `postgres://` URL that
        /// `batch run` workers share (a SQLite ledger is one process's at a time). Thin
        /// events are completed by reading the run, which needs the API key.
        #[arg(long)]
        ledger: Option<String>,
        /// The largest delivery body accepted; a larger one is answered 413 naming this
        /// limit.
        #[arg(long, default_value_t = semarize::webhooks::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
    },
}

fn verifier(secrets: &[String], tolerance: Duration) -> Result<Verifier, Failure> {
    Ok(Verifier::new(secrets.iter().cloned())
        .map_err(|_| Failure::usage("a webhook secret starts with whsec_"))?
        .tolerance(tolerance))
}

fn webhook_failure(e: WebhookError) -> Failure {
    Failure {
        exit_code: 6,
        message: format!("the delivery does not verify: {e}"),
    }
}

impl WebhooksCommand {
    pub async fn run(&self, cli: &crate::Cli, format: OutputFormat) -> Result<(), Failure> {
        match self {
            WebhooksCommand::Set { url } => {
                let registered = cli.client()?.webhook_endpoints().upsert(url).send().await?;
                // Printing the new secret is this command's purpose: it is shown once.
                let hook = registered.endpoint;
                let secret = registered.secret.expose_secret();
                match format {
                    OutputFormat::Json => output::json(&serde_json::json!({
                        "id": hook.id,
                        "url": hook.url,
                        "secret": secret,
                        "created_at": hook.created_at,
                    })),
                    OutputFormat::Table => output::table(
                        &["id", "url", "secret", "created_at"],
                        &[vec![
                            hook.id.clone(),
                            hook.url.clone(),
                            secret.to_owned(),
                            hook.created_at.to_rfc3339(),
                        ]],
                    ),
                }
                Ok(())
            }
            WebhooksCommand::List => {
                let hooks = cli.client()?.webhook_endpoints().list().send().await?;
                match format {
                    OutputFormat::Json => output::json(&hooks),
                    OutputFormat::Table => {
                        let rows: Vec<Vec<String>> = hooks
                            .iter()
                            .map(|h| vec![h.id.clone(), h.url.clone(), h.created_at.to_rfc3339()])
                            .collect();
                        output::table(&["id", "url", "created_at"], &rows);
                    }
                }
                Ok(())
            }
            WebhooksCommand::Delete { id } => {
                cli.client()?.webhook_endpoints().delete(id).send().await?;
                eprintln!("deleted {id}");
                Ok(())
            }
            WebhooksCommand::Verify {
                secrets,
                headers,
                body,
                tolerance,
            } => {
                let verifier = verifier(secrets, Duration::from_secs(*tolerance))?;
                let text = std::fs::read_to_string(headers).map_err(|e| {
                    Failure::usage(format!(
                        "cannot read headers file {}: {e}",
                        headers.display()
                    ))
                })?;
                let mut map = reqwest::header::HeaderMap::new();
                for (n, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    let (name, value) = line.split_once(':').ok_or_else(|| {
                        Failure::usage(format!(
                            "headers file line {}: expected `Name: value`",
                            n + 1
                        ))
                    })?;
                    let name: reqwest::header::HeaderName = name.trim().parse().map_err(|_| {
                        Failure::usage(format!("headers file line {}: bad header name", n + 1))
                    })?;
                    let value = value.trim().parse().map_err(|_| {
                        Failure::usage(format!("headers file line {}: bad header value", n + 1))
                    })?;
                    map.insert(name, value);
                }
                let bytes = std::fs::read(body).map_err(|e| {
                    Failure::usage(format!("cannot read body file {}: {e}", body.display()))
                })?;
                let event = verifier.verify(&map, &bytes).map_err(webhook_failure)?;
                print_event(&event, format);
                Ok(())
            }
            WebhooksCommand::Listen {
                addr,
                secrets,
                ledger,
                max_body_bytes,
            } => {
                let verifier = verifier(secrets, semarize::webhooks::DEFAULT_TOLERANCE)?
                    .max_body_bytes(*max_body_bytes);
                let mut receiver = semarize_batch::Receiver::new(verifier);
                if let Some(location) = ledger {
                    // A receiver never creates a ledger: in front of a mistyped one it
                    // would acknowledge every delivery and store nothing.
                    let batch = crate::batch::open(location).await?;
                    receiver = receiver.completing(batch.ledger().clone(), cli.client()?);
                }
                listen(*addr, receiver, format).await
            }
        }
    }
}

fn print_event(event: &semarize::webhooks::VerifiedEvent, format: OutputFormat) {
    match format {
        OutputFormat::Json => output::json(&event.event),
        OutputFormat::Table => output::table(
            &[
                "event_id",
                "delivery_id",
                "type",
                "run_id",
                "status",
                "thin",
            ],
            &[vec![
                event.event_id().to_owned(),
                event.delivery_id().to_owned(),
                event.event_type.to_string(),
                event.run_id().to_owned(),
                event.event.data.status.to_string(),
                event.is_thin().to_string(),
            ]],
        ),
    }
}

/// Serves `receiver` on `addr`, printing each delivery and what it did, until stopped.
async fn listen(
    addr: std::net::SocketAddr,
    receiver: semarize_batch::Receiver,
    format: OutputFormat,
) -> Result<(), Failure> {
    use semarize_batch::{Completion, Delivery};
    let receiver = receiver
        .on_delivery(move |event, delivery| match delivery {
            Delivery::Duplicate => eprintln!(
                "duplicate delivery {} (event {}) ignored",
                event.delivery_id(),
                event.event_id()
            ),
            Delivery::Received => print_event(event, format),
            Delivery::Completed(completion) => {
                print_event(event, format);
                if let Completion::Finished(record) = completion {
                    eprintln!("run {}: its record is now {record:?}", event.run_id());
                }
            }
            Delivery::NotStored(why) => {
                print_event(event, format);
                eprintln!(
                    "run {}: not recorded ({why}); asking for a redelivery",
                    event.run_id()
                );
            }
            other => eprintln!("delivery {}: {other:?}", event.delivery_id()),
        })
        .serve(addr)
        .await
        .map_err(crate::batch::batch_failure)?;
    eprintln!(
        "listening on http://{} (any path); Ctrl-C to stop",
        receiver.addr
    );
    receiver.wait().await.map_err(crate::batch::batch_failure)
}
