//! Waiting: sync mode, the 202 fallback, polling to each terminal state, the maximum
//! wait, 429 on polls, the status stream, and additive values.

use std::time::Duration;

use futures::StreamExt;
use semarize::{ErrorCode, ErrorKind, RunOutcome, RunOutputExt, RunStatus, WaitOptions};
use semarize_emulator::ForcedOutcome;

use crate::harness::{harness, harness_with, harness_with_jitter};

#[tokio::test]
async fn sync_creation_that_completes_is_done_without_polling() {
    let h = harness().await;
    let created = h.create().sync().send().await.unwrap();
    assert_eq!(created.status.as_u16(), 200);
    assert!(created.is_complete());
    let outcome = created
        .wait(&h.client, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    assert!(h.time.sleeps().is_empty(), "no poll was needed");
}

#[tokio::test]
async fn sync_fallback_continues_by_polling_and_never_resubmits() {
    let h = harness_with(
        |s| {
            s.sync_wait_ms = 20;
            s.run_latency_ms = 300;
        },
        |b| b,
    )
    .await;
    let created = h.create().sync().send().await.unwrap();
    assert_eq!(created.status.as_u16(), 202);
    assert!(created.is_sync_fallback());
    let advised = created
        .retry_after
        .expect("the fallback carries Retry-After");
    let outcome = created
        .wait(&h.client, Duration::from_secs(120))
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    assert_eq!(
        h.time.sleeps()[0],
        advised,
        "the first poll waits the advised delay"
    );
    assert_eq!(
        h.emulator.control().create_attempts().len(),
        1,
        "the run was submitted once"
    );
}

#[tokio::test]
async fn send_and_wait_covers_async_creation() {
    let h = harness().await;
    let outcome = h
        .create()
        .send_and_wait(Duration::from_secs(120))
        .await
        .unwrap();
    let run = outcome.into_result().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(
        run.brick("pain_is_specific")
            .unwrap()
            .confidence()
            .is_some()
    );
}

#[tokio::test]
async fn failed_and_cancelled_are_typed_outcomes() {
    let h = harness().await;
    h.emulator.control().force_next_runs(
        ForcedOutcome::Fail {
            error_code: "run_request_failed".into(),
            error_message: Some("diagnostic".into()),
            error_user_message: Some("Please retry later".into()),
        },
        1,
    );
    match h
        .create()
        .send_and_wait(Duration::from_secs(60))
        .await
        .unwrap()
    {
        RunOutcome::Failed(failure) => {
            assert_eq!(failure.error_code(), Some(&ErrorCode::RunRequestFailed));
            assert_eq!(failure.error_message(), Some("diagnostic"));
            assert_eq!(failure.error_user_message(), Some("Please retry later"));
            let err = RunOutcome::Failed(failure).into_result().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::RunFailed);
            assert_eq!(err.code(), Some(&ErrorCode::RunRequestFailed));
            assert!(err.run().is_some());
        }
        other => panic!("{other:?}"),
    }
    h.emulator
        .control()
        .force_next_runs(ForcedOutcome::Cancel, 1);
    let outcome = h
        .create()
        .send_and_wait(Duration::from_secs(60))
        .await
        .unwrap();
    assert!(matches!(outcome, RunOutcome::Cancelled(_)));
    assert!(!outcome.is_succeeded());
    assert_eq!(
        outcome.into_result().unwrap_err().kind(),
        ErrorKind::RunCancelled
    );
}

#[tokio::test]
async fn a_poll_that_fails_past_its_retries_is_skipped_and_waiting_goes_on() {
    let h = harness_with(|s| s.run_latency_ms = 100, |b| b).await;
    let created = h.create().send().await.unwrap();
    // More 503s than one poll's retries: that poll gives up, the wait does not.
    h.emulator.control().fail_next("get_run", 12, 503, None);
    let options = WaitOptions::new(Duration::from_secs(600));
    assert_eq!(options.max_wait(), Duration::from_secs(600));
    let outcome = h
        .client
        .runs()
        .wait(&created.run.run_id, options)
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
}

#[tokio::test]
async fn polling_doubles_from_the_initial_delay_up_to_the_cap() {
    // Jitter drawing the whole ceiling: the backoff's own shape.
    let h = harness_with_jitter(1.0, |s| s.run_latency_ms = 1_000, |b| b).await;
    let created = h.create().send().await.unwrap();
    let options = WaitOptions::new(Duration::from_secs(600)).initial_delay(Duration::from_secs(1));
    let outcome = h
        .client
        .runs()
        .wait(&created.run.run_id, options)
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    let sleeps: Vec<u64> = h.time.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(&sleeps[..4], &[1, 2, 4, 8], "{sleeps:?}");
    assert!(
        sleeps[4..].iter().all(|s| *s == 10),
        "capped at 10 s: {sleeps:?}"
    );
}

