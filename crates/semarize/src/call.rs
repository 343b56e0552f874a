//! One logical call: attempts, classification of what came back, and retries.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use semarize_api::types;
use tracing::{Instrument, field};

use crate::client::ClientInner;
use crate::error::{Error, ErrorKind, RetryStop, is_retryable_status};
use crate::retry::{RetryPolicy, advised_delay};

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
    Result<semarize_api::ResponseValue<T>, semarize_api::Error<types::Error>>;

/// The facts of one logical call.
pub(crate) struct Call<'a> {
    pub operation: &'static str,
    pub method: &'static str,
    /// The path template (`/v1/runs/{}`), filled with `path_arg` only when an error
    /// needs the endpoint: the success path allocates nothing for it.
    pub path: &'static str,
    pub path_arg: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub policy: &'a RetryPolicy,
    pub timeout: Duration,
}

impl Call<'_> {
    fn endpoint(&self) -> String {
        let path = match self.path_arg {
            Some(arg) => self.path.replacen("{}", arg, 1),
            None => self.path.to_owned(),
        };
        format!("{} {path}", self.method)
    }
}

/// A successful response with what the caller may need from its headers.
#[derive(Debug)]
pub(crate) struct Reply<T> {
    pub value: T,
    pub status: StatusCode,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub attempts: u32,
}

/// A failed attempt: the error, whether another attempt may succeed, and the delay the
/// server advised.
struct Failure {
    error: Error,
    retryable: bool,
    advised: Option<Duration>,
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
        operation = call.operation,
        run_id = call.run_id,
        idempotency_key = call.idempotency_key,
        attempts = field::Empty,
        status = field::Empty,
    );
    let runtime = &client.runtime;
    let started = runtime.clock.now();
    let mut attempt = 0u32;
    async {
        loop {
            attempt += 1;
            let request_id = next_request_id();
            let attempt_span = tracing::debug_span!(
                "semarize.attempt",
                attempt,
                request_id = %request_id,
                status = field::Empty,
            );
            let outcome = async {
                let result = tokio::time::timeout(call.timeout, send(request_id.clone())).await;
                let outcome = classify(client, result, &call).await;
                let status = match &outcome {
                    Ok(reply) => Some(reply.status),
                    Err(failure) => failure.error.status(),
                };
                if let Some(status) = status {
                    tracing::Span::current().record("status", status.as_u16());
                }
                outcome
            }
            .instrument(attempt_span)
            .await;

            let failure = match outcome {
                Ok(mut reply) => {
                    client.budget.record_success();
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
                    .with_call(call.operation, &call.endpoint())
                    .with_run_id(call.run_id)
                    .with_idempotency_key(call.idempotency_key)
                    .with_request_id(Some(request_id.clone()))
                    .with_workspace(&client.workspace)
                    .with_attempts(attempt, stop)
            };
            if !failure.retryable {
                return Err(fail(failure.error, None));
            }
            if call.policy.attempts() == 1 {
                return Err(fail(failure.error, Some(RetryStop::Disabled)));
            }
            if attempt >= call.policy.attempts() {
                return Err(fail(failure.error, Some(RetryStop::MaxAttempts)));
            }
            let delay = call
                .policy
                .delay(attempt, runtime.jitter.fraction(), failure.advised);
            let elapsed = runtime.clock.now().saturating_duration_since(started);
            if elapsed + delay > call.policy.elapsed_limit() {
                return Err(fail(failure.error, Some(RetryStop::MaxElapsed)));
            }
            if !client.budget.try_spend() {
                tracing::warn!(
                    operation = call.operation,
                    "retry budget exhausted; not retrying"
                );
                return Err(fail(failure.error, Some(RetryStop::BudgetExhausted)));
            }
            tracing::info!(
                operation = call.operation,
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
    .await
}

async fn classify<T>(
    client: &ClientInner,
    result: Result<Attempt<T>, tokio::time::error::Elapsed>,
    call: &Call<'_>,
) -> Result<Reply<T>, Failure> {
    let now = || client.runtime.clock.now_utc();
    let transport = |kind: ErrorKind, message: String, source: Option<reqwest::Error>| {
        let error = Error::new(kind, message);
        Failure {
            error: match source {
                Some(s) => error.with_source(s),
                None => error,
            },
            retryable: true,
            advised: None,
        }
    };
    let response = match result {
        Err(_) => {
            return Err(transport(
                ErrorKind::Timeout,
                format!("no response within {:?}", call.timeout),
                None,
            ));
        }
        Ok(response) => response,
    };
    match response {
        Ok(value) => {
            let headers = value.headers();
            Ok(Reply {
                status: value.status(),
                request_id: header(headers, "x-request-id"),
                retry_after: advised_delay(headers, None, now),
                attempts: 0,
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
                header(&headers, "x-request-id"),
                advised,
            ))
        }
        Err(semarize_api::Error::UnexpectedResponse(response)) => {
            // A status the spec does not list (a proxy's 502, say): keep what can be read.
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response.bytes().await.unwrap_or_default();
            let body: Option<types::Error> = serde_json::from_slice(&bytes).ok();
            let advised = advised_delay(
                &headers,
                body.as_ref().and_then(|b| b.retry_after_seconds),
                now,
            );
            if status.is_success() {
                return Err(Failure {
                    error: Error::new(
                        ErrorKind::Decode,
                        format!("unexpected success status {status}"),
                    ),
                    retryable: false,
                    advised: None,
                });
            }
            Err(api_failure(
                status,
                body.as_ref(),
                header(&headers, "x-request-id"),
                advised,
            ))
        }
        Err(semarize_api::Error::CommunicationError(e))
        | Err(semarize_api::Error::InvalidUpgrade(e)) => {
            if e.is_builder() {
                return Err(Failure {
                    error: Error::invalid_request("the request could not be built").with_source(e),
                    retryable: false,
                    advised: None,
                });
            }
            let kind = if e.is_timeout() {
                ErrorKind::Timeout
            } else {
                ErrorKind::Transport
            };
            Err(transport(kind, "no response".to_owned(), Some(e)))
        }
        Err(semarize_api::Error::ResponseBodyError(e)) => Err(transport(
            ErrorKind::Transport,
            "the response body broke off".to_owned(),
            Some(e),
        )),
        Err(semarize_api::Error::InvalidResponsePayload(_, e)) => Err(Failure {
            error: Error::new(ErrorKind::Decode, "the response does not match the spec")
                .with_source(e),
            retryable: false,
            advised: None,
        }),
        Err(semarize_api::Error::InvalidRequest(message))
        | Err(semarize_api::Error::Custom(message)) => Err(Failure {
            error: Error::invalid_request(message),
            retryable: false,
            advised: None,
        }),
    }
}

fn api_failure(
    status: StatusCode,
    body: Option<&types::Error>,
    request_id: Option<String>,
    advised: Option<Duration>,
) -> Failure {
    let kind = if status == StatusCode::TOO_MANY_REQUESTS {
        ErrorKind::RateLimited
    } else {
        ErrorKind::Api
    };
    Failure {
        error: Error::new(kind, String::new()).with_response(status, body, request_id, advised),
        retryable: is_retryable_status(status),
        advised,
    }
}
