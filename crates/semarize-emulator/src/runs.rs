//! The run lifecycle on a clock: a run is `queued` for the first fifth of its latency,
//! `running` until it finishes, then `succeeded`, `failed` or `cancelled`. Nothing moves
//! a run along: its status is read from the clock, so a run costs nothing while it waits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use semarize_api::types::{self, ErrorCode, RunStatus, RunType};
use serde::Serialize;
use uuid::Uuid;

use crate::faults::ForcedOutcome;
use crate::inspect::{RunInspection, StatusChange};
use crate::kits::Usage;

/// Share of the run latency spent `queued` before `running`.
const QUEUED_SHARE: f64 = 0.2;

/// How a run ends.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    // Shared: the engine is deterministic, so identical inputs share one output.
    Succeeded(Arc<types::RunOutput>),
    Failed {
        code: ErrorCode,
        message: Option<String>,
        user_message: Option<String>,
    },
    Cancelled,
}

impl From<ForcedOutcome> for Outcome {
    fn from(forced: ForcedOutcome) -> Self {
        match forced {
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
        }
    }
}

/// A validated `POST /v1/runs` body.
#[derive(Debug, Clone)]
pub(crate) struct CreateRun {
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
pub(crate) enum CreateOutcome {
    /// A new run.
    Created,
    /// The key was seen with the same body: the original run.
    Replayed,
}

/// One run.
#[derive(Debug)]
pub(crate) struct RunRecord {
    run_id: Uuid,
    run_type: RunType,
    created_at: DateTime<Utc>,
    /// `created_at` on the monotonic clock: the status history is read from it.
    created: Instant,
    started: Instant,
    finishes: Instant,
    outcome: Outcome,
    usage: Usage,
    idempotency_key: Option<Arc<str>>,
    kit_code: Arc<str>,
    event_emitted: bool,
}

impl RunRecord {
    /// A run created `now` that takes `latency` and ends with `outcome` (a cancelled run
    /// ends as it would have started).
    pub(crate) fn new(
        request: &CreateRun,
        kit_code: &str,
        idempotency_key: Option<Arc<str>>,
        (outcome, usage): (Outcome, Usage),
        now: Instant,
        latency: Duration,
    ) -> Self {
        let started = now + latency.mul_f64(QUEUED_SHARE);
        let finishes = match outcome {
            Outcome::Cancelled => started,
            _ => now + latency,
        };
        RunRecord {
            run_id: Uuid::new_v4(),
            run_type: request.run_type.clone(),
            created_at: crate::ids::now_millis(),
            created: now,
            started,
            finishes,
            outcome,
            usage,
            idempotency_key,
            kit_code: Arc::from(kit_code),
            event_emitted: false,
        }
    }

    /// The run's id.
    pub(crate) fn id(&self) -> Uuid {
        self.run_id
    }

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

    /// The Idempotency-Key it was created with.
    pub(crate) fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// Whether the run is terminal at `now`.
    pub(crate) fn is_terminal(&self, now: Instant) -> bool {
        now >= self.finishes
    }

    /// When the run becomes terminal.
    pub(crate) fn finishes(&self) -> Instant {
        self.finishes
    }

    /// Ends a run that is not terminal yet with `outcome`, at `now`.
    pub(crate) fn force(&mut self, outcome: ForcedOutcome, now: Instant) -> Result<(), String> {
        if self.is_terminal(now) {
            return Err(format!(
                "run {} is already {}",
                self.run_id,
                self.status(now)
            ));
        }
        self.outcome = outcome.into();
        self.finishes = now;
        self.started = self.started.min(now);
        Ok(())
    }

    /// Marks the terminal event as emitted; false if it already was, so each run
    /// produces one event.
    pub(crate) fn claim_event(&mut self) -> bool {
        !std::mem::replace(&mut self.event_emitted, true)
    }

    /// The summary `POST /v1/runs` (202) and `GET /v1/runs` return.
    pub(crate) fn summary(&self, now: Instant) -> types::Run {
        crate::built(
            types::Run::builder()
                .run_id(self.run_id.to_string())
                .status(self.status(now))
                .run_type(Some(self.run_type.clone()))
                .created_at(Some(self.created_at)),
        )
    }

