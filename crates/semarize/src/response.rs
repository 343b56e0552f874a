//! A successful answer with what came with it: status, headers, request id, attempts.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// The value of a successful call with the response it came in: every request builder's
/// `send_with_response()` returns one (`send()` returns only the value).
///
/// ```no_run
/// # async fn demo(client: semarize::Client) -> Result<(), semarize::Error> {
/// let response = client.runs().get("run_123").send_with_response().await?;
/// println!(
///     "HTTP {} after {} attempt(s) in {:?}, request id {:?}",
///     response.status(),
///     response.attempts(),
///     response.elapsed(),
///     response.request_id(),
/// );
/// let run = response.into_inner();
/// # let _ = run; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Response<T> {
    value: T,
    status: StatusCode,
    headers: HeaderMap,
    attempts: u32,
    elapsed: Duration,
}

impl<T> Response<T> {
    pub(crate) fn new(
        value: T,
        status: StatusCode,
        headers: HeaderMap,
        attempts: u32,
        elapsed: Duration,
    ) -> Self {
        Response {
            value,
            status,
            headers,
            attempts,
            elapsed,
        }
    }

    /// The HTTP status of the successful attempt.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The service's `X-Request-Id` for the successful attempt (quote it to support).
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
    }

    /// Attempts made, the successful one included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time from the first attempt to the answer, retry delays included (on the
    /// client's clock).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The value.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// The value, borrowed.
    pub fn get_ref(&self) -> &T {
        &self.value
    }

    /// The value, and the response without it.
    pub(crate) fn take(self) -> (T, Response<()>) {
        let Response {
            value,
            status,
            headers,
            attempts,
            elapsed,
        } = self;
        (
            value,
            Response {
                value: (),
                status,
                headers,
                attempts,
                elapsed,
            },
        )
    }

    /// The same response around another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            value: f(self.value),
            status: self.status,
            headers: self.headers,
            attempts: self.attempts,
            elapsed: self.elapsed,
        }
    }
}

impl<T> std::ops::Deref for Response<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}
