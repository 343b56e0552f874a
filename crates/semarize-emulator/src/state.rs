//! The emulator's state: API keys, workspaces, runs, idempotency records, webhook
//! endpoints, and the inspection log. All API behaviour that is not HTTP framing lives
//! here, so the HTTP handlers and the control handle share one implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use semarize_api::types::{self, ErrorCode, RunStatus, RunType};
use serde::Serialize;
use sha2::Digest;
use uuid::Uuid;

use crate::config::{Config, Settings};
use crate::error::ApiError;
use crate::faults::{Faults, ForcedOutcome};
use crate::ids;
use crate::kits::{self, Catalog, Usage};
use crate::rate_limit::TokenBucket;

/// Share of the run latency spent `queued` before `running`.
const QUEUED_SHARE: f64 = 0.2;
/// Longest Idempotency-Key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 254;
/// Most entries each inspection log keeps (oldest dropped first).
const LOG_CAP: usize = 1_000_000;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a lock must not take the whole emulator down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hash_key(key: &str) -> [u8; 32] {
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// A stored API key: only its hash is kept.
#[derive(Debug, Clone)]
struct KeyRecord {
    workspace_id: Arc<str>,
    expired: bool,
}

/// How a run ends.
#[derive(Debug, Clone)]
enum Outcome {
    // Shared: the engine is deterministic, so identical inputs share one output.
    Succeeded(Arc<types::RunOutput>),
    Failed {
        code: ErrorCode,
        message: Option<String>,
        user_message: Option<String>,
    },
    Cancelled,
}

/// One run.
#[derive(Debug)]
pub struct RunRecord {
    run_id: Uuid,
    run_type: RunType,
    created_at: DateTime<Utc>,
    started: Instant,
    finishes: Instant,
    outcome: Outcome,
    usage: Usage,
    /// The Idempotency-Key it was created with.
    pub idempotency_key: Option<Arc<str>>,
    kit_code: Arc<str>,
    event_emitted: bool,
}

impl RunRecord {
    fn status(&self, now: Instant) -> RunStatus {
        if now < self.started {
            RunStatus::Queued
        } else if now < self.finishes {
            RunStatus::Running
        } else {
            match self.outcome {
                Outcome::Succeeded(_) => RunStatus::Succeeded,
                Outcome::Failed { .. } => RunStatus::Failed,
                Outcome::Cancelled => RunStatus::Cancelled,
            }
        }
    }

    /// Whether the run is terminal at `now`.
    pub fn is_terminal(&self, now: Instant) -> bool {
        now >= self.finishes
    }

    /// When the run becomes terminal.
    pub fn finishes(&self) -> Instant {
        self.finishes
    }

    /// The summary `POST /v1/runs` (202) and `GET /v1/runs` return.
    pub fn summary(&self, now: Instant) -> types::Run {
        types::Run {
            run_id: self.run_id.to_string(),
            status: self.status(now),
            run_type: Some(self.run_type.clone()),
            created_at: Some(self.created_at),
            duration_ms: None,
            error_code: None,
            error_message: None,
            error_user_message: None,
            output: None,
            sync_fallback: None,
            waited_ms: None,
        }
    }

    /// The full detail `GET /v1/runs/{runId}` returns.
    pub fn detail(&self, now: Instant) -> types::Run {
        let status = self.status(now);
        let mut run = self.summary(now);
        if status.is_terminal() {
            run.duration_ms = Some(
                self.finishes
                    .saturating_duration_since(self.started)
                    .as_millis() as u64,
            );
            match &self.outcome {
                Outcome::Succeeded(output) => run.output = Some(types::RunOutput::clone(output)),
                Outcome::Failed {
                    code,
                    message,
                    user_message,
                } => {
                    run.error_code = Some(code.clone());
                    run.error_message = message.clone();
                    run.error_user_message = user_message.clone();
                }
                Outcome::Cancelled => {}
            }
        }
        run
    }

    /// Usage so far: nothing before execution, prompt tokens while running, everything
    /// once succeeded; failed and cancelled runs are not charged credits.
    pub fn usage(&self, now: Instant) -> types::RunUsage {
        let (prompt, completion, credits) = match self.status(now) {
            RunStatus::Queued => (0, 0, 0),
            RunStatus::Succeeded => (self.usage.prompt, self.usage.completion, self.usage.credits),
            RunStatus::Cancelled if self.finishes <= self.started => (0, 0, 0),
            _ => (self.usage.prompt, 0, 0),
        };
        types::RunUsage {
            run_id: self.run_id.to_string(),
            token_usage: types::TokenUsage { prompt, completion },
            credits_consumed: credits,
        }
    }
}

/// The workspace webhook endpoint.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    /// `wh_...`
    pub id: String,
    /// Where events go.
    pub url: String,
    /// The current secret.
    pub secret: String,
    /// The previous secret and until when it still signs.
    pub previous_secret: Option<(String, Instant)>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// The secrets that sign a delivery at `now`, newest first.
    pub fn signing_secrets(&self, now: Instant) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let Some((previous, until)) = &self.previous_secret
            && now < *until
        {
            secrets.push(previous.clone());
        }
        secrets
    }
}

