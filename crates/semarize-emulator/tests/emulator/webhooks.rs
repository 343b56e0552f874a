//! Webhook endpoints and signed, at-least-once delivery.

use semarize_api::webhook_signature::{self as sig, verify_entry};
use semarize_emulator::WebhookFaults;
use serde_json::json;

use crate::support::{Received, Receiver, create_body, start};

fn verifies(delivery: &Received, secret: &str) -> bool {
    let timestamp = delivery.header(sig::HEADER_TIMESTAMP);
    delivery
        .header(sig::HEADER_SIGNATURE)
        .split(',')
        .any(|entry| verify_entry(secret, timestamp, &delivery.body, entry))
}

#[tokio::test]
async fn endpoints_upsert_list_and_delete() {
    let env = start(|s| s.allow_http_webhooks = false).await;
    let key = env.key();
    let bad = env
        .call(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": "http://example.com/h"})),
            Some(&key),
            &[],
        )
        .await;
    assert_eq!((bad.status, bad.error()), (422, "invalid_webhook_url"));
    let local = env
        .call(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": "https://127.0.0.1/h"})),
            Some(&key),
            &[],
        )
        .await;
    assert_eq!(local.status, 422);
    let missing = env
        .call("POST", "/v1/webhooks", Some(&json!({})), Some(&key), &[])
        .await;
    assert_eq!((missing.status, missing.error()), (400, "invalid_request"));

    let first = env
        .call(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": "https://example.com/a"})),
            Some(&key),
            &[],
        )
        .await;
    let second = env
        .call(
            "POST",
            "/v1/webhooks",
            Some(&json!({"url": "https://example.com/b"})),
            Some(&key),
            &[],
        )
        .await;
    assert_eq!(
        first.json()["id"],
        second.json()["id"],
        "one endpoint per workspace: upsert"
    );
    assert_ne!(first.json()["secret"], second.json()["secret"]);
    let listed = env.get("/v1/webhooks").await;
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    assert_eq!(listed.json()[0]["url"], "https://example.com/b");
    assert!(
        listed.json()[0].get("secret").is_none(),
        "secrets are not listed"
    );
    let id = second.json()["id"].as_str().unwrap();
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/v1/webhooks/{id}"),
            None,
            Some(&key),
            &[]
        )
        .await
        .status,
        204
    );
    assert_eq!(
        env.call(
            "DELETE",
            &format!("/v1/webhooks/{id}"),
            None,
            Some(&key),
            &[]
        )
        .await
        .error(),
        "webhook_not_found"
    );
    assert_eq!(env.get("/v1/webhooks").await.json(), &json!([]));
}

#[tokio::test]
async fn terminal_runs_are_delivered_signed_with_the_documented_headers() {
    let env = start(|_| {}).await;
    let receiver = Receiver::start().await;
    let secret = env.register(&receiver.url).await;
    let ok = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.emulator
        .control()
        .force_next_runs(semarize_emulator::ForcedOutcome::Cancel, 1);
    let cancelled = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.eventually("two deliveries", || receiver.count() == 2)
        .await;

    for delivery in receiver.all() {
        assert!(verifies(&delivery, &secret), "signature verifies");
        assert!(!verifies(&delivery, "whsec_wrong"));
        let event = delivery.json();
        assert_eq!(delivery.header(sig::HEADER_EVENT_ID), event["id"]);
        assert_eq!(
            delivery.header(sig::HEADER_DELIVERY_ID),
            event["delivery_id"]
        );
        assert_eq!(delivery.header(sig::HEADER_EVENT_TYPE), event["type"]);
        let ts: i64 = delivery.header(sig::HEADER_TIMESTAMP).parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        let decoded: semarize_api::types::WebhookEvent =
            serde_json::from_value(event.clone()).unwrap();
        if decoded.data.run_id == ok {
            assert_eq!(event["type"], "run.succeeded");
            assert!(
                decoded.data.output.is_some(),
                "data has the GET /v1/runs/{{runId}} shape"
            );
        } else {
            assert_eq!(decoded.data.run_id, cancelled);
            assert_eq!(event["type"], "run.cancelled");
        }
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_a_new_delivery_id_and_the_same_event_id() {
    let env = start(|_| {}).await;
    let receiver = Receiver::start().await;
    receiver.fail_first.lock().unwrap().extend([500, 503]);
    let secret = env.register(&receiver.url).await;
    env.create(&create_body(), None).await;
    env.eventually("three attempts", || receiver.count() == 3)
        .await;
    let all = receiver.all();
    let event_ids: Vec<&str> = all.iter().map(|d| d.header(sig::HEADER_EVENT_ID)).collect();
    assert!(
        event_ids.windows(2).all(|w| w[0] == w[1]),
        "event id stable across retries"
    );
    let mut delivery_ids: Vec<&str> = all
        .iter()
        .map(|d| d.header(sig::HEADER_DELIVERY_ID))
        .collect();
    delivery_ids.dedup();
    assert_eq!(delivery_ids.len(), 3, "a new delivery id per attempt");
    assert!(all.iter().all(|d| verifies(d, &secret)));
    // The receiver has the third delivery before the emulator has read its answer and
    // logged the attempt.
    let control = env.emulator.control();
    env.eventually("three attempts logged", || control.deliveries().len() == 3)
        .await;
    let attempts: Vec<(u32, String)> = control
        .deliveries()
        .iter()
        .map(|d| (d.attempt, d.result.clone()))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (1, "failed".into()),
            (2, "failed".into()),
            (3, "delivered".into())
        ]
    );
}