#[tokio::test]
async fn jitter_never_polls_below_the_initial_delay() {
    // Jitter drawing nothing: every poll waits the initial delay, never less.
    let h = harness_with_jitter(0.0, |s| s.run_latency_ms = 1_000, |b| b).await;
    let created = h.create().send().await.unwrap();
    let options = WaitOptions::new(Duration::from_secs(600)).initial_delay(Duration::from_secs(2));
    let outcome = h
        .client
        .runs()
        .wait(&created.run.run_id, options)
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    let sleeps = h.time.sleeps();
    assert!(sleeps.len() >= 2, "{sleeps:?}");
    assert!(
        sleeps.iter().all(|s| *s == Duration::from_secs(2)),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn the_maximum_wait_is_enforced_and_retry_after_is_honoured() {
    let h = harness_with_jitter(1.0, |s| s.run_latency_ms = 60_000, |b| b).await;
    let created = h.create().send().await.unwrap();
    let options = WaitOptions::new(Duration::from_secs(45)).initial_delay(Duration::from_secs(1));
    let err = h
        .client
        .runs()
        .wait(&created.run.run_id, options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WaitTimeout);
    assert_eq!(err.run_id(), Some(created.run.run_id.as_str()));
    let sleeps: Vec<u64> = h.time.sleeps().iter().map(Duration::as_secs).collect();
    // The emulator advises Retry-After: 10 while the run has long to go, which beats the
    // doubling. With 4 s left, advice of 10 s cannot be followed within the wait: it ends
    // at once, naming the advice, instead of sleeping to the deadline for nothing.
    assert_eq!(sleeps, vec![1, 10, 10, 10, 10]);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(10)));
    assert!(err.to_string().contains("advised waiting 10 s"), "{err}");
}

#[tokio::test]
async fn rate_limited_polls_wait_the_advised_delay_and_carry_on() {
    let h = harness_with(|s| s.run_latency_ms = 100, |b| b).await;
    let created = h.create().send().await.unwrap();
    h.emulator.control().fail_next("get_run", 2, 429, Some(4));
    let outcome = h
        .client
        .runs()
        .wait(
            &created.run.run_id,
            WaitOptions::new(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    assert!(
        h.time
            .sleeps()
            .iter()
            .filter(|d| **d == Duration::from_secs(4))
            .count()
            >= 2
    );
}

#[tokio::test]
async fn a_missing_run_ends_the_wait_at_once() {
    let h = harness().await;
    let err = h
        .client
        .runs()
        .wait(
            "00000000-0000-4000-8000-000000000000",
            WaitOptions::new(Duration::from_secs(60)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.code(), Some(&ErrorCode::RunNotFound));
}

#[tokio::test]
async fn watch_streams_each_status_change_and_ends_at_the_terminal_one() {
    let h = harness_with(|s| s.run_latency_ms = 500, |b| b).await;
    let created = h.create().send().await.unwrap();
    let options = WaitOptions::new(Duration::from_secs(300))
        .initial_delay(Duration::from_millis(10))
        .max_delay(Duration::from_secs(1));
    let statuses: Vec<RunStatus> = h
        .client
        .runs()
        .watch(&created.run.run_id, options)
        .map(|r| r.unwrap().status)
        .collect()
        .await;
    assert_eq!(statuses.last(), Some(&RunStatus::Succeeded));
    assert!(statuses.contains(&RunStatus::Running), "{statuses:?}");
    let mut deduped = statuses.clone();
    deduped.dedup();
    assert_eq!(deduped, statuses, "one item per change");
}

#[tokio::test]
async fn additive_values_decode_and_an_unknown_status_keeps_polling() {
    let h = harness_with(
        |s| {
            s.additive = true;
            s.run_latency_ms = 200;
        },
        |b| b,
    )
    .await;
    let created = h.create().send().await.unwrap();
    assert_eq!(
        created.run.status,
        RunStatus::Unknown("waiting_for_capacity".into())
    );
    let outcome = created
        .wait(&h.client, Duration::from_secs(120))
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    assert!(outcome.run().run_type.as_ref().unwrap().is_unknown());
    h.client
        .runs()
        .usage(&outcome.run().run_id)
        .send()
        .await
        .unwrap();
    h.client.runs().list().limit(5).send().await.unwrap();
    h.client
        .kits()
        .schema_by_code("A1B2C3D4")
        .send()
        .await
        .unwrap();
}
