//! Many workers on one PostgreSQL ledger: three processes share a batch of 2,000 records
//! with no duplicate run, every record terminal, the work shared among them, and a killed
//! worker's leases taken over; four processes killed at random points 20 times lose and
//! double nothing; workers behind a ledger receiver finish by webhook without polling;
//! four workers with `--max-create-rate` keep the workspace's rate limit together.
//!
//! Needs `SEMARIZE_TEST_POSTGRES_URL` (set by `.ci/run`, which starts PostgreSQL;
//! `bash .ci/postgres.sh` prints one). Without it the tests are compiled as ignored, with
//! that reason (see `build.rs`), except under `CI=true`, where they run and fail: CI must
//! never go green without the shared ledger tested.

use semarize::runtime::{Clock, SystemClock};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::Duration;

use semarize_emulator::{Config, Emulator, Settings};

#[path = "common/child.rs"]
mod child;
mod common;
#[path = "common/fleet.rs"]
mod fleet;
use child::RunToEnd;
use common::{Xorshift, batch_dir};

const RECORDS: usize = 2000;

/// One test at a time: each starts several worker processes on a 2-core machine, and
/// run side by side they starve each other (a webhook delivery that times out under that
/// load is retried a minute later, after the grace the receiver test measures against).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `url` with `sslmode=disable` and no `sslrootcert` (which only the ledger knows).
fn without_tls(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("sslmode=") && !pair.starts_with("sslrootcert="))
        .collect();
    kept.push("sslmode=disable");
    format!("{base}?{}", kept.join("&"))
}

/// The test server's URL. The tests that call this are ignored unless one is configured
/// (or `CI=true`), so a missing one is a failure here.
fn database_url() -> String {
    std::env::var("SEMARIZE_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect(
            "SEMARIZE_TEST_POSTGRES_URL is not set: under CI=true that is a failure \
             (.ci/run starts PostgreSQL; bash .ci/postgres.sh prints a URL)",
        )
}

/// A connection to `url` without TLS, for the tests' own look into the tables (the
/// loopback server accepts both; the workers connect as users do).
async fn plain_connection(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&without_tls(url), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// An empty database `name` on the server of `url`, and its URL (the same settings): a
/// test with a database of its own runs beside the one that drops and recreates the
/// tables of the URL's database.
async fn fresh_database(url: &str, name: &str) -> String {
    let admin = plain_connection(url).await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _database) = base.rsplit_once('/').expect("a database in the URL");
    format!("{server}/{name}?{query}")
}

