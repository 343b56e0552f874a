//! Runs: create (async or sync, always idempotent), get, list, usage, wait, watch.

use std::time::Duration;

use futures::Stream;
use reqwest::StatusCode;
use semarize_api::operations;
use semarize_api::types::{self, Run, RunMode, RunType, RunUsage};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{CallOptions, call_options, send_from_response};
use crate::call::execute;
use crate::client::Client;
use crate::error::Error;
use crate::idempotency::IdempotencyKey;
use crate::response::Response;
use crate::wait::{RunOutcome, WaitOptions};

/// The runs of the workspace.
#[derive(Clone, Copy, Debug)]
pub struct Runs<'c> {
    client: &'c Client,
}

impl<'c> Runs<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Runs { client }
    }

    /// Creates a run of the published Kit with this 8-character code.
    pub fn create_with_kit_code(&self, kit_code: impl Into<String>) -> CreateRun<'c> {
        CreateRun::new(self.client, Some(kit_code.into()), None)
    }

    /// Creates a run of this exact Kit version (pinning).
    pub fn create_with_kit_version(&self, kit_version_id: impl Into<String>) -> CreateRun<'c> {
        CreateRun::new(self.client, None, Some(kit_version_id.into()))
    }

    /// Creates a run from a complete request body.
    pub fn create(&self, request: types::CreateRunRequest) -> CreateRun<'c> {
        let mut create = CreateRun::new(self.client, request.kit_code, request.kit_version_id);
        create.input = request.input;
        create.run_type = request.type_;
        create.mode = request.mode;
        create
    }

    /// Gets a run.
    pub fn get(&self, run_id: impl Into<String>) -> GetRun<'c> {
        GetRun {
            client: self.client,
            run_id: run_id.into(),
            options: CallOptions::default(),
        }
    }

    /// Lists the workspace's runs, most recent first.
    pub fn list(&self) -> ListRuns<'c> {
        ListRuns {
            client: self.client,
            limit: None,
            options: CallOptions::default(),
        }
    }

    /// Gets a run's token usage and credits.
    pub fn usage(&self, run_id: impl Into<String>) -> GetRunUsage<'c> {
        GetRunUsage {
            client: self.client,
            run_id: run_id.into(),
            options: CallOptions::default(),
        }
    }

    /// Polls a run until it is `succeeded`, `failed` or `cancelled`, or `options`' maximum
    /// wait passes ([`ErrorKind::WaitTimeout`](crate::ErrorKind::WaitTimeout)). Failed and
    /// cancelled runs are [`RunOutcome`]s, not errors. Dropping the future stops polling;
    /// nothing is left behind.
    pub async fn wait(&self, run_id: &str, options: WaitOptions) -> Result<RunOutcome, Error> {
        crate::wait::wait(self.client, run_id, options).await
    }

    /// The run's status changes as a stream: one item per observed change (the first poll
    /// always yields), ending after the terminal state or with an error.
    pub fn watch(
        &self,
        run_id: &str,
        options: WaitOptions,
    ) -> impl Stream<Item = Result<Run, Error>> + Send + 'static {
        crate::wait::watch(self.client.clone(), run_id.to_owned(), options)
    }
}

/// A run creation. Every attempt of one `send` carries the same Idempotency-Key (yours,
/// or one generated once for this call), so retries after timeouts, 429 and 5xx never
/// create a second run.
///
/// ```no_run
/// # async fn demo(client: semarize::Client) -> Result<(), semarize::Error> {
/// let created = client
///     .runs()
///     .create_with_kit_code("A1B2C3D4")
///     .transcript("Rep: What drove the urgency? Prospect: ...")
///     .idempotency_key("call-123-kit-A1B2C3D4")
///     .send()
///     .await?;
/// println!("{} with key {}", created.run.run_id, created.idempotency_key);
/// # Ok(()) }
/// ```
#[must_use = "a request does nothing until sent"]
pub struct CreateRun<'c> {
    client: &'c Client,
    kit_code: Option<String>,
    kit_version_id: Option<String>,
    input: Map<String, Value>,
    input_error: Option<String>,
    run_type: Option<RunType>,
    mode: Option<RunMode>,
    key: Option<Result<IdempotencyKey, Error>>,
    options: CallOptions,
}

