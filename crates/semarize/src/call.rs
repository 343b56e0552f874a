//! One logical call: attempts, classification of what came back, and retries.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use semarize_api::types;
use tracing::{Instrument, field};

use crate::client::ClientInner;
use crate::error::{Error, ErrorKind, RetryStop, find_source, is_retryable_status};
use crate::response::Response;
use crate::retry::{RetryPolicy, advised_delay};
use crate::telemetry;
use semarize_api::operations::{Operation, Retry};
use semarize_api::transport::{BodyTooLarge, ResponseHead};

/// A request id for one attempt: unique per process run and cheap (no system call): a
/// random per-process prefix and a counter.
fn next_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("smz-rs-{prefix}-{n}")
}

/// What the generated client returns for one attempt.
pub(crate) type Attempt<T> =
    Result<semarize_api::ResponseValue<T>, semarize_api::Error<types::ErrorEnvelope>>;

/// The facts of one logical call.
pub(crate) struct Call<'a> {
    /// The operation, from the spec's table.
    pub operation: &'static Operation,
    /// The path's parameter, filled in only when an error needs the endpoint: the
    /// success path allocates nothing for it.
    pub path_arg: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub policy: &'a RetryPolicy,
    pub timeout: Duration,
}

/// A successful response with what the caller may need from its headers.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    pub value: T,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub retry_after: Option<Duration>,
    pub attempts: u32,
    pub elapsed: Duration,
}

impl<T> Reply<T> {
    /// The caller's view: the value with its response.
    pub(crate) fn into_response(self) -> Response<T> {
        Response::new(
            self.value,
            self.status,
            self.headers,
            self.attempts,
            self.elapsed,
        )
    }
}

/// A failed attempt: the error, whether another attempt may succeed, and the delay the
/// server advised.
struct Failure {
    error: Error,
    retryable: bool,
    advised: Option<Duration>,
    /// A time-out: a retry costs the budget more (the service may be overloaded).
    timeout: bool,
}

impl Failure {
    /// A failure that another attempt cannot mend.
    fn final_(error: Error) -> Self {
        Failure {
            error,
            retryable: false,
            advised: None,
            timeout: false,
        }
    }

    /// No definite answer: the request may or may not have been processed. Retried when
    /// sending it again is safe.
    fn unknown_outcome(
        error: Error,
        status: Option<StatusCode>,
        request_id: Option<String>,
        repeatable: bool,
    ) -> Self {
        let timeout = error.kind() == ErrorKind::Timeout;
        Failure {
            error: with_head(error, status, request_id),
            retryable: repeatable,
            advised: None,
            timeout,
        }
    }
}

