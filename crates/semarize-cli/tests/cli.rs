//! Every command against the emulator, snapshot-tested (ids and times redacted), and the
//! clear errors of bad flags and bad files.

use semarize::runtime::{Clock, SystemClock};
use std::path::Path;
use std::process::{Command, Output};

use semarize_emulator::{Config, Emulator, Settings};
use serde_json::Value;

#[path = "common/child.rs"]
mod child;
#[path = "common/emulated.rs"]
mod emulated;
use child::{Child, ChildLines, RunToEnd};
use emulated::{emulator, temp};

struct Cli<'a> {
    emulator: &'a Emulator,
}

impl Cli<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args(args)
            .env("SEMARIZE_API_KEY", self.emulator.api_key())
            .env("SEMARIZE_BASE_URL", self.emulator.base_url())
            .run_to_end()
    }

    /// Runs with `--output json`, expects success, returns the JSON printed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON: {e}"))
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A JSON snapshot with the same redactions users get from `semarize::testing`.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        semarize::testing::redacted(|| insta::assert_json_snapshot!($name, $value))
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_kits_and_bricks_commands() {
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let dir = temp("runs");
    let transcript = dir.join("call.txt");
    std::fs::write(
        &transcript,
        "Rep: What drove the urgency? Prospect: We are losing 3 hours a week. Budget is $500.",
    )
    .unwrap();
    let t = transcript.to_str().unwrap();

    let done = cli.json(&[
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--transcript",
        t,
        "--wait",
        "--idempotency-key",
        "cli-1",
    ]);
    snapshot!("runs_create_wait", &done);
    let run_id = done["run_id"].as_str().unwrap().to_owned();
    let again = cli.json(&[
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--transcript",
        t,
        "--idempotency-key",
        "cli-1",
    ]);
    assert_eq!(
        again["run_id"],
        run_id.as_str(),
        "the same key returns the same run"
    );
    let sync = cli.json(&[
        "runs",
        "create",
        "--kit-version",
        "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101",
        "--input",
        r#"{"transcript": "I love it, great work"}"#,
        "--mode",
        "sync",
    ]);
    snapshot!("runs_create_sync_pinned", &sync);

    snapshot!("runs_get", &cli.json(&["runs", "get", &run_id]));
    // The list holds every run of the workspace (two so far), and `--limit` cuts it from
    // the same end.
    let run_ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("a JSON array")
            .iter()
            .map(|run| run["run_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = run_ids(&cli.json(&["runs", "list", "--limit", "10"]));
    let mut created: Vec<String> = emulator
        .control()
        .runs()
        .iter()
        .map(|run| run.run_id.to_string())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    created.sort();
    assert_eq!(sorted, created, "every run, once");
    assert_eq!(
        run_ids(&cli.json(&["runs", "list", "--limit", "1"])),
        listed[..1],
        "--limit 1 is the first of the list"
    );
    snapshot!("runs_wait", &cli.json(&["runs", "wait", &run_id]));
    snapshot!("runs_usage", &cli.json(&["runs", "usage", &run_id]));
    let schema = cli.json(&["kits", "schema", "--kit-code", "A1B2C3D4"]);
    snapshot!("kits_schema", &schema);
    let kit_id = schema["kit_id"].as_str().unwrap();
    assert_eq!(cli.json(&["kits", "schema", "--kit-id", kit_id]), schema);
    let ids: Vec<&str> = schema["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["brick_id"].as_str().unwrap())
        .collect();
    snapshot!("bricks", &cli.json(&["bricks", &ids.join(",")]));

    // Table output for people.
    let table = cli.run(&["runs", "get", &run_id]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.starts_with("FIELD") && text.contains("brick pain_is_specific"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_commands() {
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let dir = temp("webhooks");
    let hook = cli.json(&["webhooks", "set", "http://127.0.0.1:9/hook"]);
    snapshot!("webhooks_set", &hook);
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert_eq!(cli.json(&["webhooks", "list"]).as_array().unwrap().len(), 1);

    // A saved delivery verifies with the secret, and not with another.
    let body = br#"{"id":"evt_1","delivery_id":"dlv_1","type":"run.succeeded","created_at":"2026-02-24T12:05:00Z","data":{"run_id":"r1","status":"succeeded"}}"#;
    let timestamp = SystemClock.now_utc().timestamp().to_string();
    let signature = semarize::webhooks::sign(&secret, &timestamp, body);
    std::fs::write(dir.join("body.json"), body).unwrap();
    std::fs::write(
        dir.join("headers.txt"),
        format!(
            "Semarize-Signature: {signature}\nSemarize-Timestamp: {timestamp}\nSemarize-Event-Id: evt_1\nSemarize-Delivery-Id: dlv_1\nSemarize-Event-Type: run.succeeded\n"
        ),
    )
    .unwrap();
    let headers = dir.join("headers.txt");
    let body_path = dir.join("body.json");
    let verify = |secret: &str| {
        cli.run(&[
            "webhooks",
            "verify",
            "--secret",
            secret,
            "--headers",
            headers.to_str().unwrap(),
            "--body",
            body_path.to_str().unwrap(),
            "--output",
            "json",
        ])
    };
    let ok = verify(&secret);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let event: Value = serde_json::from_slice(&ok.stdout).unwrap();
    snapshot!("webhooks_verify", &event);
    let bad = verify("whsec_wrong");
    assert_eq!(bad.status.code(), Some(6));
    assert!(
        stderr(&bad).contains("does not verify: no signature matches"),
        "{}",
        stderr(&bad)
    );

    let id = hook["id"].as_str().unwrap();
    assert!(cli.run(&["webhooks", "delete", id]).status.success());
    let gone = cli.run(&["webhooks", "delete", id]);
    assert_eq!(gone.status.code(), Some(3));
    assert!(
        stderr(&gone).contains("[code: webhook_not_found]"),
        "{}",
        stderr(&gone)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_commands() {
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let dir = temp("batch");
    let input = dir.join("in.jsonl");
    std::fs::write(&input, "{\"id\": \"a\", \"transcript\": \"We are losing hours.\"}\n{\"id\": \"b\", \"transcript\": \"Budget is $500.\"}\nnot json\n").unwrap();
    let ledger = dir.join("ledger.sqlite");
    let out = dir.join("out.csv");
    let run = cli.run(&[
        "batch",
        "run",
        input.to_str().unwrap(),
        "--kit",
        "A1B2C3D4",
        "--ledger",
        ledger.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
        "--output",
        "json",
    ]);
    // The README: exit 1 when batch records fail; a rejected line is such a record.
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("rejected input line 3: line 3: not JSON"),
        "{}",
        stderr(&run)
    );
    assert!(
        stderr(&run).contains("1 of 3 records did not succeed (0 failed, 0 cancelled, 1 rejected)"),
        "{}",
        stderr(&run)
    );
    let counts: Value = serde_json::from_slice(&run.stdout).unwrap();
    snapshot!("batch_run_counts", &counts);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert_eq!(csv.lines().count(), 4);

    let status = cli.json(&["batch", "status", "--ledger", ledger.to_str().unwrap()]);
    assert!(
        status["credits"].as_i64().unwrap() > 0,
        "credits from the usage endpoint: {status}"
    );
    assert_eq!(status["credits_unknown"], 0);
    snapshot!("batch_status", &status);

    let replay = cli.run(&[
        "batch",
        "replay",
        "--ledger",
        ledger.to_str().unwrap(),
        "--ids",
        "a",
        "--output",
        "json",
    ]);
    assert_eq!(
        replay.status.code(),
        Some(1),
        "the ledger still holds the rejected line: {}",
        stderr(&replay)
    );
    let replay: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(replay["states"]["succeeded"], 2);
    assert_eq!(
        emulator.control().runs().len(),
        3,
        "the replayed record got one new run"
    );

    // Every record succeeded: exit 0.
    let clean_input = dir.join("clean.jsonl");
    std::fs::write(
        &clean_input,
        "{\"id\": \"c\", \"transcript\": \"We are losing hours.\"}\n",
    )
    .unwrap();
    let clean_ledger = dir.join("clean.sqlite");
    let clean = cli.run(&[
        "batch",
        "run",
        clean_input.to_str().unwrap(),
        "--kit",
        "A1B2C3D4",
        "--ledger",
        clean_ledger.to_str().unwrap(),
        "--out",
        dir.join("clean.csv").to_str().unwrap(),
    ]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_and_files_are_clear_errors() {
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let cases: &[(&[&str], i32, &str)] = &[
        (&["runs", "list", "--limit", "0"], 2, "0 is not in 1..=100"),
        (
            &["runs", "list", "--request-timeout", "0"],
            2,
            "0 is not in (0, 3600] seconds",
        ),
        (
            &["runs", "list", "--request-timeout", "soon"],
            2,
            "\"soon\" is not a number of seconds",
        ),
        (&["runs", "create", "--kit", "A1B2C3D4"], 2, "--transcript"),
        (
            &[
                "runs",
                "create",
                "--kit",
                "A1B2C3D4",
                "--transcript",
                "/nonexistent/t.txt",
            ],
            2,
            "cannot read transcript file /nonexistent/t.txt",
        ),
        (
            &["runs", "create", "--kit", "A1B2C3D4", "--input", "[1]"],
            2,
            "--input must be a JSON object",
        ),
        (
            &[
                "runs",
                "create",
                "--kit",
                "NOPE0000",
                "--input",
                "{\"transcript\": \"x\"}",
            ],
            3,
            "[code: kit_not_found] (check the Kit code or version id)",
        ),
        (
            &[
                "runs",
                "create",
                "--kit",
                "A1B2C3D4",
                "--input",
                "{\"transcript\": \"x\"}",
                "--idempotency-key",
                &"k".repeat(255),
            ],
            2,
            "at most 254",
        ),
        (
            &["runs", "get", "00000000-0000-4000-8000-000000000000"],
            3,
            "[code: run_not_found]",
        ),
        (
            &[
                "batch",
                "run",
                "/nonexistent/in.jsonl",
                "--kit",
                "A1B2C3D4",
                "--ledger",
                "/tmp/x.sqlite",
                "--out",
                "/tmp/x.jsonl",
            ],
            2,
            "cannot read input file /nonexistent/in.jsonl",
        ),
        (
            &[
                "batch",
                "status",
                "--ledger",
                "/nonexistent/dir/ledger.sqlite",
            ],
            2,
            "no ledger at /nonexistent/dir/ledger.sqlite: no such file",
        ),
        (
            &[
                "batch",
                "run",
                "/dev/null",
                "--kit",
                "A1B2C3D4",
                "--ledger",
                "/nonexistent/dir/ledger.sqlite",
                "--out",
                "/tmp/x.jsonl",
            ],
            2,
            "cannot open the ledger /nonexistent/dir/ledger.sqlite",
        ),
        (&["kits", "schema"], 2, "--kit-code"),
        (&["frobnicate"], 2, "unrecognized subcommand"),
    ];
    for (args, code, message) in cases {
        let output = cli.run(args);
        assert_eq!(
            output.status.code(),
            Some(*code),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let no_key = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args(["runs", "list"])
        .env_remove("SEMARIZE_API_KEY")
        .run_to_end();
    assert_eq!(no_key.status.code(), Some(2));
    assert!(stderr(&no_key).contains("no API key: pass --api-key or set SEMARIZE_API_KEY"));
    let bad_key = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args(["runs", "list", "--api-key", "smz_test_nope"])
        .env("SEMARIZE_BASE_URL", emulator.base_url())
        .run_to_end();
    assert_eq!(bad_key.status.code(), Some(3));
    assert!(
        stderr(&bad_key).contains("[code: invalid_api_key] (check --api-key / SEMARIZE_API_KEY)")
    );
    assert!(
        !stderr(&bad_key).contains("smz_test_nope"),
        "the key is never printed"
    );
}

#[test]
fn demo_needs_no_key_and_no_network() {
    let dir = temp("demo");
    let output = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .env_remove("SEMARIZE_API_KEY")
        .env_remove("SEMARIZE_BASE_URL")
        .run_to_end();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    // It says which Kit ran and what each Brick measures.
    assert!(
        text.contains("through the Kit A1B2C3D4 \"Discovery call\""),
        "{text}"
    );
    assert!(
        text.contains("budget_mentioned  true when the call mentions budget"),
        "{text}"
    );
    // Every sample call has its row, and all of them succeeded.
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("call-")).collect();
    assert_eq!(rows.len(), 6, "{text}");
    assert!(rows.iter().all(|r| r.contains("succeeded")), "{text}");
    assert!(text.contains("6 of 6 calls succeeded."), "{text}");
    // --dir keeps the files and says where they are.
    let results = Path::new(&dir).join("results.jsonl");
    assert!(
        text.contains(&format!("Results: {}", results.display())),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&results).unwrap().lines().count(),
        6
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The README: the demo "exits 1 unless every call succeeded". Its ledger in `--dir` is
/// filled first by `batch run` over the same sample against an emulator that fails one
/// run; the demo then finds that call failed (a failed record is not run again) and must
/// say so and exit 1, while the other calls still count as succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_exits_1_unless_every_call_succeeded() {
    let emulator = emulator().await;
    emulator.control().force_next_runs(
        semarize_emulator::ForcedOutcome::Fail {
            error_code: "transcript_unreadable".into(),
            error_message: None,
            error_user_message: None,
        },
        1,
    );
    let dir = temp("demo-failed");
    let input = dir.join("calls.jsonl");
    std::fs::write(&input, include_str!("../demo/calls.jsonl")).unwrap();
    let cli = Cli {
        emulator: &emulator,
    };
    let batch = cli.run(&[
        "batch",
        "run",
        input.to_str().unwrap(),
        "--kit",
        "A1B2C3D4",
        "--ledger",
        dir.join("ledger.sqlite").to_str().unwrap(),
        "--out",
        dir.join("results.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(batch.status.code(), Some(1), "{}", stderr(&batch));

    let demo = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .env_remove("SEMARIZE_API_KEY")
        .env_remove("SEMARIZE_BASE_URL")
        .run_to_end();
    let text = String::from_utf8_lossy(&demo.stdout);
    assert_eq!(demo.status.code(), Some(1), "{text}{}", stderr(&demo));
    assert!(text.contains("5 of 6 calls succeeded."), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("call-"))
            .filter(|l| l.contains("failed"))
            .count(),
        1,
        "{text}"
    );
    assert!(
        stderr(&demo).contains("the demo did not complete: 5 of 6 calls succeeded"),
        "{}",
        stderr(&demo)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn demo_removes_its_temporary_folder_unless_kept() {
    let tmp = temp("demo-tmp");
    let demo = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_semarize"))
            .arg("demo")
            .args(extra)
            .env("TMPDIR", &tmp)
            .env_remove("SEMARIZE_API_KEY")
            .run_to_end();
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read_dir(&tmp).unwrap().count()
    };
    assert_eq!(demo(&[]), 0, "nothing is left behind");
    assert_eq!(demo(&["--keep"]), 1, "--keep keeps the folder");
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn demo_json_output_is_one_document() {
    let dir = temp("demo-json");
    let output = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args(["demo", "--dir", dir.to_str().unwrap(), "--output", "json"])
        .env_remove("SEMARIZE_API_KEY")
        .run_to_end();
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(value["kit_code"], "A1B2C3D4");
    assert_eq!(value["counts"]["states"]["succeeded"], 6);
    assert_eq!(value["results"].as_array().unwrap().len(), 6);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_and_webhooks_listen_commands() {
    use std::process::Stdio;

    // `semarize emulator` serves, and seeds the global key.
    let mut emulator = Child(
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args([
                "emulator",
                "--addr",
                "127.0.0.1:0",
                "--api-key",
                "smz_test_from_cli",
            ])
            .env_remove("SEMARIZE_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = ChildLines::new(emulator.0.stdout.take().unwrap());
    let first = out.until("its address", |l| l.starts_with("listening on "));
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let listed = reqwest::Client::new()
        .get(format!("{url}/v1/runs"))
        .bearer_auth("smz_test_from_cli")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    drop(emulator);

    // `semarize webhooks listen` verifies, dedupes and prints events.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listen = Child(
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args([
                "webhooks",
                "listen",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--secret",
                "whsec_cli",
                "--output",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    ChildLines::new(listen.0.stderr.take().unwrap())
        .until("the listener", |l| l.starts_with("listening on "));
    let body = br#"{"id":"evt_9","delivery_id":"dlv_9","type":"run.cancelled","created_at":"2026-02-24T12:05:00Z","data":{"run_id":"r9","status":"cancelled"}}"#;
    let marker = br#"{"id":"evt_10","delivery_id":"dlv_10","type":"run.cancelled","created_at":"2026-02-24T12:05:00Z","data":{"run_id":"r10","status":"cancelled"}}"#;
    let timestamp = SystemClock.now_utc().timestamp().to_string();
    let send = |signature: String| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/hook"))
            .header("semarize-signature", signature)
            .header("semarize-timestamp", &timestamp)
            .header("semarize-event-id", "evt_9")
            .header("semarize-delivery-id", "dlv_9")
            .header("semarize-event-type", "run.cancelled")
            .body(body.to_vec())
            .send()
    };
    let accepted = send(semarize::webhooks::sign("whsec_cli", &timestamp, body))
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        send(semarize::webhooks::sign("whsec_other", &timestamp, body))
            .await
            .unwrap()
            .status(),
        401
    );
    // The same delivery again (a retry): acknowledged, not printed twice.
    let again = send(semarize::webhooks::sign("whsec_cli", &timestamp, body))
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "a duplicate is acknowledged");
    // Another event marks the end of what the duplicate could have printed.
    let marker_sent = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hook"))
        .header(
            "semarize-signature",
            semarize::webhooks::sign("whsec_cli", &timestamp, marker),
        )
        .header("semarize-timestamp", &timestamp)
        .header("semarize-event-id", "evt_10")
        .header("semarize-delivery-id", "dlv_10")
        .header("semarize-event-type", "run.cancelled")
        .body(marker.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(marker_sent.status(), 200);
    let out = ChildLines::new(listen.0.stdout.take().unwrap());
    let printed = out.through("the marker event", |l| l.contains("\"run_id\": \"r10\""));
    let r9 = printed
        .iter()
        .filter(|l| l.contains("\"run_id\": \"r9\""))
        .count();
    assert_eq!(
        r9,
        1,
        "the duplicate was not printed again:\n{}",
        printed.join("\n")
    );
}

/// Exit codes follow the HTTP status whatever the body; errors keep the status and the
/// Idempotency-Key; long or escape-laden server text never breaks the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_keep_their_status_and_never_break_the_output() {
    use semarize_emulator::RawResponse;
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let html = |status: u16| RawResponse {
        status,
        body: format!("<html><h1>{status}</h1></html>"),
        ..RawResponse::default()
    };

    emulator.control().respond_raw("list_runs", 1, html(401));
    let out = cli.run(&["runs", "list"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));

    // A redirect to another origin is not followed: exit 2 (check `--base-url`), once.
    emulator.control().respond_raw(
        "list_runs",
        1,
        RawResponse {
            status: 307,
            headers: [(
                "location".to_owned(),
                "https://elsewhere.example/v1/runs".to_owned(),
            )]
            .into(),
            ..RawResponse::default()
        },
    );
    let out = cli.run(&["runs", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("redirected"), "{}", stderr(&out));
    assert!(stderr(&out).contains("attempts: 1"), "{}", stderr(&out));

    // A create that meets 503s until retries stop: exit 4, and the key to retry with.
    emulator.control().respond_raw("create_run", 10, html(503));
    let out = cli.run(&[
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--input",
        r#"{"transcript": "Rep: hi"}"#,
        "--idempotency-key",
        "hostile-key-1",
    ]);
    emulator.control().clear_faults();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(err.contains("idempotency_key: hostile-key-1"), "{err}");
    assert!(!err.contains("details above"), "{err}");

    // A run failing with a 70,000-character message full of escapes: a table, not a panic.
    let created = cli.json(&[
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--input",
        r#"{"transcript": "Rep: hi"}"#,
    ]);
    let run_id = created["run_id"].as_str().unwrap().to_owned();
    emulator
        .control()
        .force_run(
            &run_id,
            semarize_emulator::ForcedOutcome::Fail {
                error_code: "run_request_failed".into(),
                error_message: Some(format!("\u{1b}[2J{}", "x".repeat(70_000))),
                error_user_message: None,
            },
        )
        .unwrap();
    let out = cli.run(&["runs", "get", &run_id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(!table.contains('\u{1b}'), "escape sequences stripped");
    // Every cell of the VALUE column is cut at 120 characters (the README's promise), the
    // 70,000-character message among them.
    let value_column = table
        .lines()
        .next()
        .and_then(|header| header.find("VALUE"))
        .expect("a VALUE column");
    let cell = |line: &str| line.chars().skip(value_column).collect::<String>();
    assert!(
        table.lines().all(|l| cell(l).chars().count() <= 120),
        "cells cut at 120:\n{table}"
    );
    let message = table
        .lines()
        .find(|l| l.starts_with("error_message"))
        .map(cell)
        .expect("the message is shown");
    assert_eq!(message.chars().count(), 120, "{message}");
    assert!(message.ends_with('…'), "{message}");
    let json = cli.json(&["runs", "get", &run_id]);
    assert_eq!(
        json["error_message"].as_str().unwrap().len(),
        70_004,
        "JSON output keeps the whole value"
    );
}

/// `--mode sync` waits for the outcome: a 202 fallback continues by polling, and a failed
/// run exits 1 even without --wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_mode_polls_after_a_fallback_and_exits_by_outcome() {
    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 300,
            sync_wait_ms: 50,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let cli = Cli {
        emulator: &emulator,
    };
    let args = [
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--input",
        r#"{"transcript": "Rep: hi"}"#,
        "--mode",
        "sync",
    ];
    let done = cli.json(&args);
    assert_eq!(done["status"], "succeeded", "polled to the end: {done}");
    // The run outlasted the sync wait: the service answered 202 (the fallback), once, and
    // the command polled that same run; no second run was created.
    let control = emulator.control();
    let attempts = control.create_attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [202],
        "one creation, answered by the 202 fallback"
    );
    assert_eq!(control.runs().len(), 1, "one run only");
    assert_eq!(done["run_id"], control.runs()[0].run_id.to_string());

    // Exit 1 for each way a run can end without success.
    for (outcome, word) in [
        (semarize_emulator::ForcedOutcome::Cancel, "cancelled"),
        (
            semarize_emulator::ForcedOutcome::Fail {
                error_code: "transcript_unreadable".into(),
                error_message: None,
                error_user_message: None,
            },
            "failed",
        ),
    ] {
        control.force_next_runs(outcome, 1);
        let out = cli.run(&args);
        assert_eq!(out.status.code(), Some(1), "{word}: {}", stderr(&out));
        assert!(stderr(&out).contains(word), "{}", stderr(&out));
    }
}

/// Exit 4 for each kind of "unavailable" the README lists beside the 5xx (tested above),
/// each only after the client's five attempts: a 408 and a 429 (HTML bodies, the 429 with
/// a Retry-After), no connection at all, an answer that does not decode, and answers
/// slower than `--request-timeout`. The five commands run side by side, each on an
/// operation of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_unavailable_exits_4_after_the_retries() {
    use semarize_emulator::RawResponse;
    let emulator = emulator().await;
    let control = emulator.control();
    let html = |status: u16, headers: &[(&str, &str)]| RawResponse {
        status,
        body: format!("<html><h1>{status}</h1></html>"),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..RawResponse::default()
    };
    control.respond_raw("list_runs", 10, html(408, &[]));
    control.respond_raw(
        "get_kit_schema_by_query",
        10,
        html(429, &[("retry-after", "1")]),
    );
    control.respond_raw(
        "get_run",
        10,
        RawResponse {
            status: 200,
            body: "{not json".into(),
            ..RawResponse::default()
        },
    );
    // Answers slower than the command's --request-timeout.
    control.set_latency("get_run_usage", 2_000);
    // A port nothing listens on (bound, then freed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = format!("http://{closed}");
    let run_id = "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000999";
    let cases: [(&str, Vec<&str>, &str); 5] = [
        ("408", vec!["runs", "list"], "HTTP 408"),
        (
            "429",
            vec!["kits", "schema", "--kit-code", "A1B2C3D4"],
            "HTTP 429",
        ),
        (
            "undecodable",
            vec!["runs", "get", run_id],
            "does not match the spec",
        ),
        (
            "no connection",
            vec!["runs", "list", "--base-url", &nowhere],
            "cannot connect",
        ),
        (
            "time-out",
            vec!["runs", "usage", run_id, "--request-timeout", "0.2"],
            "no complete response within 200ms",
        ),
    ];
    let cli = Cli {
        emulator: &emulator,
    };
    std::thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(name, args, says)| {
                let cli = &cli;
                scope.spawn(move || (name, says, cli.run(args)))
            })
            .collect();
        for run in runs {
            let (name, says, out) = run.join().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(4), "{name}: {err}");
            assert!(err.contains(says), "{name}: {err}");
            assert!(err.contains("attempts: 5"), "{name}: retried first: {err}");
        }
    });
}

/// `batch run --webhook-listen`: an endpoint the workspace already has elsewhere is kept
/// (the run refuses, naming `--replace-webhook`, before creating anything); with
/// `--replace-webhook` the run says which URL it replaced and registers its receiver at
/// `--webhook-url`, every record is completed by a delivered webhook, and off a terminal
/// a plain progress line appears every two seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_run_with_webhook_listen_guards_the_endpoint_and_completes_by_webhook() {
    let emulator = Emulator::start(Config {
        settings: Settings {
            // Long enough for the two-second progress line to appear.
            run_latency_ms: 2_500,
            allow_http_webhooks: true,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let elsewhere = "http://127.0.0.1:9/elsewhere";
    client
        .webhook_endpoints()
        .upsert(elsewhere)
        .send()
        .await
        .unwrap();
    let cli = Cli {
        emulator: &emulator,
    };
    let dir = temp("webhook-listen");
    let input = dir.join("in.jsonl");
    let records = 4;
    let text: String = (1..=records)
        .map(|i| format!("{{\"id\": \"w{i}\", \"transcript\": \"Call {i}: losing hours.\"}}\n"))
        .collect();
    std::fs::write(&input, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // The public address a proxy would forward: here the listener's own path.
    let public = format!("http://127.0.0.1:{port}/webhooks/semarize");
    let (ledger, out) = (dir.join("ledger.sqlite"), dir.join("out.jsonl"));
    let batch = |extra: &[&str]| {
        let mut args = vec![
            "batch",
            "run",
            input.to_str().unwrap(),
            "--kit",
            "A1B2C3D4",
            "--ledger",
            ledger.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--webhook-listen",
            &listen,
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        cli.run(&args)
    };

    let refused = batch(&[]);
    assert_ne!(refused.status.code(), Some(0), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--replace-webhook") && stderr(&refused).contains(elsewhere),
        "{}",
        stderr(&refused)
    );
    assert!(emulator.control().runs().is_empty(), "nothing was created");
    let endpoints = client.webhook_endpoints().list().send().await.unwrap();
    assert_eq!(endpoints[0].url, elsewhere, "the endpoint was kept");

    // A first poll only after 600 s: within the command's deadline only webhooks can
    // complete the records.
    let done = batch(&[
        "--replace-webhook",
        "--webhook-url",
        &public,
        "--webhook-grace",
        "600",
    ]);
    let err = stderr(&done);
    assert_eq!(done.status.code(), Some(0), "{err}");
    assert!(
        err.contains("replaced the workspace's webhook endpoint") && err.contains(elsewhere),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("progress: ") && l.contains(" done, in flight ")),
        "a plain progress line off a terminal: {err}"
    );
    let endpoints = client.webhook_endpoints().list().send().await.unwrap();
    assert_eq!(endpoints[0].url, public, "--webhook-url was registered");
    let counts: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(counts["states"]["succeeded"], records, "{counts}");
    let control = emulator.control();
    let runs: std::collections::BTreeSet<String> = control
        .runs()
        .iter()
        .map(|r| r.run_id.to_string())
        .collect();
    let delivered: std::collections::BTreeSet<String> = control
        .deliveries()
        .into_iter()
        .filter(|d| d.url == public && d.status == Some(200))
        .map(|d| d.run_id)
        .collect();
    assert_eq!(
        delivered, runs,
        "every run's webhook was delivered and acknowledged"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Exit 5: a wait that reaches its maximum; the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_reaches_its_maximum_exits_5() {
    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 600_000,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let cli = Cli {
        emulator: &emulator,
    };
    let created = cli.json(&[
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--input",
        r#"{"transcript": "We are losing hours."}"#,
    ]);
    let run_id = created["run_id"].as_str().unwrap();
    let out = cli.run(&["runs", "wait", run_id, "--max-wait", "1"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains(run_id), "{}", stderr(&out));
}

/// `kits schema --kit-version-id` pins a version: SENTIMNT v1 has one Brick, the
/// current version two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kits_schema_by_version_pins_that_version() {
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let v1 = "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101";
    let pinned = cli.json(&["kits", "schema", "--kit-version-id", v1]);
    assert_eq!(pinned["kit_version_id"], v1);
    assert_eq!(pinned["bricks"].as_array().unwrap().len(), 1);
    let current = cli.json(&["kits", "schema", "--kit-code", "SENTIMNT"]);
    assert_eq!(current["bricks"].as_array().unwrap().len(), 2);
}

/// `batch replay --failed` runs failed records again under a new Idempotency-Key; once
/// they succeed the command exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_replay_failed_runs_failed_records_again() {
    let emulator = emulator().await;
    let cli = Cli {
        emulator: &emulator,
    };
    let dir = temp("replay-failed");
    let input = dir.join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"transcript\": \"We are losing hours.\"}\n{\"id\": \"b\", \"transcript\": \"Budget is $500.\"}\n",
    )
    .unwrap();
    let ledger = dir.join("ledger.sqlite");
    emulator.control().force_next_runs(
        semarize_emulator::ForcedOutcome::Fail {
            error_code: "run_request_failed".into(),
            error_message: None,
            error_user_message: None,
        },
        1,
    );
    let first = cli.run(&[
        "batch",
        "run",
        input.to_str().unwrap(),
        "--kit",
        "A1B2C3D4",
        "--ledger",
        ledger.to_str().unwrap(),
        "--out",
        dir.join("out.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let replay = cli.run(&[
        "batch",
        "replay",
        "--ledger",
        ledger.to_str().unwrap(),
        "--failed",
        "--output",
        "json",
    ]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
    let counts: Value = serde_json::from_slice(&replay.stdout).unwrap();
    assert_eq!(counts["states"]["succeeded"], 2);
    let runs = emulator.control().runs();
    assert_eq!(runs.len(), 3, "one new run for the failed record only");
    let keys: std::collections::BTreeSet<_> =
        runs.iter().map(|r| r.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), 3, "the replay used a new Idempotency-Key");
    std::fs::remove_dir_all(&dir).ok();
}

/// `--base-url` and `--api-key` as flags (no environment), and `-vv` logs the call at
/// debug level without ever printing the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_instead_of_the_environment_and_verbose_logging() {
    let emulator = emulator().await;
    let output = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args([
            "-vv",
            "--base-url",
            emulator.base_url(),
            "--api-key",
            emulator.api_key(),
            "runs",
            "list",
        ])
        .env_remove("SEMARIZE_API_KEY")
        .env_remove("SEMARIZE_BASE_URL")
        .env_remove("RUST_LOG")
        .run_to_end();
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(log.contains("DEBUG"), "-vv logs at debug level: {log}");
    assert!(log.contains("list_runs"), "the call is named: {log}");
    assert!(!log.contains(emulator.api_key()), "never the key: {log}");

    let quiet = Command::new(env!("CARGO_BIN_EXE_semarize"))
        .args(["--base-url", emulator.base_url(), "runs", "list"])
        .env("SEMARIZE_API_KEY", emulator.api_key())
        .env_remove("RUST_LOG")
        .run_to_end();
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(
        !stderr(&quiet).contains("DEBUG") && !stderr(&quiet).contains("INFO"),
        "without -v only warnings: {}",
        stderr(&quiet)
    );
}

/// Only `batch run` creates a ledger: a receiver, `batch status` and `batch replay` in
/// front of a SQLite file that is not there, or that holds no ledger, exit 2 with one
/// line and create nothing (no file, no lock file, the other file unchanged); a ledger
/// database that cannot be reached exits 4, like an unavailable API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_is_missing_exits_2_and_one_unreachable_exits_4() {
    let dir = temp("missing-ledger");
    let missing = dir.join("typo.sqlite");
    let not_a_ledger = dir.join("notes.sqlite");
    std::fs::write(&not_a_ledger, "not a ledger").unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args(args)
            .env("SEMARIZE_WEBHOOK_SECRET", "whsec_test")
            .env("SEMARIZE_API_KEY", "smz_test_unused")
            .env("SEMARIZE_BASE_URL", "http://127.0.0.1:9")
            .stdin(std::process::Stdio::null())
            .run_to_end()
    };
    for ledger in [&missing, &not_a_ledger] {
        let ledger = ledger.to_str().unwrap();
        for args in [
            &[
                "webhooks",
                "listen",
                "--addr",
                "127.0.0.1:0",
                "--ledger",
                ledger,
            ][..],
            &["batch", "status", "--ledger", ledger],
            &["batch", "replay", "--ledger", ledger, "--failed"],
        ] {
            let output = run(args);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{args:?}: {}",
                stderr(&output)
            );
            let text = stderr(&output);
            assert!(
                text.contains(&format!("no ledger at {ledger}")),
                "{args:?}: {text}"
            );
            assert_eq!(text.trim().lines().count(), 1, "{args:?}: one line: {text}");
        }
    }
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.sqlite"], "nothing was created");
    assert_eq!(std::fs::read(&not_a_ledger).unwrap(), b"not a ledger");

    // A PostgreSQL server that is not there: unavailable, not a usage error.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("postgres://u:hunter2@127.0.0.1:{port}/ledger?sslmode=disable");
    let output = run(&["batch", "status", "--ledger", &unreachable]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cannot reach the ledger"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("hunter2"), "{}", stderr(&output));
    std::fs::remove_dir_all(&dir).ok();
}

/// A signal drains a batch: nothing more is claimed, the requests in flight finish,
/// results and the summary are written, and it exits 128 + the signal's number (SIGINT
/// 130, SIGTERM 143); running it again resumes with no duplicate. A second signal during
/// the drain stops it at once with the second signal's code.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_drains_the_batch_and_a_rerun_resumes_it() {
    for (signals, code, rerun) in [
        (&["INT"][..], 130, true),
        (&["TERM"][..], 143, false),
        (&["TERM", "INT"][..], 130, false),
    ] {
        signal_a_batch(signals, code, rerun).await;
    }
}

/// Runs a batch, sends `signals` once it is under way (the next 300 ms after the first),
/// and expects exit `code`; with `rerun`, runs it again to the end.
#[cfg(unix)]
async fn signal_a_batch(signals: &[&str], code: i32, rerun: bool) {
    let emulator = Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 400,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let second_signal = signals.len() > 1;
    if second_signal {
        // Creations in flight for 5 s: a drain that waited for them would outlast the
        // second signal by far.
        emulator.control().set_latency("create_run", 5_000);
    }
    let dir = temp(&format!("signal-{}", signals.join("-")));
    let input = dir.join("in.jsonl");
    let records = 60;
    let text: String = (1..=records)
        .map(|i| format!("{{\"id\": \"s{i}\", \"transcript\": \"Call {i}: losing hours.\"}}\n"))
        .collect();
    std::fs::write(&input, text).unwrap();
    let ledger = dir.join("ledger.sqlite");
    let command = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_semarize"));
        command
            .args(["batch", "run", input.to_str().unwrap(), "--kit", "A1B2C3D4"])
            .args(["--ledger", ledger.to_str().unwrap()])
            .args(["--out", dir.join("out.jsonl").to_str().unwrap()])
            .args(["--concurrency", "2", "--output", "json"])
            .env("SEMARIZE_API_KEY", emulator.api_key())
            .env("SEMARIZE_BASE_URL", emulator.base_url());
        command
    };
    let child = command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once the batch is under way: creations were sent, and not all of them.
    let deadline = SystemClock.now() + std::time::Duration::from_secs(20);
    while emulator.control().create_attempts().is_empty() {
        assert!(SystemClock.now() < deadline, "the batch never started");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let signalled = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", child.id())])
            .run_to_end();
        assert!(signalled.status.success());
    }
    // Within its drain timeout, or killed and failed.
    let output = child::output_within(
        child,
        "the signalled batch",
        std::time::Duration::from_secs(30),
    );
    assert_eq!(
        output.status.code(),
        Some(code),
        "{signals:?}: {}",
        stderr(&output)
    );
    if second_signal {
        // Stopped at once: the first signal's drain waits for creations that take 5 s (it
        // would have exited 143), and no summary was printed.
        assert!(output.stdout.is_empty(), "no summary after a second signal");
    } else {
        assert!(
            stderr(&output).contains("run the same command again to resume"),
            "{}",
            stderr(&output)
        );
        let counts: Value = serde_json::from_slice(&output.stdout).expect("the summary is printed");
        let succeeded = counts["states"]["succeeded"].as_u64().unwrap_or(0);
        assert!(succeeded < records, "stopped before the end: {counts}");
    }
    if rerun {
        let rerun = command().run_to_end();
        assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
        let control = emulator.control();
        assert_eq!(control.runs().len(), records as usize, "no duplicate run");
        assert!(control.runs_per_key().iter().all(|k| k.runs == 1));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// `webhooks listen --max-body-bytes N`: a delivery of N bytes is read and verified, a
/// larger one is answered 413 with the limit named, before any verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_listen_answers_413_naming_its_body_limit() {
    use std::process::Stdio;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listen = Child(
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args(["webhooks", "listen", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--secret", "whsec_cli", "--max-body-bytes", "200"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    ChildLines::new(listen.0.stderr.take().unwrap())
        .until("the listener", |l| l.starts_with("listening on "));
    let timestamp = SystemClock.now_utc().timestamp().to_string();
    let send = |body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/hook"))
            .header(
                "semarize-signature",
                semarize::webhooks::sign("whsec_cli", &timestamp, &body),
            )
            .header("semarize-timestamp", &timestamp)
            .header("semarize-event-id", "evt_1")
            .header("semarize-delivery-id", "dlv_1")
            .header("semarize-event-type", "run.cancelled")
            .body(body)
            .send()
    };
    let event = |padding: usize| {
        format!(
            r#"{{"id":"evt_1","delivery_id":"dlv_1","type":"run.cancelled","created_at":"2026-02-24T12:05:00Z","data":{{"run_id":"r1","status":"cancelled"}},"pad":"{}"}}"#,
            "x".repeat(padding)
        )
        .into_bytes()
    };
    let fits = event(200 - event(0).len());
    assert_eq!(fits.len(), 200);
    assert_eq!(send(fits).await.unwrap().status(), 200, "200 bytes fit");
    let over = send(event(201 - event(0).len())).await.unwrap();
    assert_eq!(over.status(), 413, "201 bytes do not");
    let text = over.text().await.unwrap();
    assert!(text.contains("200"), "the answer names the limit: {text}");
}

/// The production receiver: `webhooks listen --ledger` (secret from the environment)
/// finishes the ledger's record of a delivered run, once; a delivery for a run the
/// ledger does not hold changes nothing; the record then holds the run's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_listen_with_a_ledger_completes_its_records() {
    use semarize_batch::Ledger;
    use std::process::Stdio;

    let emulator = emulator().await;
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .build()
        .unwrap();
    let dir = temp("listen-ledger");
    let path = dir.join("ledger.sqlite");
    let now = SystemClock.now_utc().timestamp_millis();
    // A record whose run was created and accepted, as a batch worker leaves it.
    let run = {
        let ledger = semarize_batch::SqliteLedger::open(&path).unwrap();
        let line = r#"{"id": "call-1", "transcript": "Rep: Hi. Prospect: Our budget is $500."}"#;
        let kit = semarize_batch::Kit::Code("A1B2C3D4".into());
        semarize_batch::ingest_jsonl(&ledger, std::io::Cursor::new(line), &kit)
            .await
            .unwrap();
        let claim = ledger
            .claim_for_create("test", now, std::time::Duration::from_secs(60), 1)
            .await
            .unwrap()
            .remove(0);
        let created = client
            .runs()
            .create_with_kit_code("A1B2C3D4")
            .transcript("Rep: Hi. Prospect: Our budget is $500.")
            .idempotency_key(&claim.idempotency_key)
            .send()
            .await
            .unwrap();
        let run_id = created.run.run_id.clone();
        let created_transition = semarize_batch::Transition::Created {
            run_id: run_id.clone(),
            status: "queued".into(),
            poll_in: std::time::Duration::from_secs(3600),
        };
        ledger
            .apply(&claim.source_id, &claim.kit, created_transition, now)
            .await
            .unwrap();
        let outcome = created
            .wait(&client, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        outcome.run().clone()
    };

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listen = Child(
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args(["webhooks", "listen", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--ledger")
            .arg(&path)
            .env("SEMARIZE_WEBHOOK_SECRET", "whsec_old,whsec_ledger")
            .env("SEMARIZE_API_KEY", emulator.api_key())
            .env("SEMARIZE_BASE_URL", emulator.base_url())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let errors = ChildLines::new(listen.0.stderr.take().unwrap());
    errors.until("the listener", |l| l.starts_with("listening on "));
    let timestamp = (now / 1000).to_string();
    let deliver = |event_id: &str, delivery_id: &str, data: Value| {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": event_id,
            "delivery_id": delivery_id,
            "type": "run.succeeded",
            "created_at": "2026-02-24T12:05:00Z",
            "data": data,
        }))
        .unwrap();
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/semarize"))
            .header(
                "semarize-signature",
                semarize::webhooks::sign("whsec_ledger", &timestamp, &body),
            )
            .header("semarize-timestamp", &timestamp)
            .header("semarize-event-id", event_id)
            .header("semarize-delivery-id", delivery_id)
            .header("semarize-event-type", "run.succeeded")
            .body(body)
            .send()
    };
    let run_json = serde_json::to_value(&run).unwrap();
    assert_eq!(
        deliver("evt_1", "dlv_1", run_json.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    errors.until("the completion", |l| {
        l.contains(&run.run_id) && l.contains("now Succeeded")
    });
    // The same delivery again (a duplicate send): acknowledged, recognised by its
    // delivery id, nothing done.
    assert_eq!(
        deliver("evt_1", "dlv_1", run_json.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    errors.until("the duplicate", |l| {
        l.starts_with("duplicate delivery dlv_1 (event evt_1) ignored")
    });
    // The same event in a new delivery (the service's retry): acknowledged; the record,
    // already finished, stays as it is (checked below).
    assert_eq!(
        deliver("evt_1", "dlv_1_retry", run_json)
            .await
            .unwrap()
            .status(),
        200
    );
    // A run of another batch.
    let mut stranger = serde_json::to_value(&run).unwrap();
    stranger["run_id"] = "run-not-in-this-ledger".into();
    assert_eq!(
        deliver("evt_2", "dlv_2", stranger).await.unwrap().status(),
        200
    );
    drop(listen);

    let ledger = semarize_batch::SqliteLedger::open(&path).unwrap();
    let counts = ledger.counts().await.unwrap();
    assert_eq!(counts.count(semarize_batch::RecordState::Succeeded), 1);
    assert_eq!(counts.total(), 1);
    let rows = ledger.results(0, 10).await.unwrap();
    assert!(rows[0].output.is_some(), "the output is stored: {rows:?}");
}
