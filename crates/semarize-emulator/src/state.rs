//! The emulator's state, composed: API keys ([`crate::auth`]), workspaces
//! ([`crate::workspace`]) with their runs ([`crate::runs`]), Idempotency-Keys
//! ([`crate::idempotency`]), webhook endpoints ([`crate::webhooks`]) and rate buckets
//! ([`crate::admission`]); the Kit catalogue and engine ([`crate::kits`]); armed faults
//! ([`crate::faults`]); and the inspection log ([`crate::inspect`]). The HTTP handlers
//! and the control handle share this one implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use semarize_api::types::{self, ErrorCode};
use sha2::Digest;

use crate::auth::{KeyTable, generate_api_key};
use crate::config::{Config, Settings};
use crate::error::ApiError;
use crate::faults::{Faults, ForcedOutcome};
use crate::ids;
use crate::inspect::{
    CreateAttempt, DeliveryRecord, EndpointInspection, Inspection, RequestRecord, RunInspection,
};
use crate::kits::{self, Catalog, Usage};
use crate::lock;
use crate::runs::{CreateOutcome, CreateRun, Outcome, RunRecord};
use crate::webhooks::{self, Job};
use crate::workspace::Workspace;

/// A shared engine output and its usage figures.
type EngineResult = (Arc<types::RunOutput>, Usage);

