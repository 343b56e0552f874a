//! The fault catalogue: the README's fault table is rendered from it, every documented
//! request arms its fault on a running emulator and changes what a client then sees, and
//! every library method it names exists.

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

/// Each row of the README's fault table, armed by its documented control request on a
/// fresh emulator, changes what a client then sees the way the row says. A new row
/// without a check here fails this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogued_fault_changes_what_a_client_sees() {
    use std::time::{Duration, Instant};
    let body = create_body();
    for class in FaultClass::ALL {
        let entry = class.entry();
        let Trigger::Http {
            method,
            path,
            body: trigger,
        } = entry.trigger
        else {
            // A start-up flag: `the_expired_key_flag_makes_a_401`.
            continue;
        };
        // A run before the fault, for the rows whose path names one: still running there.
        let names_a_run = path.contains("{id}");
        let env = support::start(|s| {
            if names_a_run {
                s.run_latency_ms = 60_000;
            }
        })
        .await;
        let control = env.emulator.control();
        let key = env.key();
        let before = env.create(&body, None).await.json()["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        if !names_a_run {
            env.wait_terminal(&before).await;
        }
        let receiver = if entry.name.contains("deliveries") || entry.name == "thin events" {
            let receiver = support::Receiver::start().await;
            env.register(&receiver.url).await;
            Some(receiver)
        } else {
            None
        };
        let armed = env
            .control(
                method,
                &path.replace("{id}", &before),
                serde_json::from_str(trigger).unwrap(),
            )
            .await;
        assert!(
            (200..300).contains(&armed.status),
            "{}: {:?}",
            entry.name,
            armed.body
        );
        let name = entry.name;
        let run_path = format!("/v1/runs/{before}");
        match name {
            "error status" => {
                let mut statuses = Vec::new();
                for _ in 0..3 {
                    let (status, headers, _) = env
                        .raw(
                            "POST",
                            "/v1/runs",
                            Some(&body),
                            Some(&key),
                            &[("idempotency-key", "k-1")],
                        )
                        .await
                        .unwrap();
                    if status == 503 {
                        assert_eq!(headers["retry-after"], "1", "{name}");
                    }
                    statuses.push(status);
                }
                assert_eq!(
                    statuses,
                    [503, 503, 202],
                    "{name}: two, then the real answer"
                );
                assert_eq!(control.runs().len(), 2, "{name}: one run made by the key");
            }
            "accepted, then dropped" => {
                let sent = env
                    .raw(
                        "POST",
                        "/v1/runs",
                        Some(&body),
                        Some(&key),
                        &[("idempotency-key", "k-1")],
                    )
                    .await;
                assert!(sent.is_err(), "{name}: no answer: {sent:?}");
                assert_eq!(control.runs().len(), 2, "{name}: the run was made");
            }
            "any status, any body" => {
                let (status, headers, bytes) = env
                    .raw("GET", &run_path, None, Some(&key), &[])
                    .await
                    .unwrap();
                assert_eq!(status, 502, "{name}");
                assert!(String::from_utf8_lossy(&bytes).contains("<html>"), "{name}");
                assert_eq!(headers["retry-after"], "99999999", "{name}");
            }
            "a real answer, hostile headers" => {
                let (status, headers, bytes) = env
                    .raw("POST", "/v1/runs", Some(&body), Some(&key), &[])
                    .await
                    .unwrap();
                assert_eq!(status, 202, "{name}");
                let run: Value = serde_json::from_slice(&bytes).unwrap();
                assert!(run["run_id"].is_string(), "{name}: the real answer");
                assert_eq!(headers["retry-after"], "18446744073709551615", "{name}");
            }
            "accepted, answer garbled" => {
                let (status, _, bytes) = env
                    .raw("POST", "/v1/runs", Some(&body), Some(&key), &[])
                    .await
                    .unwrap();
                assert_eq!(
                    (status, bytes.as_slice()),
                    (202, &b"{not json"[..]),
                    "{name}"
                );
                assert_eq!(control.runs().len(), 2, "{name}: the run was made");
            }
            "truncated body" => {
                let sent = env.raw("GET", &run_path, None, Some(&key), &[]).await;
                assert!(sent.is_err(), "{name}: the body breaks off: {sent:?}");
            }
            "slow drip" => {
                let started = Instant::now();
                let (status, _, bytes) = env
                    .raw("GET", &run_path, None, Some(&key), &[])
                    .await
                    .unwrap();
                assert_eq!((status, bytes.as_slice()), (200, &b"{}"[..]), "{name}");
                assert!(started.elapsed() >= Duration::from_millis(500), "{name}");
            }
            "latency" => {
                let started = Instant::now();
                let (status, _, _) = env
                    .raw("GET", &run_path, None, Some(&key), &[])
                    .await
                    .unwrap();
                assert_eq!(status, 200, "{name}");
                assert!(started.elapsed() >= Duration::from_millis(200), "{name}");
            }
            "a share of slow calls" => {
                // Deterministic: the 100th creation after arming waits 2 s.
                for n in 1..=100 {
                    let started = Instant::now();
                    let (status, _, _) = env
                        .raw("POST", "/v1/runs", Some(&body), Some(&key), &[])
                        .await
                        .unwrap();
                    assert_eq!(status, 202, "{name}");
                    if n == 100 {
                        assert!(started.elapsed() >= Duration::from_secs(2), "{name}");
                    }
                }
            }
            "failing runs" | "cancelled runs" => {
                let (forced, code) = if name == "failing runs" {
                    (3, Some("run_request_failed"))
                } else {
                    (1, None)
                };
                for n in 0..forced + 1 {
                    let run_id = env.create(&body, None).await.json()["run_id"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let run = env.wait_terminal(&run_id).await;
                    let expected = match (n < forced, code) {
                        (false, _) => "succeeded",
                        (true, Some(_)) => "failed",
                        (true, None) => "cancelled",
                    };
                    assert_eq!(run["status"], expected, "{name}: run {n}");
                    if let (true, Some(code)) = (n < forced, code) {
                        assert_eq!(run["error_code"], code, "{name}");
                    }
                }
            }
            "a run ended now" => {
                let run = env.get(&run_path).await;
                assert_eq!(run.json()["status"], "failed", "{name}");
                assert_eq!(run.json()["error_message"], "injected", "{name}");
            }
            "duplicate deliveries"
            | "delayed deliveries"
            | "reordered deliveries"
            | "failed deliveries"
            | "thin events" => {
                let receiver = receiver.expect("registered above");
                let runs = if name == "reordered deliveries" { 3 } else { 1 };
                let mut ids = Vec::new();
                let started = Instant::now();
                for _ in 0..runs {
                    ids.push(
                        env.create(&body, None).await.json()["run_id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    );
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let wanted = match name {
                    "duplicate deliveries" => 2,
                    "reordered deliveries" => 3,
                    _ => 1,
                };
                env.eventually(name, || receiver.count() >= wanted).await;
                let all = receiver.all();
                let delivered_ids: Vec<String> = all
                    .iter()
                    .map(|d| d.json()["data"]["run_id"].as_str().unwrap().to_owned())
                    .collect();
                match name {
                    "duplicate deliveries" => {
                        assert_eq!(all[0].body, all[1].body, "{name}: the same delivery twice");
                    }
                    "delayed deliveries" => {
                        assert!(started.elapsed() >= Duration::from_millis(500), "{name}");
                    }
                    "reordered deliveries" => {
                        // Held and released out of order: the same three events, not in
                        // the order the runs were made.
                        assert_ne!(delivered_ids, ids, "{name}: out of order");
                        let (mut delivered, mut made) = (delivered_ids.clone(), ids.clone());
                        delivered.sort();
                        made.sort();
                        assert_eq!(delivered, made, "{name}: each once");
                    }
                    "failed deliveries" => {
                        // The receiver has the delivery before the emulator logs it.
                        let logged = || {
                            control
                                .deliveries()
                                .iter()
                                .filter(|d| d.run_id == ids[0])
                                .count()
                        };
                        env.eventually("three attempts logged", || logged() == 3)
                            .await;
                        let attempts: Vec<u32> = control
                            .deliveries()
                            .iter()
                            .filter(|d| d.run_id == ids[0])
                            .map(|d| d.attempt)
                            .collect();
                        assert_eq!(attempts, [1, 2, 3], "{name}: two failed, then sent");
                    }
                    _ => {
                        assert!(
                            all[0].json()["data"].get("output").is_none(),
                            "{name}: the event is thin: {}",
                            all[0].json()
                        );
                    }
                }
            }
            "rate limits" => {
                let statuses: Vec<u16> = futures::future::join_all(
                    (0..3).map(|_| env.raw("POST", "/v1/runs", Some(&body), Some(&key), &[])),
                )
                .await
                .into_iter()
                .map(|sent| sent.unwrap().0)
                .collect();
                assert!(statuses.contains(&429), "{name}: {statuses:?}");
            }
            "additive changes" => {
                let run = env.get(&run_path).await;
                assert!(
                    run.json()
                        .get(semarize_emulator::additive::ADDED_FIELD)
                        .is_some(),
                    "{name}: {}",
                    run.json()
                );
            }
            other => panic!("no client-side check for the catalogue's {other:?}: add one"),
        }
        env.emulator.shutdown().await;
    }
}
