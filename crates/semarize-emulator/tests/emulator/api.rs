//! The documented API behaviour: auth, validation, lifecycle, sync mode, idempotency,
//! rate limits, kits and bricks.

use std::time::Duration;

use serde_json::json;

use crate::support::{TRANSCRIPT, create_body, start};

#[tokio::test]
async fn auth_errors_use_the_documented_codes() {
    let env = start(|_| {}).await;
    env.emulator.control().add_api_key("smz_test_expired", true);
    let missing = env.call("GET", "/v1/runs", None, None, &[]).await;
    assert_eq!(
        (missing.status, missing.error()),
        (401, "missing_bearer_token")
    );
    let malformed = env
        .call(
            "GET",
            "/v1/runs",
            None,
            None,
            &[("authorization", "Token abc")],
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.error()),
        (401, "missing_bearer_token")
    );
    let invalid = env
        .call("GET", "/v1/runs", None, Some("smz_test_nope"), &[])
        .await;
    assert_eq!((invalid.status, invalid.error()), (401, "invalid_api_key"));
    let expired = env
        .call("GET", "/v1/runs", None, Some("smz_test_expired"), &[])
        .await;
    assert_eq!((expired.status, expired.error()), (401, "api_key_expired"));
}

#[tokio::test]
async fn runs_are_scoped_to_the_workspace_of_the_key() {
    let env = start(|_| {}).await;
    let created = env.create(&create_body(), None).await;
    let run_id = created.json()["run_id"].as_str().unwrap().to_owned();
    let other = env.emulator.control().add_workspace();
    let foreign = env
        .call(
            "GET",
            &format!("/v1/runs/{run_id}"),
            None,
            Some(&other.api_key),
            &[],
        )
        .await;
    assert_eq!((foreign.status, foreign.error()), (404, "run_not_found"));
    let listed = env
        .call("GET", "/v1/runs", None, Some(&other.api_key), &[])
        .await;
    assert_eq!(listed.json(), &json!([]));
}

#[tokio::test]
async fn create_validation_uses_the_documented_codes() {
    let env = start(|_| {}).await;
    let cases = [
        (
            json!({"input": {"transcript": "x"}}),
            400,
            "kit_code_or_kit_version_id_required",
        ),
        (
            json!({"kit_code": "A1B2C3D4", "input": "text"}),
            400,
            "input_must_be_object",
        ),
        (json!({"kit_code": "A1B2C3D4"}), 400, "input_must_be_object"),
        (
            json!({"kit_code": "A1B2C3D4", "type": "batch", "input": {"transcript": "x"}}),
            400,
            "invalid_run_type",
        ),
        (
            json!({"kit_code": "A1B2C3D4", "mode": "later", "input": {"transcript": "x"}}),
            400,
            "invalid_run_mode",
        ),
        (
            json!({"kit_code": "ZZZZZZZZ", "input": {"transcript": "x"}}),
            404,
            "kit_not_found",
        ),
        (
            json!({"kit_code": "A1B2C3D4", "input": {"transcript": ""}}),
            422,
            "run_request_failed",
        ),
    ];
    for (body, status, code) in cases {
        let reply = env.create(&body, None).await;
        assert_eq!((reply.status, reply.error()), (status, code), "{body}");
        assert!(reply.header("x-request-id").is_some());
    }
    let too_long = "k".repeat(255);
    let reply = env.create(&create_body(), Some(&too_long)).await;
    assert_eq!(
        (reply.status, reply.error()),
        (400, "idempotency_key_too_long")
    );
    let ok = env.create(&create_body(), Some(&"k".repeat(254))).await;
    assert_eq!(ok.status, 202);
    // The spec's minLength 1: an empty key is refused, not taken for "no key".
    let empty = env.create(&create_body(), Some("")).await;
    assert_eq!((empty.status, empty.error()), (400, "invalid_request"));
}

#[tokio::test]
async fn framing_errors_are_json_envelopes() {
    let env = start(|_| {}).await;
    let url = format!("{}/v1/runs", env.emulator.base_url());
    let key = env.key();
    let send = |body: &'static str, content_type: &'static str| {
        env.http
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (response, status, code) in [
        (
            send("{oops", "application/json").await.unwrap(),
            400,
            "invalid_json",
        ),
        (
            send("[1]", "application/json").await.unwrap(),
            400,
            "invalid_request",
        ),
        (
            send("{}", "text/plain").await.unwrap(),
            400,
            "unsupported_media_type",
        ),
    ] {
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], code);
    }
    let huge = format!(
        r#"{{"kit_code":"A1B2C3D4","input":{{"transcript":"{}"}}}}"#,
        "a".repeat(6 * 1024 * 1024)
    );
    let response = env
        .http
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "payload_too_large"
    );

    let wrong_method = env.call("PUT", "/v1/runs", None, Some(&key), &[]).await;
    assert_eq!(
        (wrong_method.status, wrong_method.error()),
        (405, "method_not_allowed")
    );
    assert_eq!(wrong_method.header("allow"), Some("GET, POST"));
    let unknown = env.call("GET", "/v2/nothing", None, Some(&key), &[]).await;
    assert_eq!((unknown.status, unknown.error()), (404, "not_found"));
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let env = start(|_| {}).await;
    let echoed = env
        .call(
            "GET",
            "/v1/runs",
            None,
            Some(&env.key()),
            &[("x-request-id", "trace-123")],
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-123"));
    let made = env.get("/v1/runs").await;
    assert!(made.header("x-request-id").unwrap().starts_with("req_"));
}

