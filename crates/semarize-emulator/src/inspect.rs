//! The inspection log: what tests ask the emulator afterwards. Every run creation
//! attempt (with its Idempotency-Key and outcome), every webhook delivery attempt, how
//! many runs each Idempotency-Key produced, and how many calls each operation received. Bounded: the oldest tenth is dropped
//! when a log reaches its cap.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use semarize_api::types::RunStatus;
use serde::Serialize;
use uuid::Uuid;

/// Most entries each log keeps (oldest dropped first).
const LOG_CAP: usize = 1_000_000;

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