call_options!(CreateRun, GetRun, ListRuns, GetRunUsage);
send_from_response!(
    CreateRun => CreatedRun,
    GetRun => Run,
    ListRuns => Vec<Run>,
    GetRunUsage => RunUsage,
);

impl std::fmt::Debug for CreateRun<'_> {
    // The input is conversation content: only its field names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateRun")
            .field("kit_code", &self.kit_code)
            .field("kit_version_id", &self.kit_version_id)
            .field("input_fields", &self.input.keys().collect::<Vec<_>>())
            .field("run_type", &self.run_type)
            .field("mode", &self.mode)
            .field(
                "idempotency_key",
                &self
                    .key
                    .as_ref()
                    .map(|k| k.as_ref().map(IdempotencyKey::as_str).ok()),
            )
            .finish_non_exhaustive()
    }
}

impl<'c> CreateRun<'c> {
    fn new(client: &'c Client, kit_code: Option<String>, kit_version_id: Option<String>) -> Self {
        CreateRun {
            client,
            kit_code,
            kit_version_id,
            input: Map::new(),
            input_error: None,
            run_type: None,
            mode: None,
            key: None,
            options: CallOptions::default(),
        }
    }

    /// Sets `input.transcript`.
    pub fn transcript(mut self, transcript: impl Into<String>) -> Self {
        self.input
            .insert("transcript".to_owned(), Value::String(transcript.into()));
        self
    }

    /// Sets the whole `input`, which must serialize to a JSON object.
    pub fn input(mut self, input: impl Serialize) -> Self {
        match serde_json::to_value(input) {
            Ok(Value::Object(map)) => self.input = map,
            Ok(_) => self.input_error = Some("input must serialize to a JSON object".to_owned()),
            Err(e) => self.input_error = Some(format!("input does not serialize: {e}")),
        }
        self
    }

    /// Pins a Kit version (overrides the Kit code on the server).
    pub fn kit_version(mut self, kit_version_id: impl Into<String>) -> Self {
        self.kit_version_id = Some(kit_version_id.into());
        self
    }

    /// The run type (`api` by default on the server).
    pub fn run_type(mut self, run_type: RunType) -> Self {
        self.run_type = Some(run_type);
        self
    }

    /// The mode (`async` by default on the server).
    pub fn mode(mut self, mode: RunMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Sync mode: the server waits for the run and answers 200, or falls back to 202.
    pub fn sync(self) -> Self {
        self.mode(RunMode::Sync)
    }

    /// Your Idempotency-Key for this logical request (at most 254 characters; checked
    /// before anything is sent). Derive it from your source record to stay duplicate-free
    /// across process restarts.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(IdempotencyKey::new(key));
        self
    }

