//! Batch figures, printed (times are never asserted; the engine's correctness is: no duplicate
//! run, every record succeeded). `cargo bench -p semarize-cli --bench batch`.
//!
//! 1. Peak memory while ingesting 1,000,000 input lines and writing their results
//!    (target: flat, under 100 MiB).
//! 2. 10,000 records against the emulator with a create limit of 500/s and 200 ms run
//!    latency: wall time beside the lower bound (records / rate + one run latency), HTTP
//!    calls per record, 429s received, duplicates; polling, then with webhooks.
//!    The same on PostgreSQL (`SEMARIZE_TEST_POSTGRES_URL`, a database of its own), as
//!    production runs it: 1 and 4 `semarize batch run` worker processes, polling and with
//!    webhooks (one `semarize webhooks listen --ledger` process), and 4 workers with 1
//!    creation in 100 answering 10× the run latency late (no worker may stall behind it).
//!    Each scenario runs 3 times; printed: the median wall ratio, and per record the HTTP
//!    calls, 429s, database statements (`pg_stat_statements`) and CPU milliseconds of the
//!    workers, the receiver, the emulator (this process) and PostgreSQL (when it runs on
//!    this machine).
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

#[path = "../tests/common/fleet.rs"]
mod fleet;

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

/// One in-process engine scenario on a SQLite ledger: `records` records, completed by
/// polling or by webhooks.
async fn engine(records: usize, webhooks: bool) {
    let name = format!(
        "engine (SQLite, 1 worker, {})",
        if webhooks { "webhooks" } else { "polling" }
    );
    if !selected(&name) {
        return;
    }
    let emulator = emulator().await;
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let dir = temp_dir(if webhooks { "webhooks" } else { "polling" });
    let input = dir.join("input.jsonl");
    write_input(&input, records);
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap());
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
    let engine = BatchEngine::new(ledger.clone(), client.clone(), options, progress.clone());
    let started = SystemClock.now();
    engine.run().await.unwrap();
    let wall = started.elapsed();
    let lower = lower_bound(records);
    println!(
        "{name}: {records} records in {:.1}s (lower bound {lower:.1}s, x{:.2}); {:.2} HTTP calls per record; {} 429s; {} duplicates; {} completed by webhook",
        wall.as_secs_f64(),
        wall.as_secs_f64() / lower,
        progress.http_calls() as f64 / records as f64,
        progress.rate_limited(),
        duplicates(&emulator, records),
        progress.by_webhook(),
    );
    if webhooks {
        print_deliveries(&emulator);
    }
    // Times are printed, never asserted; correctness is asserted, so a bench run that
    // duplicated or lost a record fails CI.
    assert_every_record_once(&emulator, ledger.as_ref(), records).await;
    drop(receiver);
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Why records were polled after all, in a webhooks scenario: a delivery that failed
/// comes back on the documented schedule (a minute later), after the grace.
fn print_deliveries(emulator: &Emulator) {
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

/// No duplicate run, and every record succeeded.
async fn assert_every_record_once(emulator: &Emulator, ledger: &dyn Ledger, records: usize) {
    assert_eq!(
        duplicates(emulator, records),
        0,
        "the engine duplicated runs"
    );
    let counts = ledger.counts().await.unwrap();
    assert_eq!(
        counts.count(batch::RecordState::Succeeded),
        records as u64,
        "every record terminal and succeeded: {counts:?}"
    );
}

/// One PostgreSQL scenario as production runs it: `workers` `semarize batch run`
/// processes on one ledger, with webhooks one `semarize webhooks listen --ledger`
/// process; with `slow_every` N, one creation in N answers 10× the run latency late.
/// Three runs, each on a fresh ledger and emulator; the figures are their medians.
async fn fleet(url: &str, records: usize, workers: usize, webhooks: bool, slow_every: Option<u32>) {
    let name = format!(
        "engine (PostgreSQL, {workers} worker process(es), {}{})",
        if webhooks { "webhooks" } else { "polling" },
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
    let dir = temp_dir("fleet");
    let input = dir.join("input.jsonl");
    write_input(&input, records);
    // With late creations, one of the last hundred is late too, and nothing can finish
    // it sooner than its late answer: the bound grows by that delay.
    let bound =
        lower_bound(records) + slow_every.map_or(0.0, |_| (10 * LATENCY_MS) as f64 / 1000.0);
    let mut runs = Vec::new();
    for _ in 0..3 {
        let run = fleet_run(url, &dir, records, workers, webhooks, slow_every).await;
        println!(
            "  run: {records} records in {:.1}s (x{:.2}; first creation after {:.2}s, the last at {:.1}s); per record {:.2} HTTP calls, {:.3} 429s, {:.2} statements",
            run.wall,
            run.wall / bound,
            run.first_creation,
            run.last_creation,
            run.calls,
            run.refused,
            run.statements.unwrap_or(f64::NAN),
        );
        runs.push(run);
    }
    let median = |figure: &dyn Fn(&FleetRun) -> Option<f64>| -> String {
        let mut values: Vec<f64> = runs.iter().filter_map(figure).collect();
        values.sort_by(f64::total_cmp);
        values
            .get(values.len() / 2)
            .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}"))
    };
    println!(
        "{name}: {records} records; wall x{} of the bound {bound:.1}s (median of 3); per record: {} HTTP calls, {} 429s, {} database statements; CPU ms per record: workers {}, receiver {}, emulator {}, PostgreSQL {}",
        median(&|r| Some(r.wall / bound)),
        median(&|r| Some(r.calls)),
        median(&|r| Some(r.refused)),
        median(&|r| r.statements),
        median(&|r| Some(r.cpu_workers)),
        if webhooks {
            median(&|r| Some(r.cpu_receiver))
        } else {
            "-".to_owned()
        },
        median(&|r| Some(r.cpu_emulator)),
        median(&|r| r.cpu_database),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One run of a [`fleet`] scenario; per-record figures.
struct FleetRun {
    /// Seconds from starting the workers to the last one's exit.
    wall: f64,
    /// Seconds from starting the workers to the first and the last creation attempt:
    /// where the time beyond the bound went (starting, or finishing).
    first_creation: f64,
    last_creation: f64,
    calls: f64,
    refused: f64,
    statements: Option<f64>,
    cpu_workers: f64,
    cpu_receiver: f64,
    cpu_emulator: f64,
    cpu_database: Option<f64>,
}

async fn fleet_run(
    url: &str,
    dir: &std::path::Path,
    records: usize,
    workers: usize,
    webhooks: bool,
    slow_every: Option<u32>,
) -> FleetRun {
    let url = fresh_bench_database(url).await;
    let emulator = emulator().await;
    if let Some(every) = slow_every {
        emulator
            .control()
            .set_latency_every("create_run", 10 * LATENCY_MS, every);
    }
    // The ledger exists before the processes start (the receiver refuses a database
    // without one), so the workers start together.
    let ledger = batch::open_ledger(&url).await.unwrap();
    let receiver = match webhooks {
        true => Some(fleet::start_receiver(&emulator, &url).await),
        false => None,
    };
    let statements_before = database_statements(&url).await;
    let database = postmaster(&url).await;
    let database_before = database.and_then(tree_cpu_ticks);
    let (own_before, children_before) = cpu_ticks("self").unwrap_or_default();
    let input = dir.join("input.jsonl").display().to_string();
    let started = SystemClock.now();
    let started_utc = SystemClock.now_utc();
    let processes: Vec<std::process::Child> = (0..workers)
        .map(|worker| {
            let out = dir
                .join(format!("results-{worker}.jsonl"))
                .display()
                .to_string();
            let id = format!("bench-{worker}");
            let mut args = vec![
                "batch",
                "run",
                &input,
                "--kit",
                "A1B2C3D4",
                "--ledger",
                &url,
                "--worker-id",
                &id,
                "--concurrency",
                "16",
                "--out",
                &out,
            ];
            if webhooks {
                args.extend(["--webhook-grace", "30"]);
            }
            fleet::semarize(&emulator, &args).spawn().unwrap()
        })
        .collect();
    let statuses = fleet::wait_all(processes).await;
    let wall = started.elapsed().as_secs_f64();
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    let (own_after, children_after) = cpu_ticks("self").unwrap_or_default();
    let database_after = database.and_then(tree_cpu_ticks);
    let statements_after = database_statements(&url).await;
    let receiver_cpu = match receiver {
        Some(mut receiver) => {
            let _ = receiver.kill();
            let _ = receiver.wait();
            cpu_ticks("self")
                .unwrap_or_default()
                .1
                .saturating_sub(children_after)
        }
        None => 0,
    };
    let control = emulator.control();
    let per_record = |n: f64| n / records as f64;
    let ms_per_record = |ticks: u64| per_record(ticks as f64 * 1000.0 / clock_ticks_per_second());
    let attempts = control.create_attempts();
    let since_start: Vec<f64> = attempts
        .iter()
        .map(|a| (a.at - started_utc).num_milliseconds() as f64 / 1000.0)
        .collect();
    let run = FleetRun {
        wall,
        first_creation: since_start.iter().copied().fold(f64::INFINITY, f64::min),
        last_creation: since_start
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
        calls: per_record(control.calls().values().sum::<u64>() as f64),
        refused: per_record(
            control
                .create_attempts()
                .iter()
                .filter(|a| a.status == 429)
                .count() as f64,
        ),
        statements: statements_before
            .zip(statements_after)
            .map(|(before, after)| per_record((after - before) as f64)),
        cpu_workers: ms_per_record(children_after.saturating_sub(children_before)),
        cpu_receiver: ms_per_record(receiver_cpu),
        cpu_emulator: ms_per_record(own_after.saturating_sub(own_before)),
        cpu_database: database_before
            .zip(database_after)
            .map(|(before, after)| ms_per_record(after.saturating_sub(before))),
    };
    assert_every_record_once(&emulator, ledger.as_ref(), records).await;
    emulator.shutdown().await;
    run
}

/// A process's CPU time in clock ticks from `/proc/<pid>/stat`: its own (user + system),
/// and that of its children it has waited for.
fn cpu_ticks(pid: &str) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces:
    // state is the first; utime, stime, cutime, cstime the 12th to 15th.
    let fields: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let own = fields.get(10)?.saturating_add(*fields.get(11)?);
    let children = fields.get(12)?.saturating_add(*fields.get(13)?);
    Some((own, children))
}

/// The parent process id in `/proc/<pid>/stat`.
fn parent_of(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU ticks of a process and all its children, live or ended: PostgreSQL's postmaster
/// and its backends.
fn tree_cpu_ticks(pid: u32) -> Option<u64> {
    let (own, ended) = cpu_ticks(&pid.to_string())?;
    let live: u64 = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|name| parent_of(name) == Some(pid))
        .filter_map(|name| cpu_ticks(&name).map(|(own, _)| own))
        .sum();
    Some(own.saturating_add(ended).saturating_add(live))
}

/// The PostgreSQL server's main process when it runs on this machine: the parent of this
/// session's backend.
async fn postmaster(url: &str) -> Option<u32> {
    let (db, connection) = tokio_postgres::connect(&without_tls(url), tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(connection);
    let backend: i32 = db
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .ok()?
        .get(0);
    let postmaster = parent_of(&backend.to_string())?;
    // Only a PostgreSQL process answers for it (the backend may be elsewhere).
    let command = std::fs::read_to_string(format!("/proc/{postmaster}/comm")).ok()?;
    (command.trim() == "postgres").then_some(postmaster)
}

/// Clock ticks per second of `/proc`'s CPU times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
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
        engine(records, false).await;
        engine(records, true).await;
        match std::env::var("SEMARIZE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => {
                for (workers, webhooks, slow_every) in [
                    (1, false, None),
                    (1, true, None),
                    (4, false, None),
                    (4, true, None),
                    (4, false, Some(100)),
                ] {
                    fleet(&url, records, workers, webhooks, slow_every).await;
                }
            }
            _ => println!("PostgreSQL scenarios not run: SEMARIZE_TEST_POSTGRES_URL is not set"),
        }
        naive(records, 256).await;
    });
}
