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

use insta::internals::Content;

use crate::client::Client;
use crate::runtime::{Runtime, VirtualTime};

/// Fields redacted whatever their value: the webhook secret and the durations.
pub const ALWAYS_REDACTED: &[(&str, &str)] = &[
    ("secret", "[secret]"),
    ("duration_ms", "[duration_ms]"),
    ("waited_ms", "[waited_ms]"),
];

/// Ids that name stable definitions (a Kit, a Kit version, a Brick), not something a
/// run made: kept visible, since a snapshot of a pinned version must show that version.
pub const STABLE_IDS: &[&str] = &["kit_id", "kit_version_id", "brick_id"];

/// insta settings that redact what changes from run to run, at any depth, and sort maps
/// (the bricks of an output are a map whose order is not meaningful).
///
/// The rules read values, not a list of known fields, so a field a later /v1 adds is
/// covered with no change here:
///
/// - every RFC 3339 timestamp becomes `[timestamp]`;
/// - an id (a field named `id` or ending in `_id`) that was generated, that is, carries a
///   UUID, becomes `[<field>]`; an id a test chose itself, such as `evt_1`, and the
///   [`STABLE_IDS`] stay visible and checked;
/// - the [`ALWAYS_REDACTED`] fields.
///
/// ```
/// let event = serde_json::json!({
///     "id": "evt_1",
///     "run_id": "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101",
///     "data": {"scheduled_at": "2026-02-24T12:05:00.000Z", "duration_ms": 1200, "status": "queued"},
/// });
/// semarize::testing::redacted(|| {
///     insta::assert_json_snapshot!(event, @r#"
///     {
///       "data": {
///         "duration_ms": "[duration_ms]",
///         "scheduled_at": "[timestamp]",
///         "status": "queued"
///       },
///       "id": "evt_1",
///       "run_id": "[run_id]"
///     }
///     "#);
/// });
/// ```
pub fn redactions() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    // "." selects the root: the walk below visits every value itself.
    settings.add_dynamic_redaction(".", |value, _| redact_volatile(value, None));
    settings
}

/// Applies the rules of [`redactions`] to `value`, found under the key `field`.
fn redact_volatile(value: Content, field: Option<&str>) -> Content {
    if let Some(&(_, replacement)) = ALWAYS_REDACTED.iter().find(|(f, _)| Some(*f) == field) {
        return Content::from(replacement);
    }
    let text = |text: &str| -> Option<Content> {
        let is_id =
            field.is_some_and(|f| (f == "id" || f.ends_with("_id")) && !STABLE_IDS.contains(&f));
        if is_id && is_generated(text) {
            return Some(Content::from(format!("[{}]", field.unwrap_or("id"))));
        }
        chrono::DateTime::parse_from_rfc3339(text)
            .is_ok()
            .then(|| Content::from("[timestamp]"))
    };
    match value {
        Content::String(s) => text(&s).unwrap_or(Content::String(s)),
        Content::Some(inner) => Content::Some(Box::new(redact_volatile(*inner, field))),
        Content::NewtypeStruct(name, inner) => {
            Content::NewtypeStruct(name, Box::new(redact_volatile(*inner, field)))
        }
        Content::Seq(items) => Content::Seq(
            items
                .into_iter()
                .map(|item| redact_volatile(item, field))
                .collect(),
        ),
        Content::Map(entries) => Content::Map(
            entries
                .into_iter()
                .map(|(key, item)| {
                    let item = redact_volatile(item, key.as_str());
                    (key, item)
                })
                .collect(),
        ),
        Content::Struct(name, fields) => Content::Struct(
            name,
            fields
                .into_iter()
                .map(|(key, item)| (key, redact_volatile(item, Some(key))))
                .collect(),
        ),
        other => other,
    }
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
