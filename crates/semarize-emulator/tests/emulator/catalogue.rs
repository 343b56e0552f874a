//! The fault catalogue: the README's fault table is rendered from it, every documented
//! request is accepted by a running emulator, and every library method it names exists.

use std::collections::BTreeSet;

use semarize_emulator::catalogue::{FaultClass, Trigger, markdown_table};
use semarize_emulator::{Config, Emulator, FaultAction, FaultSpec, ForcedOutcome, WebhookFaults};
use serde_json::Value;

use crate::support::{self, create_body};

const START: &str = "<!-- fault-catalogue:start (rendered from semarize_emulator::catalogue; a test checks it) -->\n";
const END: &str = "<!-- fault-catalogue:end -->";

/// `SEMARIZE_BLESS_README=1` rewrites the table instead of comparing it.
#[test]
fn the_readme_fault_table_is_the_catalogue() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme
        .find(START)
        .expect("the README has the fault-catalogue start marker")
        + START.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("the README has the fault-catalogue end marker");
    let rendered = markdown_table();
    if std::env::var_os("SEMARIZE_BLESS_README").is_some() {
        let updated = format!("{}{rendered}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        rendered,
        "the README's fault table differs from semarize_emulator::catalogue \
         (SEMARIZE_BLESS_README=1 cargo test -p semarize-emulator --test emulator catalogue)"
    );
}

#[tokio::test]
async fn every_documented_request_is_accepted() {
    let env = support::start(|s| s.run_latency_ms = 60_000).await;
    let run = env.create(&create_body(), None).await;
    let run_id = run.json()["run_id"].as_str().unwrap().to_owned();
    for class in FaultClass::ALL {
        let entry = class.entry();
        let Trigger::Http { method, path, body } = entry.trigger else {
            continue;
        };
        let path = path.replace("{id}", &run_id);
        let body: Value = serde_json::from_str(body).unwrap();
        let reply = env.control(method, &path, body).await;
        assert!(
            (200..300).contains(&reply.status),
            "{} ({method} {path}): {} {:?}",
            entry.name,
            reply.status,
            reply.body
        );
    }
}

#[tokio::test]
async fn the_expired_key_flag_makes_a_401() {
    let emulator = Emulator::start(Config {
        expired_api_keys: vec!["smz_test_expired".into()],
        ..Config::default()
    })
    .await
    .unwrap();
    let reply = reqwest::Client::new()
        .get(format!("{}/v1/runs", emulator.base_url()))
        .bearer_auth("smz_test_expired")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error"], "api_key_expired");
    emulator.shutdown().await;
}

#[tokio::test]
async fn every_library_method_the_catalogue_names_exists() {
    let env = support::start(|s| s.run_latency_ms = 60_000).await;
    let control = env.emulator.control();
    // Each method is called through `call!`, which records the name it called: the set
    // compared below is the calls made, not a list typed beside them.
    let mut called = BTreeSet::new();
    macro_rules! call {
        ($method:ident($($arg:expr),* $(,)?)) => {{
            called.insert(stringify!($method));
            let _ = control.$method($($arg),*);
        }};
    }
    call!(fail_next("create_run", 1, 503, None));
    call!(drop_after_commit("create_run", 1));
    call!(respond_raw("get_run", 1, Default::default()));
    call!(add_headers("get_run", 1, [("x-extra", "1")]));
    call!(set_latency("get_run", 0));
    call!(set_latency_every("get_run", 0, 100));
    call!(force_next_runs(ForcedOutcome::Cancel, 1));
    call!(force_run("no-such-run", ForcedOutcome::Cancel));
    call!(set_webhook_faults(WebhookFaults::default()));
    call!(update_settings(|_| {}));
    call!(add_api_key("smz_test_expired", true));
    control.inject(FaultSpec {
        operation: "get_run".into(),
        count: 1,
        action: FaultAction::DropAfterCommit,
    });
    let named: BTreeSet<&str> = FaultClass::ALL.iter().map(|c| c.entry().library).collect();
    assert_eq!(named, called);
}
