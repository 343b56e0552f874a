//! The `semarize-emulator` binary: its first stdout line, seeded and generated keys.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary run with `args` to its end (a refusal is immediate), with a deadline: past
/// 20 s it is killed and the test fails instead of hanging.
fn refused(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_semarize-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still ran after 20 s; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

fn spawn(args: &[&str]) -> (Running, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_semarize-emulator"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    // The address, the generated key (unless keys are given), the inspector's address.
    let wanted = if args.contains(&"--api-key") { 2 } else { 3 };
    // Read on a thread so that a silent binary fails at a deadline instead of hanging.
    let stdout = child.stdout.take().unwrap();
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    while out.len() < wanted {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => out.push(line),
            Err(e) => panic!("the emulator printed {out:?} and then nothing ({e})"),
        }
    }
    (Running(child), out)
}

#[tokio::test]
async fn prints_the_real_address_first_and_a_generated_key() {
    let (_child, lines) = spawn(&["--addr", "127.0.0.1:0"]);
    let url = lines[0]
        .strip_prefix("listening on ")
        .expect("the first line names the address");
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let key = lines[1].strip_prefix("api key: ").unwrap();
    assert!(key.starts_with("smz_test_"));
    let response = reqwest::Client::new()
        .get(format!("{url}/v1/runs"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The third line: the inspector page, which answers at that address.
    assert_eq!(lines[2], format!("inspector: {url}/_emulator/"));
    let page = reqwest::get(format!("{url}/_emulator/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<h1>Semarize emulator</h1>")
    );
}

#[tokio::test]
async fn seeds_the_keys_it_is_given() {
    let (_child, lines) = spawn(&[
        "--addr",
        "127.0.0.1:0",
        "--api-key",
        "smz_test_one",
        "--api-key",
        "smz_live_two",
        "--expired-api-key",
        "smz_test_old",
        "--create-rate",
        "5",
    ]);
    let url = lines[0].strip_prefix("listening on ").unwrap().to_owned();
    let http = reqwest::Client::new();
    for (key, status) in [
        ("smz_test_one", 200),
        ("smz_live_two", 200),
        ("smz_test_old", 401),
        ("smz_test_nope", 401),
    ] {
        let response = http
            .get(format!("{url}/v1/runs"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{key}");
    }
    let expired = http
        .get(format!("{url}/v1/runs"))
        .bearer_auth("smz_test_old")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expired.json::<serde_json::Value>().await.unwrap()["error"],
        "api_key_expired"
    );
}

#[test]
fn bad_flags_and_kit_files_are_clear_errors() {
    let bad = refused(&["--time-scale", "fast"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--time-scale"));
    let missing = refused(&["--addr", "127.0.0.1:0", "--kits", "/nonexistent/kits.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("cannot read kits file /nonexistent/kits.json")
    );
    let zero = refused(&["--addr", "127.0.0.1:0", "--time-scale", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("time_scale must be a positive number"));
}