/// One workspace: its runs, idempotency records, webhook and rate limit buckets.
#[derive(Debug)]
pub struct Workspace {
    /// `ws_...`
    pub id: Arc<str>,
    runs: HashMap<Uuid, RunRecord>,
    order: Vec<Uuid>,
    idempotency: HashMap<Arc<str>, ([u8; 32], Uuid)>,
    /// The webhook endpoint, if one is registered.
    pub webhook: Option<WebhookEndpoint>,
    create_bucket: TokenBucket,
    read_bucket: TokenBucket,
}

impl Workspace {
    fn new(id: Arc<str>) -> Self {
        let now = Instant::now();
        Workspace {
            id,
            runs: HashMap::new(),
            order: Vec::new(),
            idempotency: HashMap::new(),
            webhook: None,
            create_bucket: TokenBucket::new(now),
            read_bucket: TokenBucket::new(now),
        }
    }

    /// A run of this workspace.
    pub fn run(&self, run_id: &str) -> Option<&RunRecord> {
        self.runs.get(&Uuid::parse_str(run_id).ok()?)
    }

    /// Marks a run's terminal event as emitted; false if it already was (or the run is
    /// unknown), so each run produces one event.
    pub fn claim_event(&mut self, run_id: &str) -> bool {
        let Ok(run_id) = Uuid::parse_str(run_id) else {
            return false;
        };
        match self.runs.get_mut(&run_id) {
            Some(run) if !run.event_emitted => {
                run.event_emitted = true;
                true
            }
            _ => false,
        }
    }
}

/// A validated `POST /v1/runs` body.
#[derive(Debug, Clone)]
pub struct CreateRun {
    /// The Kit code (when no version id).
    pub kit_code: Option<String>,
    /// The Kit version id (overrides the code).
    pub kit_version_id: Option<String>,
    /// The transcript.
    pub transcript: String,
    /// Run type.
    pub run_type: RunType,
    /// Whether sync mode was asked.
    pub sync: bool,
    /// Canonical hash of the whole body, for idempotency.
    pub body_hash: [u8; 32],
}

/// What a create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateOutcome {
    /// A new run.
    Created,
    /// The key was seen with the same body: the original run.
    Replayed,
}

/// One `POST /v1/runs` attempt, as the inspection log keeps it.
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
    /// `delivered`, `failed`, `dead`, or `dropped` (no endpoint any more).
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

/// The inspection log.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Every create attempt.
    pub creates: Vec<CreateAttempt>,
    /// Every delivery attempt.
    pub deliveries: Vec<DeliveryRecord>,
    /// Runs created per (workspace, Idempotency-Key).
    pub runs_per_key: HashMap<(Arc<str>, Arc<str>), u32>,
}

