//! Retries: the same Idempotency-Key on every attempt, exactly one run, Retry-After and
//! retry_after_seconds honoured, 4xx final, limits and the budget.

use std::sync::Arc;
use std::time::Duration;

use semarize::{ErrorCode, ErrorKind, RetryBudget, RetryPolicy, RetryStop, SequentialKeys};
use semarize_emulator::{FaultAction, FaultSpec};

use crate::harness::{harness, harness_with};

#[tokio::test]
async fn injected_5xx_are_retried_with_the_same_key_and_make_one_run() {
    let h = harness().await;
    h.emulator.control().fail_next("create_run", 2, 503, None);
    let created = h.create().send().await.unwrap();
    assert_eq!(created.attempts, 3);
    let attempts = h.emulator.control().create_attempts();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| a.idempotency_key.as_deref() == Some(created.idempotency_key.as_str()))
    );
    let runs = h.emulator.control().runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id.to_string(), created.run.run_id);
}

#[tokio::test]
async fn accept_then_drop_is_retried_into_the_original_run() {
    let h = harness().await;
    h.emulator.control().drop_after_commit("create_run", 1);
    let created = h
        .create()
        .idempotency_key("call-123-kit-A1B2C3D4")
        .send()
        .await
        .unwrap();
    assert_eq!(created.attempts, 2);
    let outcomes: Vec<String> = h
        .emulator
        .control()
        .create_attempts()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, vec!["dropped_after_commit", "replayed"]);
    assert_eq!(h.emulator.control().runs().len(), 1, "no duplicate run");
    assert_eq!(h.emulator.control().runs_per_key()[0].runs, 1);
    assert_eq!(created.idempotency_key.as_str(), "call-123-kit-A1B2C3D4");
}

#[tokio::test]
async fn retry_after_is_honoured_on_the_injected_clock() {
    let h = harness().await;
    h.emulator
        .control()
        .fail_next("create_run", 1, 503, Some(7));
    h.create().send().await.unwrap();
    assert_eq!(h.time.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn rate_limits_are_waited_out_for_the_advised_delay() {
    let h = harness().await;
    h.emulator.control().inject(FaultSpec {
        operation: "get_run".into(),
        count: 2,
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(3),
            error: Some("rate_limited".into()),
        },
    });
    let created = h.create().send().await.unwrap();
    h.client
        .runs()
        .get(&created.run.run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.time.sleeps(),
        vec![Duration::from_secs(3), Duration::from_secs(3)]
    );
}

#[tokio::test]
async fn backoff_without_advice_is_exponential_and_capped() {
    let time = semarize::runtime::VirtualTime::new();
    let runtime =
        semarize::runtime::Runtime::virtual_time(time.clone(), semarize::runtime::FixedJitter(1.0));
    let h = harness_with(|_| {}, |b| b.runtime(runtime)).await;
    h.emulator.control().fail_next("list_runs", 4, 500, None);
    let policy = RetryPolicy::default()
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(3));
    h.client
        .runs()
        .list()
        .retry_policy(policy)
        .send()
        .await
        .unwrap();
    let secs: Vec<u64> = time.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 3, 3]);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let h = harness().await;
    let err = h
        .client
        .runs()
        .create_with_kit_code("NOPE0000")
        .transcript("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.code(), Some(&ErrorCode::KitNotFound));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(err.attempts(), 1);
    assert!(!err.is_retryable());
    assert!(err.idempotency_key().is_some(), "the key is on the error");
    assert_eq!(h.emulator.control().create_attempts().len(), 1);
    assert!(h.time.sleeps().is_empty());

    h.create().idempotency_key("k").send().await.unwrap();
    let conflict = h
        .client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("other")
        .idempotency_key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(conflict.code(), Some(&ErrorCode::IdempotencyKeyConflict));
    assert_eq!(conflict.attempts(), 1);
}

#[tokio::test]
async fn limits_stop_retrying() {
    let h = harness().await;
    h.emulator.control().fail_next("create_run", 10, 500, None);
    let err = h
        .create()
        .retry_policy(RetryPolicy::default().max_attempts(3))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.retry_stop()),
        (3, Some(RetryStop::MaxAttempts))
    );
    assert_eq!(err.code(), Some(&ErrorCode::InternalError));
    assert!(err.is_retryable());

    let err = h.create().no_retries().send().await.unwrap_err();
    assert_eq!(
        (err.attempts(), err.retry_stop()),
        (1, Some(RetryStop::Disabled))
    );

    h.emulator.control().clear_faults();
    h.emulator
        .control()
        .fail_next("create_run", 10, 503, Some(30));
    let err = h
        .create()
        .retry_policy(RetryPolicy::default().max_elapsed(Duration::from_secs(45)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (err.attempts(), err.retry_stop()),
        (2, Some(RetryStop::MaxElapsed))
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn the_budget_stops_a_retry_storm() {
    let budget = Arc::new(RetryBudget::new(10, 5, 1));
    let h = harness_with(
        |_| {},
        |b| {
            b.retry_budget(budget.clone())
                .retry_policy(RetryPolicy::default().max_attempts(10))
        },
    )
    .await;
    h.emulator.control().fail_next("create_run", 100, 503, None);
    let first = h.create().send().await.unwrap_err();
    assert_eq!(
        (first.attempts(), first.retry_stop()),
        (3, Some(RetryStop::BudgetExhausted))
    );
    let second = h.create().send().await.unwrap_err();
    assert_eq!(
        (second.attempts(), second.retry_stop()),
        (1, Some(RetryStop::BudgetExhausted))
    );
    assert_eq!(
        h.emulator.control().create_attempts().len(),
        4,
        "a failing service sees no storm"
    );
    h.emulator.control().clear_faults();
    h.create().send().await.unwrap();
    assert_eq!(budget.available(), 1, "successes refill the budget");
}

#[tokio::test]
async fn timeouts_are_retried_and_reported() {
    let h = harness_with(|_| {}, |b| b.request_timeout(Duration::from_millis(100))).await;
    h.emulator.control().set_latency("list_runs", 400);
    let err = h
        .client
        .runs()
        .list()
        .retry_policy(RetryPolicy::default().max_attempts(2))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.attempts(), 2);
    assert!(
        err.request_id().unwrap().starts_with("smz-rs-"),
        "the request id this client sent"
    );
}

#[tokio::test]
async fn keys_come_from_the_injected_generator_and_are_validated_before_sending() {
    let h = harness_with(|_| {}, |b| b.key_generator(SequentialKeys::new("test"))).await;
    let first = h.create().send().await.unwrap();
    let second = h.create().send().await.unwrap();
    assert_eq!(
        (
            first.idempotency_key.as_str(),
            second.idempotency_key.as_str()
        ),
        ("test-1", "test-2")
    );

    let err = h
        .create()
        .idempotency_key("k".repeat(255))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        h.emulator.control().create_attempts().len(),
        2,
        "nothing was sent"
    );
}
