//! The metrics a client records (feature `metrics`), read through a debugging recorder.

use std::collections::BTreeMap;
use std::sync::Arc;

#[path = "common/captured.rs"]
mod captured;

use captured::Captured;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use semarize::runtime::{FixedJitter, Runtime, VirtualTime};
use semarize::{Client, RetryBudget};
use semarize_emulator::{Config, Emulator, FaultAction, FaultSpec};

/// `name{label=value,...}` for every metric recorded, with its count (a counter's value,
/// a histogram's number of samples).
fn recorded(recorder: &DebuggingRecorder) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let count = match value {
            DebugValue::Counter(n) => n,
            DebugValue::Histogram(samples) => samples.len() as u64,
            DebugValue::Gauge(_) => 1,
        };
        out.insert(format!("{}{{{}}}", key.name(), labels.join(",")), count);
    }
    out
}

/// An emulator with `config`, and a client of it on virtual time with `budget`.
async fn emulated(config: Config, budget: RetryBudget) -> (Emulator, Client) {
    let emulator = Emulator::start(config).await.unwrap();
    let client = Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .runtime(Runtime::virtual_time(VirtualTime::new(), FixedJitter(0.0)))
        .retry_budget(Arc::new(budget))
        .build()
        .unwrap();
    (emulator, client)
}

// A current-thread runtime: the local recorder is the test thread's, and the client's
// calls run on that thread.
#[tokio::test(flavor = "current_thread")]
async fn a_retried_creation_and_a_poll_are_counted() {
    let recorder = DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (emulator, client) = emulated(Config::default(), RetryBudget::unlimited()).await;
    emulator.control().fail_next("create_run", 1, 503, None);
    emulator.control().inject(FaultSpec {
        operation: "get_run".into(),
        count: 1,
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(1),
            error: Some("rate_limited".into()),
        },
    });
    let created = client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Rep: Hello. Prospect: We lose 3 hours a week.")
        .send()
        .await
        .unwrap();
    client.runs().get(&created.run.run_id).send().await.unwrap();
    emulator.shutdown().await;

    let metrics = recorded(&recorder);
    // Shown with --nocapture: what one retried creation and one rate-limited poll record.
    println!("{metrics:#?}");
    let expected = [
        (
            "semarize_requests_total{operation=create_run,status=503}",
            1,
        ),
        (
            "semarize_requests_total{operation=create_run,status=202}",
            1,
        ),
        ("semarize_requests_total{operation=get_run,status=429}", 1),
        ("semarize_requests_total{operation=get_run,status=200}", 1),
        ("semarize_request_duration_seconds{operation=create_run}", 2),
        ("semarize_request_duration_seconds{operation=get_run}", 2),
        ("semarize_call_duration_seconds{operation=create_run}", 1),
        ("semarize_call_duration_seconds{operation=get_run}", 1),
        ("semarize_retries_total{operation=create_run}", 1),
        ("semarize_retries_total{operation=get_run}", 1),
        ("semarize_rate_limited_total{operation=get_run}", 1),
    ];
    for (name, count) in expected {
        assert_eq!(metrics.get(name), Some(&count), "{name} in {metrics:#?}");
    }
    assert!(
        !metrics
            .keys()
            .any(|k| k.starts_with("semarize_retry_budget_exhausted_total")),
        "{metrics:#?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_retry_the_budget_refuses_is_counted() {
    let recorder = DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (emulator, client) = emulated(Config::default(), RetryBudget::new(0, 1, 0)).await;
    emulator.control().fail_next("list_runs", 1, 503, None);
    let error = client.runs().list().send().await.unwrap_err();
    assert_eq!(
        error.retry_stop(),
        Some(semarize::RetryStop::BudgetExhausted)
    );
    emulator.shutdown().await;
    let metrics = recorded(&recorder);
    assert_eq!(
        metrics.get("semarize_retry_budget_exhausted_total{operation=list_runs}"),
        Some(&1),
        "{metrics:#?}"
    );
    assert_eq!(
        metrics.get("semarize_requests_total{operation=list_runs,status=503}"),
        Some(&1)
    );
}

// The only test of this binary that decodes unknown values: the once-per-process warning
// is this test's to see.
#[tokio::test(flavor = "current_thread")]
async fn unknown_values_warn_once_and_are_counted() {
    let recorder = DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _tracing = tracing::subscriber::set_default(subscriber);
    let additive = Config {
        settings: semarize_emulator::Settings {
            additive: true,
            ..Default::default()
        },
        ..Config::default()
    };
    let (emulator, client) = emulated(additive, RetryBudget::unlimited()).await;
    let created = client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Rep: Hello. Prospect: We lose 3 hours a week.")
        .send()
        .await
        .unwrap();
    assert!(
        created
            .run
            .run_type
            .as_ref()
            .is_some_and(|t| t.is_unknown())
    );
    client.runs().get(&created.run.run_id).send().await.unwrap();
    client.runs().list().send().await.unwrap();
    emulator.shutdown().await;

    let logs = captured.text();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("does not know"))
        .collect();
    let run_type_warnings = warnings
        .iter()
        .filter(|l| l.contains("RunType") && l.contains("value=scheduled"))
        .count();
    assert_eq!(
        run_type_warnings, 1,
        "one warning per type and value: {logs}"
    );
    assert!(
        logs.lines()
            .any(|l| l.contains("DEBUG") && l.contains("unknown RunType value")),
        "later ones at debug: {logs}"
    );
    let metrics = recorded(&recorder);
    let counted = metrics
        .get("semarize_unknown_values_total{type=RunType,value=scheduled}")
        .copied()
        .unwrap_or(0);
    assert!(counted >= 3, "{metrics:#?}");
}

#[tokio::test(flavor = "current_thread")]
async fn uncommon_statuses_and_missing_answers_are_labelled() {
    let recorder = DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let (emulator, client) = emulated(Config::default(), RetryBudget::unlimited()).await;
    emulator.control().respond_raw(
        "list_runs",
        1,
        semarize_emulator::RawResponse {
            status: 418,
            body: "I'm a teapot".into(),
            ..Default::default()
        },
    );
    client.runs().list().send().await.unwrap_err();
    emulator.shutdown().await;
    // Nothing listens any more: no answer at all.
    client.runs().list().no_retries().send().await.unwrap_err();
    let metrics = recorded(&recorder);
    assert_eq!(
        metrics.get("semarize_requests_total{operation=list_runs,status=418}"),
        Some(&1),
        "{metrics:#?}"
    );
    assert_eq!(
        metrics.get("semarize_requests_total{operation=list_runs,status=none}"),
        Some(&1),
        "{metrics:#?}"
    );
}
