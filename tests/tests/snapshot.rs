//! Workflow 3, snapshot-testing responses with the `testing` feature: the README's example
//! (a run's output against the in-process emulator, volatile fields redacted), a listing,
//! and the same snapshot while the service adds fields and values this spec does not know.

use std::time::Duration;

#[tokio::test]
async fn snapshot_a_runs_output() {
    let test = semarize::testing::start_emulator().await;
    let outcome = test
        .client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Rep: What drove the urgency? Prospect: We are losing 3 hours a week. Our budget is $500.")
        .send_and_wait(Duration::from_secs(60))
        .await
        .unwrap();
    semarize::testing::redacted(|| insta::assert_json_snapshot!(outcome.run()));
}

#[tokio::test]
async fn redactions_cover_nested_and_top_level_fields() {
    let test = semarize::testing::start_emulator().await;
    let created = test
        .client
        .runs()
        .create_with_kit_code("QUALIFY1")
        .transcript("The CEO will decide.")
        .send()
        .await
        .unwrap();
    let outcome = created
        .wait(&test.client, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    let listed = test.client.runs().list().send().await.unwrap();
    assert_eq!(listed[0].run_id, outcome.run().run_id);
    semarize::testing::redacted(|| insta::assert_json_snapshot!("listed_runs", listed));
}

/// /v1 may add fields and enum values any day: a user's snapshot of a typed run keeps
/// decoding and stays stable (unknown fields are dropped by the types, an unknown run type
/// is kept as its string), with the same redactions.
#[tokio::test]
async fn a_snapshot_survives_additive_changes_of_the_service() {
    let test = semarize::testing::start_emulator().await;
    test.emulator
        .control()
        .update_settings(|s| s.additive = true)
        .unwrap();
    let outcome = test
        .client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Rep: What drove the urgency? Prospect: We are losing 3 hours a week. Our budget is $500.")
        .send_and_wait(Duration::from_secs(60))
        .await
        .unwrap();
    assert!(outcome.is_succeeded());
    assert_eq!(
        outcome
            .run()
            .run_type
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("scheduled")
    );
    semarize::testing::redacted(|| insta::assert_json_snapshot!("additive_run", outcome.run()));
}
