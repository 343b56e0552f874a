//! Fault injection: what the control surface arms and the request path consumes.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// What an injected fault does to a call.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and the flat error envelope, without doing the work.
    Status {
        /// The HTTP status (4xx or 5xx).
        status: u16,
        /// `Retry-After` / `retry_after_seconds` to send.
        #[serde(default)]
        retry_after: Option<u64>,
        /// The `error` code (default: derived from the status).
        #[serde(default)]
        error: Option<String>,
    },
    /// Do the work (for `create_run`: commit the run), then close the connection without
    /// answering: the "network timeout after acceptance" case.
    DropAfterCommit,
    /// Answer with exactly this, whatever the spec says: any status with any body (an
    /// HTML page from a load balancer, garbage, nothing), any headers (a huge or malformed
    /// `Retry-After`, a redirect's `Location`), optionally cut short or dripped slowly.
    /// The hostile network every client must survive.
    Raw(RawResponse),
    /// Handle the call as usual, then add these headers to its real answer (replacing
    /// any of the same name): a true 202 whose `Retry-After` is `u64::MAX` seconds, or an
    /// HTTP-date in the year 9999.
    Headers {
        /// Header names and values.
        headers: std::collections::BTreeMap<String, String>,
    },
}

impl FaultAction {
    /// The kind's name, as the control surface spells it (`status`, `drop_after_commit`,
    /// `raw`, `headers`).
    pub fn kind(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::DropAfterCommit => "drop_after_commit",
            FaultAction::Raw(_) => "raw",
            FaultAction::Headers { .. } => "headers",
        }
    }
}

/// A response the emulator sends as it is (see [`FaultAction::Raw`]).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct RawResponse {
    /// The HTTP status (any, 1xx excepted).
    pub status: u16,
    /// The body, sent as it is.
    #[serde(default)]
    pub body: String,
    /// The `Content-Type` (default `text/html`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// More headers, such as `Retry-After` or `Location`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Do the work first (for `create_run`: commit the run), then answer this: the
    /// "accepted, but the answer was garbled" case.
    #[serde(default)]
    pub after_commit: bool,
    /// Declare a `Content-Length` longer than the body, send the body, then close the
    /// connection: a truncated response.
    #[serde(default)]
    pub truncate: bool,
    /// Send the body one byte every `drip_ms` milliseconds: a slow drip.
    #[serde(default)]
    pub drip_ms: u64,
}

/// Arms `action` for the next `count` calls of `operation` (an operationId, or `*` for
/// every /v1 operation).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FaultSpec {
    /// operationId or `*`.
    pub operation: String,
    /// How many calls it applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// What happens.
    #[serde(flatten)]
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

/// How the next runs created will end, overriding the kit engine.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ForcedOutcome {
    /// Fail with this code.
    Fail {
        /// `error_code` of the run.
        #[serde(default = "default_failure_code")]
        error_code: String,
        /// `error_message`.
        #[serde(default)]
        error_message: Option<String>,
        /// `error_user_message`.
        #[serde(default)]
        error_user_message: Option<String>,
    },
    /// Be cancelled.
    Cancel,
}

fn default_failure_code() -> String {
    "run_request_failed".to_owned()
}

/// Faults applied to webhook deliveries.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WebhookFaults {
    /// Send each of the next N deliveries twice (same delivery id, same body).
    pub duplicate: u32,
    /// Hold each of the next N deliveries for `delay_ms` before sending.
    pub delay: u32,
    /// The delay for `delay`.
    pub delay_ms: u64,
    /// Collect the next N events and deliver them in reverse order.
    pub reorder: u32,
    /// Make the receiver's next N attempts count as failed without sending them.
    pub fail: u32,
}

/// Everything armed, as `GET /_emulator/inspect/faults` and the inspector page show it.
#[derive(Clone, Debug, Serialize)]
pub struct ArmedFaults {
    /// Faults waiting for their calls, in the order they apply.
    pub faults: Vec<FaultSpec>,
    /// Added latency per operation (`*`: every operation).
    pub latency: Vec<ArmedLatency>,
    /// Outcomes forced on the next runs created, in order.
    pub outcomes: Vec<ForcedOutcome>,
    /// Webhook delivery faults still to apply.
    pub webhook: WebhookFaults,
}

/// Added latency of one operation, as [`ArmedFaults`] lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ArmedLatency {
    /// operationId or `*`.
    pub operation: String,
    /// Milliseconds added.
    pub ms: u64,
    /// On one call in this many.
    pub every: u32,
}

/// Added latency of one operation: `ms` on one call in `every` (1: each call).
#[derive(Clone, Copy, Debug)]
struct Latency {
    ms: u64,
    every: u32,
    calls: u64,
}

