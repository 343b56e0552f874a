//! A hostile network: HTML and garbage bodies on any status, huge and malformed
//! Retry-After values, redirects, truncated, endless and dripping bodies. Each class has
//! its regression test, all on virtual time against the emulator's raw-response faults.

use std::collections::BTreeMap;
use std::time::Duration;

use semarize::{ErrorKind, RetryStop};
use semarize_emulator::{Config, Emulator, RawResponse};

use crate::harness::{Harness, TRANSCRIPT, harness, harness_with};

const HTML_502: &str = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";

fn raw(status: u16, body: &str) -> RawResponse {
    RawResponse {
        status,
        body: body.to_owned(),
        ..RawResponse::default()
    }
}

/// Arms `raw` as the next answer of `get_run`, then gets the run `run_id`.
async fn get_answered_with(
    h: &Harness,
    run_id: &str,
    raw: RawResponse,
) -> Result<semarize::types::Run, semarize::Error> {
    h.emulator.control().respond_raw("get_run", 1, raw);
    h.client.runs().get(run_id).send().await
}

fn with_headers(mut raw: RawResponse, headers: &[(&str, &str)]) -> RawResponse {
    raw.headers = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    raw
}

#[tokio::test]
async fn an_html_5xx_is_retried_by_its_status() {
    let h = harness().await;
    let created = h.create().send().await.unwrap();
    for (n, status) in [500, 502, 503, 504].into_iter().enumerate() {
        let reply = get_answered_with(&h, &created.run.run_id, raw(status, HTML_502)).await;
        let run = reply.unwrap_or_else(|e| panic!("HTML {status} then success: {e:?}"));
        assert_eq!(
            run.run_id, created.run.run_id,
            "the run of the second attempt"
        );
        assert_eq!(h.time.sleeps().len(), n + 1, "HTML {status}: one retry");
    }
}

#[tokio::test]
async fn an_html_429_waits_its_retry_after_header() {
    let h = harness().await;
    h.emulator.control().respond_raw(
        "list_runs",
        1,
        with_headers(raw(429, "<h1>Slow down</h1>"), &[("retry-after", "7")]),
    );
    h.client.runs().list().send().await.unwrap();
    assert_eq!(h.time.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn an_html_401_is_a_final_401_naming_the_body() {
    let h = harness().await;
    h.emulator
        .control()
        .respond_raw("list_runs", 1, raw(401, "<html>Unauthorized</html>"));
    let err = h.client.runs().list().send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Api);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert_eq!(err.attempts(), 1);
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(text.contains("not the JSON error envelope"), "{text}");
    assert!(text.contains("<html>Unauthorized"), "{text}");
    assert_eq!(err.raw_body(), Some("<html>Unauthorized</html>"));
}

#[tokio::test]
async fn an_undecodable_answer_keeps_the_first_4_kib_of_its_body_printable() {
    let h = harness().await;
    let created = h.create().send().await.unwrap();
    // A 200 whose body is not a run: long, with control characters.
    let body = format!("<html>\u{7}{}</html>", "x".repeat(10_000));
    h.emulator
        .control()
        .respond_raw("get_run", 1, raw(200, &body));
    // One attempt: a retry would get the run.
    let err = h
        .client
        .runs()
        .get(&created.run.run_id)
        .no_retries()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    let kept = err.raw_body().expect("the body is kept for support");
    assert_eq!(kept.len(), semarize::MAX_RAW_BODY_BYTES);
    assert!(kept.starts_with("<html>?xxx"), "{kept:.20}");
    assert!(!err.to_string().contains("xxxxxxxxxx"), "not in Display");
    assert!(!format!("{err:?}").contains("xxxxxxxxxx"), "not in Debug");
}

#[tokio::test]
async fn a_garbled_202_after_commit_is_retried_into_the_same_run() {
    let h = harness().await;
    h.emulator.control().respond_raw(
        "create_run",
        1,
        RawResponse {
            after_commit: true,
            ..raw(202, "{\"run_id\": \"tru")
        },
    );
    let created = h.create().send().await.unwrap();
    assert_eq!(created.attempts, 2, "the unknown outcome was asked again");
    let control = h.emulator.control();
    assert_eq!(control.runs().len(), 1, "no second run");
    assert_eq!(control.runs_per_key()[0].runs, 1);
    assert_eq!(control.runs()[0].run_id.to_string(), created.run.run_id);
    let keys: Vec<_> = control
        .create_attempts()
        .into_iter()
        .map(|a| a.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k.as_deref() == Some(created.idempotency_key.as_str()))
    );
}

