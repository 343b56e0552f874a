//! `--record` and `--replay` on the command line, and `semarize cassette check`: a
//! recording from the in-process emulator replays with the emulator stopped (same
//! output), holds no secret, is checked against the spec, and a cassette that does not
//! fit the command exits 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use semarize_emulator::Emulator;
use serde_json::Value;

#[path = "common/child.rs"]
mod child;
#[path = "common/emulated.rs"]
mod emulated;
use child::{Child, ChildLines, RunToEnd};
use emulated::{emulator, temp};

/// A base URL nothing listens on: a replay must not contact it.
const NOWHERE: &str = "http://127.0.0.1:9";

/// Runs `semarize` with `env` only (no inherited key or URL), within the command deadline.
async fn semarize(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_semarize"));
    command
        .args(args)
        .env_remove("SEMARIZE_API_KEY")
        .env_remove("SEMARIZE_BASE_URL")
        .env_remove("SEMARIZE_RECORD")
        .env_remove("SEMARIZE_REPLAY");
    for (name, value) in env {
        command.env(name, value);
    }
    command.run_to_end()
}

fn against(emulator: &Emulator) -> [(&str, &str); 2] {
    [
        ("SEMARIZE_API_KEY", emulator.api_key()),
        ("SEMARIZE_BASE_URL", emulator.base_url()),
    ]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_command_replays_with_the_emulator_stopped() {
    let dir = temp("replay");
    let transcript = dir.join("t.txt");
    std::fs::write(
        &transcript,
        "Rep: What drove it? Prospect: we lose three hours a week.",
    )
    .unwrap();
    let create = dir.join("create.json");
    let hook = dir.join("hook.json");
    let emulator = emulator().await;
    let api_key = emulator.api_key().to_owned();
    let create_args = [
        "runs",
        "create",
        "--kit",
        "A1B2C3D4",
        "--transcript",
        path(&transcript),
        "--wait",
        "--output",
        "json",
    ];
    let mut record = vec!["--record", path(&create)];
    record.extend(create_args);
    let recorded = semarize(&record, &against(&emulator)).await;
    assert_eq!(
        recorded.status.code(),
        Some(0),
        "{}",
        text(&recorded.stderr)
    );
    let set = semarize(
        &[
            "--record",
            path(&hook),
            "webhooks",
            "set",
            "http://127.0.0.1:9/hooks",
            "--output",
            "json",
        ],
        &against(&emulator),
    )
    .await;
    assert_eq!(set.status.code(), Some(0), "{}", text(&set.stderr));
    let secret: Value = serde_json::from_slice(&set.stdout).unwrap();
    let secret = secret["secret"].as_str().unwrap().to_owned();
    emulator.shutdown().await;

    // Neither the API key nor the webhook secret is in either file.
    for file in [&create, &hook] {
        let saved = std::fs::read_to_string(file).unwrap();
        assert!(!saved.contains(&api_key), "{saved}");
        assert!(!saved.contains(&secret), "{saved}");
    }

    // Same command, no key, the emulator gone: same output, exit 0. The environment
    // variable works like the flag.
    let replay = path(&create).to_owned();
    let replayed = semarize(
        &create_args,
        &[
            ("SEMARIZE_REPLAY", replay.as_str()),
            ("SEMARIZE_BASE_URL", NOWHERE),
        ],
    )
    .await;
    assert_eq!(
        replayed.status.code(),
        Some(0),
        "{}",
        text(&replayed.stderr)
    );
    assert_eq!(text(&replayed.stdout), text(&recorded.stdout));

    // A cassette that does not fit the command: exit 2, naming where it differs.
    let mut other = vec!["--replay", path(&create)];
    other.extend(create_args);
    other[5] = "ZZZZZZZZ";
    let misfit = semarize(&other, &[("SEMARIZE_BASE_URL", NOWHERE)]).await;
    assert_eq!(misfit.status.code(), Some(2), "{}", text(&misfit.stderr));
    let message = text(&misfit.stderr);
    assert!(
        message.contains("interaction 0") && message.contains("request.body at \"/kit_code\""),
        "{message}"
    );

    // Checked against the spec: clean, then an edited response, then a mutated spec.
    let check = semarize(&["cassette", "check", path(&create), path(&hook)], &[]).await;
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(&create).unwrap()).unwrap();
    edited["interactions"][0]["response"]["body"]["status"] = Value::from(7);
    edited["interactions"][0]["response"]["body"]["region"] = Value::from("eu");
    let edited_path = dir.join("edited.json");
    std::fs::write(&edited_path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let check = semarize(&["cassette", "check", path(&edited_path)], &[]).await;
    assert_eq!(check.status.code(), Some(1));
    let lines = text(&check.stdout);
    let prefix = format!("{}#/interactions/0/response/body", path(&edited_path));
    assert!(lines.contains(&format!("{prefix}/status: ")), "{lines}");
    assert!(
        lines.contains(&format!(
            "{prefix}/region: field \"region\" is not in the spec (additive)"
        )),
        "{lines}"
    );
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/semarize.yaml"
    ))
    .unwrap();
    let mutated = spec.replace(
        "required: [run_id, status]",
        "required: [run_id, status, workspace_id]",
    );
    assert_ne!(mutated, spec);
    let mutated_path = dir.join("mutated.yaml");
    std::fs::write(&mutated_path, mutated).unwrap();
    let check = semarize(
        &[
            "cassette",
            "check",
            path(&create),
            "--spec",
            path(&mutated_path),
        ],
        &[],
    )
    .await;
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stdout).contains(&format!(
            "{}#/interactions/0/response/body: \"workspace_id\" is a required property",
            path(&create)
        )),
        "{}",
        text(&check.stdout)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_records_and_replays_in_any_order() {
    let dir = temp("batch");
    let input = dir.join("in.jsonl");
    let lines: String = (1..=6)
        .map(|i| {
            format!(
                "{{\"id\": \"r{i}\", \"transcript\": \"Prospect: we lose {i} hours a week.\"}}\n"
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let cassette = dir.join("batch.json");
    let args = |mode: &'static str, name: &str| -> (Vec<String>, PathBuf) {
        let out = dir.join(format!("{name}.jsonl"));
        let ledger = dir.join(format!("{name}.sqlite"));
        let args = [
            mode,
            path(&cassette),
            "batch",
            "run",
            path(&input),
            "--kit",
            "A1B2C3D4",
            "--ledger",
            path(&ledger),
            "--out",
            path(&out),
            "--concurrency",
            "4",
        ];
        (args.map(str::to_owned).to_vec(), out)
    };
    let emulator = emulator().await;
    let (record, recorded_out) = args("--record", "recorded");
    let record: Vec<&str> = record.iter().map(String::as_str).collect();
    let recorded = semarize(&record, &against(&emulator)).await;
    assert_eq!(
        recorded.status.code(),
        Some(0),
        "{}",
        text(&recorded.stderr)
    );
    emulator.shutdown().await;

    let (replay, replayed_out) = args("--replay", "replayed");
    let replay: Vec<&str> = replay.iter().map(String::as_str).collect();
    let replayed = semarize(&replay, &[("SEMARIZE_BASE_URL", NOWHERE)]).await;
    assert_eq!(
        replayed.status.code(),
        Some(0),
        "{}",
        text(&replayed.stderr)
    );
    let runs = |file: &Path| {
        let mut ids: Vec<(String, String)> = std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|line| {
                let row: Value = serde_json::from_str(line).unwrap();
                (
                    row["id"].as_str().unwrap_or_default().to_owned(),
                    row.to_string(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    let (recorded_rows, replayed_rows) = (runs(&recorded_out), runs(&replayed_out));
    assert_eq!(recorded_rows.len(), 6);
    assert_eq!(
        replayed_rows, recorded_rows,
        "every record got its recorded run"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_call_no_api_refuse_cassettes() {
    for args in [
        [
            "--replay",
            "x.json",
            "webhooks",
            "listen",
            "--secret",
            "whsec_abc",
        ]
        .as_slice(),
        ["--record", "x.json", "emulator"].as_slice(),
        ["--record", "x.json", "demo"].as_slice(),
    ] {
        let output = semarize(args, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr)
                .contains("--record and --replay apply to commands that call the API"),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let both = semarize(
        &["--record", "a.json", "--replay", "b.json", "runs", "list"],
        &[],
    )
    .await;
    assert_eq!(both.status.code(), Some(2));
    let missing = semarize(&["--replay", "/nonexistent/c.json", "runs", "list"], &[]).await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("/nonexistent/c.json"),
        "{}",
        text(&missing.stderr)
    );
    let not_a_cassette =
        std::env::temp_dir().join(format!("not-a-cassette-{}.json", std::process::id()));
    std::fs::write(&not_a_cassette, "{\"format\": \"har\"}").unwrap();
    let wrong = semarize(&["--replay", path(&not_a_cassette), "runs", "list"], &[]).await;
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        text(&wrong.stderr).contains("not a cassette"),
        "{}",
        text(&wrong.stderr)
    );
    std::fs::remove_file(&not_a_cassette).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_serves_a_recorded_cassette() {
    let dir = temp("serve");
    let cassette = dir.join("get.json");
    // The recording: a run created and read on one emulator.
    let recorder = emulator().await;
    let created = semarize(
        &[
            "runs",
            "create",
            "--kit",
            "A1B2C3D4",
            "--input",
            "{\"transcript\": \"Prospect: hi.\"}",
            "--output",
            "json",
        ],
        &against(&recorder),
    )
    .await;
    assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
    let run: Value = serde_json::from_slice(&created.stdout).unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let read = semarize(
        &[
            "--record",
            path(&cassette),
            "runs",
            "get",
            &run_id,
            "--output",
            "json",
        ],
        &against(&recorder),
    )
    .await;
    assert_eq!(read.status.code(), Some(0), "{}", text(&read.stderr));
    recorder.shutdown().await;

    // Another emulator, serving the cassette: it answers the recorded read.
    let mut served = Child(
        Command::new(env!("CARGO_BIN_EXE_semarize"))
            .args([
                "emulator",
                "--addr",
                "127.0.0.1:0",
                "--serve-cassette",
                path(&cassette),
            ])
            .env("SEMARIZE_API_KEY", "smz_test_served")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines = ChildLines::new(served.0.stdout.take().unwrap());
    let url = lines.until("its address", |l| l.starts_with("listening on "));
    let url = url.trim().trim_start_matches("listening on ").to_owned();
    let env = [
        ("SEMARIZE_API_KEY", "smz_test_served"),
        ("SEMARIZE_BASE_URL", url.as_str()),
    ];
    let again = semarize(&["runs", "get", &run_id, "--output", "json"], &env).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), text(&read.stdout));
    // Used once; the emulator itself never saw the run: 404, exit 3.
    let after = semarize(&["runs", "get", &run_id], &env).await;
    assert_eq!(after.status.code(), Some(3), "{}", text(&after.stderr));
    drop(served);
    std::fs::remove_dir_all(&dir).ok();
}