#[tokio::test]
async fn a_run_moves_through_its_lifecycle_and_reports_usage() {
    let env = start(|s| s.run_latency_ms = 1_000).await;
    let created = env.create(&create_body(), None).await;
    assert_eq!(created.status, 202);
    assert_eq!(created.json()["status"], "queued");
    assert!(
        created
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let run_id = created.json()["run_id"].as_str().unwrap().to_owned();

    let usage_before = env.get(&format!("/v1/runs/{run_id}/usage")).await;
    assert_eq!(usage_before.json()["credits_consumed"], 0);

    // Queued for the first fifth of the latency, then running: poll until it moves on.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let running = loop {
        let reply = env.get(&format!("/v1/runs/{run_id}")).await;
        if reply.json()["status"] != "queued" {
            break reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run stayed queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(running.json()["status"], "running");
    assert!(running.header("retry-after").is_some());

    let done = env.wait_terminal(&run_id).await;
    assert_eq!(done["status"], "succeeded");
    assert!(done["duration_ms"].as_u64().unwrap() > 0);
    let pain = &done["output"]["bricks"]["pain_is_specific"];
    let evidence = pain["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "the Kit promises evidence: {pain}");
    for span in evidence {
        assert!(TRANSCRIPT.contains(span.as_str().unwrap()));
    }
    let usage = env.get(&format!("/v1/runs/{run_id}/usage")).await;
    assert!(usage.json()["token_usage"]["prompt"].as_u64().unwrap() > 0);
    assert!(usage.json()["credits_consumed"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn same_input_gives_the_same_output() {
    let env = start(|_| {}).await;
    let a = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a, b);
    assert_eq!(
        env.wait_terminal(&a).await["output"],
        env.wait_terminal(&b).await["output"]
    );
}

#[tokio::test]
async fn kit_version_id_overrides_kit_code() {
    let env = start(|_| {}).await;
    let latest = env
        .create(
            &json!({"kit_code": "SENTIMNT", "input": {"transcript": TRANSCRIPT}}),
            None,
        )
        .await;
    let pinned = env
        .create(
            &json!({"kit_code": "A1B2C3D4", "kit_version_id": "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101",
                    "input": {"transcript": TRANSCRIPT}}),
            None,
        )
        .await;
    let latest = env
        .wait_terminal(latest.json()["run_id"].as_str().unwrap())
        .await;
    let pinned = env
        .wait_terminal(pinned.json()["run_id"].as_str().unwrap())
        .await;
    assert_eq!(latest["output"]["bricks"].as_object().unwrap().len(), 2);
    assert_eq!(pinned["output"]["bricks"].as_object().unwrap().len(), 1);
    assert_eq!(pinned["output"]["kit_code"], "SENTIMNT");
    assert_eq!(
        pinned["output"]["kit_version_id"],
        "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101"
    );
}

#[tokio::test]
async fn list_runs_is_newest_first_with_a_bounded_limit() {
    let env = start(|_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            env.create(&create_body(), None).await.json()["run_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let listed = env.get("/v1/runs?limit=2").await;
    let listed: Vec<&str> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(
        env.get("/v1/runs").await.json().as_array().unwrap().len(),
        3
    );
    for bad in ["0", "101", "ten", "-1"] {
        let reply = env.get(&format!("/v1/runs?limit={bad}")).await;
        assert_eq!(
            (reply.status, reply.error()),
            (400, "invalid_limit"),
            "limit={bad}"
        );
    }
}

#[tokio::test]
async fn sync_mode_answers_inline_or_falls_back_to_202() {
    let env = start(|s| {
        s.run_latency_ms = 50;
        s.sync_wait_ms = 1_000;
    })
    .await;
    let mut body = create_body();
    body["mode"] = json!("sync");
    let inline = env.create(&body, None).await;
    assert_eq!(inline.status, 200);
    assert_eq!(inline.json()["status"], "succeeded");
    assert!(inline.json()["output"]["bricks"]["pain_is_specific"].is_object());

    env.emulator
        .control()
        .update_settings(|s| {
            s.run_latency_ms = 5_000;
            s.sync_wait_ms = 100;
        })
        .unwrap();
    let fallback = env.create(&body, None).await;
    assert_eq!(fallback.status, 202);
    assert_eq!(fallback.json()["sync_fallback"], true);
    assert!(fallback.json()["waited_ms"].as_u64().unwrap() >= 100);
    assert!(fallback.header("retry-after").is_some());
    assert!(["queued", "running"].contains(&fallback.json()["status"].as_str().unwrap()));
}

#[tokio::test]
async fn sync_mode_returns_a_failed_run_with_200() {
    let env = start(|_| {}).await;
    env.emulator.control().force_next_runs(
        semarize_emulator::ForcedOutcome::Fail {
            error_code: "run_request_failed".into(),
            error_message: Some("diag".into()),
            error_user_message: Some("Try again".into()),
        },
        1,
    );
    let mut body = create_body();
    body["mode"] = json!("sync");
    let reply = env.create(&body, None).await;
    assert_eq!(
        reply.status, 200,
        "200 means the request cycle completed, not success"
    );
    assert_eq!(reply.json()["status"], "failed");
    assert_eq!(reply.json()["error_code"], "run_request_failed");
    assert_eq!(reply.json()["error_user_message"], "Try again");
}

#[tokio::test]
async fn idempotency_returns_the_original_run_and_rejects_a_different_body() {
    let env = start(|_| {}).await;
    let first = env
        .create(&create_body(), Some("call-123-kit-A1B2C3D4"))
        .await;
    let again = env
        .create(&create_body(), Some("call-123-kit-A1B2C3D4"))
        .await;
    assert_eq!(again.status, 202);
    assert_eq!(first.json()["run_id"], again.json()["run_id"]);

    let mut other = create_body();
    other["input"]["transcript"] = json!("a different call");
    let conflict = env.create(&other, Some("call-123-kit-A1B2C3D4")).await;
    assert_eq!(
        (conflict.status, conflict.error()),
        (409, "idempotency_key_conflict")
    );

    let control = env.emulator.control();
    assert_eq!(control.runs().len(), 1);
    let counts = control.runs_per_key();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].runs, 1);
    let outcomes: Vec<String> = control
        .create_attempts()
        .iter()
        .map(|a| a.outcome.clone())
        .collect();
    assert_eq!(
        outcomes,
        vec!["created", "replayed", "idempotency_key_conflict"]
    );
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_workspace() {
    let env = start(|_| {}).await;
    let other = env.emulator.control().add_workspace();
    let a = env.create(&create_body(), Some("shared-key")).await;
    let b = env
        .call(
            "POST",
            "/v1/runs",
            Some(&create_body()),
            Some(&other.api_key),
            &[("idempotency-key", "shared-key")],
        )
        .await;
    assert_eq!((a.status, b.status), (202, 202));
    assert_ne!(a.json()["run_id"], b.json()["run_id"]);
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_run() {
    let env = std::sync::Arc::new(start(|_| {}).await);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            env.create(&create_body(), Some("same-key")).await.json()["run_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(env.emulator.control().runs().len(), 1);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let env = start(|s| {
        s.create_rate = Some(2.0);
        s.read_rate = Some(3.0);
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(env.create(&create_body(), None).await);
    }
    let limited = statuses
        .iter()
        .find(|r| r.status == 429)
        .expect("a 429 past the create rate");
    assert_eq!(limited.error(), "rate_limited");
    let advised = limited.json()["retry_after_seconds"].as_u64().unwrap();
    assert!(advised >= 1);
    assert_eq!(limited.header("retry-after").unwrap(), advised.to_string());

    let mut reads = Vec::new();
    for _ in 0..5 {
        reads.push(env.get("/v1/runs").await.status);
    }
    assert!(reads.contains(&429), "{reads:?}");
}

#[tokio::test]
async fn kit_schemas_and_bricks_come_from_the_same_definitions() {
    let env = start(|_| {}).await;
    let by_code = env.get("/v1/kits/schema?kit_code=A1B2C3D4").await;
    assert_eq!(by_code.status, 200);
    let kit_id = by_code.json()["kit_id"].as_str().unwrap().to_owned();
    let by_id = env.get(&format!("/v1/kits/{kit_id}/schema")).await;
    assert_eq!(by_code.json(), by_id.json());
    let by_query_id = env.get(&format!("/v1/kits/schema?kit_id={kit_id}")).await;
    assert_eq!(by_code.json(), by_query_id.json());
    let pinned = env
        .get("/v1/kits/schema?kit_version_id=3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101")
        .await;
    assert_eq!(pinned.json()["bricks"].as_array().unwrap().len(), 1);

    let brick = by_code.json()["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["brick_key"] == "pain_is_specific")
        .unwrap();
    assert_eq!(
        brick["fields"],
        json!({"value": true, "confidence": true, "reason": true, "evidence": true})
    );
    let ids: Vec<&str> = by_code.json()["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["brick_id"].as_str().unwrap())
        .collect();
    let bricks = env
        .get(&format!("/v1/bricks?ids={},unknown-id", ids.join(",")))
        .await;
    let keys: Vec<&str> = bricks
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["brick_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        vec![
            "pain_is_specific",
            "budget_mentioned",
            "next_step",
            "call_summary"
        ]
    );

    assert_eq!(
        env.get("/v1/kits/schema").await.error(),
        "kit_code_or_kit_version_id_required"
    );
    assert_eq!(env.get("/v1/kits/schema?kit_code=NOPE").await.status, 404);
    assert_eq!(
        env.get("/v1/kits/nope/schema").await.error(),
        "kit_not_found"
    );
    assert_eq!(env.get("/v1/bricks").await.error(), "ids_required");
    assert_eq!(env.get("/v1/bricks?ids=").await.error(), "ids_required");
    assert_eq!(env.get("/v1/bricks?ids=,,").await.error(), "ids_required");
    // The spec's pattern: no empty entry between commas; an entry of spaces is an id.
    let gap = env.get("/v1/bricks?ids=a,,b").await;
    assert_eq!((gap.status, gap.error()), (400, "invalid_request"));
    assert_eq!(env.get("/v1/bricks?ids=a,%20").await.status, 200);
    let both = env
        .get("/v1/kits/schema?kit_code=A1B2C3D4&kit_id=0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d40001")
        .await;
    assert_eq!(
        (both.status, both.error()),
        (400, "invalid_request"),
        "exactly one of the three"
    );
    assert_eq!(
        env.get("/v1/kits/schema?kit_code=").await.error(),
        "kit_not_found"
    );
    let many: Vec<String> = (0..101).map(|i| format!("id{i}")).collect();
    assert_eq!(
        env.get(&format!("/v1/bricks?ids={}", many.join(",")))
            .await
            .error(),
        "too_many_ids"
    );
}

#[tokio::test]
async fn kits_load_from_a_file() {
    let dir = std::env::temp_dir().join(format!("emulator-kits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kits.json");
    std::fs::write(
        &path,
        r#"[{"kit_id": "11111111-2222-4333-8444-555555555555", "kit_code": "CUSTOM01", "name": "Custom",
            "versions": [{"kit_version_id": "11111111-2222-4333-8444-555555555556",
              "bricks": [{"brick_id": "11111111-2222-4333-8444-555555555557", "key": "mentions_refund",
                "name": "Mentions refund", "type": "boolean", "keywords": ["refund"],
                "fields": {"evidence": true}}]}]}]"#,
    )
    .unwrap();
    let catalog = semarize_emulator::kits::Catalog::with_file(&path).unwrap();
    let emulator = semarize_emulator::Emulator::start(semarize_emulator::Config {
        catalog,
        settings: semarize_emulator::Settings {
            run_latency_ms: 10,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let env = crate::support::Env {
        emulator,
        http: reqwest::Client::new(),
    };
    let reply = env
        .create(
            &json!({"kit_code": "CUSTOM01", "input": {"transcript": "I want a refund. Now."}}),
            None,
        )
        .await;
    let run = env
        .wait_terminal(reply.json()["run_id"].as_str().unwrap())
        .await;
    assert_eq!(
        run["output"]["bricks"]["mentions_refund"],
        json!({"value": true, "evidence": ["I want a refund."]})
    );

    std::fs::write(&path, "[{").unwrap();
    let err = semarize_emulator::kits::Catalog::with_file(&path).unwrap_err();
    assert!(err.to_string().contains("is not valid"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_sync_wait_ends_as_soon_as_the_run_is_forced_to_end() {
    let env = std::sync::Arc::new(
        start(|s| {
            s.run_latency_ms = 60_000;
            s.sync_wait_ms = 30_000;
        })
        .await,
    );
    let mut body = create_body();
    body["mode"] = json!("sync");
    let started = std::time::Instant::now();
    let waiting = {
        let env = env.clone();
        tokio::spawn(async move { env.create(&body, Some("sync-forced")).await })
    };
    env.eventually("the sync creation to arrive", || {
        !env.emulator.control().runs().is_empty()
    })
    .await;
    let run_id = env.emulator.control().runs()[0].run_id.to_string();
    env.emulator
        .control()
        .force_run(&run_id, semarize_emulator::ForcedOutcome::Cancel)
        .unwrap();
    let reply = waiting.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the change, not the 30 s wait"
    );
}
