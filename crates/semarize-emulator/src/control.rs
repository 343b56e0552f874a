//! The control surface: fault injection, run-time settings and inspection.
//!
//! The same operations are reachable from the library ([`Control`], from
//! [`crate::Emulator::control`]) and over HTTP under `/_emulator` (see the README).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::config::Settings;
use crate::faults::{
    ArmedFaults, FaultAction, FaultSpec, ForcedOutcome, RawResponse, WebhookFaults,
};
use crate::inspect::{
    CreateAttempt, DeliveryRecord, EndpointInspection, RequestRecord, RunInspection,
};
use crate::lock;
use crate::state::Core;

/// Drives and inspects a running emulator.
#[derive(Clone, Debug)]
pub struct Control {
    pub(crate) core: Arc<Core>,
}

/// Runs created per Idempotency-Key.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KeyCount {
    /// The workspace.
    pub workspace_id: String,
    /// The Idempotency-Key.
    pub idempotency_key: String,
    /// How many runs it produced (1 when idempotency holds).
    pub runs: u32,
}

/// A new workspace and its key.
#[derive(Clone, Serialize)]
pub struct NewWorkspace {
    /// `ws_...`
    pub workspace_id: String,
    /// A fresh `smz_test_` key for it.
    pub api_key: String,
}

