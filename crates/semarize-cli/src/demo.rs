//! `semarize demo`: the main job on the embedded defaults, with no key and no network.

use std::path::PathBuf;

use clap::Args;
use semarize::batch::Ledger;

use crate::batch::{FormatArg, RunArgs, run_batch};
use crate::output::{self, Failure, OutputFormat};

/// The sample transcripts shipped with the command.
const SAMPLE: &str = include_str!("../demo/calls.jsonl");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write the sample input, the ledger and the results (default: a new
    /// directory under the system temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub async fn run(args: &DemoArgs, format: OutputFormat) -> Result<(), Failure> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("semarize-demo-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
    let input = dir.join("calls.jsonl");
    std::fs::write(&input, SAMPLE)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", input.display())))?;
    let ledger_path = dir.join("ledger.sqlite");
    let results = dir.join("results.jsonl");

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
    eprintln!("emulator: {} (in-process)", emulator.base_url());
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()?;
    let ledger = crate::batch::open(&ledger_path.display().to_string()).await?;
    let run_args = RunArgs {
        input: input.clone(),
        kit: Some("A1B2C3D4".into()),
        kit_version: None,
        ledger: ledger_path.display().to_string(),
        out: results.clone(),
        format: FormatArg::Jsonl,
        concurrency: 4,
        webhook_listen: Some("127.0.0.1:0".parse().expect("a socket address")),
        worker_id: None,
        lease_seconds: 60,
    };
    let counts = run_batch(&client, ledger.clone(), &run_args, format).await?;
    print_results(ledger.as_ref(), format).await?;
    println!(
        "\ninput:   {}\nledger:  {}\nresults: {}",
        input.display(),
        ledger_path.display(),
        results.display()
    );
    emulator.shutdown().await;
    if counts.open() > 0 {
        return Err(Failure::run("the demo batch did not finish"));
    }
    Ok(())
}

async fn print_results(ledger: &dyn Ledger, format: OutputFormat) -> Result<(), Failure> {
    let rows = ledger
        .results(0, 1000)
        .await
        .map_err(|e| Failure::usage(e.to_string()))?;
    if format == OutputFormat::Json {
        output::json(&rows);
        return Ok(());
    }
    let brick = |output: &Option<String>, key: &str| -> String {
        output
            .as_deref()
            .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
            .map(|o| output::cell(&o["bricks"][key]["value"]))
            .unwrap_or_default()
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.state.as_str().to_owned(),
                brick(&r.output, "pain_is_specific"),
                brick(&r.output, "budget_mentioned"),
                brick(&r.output, "next_step"),
            ]
        })
        .collect();
    println!();
    output::table(
        &[
            "id",
            "state",
            "pain_is_specific",
            "budget_mentioned",
            "next_step",
        ],
        &table,
    );
    Ok(())
}