fn push_capped<T>(log: &mut Vec<T>, entry: T) {
    if log.len() >= LOG_CAP {
        log.drain(..LOG_CAP / 10);
    }
    log.push(entry);
}

/// Messages for the webhook dispatcher.
#[derive(Debug)]
pub enum Job {
    /// Emit the terminal event of a run when it finishes.
    Emit {
        /// The workspace.
        workspace_id: Arc<str>,
        /// The run.
        run_id: String,
        /// When it finishes.
        at: Instant,
    },
}

/// A shared engine output and its usage figures.
type EngineResult = (Arc<types::RunOutput>, kits::Usage);

/// The shared core of one emulator.
pub struct Core {
    /// The Kits.
    pub catalog: Catalog,
    settings: RwLock<Settings>,
    keys: RwLock<HashMap<[u8; 32], KeyRecord>>,
    workspaces: RwLock<HashMap<Arc<str>, Arc<Mutex<Workspace>>>>,
    /// Engine results by (Kit version, transcript): the engine is deterministic, so
    /// identical inputs are evaluated once and share one output.
    outputs: Mutex<HashMap<[u8; 32], EngineResult>>,
    /// Armed faults.
    pub faults: Mutex<Faults>,
    /// The inspection log.
    pub log: Mutex<Inspection>,
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// Woken whenever a run is forced to end early, so sync waits notice at once.
    pub run_changes: tokio::sync::Notify,
    max_body_bytes: usize,
    rotation_grace: Duration,
    /// The workspace the configured keys belong to.
    pub default_workspace: String,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("default_workspace", &self.default_workspace)
            .finish_non_exhaustive()
    }
}

/// Makes a new `smz_test_` key.
pub fn generate_api_key() -> String {
    format!("smz_test_{}", uuid::Uuid::new_v4().simple())
}

