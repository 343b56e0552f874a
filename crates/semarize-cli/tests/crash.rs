//! Crash safety: `semarize batch run` killed with SIGKILL at random points, at least 20
//! times, then resumed: every record terminal, exactly one run per source record at the
//! emulator, results complete. The ledger is read after each kill: at least half of the
//! kills must have hit a process holding leases on records it was creating or polling,
//! or the test proved nothing about crashes mid-flight.

use semarize::runtime::{Clock, SystemClock};
use std::process::{Command, Stdio};
use std::time::Duration;

use semarize_emulator::{Config, Emulator, Settings};

#[path = "common/child.rs"]
mod child;
mod common;
use child::RunToEnd;
use common::{Xorshift, batch_dir};

const RECORDS: usize = 1200;
const KILLS: usize = 20;

/// `batch run` over the test's input, as worker `worker_id` (its name on the leases it
/// takes).
fn batch_command(emulator: &Emulator, dir: &std::path::Path, worker_id: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_semarize"));
    command
        .args(["batch", "run"])
        .arg(dir.join("input.jsonl"))
        .args(["--kit", "A1B2C3D4", "--concurrency", "8"])
        .args(["--worker-id", worker_id, "--ledger"])
        .arg(dir.join("ledger.sqlite"))
        .arg("--out")
        .arg(dir.join("results.jsonl"))
        .env("SEMARIZE_API_KEY", emulator.api_key())
        .env("SEMARIZE_BASE_URL", emulator.base_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_at_random_points_finishes_with_no_duplicate_and_no_loss() {
    let emulator = Emulator::start(Config {
        settings: Settings {
            // Runs stay accepted (polled, leased) for a while after their creation.
            run_latency_ms: 1_500,
            create_rate: Some(100.0),
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let dir = batch_dir("semarize-crash", RECORDS, |i| {
        format!("{{\"id\": \"rec-{i}\", \"transcript\": \"Record {i}: losing {i} hours.\"}}")
    });

    // Polls answer after 400 ms while the kills go on: a process past its start-up has
    // polls in flight, on accepted records it holds leases on, most of the time.
    emulator.control().set_latency("get_run", 400);
    let mut random = Xorshift::from_env(0x5eed);
    let mut kills_holding_leases = 0;
    for kill in 0..KILLS {
        let worker_id = format!("crash-{kill}");
        let mut child = batch_command(&emulator, &dir, &worker_id)
            .spawn()
            .expect("the binary starts");
        // Past its start-up (the first lease it takes, read from the ledger; at most
        // 20 s), then a random moment of its work.
        let deadline = SystemClock.now() + Duration::from_secs(20);
        while leases_held_by(&dir, &worker_id) == 0 && SystemClock.now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(random.next() % 300)).await;
        if let Some(status) = child.try_wait().unwrap() {
            // It finished before the kill: the test would prove less than it claims.
            panic!("the batch ended ({status}) after {kill} kills, before {KILLS}: make it larger");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Only this process's leases count: the next process resets what an earlier
        // one left before it claims anything.
        if leases_held_by(&dir, &worker_id) > 0 {
            kills_holding_leases += 1;
        }
    }
    assert!(
        kills_holding_leases * 2 >= KILLS,
        "only {kills_holding_leases} of {KILLS} kills hit a process holding records it was \
         creating or polling: the kills fell too early to test crashes mid-flight"
    );
    emulator.control().set_latency("get_run", 0);
    let created_before_final = emulator.control().runs().len();
    assert!(
        created_before_final > 0,
        "runs were created during the kills, so resumed records meet their own keys again"
    );

    let started = SystemClock.now();
    let output = batch_command(&emulator, &dir, "final").run_to_end();
    assert!(
        output.status.success(),
        "the resumed batch ends cleanly: {}",
        output.status
    );

    let control = emulator.control();
    let runs = control.runs();
    assert_eq!(
        runs.len(),
        RECORDS,
        "exactly one run per source record ({created_before_final} before the last resume)"
    );
    let keys = control.runs_per_key();
    assert_eq!(keys.len(), RECORDS);
    assert!(
        keys.iter().all(|k| k.runs == 1),
        "no Idempotency-Key produced two runs"
    );
    let results = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = results
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), RECORDS, "results are complete");
    assert!(
        rows.iter().all(|r| r["state"] == "succeeded"),
        "every record is terminal and succeeded"
    );
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RECORDS);
    eprintln!(
        "{KILLS} kills, {kills_holding_leases} of them on a process holding leases on records \
         it was creating or polling; {created_before_final} runs created before the final \
         resume, which took {:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// How many records of the ledger in `dir` hold a lease of `worker_id` while creating or
/// accepted (being polled).
fn leases_held_by(dir: &std::path::Path, worker_id: &str) -> i64 {
    // (An error: the process died before it created the ledger or its tables.)
    let Ok(ledger) = rusqlite::Connection::open_with_flags(
        dir.join("ledger.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    ledger
        .query_row(
            "SELECT COUNT(*) FROM records \
             WHERE lease_owner = ?1 AND state IN ('creating', 'accepted')",
            [worker_id],
            |row| row.get(0),
        )
        .unwrap_or(0)
}