#[tokio::test]
async fn a_huge_retry_after_ends_the_call_at_once() {
    for advice in [
        "18446744073709551615",
        "99999999999999999999999",
        "99999999",
    ] {
        let h = harness().await;
        h.emulator.control().respond_raw(
            "create_run",
            1,
            with_headers(raw(503, "busy"), &[("retry-after", advice)]),
        );
        let err = h.create().send().await.unwrap_err();
        assert_eq!(err.retry_stop(), Some(RetryStop::MaxElapsed), "{advice}");
        assert_eq!(err.attempts(), 1);
        assert!(err.retry_after().unwrap() >= Duration::from_secs(99_999_999));
        assert!(h.time.sleeps().is_empty(), "nothing slept for {advice}");
        assert!(
            err.idempotency_key().is_some(),
            "the key survives for a retry"
        );
    }
}

#[tokio::test]
async fn malformed_retry_after_values_fall_back_to_backoff() {
    for advice in ["soon", "-5", "1.5", "", "Tue, 99 Foo 2026 12:00:00 GMT"] {
        let h = harness_with(|_| {}, |b| b.retry_policy(semarize::RetryPolicy::default())).await;
        h.emulator.control().respond_raw(
            "list_runs",
            1,
            with_headers(raw(503, "busy"), &[("retry-after", advice)]),
        );
        h.client.runs().list().send().await.unwrap();
        // The harness draws no jitter: the backoff's share is zero, and no advice counts.
        assert_eq!(h.time.sleeps(), vec![Duration::ZERO], "{advice:?}");
    }
}

#[tokio::test]
async fn a_negative_retry_after_seconds_in_the_body_does_not_break_429_handling() {
    let h = harness().await;
    h.emulator.control().respond_raw(
        "list_runs",
        1,
        RawResponse {
            content_type: Some("application/json".into()),
            ..with_headers(
                raw(
                    429,
                    r#"{"error": "rate_limited", "retry_after_seconds": -5}"#,
                ),
                &[("retry-after", "2")],
            )
        },
    );
    h.client.runs().list().send().await.unwrap();
    assert_eq!(h.time.sleeps(), vec![Duration::from_secs(2)]);
}

#[tokio::test]
async fn a_post_is_never_redirected_to_another_origin() {
    let h = harness().await;
    let elsewhere = Emulator::start(Config::default()).await.unwrap();
    for status in [301, 302, 303, 307, 308] {
        let location = format!("{}/v1/runs", elsewhere.base_url());
        h.emulator.control().respond_raw(
            "create_run",
            1,
            with_headers(raw(status, ""), &[("location", &location)]),
        );
        let err = h.create().send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Redirected, "{status}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert!(err.to_string().contains(&location), "{err}");
        assert_eq!(err.attempts(), 1);
    }
    assert!(
        elsewhere.control().create_attempts().is_empty(),
        "no transcript or key reached the other origin"
    );
}

#[tokio::test]
async fn a_same_origin_redirect_after_a_post_is_not_reported_as_the_created_run() {
    let h = harness().await;
    let existing = h.create().send().await.unwrap();
    h.emulator.control().respond_raw(
        "create_run",
        1,
        with_headers(
            raw(303, ""),
            &[("location", &format!("/v1/runs/{}", existing.run.run_id))],
        ),
    );
    let err = h.create().send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirected);
}

