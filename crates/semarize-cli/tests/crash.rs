//! Crash safety: `semarize batch run` killed with SIGKILL at random points, at least 20
//! times, then resumed: every record terminal, exactly one run per source record at the
//! emulator, results complete.

use semarize::runtime::{Clock, SystemClock};
use std::process::{Command, Stdio};
use std::time::Duration;

use semarize_emulator::{Config, Emulator, Settings};

mod common;
use common::{Xorshift, batch_dir};

const RECORDS: usize = 1200;
const KILLS: usize = 20;

fn batch_command(emulator: &Emulator, dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_semarize"));
    command
        .args(["batch", "run"])
        .arg(dir.join("input.jsonl"))
        .args(["--kit", "A1B2C3D4", "--concurrency", "8", "--ledger"])
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
            run_latency_ms: 150,
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

    let mut random = Xorshift::from_env(0x5eed);
    let mut kills = 0;
    while kills < KILLS {
        let mut child = batch_command(&emulator, &dir)
            .spawn()
            .expect("the binary starts");
        let delay = Duration::from_millis(30 + random.next() % 250);
        tokio::time::sleep(delay).await;
        match child.try_wait().unwrap() {
            Some(status) => {
                // It finished before the kill: the test would prove less than it claims.
                panic!(
                    "the batch ended ({status}) after {kills} kills, before {KILLS}: make it larger"
                );
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let created_before_final = emulator.control().runs().len();

    let started = SystemClock.now();
    let status = tokio::task::spawn_blocking({
        let mut command = batch_command(&emulator, &dir);
        move || command.status().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "the resumed batch ends cleanly: {status}");

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
        "{kills} kills; the final resume took {:?}",
        started.elapsed()
    );
    std::fs::remove_dir_all(&dir).ok();
}