/// The shared core of one emulator.
pub(crate) struct Core {
    /// The Kits.
    pub catalog: Catalog,
    settings: RwLock<Settings>,
    keys: KeyTable,
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
    pub max_body_bytes: usize,
    rotation_grace: Duration,
    /// The workspace the configured keys belong to.
    pub default_workspace: String,
    /// The cassette served before the emulator's own behaviour, if any.
    #[cfg(feature = "cassette")]
    pub cassette: Option<semarize_api::cassette::Cassette>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("default_workspace", &self.default_workspace)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A core seeded from `config`; returns the first usable key of the default workspace.
    pub(crate) fn new(
        config: &Config,
        jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    ) -> (Self, String) {
        let default_workspace = ids::prefixed("ws");
        let core = Core {
            catalog: config.catalog.clone(),
            settings: RwLock::new(config.settings.clone()),
            keys: KeyTable::default(),
            workspaces: RwLock::new(HashMap::new()),
            outputs: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(Inspection::default()),
            jobs,
            run_changes: tokio::sync::Notify::new(),
            max_body_bytes: config.max_body_bytes,
            rotation_grace: config.secret_rotation_grace,
            default_workspace: default_workspace.clone(),
            #[cfg(feature = "cassette")]
            cassette: config.cassette.clone(),
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
        for key in keys {
            self.keys.insert(key, workspace_id.clone(), false);
        }
        for key in expired {
            self.keys.insert(key, workspace_id.clone(), true);
        }
    }

    /// Creates another workspace with a fresh key; returns (workspace id, key).
    pub(crate) fn add_workspace(&self) -> (String, String) {
        let id = ids::prefixed("ws");
        let key = generate_api_key();
        self.insert_workspace(&id, std::slice::from_ref(&key), &[]);
        (id, key)
    }

    /// Adds a key (live or expired) to an existing workspace.
    pub(crate) fn add_key(&self, workspace_id: &str, key: &str, expired: bool) -> bool {
        if self.workspace(workspace_id).is_none() {
            return false;
        }
        self.keys.insert(key, Arc::from(workspace_id), expired);
        true
    }

    /// The current settings.
    pub(crate) fn settings(&self) -> Settings {
        self.settings.read().expect("settings lock").clone()
    }

    /// Replaces the settings.
    pub(crate) fn set_settings(&self, settings: Settings) -> Result<(), String> {
        settings.validate()?;
        *self.settings.write().expect("settings lock") = settings;
        Ok(())
    }

    /// Largest request body accepted.
    pub(crate) fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// A workspace by id.
    pub(crate) fn workspace(&self, workspace_id: &str) -> Option<Arc<Mutex<Workspace>>> {
        self.workspaces
            .read()
            .expect("workspace map lock")
            .get(workspace_id)
            .cloned()
    }

    /// Every workspace.
    fn workspaces(&self) -> Vec<Arc<Mutex<Workspace>>> {
        self.workspaces
            .read()
            .expect("workspace map lock")
            .values()
            .cloned()
            .collect()
    }

    /// The workspace of a bearer token, or the documented 401.
    pub(crate) fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Arc<Mutex<Workspace>>, ApiError> {
        let workspace_id = self.keys.workspace_of(authorization)?;
        self.workspace(&workspace_id).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidApiKey,
            )
        })
    }

    /// Takes a token from the workspace's create or read bucket, or answers 429.
    pub(crate) fn admit(&self, workspace: &Mutex<Workspace>, create: bool) -> Result<(), ApiError> {
        let settings = self.settings.read().expect("settings lock");
        lock(workspace).admission.admit(&settings, create)
    }

    /// Creates a run, or returns the original one for a repeated Idempotency-Key with the
    /// same body.
    pub(crate) fn create_run(
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
            && let Some(run_id) = ws.idempotency.replay(key, &request.body_hash)?
        {
            let run = ws
                .runs
                .by_id(&run_id)
                .expect("idempotency records point at stored runs");
            return Ok((run.summary(now), CreateOutcome::Replayed, run.finishes()));
        }

        let (output, usage) = self.evaluate(resolved, &request.transcript);
        let latency = self.settings.read().expect("settings lock").run_latency();
        let outcome = match lock(&self.faults).next_outcome() {
            None => Outcome::Succeeded(output),
            Some(forced) => forced.into(),
        };
        let run = RunRecord::new(
            &request,
            &resolved.kit.kit_code,
            idempotency_key.clone(),
            (outcome, usage),
            now,
            latency,
        );
        let (run_id, summary, finishes) = (run.id(), run.summary(now), run.finishes());
        if let Some(key) = &idempotency_key {
            ws.idempotency
                .remember(key.clone(), request.body_hash, run_id);
        }
        ws.runs.insert(run);
        let workspace_id = ws.id.clone();
        drop(ws);

        if let Some(key) = idempotency_key {
            lock(&self.log).count_run(workspace_id.clone(), key);
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
    pub(crate) fn record_create(&self, attempt: CreateAttempt) {
        lock(&self.log).record_create(attempt);
    }

    /// Counts a `/v1` call in the inspection log.
    pub(crate) fn count_call(&self, operation: &'static str) {
        lock(&self.log).count_call(operation);
    }

    /// Records a `/v1` request in the inspection log.
    pub(crate) fn record_request(&self, record: RequestRecord) {
        lock(&self.log).record_request(record);
    }

    /// Records a delivery attempt in the inspection log.
    pub(crate) fn record_delivery(&self, record: DeliveryRecord) {
        lock(&self.log).record_delivery(record);
    }

    /// The full run.
    pub(crate) fn get_run(
        &self,
        workspace: &Mutex<Workspace>,
        run_id: &str,
    ) -> Result<types::Run, ApiError> {
        let ws = lock(workspace);
        let run = ws
            .runs
            .get(run_id)
            .ok_or_else(|| ApiError::not_found(ErrorCode::RunNotFound))?;
        Ok(run.detail(Instant::now()))
    }

    /// When a run finishes, if it is not terminal yet.
    pub(crate) fn pending_until(
        &self,
        workspace: &Mutex<Workspace>,
        run_id: &str,
    ) -> Option<Instant> {
        let ws = lock(workspace);
        let run = ws.runs.get(run_id)?;
        (!run.is_terminal(Instant::now())).then_some(run.finishes())
    }

    /// The most recent runs first.
    pub(crate) fn list_runs(&self, workspace: &Mutex<Workspace>, limit: usize) -> Vec<types::Run> {
        let ws = lock(workspace);
        let now = Instant::now();
        ws.runs
            .oldest_first()
            .rev()
            .take(limit)
            .map(|r| r.summary(now))
            .collect()
    }

    /// The run's usage.
    pub(crate) fn usage(
        &self,
        workspace: &Mutex<Workspace>,
        run_id: &str,
    ) -> Result<types::RunUsage, ApiError> {
        let ws = lock(workspace);
        let run = ws
            .runs
            .get(run_id)
            .ok_or_else(|| ApiError::not_found(ErrorCode::RunNotFound))?;
        Ok(run.usage(Instant::now()))
    }

    /// Registers (or replaces) the webhook endpoint with a new secret.
    pub(crate) fn upsert_webhook(
        &self,
        workspace: &Mutex<Workspace>,
        url: String,
    ) -> types::Webhook {
        webhooks::upsert(&mut lock(workspace).webhook, url, self.rotation_grace)
    }

    /// The webhook endpoints (without secrets).
    pub(crate) fn list_webhooks(
        &self,
        workspace: &Mutex<Workspace>,
    ) -> Vec<types::WebhookEndpoint> {
        webhooks::list(&lock(workspace).webhook)
    }

    /// Deletes the endpoint with this id.
    pub(crate) fn delete_webhook(
        &self,
        workspace: &Mutex<Workspace>,
        id: &str,
    ) -> Result<(), ApiError> {
        webhooks::delete(&mut lock(workspace).webhook, id)
    }

    /// Ends a run that is not terminal yet with a forced outcome, now.
    pub(crate) fn force_outcome(&self, run_id: &str, outcome: ForcedOutcome) -> Result<(), String> {
        for workspace in self.workspaces() {
            let mut ws = lock(&workspace);
            let workspace_id = ws.id.clone();
            let Some(run) = ws.runs.get_mut(run_id) else {
                continue;
            };
            let now = Instant::now();
            run.force(outcome, now)?;
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

    /// A run's full detail, whichever workspace holds it.
    pub(crate) fn find_run(&self, run_id: &str) -> Option<types::Run> {
        let now = Instant::now();
        self.workspaces()
            .iter()
            .find_map(|workspace| lock(workspace).runs.get(run_id).map(|run| run.detail(now)))
    }

    /// Every workspace's endpoint, secrets masked, by workspace id.
    pub(crate) fn inspect_endpoints(&self) -> Vec<EndpointInspection> {
        let mut out: Vec<EndpointInspection> = self
            .workspaces()
            .iter()
            .filter_map(|workspace| {
                let ws = lock(workspace);
                let endpoint = ws.webhook.as_ref()?;
                let prefix: String = endpoint.secret().chars().take(6).collect();
                Some(EndpointInspection {
                    workspace_id: ws.id.to_string(),
                    id: endpoint.id.clone(),
                    url: endpoint.url.clone(),
                    secret_masked: format!("{prefix}••••••••"),
                })
            })
            .collect();
        out.sort_by(|a, b| a.workspace_id.cmp(&b.workspace_id));
        out
    }

    /// The runs `keep` accepts (by id and Idempotency-Key), newest first workspace by
    /// workspace: the `take` after the first `skip`, and how many it accepts in all. Only
    /// the runs returned are inspected, so a page of a long list costs a page.
    pub(crate) fn runs_page(
        &self,
        keep: impl Fn(&uuid::Uuid, Option<&str>) -> bool,
        skip: usize,
        take: usize,
    ) -> (Vec<RunInspection>, usize) {
        let now = Instant::now();
        let (mut shown, mut total) = (Vec::new(), 0usize);
        for workspace in self.workspaces() {
            let ws = lock(&workspace);
            for run in ws.runs.oldest_first().rev() {
                if !keep(&run.id(), run.idempotency_key()) {
                    continue;
                }
                if total >= skip && shown.len() < take {
                    shown.push(run.inspection(&ws.id, now));
                }
                total += 1;
            }
        }
        (shown, total)
    }

    /// Every run of every workspace, for inspection.
    pub(crate) fn inspect_runs(&self) -> Vec<RunInspection> {
        let now = Instant::now();
        let mut out = Vec::new();
        for workspace in self.workspaces() {
            let ws = lock(&workspace);
            out.extend(
                ws.runs
                    .oldest_first()
                    .map(|run| run.inspection(&ws.id, now)),
            );
        }
        out
    }
}