#[tokio::test]
async fn a_same_origin_get_redirect_is_followed_and_a_foreign_one_is_not() {
    let h = harness().await;
    let created = h.create().send().await.unwrap();
    let path = format!("/v1/runs/{}", created.run.run_id);
    let redirect = with_headers(raw(302, ""), &[("location", &path)]);
    let run = get_answered_with(&h, &created.run.run_id, redirect)
        .await
        .unwrap();
    assert_eq!(run.run_id, created.run.run_id);

    let elsewhere = Emulator::start(Config::default()).await.unwrap();
    let foreign = format!("{}{path}", elsewhere.base_url());
    let redirect = with_headers(raw(302, ""), &[("location", &foreign)]);
    let err = get_answered_with(&h, &created.run.run_id, redirect)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirected);
}

#[tokio::test]
async fn a_truncated_body_is_retried() {
    let h = harness().await;
    let created = h.create().send().await.unwrap();
    let truncated = RawResponse {
        truncate: true,
        content_type: Some("application/json".into()),
        ..raw(200, "{\"run_id\": \"")
    };
    let run = get_answered_with(&h, &created.run.run_id, truncated)
        .await
        .unwrap();
    assert_eq!(run.run_id, created.run.run_id);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_not_buffered() {
    let h = harness_with(|_| {}, |b| b.max_response_bytes(4096)).await;
    h.emulator
        .control()
        .respond_raw("list_runs", 1, raw(200, &"x".repeat(100_000)));
    let err = h.client.runs().list().send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("4096 bytes"), "{err}");
    assert_eq!(err.attempts(), 1);
}

#[tokio::test]
async fn a_slow_drip_times_out_and_is_retried() {
    let h = harness_with(|_| {}, |b| b.request_timeout(Duration::from_millis(300))).await;
    let created = h.create().send().await.unwrap();
    let drip = RawResponse {
        drip_ms: 100,
        ..raw(200, &"{".repeat(50))
    };
    let run = get_answered_with(&h, &created.run.run_id, drip)
        .await
        .unwrap();
    assert_eq!(run.run_id, created.run.run_id);
}

#[tokio::test]
async fn control_characters_from_the_server_never_reach_the_message() {
    let h = harness().await;
    h.emulator.control().respond_raw(
        "list_runs",
        1,
        RawResponse {
            content_type: Some("application/json".into()),
            ..raw(
                400,
                r#"{"error": "bad\u001b[31m", "detail": "\u001b[2J\u001b]0;owned\u0007gone"}"#,
            )
        },
    );
    let err = h.client.runs().list().send().await.unwrap_err();
    let text = err.to_string();
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.contains("gone"), "{text}");
}

#[tokio::test]
async fn a_webhook_upsert_is_not_blindly_retried() {
    let h = harness().await;
    h.emulator
        .control()
        .respond_raw("upsert_webhook", 1, raw(503, HTML_502));
    let err = h
        .client
        .webhook_endpoints()
        .upsert("https://example.com/hook")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(
        err.attempts(),
        1,
        "a 5xx may have minted a secret: not re-sent"
    );
    assert!(
        err.is_retryable(),
        "the caller may still decide to try again"
    );

    // A 429 says the request was not processed: that one is retried.
    h.emulator
        .control()
        .fail_next("upsert_webhook", 1, 429, Some(1));
    let hook = h
        .client
        .webhook_endpoints()
        .upsert("https://example.com/hook")
        .send()
        .await
        .unwrap();
    assert!(hook.secret.expose_secret().starts_with("whsec_"));
    assert!(!format!("{hook:?}").contains(hook.secret.expose_secret()));
}

#[tokio::test]
async fn a_sync_create_answered_with_garbage_polls_nothing_and_retries_with_the_key() {
    let h = harness().await;
    h.emulator.control().respond_raw(
        "create_run",
        1,
        RawResponse {
            after_commit: true,
            ..raw(200, "<html>OK</html>")
        },
    );
    let outcome = h
        .client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript(TRANSCRIPT)
        .sync()
        .send_and_wait(Duration::from_secs(60))
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    assert_eq!(h.emulator.control().runs().len(), 1);
}
