//! Every fault the emulator can inject: how to trigger it (a control-surface request, or a
//! start flag) and what it does. One list for the code, the README (its fault table is
//! rendered from here, and a test fails when the two disagree) and the tests (each
//! documented request is sent to a running emulator).
//!
//! ```
//! use semarize_emulator::catalogue::FaultClass;
//! let entry = FaultClass::DropAfterCommit.entry();
//! assert_eq!(entry.library, "drop_after_commit");
//! assert!(FaultClass::ALL.iter().all(|class| class.entry().class == *class));
//! ```

use crate::faults::{FaultAction, ForcedOutcome, WebhookFaults};

/// How a fault is set off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A control-surface request. `{id}` in the path stands for a run id.
    Http {
        /// `POST`, `PUT` or `DELETE`.
        method: &'static str,
        /// Under the emulator's base URL.
        path: &'static str,
        /// The JSON body.
        body: &'static str,
    },
    /// A start flag of the binary (and its [`Config`](crate::Config) field).
    Flag(&'static str),
}

/// One row of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultEntry {
    /// Which fault.
    pub class: FaultClass,
    /// What the guides call it.
    pub name: &'static str,
    /// How to set it off.
    pub trigger: Trigger,
    /// The [`Control`](crate::Control) method that does the same from a test.
    pub library: &'static str,
    /// What the client sees.
    pub effect: &'static str,
}

