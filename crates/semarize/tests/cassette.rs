//! Cassettes through the whole client: recorded from the in-process emulator, replayed
//! with the emulator stopped, retries and the sync fallback replayed through the real
//! retry and waiting code on virtual time, secrets never written, and a request the
//! recording does not hold refused with the field that differs.

use std::path::PathBuf;
use std::time::Duration;

use semarize::cassette::{Cassette, Order, Spec, check_file};
use semarize::runtime::{FixedJitter, Runtime, VirtualTime};
use semarize::testing::{TestEmulator, start_emulator, start_emulator_with};
use semarize::{Client, ErrorKind, RunOutcome, RunStatus};

fn cassette_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("semarize-cassette-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.json"))
}

fn recording_client(test: &TestEmulator, cassette: &Cassette) -> Client {
    Client::builder()
        .api_key(test.emulator.api_key())
        .base_url(test.emulator.base_url())
        .runtime(Runtime::default().with_sleeper(VirtualTime::scaled(100.0)))
        .cassette(cassette.clone())
        .build()
        .unwrap()
}

/// A client that replays: no key, a base URL nothing listens on, virtual time.
fn replaying_client(cassette: &Cassette, time: &VirtualTime) -> Client {
    Client::builder()
        .base_url("http://127.0.0.1:9")
        .runtime(Runtime::virtual_time(time.clone(), FixedJitter(1.0)))
        .cassette(cassette.clone())
        .build()
        .unwrap()
}

