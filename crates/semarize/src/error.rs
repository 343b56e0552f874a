//! One error type for everything the client does, with the context support needs.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use semarize_api::types::{ErrorCode, Run};
use serde::Serialize;

use crate::runtime::{Clock, SystemClock};

/// What went wrong, to `match` on.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The client is misconfigured: a malformed API key, base URL or option.
    Config,
    /// A request this crate refused to send, such as an Idempotency-Key longer than 254
    /// characters or more than 100 brick ids. Nothing was sent.
    InvalidRequest,
    /// The API answered with an error status and the flat error envelope; see
    /// [`Error::status`] and [`Error::code`].
    Api,
    /// The API answered 429 and retries did not get past it; see [`Error::retry_after`].
    RateLimited,
    /// No response: the connection could not be made or broke before a response arrived.
    /// For run creation the run may still have been accepted; retrying with the same
    /// Idempotency-Key is safe.
    Transport,
    /// No response within the request timeout. As with [`ErrorKind::Transport`], the
    /// request may still have been accepted.
    Timeout,
    /// A response arrived that does not decode as the spec describes. With a success
    /// status the outcome is unknown: the server may have done the work (retrying a run
    /// creation with the same Idempotency-Key is safe and is what the client does).
    Decode,
    /// The API answered with a redirect this client does not follow: any redirect of a
    /// request other than `GET`, or to another origin. [`Error::status`] is the 3xx; the
    /// message names the location.
    Redirected,
    /// `wait` reached its maximum wait before the run finished; the run goes on.
    WaitTimeout,
    /// The run ended `failed`; see [`Error::code`] and [`Error::run`].
    RunFailed,
    /// The run ended `cancelled`.
    RunCancelled,
    /// A replaying cassette has no recorded interaction for the request (feature
    /// `cassette`): the message names the nearest one and the field that differs.
    /// Nothing was sent, and retrying cannot help.
    Cassette,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Config => "invalid configuration",
            ErrorKind::InvalidRequest => "invalid request (not sent)",
            ErrorKind::Api => "API error",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Transport => "transport error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Decode => "undecodable response",
            ErrorKind::Redirected => "redirect not followed",
            ErrorKind::WaitTimeout => "run not finished within the maximum wait",
            ErrorKind::RunFailed => "run failed",
            ErrorKind::RunCancelled => "run cancelled",
            ErrorKind::Cassette => "not in the cassette",
        }
    }
}

/// Why the retry loop gave up, when it did.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryStop {
    /// The error is not retryable.
    NotRetryable,
    /// The policy's attempt limit was reached.
    MaxAttempts,
    /// The next delay would pass the policy's elapsed-time limit.
    MaxElapsed,
    /// The client-wide retry budget is spent (the service is failing; no retry storm).
    BudgetExhausted,
    /// Retries were turned off for this call.
    Disabled,
}

/// The Semarize client's error.
///
/// Match on [`Error::kind`]; the documented error codes are in [`Error::code`]. Every
/// error carries what is known of the call (operation, endpoint, HTTP status, request id,
/// run id, Idempotency-Key, attempts) and never the API key or conversation content.
///
/// ```
/// # fn handle(err: semarize::Error) {
/// use semarize::{ErrorCode, ErrorKind};
/// match (err.kind(), err.code()) {
///     (ErrorKind::Api, Some(ErrorCode::KitNotFound)) => eprintln!("check the kit code"),
///     (ErrorKind::RateLimited, _) => eprintln!("back off for {:?}", err.retry_after()),
///     _ if err.is_retryable() => eprintln!("retry later with key {:?}", err.idempotency_key()),
///     _ => eprintln!("{err}\n{}", err.support_summary()),
/// }
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    operation: Option<&'static str>,
    endpoint: Option<String>,
    status: Option<StatusCode>,
    code: Option<ErrorCode>,
    detail: Option<String>,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    run_id: Option<String>,
    idempotency_key: Option<String>,
    workspace: Option<String>,
    at: DateTime<Utc>,
    attempts: u32,
    retry_stop: Option<RetryStop>,
    run: Option<Box<Run>>,
    /// The start of an answer that did not decode (see [`Error::raw_body`]).
    raw_body: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// How much of an undecodable answer an [`Error`] keeps.