macro_rules! catalogue {
    ($(
        $(#[$doc:meta])*
        $class:ident {
            name: $name:literal,
            trigger: $trigger:expr,
            library: $library:literal,
            effect: $effect:literal $(,)?
        }
    ),+ $(,)?) => {
        /// A fault the emulator can inject.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum FaultClass {
            $($(#[$doc])* $class,)+
        }

        impl FaultClass {
            /// Every fault, in the README's order.
            pub const ALL: &'static [FaultClass] = &[$(FaultClass::$class),+];

            /// Its catalogue row.
            pub fn entry(self) -> FaultEntry {
                match self {
                    $(FaultClass::$class => FaultEntry {
                        class: self,
                        name: $name,
                        trigger: $trigger,
                        library: $library,
                        effect: $effect,
                    },)+
                }
            }
        }
    };
}

const fn http(method: &'static str, path: &'static str, body: &'static str) -> Trigger {
    Trigger::Http { method, path, body }
}

catalogue! {
    /// An error status with the envelope, without doing the work.
    ErrorStatus {
        name: "error status",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "create_run", "count": 2, "kind": "status", "status": 503, "retry_after": 1}"#),
        library: "fail_next",
        effect: "the next N calls of the operation (`*`: every /v1 operation) answer that status with the error envelope and `Retry-After`; nothing is done",
    },
    /// The work done, the connection closed without an answer.
    DropAfterCommit {
        name: "accepted, then dropped",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "create_run", "kind": "drop_after_commit"}"#),
        library: "drop_after_commit",
        effect: "the work is done (a run is committed), then the connection closes without an answer: the time-out after acceptance",
    },
    /// Any status with any body and headers.
    RawResponse {
        name: "any status, any body",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "get_run", "kind": "raw", "status": 502, "body": "<html>502 Bad Gateway</html>", "headers": {"retry-after": "99999999"}}"#),
        library: "respond_raw",
        effect: "exactly this status, body and headers (an HTML page, garbage, a huge `Retry-After`, a redirect's `Location`); nothing is done",
    },
    /// A real answer with headers added.
    ExtraHeaders {
        name: "a real answer, hostile headers",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "create_run", "kind": "headers", "headers": {"retry-after": "18446744073709551615"}}"#),
        library: "add_headers",
        effect: "the call is handled as usual and its answer carries these headers too (a real 202 with a `Retry-After` of `u64::MAX` seconds)",
    },
    /// The work done, then an unreadable answer.
    GarbledAfterCommit {
        name: "accepted, answer garbled",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "create_run", "kind": "raw", "status": 202, "body": "{not json", "after_commit": true}"#),
        library: "respond_raw",
        effect: "the work is done, then the raw answer is sent: the outcome is unknown to the client",
    },
    /// A body cut short of its `Content-Length`.
    TruncatedBody {
        name: "truncated body",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "get_run", "kind": "raw", "status": 200, "body": "{\"run_id\": \"r", "truncate": true}"#),
        library: "respond_raw",
        effect: "a `Content-Length` longer than the body, then the connection closes",
    },
    /// A body sent a byte at a time.
    SlowDrip {
        name: "slow drip",
        trigger: http("POST", "/_emulator/faults", r#"{"operation": "get_run", "kind": "raw", "status": 200, "body": "{}", "drip_ms": 500}"#),
        library: "respond_raw",
        effect: "the body arrives one byte every `drip_ms`",
    },
    /// Added latency.
    Latency {
        name: "latency",
        trigger: http("PUT", "/_emulator/latency", r#"{"operation": "get_run", "ms": 200}"#),
        library: "set_latency",
        effect: "every call of the operation (`*`: all) waits that long before it is handled; 0 removes it",
    },
    /// A share of slow calls.
    SlowShare {
        name: "a share of slow calls",
        trigger: http("PUT", "/_emulator/latency", r#"{"operation": "create_run", "ms": 2000, "every": 100}"#),
        library: "set_latency_every",
        effect: "one call in `every` (the 100th, 200th, ...) waits that long: 1 % of creations 10× slower",
    },
    /// Runs that end failed.
    FailingRuns {
        name: "failing runs",
        trigger: http("POST", "/_emulator/outcomes", r#"{"outcome": "fail", "error_code": "run_request_failed", "count": 3}"#),
        library: "force_next_runs",
        effect: "the next N runs created end `failed` with that `error_code` (and optional messages)",
    },
    /// Runs that end cancelled.
    CancelledRuns {
        name: "cancelled runs",
        trigger: http("POST", "/_emulator/outcomes", r#"{"outcome": "cancel"}"#),
        library: "force_next_runs",
        effect: "the next run created ends `cancelled` without running",
    },
    /// A running run ended now.
    EndRunNow {
        name: "a run ended now",
        trigger: http("POST", "/_emulator/runs/{id}/fail", r#"{"error_code": "run_request_failed", "error_message": "injected"}"#),
        library: "force_run",
        effect: "a run that is not terminal yet ends `failed` now (`/cancel`: `cancelled`); sync waits and webhooks notice at once",
    },
    /// Duplicate deliveries.
    WebhookDuplicate {
        name: "duplicate deliveries",
        trigger: http("PUT", "/_emulator/webhook-faults", r#"{"duplicate": 1}"#),
        library: "set_webhook_faults",
        effect: "each of the next N deliveries is sent twice: same delivery id, same body",
    },
    /// Delayed deliveries.
    WebhookDelay {
        name: "delayed deliveries",
        trigger: http("PUT", "/_emulator/webhook-faults", r#"{"delay": 1, "delay_ms": 500}"#),
        library: "set_webhook_faults",
        effect: "each of the next N deliveries is held for `delay_ms` first",
    },
    /// Reordered deliveries.
    WebhookReorder {
        name: "reordered deliveries",
        trigger: http("PUT", "/_emulator/webhook-faults", r#"{"reorder": 3}"#),
        library: "set_webhook_faults",
        effect: "the next N events are collected and delivered in reverse order",
    },
    /// Failed delivery attempts.
    WebhookFail {
        name: "failed deliveries",
        trigger: http("PUT", "/_emulator/webhook-faults", r#"{"fail": 2}"#),
        library: "set_webhook_faults",
        effect: "the next N attempts count as failed without being sent, and are retried on the documented schedule (scaled by `time_scale`)",
    },
    /// Rate limits.
    RateLimited {
        name: "rate limits",
        trigger: http("PUT", "/_emulator/settings", r#"{"create_rate": 1, "read_rate": 50}"#),
        library: "update_settings",
        effect: "past that many creations or reads per second per workspace: 429 with `Retry-After` and `retry_after_seconds`",
    },
    /// Thin webhook events.
    ThinEvents {
        name: "thin events",
        trigger: http("PUT", "/_emulator/settings", r#"{"webhook_payload_limit_bytes": 64}"#),
        library: "update_settings",
        effect: "events larger than the limit go out thin (run id, status, error code, duration): the receiver fetches the run",
    },
    /// Additive changes.
    AdditiveMode {
        name: "additive changes",
        trigger: http("PUT", "/_emulator/settings", r#"{"additive": true}"#),
        library: "update_settings",
        effect: "an unknown field in every response object, `queued` reported as the unknown status `waiting_for_capacity`, every run type as `scheduled`",
    },
    /// An expired API key.
    ExpiredKey {
        name: "expired key",
        trigger: Trigger::Flag("--expired-api-key KEY"),
        library: "add_api_key",
        effect: "requests with that key are 401 `api_key_expired`",
    },
}

impl FaultAction {
    /// The catalogue row that describes this action.
    pub fn class(&self) -> FaultClass {
        match self {
            FaultAction::Status { .. } => FaultClass::ErrorStatus,
            FaultAction::DropAfterCommit => FaultClass::DropAfterCommit,
            FaultAction::Raw(raw) if raw.after_commit => FaultClass::GarbledAfterCommit,
            FaultAction::Raw(raw) if raw.truncate => FaultClass::TruncatedBody,
            FaultAction::Raw(raw) if raw.drip_ms > 0 => FaultClass::SlowDrip,
            FaultAction::Raw(_) => FaultClass::RawResponse,
            FaultAction::Headers { .. } => FaultClass::ExtraHeaders,
        }
    }
}

impl ForcedOutcome {
    /// The catalogue row that describes this outcome.
    pub fn class(&self) -> FaultClass {
        match self {
            ForcedOutcome::Fail { .. } => FaultClass::FailingRuns,
            ForcedOutcome::Cancel => FaultClass::CancelledRuns,
        }
    }
}

impl WebhookFaults {
    /// The catalogue rows of the faults these settings arm.
    pub fn classes(&self) -> Vec<FaultClass> {
        // Destructured so that a new field cannot be added without a row.
        let WebhookFaults {
            duplicate,
            delay,
            delay_ms: _,
            reorder,
            fail,
        } = self;
        [
            (*duplicate, FaultClass::WebhookDuplicate),
            (*delay, FaultClass::WebhookDelay),
            (*reorder, FaultClass::WebhookReorder),
            (*fail, FaultClass::WebhookFail),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(_, class)| class)
        .collect()
    }
}

/// The catalogue as the README's Markdown table.
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| fault | how to set it off | library (`Control`) | what the client sees |\n|---|---|---|---|\n",
    );
    for class in FaultClass::ALL {
        let entry = class.entry();
        let trigger = match entry.trigger {
            Trigger::Http { method, path, body } => format!("`{method} {path}` `{body}`"),
            Trigger::Flag(flag) => format!("start flag `{flag}`"),
        };
        table.push_str(&format!(
            "| {} | {trigger} | `{}` | {} |\n",
            entry.name, entry.library, entry.effect
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultSpec, RawResponse};

    #[test]
    fn every_documented_request_body_parses_as_what_it_arms() {
        for class in FaultClass::ALL {
            let Trigger::Http { path, body, .. } = class.entry().trigger else {
                continue;
            };
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            match path {
                "/_emulator/faults" => {
                    let spec: FaultSpec = serde_json::from_value(json).unwrap();
                    assert_eq!(spec.action.class(), *class, "{body}");
                }
                "/_emulator/outcomes" => {
                    let outcome: ForcedOutcome = serde_json::from_value(json).unwrap();
                    assert_eq!(outcome.class(), *class, "{body}");
                }
                "/_emulator/webhook-faults" => {
                    let faults: WebhookFaults = serde_json::from_value(json).unwrap();
                    assert_eq!(faults.classes(), [*class], "{body}");
                }
                _ => {}
            }
        }
    }

    #[test]
    fn raw_responses_are_classed_by_what_they_do() {
        let raw = |edit: fn(&mut RawResponse)| {
            let mut raw = RawResponse {
                status: 502,
                ..RawResponse::default()
            };
            edit(&mut raw);
            FaultAction::Raw(raw).class()
        };
        assert_eq!(raw(|_| {}), FaultClass::RawResponse);
        assert_eq!(raw(|r| r.truncate = true), FaultClass::TruncatedBody);
        assert_eq!(raw(|r| r.drip_ms = 5), FaultClass::SlowDrip);
        assert_eq!(
            raw(|r| r.after_commit = true),
            FaultClass::GarbledAfterCommit
        );
    }
}