/// Every armed fault.
#[derive(Debug, Default)]
pub struct Faults {
    armed: VecDeque<(String, u32, FaultAction)>,
    latency: HashMap<String, Latency>,
    outcomes: VecDeque<ForcedOutcome>,
    /// Webhook delivery faults.
    pub webhook: WebhookFaults,
}

impl Faults {
    /// Arms a fault.
    pub fn arm(&mut self, spec: FaultSpec) {
        if spec.count > 0 {
            self.armed
                .push_back((spec.operation, spec.count, spec.action));
        }
    }

    /// Takes the first armed fault for `operation`, if any.
    pub fn take(&mut self, operation: &str) -> Option<FaultAction> {
        let index = self
            .armed
            .iter()
            .position(|(op, _, _)| op == operation || op == "*")?;
        let entry = &mut self.armed[index];
        entry.1 -= 1;
        let action = entry.2.clone();
        if entry.1 == 0 {
            self.armed.remove(index);
        }
        Some(action)
    }

    /// Sets the added latency of `operation` (`*` for all) on one call in `every` (1:
    /// each call; 0 is taken as 1); `ms` 0 clears it.
    pub fn set_latency(&mut self, operation: String, ms: u64, every: u32) {
        if ms == 0 {
            self.latency.remove(&operation);
        } else {
            let every = every.max(1);
            self.latency.insert(
                operation,
                Latency {
                    ms,
                    every,
                    calls: 0,
                },
            );
        }
    }

    /// The added latency of this call of `operation`. Deterministic: with `every` N, the
    /// Nth, 2Nth, ... calls wait.
    pub fn latency(&mut self, operation: &str) -> u64 {
        let key = if self.latency.contains_key(operation) {
            operation
        } else {
            "*"
        };
        let Some(latency) = self.latency.get_mut(key) else {
            return 0;
        };
        latency.calls = latency.calls.saturating_add(1);
        if latency.calls % u64::from(latency.every) == 0 {
            latency.ms
        } else {
            0
        }
    }

    /// Queues outcomes for the next runs created.
    pub fn force_next(&mut self, outcome: ForcedOutcome, count: u32) {
        self.outcomes
            .extend(std::iter::repeat_n(outcome, count as usize));
    }

    /// The forced outcome of the next run, if any.
    pub fn next_outcome(&mut self) -> Option<ForcedOutcome> {
        self.outcomes.pop_front()
    }

    /// Everything armed now.
    pub fn armed(&self) -> ArmedFaults {
        let mut latency: Vec<ArmedLatency> = self
            .latency
            .iter()
            .map(|(operation, l)| ArmedLatency {
                operation: operation.clone(),
                ms: l.ms,
                every: l.every,
            })
            .collect();
        latency.sort_by(|a, b| a.operation.cmp(&b.operation));
        ArmedFaults {
            faults: self
                .armed
                .iter()
                .map(|(operation, count, action)| FaultSpec {
                    operation: operation.clone(),
                    count: *count,
                    action: action.clone(),
                })
                .collect(),
            latency,
            outcomes: self.outcomes.iter().cloned().collect(),
            webhook: self.webhook.clone(),
        }
    }

    /// Disarms everything.
    pub fn clear(&mut self) {
        *self = Faults::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_of_calls_waits_and_the_rest_do_not() {
        let mut faults = Faults::default();
        faults.set_latency("create_run".into(), 2_000, 3);
        let waits: Vec<u64> = (0..7).map(|_| faults.latency("create_run")).collect();
        assert_eq!(waits, [0, 0, 2_000, 0, 0, 2_000, 0]);
        assert_eq!(
            faults.latency("get_run"),
            0,
            "another operation is untouched"
        );
        faults.set_latency("*".into(), 50, 1);
        assert_eq!(faults.latency("get_run"), 50, "`*` covers the rest");
        faults.set_latency("create_run".into(), 0, 1);
        assert_eq!(faults.latency("create_run"), 50, "cleared: `*` applies");
    }

    #[test]
    fn raw_faults_parse_from_the_control_surface_shape() {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"operation": "get_run", "kind": "raw", "status": 502,
                "body": "<html>Bad gateway</html>", "headers": {"retry-after": "3"}}"#,
        )
        .unwrap();
        let FaultAction::Raw(raw) = spec.action else {
            panic!("{spec:?}")
        };
        assert_eq!(raw.status, 502);
        assert_eq!(raw.headers["retry-after"], "3");
        assert!(!raw.after_commit && !raw.truncate && raw.drip_ms == 0);
    }

    #[test]
    fn faults_apply_count_times_to_their_operation() {
        let mut faults = Faults::default();
        faults.arm(FaultSpec {
            operation: "get_run".into(),
            count: 2,
            action: FaultAction::Status {
                status: 503,
                retry_after: None,
                error: None,
            },
        });
        assert!(faults.take("create_run").is_none());
        assert!(faults.take("get_run").is_some());
        assert!(faults.take("get_run").is_some());
        assert!(faults.take("get_run").is_none());
    }
}
