//! Every operation through the resource methods, and the output helpers.

use std::collections::BTreeMap;

use semarize::{ErrorKind, RunOutputExt};
use serde::Deserialize;

use crate::harness::harness;

#[derive(Debug, Deserialize)]
struct Discovery {
    pain_is_specific: u32,
    budget_mentioned: bool,
    next_step: String,
}

#[tokio::test]
async fn every_operation_works_through_the_client() {
    let h = harness().await;
    let outcome = h
        .create()
        .send_and_wait(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let run = outcome.run();

    let pain = run.brick("pain_is_specific").unwrap();
    assert!(pain.as_f64().unwrap() > 50.0);
    assert!(pain.reason().is_some());
    assert!(!pain.evidence().is_empty());
    assert!(run.brick("nope").is_none());
    let typed: Discovery = run.values_as().unwrap();
    assert!(typed.budget_mentioned);
    assert_eq!(typed.next_step, "meeting");
    assert!(typed.pain_is_specific > 50);
    let full: BTreeMap<String, semarize::types::BrickOutput> = run.bricks_as().unwrap();
    assert_eq!(full.len(), 4);
    let wrong = run.values_as::<BTreeMap<String, bool>>().unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Decode);

    assert_eq!(
        h.client
            .runs()
            .get(&run.run_id)
            .send()
            .await
            .unwrap()
            .run_id,
        run.run_id
    );
    assert_eq!(
        h.client.runs().list().limit(1).send().await.unwrap().len(),
        1
    );
    assert_eq!(
        h.client
            .runs()
            .list()
            .limit(0)
            .send()
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    let usage = h.client.runs().usage(&run.run_id).send().await.unwrap();
    assert!(usage.credits_consumed > 0);

    let schema = h
        .client
        .kits()
        .schema_by_code("A1B2C3D4")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.client.kits().schema(&schema.kit_id).send().await.unwrap(),
        schema
    );
    let version = schema.kit_version_id.clone().unwrap();
    assert_eq!(
        h.client
            .kits()
            .schema_by_version(&version)
            .send()
            .await
            .unwrap(),
        schema
    );
    let ids: Vec<String> = schema
        .bricks
        .iter()
        .filter_map(|b| b.brick_id.clone())
        .collect();
    let bricks = h.client.bricks().get(ids.clone()).send().await.unwrap();
    assert_eq!(bricks.len(), ids.len());
    assert_eq!(
        h.client
            .bricks()
            .get(Vec::<String>::new())
            .send()
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidRequest
    );
    let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
    assert_eq!(
        h.client.bricks().get(many).send().await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );

    let hook = h
        .client
        .webhook_endpoints()
        .upsert("http://127.0.0.1:9/hook")
        .send()
        .await
        .unwrap();
    assert!(hook.secret.expose_secret().starts_with("whsec_"));
    assert!(
        !format!("{hook:?}").contains(hook.secret.expose_secret()),
        "Debug never prints the secret"
    );
    assert_eq!(
        h.client
            .webhook_endpoints()
            .list()
            .send()
            .await
            .unwrap()
            .len(),
        1
    );
    h.client
        .webhook_endpoints()
        .delete(&hook.endpoint.id)
        .send()
        .await
        .unwrap();
    let gone = h
        .client
        .webhook_endpoints()
        .delete(&hook.endpoint.id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.status().map(|s| s.as_u16()), Some(404));
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_succeeds_on_retry() {
    let h = harness().await;
    let hook = h
        .client
        .webhook_endpoints()
        .upsert("http://127.0.0.1:9/hook")
        .send()
        .await
        .unwrap();
    h.emulator.control().drop_after_commit("delete_webhook", 1);
    h.client
        .webhook_endpoints()
        .delete(&hook.endpoint.id)
        .send()
        .await
        .unwrap();
    assert!(
        h.client
            .webhook_endpoints()
            .list()
            .send()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_caller_supplied_http_client_is_still_authenticated() {
    let h = harness().await;
    let client = semarize::Client::builder()
        .api_key(h.emulator.api_key())
        .base_url(h.emulator.base_url())
        .http_client(reqwest::Client::builder().build().unwrap())
        .build()
        .unwrap();
    client.runs().list().send().await.unwrap();
}

#[tokio::test]
async fn documented_limits_are_checked_before_anything_is_sent() {
    // Nothing listens on port 9: a request that went out would end as a transport error.
    let client = semarize::Client::builder()
        .api_key("smz_test_limits")
        .base_url("http://127.0.0.1:9")
        .build()
        .unwrap();
    let kit_id = "0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d40001";
    let refused = [
        client.kits().schema("not-a-uuid").send().await.unwrap_err(),
        client
            .kits()
            .schema_by_code("SHORT")
            .send()
            .await
            .unwrap_err(),
        client
            .kits()
            .schema_by_version("v1")
            .send()
            .await
            .unwrap_err(),
        client
            .runs()
            .create_with_kit_code("TOOLONGCODE")
            .transcript("x")
            .send()
            .await
            .unwrap_err(),
        client
            .runs()
            .create_with_kit_version("latest")
            .transcript("x")
            .send()
            .await
            .unwrap_err(),
    ];
    for error in refused {
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{error}");
    }
    let sent = client
        .kits()
        .schema(kit_id)
        .no_retries()
        .send()
        .await
        .unwrap_err();
    assert_ne!(
        sent.kind(),
        ErrorKind::InvalidRequest,
        "a valid id is sent: {sent}"
    );
}
