//! Every documented operation, on its success and error paths: the response status is one
//! the spec documents for the operation, the body validates against the spec's schema, and
//! it decodes through the generated `semarize-api` types.

use semarize_api::types;
use semarize_spec::Spec;
use serde_json::{Value, json};

use crate::support::{Env, Receiver, Reply, create_body, start};

fn decodes(operation: &str, status: u16, body: &Value) {
    fn check<T: serde::de::DeserializeOwned>(body: &Value) -> Result<(), String> {
        serde_json::from_value::<T>(body.clone())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    let result = match (operation, status) {
        (_, 400..) => check::<types::ErrorEnvelope>(body),
        ("create_run" | "get_run", _) => check::<types::Run>(body),
        ("list_runs", _) => check::<Vec<types::Run>>(body),
        ("get_run_usage", _) => check::<types::RunUsage>(body),
        ("get_kit_schema" | "get_kit_schema_by_query", _) => check::<types::KitSchema>(body),
        ("get_bricks", _) => check::<Vec<types::BrickMetadata>>(body),
        ("upsert_webhook", _) => check::<types::Webhook>(body),
        ("list_webhooks", _) => check::<Vec<types::WebhookEndpoint>>(body),
        (other, _) => Err(format!("{other} {status} has a body to decode")),
    };
    result.unwrap_or_else(|e| panic!("{operation} {status} does not decode: {e}\n{body}"));
}

struct Conformance {
    spec: Spec,
    seen: Vec<(String, u16)>,
}

impl Conformance {
    fn check(&mut self, operation: &str, reply: &Reply) {
        if let Err(errors) =
            self.spec
                .validate_response(operation, reply.status, reply.body.as_ref())
        {
            panic!(
                "{operation} {}: {errors:#?}\n{:?}",
                reply.status, reply.body
            );
        }
        if let Some(body) = &reply.body {
            decodes(operation, reply.status, body);
        }
        assert!(
            reply.header("x-request-id").is_some(),
            "{operation} {} has X-Request-Id",
            reply.status
        );
        if [202, 429].contains(&reply.status) {
            assert!(
                reply.header("retry-after").is_some(),
                "{operation} {} has Retry-After",
                reply.status
            );
        }
        self.seen.push((operation.to_owned(), reply.status));
    }
}

async fn walk(env: &Env, conformance: &mut Conformance) {
    let key = env.key();
    let k = Some(key.as_str());
    let other = env.emulator.control().add_workspace();
    let receiver = Receiver::start().await;

    // create_run: 202, 200 (sync), 202 sync fallback, 400, 401, 404, 409, 422, 429, 500
    let created = env.create(&create_body(), Some("conf-1")).await;
    conformance.check("create_run", &created);
    let run_id = created.json()["run_id"].as_str().unwrap().to_owned();
    let mut sync = create_body();
    sync["mode"] = json!("sync");
    conformance.check("create_run", &env.create(&sync, None).await);
    for body in [
        json!({"input": {}}),
        json!({"kit_code": "A1B2C3D4", "input": 1}),
        json!({"kit_code": "A1B2C3D4", "type": "x", "input": {}}),
        json!({"kit_code": "A1B2C3D4", "mode": "x", "input": {}}),
        json!({"kit_code": "NOPE0000", "input": {"transcript": "x"}}),
        json!({"kit_code": "A1B2C3D4", "input": {"transcript": 5}}),
    ] {
        conformance.check("create_run", &env.create(&body, None).await);
    }
    let mut changed = create_body();
    changed["input"]["transcript"] = json!("changed");
    conformance.check("create_run", &env.create(&changed, Some("conf-1")).await);
    conformance.check(
        "create_run",
        &env.call("POST", "/v1/runs", Some(&create_body()), None, &[])
            .await,
    );
    env.emulator.control().fail_next("create_run", 1, 500, None);
    conformance.check("create_run", &env.create(&create_body(), None).await);
    env.emulator
        .control()
        .fail_next("create_run", 1, 429, Some(2));
    conformance.check("create_run", &env.create(&create_body(), None).await);
    env.emulator
        .control()
        .update_settings(|s| s.sync_wait_ms = 20)
        .unwrap();
    env.emulator
        .control()
        .update_settings(|s| s.run_latency_ms = 2_000)
        .unwrap();
    conformance.check("create_run", &env.create(&sync, None).await);
    env.emulator
        .control()
        .update_settings(|s| s.run_latency_ms = 30)
        .unwrap();

    // reads: success, 400, 401, 404, 429, 500
    conformance.check("list_runs", &env.get("/v1/runs?limit=5").await);
    conformance.check("list_runs", &env.get("/v1/runs?limit=0").await);
    conformance.check(
        "list_runs",
        &env.call("GET", "/v1/runs", None, Some("smz_test_bad"), &[])
            .await,
    );
    conformance.check("get_run", &env.get(&format!("/v1/runs/{run_id}")).await);
    env.wait_terminal(&run_id).await;
    conformance.check("get_run", &env.get(&format!("/v1/runs/{run_id}")).await);
    conformance.check(
        "get_run",
        &env.call(
            "GET",
            &format!("/v1/runs/{run_id}"),
            None,
            Some(&other.api_key),
            &[],
        )
        .await,
    );
    conformance.check(
        "get_run_usage",
        &env.get(&format!("/v1/runs/{run_id}/usage")).await,
    );
    conformance.check("get_run_usage", &env.get("/v1/runs/nope/usage").await);
    let schema = env.get("/v1/kits/schema?kit_code=A1B2C3D4").await;
    conformance.check("get_kit_schema_by_query", &schema);
    conformance.check("get_kit_schema_by_query", &env.get("/v1/kits/schema").await);
    conformance.check(
        "get_kit_schema_by_query",
        &env.get("/v1/kits/schema?kit_id=nope").await,
    );
    let kit_id = schema.json()["kit_id"].as_str().unwrap().to_owned();
    conformance.check(
        "get_kit_schema",
        &env.get(&format!("/v1/kits/{kit_id}/schema")).await,
    );
    conformance.check("get_kit_schema", &env.get("/v1/kits/nope/schema").await);
    let brick_id = schema.json()["bricks"][0]["brick_id"]
        .as_str()
        .unwrap()
        .to_owned();
    conformance.check(
        "get_bricks",
        &env.get(&format!("/v1/bricks?ids={brick_id}")).await,
    );
    conformance.check("get_bricks", &env.get("/v1/bricks").await);
    env.emulator.control().fail_next("get_run", 1, 500, None);
    conformance.check("get_run", &env.get(&format!("/v1/runs/{run_id}")).await);
    env.emulator.control().fail_next("get_bricks", 1, 403, None);
    conformance.check("get_bricks", &env.get("/v1/bricks?ids=x").await);
    env.emulator
        .control()
        .update_settings(|s| s.read_rate = Some(1.0))
        .unwrap();
    // One read a second: the bucket's burst is spent within a few reads (bounded).
    let mut limited = env.get("/v1/runs").await;
    for _ in 0..100 {
        if limited.status == 429 {
            break;
        }
        limited = env.get("/v1/runs").await;
    }
    assert_eq!(limited.status, 429, "a read rate of 1/s limits");
    conformance.check("list_runs", &limited);
    env.emulator
        .control()
        .update_settings(|s| s.read_rate = None)
        .unwrap();

    // webhooks: 201, 200, 204, 400, 401, 404, 422
    let hook = env
        .call(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": receiver.url})),
            k,
            &[],
        )
        .await;
    conformance.check("upsert_webhook", &hook);
    conformance.check(
        "upsert_webhook",
        &env.call("POST", "/v1/webhooks", Some(&json!({"url": 1})), k, &[])
            .await,
    );
    conformance.check(
        "upsert_webhook",
        &env.call(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": "ftp://x"})),
            k,
            &[],
        )
        .await,
    );
    conformance.check("list_webhooks", &env.get("/v1/webhooks").await);
    conformance.check(
        "list_webhooks",
        &env.call("GET", "/v1/webhooks", None, None, &[]).await,
    );
    let hook_id = hook.json()["id"].as_str().unwrap().to_owned();
    conformance.check(
        "delete_webhook",
        &env.call("DELETE", &format!("/v1/webhooks/{hook_id}"), None, k, &[])
            .await,
    );
    conformance.check(
        "delete_webhook",
        &env.call("DELETE", &format!("/v1/webhooks/{hook_id}"), None, k, &[])
            .await,
    );
}

#[tokio::test]
async fn every_operation_conforms_to_the_spec() {
    let env = start(|_| {}).await;
    let mut conformance = Conformance {
        spec: crate::support::committed_spec(),
        seen: Vec::new(),
    };
    walk(&env, &mut conformance).await;
    let operations: std::collections::BTreeSet<String> =
        conformance.seen.iter().map(|(op, _)| op.clone()).collect();
    let documented: std::collections::BTreeSet<String> = conformance
        .spec
        .operations()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(operations, documented, "the walk covers every operation");
    for status in [200, 201, 202, 204, 400, 401, 403, 404, 409, 422, 429, 500] {
        assert!(
            conformance.seen.iter().any(|(_, s)| *s == status),
            "status {status} was exercised"
        );
    }
}

#[tokio::test]
async fn webhook_deliveries_conform_to_the_spec() {
    let env = start(|_| {}).await;
    let receiver = Receiver::start().await;
    env.call(
        "POST",
        "/v1/webhooks",
        Some(&json!({"url": receiver.url})),
        Some(&env.key()),
        &[],
    )
    .await;
    env.emulator.control().force_next_runs(
        semarize_emulator::ForcedOutcome::Fail {
            error_code: "run_request_failed".into(),
            error_message: None,
            error_user_message: None,
        },
        1,
    );
    env.create(&create_body(), None).await;
    env.create(&create_body(), None).await;
    env.eventually("two deliveries", || receiver.count() == 2)
        .await;
    let spec = crate::support::committed_spec();
    for delivery in receiver.all() {
        spec.validate_component("WebhookEvent", &delivery.json())
            .unwrap_or_else(|e| panic!("{e:#?}"));
    }
}