/// What the integration under test does: one run to its end, its usage, the list, and
/// a webhook endpoint.
async fn workflow(client: &Client) -> (String, RunStatus, u64, usize, String) {
    let outcome = client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Rep: What drove the urgency? Prospect: we lose 3 hours a week.")
        .send_and_wait(Duration::from_secs(60))
        .await
        .unwrap();
    let run = outcome.run().clone();
    let usage = client.runs().usage(&run.run_id).send().await.unwrap();
    let listed = client.runs().list().limit(10).send().await.unwrap();
    let hook = client
        .webhook_endpoints()
        .upsert("http://127.0.0.1:9/hooks")
        .send()
        .await
        .unwrap();
    (
        run.run_id,
        run.status,
        usage.credits_consumed,
        listed.len(),
        hook.endpoint.url,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replays_with_the_emulator_stopped_and_holds_no_secret() {
    let path = cassette_path("workflow");
    let test = start_emulator().await;
    let api_key = test.emulator.api_key().to_owned();
    let cassette = Cassette::record(&path);
    let recorded = workflow(&recording_client(&test, &cassette)).await;
    cassette.save().unwrap();
    assert!(cassette.problems().is_empty(), "{:?}", cassette.problems());
    test.emulator.shutdown().await;

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&api_key), "the API key is never written");
    assert!(!text.contains("smz_test_"), "no API key of any shape");
    assert!(text.contains("\"authorization\": \"[redacted]\""), "{text}");
    assert!(text.contains("\"secret\": \"whsec_[redacted]\""), "{text}");
    assert_eq!(
        text.matches("whsec_").count(),
        1,
        "only the placeholder: {text}"
    );

    let spec = Spec::parse(semarize_api::SPEC_YAML).unwrap();
    let report = check_file(&path, &spec);
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.interactions >= 5, "{report:?}");

    let replay = Cassette::replay(&path).unwrap();
    let time = VirtualTime::new();
    let replayed = workflow(&replaying_client(&replay, &time)).await;
    assert_eq!(replayed, recorded);
    assert_eq!(replay.unused(), 0, "every interaction answered once");
    assert!(replay.problems().is_empty(), "{:?}", replay.problems());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_creation_replays_through_the_retry_code_on_virtual_time() {
    let path = cassette_path("retry");
    let test = start_emulator().await;
    test.emulator
        .control()
        .fail_next("create_run", 1, 429, Some(7));
    let cassette = Cassette::record(&path);
    let created = recording_client(&test, &cassette)
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Prospect: budget is approved.")
        .send()
        .await
        .unwrap();
    assert_eq!(created.attempts, 2);
    drop(cassette);
    test.emulator.shutdown().await;

    let replay = Cassette::replay(&path).unwrap();
    assert_eq!(replay.len(), 2, "the 429 and the 202");
    let time = VirtualTime::new();
    let again = replaying_client(&replay, &time)
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Prospect: budget is approved.")
        .send()
        .await
        .unwrap();
    assert_eq!(again.attempts, 2, "the retry ran again");
    assert_eq!(again.run.run_id, created.run.run_id);
    assert_eq!(
        time.sleeps(),
        vec![Duration::from_secs(7)],
        "the recorded Retry-After was honoured, on virtual time"
    );
    assert_eq!(replay.unused(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_fallback_replays_its_polls() {
    let path = cassette_path("sync");
    let test = start_emulator_with(semarize_emulator::Settings {
        run_latency_ms: 600,
        sync_wait_ms: 50,
        allow_http_webhooks: true,
        ..Default::default()
    })
    .await;
    // The recording polls every 10 ms of real time (a 1 s Retry-After scaled down 100
    // times); the replay takes the same polls on virtual time, a second or more each, so
    // the maximum wait is generous.
    let max_wait = Duration::from_secs(3600);
    let cassette = Cassette::record(&path).redact_transcripts(true);
    let transcript = "Rep: So the pain is specific? Prospect: three hours a week.";
    let outcome = recording_client(&test, &cassette)
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript(transcript)
        .sync()
        .send_and_wait(max_wait)
        .await
        .unwrap();
    assert!(matches!(outcome, RunOutcome::Succeeded(_)));
    cassette.save().unwrap();
    let recorded = cassette.len();
    test.emulator.shutdown().await;

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"sync_fallback\": true"), "{text}");
    assert!(!text.contains("three hours"), "the transcript is redacted");
    assert!(text.contains("\"transcripts\": true"));
    assert!(recorded >= 2, "the 202 fallback and at least one poll");

    let replay = Cassette::replay(&path).unwrap();
    let time = VirtualTime::new();
    let again = replaying_client(&replay, &time)
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript(transcript)
        .sync()
        .send_and_wait(max_wait)
        .await
        .unwrap();
    assert_eq!(again.run().run_id, outcome.run().run_id);
    assert_eq!(again.run().status, RunStatus::Succeeded);
    assert_eq!(
        replay.unused(),
        0,
        "the same polls, matched on the redacted transcript"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_recording_lacks_names_the_nearest_interaction_and_field() {
    let path = cassette_path("mismatch");
    let test = start_emulator().await;
    let cassette = Cassette::record(&path);
    let client = recording_client(&test, &cassette);
    client.runs().list().limit(5).send().await.unwrap();
    client.runs().list().limit(6).send().await.unwrap();
    drop((client, cassette));
    test.emulator.shutdown().await;

    let replay = Cassette::replay(&path).unwrap();
    let client = replaying_client(&replay, &VirtualTime::new());
    let error = client.runs().list().limit(7).send().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Cassette);
    assert_eq!(error.attempts(), 1, "never retried");
    let message = error.to_string();
    assert!(
        message.contains("the next one in order, interaction 0")
            && message.contains("request.query"),
        "{message}"
    );

    let replay = Cassette::replay(&path).unwrap().order(Order::AnyOrder);
    let client = replaying_client(&replay, &VirtualTime::new());
    client.runs().list().limit(6).send().await.unwrap();
    client.runs().list().limit(5).send().await.unwrap();
    let error = client.runs().list().limit(5).send().await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("all 2 recorded interactions are used"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_response_that_breaks_the_spec_is_reported() {
    let path = cassette_path("edited");
    let test = start_emulator().await;
    let cassette = Cassette::record(&path);
    let run = recording_client(&test, &cassette)
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Prospect: hi.")
        .send()
        .await
        .unwrap();
    drop(cassette);
    test.emulator.shutdown().await;

    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    file["interactions"][0]["response"]["body"]["waited_ms"] = serde_json::json!(-5);
    std::fs::write(&path, file.to_string()).unwrap();
    let replay = Cassette::replay(&path).unwrap();
    let _ = replaying_client(&replay, &VirtualTime::new())
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Prospect: hi.")
        .send()
        .await;
    let problems = replay.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("interaction 0 (create_run 202) /waited_ms: "),
        "{problems:?}"
    );
    assert!(!run.run.run_id.is_empty());
}