#[tokio::test]
async fn deliveries_die_after_ten_attempts() {
    let env = start(|s| s.time_scale = 60_000.0).await;
    let receiver = Receiver::start().await;
    receiver.fail_first.lock().unwrap().extend([500; 20]);
    env.register(&receiver.url).await;
    env.create(&create_body(), None).await;
    env.eventually("a dead delivery", || {
        env.emulator
            .control()
            .deliveries()
            .iter()
            .any(|d| d.result == "dead")
    })
    .await;
    assert_eq!(receiver.count(), 10);
}

#[tokio::test]
async fn large_payloads_are_sent_as_thin_events() {
    let env = start(|s| s.webhook_payload_limit_bytes = 200).await;
    let receiver = Receiver::start().await;
    env.register(&receiver.url).await;
    let run_id = env.create(&create_body(), None).await.json()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.eventually("a delivery", || receiver.count() == 1).await;
    let event = receiver.all()[0].json();
    let data = event["data"].as_object().unwrap();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["duration_ms", "error_code", "run_id", "status"]);
    assert_eq!(data["run_id"], run_id.as_str());
    let _: semarize_api::types::ThinWebhookEvent = serde_json::from_value(event.clone()).unwrap();
    // Logged once the emulator has read the receiver's answer.
    let control = env.emulator.control();
    env.eventually("the attempt logged", || !control.deliveries().is_empty())
        .await;
    assert!(control.deliveries()[0].thin);
}

#[tokio::test]
async fn rotation_signs_with_the_new_and_the_previous_secret() {
    let env = start(|_| {}).await;
    let receiver = Receiver::start().await;
    let old = env.register(&receiver.url).await;
    let new = env.register(&receiver.url).await;
    env.create(&create_body(), None).await;
    env.eventually("a delivery", || receiver.count() == 1).await;
    let delivery = &receiver.all()[0];
    assert_eq!(delivery.header(sig::HEADER_SIGNATURE).split(',').count(), 2);
    assert!(verifies(delivery, &old) && verifies(delivery, &new));
}

#[tokio::test]
async fn duplicate_delay_and_reorder_faults() {
    let env = start(|_| {}).await;
    let receiver = Receiver::start().await;
    env.register(&receiver.url).await;
    env.emulator.control().set_webhook_faults(WebhookFaults {
        duplicate: 1,
        ..Default::default()
    });
    env.create(&create_body(), None).await;
    env.eventually("a duplicated delivery", || receiver.count() == 2)
        .await;
    let all = receiver.all();
    assert_eq!(
        all[0].header(sig::HEADER_DELIVERY_ID),
        all[1].header(sig::HEADER_DELIVERY_ID)
    );
    assert_eq!(all[0].body, all[1].body);

    env.emulator.control().set_webhook_faults(WebhookFaults {
        reorder: 3,
        ..Default::default()
    });
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            env.create(&create_body(), None).await.json()["run_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    env.eventually("three more deliveries", || receiver.count() == 5)
        .await;
    let order: Vec<String> = receiver.all()[2..]
        .iter()
        .map(|d| d.json()["data"]["run_id"].as_str().unwrap().to_owned())
        .collect();
    ids.reverse();
    assert_eq!(order, ids, "held events are delivered in reverse order");

    env.emulator.control().set_webhook_faults(WebhookFaults {
        delay: 1,
        delay_ms: 200,
        ..Default::default()
    });
    let started = std::time::Instant::now();
    env.create(&create_body(), None).await;
    env.eventually("a delayed delivery", || receiver.count() == 6)
        .await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
}

#[tokio::test]
async fn deleting_the_endpoint_stops_deliveries() {
    let env = start(|s| s.run_latency_ms = 200).await;
    let receiver = Receiver::start().await;
    env.register(&receiver.url).await;
    let created = env.create(&create_body(), None).await;
    let run_id = created.json()["run_id"].as_str().unwrap().to_owned();
    let id = env.get("/v1/webhooks").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.call(
        "DELETE",
        &format!("/v1/webhooks/{id}"),
        None,
        Some(&env.key()),
        &[],
    )
    .await;
    // No sleep-then-look: wait until the run's event had its turn (the inspection log
    // says it found no endpoint), then check nothing arrived.
    let control = env.emulator.control();
    env.eventually("the event's turn", || {
        control
            .deliveries()
            .iter()
            .any(|d| d.run_id == run_id && d.result == "no_endpoint")
    })
    .await;
    assert_eq!(receiver.count(), 0, "nothing went to the deleted endpoint");
}
