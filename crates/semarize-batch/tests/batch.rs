//! Durable batches against the emulator: faults, rate limits, late and duplicate
//! webhooks, malformed input, replay, resuming after an interrupted run.

use semarize::runtime::{Clock, SystemClock};
use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use semarize_batch as batch;
use semarize_batch::{
    BatchEngine, BatchOptions, Ledger, Progress, RecordState, ReplaySelection, ResultFormat,
    SqliteLedger,
};
use semarize_emulator::{Emulator, ForcedOutcome, Settings};

struct Fixture {
    emulator: Emulator,
    client: semarize::Client,
    ledger: Arc<dyn Ledger>,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn fixture(name: &str, settings: impl FnOnce(&mut Settings)) -> Fixture {
    let mut s = Settings {
        run_latency_ms: 60,
        allow_http_webhooks: true,
        time_scale: 600.0,
        ..Settings::default()
    };
    settings(&mut s);
    let emulator = Emulator::start(semarize_emulator::Config {
        settings: s,
        ..Default::default()
    })
    .await
    .unwrap();
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("semarize-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(&dir.join("ledger.sqlite")).unwrap());
    Fixture {
        emulator,
        client,
        ledger,
        dir,
    }
}

fn input(n: usize) -> String {
    (1..=n).map(|i| format!("{{\"id\": \"call-{i}\", \"transcript\": \"Call {i}. We are losing {i} hours a week.\"}}\n")).collect()
}

impl Fixture {
    async fn ingest(&self, text: &str) -> batch::IngestReport {
        batch::ingest_jsonl(
            self.ledger.as_ref(),
            Cursor::new(text.to_owned()),
            &semarize_batch::Kit::Code("A1B2C3D4".into()),
        )
        .await
        .unwrap()
    }

    fn engine(&self, options: BatchOptions) -> (BatchEngine, Arc<Progress>) {
        let progress = Arc::new(Progress::default());
        (
            BatchEngine::new(
                self.ledger.clone(),
                self.client.clone(),
                options,
                progress.clone(),
            ),
            progress,
        )
    }

    async fn run(&self) -> Arc<Progress> {
        let progress = Arc::new(Progress::default());
        self.run_with(BatchOptions::default().concurrency(8), progress.clone())
            .await;
        progress
    }

    /// Runs the batch with `options` to its end (at most a minute), counting into
    /// `progress` (which a webhook receiver may share).
    async fn run_with(&self, options: BatchOptions, progress: Arc<Progress>) {
        let engine = BatchEngine::new(self.ledger.clone(), self.client.clone(), options, progress);
        tokio::time::timeout(Duration::from_secs(60), engine.run())
            .await
            .expect("the batch finishes")
            .unwrap();
    }

    /// Every source record has exactly one run at the emulator, and every key made one.
    fn assert_no_duplicates(&self, records: usize) {
        let control = self.emulator.control();
        assert_eq!(control.runs().len(), records, "one run per record");
        let keys = control.runs_per_key();
        assert_eq!(keys.len(), records);
        assert!(keys.iter().all(|k| k.runs == 1), "no key made two runs");
    }

    /// Records per state, by stored name.
    async fn states(&self) -> BTreeMap<String, u64> {
        let counts = self.ledger.counts().await.unwrap();
        counts
            .states
            .into_iter()
            .map(|(state, n)| (state.as_str().to_owned(), n))
            .collect()
    }
}

#[tokio::test]
async fn a_batch_completes_and_writes_results_in_input_order() {
    let f = fixture("happy", |_| {}).await;
    let report = f.ingest(&input(40)).await;
    assert_eq!((report.lines, report.added, report.rejected), (40, 40, 0));
    f.run().await;
    assert_eq!(f.states().await.get("succeeded"), Some(&40));
    f.assert_no_duplicates(40);

    let out = f.dir.join("results.jsonl");
    assert_eq!(
        batch::write_results(f.ledger.as_ref(), &out, ResultFormat::JsonLines)
            .await
            .unwrap(),
        40
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], "call-1");
    assert_eq!(lines[39]["id"], "call-40");
    assert!(lines.iter().all(
        |l| l["state"] == "succeeded" && l["output"]["bricks"]["pain_is_specific"].is_object()
    ));
    let csv = f.dir.join("results.csv");
    batch::write_results(f.ledger.as_ref(), &csv, ResultFormat::Csv)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("id,kit,state,run_id,idempotency_key,error_code,error_message,output\n")
    );
    assert_eq!(text.lines().count(), 41);

