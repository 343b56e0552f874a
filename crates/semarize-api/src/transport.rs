//! How the generated client executes a request: redirects, a response size limit, and the
//! response head kept for callers that classify by status before body.
//!
//! Every byte from the network is hostile. The generated code reads a whole body and then
//! decodes it; when the body is not the JSON it expects (an HTML page from a load
//! balancer), progenitor's [`Error::InvalidResponsePayload`](crate::Error) no longer says
//! which status came with it. [`capture_head`] keeps that status and the headers, so a
//! 502 with an HTML body is still a retryable 502 and a 401 with an HTML body is still a
//! 401.
//!
//! Redirects: the generated client follows a redirect only when the request is a `GET` and
//! the new location has the same origin (scheme, host and port), at most
//! [`MAX_REDIRECTS`] times. Any other redirect is returned as it is, so that a request
//! body, an `Authorization` header or an `Idempotency-Key` is never re-sent to another
//! place. This needs a `reqwest::Client` that does not follow redirects itself
//! (`reqwest::redirect::Policy::none()`); the `semarize` crate builds its client that way.

use std::cell::RefCell;
use std::future::Future;

use futures::{FutureExt, StreamExt};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Method, ResponseBuilderExt, StatusCode, Url};

/// The default limit of one response body: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Same-origin `GET` redirects followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// A response body that passed its size limit; the body was not read further.
///
/// It appears in the source chain of the error that reading the body returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the response body is larger than the limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for BodyTooLarge {}

/// What a response looked like before its body was read.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// Where the response came from (after same-origin redirects).
    pub url: Url,
}

/// What one call of the generated client leaves for its caller: the head of the last
/// response, and, inside [`hooks::attempt`](crate::hooks::attempt), the attempt's number
/// and the hooks' report still to run.
#[derive(Default)]
pub(crate) struct CallScope {
    // Boxed, like `pending`: the task-local scope swaps this value in and out of the
    // thread on every poll of the call, so it is kept to a few words.
    pub(crate) head: Option<Box<ResponseHead>>,
    /// The attempt's number and the time since its logical call began.
    attempt: Option<(u32, std::time::Duration)>,
    pub(crate) pending: Option<Box<crate::hooks::Pending>>,
}

tokio::task_local! {
    static SCOPE: RefCell<CallScope>;
}

pin_project_lite::pin_project! {
    /// A call of the generated client in a fresh [`CallScope`]: its output and what it
    /// left there. A plain future around the call's (kilobytes of) future, so that the
    /// call's future is stored once, never copied by layers of `async` wrappers.
    pub(crate) struct Scoped<F: Future> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<RefCell<CallScope>, F>,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = (F::Output, CallScope);

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let mut inner = self.project().inner;
        let output = std::task::ready!(inner.as_mut().poll(cx));
        let scope = inner
            .take_value()
            .map(RefCell::into_inner)
            .unwrap_or_default();
        std::task::Poll::Ready((output, scope))
    }
}

/// Runs `future` in a fresh [`CallScope`] and returns what it left there.
pub(crate) fn scoped<F: Future>(
    attempt: Option<(u32, std::time::Duration)>,
    future: F,
) -> Scoped<F> {
    let scope = CallScope {
        attempt,
        ..CallScope::default()
    };
    Scoped {
        inner: SCOPE.scope(RefCell::new(scope), future),
    }
}

/// The attempt number and elapsed time of the enclosing [`hooks::attempt`](crate::hooks::attempt).
pub(crate) fn scoped_attempt() -> Option<(u32, std::time::Duration)> {
    SCOPE
        .try_with(|scope| scope.borrow().attempt)
        .ok()
        .flatten()
}

/// Leaves the hooks' report for the enclosing [`hooks::attempt`](crate::hooks::attempt).
pub(crate) fn set_pending(pending: crate::hooks::Pending) {
    let _ = SCOPE.try_with(|scope| scope.borrow_mut().pending = Some(Box::new(pending)));
}

/// Runs `future` (one call of the generated client) and returns its output with the head
/// of the last response it received, if any.
///
/// ```no_run
/// # async fn demo(client: &semarize_api::Client) {
/// let (result, head) = semarize_api::transport::capture_head(client.list_runs().send()).await;
/// if let (Err(_), Some(head)) = (&result, &head) {
///     eprintln!("failed with HTTP {}", head.status);
/// }
/// # }
/// ```
pub fn capture_head<F: Future>(
    future: F,
) -> impl Future<Output = (F::Output, Option<ResponseHead>)> {
    scoped(None, future).map(|(output, scope)| (output, scope.head.map(|head| *head)))
}

/// Keeps `response`'s head for [`capture_head`] (a replayed response too).
pub(crate) fn keep_head(response: &reqwest::Response) {
    // Outside a scope nobody asked for the head: nothing is cloned.
    let _ = SCOPE.try_with(|scope| {
        scope.borrow_mut().head = Some(Box::new(ResponseHead {
            status: response.status(),
            headers: response.headers().clone(),
            url: response.url().clone(),
        }));
    });
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The next request of a followed redirect, or `None` when `response` is not a redirect
/// this client may follow.
fn redirect_target(original: &reqwest::Request, response: &reqwest::Response) -> Option<Url> {
    if !response.status().is_redirection() || original.method() != Method::GET {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let target = response.url().join(location).ok()?;
    same_origin(original.url(), &target).then_some(target)
}

/// Executes `request` with `http`: same-origin `GET` redirects followed, the head recorded
/// for [`capture_head`], and the body limited to `limit` bytes.
pub(crate) async fn execute(
    http: &reqwest::Client,
    request: reqwest::Request,
    limit: usize,
) -> reqwest::Result<reqwest::Response> {
    let replay = if request.method() == Method::GET {
        request.try_clone()
    } else {
        None
    };
    let mut response = http.execute(request).await?;
    if let Some(original) = replay {
        for _ in 0..MAX_REDIRECTS {
            let Some(target) = redirect_target(&original, &response) else {
                break;
            };
            let mut next = original.try_clone().expect("a GET request has no body");
            *next.url_mut() = target;
            response = http.execute(next).await?;
        }
    }
    keep_head(&response);
    Ok(limit_body(response, limit))
}

/// Wraps the body so that reading more than `limit` bytes fails with [`BodyTooLarge`].
pub(crate) fn limit_body(mut response: reqwest::Response, limit: usize) -> reqwest::Response {
    let status = response.status();
    let version = response.version();
    let url = response.url().clone();
    let headers = std::mem::take(response.headers_mut());
    let mut seen = 0usize;
    let body = response.bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            return Err(
                Box::new(BodyTooLarge { limit }) as Box<dyn std::error::Error + Send + Sync>
            );
        }
        Ok(chunk)
    });
    rebuild(
        status,
        version,
        url,
        headers,
        reqwest::Body::wrap_stream(body),
    )
}

/// A response from its parts (the body read or wrapped elsewhere).
pub(crate) fn rebuild(
    status: StatusCode,
    version: reqwest::Version,
    url: Url,
    headers: HeaderMap,
    body: reqwest::Body,
) -> reqwest::Response {
    let mut response = http::Response::builder()
        .status(status)
        .version(version)
        .url(url)
        .body(body)
        .expect("status and version come from a valid response");
    *response.headers_mut() = headers;
    reqwest::Response::from(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let a = Url::parse("https://api.semarize.com/v1/runs").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://api.semarize.com:443/v2/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://api.semarize.com/v1/runs").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://evil.example/v1/runs").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://api.semarize.com:8443/v1/runs").unwrap()
        ));
    }
}
