//! The batch engine: creation workers with bounded concurrency behind a shared admission
//! gate, a separate poller driven by `next_poll_at`, and (optionally) webhook completion.
//!
//! Time comes from the client's [`Runtime`](semarize::runtime::Runtime) (clock and sleeper),
//! and delays from the crate's one [`Backoff`] with the client's jitter, so tests run the
//! engine on virtual time. Only a definite answer from the service makes a record
//! rejected or failed: a transient or unreadable answer is retried with the same key.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use semarize_api::types::{Run, RunStatus};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::BatchError;
use super::ledger::{CreateClaim, Kit, Ledger, PollClaim, Terminal, TerminalState, Transition};
use super::progress::Progress;
use super::wake::{Alarm, IDLE_RECHECK, MIN_REST, Wake};
use semarize::Backoff;
use semarize::Client;
use semarize::RetryPolicy;
use semarize::{Error, ErrorKind};

/// How the engine works.
///
/// Start from [`Default`] and set what differs with the setters (one per option; new
/// options arrive with a default):
///
/// ```
/// use std::time::Duration;
/// use semarize_batch::BatchOptions;
///
/// let options = BatchOptions::default()
///     .concurrency(16)
///     .lease(Duration::from_secs(120))
///     .worker_id("worker-eu-1");
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct BatchOptions {
    // Each option is described on its setter.
    pub(crate) concurrency: usize,
    pub(crate) poll_concurrency: usize,
    pub(crate) lease: Duration,
    pub(crate) max_poll_delay: Duration,
    pub(crate) webhook_grace: Option<Duration>,
    pub(crate) worker_id: String,
    pub(crate) max_rate_limit_pause: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) create_interval: Option<Duration>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            concurrency: 8,
            poll_concurrency: 16,
            lease: Duration::from_secs(60),
            max_poll_delay: Duration::from_secs(10),
            webhook_grace: None,
            worker_id: format!("worker-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            max_rate_limit_pause: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(30),
            create_interval: None,
        }
    }
}

impl BatchOptions {
    /// Run creations in flight at most (default 8; at least 1).
    pub fn concurrency(mut self, creations: usize) -> Self {
        self.concurrency = creations.max(1);
        self
    }

    /// Polls in flight at most (default 16; at least 1).
    pub fn poll_concurrency(mut self, polls: usize) -> Self {
        self.poll_concurrency = polls.max(1);
        self
    }

    /// How long a claimed record is this worker's; a dead worker's records are taken over
    /// after it (default 60 s).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The cap of the delay between polls of one run (default 10 s).
    pub fn max_poll_delay(mut self, delay: Duration) -> Self {
        self.max_poll_delay = delay;
        self
    }

    /// When webhooks complete the runs, the first poll of a run waits this long, so polls
    /// are only the fallback for late webhooks. Unset (the default), polls start as the
    /// run's `Retry-After` advises; a run with a webhook receiver
    /// ([`RunBuilder::webhooks`](crate::RunBuilder::webhooks)) waits
    /// [`DEFAULT_WEBHOOK_GRACE`] unless told otherwise.
    pub fn webhook_grace(mut self, grace: Duration) -> Self {
        self.webhook_grace = Some(grace);
        self
    }

