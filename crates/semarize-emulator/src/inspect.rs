//! The inspection log: what tests and the inspector page (`GET /_emulator/`) ask the
//! emulator afterwards. Every run creation attempt (with its Idempotency-Key and
//! outcome), every webhook delivery attempt (with its headers, the receiver's answer and
//! the next retry), the latest `/v1` requests, how many runs each Idempotency-Key
//! produced, and how many calls each operation received. Bounded: the oldest tenth of the
//! creation and delivery logs is dropped when one reaches its cap; the request log keeps
//! the latest [`REQUEST_CAP`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use semarize_api::types::RunStatus;
use serde::Serialize;
use uuid::Uuid;

/// Most entries the creation and delivery logs keep (oldest dropped first).
const LOG_CAP: usize = 1_000_000;

/// How many of the latest `/v1` requests the request log keeps.
pub const REQUEST_CAP: usize = 10_000;

/// One `/v1` request and its answer.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The operationId (`unknown` for a route the spec does not list).
    pub operation: &'static str,
    /// The HTTP method.
    pub method: String,
    /// The path (no query).
    pub path: String,
    /// The status answered (0: the connection was dropped without an answer).
    pub status: u16,
    /// From arrival to the answer's head, in milliseconds.
    pub latency_ms: f64,
    /// The Idempotency-Key sent.
    pub idempotency_key: Option<Arc<str>>,
    /// The X-Request-Id answered (the client's, or one the emulator made).
    pub request_id: Option<String>,
    /// The run concerned: in the path, or the run a creation made.
    pub run_id: Option<String>,
    /// The armed fault that answered or changed this request, by kind (`status`,
    /// `drop_after_commit`, `raw`, `headers`), if any.
    pub fault: Option<&'static str>,
}

/// One `POST /v1/runs` attempt.
#[derive(Debug, Clone, Serialize)]
pub struct CreateAttempt {
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The workspace (when authenticated).
    pub workspace_id: Option<Arc<str>>,
    /// The Idempotency-Key sent.
    pub idempotency_key: Option<Arc<str>>,
    /// The HTTP status answered (0 when the connection was dropped).
    pub status: u16,
    /// What happened: `created`, `replayed`, `injected_fault`, `dropped_after_commit`, or
    /// the error code.
    pub outcome: String,
    /// The run concerned.
    pub run_id: Option<Uuid>,
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// When it was sent.
    pub at: String,
    /// The workspace.
    pub workspace_id: String,
    /// Semarize-Event-Id.
    pub event_id: String,
    /// Semarize-Delivery-Id.
    pub delivery_id: String,
    /// Semarize-Event-Type.
    pub event_type: String,
    /// The run.
    pub run_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Where it went.
    pub url: String,
    /// Whether this was an injected duplicate of the previous send.
    pub duplicate: bool,
    /// Whether the payload was the thin event.
    pub thin: bool,
    /// `delivered`, `failed`, `dead`, `dropped` (no endpoint any more), or `no_endpoint`
    /// (the run ended while the workspace had none: nothing was sent).
    pub result: String,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// The headers sent, signature included (empty when nothing was sent).
    pub headers: BTreeMap<String, String>,
    /// From sending to the receiver's answer (or the failure), in milliseconds.
    pub latency_ms: Option<f64>,
    /// When the next attempt is due, if this one failed and another follows.
    pub next_retry_at: Option<String>,
}

/// A change of a run's status.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    /// The status entered.
    pub status: RunStatus,
    /// When.
    pub at: DateTime<Utc>,
}

/// A run as the inspection surface lists it (no transcript, no output).
#[derive(Debug, Clone, Serialize)]
pub struct RunInspection {
    /// The workspace.
    pub workspace_id: Arc<str>,
    /// The run.
    pub run_id: Uuid,
    /// The key it was created with.
    pub idempotency_key: Option<Arc<str>>,
    /// Its Kit.
    pub kit_code: Arc<str>,
    /// Its status now.
    pub status: RunStatus,
    /// Every status it has had, oldest first (the last is `status`).
    pub history: Vec<StatusChange>,
}

/// A workspace's webhook endpoint as the inspection surface lists it: its secret masked
/// (see [`Control::webhook_secret`](crate::Control::webhook_secret)).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointInspection {
    /// The workspace.
    pub workspace_id: String,
    /// `wh_...`
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The secret's prefix and a mask, never the secret.
    pub secret_masked: String,
}

/// The log.
#[derive(Debug, Default)]
pub(crate) struct Inspection {
    /// Every create attempt.
    pub creates: Vec<CreateAttempt>,
    /// Every delivery attempt.
    pub deliveries: Vec<DeliveryRecord>,
    /// Runs created per (workspace, Idempotency-Key).
    pub runs_per_key: HashMap<(Arc<str>, Arc<str>), u32>,
    /// `/v1` calls received per operation id, answered or refused.
    pub calls: HashMap<&'static str, u64>,
    /// The latest `/v1` requests, oldest first.
    pub requests: VecDeque<RequestRecord>,
}

impl Inspection {
    /// Records a create attempt.
    pub(crate) fn record_create(&mut self, attempt: CreateAttempt) {
        push_capped(&mut self.creates, attempt);
    }

    /// Counts a `/v1` call of `operation`.
    pub(crate) fn count_call(&mut self, operation: &'static str) {
        let calls = self.calls.entry(operation).or_insert(0);
        *calls = calls.saturating_add(1);
    }

    /// Records a `/v1` request, dropping the oldest beyond [`REQUEST_CAP`].
    pub(crate) fn record_request(&mut self, record: RequestRecord) {
        if self.requests.len() >= REQUEST_CAP {
            self.requests.pop_front();
        }
        self.requests.push_back(record);
    }

    /// Records a delivery attempt.
    pub(crate) fn record_delivery(&mut self, record: DeliveryRecord) {
        push_capped(&mut self.deliveries, record);
    }

    /// Counts a run created under an Idempotency-Key (more than one per key would break
    /// the idempotency promise; tests read the counts).
    pub(crate) fn count_run(&mut self, workspace_id: Arc<str>, key: Arc<str>) {
        *self.runs_per_key.entry((workspace_id, key)).or_insert(0) += 1;
    }
}

fn push_capped<T>(log: &mut Vec<T>, entry: T) {
    if log.len() >= LOG_CAP {
        log.drain(..LOG_CAP / 10);
    }
    log.push(entry);
}
