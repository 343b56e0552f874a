//! The control surface: injected statuses, accept-then-drop, latency, forced outcomes,
//! run-time settings, additive mode, and inspection over HTTP.

use std::time::{Duration, Instant};

use semarize_emulator::{FaultAction, FaultSpec, ForcedOutcome};
use serde_json::json;

use crate::support::{create_body, start};

#[tokio::test]
async fn injected_statuses_carry_retry_after_and_do_no_work() {
    let env = start(|_| {}).await;
    env.emulator
        .control()
        .fail_next("create_run", 2, 503, Some(7));
    for _ in 0..2 {
        let reply = env.create(&create_body(), Some("k1")).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("retry-after"), Some("7"));
        assert_eq!(reply.json()["retry_after_seconds"], 7);
        assert_eq!(reply.error(), "internal_error");
    }
    assert_eq!(env.create(&create_body(), Some("k1")).await.status, 202);
    assert_eq!(env.emulator.control().runs().len(), 1);
    let attempts = env.emulator.control().create_attempts();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| a.idempotency_key.as_deref() == Some("k1"))
    );
    assert_eq!(attempts[0].outcome, "injected_fault");
}

#[tokio::test]
async fn accept_then_drop_commits_the_run_and_closes_the_connection() {
    let env = start(|_| {}).await;
    env.emulator.control().drop_after_commit("create_run", 1);
    let url = format!("{}/v1/runs", env.emulator.base_url());
    let dropped = env
        .http
        .post(&url)
        .bearer_auth(env.key())
        .header("idempotency-key", "drop-1")
        .json(&create_body())
        .send()
        .await;
    assert!(dropped.is_err(), "the connection closes without a response");
    assert_eq!(
        env.emulator.control().runs().len(),
        1,
        "the run was committed"
    );

    let retried = env.create(&create_body(), Some("drop-1")).await;
    assert_eq!(retried.status, 202);
    assert_eq!(
        retried.json()["run_id"].as_str(),
        Some(env.emulator.control().runs()[0].run_id.to_string().as_str())
    );
    assert_eq!(
        env.emulator.control().runs().len(),
        1,
        "the retry with the same key made no new run"
    );
    let outcomes: Vec<String> = env
        .emulator
        .control()
        .create_attempts()
        .iter()
        .map(|a| a.outcome.clone())
        .collect();
    assert_eq!(outcomes, vec!["dropped_after_commit", "replayed"]);
}

/// Added headers ride on the real answer: the run is created, its 202 carries them (the
/// one it had of the same name replaced), and the next creation is untouched.
#[tokio::test]
async fn added_headers_ride_on_a_real_answer() {
    let env = start(|_| {}).await;
    let huge = u64::MAX.to_string();
    env.emulator.control().add_headers(
        "create_run",
        1,
        [("retry-after", huge.as_str()), ("x-extra", "1")],
    );
    let first = env.create(&create_body(), Some("headers-1")).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.header("retry-after"), Some(huge.as_str()));
    assert_eq!(first.header("x-extra"), Some("1"));
    assert!(first.json()["run_id"].is_string());
    assert_eq!(
        env.emulator.control().runs().len(),
        1,
        "the run was created"
    );
    let second = env.create(&create_body(), Some("headers-2")).await;
    assert_eq!(second.status, 202);
    assert_eq!(second.header("x-extra"), None, "armed for one call");
    assert_ne!(second.header("retry-after"), Some(huge.as_str()));
}

#[tokio::test]
async fn faults_for_every_operation_and_latency() {
    let env = start(|_| {}).await;
    env.emulator.control().inject(FaultSpec {
        operation: "*".into(),
        count: 1,
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(3),
            error: Some("rate_limited".into()),
        },
    });
    let limited = env.get("/v1/webhooks").await;
    assert_eq!((limited.status, limited.error()), (429, "rate_limited"));
    assert_eq!(env.get("/v1/webhooks").await.status, 200);

    env.emulator.control().set_latency("list_runs", 150);
    let started = Instant::now();
    assert_eq!(env.get("/v1/runs").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    env.emulator.control().set_latency("list_runs", 0);
}

#[tokio::test]
async fn runs_can_be_forced_to_fail_or_be_cancelled() {
    let env = start(|s| s.run_latency_ms = 10_000).await;
    let a = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.emulator
        .control()
        .force_run(
            &a,
            ForcedOutcome::Fail {
                error_code: "run_request_failed".into(),
                error_message: Some("boom".into()),
                error_user_message: None,
            },
        )
        .unwrap();
    env.emulator
        .control()
        .force_run(&b, ForcedOutcome::Cancel)
        .unwrap();
    let a = env.get(&format!("/v1/runs/{a}")).await;
    assert_eq!(a.json()["status"], "failed");
    assert_eq!(a.json()["error_code"], "run_request_failed");
    assert_eq!(a.json()["error_message"], "boom");
    assert!(a.json().get("output").is_none());
    assert_eq!(
        env.get(&format!("/v1/runs/{b}")).await.json()["status"],
        "cancelled"
    );
    assert!(
        env.emulator
            .control()
            .force_run("missing", ForcedOutcome::Cancel)
            .is_err()
    );
}