impl Core {
    /// A core seeded from `config`; returns the first usable key of the default workspace.
    pub fn new(config: &Config, jobs: tokio::sync::mpsc::UnboundedSender<Job>) -> (Self, String) {
        let default_workspace = ids::prefixed("ws");
        let core = Core {
            catalog: config.catalog.clone(),
            settings: RwLock::new(config.settings.clone()),
            keys: RwLock::new(HashMap::new()),
            workspaces: RwLock::new(HashMap::new()),
            outputs: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Inspection::default()),
            jobs,
            run_changes: tokio::sync::Notify::new(),
            max_body_bytes: config.max_body_bytes,
            rotation_grace: config.secret_rotation_grace,
            default_workspace: default_workspace.clone(),
        };
        let mut keys = config.api_keys.clone();
        if keys.is_empty() {
            keys.push(generate_api_key());
        }
        core.insert_workspace(&default_workspace, &keys, &config.expired_api_keys);
        let first = keys[0].clone();
        (core, first)
    }

    fn insert_workspace(&self, workspace_id: &str, keys: &[String], expired: &[String]) {
        let workspace_id: Arc<str> = Arc::from(workspace_id);
        self.workspaces.write().expect("workspace map lock").insert(
            workspace_id.clone(),
            Arc::new(Mutex::new(Workspace::new(workspace_id.clone()))),
        );
        let mut table = self.keys.write().expect("key table lock");
        for (key, expired) in keys
            .iter()
            .map(|k| (k, false))
            .chain(expired.iter().map(|k| (k, true)))
        {
            table.insert(
                hash_key(key),
                KeyRecord {
                    workspace_id: workspace_id.clone(),
                    expired,
                },
            );
        }
    }

    /// Creates another workspace with a fresh key; returns (workspace id, key).
    pub fn add_workspace(&self) -> (String, String) {
        let id = ids::prefixed("ws");
        let key = generate_api_key();
        self.insert_workspace(&id, std::slice::from_ref(&key), &[]);
        (id, key)
    }

    /// Adds a key (live or expired) to an existing workspace.
    pub fn add_key(&self, workspace_id: &str, key: &str, expired: bool) -> bool {
        if self.workspace(workspace_id).is_none() {
            return false;
        }
        self.keys.write().expect("key table lock").insert(
            hash_key(key),
            KeyRecord {
                workspace_id: Arc::from(workspace_id),
                expired,
            },
        );
        true
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings lock").clone()
    }

    /// Replaces the settings.
    pub fn set_settings(&self, settings: Settings) -> Result<(), String> {
        settings.validate()?;
        *self.settings.write().expect("settings lock") = settings;
        Ok(())
    }

    /// Largest request body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// A workspace by id.
    pub fn workspace(&self, workspace_id: &str) -> Option<Arc<Mutex<Workspace>>> {
        self.workspaces
            .read()
            .expect("workspace map lock")
            .get(workspace_id)
            .cloned()
    }

    /// Every workspace.
    pub fn workspaces(&self) -> Vec<Arc<Mutex<Workspace>>> {
        self.workspaces
            .read()
            .expect("workspace map lock")
            .values()
            .cloned()
            .collect()
    }

    /// The workspace of a bearer token, or the documented 401.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Arc<Mutex<Workspace>>, ApiError> {
        let unauthorized = |code| ApiError::new(StatusCode::UNAUTHORIZED, code);
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized(ErrorCode::MissingBearerToken))?;
        let record = self
            .keys
            .read()
            .expect("key table lock")
            .get(&hash_key(token))
            .cloned()
            .ok_or_else(|| unauthorized(ErrorCode::InvalidApiKey))?;
        if record.expired {
            return Err(unauthorized(ErrorCode::ApiKeyExpired));
        }
        self.workspace(&record.workspace_id)
            .ok_or_else(|| unauthorized(ErrorCode::InvalidApiKey))
    }

    /// Takes a token from the workspace's create or read bucket, or answers 429.
    pub fn admit(&self, workspace: &Mutex<Workspace>, create: bool) -> Result<(), ApiError> {
        let settings = self.settings.read().expect("settings lock");
        let mut ws = lock(workspace);
        let now = Instant::now();
        let result = if create {
            ws.create_bucket.take(settings.create_rate, now)
        } else {
            ws.read_bucket.take(settings.read_rate, now)
        };
        result.map_err(|wait| ApiError::rate_limited(wait.as_secs_f64().ceil().max(1.0) as u64))
    }

    /// Creates a run, or returns the original one for a repeated Idempotency-Key with the
    /// same body.
    pub fn create_run(
        &self,
        workspace: &Mutex<Workspace>,
        request: CreateRun,
        idempotency_key: Option<Arc<str>>,
    ) -> Result<(types::Run, CreateOutcome, Instant), ApiError> {
        let resolved = self
            .catalog
            .resolve(
                request.kit_code.as_deref(),
                request.kit_version_id.as_deref(),
            )
            .ok_or_else(|| ApiError::not_found(ErrorCode::KitNotFound))?;
        let now = Instant::now();
        let mut ws = lock(workspace);
        if let Some(key) = &idempotency_key
            && let Some((hash, run_id)) = ws.idempotency.get(key)
        {
            if *hash != request.body_hash {
                return Err(
                    ApiError::new(StatusCode::CONFLICT, ErrorCode::IdempotencyKeyConflict)
                        .detail("this Idempotency-Key was used with a different request body"),
                );
            }
            let run = ws
                .runs
                .get(run_id)
                .expect("idempotency records point at stored runs");
            return Ok((run.summary(now), CreateOutcome::Replayed, run.finishes));
        }

        let (output, usage) = self.evaluate(resolved, &request.transcript);
        let latency = self.settings.read().expect("settings lock").run_latency();
        let started = now + latency.mul_f64(QUEUED_SHARE);
        let mut finishes = now + latency;
        let outcome = match lock(&self.faults).next_outcome() {
            None => Outcome::Succeeded(output),
            Some(ForcedOutcome::Fail {
                error_code,
                error_message,
                error_user_message,
            }) => Outcome::Failed {
                code: ErrorCode::from(error_code),
                message: error_message,
                user_message: error_user_message,
            },
            Some(ForcedOutcome::Cancel) => {
                finishes = started;
                Outcome::Cancelled
            }
        };
        let run = RunRecord {
            run_id: Uuid::new_v4(),
            run_type: request.run_type,
            created_at: ids::now_millis(),
            started,
            finishes,
            outcome,
            usage,
            idempotency_key: idempotency_key.clone(),
            kit_code: Arc::from(resolved.kit.kit_code.as_str()),
            event_emitted: false,
        };
        let run_id = run.run_id;
        let summary = run.summary(now);
        if let Some(key) = &idempotency_key {
            ws.idempotency
                .insert(key.clone(), (request.body_hash, run_id));
        }
        ws.order.push(run_id);
        ws.runs.insert(run_id, run);
        let workspace_id = ws.id.clone();
        drop(ws);

        if let Some(key) = idempotency_key {
            *lock(&self.log)
                .runs_per_key
                .entry((workspace_id.clone(), key))
                .or_insert(0) += 1;
        }
        // The dispatcher lives as long as the emulator; a send error means it is shutting down.
        let _ = self.jobs.send(Job::Emit {
            workspace_id,
            run_id: run_id.to_string(),
            at: finishes,
        });
        Ok((summary, CreateOutcome::Created, finishes))
    }

    /// The engine's output for a Kit version and transcript, evaluated once per input.
    fn evaluate(&self, resolved: kits::Resolved<'_>, transcript: &str) -> EngineResult {
        let key: [u8; 32] = sha2::Sha256::new()
            .chain_update(resolved.version.kit_version_id.as_bytes())
            .chain_update([0])
            .chain_update(transcript.as_bytes())
            .finalize()
            .into();
        if let Some(hit) = lock(&self.outputs).get(&key) {
            return hit.clone();
        }
        let (output, usage) = kits::evaluate(resolved, transcript);
        let result = (Arc::new(output), usage);
        lock(&self.outputs).insert(key, result.clone());
        result
    }

    /// Records a create attempt in the inspection log.
    pub fn record_create(&self, attempt: CreateAttempt) {
        push_capped(&mut lock(&self.log).creates, attempt);
    }

    /// Records a delivery attempt in the inspection log.
    pub fn record_delivery(&self, record: DeliveryRecord) {
        push_capped(&mut lock(&self.log).deliveries, record);
    }

    /// The full run.
    pub fn get_run(
        &self,
        workspace: &Mutex<Workspace>,
        run_id: &str,
    ) -> Result<types::Run, ApiError> {
        let ws = lock(workspace);
        let run = ws
            .run(run_id)
            .ok_or_else(|| ApiError::not_found(ErrorCode::RunNotFound))?;
        Ok(run.detail(Instant::now()))
    }

    /// Seconds until a run is likely terminal (for Retry-After), 1 to 10.
    pub fn advised_delay(&self, finishes: Instant) -> u64 {
        let remaining = finishes
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        remaining.ceil().clamp(1.0, 10.0) as u64
    }

    /// When a run finishes, if it is not terminal yet.
    pub fn pending_until(&self, workspace: &Mutex<Workspace>, run_id: &str) -> Option<Instant> {
        let ws = lock(workspace);
        let run = ws.run(run_id)?;
        (!run.is_terminal(Instant::now())).then_some(run.finishes)
    }

    /// The most recent runs first.
    pub fn list_runs(&self, workspace: &Mutex<Workspace>, limit: usize) -> Vec<types::Run> {
        let ws = lock(workspace);
        let now = Instant::now();
        ws.order
            .iter()
            .rev()
            .take(limit)
            .filter_map(|id| ws.runs.get(id))
            .map(|r| r.summary(now))
            .collect()
    }

    /// The run's usage.
    pub fn usage(
        &self,
        workspace: &Mutex<Workspace>,
        run_id: &str,
    ) -> Result<types::RunUsage, ApiError> {
        let ws = lock(workspace);
        let run = ws
            .run(run_id)
            .ok_or_else(|| ApiError::not_found(ErrorCode::RunNotFound))?;
        Ok(run.usage(Instant::now()))
    }

    /// Registers (or replaces) the webhook endpoint with a new secret.
    pub fn upsert_webhook(&self, workspace: &Mutex<Workspace>, url: String) -> types::Webhook {
        let mut ws = lock(workspace);
        let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
        let previous = ws.webhook.take();
        let endpoint = WebhookEndpoint {
            id: previous
                .as_ref()
                .map(|p| p.id.clone())
                .unwrap_or_else(|| ids::prefixed("wh")),
            url,
            secret: secret.clone(),
            previous_secret: previous.map(|p| (p.secret, Instant::now() + self.rotation_grace)),
            created_at: ids::now_millis(),
        };
        let view = types::Webhook {
            id: endpoint.id.clone(),
            url: endpoint.url.clone(),
            secret: Some(secret),
            created_at: endpoint.created_at,
        };
        ws.webhook = Some(endpoint);
        view
    }

    /// The webhook endpoints (without secrets).
    pub fn list_webhooks(&self, workspace: &Mutex<Workspace>) -> Vec<types::Webhook> {
        let ws = lock(workspace);
        ws.webhook
            .iter()
            .map(|w| types::Webhook {
                id: w.id.clone(),
                url: w.url.clone(),
                secret: None,
                created_at: w.created_at,
            })
            .collect()
    }

    /// Deletes the endpoint with this id.
    pub fn delete_webhook(&self, workspace: &Mutex<Workspace>, id: &str) -> Result<(), ApiError> {
        let mut ws = lock(workspace);
        match &ws.webhook {
            Some(w) if w.id == id => {
                ws.webhook = None;
                Ok(())
            }
            _ => Err(ApiError::not_found(ErrorCode::WebhookNotFound)),
        }
    }

    /// Ends a run that is not terminal yet with a forced outcome, now.
    pub fn force_outcome(&self, run_id: &str, outcome: ForcedOutcome) -> Result<(), String> {
        for workspace in self.workspaces() {
            let mut ws = lock(&workspace);
            let workspace_id = ws.id.clone();
            let Some(run) = Uuid::parse_str(run_id)
                .ok()
                .and_then(|id| ws.runs.get_mut(&id))
            else {
                continue;
            };
            let now = Instant::now();
            if run.is_terminal(now) {
                return Err(format!("run {run_id} is already {}", run.status(now)));
            }
            run.outcome = match outcome {
                ForcedOutcome::Fail {
                    error_code,
                    error_message,
                    error_user_message,
                } => Outcome::Failed {
                    code: ErrorCode::from(error_code),
                    message: error_message,
                    user_message: error_user_message,
                },
                ForcedOutcome::Cancel => Outcome::Cancelled,
            };
            run.finishes = now;
            run.started = run.started.min(now);
            let _ = self.jobs.send(Job::Emit {
                workspace_id,
                run_id: run_id.to_owned(),
                at: now,
            });
            drop(ws);
            self.run_changes.notify_waiters();
            return Ok(());
        }
        Err(format!("no run {run_id}"))
    }

    /// Every run of every workspace, for inspection.
    pub fn inspect_runs(&self) -> Vec<RunInspection> {
        let now = Instant::now();
        let mut out = Vec::new();
        for workspace in self.workspaces() {
            let ws = lock(&workspace);
            for id in &ws.order {
                let run = &ws.runs[id];
                out.push(RunInspection {
                    workspace_id: ws.id.clone(),
                    run_id: run.run_id,
                    idempotency_key: run.idempotency_key.clone(),
                    kit_code: run.kit_code.clone(),
                    status: run.status(now),
                });
            }
        }
        out
    }
}