pub const MAX_RAW_BODY_BYTES: usize = 4096;

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                operation: None,
                endpoint: None,
                status: None,
                code: None,
                detail: None,
                retry_after: None,
                request_id: None,
                run_id: None,
                idempotency_key: None,
                workspace: None,
                at: SystemClock.now_utc(),
                attempts: 0,
                retry_stop: None,
                run: None,
                raw_body: None,
                source: None,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Replaces the message (what this crate says; the server's detail stays apart).
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = message.into();
        self
    }

    /// The call that failed: its operation (from the spec's table) and the values of its
    /// path's parameters, in order.
    pub(crate) fn with_call(
        mut self,
        operation: &'static semarize_api::operations::Operation,
        path_args: &[&str],
    ) -> Self {
        self.inner.operation = Some(operation.id);
        self.inner.endpoint = Some(operation.endpoint(path_args));
        self
    }

    pub(crate) fn with_response(
        mut self,
        status: StatusCode,
        body: Option<&semarize_api::types::ErrorEnvelope>,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        self.inner.status = Some(status);
        if let Some(body) = body {
            self.inner.code = Some(body.error.clone());
            self.inner.detail = body.detail.clone().or_else(|| body.message.clone());
        }
        self.inner.request_id = request_id.or(self.inner.request_id.take());
        self.inner.retry_after = retry_after;
        self
    }

    pub(crate) fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.inner.retry_after = retry_after;
        self
    }

    pub(crate) fn with_request_id(mut self, request_id: Option<String>) -> Self {
        if self.inner.request_id.is_none() {
            self.inner.request_id = request_id;
        }
        self
    }

    pub(crate) fn with_run_id(mut self, run_id: Option<&str>) -> Self {
        if let Some(run_id) = run_id {
            self.inner.run_id = Some(run_id.to_owned());
        }
        self
    }

    pub(crate) fn with_idempotency_key(mut self, key: Option<&str>) -> Self {
        if let Some(key) = key {
            self.inner.idempotency_key = Some(key.to_owned());
        }
        self
    }

    pub(crate) fn with_workspace(mut self, workspace: &str) -> Self {
        self.inner.workspace = Some(workspace.to_owned());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32, stop: Option<RetryStop>) -> Self {
        self.inner.attempts = attempts;
        self.inner.retry_stop = stop;
        self
    }

    /// Keeps the start of an answer that did not decode, printable.
    pub(crate) fn with_raw_body(mut self, bytes: &[u8]) -> Self {
        let start = &bytes[..bytes.len().min(MAX_RAW_BODY_BYTES)];
        let text = String::from_utf8_lossy(start);
        self.inner.raw_body = Some(
            text.chars()
                .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
                .collect(),
        );
        self
    }

    pub(crate) fn with_run(mut self, run: Run) -> Self {
        self.inner.run_id = Some(run.run_id.clone());
        self.inner.code = run.error_code.clone();
        self.inner.detail = run.error_user_message.clone();
        self.inner.run = Some(Box::new(run));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The documented error code: the `error` of the envelope for API errors, the run's
    /// `error_code` for failed runs.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.inner.code.as_ref()
    }

    /// The HTTP status, when a response arrived.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The envelope's `detail` (or `message`), or the run's `error_user_message`.
    pub fn detail(&self) -> Option<&str> {
        self.inner.detail.as_deref()
    }

    /// The delay the API advised (`Retry-After` or `retry_after_seconds`, the larger).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The request id of the last attempt (the server's `X-Request-Id`, or the one this
    /// client sent when no response arrived).
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The run concerned, when known.
    pub fn run_id(&self) -> Option<&str> {
        self.inner.run_id.as_deref()
    }

    /// The Idempotency-Key of a run creation: retry with it to stay duplicate-free.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.inner.idempotency_key.as_deref()
    }

    /// The operationId of the call (`create_run`, `get_run`, ...).
    pub fn operation(&self) -> Option<&'static str> {
        self.inner.operation
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Why retrying stopped, when the call was retried or could have been.
    pub fn retry_stop(&self) -> Option<RetryStop> {
        self.inner.retry_stop
    }

    /// The run, for [`ErrorKind::RunFailed`] and [`ErrorKind::RunCancelled`].
    pub fn run(&self) -> Option<&Run> {
        self.inner.run.as_deref()
    }

    /// Whether the same call may succeed if retried later (transport errors, timeouts,
    /// 408, 429 and 5xx). Retrying a run creation is safe with the same Idempotency-Key.
    ///
    /// An undecodable success answer ([`ErrorKind::Decode`] with a 2xx status) is
    /// retryable too: the outcome is unknown, and asking again (with the same
    /// Idempotency-Key for a creation) is how to learn it. A body over the size limit is
    /// not.
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Transport | ErrorKind::Timeout | ErrorKind::RateLimited => true,
            ErrorKind::Api => self.inner.status.is_some_and(is_retryable_status),
            ErrorKind::Decode => {
                self.inner
                    .status
                    .is_none_or(|s| s.is_success() || is_retryable_status(s))
                    && find_source::<semarize_api::transport::BodyTooLarge>(self).is_none()
            }
            _ => false,
        }
    }

    /// The first [`MAX_RAW_BODY_BYTES`] of an answer that could not be decoded (an HTML
    /// page where JSON was promised, a body that does not match the spec), made printable,
    /// for a support ticket. It is what the server sent, which may include conversation
    /// content, so it is never part of `Display`, `Debug` or the [`SupportSummary`].
    pub fn raw_body(&self) -> Option<&str> {
        self.inner.raw_body.as_deref()
    }

    /// What the Semarize status guide asks for when escalating: run_id, Idempotency-Key,
    /// timestamp and endpoint, HTTP status and error code, request id, and the workspace
    /// context. It never contains conversation content or the API key.
    pub fn support_summary(&self) -> SupportSummary {
        SupportSummary {
            run_id: self.inner.run_id.clone(),
            idempotency_key: self.inner.idempotency_key.clone(),
            timestamp: self.inner.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            endpoint: self.inner.endpoint.clone(),
            http_status: self.inner.status.map(|s| s.as_u16()),
            error_code: self.inner.code.as_ref().map(|c| c.as_str().to_owned()),
            request_id: self.inner.request_id.clone(),
            workspace: self.inner.workspace.clone(),
            attempts: self.inner.attempts,
        }
    }
}