#[tokio::test]
async fn the_control_surface_works_over_http() {
    let env = start(|_| {}).await;

    assert_eq!(
        env.control(
            "POST",
            "/_emulator/faults",
            json!({"operation": "get_run", "count": 1, "kind": "status", "status": 500})
        )
        .await
        .status,
        204
    );
    assert_eq!(env.get("/v1/runs/x").await.status, 500);
    let settings = env
        .control(
            "PUT",
            "/_emulator/settings",
            json!({"run_latency_ms": 20_000}),
        )
        .await;
    assert_eq!(settings.json()["run_latency_ms"], 20_000);
    assert_eq!(
        env.control("PUT", "/_emulator/settings", json!({"time_scale": -1}))
            .await
            .status,
        400
    );
    let misspelt = env
        .control("PUT", "/_emulator/settings", json!({"run_latncy_ms": 5}))
        .await;
    assert_eq!(misspelt.status, 400, "an unknown setting is not ignored");
    assert!(
        misspelt.json()["detail"]
            .as_str()
            .unwrap()
            .contains("run_latncy_ms")
    );
    assert_eq!(
        env.control(
            "POST",
            "/_emulator/outcomes",
            json!({"outcome": "cancel", "count": 1})
        )
        .await
        .status,
        204
    );
    let run = env
        .create(&create_body(), Some("http-control"))
        .await
        .json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.wait_terminal(&run).await["status"], "cancelled");
    let second = env
        .create(
            &json!({"kit_code": "QUALIFY1", "input": {"transcript": "x"}}),
            None,
        )
        .await;
    let second = second.json()["run_id"].as_str().unwrap().to_owned();
    assert_eq!(
        env.call(
            "POST",
            &format!("/_emulator/runs/{second}/fail"),
            None,
            None,
            &[]
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.get(&format!("/v1/runs/{second}")).await.json()["error_code"],
        "run_request_failed"
    );
    assert_eq!(
        env.call(
            "POST",
            &format!("/_emulator/runs/{second}/cancel"),
            None,
            None,
            &[]
        )
        .await
        .status,
        409
    );

    let creates = env
        .call("GET", "/_emulator/inspect/creates", None, None, &[])
        .await;
    assert_eq!(creates.json().as_array().unwrap().len(), 2);
    let calls = env
        .call("GET", "/_emulator/inspect/calls", None, None, &[])
        .await;
    assert_eq!(calls.json()["create_run"], 2, "{:?}", calls.json());
    let keys = env
        .call("GET", "/_emulator/inspect/keys", None, None, &[])
        .await;
    assert_eq!(keys.json()[0]["idempotency_key"], "http-control");
    assert_eq!(
        env.call("GET", "/_emulator/inspect/runs", None, None, &[])
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let workspace = env
        .control("POST", "/_emulator/workspaces", json!({}))
        .await;
    assert!(
        workspace.json()["api_key"]
            .as_str()
            .unwrap()
            .starts_with("smz_test_")
    );
    assert_eq!(
        env.control("POST", "/_emulator/faults", json!({"kind": "nonsense"}))
            .await
            .error(),
        "invalid_request"
    );
}

#[tokio::test]
async fn additive_mode_adds_unknown_fields_and_values_that_still_decode() {
    let env = start(|s| {
        s.additive = true;
        s.run_latency_ms = 300;
    })
    .await;
    let api = env.api(&env.key());
    let body: semarize_api::types::CreateRunRequest =
        serde_json::from_value(create_body()).unwrap();
    let created = api
        .create_run()
        .body(body)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.status,
        semarize_api::types::RunStatus::Unknown("waiting_for_capacity".into())
    );
    assert_eq!(
        created.run_type,
        Some(semarize_api::types::RunType::Unknown("scheduled".into()))
    );
    let raw = env.get(&format!("/v1/runs/{}", created.run_id)).await;
    assert!(raw.json()[semarize_emulator::additive::ADDED_FIELD].is_object());
    let err = api.get_run().run_id("missing").send().await.unwrap_err();
    match err {
        semarize_api::Error::ErrorResponse(rv) => {
            assert_eq!(rv.error, semarize_api::types::ErrorCode::RunNotFound)
        }
        other => panic!("{other:?}"),
    }
    env.wait_terminal(&created.run_id).await;
    let done = api
        .get_run()
        .run_id(&created.run_id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status, semarize_api::types::RunStatus::Succeeded);
    assert!(done.output.is_some());
    api.get_run_usage()
        .run_id(&created.run_id)
        .send()
        .await
        .unwrap();
    api.get_kit_schema_by_query()
        .kit_code("A1B2C3D4")
        .send()
        .await
        .unwrap();
    api.list_runs().send().await.unwrap();
}