/// The states of the records in the ledger at `url`, with their counts.
async fn states(url: &str) -> BTreeMap<String, i64> {
    let client = plain_connection(url).await;
    let rows = client
        .query("SELECT state, COUNT(*) FROM records GROUP BY state", &[])
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// A `batch run` worker on `url` with 2 s leases.
fn worker(emulator: &Emulator, url: &str, dir: &std::path::Path, name: &str) -> Child {
    worker_with(emulator, url, dir, name, &[])
}

/// [`worker`] with more flags.
fn worker_with(
    emulator: &Emulator,
    url: &str,
    dir: &std::path::Path,
    name: &str,
    more: &[&str],
) -> Child {
    fleet::semarize(emulator, &["batch", "run"])
        .arg(dir.join("input.jsonl"))
        .args([
            "--kit",
            "A1B2C3D4",
            "--concurrency",
            "6",
            "--lease-seconds",
            "2",
            "--worker-id",
            name,
            "--ledger",
            url,
        ])
        .args(more)
        .arg("--out")
        .arg(dir.join(format!("results-{name}.jsonl")))
        .spawn()
        .expect("the binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn three_workers_share_one_batch_and_take_over_a_dead_workers_leases() {
    let url = database_url();
    let _turn = ONE_AT_A_TIME.lock().await;
    let client = plain_connection(&url).await;
    client
        .batch_execute("DROP TABLE IF EXISTS records, schema_version, fleet")
        .await
        .unwrap();

    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 200,
            create_rate: Some(400.0),
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let dir = batch_dir("semarize-pg", RECORDS, |i| {
        format!("{{\"id\": \"pg-{i}\", \"transcript\": \"Record {i}: losing hours.\"}}")
    });

    // Creations answer after 1 s (under the 2 s lease): a record a worker has claimed
    // stays in `creating` long enough that the kill below always finds some held,
    // however loaded the machine is.
    emulator.control().set_latency("create_run", 1_000);
    let mut doomed = worker(&emulator, &url, &dir, "worker-a");
    let b = worker(&emulator, &url, &dir, "worker-b");
    let c = worker(&emulator, &url, &dir, "worker-c");
    // Kill one worker mid-batch, while it holds leases: whatever it holds must be taken
    // over, not lost or doubled.
    let held_by_a = "SELECT source_id FROM records \
                     WHERE lease_owner = 'worker-a' AND state IN ('creating', 'accepted')";
    let deadline = SystemClock.now() + Duration::from_secs(30);
    // (An error: the workers have not created the table yet.)
    while client
        .query(held_by_a, &[])
        .await
        .map_or(true, |rows| rows.is_empty())
    {
        assert!(SystemClock.now() < deadline, "worker-a never held a lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    emulator.control().set_latency("create_run", 0);
    let orphans: Vec<String> = client
        .query(held_by_a, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !orphans.is_empty(),
        "the killed worker held records when it died"
    );
    let [status_b, status_c]: [_; 2] = fleet::wait_all(vec![b, c]).await.try_into().unwrap();
    assert!(
        status_b.success() && status_c.success(),
        "{status_b} {status_c}"
    );

    assert_eq!(
        states(&url).await,
        BTreeMap::from([("succeeded".to_owned(), RECORDS as i64)]),
        "every record terminal"
    );

    let rows = client
        .query(
            "SELECT created_by, COUNT(*) FROM records GROUP BY created_by",
            &[],
        )
        .await
        .unwrap();
    let shares: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    eprintln!("records per worker: {shares:?}");
    assert!(
        shares.len() >= 2 && shares.values().all(|n| *n > 0),
        "work was shared: {shares:?}"
    );

    let taken_over = client
        .query(
            "SELECT COUNT(*) FROM records WHERE source_id = ANY($1) \
             AND state = 'succeeded' AND lease_owner IS DISTINCT FROM 'worker-a'",
            &[&orphans],
        )
        .await
        .unwrap()[0]
        .get::<_, i64>(0);
    assert_eq!(
        taken_over,
        orphans.len() as i64,
        "every record the dead worker held was finished by another"
    );

    let control = emulator.control();
    assert_eq!(control.runs().len(), RECORDS, "no duplicate runs");
    assert!(control.runs_per_key().iter().all(|k| k.runs == 1));
    std::fs::remove_dir_all(&dir).ok();
}

/// The production shape: a receiver (`webhooks listen --ledger`) in front of the shared
/// ledger finishes the records from verified deliveries, and two workers started with
/// `--webhook-grace` never poll a run (each webhook arrives well within the grace): every
/// record succeeds with one creation and no poll, and no run is created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn workers_behind_a_ledger_receiver_complete_by_webhook_without_polling() {
    const RECEIVED: usize = 300;
    let url = database_url();
    let _turn = ONE_AT_A_TIME.lock().await;
    let url = fresh_database(&url, "semarize_receiver_test").await;

    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 100,
            create_rate: Some(400.0),
            allow_http_webhooks: true,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let dir = batch_dir("semarize-pg-receiver", RECEIVED, |i| {
        format!("{{\"id\": \"hook-{i}\", \"transcript\": \"Record {i}: budget $500.\"}}")
    });

    // The receiver needs the ledger to exist: a batch run over no records creates it (as
    // the README's production shape says), and ends at once.
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = dir.join("empty-results.jsonl");
    let created = fleet::semarize(&emulator, &["batch", "run"])
        .arg(&empty)
        .args(["--kit", "A1B2C3D4", "--ledger", &url, "--out"])
        .arg(out)
        .run_to_end()
        .status;
    assert!(created.success(), "{created:?}");
    // Workers start once the receiver listens.
    let mut receiver = fleet::start_receiver(&emulator, &url).await;
    // A grace far beyond any delivery here (the fleet's deadline ends the test first), so a
    // poll can only mean a webhook that never came.
    let graced =
        |name: &str| worker_with(&emulator, &url, &dir, name, &["--webhook-grace", "3600"]);
    let workers = vec![graced("hooked-1"), graced("hooked-2")];
    let [first, second]: [_; 2] = fleet::wait_all(workers).await.try_into().unwrap();
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(first.success() && second.success(), "{first} {second}");

    let ledger = plain_connection(&url).await;
    let row = ledger
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE state = 'succeeded'), COUNT(*), COALESCE(SUM(polls), 0)::BIGINT FROM records",
            &[],
        )
        .await
        .unwrap();
    let (succeeded, total, polls): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((succeeded, total), (RECEIVED as i64, RECEIVED as i64));
    assert_eq!(
        polls, 0,
        "every record was finished by its webhook, none polled"
    );
    let control = emulator.control();
    assert_eq!(control.runs().len(), RECEIVED, "no duplicate runs");
    assert!(control.deliveries().len() >= RECEIVED);
    std::fs::remove_dir_all(&dir).ok();
}

/// The SIGKILL loop on PostgreSQL: four worker processes on one database, one of them
/// (chosen at random) killed at a random moment, 20 times, each replaced at once by a new
/// worker under a new name, so whatever the dead one held waits out its 2 s lease and is
/// taken over by another. Then the survivors finish: every record succeeded, exactly one
/// run per record at the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn four_workers_killed_at_random_points_finish_with_no_duplicate_and_no_loss() {
    const BATCH: usize = 1500;
    const WORKERS: usize = 4;
    const KILLS: usize = 20;
    let url = database_url();
    let _turn = ONE_AT_A_TIME.lock().await;
    let url = fresh_database(&url, "semarize_crash_test").await;
    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 200,
            create_rate: Some(400.0),
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let dir = batch_dir("semarize-pg-crash", BATCH, |i| {
        format!("{{\"id\": \"k-{i}\", \"transcript\": \"Record {i}: churn risk.\"}}")
    });

    let ledger = plain_connection(&url).await;
    let held = "SELECT COUNT(*) FROM records \
                WHERE lease_owner = $1 AND state IN ('creating', 'accepted')";

    // During the kills creations answer after 1 s: a worker past its start always has
    // creations in flight when it dies (the answer it waited for is lost, the hazard
    // derived keys exist for), and the batch cannot end before the kills do, however
    // fast the machine.
    emulator.control().set_latency("create_run", 1_000);
    let mut random = Xorshift::from_env(0x9e37_79b9);
    let mut started = 0;
    let mut start = || {
        started += 1;
        let name = format!("crash-{started}");
        (worker(&emulator, &url, &dir, &name), name)
    };
    let mut workers: Vec<(Child, String)> = (0..WORKERS).map(|_| start()).collect();
    let mut kills_holding_leases = 0;
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(300 + random.next() % 1000)).await;
        for (worker, _) in &mut workers {
            if let Some(status) = worker.try_wait().unwrap() {
                // The batch ended before the kills did: the test would prove less than it
                // claims.
                panic!(
                    "a worker ended ({status}) after {kill} kills, before {KILLS}: make the batch larger"
                );
            }
        }
        let victim = &mut workers[(random.next() % WORKERS as u64) as usize];
        victim.0.kill().unwrap(); // SIGKILL
        victim.0.wait().unwrap();
        // (An error: no worker has created the table yet.)
        if ledger
            .query_one(held, &[&victim.1])
            .await
            .is_ok_and(|row| row.get::<_, i64>(0) > 0)
        {
            kills_holding_leases += 1;
        }
        *victim = start();
    }

    emulator.control().set_latency("create_run", 0);
    let created_during_kills = emulator.control().runs().len();
    assert!(
        created_during_kills > 0,
        "runs were created during the kills"
    );
    assert!(
        kills_holding_leases * 2 >= KILLS,
        "only {kills_holding_leases} of {KILLS} kills hit a worker holding leases on records \
         it was creating or polling"
    );

    // The survivors finish, within a bound: a worker that never ends fails the test.
    let deadline = SystemClock.now() + Duration::from_secs(180);
    let mut statuses = Vec::new();
    let mut workers: Vec<Child> = workers.into_iter().map(|(child, _)| child).collect();
    while let Some(mut worker) = workers.pop() {
        match worker.try_wait().unwrap() {
            Some(status) => statuses.push(status),
            None if SystemClock.now() > deadline => {
                let _ = worker.kill();
                panic!("a worker was still running after 180 s");
            }
            None => {
                workers.push(worker);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    assert_eq!(
        states(&url).await,
        BTreeMap::from([("succeeded".to_owned(), BATCH as i64)]),
        "every record succeeded: none lost"
    );
    let control = emulator.control();
    assert_eq!(control.runs().len(), BATCH, "exactly one run per record");
    assert!(
        control.runs_per_key().iter().all(|k| k.runs == 1),
        "no Idempotency-Key produced two runs"
    );
    eprintln!(
        "{KILLS} kills among {started} worker processes, {kills_holding_leases} of them holding records; \
         {created_during_kills} of {BATCH} runs created during the kills"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Only `batch run` creates a ledger: on a database that never saw one, a receiver,
/// `batch status` and `batch replay` each say so in one line and exit 2, and the database
/// is left without a single table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn an_empty_database_is_no_ledger_and_gets_no_tables() {
    let url = database_url();
    let url = fresh_database(&url, "semarize_cli_no_ledger").await;
    for args in [
        &[
            "webhooks",
            "listen",
            "--addr",
            "127.0.0.1:0",
            "--ledger",
            &url,
        ][..],
        &["batch", "status", "--ledger", &url],
        &["batch", "replay", "--ledger", &url, "--failed"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args(args)
            .env("SEMARIZE_WEBHOOK_SECRET", "whsec_test")
            .env("SEMARIZE_API_KEY", "smz_test_unused")
            .env("SEMARIZE_BASE_URL", "http://127.0.0.1:9")
            .run_to_end();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no ledger at") && stderr.contains("only a batch run creates"),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line: {stderr}"
        );
    }
    let tables: i64 = plain_connection(&url)
        .await
        .query_one(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "nothing was created");
}

/// The acceptance test of the fleet-wide rate: four worker processes, 8 creations in
/// flight each, on one ledger with `--max-create-rate` at the emulator's `create_rate`.
/// Every record succeeds with one run, at most 5 % of creation attempts are answered
/// 429, and no second of the emulator's clock sees more creations than the rate plus its
/// burst. The wall time against the bound (records ÷ rate + one run latency) is printed,
/// not asserted (the batch bench measures it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn four_workers_keep_one_rate_limit_together() {
    const PACED: usize = 2000;
    const RATE: f64 = 100.0;
    const LATENCY_MS: u64 = 200;
    let url = database_url();
    let _turn = ONE_AT_A_TIME.lock().await;
    let url = fresh_database(&url, "semarize_rate_test").await;
    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: LATENCY_MS,
            create_rate: Some(RATE),
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let dir = batch_dir("semarize-pg-rate", PACED, |i| {
        format!("{{\"id\": \"rate-{i}\", \"transcript\": \"Record {i}: paced.\"}}")
    });
    // The ledger first, so the four workers start together.
    let first = worker_with(
        &emulator,
        &url,
        &dir,
        "rate-0",
        &["--max-create-rate", "100"],
    );
    let started = SystemClock.now();
    let started_utc = SystemClock.now_utc();
    let mut workers = vec![first];
    for name in ["rate-1", "rate-2", "rate-3"] {
        workers.push(worker_with(
            &emulator,
            &url,
            &dir,
            name,
            &["--max-create-rate", "100"],
        ));
    }
    let statuses = fleet::wait_all(workers).await;
    let wall = SystemClock.now().saturating_duration_since(started);
    let ended_utc = SystemClock.now_utc();
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    assert_eq!(
        states(&url).await,
        BTreeMap::from([("succeeded".to_owned(), PACED as i64)]),
        "every record succeeded"
    );
    let control = emulator.control();
    assert_eq!(control.runs().len(), PACED, "no duplicate runs");
    assert!(control.runs_per_key().iter().all(|k| k.runs == 1));

    let attempts = control.create_attempts();
    let refused = attempts.iter().filter(|a| a.status == 429).count();
    let share = refused as f64 / attempts.len() as f64;
    let bound = PACED as f64 / RATE + LATENCY_MS as f64 / 1000.0;
    // Where the time beyond the rate went: starting (processes, connections, ingest)
    // and finishing (the last run's first poll, a second after its creation).
    let first = attempts.iter().map(|a| a.at).min().unwrap_or(started_utc);
    let last = attempts.iter().map(|a| a.at).max().unwrap_or(started_utc);
    eprintln!(
        "four workers at --max-create-rate {RATE}: {} create attempts, {refused} answered 429 \
         ({:.1} %), wall {:.2} s = {:.2} of the bound {bound:.1} s (first creation after \
         {} ms, the workers done {} ms after the last)",
        attempts.len(),
        share * 100.0,
        wall.as_secs_f64(),
        wall.as_secs_f64() / bound,
        (first - started_utc).num_milliseconds(),
        (ended_utc - last).num_milliseconds(),
    );
    assert!(
        share <= 0.05,
        "{refused} of {} attempts were 429",
        attempts.len()
    );
    // The busiest second of the emulator's clock: the rate, plus the one second's burst
    // its bucket starts with.
    let mut times: Vec<i64> = attempts.iter().map(|a| a.at.timestamp_millis()).collect();
    times.sort_unstable();
    let busiest = (0..times.len())
        .map(|i| times[i..].partition_point(|t| *t < times[i] + 1000))
        .max()
        .unwrap_or(0);
    assert!(
        busiest as f64 <= 2.0 * RATE,
        "{busiest} creations in one second against a rate of {RATE}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