    /// This worker's name in leases.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = id.into();
        self
    }

    /// The longest any server advice may delay work: a 429's pause of creation or polling,
    /// or the next poll of a run (default 5 minutes, at most a day), whatever `Retry-After`
    /// says. A server asking for days does not stall the batch for days.
    pub fn max_rate_limit_pause(mut self, pause: Duration) -> Self {
        self.max_rate_limit_pause = pause.min(MAX_PAUSE);
        self
    }

    /// Creations per second for the whole fleet of workers on this ledger, at most (unset
    /// by default: as fast as `concurrency` and the service's 429s allow). Each worker
    /// draws creation slots from the ledger, so one rate holds however many workers run;
    /// set it at or just under the workspace's documented limit and the 429s a fleet
    /// would otherwise provoke do not happen. A rate that is not a positive number removes
    /// the limit; rates are kept between 0.001 and 1,000,000 a second.
    ///
    /// ```
    /// use semarize_batch::BatchOptions;
    /// let options = BatchOptions::default().max_create_rate(50.0);
    /// # let _ = options;
    /// ```
    pub fn max_create_rate(mut self, per_second: f64) -> Self {
        self.create_interval = (per_second > 0.0).then(|| {
            Duration::from_secs_f64(1.0 / per_second.clamp(MIN_CREATE_RATE, MAX_CREATE_RATE))
        });
        self
    }

    /// After [`BatchEngine::run_until`]'s shutdown: how long the requests in flight may
    /// take to finish before the rest is dropped (default 30 s). Dropping is safe: leases
    /// and derived Idempotency-Keys make the next run resume without duplicates.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }
}

/// A pause every worker of one kind honours: a 429 stops all creation (or all polling)
/// for the advised delay, and the work goes back to the queue.
#[derive(Debug, Default)]
struct Gate {
    until: Mutex<Option<Instant>>,
}

impl Gate {
    async fn wait(&self, runtime: &semarize::runtime::Runtime) {
        let until = *self.until.lock().await;
        if let Some(until) = until {
            let left = until.saturating_duration_since(runtime.clock().now());
            if !left.is_zero() {
                runtime.sleeper().sleep(left).await;
            }
        }
    }

    /// Pauses until `delay` from now, unless already paused longer; returns the end.
    async fn pause(&self, runtime: &semarize::runtime::Runtime, delay: Duration) -> Instant {
        let mut until = self.until.lock().await;
        // `delay` is capped (see `BatchOptions::max_rate_limit_pause`), so this adds.
        let now = runtime.clock().now();
        let candidate = now.checked_add(delay).unwrap_or(now);
        match *until {
            Some(u) if u >= candidate => u,
            _ => {
                *until = Some(candidate);
                candidate
            }
        }
    }
}

/// The engine over one ledger.
#[derive(Debug)]
pub struct BatchEngine {
    ledger: Arc<dyn Ledger>,
    client: Client,
    options: BatchOptions,
    progress: Arc<Progress>,
    create_gate: Gate,
    poll_gate: Gate,
    /// The ledger's wake-ups ([`Ledger::watch`]), for both loops.
    wake: Wake,
    create_alarm: Alarm,
    poll_alarm: Alarm,
    /// Set by [`BatchEngine::run_until`]'s shutdown: claim nothing more.
    stopping: std::sync::atomic::AtomicBool,
}

/// How [`BatchEngine::run_until`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunEnd {
    /// Every record of the ledger is terminal.
    Complete,
    /// The shutdown came first: the requests in flight were drained (or dropped after
    /// `drain_timeout`); run again to resume.
    Stopped,
}

/// The terminal record of a run.
pub(crate) fn terminal_from_run(run: &Run) -> Terminal {
    let state = match run.status {
        RunStatus::Succeeded => TerminalState::Succeeded,
        RunStatus::Failed => TerminalState::Failed,
        _ => TerminalState::Cancelled,
    };
    Terminal {
        state,
        status: run.status.to_string(),
        error_code: run.error_code.as_ref().map(|c| c.as_str().to_owned()),
        error_message: run
            .error_message
            .clone()
            .or_else(|| run.error_user_message.clone()),
        output: run
            .output
            .as_ref()
            .map(|o| serde_json::to_string(o).expect("outputs serialize")),
    }
}

/// Milliseconds, saturating (a server-supplied delay may be any length).
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How long a run's first poll waits when webhooks complete the runs, unless set
/// ([`BatchOptions::webhook_grace`]): Semarize delivers within seconds of the end of a
/// run, so polls only catch late deliveries.
pub const DEFAULT_WEBHOOK_GRACE: Duration = Duration::from_secs(30);

