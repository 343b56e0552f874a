//! Batch figures, printed (times are never asserted; the engine's correctness is: no duplicate
//! run, every record succeeded). `cargo bench -p semarize-cli --bench batch`.
//!
//! 1. Peak memory while ingesting 1,000,000 input lines and writing their results
//!    (target: flat, under 100 MiB).
//! 2. 10,000 records against the emulator with a create limit of 500/s and 200 ms run
//!    latency: wall time beside the lower bound (records / rate + one run latency), HTTP
//!    calls per record, 429s received, duplicates; polling, then with webhooks.
//!    The same on PostgreSQL (`SEMARIZE_TEST_POSTGRES_URL`, a database of its own): 1 and
//!    4 workers, polling and with webhooks, and 4 workers with 1 creation in 100 answering
//!    10× the run latency late (no worker may stall behind it).
//! 3. The naive baseline on the same emulator: the guides' plain polling loop (1 s
//!    doubling to 10 s, 429 waited out, no admission control, no ledger).
//!
//! `BENCH_RECORDS` and `BENCH_LINES` scale the runs down for quick checks; `BENCH_ONLY`
//! runs only the scenarios whose printed name contains it (`BENCH_ONLY=PostgreSQL`).

use semarize::runtime::{Clock, SystemClock};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use semarize_batch as batch;
use semarize_batch::{BatchEngine, BatchOptions, Ledger, Progress, ResultFormat, SqliteLedger};
use semarize_emulator::{Config, Emulator, Settings};

const RATE: f64 = 500.0;
const LATENCY_MS: u64 = 200;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether the scenario named `name` runs (see `BENCH_ONLY`).
fn selected(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| name.contains(&only))
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn reset_peak() {
    // Linux: writing 5 resets the peak resident size (VmHWM) to the current size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("semarize-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_input(path: &std::path::Path, lines: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 1..=lines {
        writeln!(file, r#"{{"id": "rec-{i}", "transcript": "Rep: What drove the urgency? Prospect: record {i}, we are losing hours every week."}}"#).unwrap();
    }
}

