//! Waiting for a run: bounded polling that starts from the advised delay, backs off
//! exponentially with jitter up to a cap (never below the initial delay, so no sub-second
//! loops and no fleet of waiters polling in lockstep), honours `Retry-After` and 429 on
//! polls, and stops at `succeeded`, `failed` or `cancelled`. Every delay, the server's
//! included, is clamped to the time left: a waiter never sleeps past its maximum wait.

use std::time::{Duration, Instant};

use futures::Stream;
use semarize_api::types::{ErrorCode, Run, RunStatus};

use crate::backoff::Backoff;
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
    /// The creation's `Retry-After`: the first delay, and advice like any poll's.
    first_advice: Option<Duration>,
}

impl WaitOptions {
    /// Poll for at most `max_wait`; first poll after 1 s, then with jittered backoff
    /// doubling to at most 10 s.
    pub fn new(max_wait: Duration) -> Self {
        WaitOptions {
            max_wait,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            first_advice: None,
        }
    }

    /// The server's advice for the first poll (the creation's `Retry-After`).
    pub(crate) fn first_advice(mut self, advice: Option<Duration>) -> Self {
        self.first_advice = advice;
        self
    }

    /// The delay before the first poll, and the floor of every later one (default 1 s): a
    /// jittered backoff never polls sooner. A longer `Retry-After` still wins.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The cap of the doubling delay between polls (default 10 s). A longer `Retry-After`
    /// from the server is still honoured, up to the time left.
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
    /// The floor of every delay between polls.
    initial_delay: Duration,
    backoff: Backoff,
    /// Polls made so far: the backoff step of the next one.
    polls: u32,
    /// The next delay: the initial one, then the backoff or the server's advice.
    delay: Duration,
    /// The server's advice for the next delay, when it gave one.
    advised: Option<Duration>,
    last: Option<Run>,
}

impl Poller {
    fn new(client: Client, run_id: String, options: WaitOptions) -> Self {
        let deadline =
            crate::runtime::saturating_add(client.inner.runtime.clock.now(), options.max_wait);
        Poller {
            client,
            run_id,
            deadline,
            initial_delay: options.initial_delay,
            backoff: Backoff::new(
                options.initial_delay,
                options.max_delay.max(options.initial_delay),
            ),
            polls: 0,
            delay: options
                .initial_delay
                .max(options.first_advice.unwrap_or(Duration::ZERO)),
            advised: options.first_advice,
            last: None,
        }
    }

    fn timed_out(&self, advice_too_long: bool) -> Error {
        let status = self
            .last
            .as_ref()
            .map(|r| r.status.to_string())
            .unwrap_or_else(|| "unknown".into());
        let mut message = format!("the run is still {status}");
        if advice_too_long && let Some(advised) = self.advised {
            message.push_str(&format!(
                "; the server advised waiting {} s more, past the maximum wait",
                advised.as_secs()
            ));
        }
        Error::new(ErrorKind::WaitTimeout, message)
            .with_retry_after(self.advised)
            .with_call(&semarize_api::operations::GET_RUN, &[&self.run_id])
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
                return Err(self.timed_out(false));
            }
            // Advice that ends past the deadline cannot be followed within this wait:
            // say so now rather than sleep until the deadline for nothing.
            if self.advised.is_some_and(|advised| advised > remaining) {
                return Err(self.timed_out(true));
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
            self.polls = self.polls.saturating_add(1);
            let jittered = self
                .backoff
                .full_jitter(self.polls.saturating_add(1), runtime.jitter.fraction());
            self.advised = advised;
            self.delay = jittered
                .max(self.initial_delay)
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
