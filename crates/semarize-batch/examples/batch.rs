//! A durable batch: ingest JSON lines into a ledger, run them, write the results, and run
//! again to see that nothing is created twice.
//!
//! ```sh
//! # offline, against an emulator started inside the example:
//! cargo run -p semarize-batch --example batch
//! # against Semarize (or any emulator), with your own input:
//! SEMARIZE_API_KEY=smz_live_... cargo run -p semarize-batch --example batch -- calls.jsonl
//! ```
//!
//! Each input line is `{"id": "...", "transcript": "..."}` (or any other input fields
//! the Kit takes). The ledger and the results go to a temporary directory, printed at
//! the end.

use std::process::ExitCode;

use semarize::Client;
use semarize_batch::{Batch, BatchOptions, Kit, RecordState, ResultFormat};

const SAMPLE: &str = r#"{"id": "call-1", "transcript": "Prospect: we lose 3 hours a week on reports. Budget is $500."}
{"id": "call-2", "transcript": "Prospect: I love it, great work. Let's schedule a demo."}
{"id": "call-3", "transcript": "Prospect: I am frustrated, the export broke again."}
"#;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<ExitCode, String> {
    // With SEMARIZE_API_KEY set, the real service (or SEMARIZE_BASE_URL); else a local
    // emulator in this process, so the example runs without a key or a network.
    let (client, emulator) = if std::env::var_os("SEMARIZE_API_KEY").is_some() {
        (Client::from_env().map_err(|e| e.to_string())?, None)
    } else {
        let emulator = semarize_emulator::Emulator::start(Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let client = Client::builder()
            .api_key(emulator.api_key())
            .base_url(emulator.base_url())
            .build()
            .map_err(|e| e.to_string())?;
        (client, Some(emulator))
    };
    let input = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?,
        None => SAMPLE.to_owned(),
    };

    let dir = std::env::temp_dir().join(format!("semarize-batch-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // Only a batch run creates a ledger; status and replay would open an existing one.
    let batch = Batch::open_or_create(dir.join("ledger.sqlite").to_str().unwrap_or_default())
        .await
        .map_err(|e| e.to_string())?;
    let report = batch
        .ingest(std::io::Cursor::new(input), &Kit::Code("A1B2C3D4".into()))
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "ingested {} lines: {} new records, {} rejected",
        report.lines, report.added, report.rejected
    );

    // Run twice: the second run finds every record terminal and creates nothing.
    for pass in ["first", "second"] {
        let run = batch
            .run(client.clone())
            .options(BatchOptions::default().concurrency(4))
            .start()
            .await
            .map_err(|e| e.to_string())?;
        let counts = run.to_end().await.map_err(|e| e.to_string())?.counts;
        println!(
            "{pass} run: {} succeeded, {} failed, {} open",
            counts.count(RecordState::Succeeded),
            counts.unsuccessful(),
            counts.open()
        );
    }

    if let Some(emulator) = &emulator {
        // Two runs over three records, one run each at the service: no duplicate.
        println!("runs at the emulator: {}", emulator.control().runs().len());
    }

    let results = dir.join("results.jsonl");
    batch
        .write_results(&results, ResultFormat::JsonLines)
        .await
        .map_err(|e| e.to_string())?;
    println!("results: {}", results.display());
    let counts = batch.counts().await.map_err(|e| e.to_string())?;
    Ok(if counts.unsuccessful() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