    /// Sends the creation (retrying safely) and returns the created run with its
    /// response. A sync 202 fallback is returned as is; use [`CreatedRun::wait`] or
    /// [`CreateRun::send_and_wait`] to continue by polling. [`send`](CreateRun::send)
    /// returns the [`CreatedRun`] alone.
    pub async fn send_with_response(self) -> Result<Response<CreatedRun>, Error> {
        let client = self.client;
        let key = match self.key {
            Some(key) => key?,
            None => client.inner.keys.generate(),
        };
        let invalid = |message: String| {
            Error::invalid_request(message)
                .with_call(&operations::CREATE_RUN, &[])
                .with_idempotency_key(Some(key.as_str()))
        };
        if let Some(message) = self.input_error {
            return Err(invalid(message));
        }
        if self.kit_code.is_none() && self.kit_version_id.is_none() {
            return Err(invalid(
                "a Kit code or Kit version id is required".to_owned(),
            ));
        }
        if let Some(code) = &self.kit_code {
            crate::limits::check_kit_code(code).map_err(invalid)?;
        }
        if let Some(version) = &self.kit_version_id {
            crate::limits::check_uuid("Kit version id", version).map_err(invalid)?;
        }
        let sync = self.mode == Some(RunMode::Sync);
        // Through the generated builder, not a struct literal: a field a later, additive
        // spec adds to the request must not break this crate.
        let body: types::CreateRunRequest = types::CreateRunRequest::builder()
            .kit_code(self.kit_code)
            .kit_version_id(self.kit_version_id)
            .input(self.input)
            .type_(self.run_type)
            .mode(self.mode)
            .try_into()
            .map_err(|e| {
                Error::invalid_request(format!("the request does not fit the spec: {e}"))
            })?;
        let mut call = self.options.call(client, &operations::CREATE_RUN, None);
        call.idempotency_key = Some(key.as_str());
        if sync && self.options.timeout.is_none() {
            call.timeout += client.inner.sync_grace;
        }
        let raw = &client.inner.raw;
        let reply = execute(&client.inner, call, |request_id| {
            raw.create_run()
                .idempotency_key(key.as_str())
                .x_request_id(request_id)
                .body(body.clone())
                .send()
        })
        .await?;
        let retry_after = reply.retry_after;
        let response = reply.into_response();
        let (status, attempts) = (response.status(), response.attempts());
        let request_id = response.request_id().map(str::to_owned);
        Ok(response.map(|run| CreatedRun {
            run,
            status,
            idempotency_key: key,
            retry_after,
            request_id,
            attempts,
        }))
    }

    /// Sends the creation and waits for the run: a sync 200 is done at once; a 202 (async,
    /// or the sync fallback) continues by polling the returned run, starting after its
    /// `Retry-After`. The run is never submitted twice.
    pub async fn send_and_wait(self, max_wait: Duration) -> Result<RunOutcome, Error> {
        let client = self.client;
        self.send().await?.wait(client, max_wait).await
    }
}

/// The answer to a run creation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CreatedRun {
    /// The run as the creation returned it (the full run for a completed sync creation).
    pub run: Run,
    /// 200 (sync, completed) or 202 (accepted; poll).
    pub status: StatusCode,
    /// The Idempotency-Key every attempt carried.
    pub idempotency_key: IdempotencyKey,
    /// The advised delay before the first poll.
    pub retry_after: Option<Duration>,
    /// The server's request id.
    pub request_id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

impl CreatedRun {
    /// Whether the run is already terminal (a completed sync creation).
    pub fn is_complete(&self) -> bool {
        self.run.status.is_terminal()
    }

    /// Whether this is a sync creation that fell back to async (202 with `sync_fallback`).
    pub fn is_sync_fallback(&self) -> bool {
        self.run.sync_fallback == Some(true)
    }

    /// Waits for the run (see [`Runs::wait`]), starting after the advised delay. A
    /// completed run returns at once.
    pub async fn wait(self, client: &Client, max_wait: Duration) -> Result<RunOutcome, Error> {
        if self.is_complete() {
            return Ok(RunOutcome::from_run(self.run));
        }
        let options = WaitOptions::new(max_wait).first_advice(self.retry_after);
        crate::wait::wait(client, &self.run.run_id, options).await
    }
}

/// A run as one poll saw it, with the service's advice on when to poll again.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PolledRun {
    /// The run.
    pub run: Run,
    /// The answer's `Retry-After`, if it had one.
    pub retry_after: Option<Duration>,
}

/// `GET /v1/runs/{runId}`.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct GetRun<'c> {
    client: &'c Client,
    run_id: String,
    options: CallOptions,
}