/// The first error of type `E` in the source chain of `error` (itself included).
pub(crate) fn find_source<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Whether an HTTP status is worth retrying: 408, 429 and 5xx.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        match inner.operation {
            Some(op) => write!(f, "semarize {op}: {}", inner.kind.describe())?,
            None => write!(f, "semarize: {}", inner.kind.describe())?,
        }
        // The code and the detail come from the server: printed only as printable text.
        let code = inner
            .code
            .as_ref()
            .map(|c| crate::text::printable(c.as_str(), 80));
        if let Some(status) = inner.status {
            write!(f, " (HTTP {}", status.as_u16())?;
            if let Some(code) = &code {
                write!(f, " {code}")?;
            }
            write!(f, ")")?;
        } else if let Some(code) = &code {
            write!(f, " ({code})")?;
        }
        if !inner.message.is_empty() {
            write!(f, ": {}", inner.message)?;
        }
        if let Some(detail) = &inner.detail {
            write!(f, ": {}", crate::text::printable(detail, 300))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Error")
            .field("kind", &inner.kind)
            .field("message", &inner.message)
            .field("operation", &inner.operation)
            .field("endpoint", &inner.endpoint)
            .field("status", &inner.status)
            .field("code", &inner.code)
            .field("detail", &inner.detail)
            .field("retry_after", &inner.retry_after)
            .field("request_id", &inner.request_id)
            .field("run_id", &inner.run_id)
            .field("idempotency_key", &inner.idempotency_key)
            .field("attempts", &inner.attempts)
            .field("retry_stop", &inner.retry_stop)
            .field("raw_body_len", &inner.raw_body.as_ref().map(String::len))
            .field("source", &inner.source)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The escalation context of an error (see [`Error::support_summary`]). `Display` prints
/// one `field: value` line per known field; it also serializes, for structured logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SupportSummary {
    /// The run, when one was accepted.
    pub run_id: Option<String>,
    /// The Idempotency-Key of a run creation.
    pub idempotency_key: Option<String>,
    /// When the error happened (RFC 3339, UTC).
    pub timestamp: String,
    /// `METHOD /path` of the call.
    pub endpoint: Option<String>,
    /// HTTP status of the last response.
    pub http_status: Option<u16>,
    /// The error code.
    pub error_code: Option<String>,
    /// The request id of the last attempt.
    pub request_id: Option<String>,
    /// Which key scope was used: its mode (`live`/`test`) and a fingerprint (a hash prefix,
    /// not the key).
    pub workspace: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

impl std::fmt::Display for SupportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let optional = [
            ("run_id", self.run_id.clone()),
            ("idempotency_key", self.idempotency_key.clone()),
            ("timestamp", Some(self.timestamp.clone())),
            ("endpoint", self.endpoint.clone()),
            ("http_status", self.http_status.map(|s| s.to_string())),
            ("error_code", self.error_code.clone()),
            ("request_id", self.request_id.clone()),
            ("workspace", self.workspace.clone()),
            ("attempts", Some(self.attempts.to_string())),
        ];
        let mut first = true;
        for (name, value) in optional {
            if let Some(value) = value {
                if !first {
                    writeln!(f)?;
                }
                first = false;
                write!(f, "{name}: {value}")?;
            }
        }
        Ok(())
    }
}