/// `error` with the status and request id of a response head, when one arrived.
fn with_head(error: Error, status: Option<StatusCode>, request_id: Option<String>) -> Error {
    match status {
        Some(status) => error.with_response(status, None, request_id, None),
        None => error,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Runs `send` until it succeeds or retrying stops. `send` gets the request id to send
/// (a fresh one per attempt); every attempt of one call carries the same arguments,
/// including the Idempotency-Key.
pub(crate) async fn execute<T, F, Fut>(
    client: &ClientInner,
    call: Call<'_>,
    mut send: F,
) -> Result<Reply<T>, Error>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let span = tracing::info_span!(
        "semarize.call",
        operation = call.operation.id,
        run_id = call.run_id,
        idempotency_key = call.idempotency_key,
        attempts = field::Empty,
        status = field::Empty,
    );
    let runtime = &client.runtime;
    let started = runtime.clock.now();
    let mut attempt = 0u32;
    // Budget tokens this call has spent on retries: refunded if it ends in success.
    let mut spent = 0u32;
    let result = async {
        loop {
            attempt += 1;
            let request_id = next_request_id();
            let attempt_span = tracing::debug_span!(
                "semarize.attempt",
                attempt,
                request_id = %request_id,
                status = field::Empty,
            );
            let attempt_started = if attempt == 1 {
                started
            } else {
                runtime.clock.now()
            };
            let (outcome, report, status) = async {
                // The head of the response is kept apart from its body, so a status can be
                // classified even when the body is not what the spec promised. Hooks see
                // the attempt's number; their report waits for the retry decision.
                let elapsed = attempt_started.saturating_duration_since(started);
                let (result, report) = semarize_api::hooks::attempt(
                    attempt,
                    elapsed,
                    tokio::time::timeout(call.timeout, send(request_id.clone())),
                )
                .await;
                let outcome = classify(client, result, report.head(), &call).await;
                let status = match &outcome {
                    Ok(reply) => Some(reply.status),
                    Err(failure) => failure.error.status(),
                };
                if let Some(status) = status {
                    tracing::Span::current().record("status", status.as_u16());
                }
                (outcome, report, status)
            }
            .instrument(attempt_span)
            .await;
            let latency = runtime
                .clock
                .now()
                .saturating_duration_since(attempt_started);
            let operation = call.operation.id;
            telemetry::attempt(operation, status, latency);
            if status == Some(StatusCode::TOO_MANY_REQUESTS) {
                telemetry::rate_limited(operation);
            }

            let failure = match outcome {
                Ok(mut reply) => {
                    if let Some(head) = report.finish(false) {
                        reply.headers = head.headers;
                    }
                    client.budget.record_success(spent);
                    reply.attempts = attempt;
                    let span = tracing::Span::current();
                    span.record("attempts", attempt);
                    span.record("status", reply.status.as_u16());
                    return Ok(reply);
                }
                Err(failure) => failure,
            };
            let fail = |error: Error, stop: Option<RetryStop>| {
                tracing::Span::current().record("attempts", attempt);
                error
                    .with_call(call.operation, call.path_arg.as_slice())
                    .with_run_id(call.run_id)
                    .with_idempotency_key(call.idempotency_key)
                    .with_request_id(Some(request_id.clone()))
                    .with_workspace(&client.workspace)
                    .with_attempts(attempt, stop)
            };
            let delay = match retry_delay(client, &call, &failure, attempt, started) {
                Ok(delay) => delay,
                Err(stop) => {
                    report.finish(false);
                    if stop == Some(RetryStop::BudgetExhausted) {
                        telemetry::budget_exhausted(operation);
                        tracing::warn!(operation, "retry budget exhausted; not retrying");
                    }
                    return Err(fail(failure.error, stop));
                }
            };
            report.finish(true);
            spent = spent.saturating_add(client.budget.cost(failure.timeout));
            telemetry::retry(operation);
            tracing::info!(
                operation,
                attempt,
                delay_ms = delay.as_millis() as u64,
                status = failure.error.status().map(|s| s.as_u16()),
                error = %failure.error,
                "retrying",
            );
            runtime.sleeper.sleep(delay).await;
        }
    }
    .instrument(span)
    .await;
    let elapsed = runtime.clock.now().saturating_duration_since(started);
    telemetry::call(call.operation.id, elapsed);
    result.map(|reply| Reply { elapsed, ..reply })
}

/// Whether `failure` is retried and after which delay; `Err` says why not (`None`: the
/// failure is final). A retry spends from the client's budget here.
fn retry_delay(
    client: &ClientInner,
    call: &Call<'_>,
    failure: &Failure,
    attempt: u32,
    started: std::time::Instant,
) -> Result<Duration, Option<RetryStop>> {
    if !failure.retryable {
        return Err(None);
    }
    if call.policy.attempts() == 1 {
        return Err(Some(RetryStop::Disabled));
    }
    if attempt >= call.policy.attempts() {
        return Err(Some(RetryStop::MaxAttempts));
    }
    let runtime = &client.runtime;
    let delay = call
        .policy
        .delay(attempt, runtime.jitter.fraction(), failure.advised);
    let elapsed = runtime.clock.now().saturating_duration_since(started);
    // Saturating: a server may advise any delay (u64::MAX seconds included); one beyond
    // the limit ends the call now instead of sleeping.
    if elapsed.saturating_add(delay) > call.policy.elapsed_limit() {
        return Err(Some(RetryStop::MaxElapsed));
    }
    if client
        .budget
        .try_spend_tokens(client.budget.cost(failure.timeout))
    {
        Ok(delay)
    } else {
        Err(Some(RetryStop::BudgetExhausted))
    }
}

async fn classify<T>(
    client: &ClientInner,
    result: Result<Attempt<T>, tokio::time::error::Elapsed>,
    head: Option<&ResponseHead>,
    call: &Call<'_>,
) -> Result<Reply<T>, Failure> {
    let now = || client.runtime.clock.now_utc();
    // Whether sending the same request again cannot do the work twice, as the spec's
    // table says: reads and deletes always, creations that carry an Idempotency-Key. A
    // webhook upsert mints a new secret each time, so it is only retried when the request
    // surely was not processed.
    let repeatable = match call.operation.retry {
        Retry::Always => true,
        Retry::WithIdempotencyKey => call.idempotency_key.is_some(),
        Retry::Never => false,
    };
    let status = head.map(|h| h.status);
    // A failure's request id, read once from the head the transport recorded (the
    // branches below read the same response's headers only if no head was recorded). A
    // success's stays in its headers, where `Response::request_id` reads it.
    let request_id = match result {
        Ok(Ok(_)) => None,
        _ => head.and_then(|h| header(&h.headers, "x-request-id")),
    };
    let response = match result {
        Err(_) => {
            let error = Error::new(
                ErrorKind::Timeout,
                format!("no complete response within {:?}", call.timeout),
            );
            return Err(Failure::unknown_outcome(
                error, status, request_id, repeatable,
            ));
        }
        Ok(response) => response,
    };
    match response {
        Ok(value) => {
            let headers = value.headers();
            Ok(Reply {
                status: value.status(),
                retry_after: advised_delay(headers, None, now),
                // The recorded head's headers are moved in once the attempt is reported;
                // copied here only when no head was recorded.
                headers: if head.is_some() {
                    HeaderMap::new()
                } else {
                    headers.clone()
                },
                attempts: 0,
                elapsed: Duration::ZERO,
                value: value.into_inner(),
            })
        }
        Err(semarize_api::Error::ErrorResponse(value)) => {
            let status = value.status();
            let headers = value.headers().clone();
            let body = value.into_inner();
            let advised = advised_delay(&headers, body.retry_after_seconds, now);
            Err(api_failure(
                status,
                Some(&body),
                request_id.or_else(|| header(&headers, "x-request-id")),
                advised,
                repeatable,
            ))
        }
        Err(semarize_api::Error::UnexpectedResponse(response)) => {
            // A status the spec does not list (a proxy's 502, a redirect): keep what can be
            // read.
            let status = response.status();
            let headers = response.headers().clone();
            let request_id = request_id.or_else(|| header(&headers, "x-request-id"));
            if status.is_redirection() {
                // Followed only for same-origin GETs (in semarize-api); anything else would
                // re-send the body or the Idempotency-Key elsewhere.
                let location = header(&headers, "location").unwrap_or_default();
                let error = Error::new(
                    ErrorKind::Redirected,
                    format!(
                        "redirected to {:?}; not followed (a request body and its \
                         Idempotency-Key are never re-sent to another address)",
                        crate::text::printable(&location, 200)
                    ),
                )
                .with_response(status, None, request_id, None);
                return Err(Failure::final_(error));
            }
            if status.is_success() {
                let error = Error::new(
                    ErrorKind::Decode,
                    format!("unexpected success status {status}; the outcome is unknown"),
                );
                return Err(Failure::unknown_outcome(
                    error,
                    Some(status),
                    request_id,
                    repeatable,
                ));
            }
            let bytes = response.bytes().await.unwrap_or_default();
            let body: Option<types::ErrorEnvelope> = serde_json::from_slice(&bytes).ok();
            let advised = advised_delay(
                &headers,
                body.as_ref().and_then(|b| b.retry_after_seconds),
                now,
            );
            let mut failure = api_failure(status, body.as_ref(), request_id, advised, repeatable);
            if body.is_none() {
                failure.error = failure
                    .error
                    .with_message(not_an_envelope(&bytes))
                    .with_raw_body(&bytes);
            }
            Err(failure)
        }
        Err(semarize_api::Error::CommunicationError(e))
        | Err(semarize_api::Error::InvalidUpgrade(e)) => {
            #[cfg(feature = "cassette")]
            if let Some(miss) = find_source::<semarize_api::cassette::NoMatch>(&e) {
                let error = Error::new(ErrorKind::Cassette, miss.to_string());
                return Err(Failure::final_(error.with_source(e)));
            }
            if e.is_builder() {
                return Err(Failure::final_(
                    Error::invalid_request("the request could not be built").with_source(e),
                ));
            }
            if e.is_connect() {
                // No connection: nothing was sent, so any request may be sent again.
                let error = Error::new(ErrorKind::Transport, "cannot connect").with_source(e);
                return Err(Failure::unknown_outcome(error, None, None, true));
            }
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transport
            };
            let error = Error::new(kind, "no response").with_source(e);
            Err(Failure::unknown_outcome(
                error, status, request_id, repeatable,
            ))
        }
        Err(semarize_api::Error::ResponseBodyError(e)) => {
            if let Some(too_large) = find_source::<BodyTooLarge>(&e) {
                let error = Error::new(ErrorKind::Decode, too_large.to_string()).with_source(e);
                return Err(Failure::final_(with_head(error, status, request_id)));
            }
            let error =
                Error::new(ErrorKind::Transport, "the response body broke off").with_source(e);
            Err(Failure::unknown_outcome(
                error, status, request_id, repeatable,
            ))
        }
        Err(semarize_api::Error::InvalidResponsePayload(bytes, e)) => match head {
            // An error status whose body is not the JSON envelope (an HTML page from a load
            // balancer): the status decides, the body only adds a hint.
            Some(head) if !head.status.is_success() => {
                let advised = advised_delay(&head.headers, None, now);
                let mut failure = api_failure(head.status, None, request_id, advised, repeatable);
                failure.error = failure
                    .error
                    .with_message(not_an_envelope(&bytes))
                    .with_raw_body(&bytes)
                    .with_source(e);
                Err(failure)
            }
            // A success status whose body does not decode: the server may have done the
            // work, so this is "outcome unknown", never a rejection.
            _ => {
                let error = Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the response does not match the spec ({}); the outcome is unknown",
                        crate::text::printable(&e.to_string(), 200)
                    ),
                )
                .with_raw_body(&bytes)
                .with_source(e);
                Err(Failure::unknown_outcome(
                    error, status, request_id, repeatable,
                ))
            }
        },
        Err(semarize_api::Error::InvalidRequest(message))
        | Err(semarize_api::Error::Custom(message)) => {
            Err(Failure::final_(Error::invalid_request(message)))
        }
    }
}

/// What to say about an error body that is not the JSON envelope: its start, printable.
fn not_an_envelope(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]);
    let text = crate::text::printable(text.trim(), 80);
    if text.is_empty() {
        "the body is empty, not the JSON error envelope".to_owned()
    } else {
        format!("the body is not the JSON error envelope (it starts {text:?})")
    }
}

fn api_failure(
    status: StatusCode,
    body: Option<&types::ErrorEnvelope>,
    request_id: Option<String>,
    advised: Option<Duration>,
    repeatable: bool,
) -> Failure {
    let kind = if status == StatusCode::TOO_MANY_REQUESTS {
        ErrorKind::RateLimited
    } else {
        ErrorKind::Api
    };
    // 408 and 429 say the request was not processed, so even a non-repeatable request
    // may be sent again; a 5xx says nothing of the kind.
    let not_processed =
        status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS;
    Failure {
        error: Error::new(kind, String::new()).with_response(status, body, request_id, advised),
        retryable: is_retryable_status(status) && (repeatable || not_processed),
        advised,
        timeout: false,
    }
}
