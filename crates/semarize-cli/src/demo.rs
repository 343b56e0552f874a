//! `semarize demo`: the main job on the embedded defaults, with no key and no network. It
//! says which Kit it ran and what each Brick measured, shows the results, and cleans up
//! after itself unless asked to keep its files.

use std::path::PathBuf;

use clap::Args;
use semarize_batch::{Ledger, LedgerCounts};
use semarize_emulator::kits::{BrickKind, Catalog};
use serde_json::{Value, json};

use crate::batch::{FormatArg, RunArgs, run_batch};
use crate::output::{self, Failure, OutputFormat};

/// The sample transcripts shipped with the command.
const SAMPLE: &str = include_str!("../demo/calls.jsonl");

/// The Kit the demo runs: the documentation's example.
const KIT_CODE: &str = "A1B2C3D4";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write the sample input, the ledger and the results; they are kept (default:
    /// a new folder under the system temporary directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the temporary folder (input, ledger, results) instead of removing it.
    #[arg(long)]
    keep: bool,
}

/// The demo's folder: removed when dropped unless it is to be kept, so that an early
/// return (a failure) cleans up too.
struct Workdir {
    path: PathBuf,
    keep: bool,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub async fn run(args: &DemoArgs, format: OutputFormat) -> Result<(), Failure> {
    let workdir = match &args.dir {
        Some(dir) => Workdir {
            path: dir.clone(),
            keep: true,
        },
        None => Workdir {
            path: unique_temp_dir(),
            keep: args.keep,
        },
    };
    let dir = &workdir.path;
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
    let input = dir.join("calls.jsonl");
    std::fs::write(&input, SAMPLE)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", input.display())))?;
    let ledger_path = dir.join("ledger.sqlite");
    let results = dir.join("results.jsonl");

    let catalog = Catalog::default();
    let kit = catalog
        .resolve(Some(KIT_CODE), None)
        .expect("the demo's Kit is built in");
    let calls = SAMPLE.lines().filter(|l| !l.trim().is_empty()).count();
    // In JSON mode stdout carries one JSON document; the explanation goes to stderr.
    let say = |text: &str| match format {
        OutputFormat::Table => println!("{text}"),
        OutputFormat::Json => eprintln!("{text}"),
    };
    say(&format!(
        "Semarize demo: {calls} sample sales calls through the Kit {KIT_CODE} \"{}\", on a local\n\
         emulator of the API started inside this command (no API key, no network).\n\n\
         What each Brick measures:",
        kit.kit.name
    ));
    let width = kit
        .version
        .bricks
        .iter()
        .map(|b| b.key.len())
        .max()
        .unwrap_or(0);
    for brick in &kit.version.bricks {
        say(&format!("  {:width$}  {}", brick.key, brick.explain()));
    }
    say("");

    let emulator = semarize_emulator::Emulator::start(semarize_emulator::Config {
        settings: semarize_emulator::Settings {
            run_latency_ms: 400,
            allow_http_webhooks: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .map_err(|e| Failure::usage(format!("cannot start the emulator: {e}")))?;
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()?;
    let batch = crate::batch::open_or_create(&ledger_path.display().to_string()).await?;
    let run_args = RunArgs {
        input: input.clone(),
        kit: Some(KIT_CODE.into()),
        kit_version: None,
        ledger: ledger_path.display().to_string(),
        out: results.clone(),
        format: FormatArg::Jsonl,
        concurrency: 4,
        max_create_rate: None,
        webhook_listen: Some("127.0.0.1:0".parse().expect("a socket address")),
        webhook_url: None,
        replace_webhook: false,
        webhook_secret: Vec::new(),
        rotate_webhook_secret: false,
        webhook_grace: None,
        worker_id: None,
        lease_seconds: 60,
    };
    let finished = run_batch(&client, &batch, &run_args).await;
    emulator.shutdown().await;
    let (counts, stopped) = finished?;
    let shown: Vec<&str> = kit
        .version
        .bricks
        .iter()
        // Strings are whole passages: they belong in the results file, not in a table.
        .filter(|b| !matches!(b.kind, BrickKind::String))
        .map(|b| b.key.as_str())
        .collect();
    print_results(batch.ledger().as_ref(), &shown, &counts, format).await?;

    let succeeded = counts.count(semarize_batch::RecordState::Succeeded);
    say(&format!(
        "\n{succeeded} of {} calls succeeded.",
        counts.total()
    ));
    if workdir.keep {
        say(&format!(
            "Input:   {}\nLedger:  {}\nResults: {} (one JSON object per call: the run and every\n         Brick's value, with confidence, reason and evidence where the Kit asks for them)",
            input.display(),
            ledger_path.display(),
            results.display()
        ));
    } else {
        say(&format!(
            "Its files were in {} and are removed now; --keep keeps them.",
            dir.display()
        ));
    }
    if stopped.is_some() {
        return crate::batch::outcome(&counts, stopped);
    }
    if counts.open() > 0 || counts.unsuccessful() > 0 {
        return Err(Failure::run(format!(
            "the demo did not complete: {} of {} calls succeeded{}",
            succeeded,
            counts.total(),
            if workdir.keep {
                ""
            } else {
                " (run with --keep to inspect its files)"
            }
        )));
    }
    Ok(())
}

/// A folder of this run's own under the system temporary directory.
fn unique_temp_dir() -> PathBuf {
    use semarize::runtime::{Clock, SystemClock};
    let nanos = SystemClock.now_utc().timestamp_subsec_nanos();
    std::env::temp_dir().join(format!("semarize-demo-{}-{nanos}", std::process::id()))
}

async fn print_results(
    ledger: &dyn Ledger,
    bricks: &[&str],
    counts: &LedgerCounts,
    format: OutputFormat,
) -> Result<(), Failure> {
    let rows = ledger
        .results(0, 1000)
        .await
        .map_err(|e| crate::batch::ledger_failure(&e))?;
    let output_of = |output: &Option<String>| -> Value {
        output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or(Value::Null)
    };
    if format == OutputFormat::Json {
        output::json(&json!({
            "kit_code": KIT_CODE,
            "counts": counts,
            "results": rows,
        }));
        return Ok(());
    }
    let mut header = vec!["call", "state"];
    header.extend(bricks);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let output = output_of(&r.output);
            let mut row = vec![r.id.clone(), r.state.as_str().to_owned()];
            row.extend(
                bricks
                    .iter()
                    .map(|key| output::cell(&output["bricks"][*key]["value"])),
            );
            row
        })
        .collect();
    output::table(&header, &table);
    Ok(())
}