    // Ingesting the same file again (a resumed batch) adds nothing and runs nothing.
    assert_eq!(f.ingest(&input(40)).await.added, 0);
    f.run().await;
    f.assert_no_duplicates(40);
}

#[tokio::test]
async fn faults_never_duplicate_or_lose_a_record() {
    let f = fixture("faults", |s| s.create_rate = Some(40.0)).await;
    let control = f.emulator.control();
    control.fail_next("create_run", 6, 503, None);
    control.drop_after_commit("create_run", 4);
    // Two 429s whatever the machine's speed (the rate limit above adds more when the
    // creations outrun it).
    control.fail_next("create_run", 2, 429, Some(1));
    control.fail_next("get_run", 5, 500, None);
    control.force_next_runs(
        ForcedOutcome::Fail {
            error_code: "run_request_failed".into(),
            error_message: Some("boom".into()),
            error_user_message: None,
        },
        3,
    );
    f.ingest(&input(80)).await;
    let progress = f.run().await;
    let states = f.states().await;
    assert_eq!(
        states.get("succeeded").copied().unwrap_or(0) + states.get("failed").copied().unwrap_or(0),
        80,
        "{states:?}"
    );
    assert_eq!(states.get("failed"), Some(&3));
    assert!(progress.rate_limited() > 0, "the 429 storm happened");
    f.assert_no_duplicates(80);
    let counts = f.ledger.counts().await.unwrap();
    assert_eq!(counts.errors.get("run_request_failed"), Some(&3));
}

/// Starts a ledger receiver for `f`'s ledger.
#[cfg(feature = "webhooks")]
async fn receiver(f: &Fixture, progress: &Arc<Progress>) -> batch::WebhookReceiver {
    batch::start_webhook_receiver(
        "127.0.0.1:0".parse().unwrap(),
        f.client.clone(),
        f.ledger.clone(),
        progress.clone(),
        batch::ReceiverOptions::default(),
    )
    .await
    .unwrap()
}