    /// The full detail `GET /v1/runs/{runId}` returns.
    pub(crate) fn detail(&self, now: Instant) -> types::Run {
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
    pub(crate) fn usage(&self, now: Instant) -> types::RunUsage {
        let (prompt, completion, credits) = match self.status(now) {
            RunStatus::Queued => (0, 0, 0),
            RunStatus::Succeeded => (self.usage.prompt, self.usage.completion, self.usage.credits),
            RunStatus::Cancelled if self.finishes <= self.started => (0, 0, 0),
            _ => (self.usage.prompt, 0, 0),
        };
        crate::built(
            types::RunUsage::builder()
                .run_id(self.run_id.to_string())
                .token_usage(crate::built::<_, types::TokenUsage>(
                    types::TokenUsage::builder()
                        .prompt(prompt)
                        .completion(completion),
                ))
                .credits_consumed(credits),
        )
    }

    /// The run as the inspection surface lists it.
    pub(crate) fn inspection(&self, workspace_id: &Arc<str>, now: Instant) -> RunInspection {
        RunInspection {
            workspace_id: workspace_id.clone(),
            run_id: self.run_id,
            idempotency_key: self.idempotency_key.clone(),
            kit_code: self.kit_code.clone(),
            status: self.status(now),
            history: self.history(now),
        }
    }

    /// Every status the run has had by `now`, with when it entered each: read from the
    /// clock like the status itself (queued at creation, running once started, the
    /// outcome once finished).
    fn history(&self, now: Instant) -> Vec<StatusChange> {
        let at = |instant: Instant| {
            let since = instant.saturating_duration_since(self.created);
            self.created_at + chrono::Duration::from_std(since).unwrap_or_default()
        };
        let mut history = vec![StatusChange {
            status: RunStatus::Queued,
            at: self.created_at,
        }];
        if now >= self.started && self.started < self.finishes {
            history.push(StatusChange {
                status: RunStatus::Running,
                at: at(self.started),
            });
        }
        if now >= self.finishes {
            history.push(StatusChange {
                status: self.status(now),
                at: at(self.finishes),
            });
        }
        history
    }
}

/// Seconds until a run that finishes at `finishes` is likely terminal, for
/// `Retry-After`: 1 to 10.
pub(crate) fn advised_delay(finishes: Instant) -> u64 {
    let remaining = finishes
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    remaining.ceil().clamp(1.0, 10.0) as u64
}

/// One workspace's runs, by id and in creation order.
#[derive(Debug, Default)]
pub(crate) struct RunStore {
    runs: HashMap<Uuid, RunRecord>,
    order: Vec<Uuid>,
}

impl RunStore {
    /// A run by its id (as the client sent it).
    pub(crate) fn get(&self, run_id: &str) -> Option<&RunRecord> {
        self.by_id(&Uuid::parse_str(run_id).ok()?)
    }

    /// A run by its id, to change it.
    pub(crate) fn get_mut(&mut self, run_id: &str) -> Option<&mut RunRecord> {
        self.runs.get_mut(&Uuid::parse_str(run_id).ok()?)
    }

    /// A run by its parsed id.
    pub(crate) fn by_id(&self, run_id: &Uuid) -> Option<&RunRecord> {
        self.runs.get(run_id)
    }

    /// Stores a new run.
    pub(crate) fn insert(&mut self, run: RunRecord) {
        self.order.push(run.run_id);
        self.runs.insert(run.run_id, run);
    }

    /// Every run, oldest first.
    pub(crate) fn oldest_first(&self) -> impl DoubleEndedIterator<Item = &RunRecord> {
        self.order.iter().filter_map(|id| self.runs.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output() -> Arc<types::RunOutput> {
        Arc::new(serde_json::from_value(serde_json::json!({"bricks": {}})).unwrap())
    }

    fn run(outcome: Outcome, now: Instant) -> RunRecord {
        let request = CreateRun {
            kit_code: Some("A1B2C3D4".into()),
            kit_version_id: None,
            transcript: "t".into(),
            run_type: RunType::Api,
            sync: false,
            body_hash: [0; 32],
        };
        let usage = Usage {
            prompt: 10,
            completion: 5,
            credits: 2,
        };
        RunRecord::new(
            &request,
            "A1B2C3D4",
            None,
            (outcome, usage),
            now,
            Duration::from_secs(10),
        )
    }

    #[test]
    fn status_follows_the_clock_and_usage_follows_the_status() {
        let now = Instant::now();
        let r = run(Outcome::Succeeded(output()), now);
        assert_eq!(r.status(now), RunStatus::Queued);
        assert_eq!(r.usage(now).token_usage.prompt, 0);
        assert_eq!(r.status(now + Duration::from_secs(3)), RunStatus::Running);
        assert_eq!(r.usage(now + Duration::from_secs(3)).credits_consumed, 0);
        let done = now + Duration::from_secs(10);
        assert_eq!(r.status(done), RunStatus::Succeeded);
        assert_eq!(r.usage(done).credits_consumed, 2);
        assert_eq!(r.detail(done).duration_ms, Some(8000));
    }

    #[test]
    fn a_forced_outcome_ends_the_run_once() {
        let now = Instant::now();
        let mut r = run(Outcome::Succeeded(output()), now);
        r.force(ForcedOutcome::Cancel, now).unwrap();
        assert_eq!(r.status(now), RunStatus::Cancelled);
        assert_eq!(r.usage(now).credits_consumed, 0);
        assert!(
            r.force(ForcedOutcome::Cancel, now).is_err(),
            "already terminal"
        );
        assert!(r.claim_event());
        assert!(!r.claim_event(), "one event per run");
    }
}