impl std::fmt::Debug for NewWorkspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWorkspace")
            .field("workspace_id", &self.workspace_id)
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Arms a fault for the next `spec.count` calls of `spec.operation`.
    pub fn inject(&self, spec: FaultSpec) {
        lock(&self.core.faults).arm(spec);
    }

    /// Makes the next `count` calls of `operation` answer `status` (with Retry-After).
    pub fn fail_next(&self, operation: &str, count: u32, status: u16, retry_after: Option<u64>) {
        self.inject(FaultSpec {
            operation: operation.to_owned(),
            count,
            action: FaultAction::Status {
                status,
                retry_after,
                error: None,
            },
        });
    }

    /// Makes the next `count` calls of `operation` do their work, then drop the connection
    /// without answering.
    pub fn drop_after_commit(&self, operation: &str, count: u32) {
        self.inject(FaultSpec {
            operation: operation.to_owned(),
            count,
            action: FaultAction::DropAfterCommit,
        });
    }

    /// Makes the next `count` calls of `operation` answer exactly `raw` (any status, body
    /// and headers; see [`RawResponse`]).
    ///
    /// ```no_run
    /// # async fn demo(emulator: &semarize_emulator::Emulator) {
    /// use semarize_emulator::RawResponse;
    /// emulator.control().respond_raw("get_run", 1, RawResponse {
    ///     status: 502,
    ///     body: "<html><h1>502 Bad Gateway</h1></html>".into(),
    ///     ..RawResponse::default()
    /// });
    /// # }
    /// ```
    pub fn respond_raw(&self, operation: &str, count: u32, raw: RawResponse) {
        self.inject(FaultSpec {
            operation: operation.to_owned(),
            count,
            action: FaultAction::Raw(raw),
        });
    }

    /// Makes the next `count` calls of `operation` answer as usual with `headers` added
    /// (replacing any of the same name).
    ///
    /// ```no_run
    /// # async fn demo(emulator: &semarize_emulator::Emulator) {
    /// // A real 202 whose Retry-After would park a run for ever.
    /// emulator
    ///     .control()
    ///     .add_headers("create_run", 1, [("retry-after", "18446744073709551615")]);
    /// # }
    /// ```
    pub fn add_headers<'a>(
        &self,
        operation: &str,
        count: u32,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        self.inject(FaultSpec {
            operation: operation.to_owned(),
            count,
            action: FaultAction::Headers {
                headers: headers
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                    .collect(),
            },
        });
    }

    /// Adds `ms` of latency to every call of `operation` (`*`: all); 0 removes it.
    pub fn set_latency(&self, operation: &str, ms: u64) {
        lock(&self.core.faults).set_latency(operation.to_owned(), ms, 1);
    }

    /// Adds `ms` of latency to one call of `operation` in `every` (the `every`th, the
    /// 2×`every`th, ...): a share of slow calls, such as 1 % of creations 10× slower.
    pub fn set_latency_every(&self, operation: &str, ms: u64, every: u32) {
        lock(&self.core.faults).set_latency(operation.to_owned(), ms, every);
    }

    /// Disarms every fault and forced outcome.
    pub fn clear_faults(&self) {
        lock(&self.core.faults).clear();
    }

    /// The next `count` runs created end with `outcome`.
    pub fn force_next_runs(&self, outcome: ForcedOutcome, count: u32) {
        lock(&self.core.faults).force_next(outcome, count);
    }

    /// Ends a run that is not terminal yet with `outcome`, now.
    pub fn force_run(&self, run_id: &str, outcome: ForcedOutcome) -> Result<(), String> {
        self.core.force_outcome(run_id, outcome)
    }

    /// Replaces the webhook delivery faults.
    pub fn set_webhook_faults(&self, faults: WebhookFaults) {
        lock(&self.core.faults).webhook = faults;
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.core.settings()
    }

    /// Changes settings at run time.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, String> {
        let mut settings = self.core.settings();
        change(&mut settings);
        self.core.set_settings(settings.clone())?;
        Ok(settings)
    }

    /// Creates another workspace with its own key.
    pub fn add_workspace(&self) -> NewWorkspace {
        let (workspace_id, api_key) = self.core.add_workspace();
        NewWorkspace {
            workspace_id,
            api_key,
        }
    }

    /// Adds a key (expired or not) to the default workspace.
    pub fn add_api_key(&self, key: &str, expired: bool) {
        self.core
            .add_key(&self.core.default_workspace, key, expired);
    }

    /// Every `POST /v1/runs` attempt, oldest first.
    pub fn create_attempts(&self) -> Vec<CreateAttempt> {
        lock(&self.core.log).creates.clone()
    }

    /// Runs created per Idempotency-Key.
    pub fn runs_per_key(&self) -> Vec<KeyCount> {
        let log = lock(&self.core.log);
        let sorted: BTreeMap<_, _> = log.runs_per_key.iter().collect();
        sorted
            .into_iter()
            .map(|((workspace_id, key), runs)| KeyCount {
                workspace_id: workspace_id.to_string(),
                idempotency_key: key.to_string(),
                runs: *runs,
            })
            .collect()
    }

    /// `/v1` calls received per operation id (`create_run`, `get_run`, ...), whatever
    /// they were answered: what a client costs the service.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.core.log)
            .calls
            .iter()
            .map(|(operation, calls)| ((*operation).to_owned(), *calls))
            .collect()
    }

    /// Every webhook delivery attempt, oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.core.log).deliveries.clone()
    }

    /// Every run, per workspace in creation order.
    pub fn runs(&self) -> Vec<RunInspection> {
        self.core.inspect_runs()
    }

    /// The latest `/v1` requests (at most [`REQUEST_CAP`](crate::inspect::REQUEST_CAP)),
    /// oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.core.log).requests.iter().cloned().collect()
    }

    /// Everything armed: faults waiting for calls, latency, forced outcomes, webhook
    /// faults.
    pub fn armed_faults(&self) -> ArmedFaults {
        lock(&self.core.faults).armed()
    }

    /// Every workspace's webhook endpoint, secrets masked.
    pub fn webhook_endpoints(&self) -> Vec<EndpointInspection> {
        self.core.inspect_endpoints()
    }

    /// A run's full detail (as `GET /v1/runs/{runId}` answers it), from any workspace.
    pub fn run_detail(&self, run_id: &str) -> Option<semarize_api::types::Run> {
        self.core.find_run(run_id)
    }

    /// The current signing secret of `workspace_id`'s endpoint, if it has one.
    pub fn webhook_secret(&self, workspace_id: &str) -> Option<String> {
        let workspace = self.core.workspace(workspace_id)?;
        let ws = lock(&workspace);
        ws.webhook.as_ref().map(|w| w.secret().to_owned())
    }
}