/// Waits (bounded) until the emulator has delivered `count` webhooks.
#[cfg(feature = "webhooks")]
async fn wait_for_deliveries(f: &Fixture, count: usize) {
    let delivered = || {
        f.emulator
            .control()
            .deliveries()
            .iter()
            .filter(|d| d.result == "delivered")
            .count()
    };
    let deadline = SystemClock.now() + Duration::from_secs(20);
    while delivered() < count {
        assert!(
            SystemClock.now() < deadline,
            "only {} of {count} deliveries arrived",
            delivered()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every record finished by its webhook, duplicates and delayed deliveries included: the
/// grace (an hour) is far longer than any delivery here, so no record is polled.
#[cfg(feature = "webhooks")]
#[tokio::test]
async fn webhooks_complete_runs_and_duplicate_deliveries_change_nothing() {
    let f = fixture("webhooks", |s| s.run_latency_ms = 100).await;
    f.emulator
        .control()
        .set_webhook_faults(semarize_emulator::WebhookFaults {
            duplicate: 10,
            delay: 5,
            delay_ms: 500,
            ..Default::default()
        });
    let progress = Arc::new(Progress::default());
    let _receiver = receiver(&f, &progress).await;
    f.ingest(&input(30)).await;
    // A grace of an hour: finishing within the minute `run_with` allows means every record
    // was finished by its webhook.
    let options = BatchOptions::default().webhook_grace(Duration::from_secs(3600));
    f.run_with(options, progress.clone()).await;
    assert_eq!(f.states().await.get("succeeded"), Some(&30));
    assert_eq!(progress.by_webhook(), 30, "every record by its webhook");
    assert_eq!(progress.done(), 30, "each record counted once");
    f.assert_no_duplicates(30);
    // 30 events and 10 duplicates: the duplicates (each after its record was done)
    // change nothing.
    wait_for_deliveries(&f, 40).await;
    assert_eq!(f.states().await.get("succeeded"), Some(&30));
    assert_eq!(
        progress.done(),
        30,
        "duplicate deliveries count nothing twice"
    );
    f.assert_no_duplicates(30);
}

/// The poll fallback, then the late deliveries: every first delivery attempt fails (not
/// sent), so nothing can arrive before its retry (three seconds later, on the emulator's
/// scaled schedule); the records' 200 ms grace ends long before, they are polled to
/// their end, and the retried deliveries that arrive afterwards change nothing.
#[cfg(feature = "webhooks")]
#[tokio::test]
async fn late_deliveries_after_the_poll_fallback_change_nothing() {
    let f = fixture("late-webhooks", |s| {
        s.run_latency_ms = 100;
        // The first retry one minute / 20 = 3 s after the failed attempt.
        s.time_scale = 20.0;
    })
    .await;
    f.emulator
        .control()
        .set_webhook_faults(semarize_emulator::WebhookFaults {
            fail: 20,
            ..Default::default()
        });
    let progress = Arc::new(Progress::default());
    let _receiver = receiver(&f, &progress).await;
    f.ingest(&input(20)).await;
    let options = BatchOptions::default().webhook_grace(Duration::from_millis(200));
    f.run_with(options, progress.clone()).await;
    assert_eq!(f.states().await.get("succeeded"), Some(&20));
    assert_eq!(progress.done(), 20);
    wait_for_deliveries(&f, 20).await;
    assert_eq!(f.states().await.get("succeeded"), Some(&20));
    assert_eq!(progress.done(), 20, "late deliveries count nothing twice");
    f.assert_no_duplicates(20);
}

#[tokio::test]
async fn malformed_lines_are_recorded_as_rejected_with_their_line_numbers() {
    let f = fixture("malformed", |_| {}).await;
    let text = "{\"id\": \"a\", \"transcript\": \"fine\"}\nnot json\n\n{\"id\": \"b\"}\n{\"id\": \"c\", \"input\": {\"transcript\": \"also fine\"}}\n";
    let report = f.ingest(text).await;
    assert_eq!((report.lines, report.added, report.rejected), (4, 4, 2));
    assert_eq!(report.rejected_lines[0].0, 2);
    assert!(report.rejected_lines[0].1.contains("line 2: not JSON"));
    assert_eq!(report.rejected_lines[1].0, 4);
    f.run().await;
    let counts = f.ledger.counts().await.unwrap();
    assert_eq!(
        (
            counts.count(RecordState::Succeeded),
            counts.count(RecordState::Rejected)
        ),
        (2, 2)
    );
    assert_eq!(counts.errors.get("invalid_input_line"), Some(&2));
    let rows = f.ledger.results(0, 10).await.unwrap();
    assert_eq!(rows[1].id, "#line-2");
    assert!(rows[1].error_message.as_deref().unwrap().contains("line 2"));
}

#[tokio::test]
async fn replay_is_explicit_and_uses_a_new_generation() {
    let f = fixture("replay", |_| {}).await;
    f.emulator
        .control()
        .force_next_runs(ForcedOutcome::Cancel, 2);
    f.ingest(&input(10)).await;
    f.run().await;
    assert_eq!(f.states().await.get("cancelled"), Some(&2));
    f.run().await;
    assert_eq!(
        f.emulator.control().runs().len(),
        10,
        "a plain re-run creates nothing"
    );

    assert_eq!(f.ledger.replay(ReplaySelection::Failed).await.unwrap(), 2);
    f.run().await;
    assert_eq!(f.states().await.get("succeeded"), Some(&10));
    assert_eq!(
        f.emulator.control().runs().len(),
        12,
        "replayed records got new runs"
    );
    assert!(
        f.emulator
            .control()
            .runs_per_key()
            .iter()
            .all(|k| k.runs == 1)
    );

    let before = f.ledger.results(0, 1).await.unwrap()[0]
        .idempotency_key
        .clone();
    assert_eq!(
        f.ledger
            .replay(ReplaySelection::Ids(vec!["call-1".into(), "nope".into()]))
            .await
            .unwrap(),
        1
    );
    f.run().await;
    let after = f.ledger.results(0, 1).await.unwrap()[0]
        .idempotency_key
        .clone();
    assert_ne!(before, after, "a new generation, a new key");
    assert_eq!(f.emulator.control().runs().len(), 13);
}

#[tokio::test]
async fn an_interrupted_run_resumes_without_duplicates() {
    let f = fixture("resume", |s| {
        s.run_latency_ms = 300;
        s.create_rate = Some(20.0);
    })
    .await;
    f.ingest(&input(60)).await;
    // A short lease, so the records the first worker abandons are free again soon (with
    // the default minute the second worker would rightly wait for a minute).
    let (engine, _) = f.engine(
        BatchOptions::default()
            .concurrency(4)
            .lease(Duration::from_millis(300)),
    );
    // Stop the engine mid-flight: creations in progress are abandoned as a crash would.
    let _ = tokio::time::timeout(Duration::from_millis(150), engine.run()).await;
    let partial = f.emulator.control().runs().len();
    assert!(
        partial > 0 && partial < 60,
        "stopped mid-way ({partial} runs)"
    );
    // The abandoned leases expire; a new worker takes the records over.
    let (engine, _) = f.engine(BatchOptions::default().lease(Duration::from_millis(200)));
    tokio::time::timeout(Duration::from_secs(60), engine.run())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.states().await.get("succeeded"), Some(&60));
    f.assert_no_duplicates(60);
}

#[tokio::test]
async fn a_corrupted_or_foreign_ledger_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("semarize-batch-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, just text that happens to be long enough to look like a header",
    )
    .unwrap();
    let err = SqliteLedger::open(&path).unwrap_err();
    assert!(err.to_string().contains("cannot open the ledger"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Only a definite answer rejects or fails a record: garbled creates and unreadable polls
/// are asked again with the same key, and a record ends as the run did.
#[tokio::test]
async fn unreadable_answers_are_outcome_unknown_never_rejections() {
    use semarize_emulator::RawResponse;
    let f = fixture("unreadable", |_| {}).await;
    let control = f.emulator.control();
    let garbled = |status: u16, after_commit: bool| RawResponse {
        status,
        body: "<html>upstream hiccup</html>".into(),
        after_commit,
        ..RawResponse::default()
    };
    control.respond_raw("create_run", 3, garbled(202, true));
    control.respond_raw("create_run", 2, garbled(502, false));
    control.respond_raw("get_run", 4, garbled(200, false));
    control.respond_raw("get_run", 2, garbled(500, false));
    f.ingest(&input(12)).await;
    f.run().await;
    let states = f.states().await;
    assert_eq!(states.get("succeeded"), Some(&12), "{states:?}");
    f.assert_no_duplicates(12);
    let counts = f.ledger.counts().await.unwrap();
    assert!(counts.errors.is_empty(), "{:?}", counts.errors);
}

/// A 429 asking for years pauses creation for the batch's limit, not for years, and the
/// progress counters say creation is paused.
#[tokio::test]
async fn a_huge_retry_after_pauses_for_the_limit_only() {
    let f = fixture("huge-pause", |_| {}).await;
    f.emulator.control().respond_raw(
        "create_run",
        1,
        semarize_emulator::RawResponse {
            status: 429,
            headers: [("retry-after".to_owned(), "99999999".to_owned())].into(),
            ..Default::default()
        },
    );
    f.ingest(&input(5)).await;
    let (engine, progress) =
        f.engine(BatchOptions::default().max_rate_limit_pause(Duration::from_millis(300)));
    tokio::time::timeout(Duration::from_secs(30), engine.run())
        .await
        .expect("the pause was capped")
        .unwrap();
    assert_eq!(f.states().await.get("succeeded"), Some(&5));
    let paused_until = progress.creation_paused_until_ms().unwrap_or(0);
    let now = SystemClock.now_utc().timestamp_millis();
    assert!(
        paused_until > 0 && paused_until < now + 1_000,
        "the pause shown is the capped one: {paused_until} vs {now}"
    );
    f.assert_no_duplicates(5);
}

/// Every server delay is capped, whatever its source: `Retry-After` of `u64::MAX` seconds
/// or an HTTP-date in the year 9999 on a creation's real 202, on a 429 or a 503 to a
/// creation, and on a poll's 200, 429 or 503; `retry_after_seconds` of `u64::MAX` in a
/// 429's body. On virtual time: no sleep of the engine exceeds the batch's limit, and the
/// batch ends within a few limits of virtual time instead of being parked for ever.
#[tokio::test]
async fn every_server_delay_is_capped_whatever_its_source() {
    use semarize::runtime::{FixedJitter, Runtime, VirtualTime};
    use semarize_emulator::RawResponse;
    let cap = Duration::from_secs(60);
    let huge = u64::MAX.to_string();
    let far_date = "Fri, 31 Dec 9999 23:59:59 GMT".to_owned();
    let raw = |status: u16, retry_after: &str, body: &str| RawResponse {
        status,
        body: body.to_owned(),
        content_type: Some("application/json".to_owned()),
        headers: match retry_after {
            "" => Default::default(),
            value => [("retry-after".to_owned(), value.to_owned())].into(),
        },
        ..Default::default()
    };
    let error = r#"{"error": "service_unavailable"}"#;
    let running = r#"{"run_id": "r", "status": "running"}"#;
    let huge_body = format!(r#"{{"error": "rate_limited", "retry_after_seconds": {huge}}}"#);
    /// How a case's advice reaches the engine: a hostile answer instead of the real one,
    /// or the real answer with a hostile `Retry-After`.
    enum Advice {
        Instead(RawResponse),
        Added(String),
    }
    let cases = [
        ("create 202", "create_run", Advice::Added(huge.clone())),
        (
            "create 202 date",
            "create_run",
            Advice::Added(far_date.clone()),
        ),
        (
            "create 429",
            "create_run",
            Advice::Instead(raw(429, &huge, error)),
        ),
        (
            "create 429 body",
            "create_run",
            Advice::Instead(raw(429, "", &huge_body)),
        ),
        (
            "create 503",
            "create_run",
            Advice::Instead(raw(503, &far_date, error)),
        ),
        (
            "poll 200",
            "get_run",
            Advice::Instead(raw(200, &huge, running)),
        ),
        ("poll 200 real", "get_run", Advice::Added(huge.clone())),
        (
            "poll 429",
            "get_run",
            Advice::Instead(raw(429, &far_date, error)),
        ),
        (
            "poll 503",
            "get_run",
            Advice::Instead(raw(503, &huge, error)),
        ),
    ];
    for (source, operation, advice) in cases {
        let f = fixture(&format!("capped-{}", source.replace(' ', "-")), |_| {}).await;
        match advice {
            Advice::Instead(answer) => f.emulator.control().respond_raw(operation, 1, answer),
            Advice::Added(value) => {
                f.emulator
                    .control()
                    .add_headers(operation, 1, [("retry-after", value.as_str())])
            }
        }
        f.ingest(&input(3)).await;
        let time = VirtualTime::scaled(1000.0);
        let client = semarize::Client::builder()
            .api_key(f.emulator.api_key())
            .base_url(f.emulator.base_url())
            .runtime(Runtime::virtual_time(time.clone(), FixedJitter(1.0)))
            .build()
            .unwrap();
        let engine = BatchEngine::new(
            f.ledger.clone(),
            client,
            BatchOptions::default().max_rate_limit_pause(cap),
            Arc::new(Progress::default()),
        );
        tokio::time::timeout(Duration::from_secs(30), engine.run())
            .await
            .unwrap_or_else(|_| panic!("{source}: the batch was parked"))
            .unwrap();
        assert_eq!(f.states().await.get("succeeded"), Some(&3), "{source}");
        let longest = time.sleeps().into_iter().max().unwrap_or_default();
        assert!(longest <= cap, "{source}: slept {longest:?}");
        assert!(
            time.elapsed() < 10 * cap,
            "{source}: {:?} of virtual time",
            time.elapsed()
        );
    }
}

/// Input that is not what it should be is rejected line by line, never dropped and never
/// fatal: repeated ids, bytes that are not UTF-8, ids in the engine's reserved namespace.
#[tokio::test]
async fn bad_input_lines_are_rejected_one_by_one() {
    let f = fixture("bad-input", |_| {}).await;
    let mut text = Vec::new();
    text.extend_from_slice(b"{\"id\": \"a\", \"transcript\": \"first\"}\n");
    text.extend_from_slice(b"{\"id\": \"a\", \"transcript\": \"second, same id\"}\n");
    text.extend_from_slice(b"{\"id\": \"b\", \"transcript\": \"caf\xe9 in Latin-1\"}\n");
    text.extend_from_slice(b"{\"id\": \"#line-5\", \"transcript\": \"squatting\"}\n");
    text.extend_from_slice(b"{\"id\": \"c\", \"transcript\": \"fine\"}\n");
    let report = batch::ingest_jsonl(
        f.ledger.as_ref(),
        Cursor::new(text),
        &semarize_batch::Kit::Code("A1B2C3D4".into()),
    )
    .await
    .unwrap();
    assert_eq!((report.lines, report.added, report.rejected), (5, 5, 3));
    let reasons: Vec<&str> = report
        .rejected_lines
        .iter()
        .map(|(_, w)| w.as_str())
        .collect();
    assert!(reasons[0].starts_with("line 2:") && reasons[0].contains("earlier line"));
    assert!(reasons[1].starts_with("line 3:") && reasons[1].contains("not UTF-8"));
    assert!(reasons[2].starts_with("line 4:") && reasons[2].contains("may not start"));
    f.run().await;
    let states = f.states().await;
    assert_eq!(states.get("succeeded"), Some(&2), "{states:?}");
    assert_eq!(states.get("rejected"), Some(&3), "{states:?}");
}

/// Read-only commands never create a ledger, and two ledgers in one folder whose names
/// differ only in extension have two locks.
#[tokio::test]
async fn ledgers_are_opened_only_where_they_exist_and_locked_by_full_name() {
    let dir = std::env::temp_dir().join(format!("semarize-ledger-open-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("typo.sqlite");
    let err = batch::open_existing_ledger(missing.to_str().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, batch::LedgerError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("no such file"), "{err}");
    assert!(!err.is_unavailable());
    assert!(!missing.exists(), "nothing was created");
    assert!(
        !dir.join("typo.sqlite.lock").exists(),
        "not even a lock file"
    );
    // An empty file is an empty SQLite database: no ledger, and it stays empty.
    let other = dir.join("other.sqlite");
    std::fs::write(&other, b"").unwrap();
    let err = batch::open_existing_ledger(other.to_str().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("holds no ledger"), "{err}");
    assert!(std::fs::read(&other).unwrap().is_empty());
    // A ledger that exists opens.
    drop(SqliteLedger::open(&dir.join("real.sqlite")).unwrap());
    batch::open_existing_ledger(dir.join("real.sqlite").to_str().unwrap())
        .await
        .expect("an existing ledger opens");

    let db = SqliteLedger::open(&dir.join("l.db")).unwrap();
    let sqlite = SqliteLedger::open(&dir.join("l.sqlite")).expect("a second lock, not the first");
    assert!(dir.join("l.db.lock").exists() && dir.join("l.sqlite.lock").exists());
    drop((db, sqlite));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two batches in one workspace whose records reuse the ids `1, 2, 3` for different
/// transcripts: each record gets its own run, no 409 conflict, no borrowed run.
#[tokio::test]
async fn batches_that_reuse_ids_for_different_content_never_share_a_key() {
    let f = fixture("reused-ids", |_| {}).await;
    let batch = |word: &str| -> String {
        (1..=3)
            .map(|i| {
                format!("{{\"id\": \"{i}\", \"transcript\": \"{word} call {i}: losing hours.\"}}\n")
            })
            .collect()
    };
    f.ingest(&batch("First")).await;
    f.run().await;
    // A second ledger, as a second batch would have, in the same workspace.
    let second: Arc<dyn Ledger> =
        Arc::new(SqliteLedger::open(&f.dir.join("second.sqlite")).unwrap());
    batch::ingest_jsonl(
        second.as_ref(),
        Cursor::new(batch("Second")),
        &semarize_batch::Kit::Code("A1B2C3D4".into()),
    )
    .await
    .unwrap();
    let engine = BatchEngine::new(
        second.clone(),
        f.client.clone(),
        BatchOptions::default(),
        Arc::new(Progress::default()),
    );
    tokio::time::timeout(Duration::from_secs(60), engine.run())
        .await
        .expect("the batch finishes")
        .unwrap();
    let counts = second.counts().await.unwrap();
    assert_eq!(counts.count(RecordState::Succeeded), 3, "{counts:?}");
    f.assert_no_duplicates(6);
    let attempts = f.emulator.control().create_attempts();
    assert!(
        attempts.iter().all(|a| a.status != 409),
        "no idempotency conflict: {attempts:?}"
    );
}

/// A batch never takes over the workspace's webhook endpoint unasked: v1 has one, and
/// replacing it would point production deliveries at the batch and break their secret.
#[cfg(feature = "webhooks")]
#[tokio::test]
async fn a_webhook_receiver_keeps_an_existing_endpoint_unless_told_to_replace_it() {
    let f = fixture("keep-endpoint", |_| {}).await;
    let production = f
        .client
        .webhook_endpoints()
        .upsert("https://example.com/production-hook")
        .send()
        .await
        .unwrap();
    let start = |options: batch::ReceiverOptions| {
        batch::start_webhook_receiver(
            "127.0.0.1:0".parse().unwrap(),
            f.client.clone(),
            f.ledger.clone(),
            Arc::new(Progress::default()),
            options,
        )
    };
    let refused = start(batch::ReceiverOptions::default()).await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("https://example.com/production-hook"),
        "{refused}"
    );
    let hooks = f.client.webhook_endpoints().list().send().await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0].url, "https://example.com/production-hook",
        "untouched"
    );
    assert_eq!(hooks[0].id, production.endpoint.id);

    let receiver = start(batch::ReceiverOptions::default().replace_existing(true))
        .await
        .unwrap();
    let hooks = f.client.webhook_endpoints().list().send().await.unwrap();
    assert_eq!(hooks[0].url, receiver.url, "replaced when asked");

    // A public URL that forwards to the listener is what gets registered.
    let public = start(
        batch::ReceiverOptions::default()
            .public_url("https://tunnel.example.com/webhooks/semarize")
            .replace_existing(true),
    )
    .await
    .unwrap();
    assert_eq!(public.url, "https://tunnel.example.com/webhooks/semarize");
}

/// Registration never breaks a live secret: a receiver standing behind URL U with its
/// secret S1 keeps accepting every delivery while a second worker starts with the same
/// URL and S1 (the endpoint is reused, not registered again, so S1 stays the only
/// secret); without S1 the second worker refuses rather than mint a new one; minting one
/// takes an explicit rotation.
#[cfg(feature = "webhooks")]
#[tokio::test]
async fn a_second_worker_reuses_a_live_endpoint_and_never_breaks_its_secret() {
    let f = fixture("live-secret", |_| {}).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhooks/semarize");
    let registered = f
        .client
        .webhook_endpoints()
        .upsert(&url)
        .send()
        .await
        .unwrap();
    let s1 = registered.secret.clone();
    let _standing =
        batch::Receiver::new(semarize::webhooks::Verifier::from_secrets([s1.clone()]).unwrap())
            .completing(f.ledger.clone(), f.client.clone())
            .serve(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
    let second = |options: batch::ReceiverOptions| {
        batch::start_webhook_receiver(
            "127.0.0.1:0".parse().unwrap(),
            f.client.clone(),
            f.ledger.clone(),
            Arc::new(Progress::default()),
            options.public_url(&url),
        )
    };
    let endpoint = || async {
        f.client
            .webhook_endpoints()
            .list()
            .send()
            .await
            .unwrap()
            .remove(0)
    };

    let refused = second(batch::ReceiverOptions::default()).await.unwrap_err();
    assert!(
        matches!(refused, batch::BatchError::WebhookSecretNeeded { .. }),
        "{refused}"
    );
    let _second = second(batch::ReceiverOptions::default().secrets([s1.clone()]))
        .await
        .expect("the live endpoint is reused with its secret");
    assert_eq!(
        endpoint().await.created_at,
        registered.endpoint.created_at,
        "not registered again: S1 is still the only secret"
    );

    // Deliveries reach the standing receiver, signed with S1, and every one is accepted.
    f.ingest(&input(12)).await;
    let (engine, _) = f.engine(BatchOptions::default().webhook_grace(Duration::from_secs(3600)));
    tokio::time::timeout(Duration::from_secs(30), engine.run())
        .await
        .expect("every record finished by its webhook")
        .unwrap();
    assert_eq!(f.states().await.get("succeeded"), Some(&12));
    // The emulator logs an attempt after its receiver answered: wait for the log.
    let mut deliveries = f.emulator.control().deliveries();
    for _ in 0..200 {
        if deliveries.len() >= 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        deliveries = f.emulator.control().deliveries();
    }
    assert!(deliveries.len() >= 12, "{}", deliveries.len());
    assert!(
        deliveries.iter().all(|d| d.status == Some(200)),
        "every delivery accepted: {deliveries:?}"
    );

    // A new secret only when asked, and the old one keeps verifying beside it.
    let rotated = second(
        batch::ReceiverOptions::default()
            .secrets([s1])
            .rotate_secret(true),
    )
    .await
    .unwrap();
    assert_ne!(endpoint().await.created_at, registered.endpoint.created_at);
    assert_eq!(rotated.url, url);
}

/// `run_until`: on shutdown nothing more is claimed, what is in flight finishes, and a
/// later run resumes the rest without a duplicate.
#[tokio::test]
async fn a_shutdown_stops_claiming_and_a_later_run_resumes() {
    let f = fixture("shutdown", |s| s.run_latency_ms = 200).await;
    f.ingest(&input(30)).await;
    let (engine, _) = f.engine(BatchOptions::default().concurrency(2));
    let control = f.emulator.control();
    let under_way = async {
        while control.runs().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let end = tokio::time::timeout(Duration::from_secs(30), engine.run_until(under_way))
        .await
        .expect("the drain ends")
        .unwrap();
    assert_eq!(end, batch::RunEnd::Stopped);
    let counts = f.ledger.counts().await.unwrap();
    assert!(counts.count(RecordState::Pending) > 0, "{counts:?}");
    assert_eq!(
        counts.count(RecordState::Creating),
        0,
        "every creation in flight was drained"
    );
    f.run().await;
    assert_eq!(f.states().await.get("succeeded"), Some(&30));
    f.assert_no_duplicates(30);
}

/// Claiming is continuous: while one creation hangs (its answer drips for seconds), the
/// other slot keeps claiming and every other record is created. Before, each claimed
/// group was awaited in full, so the slowest record held the whole batch.
#[tokio::test]
async fn a_hanging_creation_does_not_hold_back_the_other_records() {
    let f = fixture("slowest", |_| {}).await;
    f.ingest(&input(12)).await;
    // The first creation's answer arrives one byte every 500 ms: 20 s for this body.
    f.emulator.control().respond_raw(
        "create_run",
        1,
        semarize_emulator::RawResponse {
            status: 503,
            body: "x".repeat(40),
            drip_ms: 500,
            ..Default::default()
        },
    );
    let (engine, _) = f.engine(
        BatchOptions::default()
            .concurrency(2)
            .drain_timeout(Duration::from_millis(100)),
    );
    let control = f.emulator.control();
    let others_created = async {
        while control.runs().len() < 11 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    // Bounded: with claiming per group, the 11 others would wait out the 20 s drip.
    let end = tokio::time::timeout(Duration::from_secs(10), engine.run_until(others_created))
        .await
        .expect("the 11 other records were created while one creation hung")
        .unwrap();
    assert_eq!(end, batch::RunEnd::Stopped);
    assert_eq!(control.runs().len(), 11, "the hanging creation made no run");
}