/// The longest [`BatchOptions::max_rate_limit_pause`] may be.
const MAX_PAUSE: Duration = Duration::from_secs(24 * 3600);

/// The bounds of [`BatchOptions::max_create_rate`], a second.
const MIN_CREATE_RATE: f64 = 0.001;
const MAX_CREATE_RATE: f64 = 1_000_000.0;

/// The first step of every engine backoff.
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// Errors that no retry or other record will fix: stop the batch.
fn is_fatal(error: &Error) -> bool {
    matches!(error.status().map(|s| s.as_u16()), Some(401 | 403))
        || matches!(
            error.kind(),
            ErrorKind::Config | ErrorKind::Redirected | ErrorKind::Cassette
        )
}

impl BatchEngine {
    /// An engine; `progress` is shared with whoever displays it.
    pub fn new(
        ledger: Arc<dyn Ledger>,
        client: Client,
        options: BatchOptions,
        progress: Arc<Progress>,
    ) -> Self {
        let wake = Wake::default();
        BatchEngine {
            ledger,
            client,
            options,
            progress,
            create_gate: Gate::default(),
            poll_gate: Gate::default(),
            create_alarm: Alarm::new(&wake),
            poll_alarm: Alarm::new(&wake),
            wake,
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Runs until every record is terminal or `shutdown` completes (a signal, say). On
    /// shutdown nothing more is claimed, the requests in flight finish (at most
    /// [`BatchOptions::drain_timeout`]), and it returns [`RunEnd::Stopped`]: every answer
    /// received is in the ledger, and running again resumes.
    pub async fn run_until(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<RunEnd, BatchError> {
        use futures::future::{Either, select};
        let work = std::pin::pin!(self.run());
        let work = match select(work, std::pin::pin!(shutdown)).await {
            Either::Left((result, _)) => return result.map(|()| RunEnd::Complete),
            Either::Right(((), work)) => work,
        };
        self.stopping.store(true, Ordering::Relaxed);
        tracing::info!("stopping: nothing more is claimed; draining the requests in flight");
        let drain = self.runtime().sleeper().sleep(self.options.drain_timeout);
        match select(work, drain).await {
            Either::Left((result, _)) => result.map(|()| RunEnd::Stopped),
            Either::Right(((), _)) => {
                tracing::warn!(
                    drain_s = self.options.drain_timeout.as_secs(),
                    "requests still in flight after the drain timeout were dropped; the next run resumes them"
                );
                Ok(RunEnd::Stopped)
            }
        }
    }

    /// The options it runs with.
    #[cfg(all(test, feature = "webhooks", feature = "sqlite"))]
    pub(crate) fn options(&self) -> &BatchOptions {
        &self.options
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Runs until every record of the ledger is terminal. Safe to stop at any point (drop
    /// the future, or kill the process) and run again.
    pub async fn run(&self) -> Result<(), BatchError> {
        self.progress.start_from(&self.ledger.counts().await?);
        let work = async {
            tokio::try_join!(self.creation_loop(), self.poll_loop())?;
            Ok(())
        };
        // The ledger's wake-ups, for as long as the loops run; never an error of the
        // batch: without them idle loops look every few seconds.
        let watch = async {
            if let Err(e) = self.ledger.watch(self.wake.clone()).await {
                tracing::warn!(error = %e, "the ledger's wake-ups stopped; idle workers look every few seconds");
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            result = work => result,
            () = watch => unreachable!("watching never ends"),
        }
    }

    fn runtime(&self) -> &semarize::runtime::Runtime {
        self.client.runtime()
    }

    /// Now, Unix milliseconds, from the client's clock.
    fn now_ms(&self) -> i64 {
        self.runtime().clock().now_utc().timestamp_millis()
    }

    /// `step` of a backoff from [`BACKOFF_BASE`] to `cap`, with full jitter but never
    /// below the base (no tight loops).
    fn backoff(&self, step: u32, cap: Duration) -> Duration {
        Backoff::new(BACKOFF_BASE, cap.max(BACKOFF_BASE))
            .full_jitter(step, self.runtime().jitter().fraction())
            .max(BACKOFF_BASE)
    }

    /// The server's advice, capped by `max_rate_limit_pause`.
    fn capped_advice(&self, advised: Duration) -> Duration {
        let cap = self.options.max_rate_limit_pause;
        if advised > cap {
            tracing::warn!(
                advised_s = advised.as_secs(),
                cap_s = cap.as_secs(),
                "Retry-After beyond the batch's pause limit; waiting for the limit"
            );
        }
        advised.min(cap)
    }

    /// A 429's delay: the advice (1 s without one), capped.
    fn rate_limit_delay(&self, error: &Error) -> Duration {
        self.capped_advice(error.retry_after().unwrap_or(Duration::from_secs(1)))
    }

    /// The delay before the next try of a record: backoff step `step` (capped by `cap`), or
    /// the server's capped advice when that is longer.
    fn next_delay(&self, advised: Option<Duration>, step: u32, cap: Duration) -> Duration {
        let advised = advised.map_or(Duration::ZERO, |a| self.capped_advice(a));
        self.backoff(step, cap).max(advised)
    }

    /// When an idle loop looks at the ledger again: when its next work is due, `due_in_ms`
    /// from now, within [`MIN_REST`] and [`IDLE_RECHECK`] (nothing due: the recheck).
    fn rest_until(&self, due_in_ms: Option<i64>) -> i64 {
        let (least, most) = (ms(MIN_REST), ms(IDLE_RECHECK));
        let rest = due_in_ms.unwrap_or(most).clamp(least, most);
        self.now_ms().saturating_add(rest)
    }

    async fn creation_loop(&self) -> Result<(), BatchError> {
        let claim = |free: usize| async move {
            let claims = self
                .ledger
                .claim_for_create(
                    &self.options.worker_id,
                    self.now_ms(),
                    self.options.lease,
                    self.claim_size(free),
                )
                .await?;
            self.schedule(claims).await
        };
        // Nothing left to create (every record accepted or done): this loop is finished.
        let due = || async { Ok(self.ledger.next_due(self.now_ms()).await?.create_in_ms) };
        self.keep_busy(
            self.options.concurrency.max(1),
            (&self.create_gate, &self.create_alarm),
            claim,
            |(claim, start_in)| self.create_one(claim, start_in),
            due,
        )
        .await
    }

    /// Keeps up to `concurrency` pieces of work in flight and claims more as soon as one
    /// finishes, so a slow record never holds back the others. `claim(n)` claims up to
    /// `n`; when it finds nothing, `due()` says in how many milliseconds this loop's next
    /// work is due, and the loop rests on its alarm until then (see [`crate::wake`]);
    /// nothing due and nothing in flight: the loop is done. On stopping, nothing more is
    /// claimed and the work in flight drains. The first error stops the claiming too; the
    /// work in flight drains (its answers reach the ledger) and then the error is returned.
    async fn keep_busy<'a, T, Claim, ClaimFut, Work, WorkFut, Due, DueFut>(
        &'a self,
        concurrency: usize,
        (gate, alarm): (&'a Gate, &'a Alarm),
        claim: Claim,
        work: Work,
        due: Due,
    ) -> Result<(), BatchError>
    where
        Claim: Fn(usize) -> ClaimFut,
        ClaimFut: std::future::Future<Output = Result<Vec<T>, BatchError>> + Send + 'a,
        Work: Fn(T) -> WorkFut,
        WorkFut: std::future::Future<Output = Result<(), BatchError>>,
        Due: Fn() -> DueFut + Sync,
        DueFut: std::future::Future<Output = Result<Option<i64>, BatchError>> + Send,
    {
        /// What a claim found: records, or none and when the loop's next work is due.
        enum Found<T> {
            Records(Vec<T>),
            Nothing { due_in_ms: Option<i64> },
        }
        enum Next<T> {
            Finished(Result<(), BatchError>),
            Claimed(Result<Found<T>, BatchError>),
        }
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let due = &due;
        // One claim at a time, kept across iterations: dropping a claim half-way would
        // leave records leased to this worker until the lease ran out. It asks for the
        // next due time itself: the work in flight holds ledger connections until it is
        // polled again, so the loop never waits on the ledger outside the select below.
        let mut claiming: Option<futures::future::BoxFuture<'_, Result<Found<T>, BatchError>>> =
            None;
        // When to look at the ledger again, after a claim found nothing.
        let mut rest_until: Option<i64> = None;
        let mut failure: Option<BatchError> = None;
        loop {
            let claiming_allowed = !self.stopping() && failure.is_none();
            if claiming.is_none() && in_flight.len() < concurrency && claiming_allowed {
                let free = concurrency - in_flight.len();
                let rest = rest_until.take();
                let claimed = claim(free);
                let runtime = self.runtime();
                let stopping = &self.stopping;
                claiming = Some(Box::pin(async move {
                    if let Some(until) = rest {
                        alarm.rest(runtime, until).await;
                    }
                    alarm.looking();
                    gate.wait(runtime).await;
                    if stopping.load(Ordering::Relaxed) {
                        return Ok(Found::Nothing { due_in_ms: None });
                    }
                    match claimed.await? {
                        claims if !claims.is_empty() => return Ok(Found::Records(claims)),
                        _ => {}
                    }
                    let due_in_ms = due().await?;
                    Ok(Found::Nothing { due_in_ms })
                }));
            }
            if claiming.is_none() && in_flight.is_empty() {
                return failure.map_or(Ok(()), Err);
            }
            let next = {
                let completion = async {
                    match in_flight.next().await {
                        Some(result) => result,
                        None => std::future::pending().await,
                    }
                };
                let claimed = async {
                    match claiming.as_mut() {
                        Some(claim) => claim.await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    result = completion => Next::Finished(result),
                    claims = claimed => Next::Claimed(claims),
                }
            };
            match next {
                // The last piece of work done: whether the loop is finished is worth a look
                // now, not after the rest.
                Next::Finished(Ok(())) if in_flight.is_empty() => alarm.ring_at(i64::MIN),
                Next::Finished(Ok(())) => {}
                // A claim under way still completes (its records are leased to us by then).
                Next::Finished(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Next::Claimed(Err(e)) => {
                    claiming = None;
                    failure.get_or_insert(e);
                }
                Next::Claimed(Ok(Found::Records(claims))) => {
                    claiming = None;
                    in_flight.extend(claims.into_iter().map(&work));
                }
                Next::Claimed(Ok(Found::Nothing { due_in_ms })) => {
                    claiming = None;
                    if self.stopping() || failure.is_some() {
                        continue;
                    }
                    match due_in_ms {
                        None if in_flight.is_empty() => return Ok(()),
                        // Nothing due now: rest before claiming again.
                        due_in => rest_until = Some(self.rest_until(due_in)),
                    }
                }
            }
        }
    }

    /// How many records to claim for creation with `free` places: with a fleet rate, no
    /// more than half a lease of slots, so no claimed record outlives its lease waiting.
    fn claim_size(&self, free: usize) -> usize {
        match self.options.create_interval {
            None => free,
            Some(interval) => {
                let fit = self.options.lease.as_micros() / 2 / interval.as_micros().max(1);
                free.min(usize::try_from(fit).unwrap_or(usize::MAX)).max(1)
            }
        }
    }

    /// When each claimed record may be sent: now, or with a fleet rate its slot drawn from
    /// the ledger (the first slot's delay, then one interval apart).
    async fn schedule(
        &self,
        claims: Vec<CreateClaim>,
    ) -> Result<Vec<(CreateClaim, Duration)>, BatchError> {
        let (Some(interval), false) = (self.options.create_interval, claims.is_empty()) else {
            return Ok(claims.into_iter().map(|c| (c, Duration::ZERO)).collect());
        };
        let first = self
            .ledger
            .reserve_creations(claims.len(), interval, self.now_ms())
            .await?;
        Ok(claims
            .into_iter()
            .enumerate()
            .map(|(slot, claim)| {
                let later = interval.saturating_mul(u32::try_from(slot).unwrap_or(u32::MAX));
                (claim, first.saturating_add(later))
            })
            .collect())
    }

    async fn create_one(&self, claim: CreateClaim, start_in: Duration) -> Result<(), BatchError> {
        if !start_in.is_zero() {
            self.runtime().sleeper().sleep(start_in).await;
        }
        self.create_gate.wait(self.runtime()).await;
        let input: Map<String, Value> = serde_json::from_str(&claim.input).map_err(|e| {
            BatchError::Ledger(super::LedgerError::Corrupt(format!(
                "input of {}: {e}",
                claim.source_id
            )))
        })?;
        let runs = self.client.runs();
        let request = match &claim.kit {
            Kit::Version(version) => runs.create_with_kit_version(version),
            Kit::Code(code) => runs.create_with_kit_code(code),
        };
        let in_flight = self.progress.creation_sent();
        // One attempt per claim: retries go back through the queue (same key), so a 429
        // can pause every worker and a crash loses nothing.
        let result = request
            .input(input)
            .idempotency_key(&claim.idempotency_key)
            .retry_policy(RetryPolicy::none())
            .send()
            .await;
        drop(in_flight);
        let transition = match result {
            Ok(created) => Transition::Created {
                run_id: created.run.run_id.clone(),
                status: created.run.status.to_string(),
                // Polls wait out the webhook grace, or the server's (capped) advice.
                poll_in: match self.options.webhook_grace {
                    Some(grace) => grace,
                    None => {
                        self.capped_advice(created.retry_after.unwrap_or(Duration::from_secs(1)))
                    }
                },
            },
            Err(e) if e.kind() == ErrorKind::RateLimited => {
                self.progress.rate_limited_once();
                let delay = self.rate_limit_delay(&e);
                self.create_gate.pause(self.runtime(), delay).await;
                // Every worker of the ledger shares the workspace's limit.
                self.ledger.pause_creations(delay, self.now_ms()).await?;
                let until = self.now_ms().saturating_add(ms(delay));
                self.progress.creation_paused_until(until);
                Transition::RetryCreate {
                    retry_in: delay,
                    error_code: "rate_limited".into(),
                }
            }
            Err(e) if is_fatal(&e) => return Err(BatchError::Api(e)),
            // Transient, or no definite answer (an unreadable 2xx: the run may exist): the
            // same key next time, so the service dedupes.
            Err(e) if e.is_retryable() => {
                tracing::info!(source_id = %claim.source_id, error = %e, "creation will be retried");
                Transition::RetryCreate {
                    retry_in: self.next_delay(
                        e.retry_after(),
                        claim.attempts,
                        Duration::from_secs(60),
                    ),
                    error_code: e
                        .code()
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_else(|| format!("{:?}", e.kind()).to_lowercase()),
                }
            }
            Err(e) => Transition::Finished(failure(
                TerminalState::Rejected,
                "rejected",
                "invalid_request",
                &e,
            )),
        };
        let finished = matches!(transition, Transition::Finished(_));
        self.record(&claim.source_id, &claim.kit, transition)
            .await?;
        if finished {
            // Maybe the last open record: the poll loop looks whether it is done.
            self.poll_alarm.ring_at(i64::MIN);
        }
        Ok(())
    }

    async fn poll_loop(&self) -> Result<(), BatchError> {
        let claim = |free: usize| async move {
            Ok(self
                .ledger
                .claim_for_poll(
                    &self.options.worker_id,
                    self.now_ms(),
                    self.options.lease,
                    free,
                )
                .await?)
        };
        // A record still to create will be polled; nothing open at all: finished.
        let due = || async {
            let due = self.ledger.next_due(self.now_ms()).await?;
            Ok(due
                .poll_in_ms
                .or(due.create_in_ms.map(|_| ms(IDLE_RECHECK))))
        };
        self.keep_busy(
            self.options.poll_concurrency.max(1),
            (&self.poll_gate, &self.poll_alarm),
            claim,
            |claim| self.poll_one(claim),
            due,
        )
        .await
    }

    async fn poll_one(&self, claim: PollClaim) -> Result<(), BatchError> {
        self.poll_gate.wait(self.runtime()).await;
        self.progress.poll_sent();
        let result = self
            .client
            .runs()
            .get(&claim.run_id)
            .retry_policy(RetryPolicy::none())
            .send_polled()
            .await;
        let transition = match result {
            Ok(reply) if reply.run.status.is_terminal() => {
                Transition::Finished(terminal_from_run(&reply.run))
            }
            Ok(reply) => Transition::Polled {
                status: Some(reply.run.status.to_string()),
                poll_in: self.next_delay(
                    reply.retry_after,
                    claim.polls.saturating_add(1),
                    self.options.max_poll_delay,
                ),
            },
            Err(e) if e.kind() == ErrorKind::RateLimited => {
                self.progress.rate_limited_once();
                let delay = self.rate_limit_delay(&e);
                self.poll_gate.pause(self.runtime(), delay).await;
                Transition::Polled {
                    status: None,
                    poll_in: delay,
                }
            }
            Err(e) if is_fatal(&e) => return Err(BatchError::Api(e)),
            // Transient, or an answer that could not be read: the run may well have
            // finished, so it is polled again, never failed on an unreadable answer.
            Err(e) if e.is_retryable() => Transition::Polled {
                status: None,
                poll_in: self.next_delay(e.retry_after(), claim.polls, self.options.max_poll_delay),
            },
            // The run cannot be read (404: not visible to this key). Recorded, not retried.
            Err(e) => Transition::Finished(failure(
                TerminalState::Failed,
                "unknown",
                "run_unreadable",
                &e,
            )),
        };
        self.record(&claim.source_id, &claim.kit, transition).await
    }

    /// Applies `transition` to the record, counting it once if it made it terminal.
    async fn record(
        &self,
        source_id: &str,
        kit: &Kit,
        transition: Transition,
    ) -> Result<(), BatchError> {
        let finished = match &transition {
            Transition::Finished(terminal) => Some(terminal.state),
            _ => None,
        };
        // The loop that takes the record next looks when it is due, if it rests longer
        // (a finished record: its own loop looks when its work in flight drains).
        let now = self.now_ms();
        let ring = match &transition {
            Transition::Created { poll_in, .. } | Transition::Polled { poll_in, .. } => {
                Some((&self.poll_alarm, *poll_in))
            }
            Transition::RetryCreate { retry_in, .. } => Some((&self.create_alarm, *retry_in)),
            Transition::Finished(_) => None,
        };
        let changed = self.ledger.apply(source_id, kit, transition, now).await?;
        if let Some((alarm, due_in)) = ring {
            alarm.ring_at(now.saturating_add(ms(due_in)));
        }
        if let (true, Some(state)) = (changed, finished) {
            self.progress.record_done(state);
        }
        Ok(())
    }
}

/// How a record ends because of an error no retry fixes.
fn failure(state: TerminalState, status: &str, fallback_code: &str, error: &Error) -> Terminal {
    Terminal {
        state,
        status: status.to_owned(),
        error_code: Some(
            error
                .code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| fallback_code.to_owned()),
        ),
        error_message: Some(error.to_string()),
        output: None,
    }
}
