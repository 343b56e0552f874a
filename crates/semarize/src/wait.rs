//! Waiting for a run: bounded polling that starts from the advised delay, backs off
//! exponentially (no jitter) up to a cap, honours `Retry-After` and 429 on polls, and stops
//! at `succeeded`, `failed` or `cancelled`.

use std::time::{Duration, Instant};

use futures::Stream;
use semarize_api::types::{ErrorCode, Run, RunStatus};

use crate::client::Client;
use crate::error::{Error, ErrorKind};

/// How long and how often to poll. The maximum wait is required: a waiter never waits
/// forever.
///
/// ```
/// use std::time::Duration;
/// let options = semarize::WaitOptions::new(Duration::from_secs(300))
///     .initial_delay(Duration::from_secs(2))
///     .max_delay(Duration::from_secs(10));
/// assert_eq!(options.max_wait(), Duration::from_secs(300));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WaitOptions {
    max_wait: Duration,
    initial_delay: Duration,
    max_delay: Duration,
}

impl WaitOptions {
    /// Poll for at most `max_wait`; first poll after 1 s, doubling to at most 10 s.
    pub fn new(max_wait: Duration) -> Self {
        WaitOptions {
            max_wait,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
        }
    }

    /// The delay before the first poll (use the creation's `Retry-After`).
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The cap of the doubling delay between polls (default 10 s). A longer `Retry-After`
    /// from the server is still honoured.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The maximum wait.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// How a run ended. Failed and cancelled runs are results, not errors: the request
/// succeeded and the run's status is the answer. [`RunOutcome::into_result`] turns them
/// into errors when that is more convenient.
#[derive(Clone, Debug, PartialEq)]
pub enum RunOutcome {
    /// Output is ready under `output.bricks`.
    Succeeded(Run),
    /// The run failed; see the [`RunFailure`] fields.
    Failed(RunFailure),
    /// The run was cancelled.
    Cancelled(RunFailure),
}

/// A run that ended without output.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFailure {
    /// The run.
    pub run: Run,
}

impl RunFailure {
    /// `error_code`, when present.
    pub fn error_code(&self) -> Option<&ErrorCode> {
        self.run.error_code.as_ref()
    }

    /// `error_message` (internal diagnostic), when present.
    pub fn error_message(&self) -> Option<&str> {
        self.run.error_message.as_deref()
    }

    /// `error_user_message` (safe to show users), when present.
    pub fn error_user_message(&self) -> Option<&str> {
        self.run.error_user_message.as_deref()
    }
}

impl RunOutcome {
    /// Classifies a terminal run (a non-terminal one is treated as cancelled; callers
    /// only pass terminal runs).
    pub(crate) fn from_run(run: Run) -> Self {
        match run.status {
            RunStatus::Succeeded => RunOutcome::Succeeded(run),
            RunStatus::Failed => RunOutcome::Failed(RunFailure { run }),
            _ => RunOutcome::Cancelled(RunFailure { run }),
        }
    }

    /// The run.
    pub fn run(&self) -> &Run {
        match self {
            RunOutcome::Succeeded(run) => run,
            RunOutcome::Failed(failure) | RunOutcome::Cancelled(failure) => &failure.run,
        }
    }

    /// Whether the run succeeded.
    pub fn is_succeeded(&self) -> bool {
        matches!(self, RunOutcome::Succeeded(_))
    }

    /// The succeeded run, or an [`ErrorKind::RunFailed`] / [`ErrorKind::RunCancelled`]
    /// error carrying the run's `error_code` and the run itself.
    pub fn into_result(self) -> Result<Run, Error> {
        match self {
            RunOutcome::Succeeded(run) => Ok(run),
            RunOutcome::Failed(failure) => {
                let message = failure.run.error_message.clone().unwrap_or_default();
                Err(Error::new(ErrorKind::RunFailed, message).with_run(failure.run))
            }
            RunOutcome::Cancelled(failure) => {
                Err(Error::new(ErrorKind::RunCancelled, "").with_run(failure.run))
            }
        }
    }
}

