//! Tracing: a span per logical call and per attempt, with the fields support needs, and
//! never the API key or the transcript. Its own test binary, so the global subscriber
//! sees only this test.

#[path = "common/captured.rs"]
mod captured;
use captured::Captured;

const TRANSCRIPT: &str = "Rep: What drove the urgency? Prospect: our confidential figures are 42.";

#[tokio::test]
async fn traces_have_spans_per_call_and_attempt_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let test = semarize::testing::start_emulator().await;
    test.emulator
        .control()
        .fail_next("create_run", 1, 503, None);
    let created = test
        .client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript(TRANSCRIPT)
        .idempotency_key("trace-key-1")
        .send()
        .await
        .unwrap();
    test.client
        .runs()
        .get(&created.run.run_id)
        .send()
        .await
        .unwrap();
    // The generated client underneath, called directly, is traced too.
    let usage = test
        .client
        .raw()
        .get_run_usage()
        .run_id(created.run.run_id.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(usage.status(), 200);
    let logs = captured.text();
    assert!(logs.contains("semarize.call"), "{logs}");
    let raw_span = logs
        .lines()
        .find(|l| l.contains("semarize.http{operation=\"get_run_usage\"") && l.contains(": close"))
        .unwrap_or_else(|| panic!("no span for the raw call:\n{logs}"));
    assert!(raw_span.contains("method=GET"), "{raw_span}");
    assert!(raw_span.contains("status=200"), "{raw_span}");
    assert!(logs.contains("semarize.attempt"));
    assert!(logs.contains("operation=\"create_run\""));
    assert!(logs.contains("attempt=2"));
    assert!(logs.contains("status=503"));
    assert!(logs.contains(&format!("run_id=\"{}\"", created.run.run_id)));
    assert!(logs.contains("idempotency_key=\"trace-key-1\""));
    assert!(!logs.contains(test.emulator.api_key()), "never the API key");
    assert!(
        !logs.contains("confidential figures"),
        "never the transcript"
    );
}
