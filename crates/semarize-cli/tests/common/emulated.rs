//! An in-process emulator with fast settings, and a fresh directory per test.

use semarize_emulator::{Config, Emulator, Settings};

/// An emulator on a loopback port: runs end in 50 ms, `http://` webhooks allowed.
pub async fn emulator() -> Emulator {
    Emulator::start(Config {
        settings: Settings {
            run_latency_ms: 50,
            allow_http_webhooks: true,
            ..Settings::default()
        },
        ..Config::default()
    })
    .await
    .unwrap()
}

/// An empty directory `semarize-cli-NAME-PID` under the temporary directory.
pub fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("semarize-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