impl GetRun<'_> {
    /// Sends the request and returns the run with its response (status, headers,
    /// request id, attempts).
    pub async fn send_with_response(self) -> Result<Response<Run>, Error> {
        Ok(self.send_reply().await?.into_response())
    }

    /// Sends the request and keeps the answer's `Retry-After`, for pollers that schedule
    /// their own next poll (many runs polled from one queue, say) instead of waiting on
    /// each run ([`Runs::wait`](crate::resources::Runs::wait)). With
    /// [`RetryPolicy::none`](crate::RetryPolicy::none) a failed poll comes back at once,
    /// for the scheduler to try again later:
    ///
    /// ```no_run
    /// # async fn demo(client: semarize::Client) -> Result<(), semarize::Error> {
    /// use std::time::Duration;
    ///
    /// let polled = client
    ///     .runs()
    ///     .get("run_123")
    ///     .retry_policy(semarize::RetryPolicy::none())
    ///     .send_polled()
    ///     .await?;
    /// if !polled.run.status.is_terminal() {
    ///     let next = polled.retry_after.unwrap_or(Duration::from_secs(2));
    ///     println!("poll {} again in {next:?}", polled.run.run_id);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send_polled(self) -> Result<PolledRun, Error> {
        let reply = self.send_reply().await?;
        Ok(PolledRun {
            run: reply.value,
            retry_after: reply.retry_after,
        })
    }

    pub(crate) async fn send_reply(self) -> Result<crate::call::Reply<Run>, Error> {
        let client = self.client;
        let mut call = self
            .options
            .call(client, &operations::GET_RUN, Some(&self.run_id));
        call.run_id = Some(&self.run_id);
        let raw = &client.inner.raw;
        execute(&client.inner, call, |request_id| {
            raw.get_run()
                .run_id(&self.run_id)
                .x_request_id(request_id)
                .send()
        })
        .await
    }
}

/// `GET /v1/runs`.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct ListRuns<'c> {
    client: &'c Client,
    limit: Option<u32>,
    options: CallOptions,
}

impl ListRuns<'_> {
    /// How many runs (1 to 100; the server's default is 50).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sends the request and returns the runs with their response (status, headers,
    /// request id, attempts).
    pub async fn send_with_response(self) -> Result<Response<Vec<Run>>, Error> {
        let client = self.client;
        if let Some(limit) = self.limit {
            let limits = operations::LIST_RUNS
                .parameter("limit")
                .map(|p| p.limits)
                .unwrap_or_default();
            crate::limits::check_range("limit", f64::from(limit), &limits).map_err(|message| {
                Error::invalid_request(message).with_call(&operations::LIST_RUNS, &[])
            })?;
        }
        let call = self.options.call(client, &operations::LIST_RUNS, None);
        let raw = &client.inner.raw;
        let reply = execute(&client.inner, call, |request_id| {
            let mut request = raw.list_runs().x_request_id(request_id);
            if let Some(limit) = self.limit {
                request = request.limit(limit);
            }
            request.send()
        })
        .await?;
        Ok(reply.into_response())
    }
}

/// `GET /v1/runs/{runId}/usage`.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct GetRunUsage<'c> {
    client: &'c Client,
    run_id: String,
    options: CallOptions,
}

impl GetRunUsage<'_> {
    /// Sends the request and returns the usage with its response (status, headers,
    /// request id, attempts).
    pub async fn send_with_response(self) -> Result<Response<RunUsage>, Error> {
        let client = self.client;
        let mut call = self
            .options
            .call(client, &operations::GET_RUN_USAGE, Some(&self.run_id));
        call.run_id = Some(&self.run_id);
        let raw = &client.inner.raw;
        let reply = execute(&client.inner, call, |request_id| {
            raw.get_run_usage()
                .run_id(&self.run_id)
                .x_request_id(request_id)
                .send()
        })
        .await?;
        Ok(reply.into_response())
    }
}