/// Polls one run; shared by [`wait`] and [`watch`].
struct Poller {
    client: Client,
    run_id: String,
    deadline: Instant,
    delay: Duration,
    max_delay: Duration,
    last: Option<Run>,
}

impl Poller {
    fn new(client: Client, run_id: String, options: WaitOptions) -> Self {
        let deadline = client.inner.runtime.clock.now() + options.max_wait;
        Poller {
            client,
            run_id,
            deadline,
            delay: options.initial_delay,
            max_delay: options.max_delay,
            last: None,
        }
    }

    fn timed_out(&self) -> Error {
        let status = self
            .last
            .as_ref()
            .map(|r| r.status.to_string())
            .unwrap_or_else(|| "unknown".into());
        Error::new(ErrorKind::WaitTimeout, format!("the run is still {status}"))
            .with_call("get_run", &format!("GET /v1/runs/{}", self.run_id))
            .with_run_id(Some(&self.run_id))
            .with_workspace(&self.client.inner.workspace)
    }

    /// Sleeps the current delay (never past the deadline) and polls once. Transient
    /// failures of one poll are retried within the time left; if they persist the poll is
    /// skipped and waiting goes on. Returns the run, or the time-out error once the
    /// deadline has passed.
    async fn next(&mut self) -> Result<Run, Error> {
        let runtime = &self.client.inner.runtime;
        loop {
            let remaining = self.deadline.saturating_duration_since(runtime.clock.now());
            if remaining.is_zero() {
                return Err(self.timed_out());
            }
            runtime.sleeper.sleep(self.delay.min(remaining)).await;
            let remaining = self.deadline.saturating_duration_since(runtime.clock.now());
            // Poll retries (429, 5xx, timeouts) must not outlast the wait itself.
            let policy = self
                .client
                .inner
                .retry_policy
                .clone()
                .max_elapsed(remaining);
            let polled = self
                .client
                .runs()
                .get(&self.run_id)
                .retry_policy(policy)
                .send_reply()
                .await;
            let advised = match &polled {
                Ok(reply) => reply.retry_after,
                Err(e) => e.retry_after(),
            };
            self.delay = (self.delay * 2)
                .min(self.max_delay)
                .max(advised.unwrap_or(Duration::ZERO));
            match polled {
                Ok(reply) => {
                    self.last = Some(reply.value.clone());
                    return Ok(reply.value);
                }
                Err(e) if e.is_retryable() => {
                    tracing::debug!(run_id = %self.run_id, error = %e, "poll failed; waiting on");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

pub(crate) async fn wait(
    client: &Client,
    run_id: &str,
    options: WaitOptions,
) -> Result<RunOutcome, Error> {
    let span = tracing::info_span!(
        "semarize.wait",
        run_id,
        max_wait_ms = options.max_wait.as_millis() as u64
    );
    let mut poller = Poller::new(client.clone(), run_id.to_owned(), options);
    tracing::Instrument::instrument(
        async move {
            loop {
                let run = poller.next().await?;
                if run.status.is_terminal() {
                    return Ok(RunOutcome::from_run(run));
                }
            }
        },
        span,
    )
    .await
}

pub(crate) fn watch(
    client: Client,
    run_id: String,
    options: WaitOptions,
) -> impl Stream<Item = Result<Run, Error>> {
    let poller = Poller::new(client, run_id, options);
    futures::stream::unfold(
        (poller, None::<RunStatus>, false),
        |(mut poller, last, done)| async move {
            if done {
                return None;
            }
            let mut last = last;
            loop {
                match poller.next().await {
                    Ok(run) => {
                        let terminal = run.status.is_terminal();
                        if last.as_ref() != Some(&run.status) {
                            last = Some(run.status.clone());
                            return Some((Ok(run), (poller, last, terminal)));
                        }
                    }
                    Err(e) => return Some((Err(e), (poller, last, true))),
                }
            }
        },
    )
}