async fn memory(lines: usize) {
    if !selected("memory") {
        return;
    }
    let dir = temp_dir("memory");
    let input = dir.join("input.jsonl");
    write_input(&input, lines);
    let ledger = SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap();
    reset_peak();
    let before = status_kib("VmRSS:");
    let started = SystemClock.now();
    let report = batch::ingest_jsonl(
        &ledger,
        std::io::BufReader::new(std::fs::File::open(&input).unwrap()),
        &semarize_batch::Kit::Code("A1B2C3D4".into()),
    )
    .await
    .unwrap();
    let ingest = started.elapsed();
    let written =
        batch::write_results(&ledger, &dir.join("results.jsonl"), ResultFormat::JsonLines)
            .await
            .unwrap();
    let peak = status_kib("VmHWM:");
    println!(
        "memory: {} input lines ingested in {:.1}s and {written} results written; peak resident {:.1} MiB ({:.1} MiB above the start) (target: flat, < 100 MiB)",
        report.lines,
        ingest.as_secs_f64(),
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn emulator() -> Emulator {
    Emulator::start(Config {
        settings: Settings {
            run_latency_ms: LATENCY_MS,
            create_rate: Some(RATE),
            allow_http_webhooks: true,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap()
}

/// records / rate + one run latency. (The emulator's token bucket also allows a burst of
/// one second's worth at the start, so a run can beat this by up to a second.)
fn lower_bound(records: usize) -> f64 {
    records as f64 / RATE + LATENCY_MS as f64 / 1000.0
}

fn duplicates(emulator: &Emulator, records: usize) -> usize {
    emulator.control().runs().len().saturating_sub(records)
}

/// Where the ledger lives and how many workers share it.
#[derive(Clone, Copy)]
enum Ledgers<'a> {
    /// One worker on a SQLite file.
    Sqlite,
    /// `workers` engines, each with its own connections, on one PostgreSQL database.
    Postgres { url: &'a str, workers: usize },
}

/// One engine scenario: `records` records, completed by polling or by webhooks; with
/// `slow_every` N, one creation in N answers 10× the run latency late.
async fn engine(records: usize, webhooks: bool, ledgers: Ledgers<'_>, slow_every: Option<u32>) {
    let shape = match ledgers {
        Ledgers::Sqlite => "SQLite, 1 worker".to_owned(),
        Ledgers::Postgres { workers, .. } => format!("PostgreSQL, {workers} worker(s)"),
    };
    let name = format!(
        "engine ({shape}{}{})",
        if webhooks { ", webhooks" } else { ", polling" },
        match slow_every {
            Some(every) => format!(
                ", 1 creation in {every} answers {} ms late",
                10 * LATENCY_MS
            ),
            None => String::new(),
        },
    );
    if !selected(&name) {
        return;
    }
    let emulator = emulator().await;
    if let Some(every) = slow_every {
        emulator
            .control()
            .set_latency_every("create_run", 10 * LATENCY_MS, every);
    }
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let dir = temp_dir(if webhooks { "webhooks" } else { "polling" });
    let input = dir.join("input.jsonl");
    write_input(&input, records);
    let (ledger, workers): (Arc<dyn Ledger>, usize) = match ledgers {
        Ledgers::Sqlite => (
            Arc::new(SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap()),
            1,
        ),
        Ledgers::Postgres { url, workers } => (batch::open_ledger(url).await.unwrap(), workers),
    };
    batch::ingest_jsonl(
        ledger.as_ref(),
        std::io::BufReader::new(std::fs::File::open(&input).unwrap()),
        &semarize_batch::Kit::Code("A1B2C3D4".into()),
    )
    .await
    .unwrap();
    let progress = Arc::new(Progress::default());
    let mut options = BatchOptions::default().concurrency(16);
    let receiver = if webhooks {
        options = options.webhook_grace(Duration::from_secs(30));
        Some(
            batch::start_webhook_receiver(
                "127.0.0.1:0".parse().unwrap(),
                client.clone(),
                ledger.clone(),
                progress.clone(),
                batch::ReceiverOptions::default(),
            )
            .await
            .unwrap(),
        )
    } else {
        None
    };
    // Each PostgreSQL worker opens its own ledger (its own pool), as a process would.
    let mut engines = Vec::new();
    for worker in 0..workers {
        let ledger = match ledgers {
            Ledgers::Sqlite => ledger.clone(),
            Ledgers::Postgres { url, .. } => batch::open_ledger(url).await.unwrap(),
        };
        let options = options.clone().worker_id(format!("bench-{worker}"));
        engines.push(BatchEngine::new(
            ledger,
            client.clone(),
            options,
            progress.clone(),
        ));
    }
    let statements_before = match ledgers {
        Ledgers::Postgres { url, .. } => database_statements(url).await,
        Ledgers::Sqlite => None,
    };
    let started = SystemClock.now();
    futures::future::try_join_all(engines.iter().map(BatchEngine::run))
        .await
        .unwrap();
    let wall = started.elapsed();
    if let (Ledgers::Postgres { url, .. }, Some(before)) = (ledgers, statements_before)
        && let Some(after) = database_statements(url).await
    {
        println!(
            "  database statements per record: {:.2}",
            (after - before) as f64 / records as f64
        );
    }
    let lower = lower_bound(records);
    let calls = progress.http_calls();
    // With late creations, one of the last hundred is late too, and nothing can finish
    // it sooner than its late answer: the bound grows by that delay.
    let late_bound = match slow_every {
        Some(_) => {
            let bound = lower + (10 * LATENCY_MS) as f64 / 1000.0;
            format!(
                "; with the last late answer {bound:.1}s, x{:.2}",
                wall.as_secs_f64() / bound
            )
        }
        None => String::new(),
    };
    println!(
        "{name}: {records} records in {:.1}s (lower bound {lower:.1}s, x{:.2}{late_bound}); {:.2} HTTP calls per record; {} 429s; {} duplicates; {} completed by webhook",
        wall.as_secs_f64(),
        wall.as_secs_f64() / lower,
        calls as f64 / records as f64,
        progress.rate_limited(),
        duplicates(&emulator, records),
        progress.by_webhook(),
    );
    if webhooks {
        // Why records were polled after all: a delivery that failed comes back on the
        // documented schedule (a minute later), after the grace.
        let log = emulator.control().deliveries();
        let failed: Vec<_> = log.iter().filter(|d| d.result != "delivered").collect();
        println!(
            "  deliveries: {} attempts, {} failed ({} without an answer within 10 s, {} 5xx)",
            log.len(),
            failed.len(),
            failed.iter().filter(|d| d.status.is_none()).count(),
            failed
                .iter()
                .filter(|d| d.status.is_some_and(|s| s >= 500))
                .count(),
        );
    }
    // Times are printed, never asserted; correctness is asserted, so a bench run that
    // duplicated or lost a record fails CI.
    assert_eq!(
        duplicates(&emulator, records),
        0,
        "the engine duplicated runs"
    );
    let counts = ledger.counts().await.unwrap();
    assert_eq!(
        counts.count(batch::RecordState::Succeeded),
        records as u64,
        "every record terminal and succeeded: {counts:?}"
    );
    drop(receiver);
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `url` with `sslmode=disable` and without the ledger's own parameters (`sslrootcert`,
/// `pool_size`), for the bench's own set-up statements (the loopback server accepts both;
/// the engines connect as users do).
fn without_tls(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            !p.is_empty()
                && !["sslmode=", "sslrootcert=", "pool_size="]
                    .iter()
                    .any(|k| p.starts_with(k))
        })
        .collect();
    kept.push("sslmode=disable");
    format!("{base}?{}", kept.join("&"))
}

/// The bench's own database (created when missing) with no ledger tables, so each
/// PostgreSQL scenario starts from an empty ledger; returns its URL.
async fn fresh_bench_database(url: &str) -> String {
    let (admin, connection) = tokio_postgres::connect(&without_tls(url), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // It may exist from an earlier scenario.
    let _ = admin.batch_execute("CREATE DATABASE semarize_bench").await;
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    let bench = format!("{server}/semarize_bench?{query}");
    let (db, connection) = tokio_postgres::connect(&without_tls(&bench), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute("DROP TABLE IF EXISTS records, schema_version, fleet")
        .await
        .unwrap();
    bench
}

/// Statements the bench database has run so far (every session's, from
/// `pg_stat_statements`; `None` where the server does not load it).
async fn database_statements(url: &str) -> Option<i64> {
    let (db, connection) = tokio_postgres::connect(&without_tls(url), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    db.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .ok()?;
    let row = db
        .query_one(
            "SELECT CAST(COALESCE(SUM(calls), 0) AS BIGINT) FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .ok()?;
    Some(row.get(0))
}

/// The guides' loop, for comparison: every record a task; create, then poll with 1 s
/// doubling to 10 s; on 429 sleep Retry-After and try again. No admission control.
async fn naive(records: usize, concurrency: usize) {
    if !selected("naive loop") {
        return;
    }
    let emulator = emulator().await;
    let http = reqwest::Client::new();
    let base = emulator.base_url().to_owned();
    let key = emulator.api_key().to_owned();
    let calls = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = SystemClock.now();
    let mut tasks = Vec::new();
    for i in 1..=records {
        let (http, base, key, calls, limited, semaphore) = (
            http.clone(),
            base.clone(),
            key.clone(),
            calls.clone(),
            limited.clone(),
            semaphore.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await.unwrap();
            let body = serde_json::json!({"kit_code": "A1B2C3D4", "input": {"transcript": format!("record {i}, we are losing hours")}});
            let run_id = loop {
                calls.fetch_add(1, Ordering::Relaxed);
                let response = http.post(format!("{base}/v1/runs")).bearer_auth(&key).json(&body).send().await.unwrap();
                if response.status() == 429 {
                    limited.fetch_add(1, Ordering::Relaxed);
                    let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(5);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    continue;
                }
                let run: serde_json::Value = response.json().await.unwrap();
                break run["run_id"].as_str().unwrap().to_owned();
            };
            let mut delay = Duration::from_secs(1);
            loop {
                calls.fetch_add(1, Ordering::Relaxed);
                let response = http.get(format!("{base}/v1/runs/{run_id}")).bearer_auth(&key).send().await.unwrap();
                if response.status() == 429 {
                    limited.fetch_add(1, Ordering::Relaxed);
                    let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(5);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                    continue;
                }
                let run: serde_json::Value = response.json().await.unwrap();
                if ["succeeded", "failed", "cancelled"].contains(&run["status"].as_str().unwrap_or_default()) {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let wall = started.elapsed();
    let lower = lower_bound(records);
    println!(
        "naive loop ({concurrency} at a time): {records} records in {:.1}s (lower bound {lower:.1}s, x{:.2}); {:.2} HTTP calls per record; {} 429s; {} duplicates",
        wall.as_secs_f64(),
        wall.as_secs_f64() / lower,
        calls.load(Ordering::Relaxed) as f64 / records as f64,
        limited.load(Ordering::Relaxed),
        duplicates(&emulator, records),
    );
    emulator.shutdown().await;
}

fn main() {
    let records = env_number("BENCH_RECORDS", 10_000);
    let lines = env_number("BENCH_LINES", 1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        memory(lines).await;
        engine(records, false, Ledgers::Sqlite, None).await;
        engine(records, true, Ledgers::Sqlite, None).await;
        match std::env::var("SEMARIZE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                for (workers, webhooks, slow_every) in [
                    (1, false, None),
                    (1, true, None),
                    (4, false, None),
                    (4, true, None),
                    (4, false, Some(100)),
                ] {
                    let url = fresh_bench_database(&url).await;
                    let ledgers = Ledgers::Postgres { url: &url, workers };
                    engine(records, webhooks, ledgers, slow_every).await;
                }
            }
            _ => println!("PostgreSQL scenarios not run: SEMARIZE_TEST_POSTGRES_URL is not set"),
        }
        naive(records, 256).await;
    });
}
