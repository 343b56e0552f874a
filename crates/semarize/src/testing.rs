//! Snapshot-testing support (feature `testing`): insta redactions for the volatile fields
//! of every response, and an in-process emulator with a client for it.
//!
//! ```no_run
//! # async fn demo() {
//! use semarize::RunOutputExt;
//! let test = semarize::testing::start_emulator().await;
//! let outcome = test
//!     .client
//!     .runs()
//!     .create_with_kit_code("A1B2C3D4")
//!     .transcript("Prospect: we are losing 3 hours a week.")
//!     .send_and_wait(std::time::Duration::from_secs(30))
//!     .await
//!     .unwrap();
//! semarize::testing::redacted(|| insta::assert_json_snapshot!(outcome.run()));
//! # }
//! ```

use std::time::Duration;

use crate::client::Client;
use crate::runtime::{Runtime, VirtualTime};

/// Fields whose values change from run to run, and what they become in snapshots.
///
/// The id fields among them ([`ID_FIELDS`]) are redacted only when their value was
/// generated (it carries a UUID), so an id a test chose itself, such as `evt_1`, stays
/// visible and checked. The others are always redacted.
pub const VOLATILE_FIELDS: &[(&str, &str)] = &[
    ("run_id", "[run_id]"),
    ("created_at", "[timestamp]"),
    ("duration_ms", "[duration_ms]"),
    ("waited_ms", "[waited_ms]"),
    ("request_id", "[request_id]"),
    ("delivery_id", "[delivery_id]"),
    ("event_id", "[event_id]"),
    ("workspace_id", "[workspace_id]"),
    ("id", "[id]"),
    ("secret", "[secret]"),
];

/// The [`VOLATILE_FIELDS`] that hold ids: redacted only when generated.
pub const ID_FIELDS: &[&str] = &[
    "run_id",
    "request_id",
    "delivery_id",
    "event_id",
    "workspace_id",
    "id",
];

/// insta settings with every volatile field redacted, at any depth, and maps sorted (the
/// bricks of an output are a map whose order is not meaningful).
///
/// ```
/// let run = serde_json::json!({"run_id": "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101", "id": "evt_1"});
/// semarize::testing::redacted(|| {
///     insta::assert_json_snapshot!(run, @r#"
///     {
///       "id": "evt_1",
///       "run_id": "[run_id]"
///     }
///     "#);
/// });
/// ```
pub fn redactions() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    for &(field, replacement) in VOLATILE_FIELDS {
        let selector = format!(".**.{field}");
        if ID_FIELDS.contains(&field) {
            settings.add_dynamic_redaction(&selector, move |value, _| {
                match value.as_str().is_some_and(is_generated) {
                    true => insta::internals::Content::from(replacement),
                    false => value,
                }
            });
        } else {
            settings.add_redaction(&selector, replacement);
        }
    }
    settings
}

/// Whether an id carries a UUID (32 hex digits in a row, hyphens aside), as every id
/// Semarize and the emulator generate does.
fn is_generated(id: &str) -> bool {
    let mut run = 0;
    for c in id.chars() {
        match c {
            '-' => {}
            c if c.is_ascii_hexdigit() => {
                run += 1;
                if run >= 32 {
                    return true;
                }
            }
            _ => run = 0,
        }
    }
    false
}

/// Runs `f` (which takes snapshots) with [`redactions`] bound.
pub fn redacted<R>(f: impl FnOnce() -> R) -> R {
    redactions().bind(f)
}

/// An emulator running in this process and a client configured for it.
#[derive(Debug)]
pub struct TestEmulator {
    /// The emulator: its control surface drives faults and inspection.
    pub emulator: semarize_emulator::Emulator,
    /// A client for it. Its sleeps are scaled down 100 times (a documented 1 s delay
    /// takes 10 ms), so retries and waits run fast.
    pub client: Client,
}

/// Starts an emulator with fast test settings (50 ms run latency, http webhooks
/// allowed) and a client for it.
pub async fn start_emulator() -> TestEmulator {
    start_emulator_with(semarize_emulator::Settings {
        run_latency_ms: 50,
        sync_wait_ms: 2_000,
        allow_http_webhooks: true,
        time_scale: 600.0,
        ..Default::default()
    })
    .await
}

/// Starts an emulator with these settings and a client for it.
pub async fn start_emulator_with(settings: semarize_emulator::Settings) -> TestEmulator {
    let emulator = semarize_emulator::Emulator::start(semarize_emulator::Config {
        settings,
        ..Default::default()
    })
    .await
    .expect("the emulator starts on a loopback port");
    let client = Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .request_timeout(Duration::from_secs(10))
        .runtime(Runtime::default().with_sleeper(VirtualTime::scaled(100.0)))
        .build()
        .expect("the emulator's key and URL are valid");
    TestEmulator { emulator, client }
}

#[cfg(test)]
mod tests {
    use super::is_generated;

    #[test]
    fn generated_ids_carry_a_uuid_and_chosen_ones_do_not() {
        assert!(is_generated("3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101"));
        assert!(is_generated("evt_0b7c9e41c7d94f0a9a3e5f1d2c3b4a59"));
        assert!(!is_generated("evt_1"));
        assert!(!is_generated("r1"));
        assert!(!is_generated("2026-02-24T12:05:00Z"));
        assert!(
            !is_generated("evt_0b7c9e41c7d94f0a9a3e5f1d2c3b4a5"),
            "31 digits"
        );
    }
}
