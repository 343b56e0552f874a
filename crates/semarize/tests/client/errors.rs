//! Errors carry what support needs and never the key or the conversation.

use semarize::{Client, ErrorKind};

use crate::harness::harness;

#[tokio::test]
async fn the_support_summary_has_what_escalation_needs() {
    let h = harness().await;
    h.emulator.control().fail_next("create_run", 5, 500, None);
    let err = h
        .create()
        .idempotency_key("support-1")
        .retry_policy(semarize::RetryPolicy::default().max_attempts(2))
        .send()
        .await
        .unwrap_err();
    let summary = err.support_summary();
    assert_eq!(summary.idempotency_key.as_deref(), Some("support-1"));
    assert_eq!(summary.endpoint.as_deref(), Some("POST /v1/runs"));
    assert_eq!(summary.http_status, Some(500));
    assert_eq!(summary.error_code.as_deref(), Some("internal_error"));
    assert!(summary.request_id.is_some());
    assert!(
        summary
            .workspace
            .as_deref()
            .unwrap()
            .starts_with("smz_test key ")
    );
    assert_eq!(summary.attempts, 2);
    let text = format!("{summary}\n{err}\n{err:?}");
    assert!(text.contains("idempotency_key: support-1"));
    assert!(!text.contains(h.emulator.api_key()), "never the API key");
    assert!(!text.contains("losing 3 hours"), "never the conversation");
}

#[tokio::test]
async fn a_failed_run_summary_names_the_run() {
    let h = harness().await;
    h.emulator.control().force_next_runs(
        semarize_emulator::ForcedOutcome::Fail {
            error_code: "run_request_failed".into(),
            error_message: None,
            error_user_message: None,
        },
        1,
    );
    let outcome = h
        .create()
        .send_and_wait(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let run_id = outcome.run().run_id.clone();
    let err = outcome.into_result().unwrap_err();
    assert_eq!(err.support_summary().run_id, Some(run_id));
    assert_eq!(
        err.support_summary().error_code.as_deref(),
        Some("run_request_failed")
    );
}

#[test]
fn keys_are_validated_and_never_printed() {
    for bad in [
        "",
        "smz_live_",
        "sk_live_123",
        "smz_prod_abc",
        "smz_test_has space",
    ] {
        let err = Client::builder().api_key(bad).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad:?}");
    }
    let err = Client::builder()
        .api_key("sk_live_0123456789")
        .build()
        .unwrap_err();
    assert!(
        !err.to_string().contains("0123456789"),
        "the rejected key is not echoed"
    );
    let missing = Client::builder().build().unwrap_err();
    assert!(missing.to_string().contains("SEMARIZE_API_KEY"));
    let bad_url = Client::builder()
        .api_key("smz_test_a")
        .base_url("not a url")
        .build()
        .unwrap_err();
    assert_eq!(bad_url.kind(), ErrorKind::Config);

    let client = Client::builder()
        .api_key("smz_live_supersecret123")
        .build()
        .unwrap();
    let shown = format!(
        "{client:?} {:?} {}",
        semarize::ApiKey::new("smz_live_supersecret123").unwrap(),
        semarize::ApiKey::new("smz_live_supersecret123").unwrap()
    );
    assert!(!shown.contains("supersecret"), "{shown}");
    assert!(shown.contains("smz_live"));
}

#[tokio::test]
async fn a_creation_request_does_not_print_the_conversation() {
    let h = harness().await;
    let shown = format!("{:?}", h.create().idempotency_key("debug-1"));
    assert!(
        shown.contains("transcript") && shown.contains("debug-1"),
        "{shown}"
    );
    assert!(!shown.contains("losing 3 hours"), "{shown}");
}
