//! Per-attempt hooks: add headers to every request, observe every response.
//!
//! A [`Hook`] registered with [`RequestContext::with_hook`](crate::RequestContext::with_hook)
//! (or `semarize::Client::builder().hook(..)`) runs once per attempt: its
//! [`on_request`](Hook::on_request) may add or replace headers (a tenant id, a trace
//! context) just before the request is sent, and its [`on_response`](Hook::on_response)
//! sees the status, headers and latency of what came back, or that nothing did.
//!
//! Hooks never see the API key: the `Authorization` header is taken out while they run
//! and put back afterwards, so a hook can neither read nor replace it. A hook cannot
//! change the `Idempotency-Key` either (it is restored after the hooks), since every
//! attempt of one logical creation must carry the same key.
//!
//! ```
//! use semarize_api::hooks::{Hook, RequestParts, ResponseInfo};
//!
//! struct Tenant(&'static str);
//!
//! impl Hook for Tenant {
//!     fn on_request(&self, request: &mut RequestParts<'_>) {
//!         request
//!             .headers_mut()
//!             .insert("x-tenant-id", self.0.parse().expect("a valid header value"));
//!     }
//!
//!     fn on_response(&self, response: &ResponseInfo<'_>) {
//!         if response.status().is_none() {
//!             eprintln!("{} attempt {}: no response", response.operation_id(), response.attempt());
//!         }
//!     }
//! }
//!
//! let context = semarize_api::RequestContext::new().with_hook(Tenant("acme"));
//! let client = semarize_api::Client::new("http://127.0.0.1:8787", context);
//! ```
//!
//! Calls of the generated client are attempt 1 with no retry to follow. A retry layer
//! built on the raw client runs each of its attempts inside [`attempt`], so hooks see the
//! attempt's number and whether another one follows.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::transport::{self, ResponseHead};

/// The `Idempotency-Key` header, which hooks may read but not change.
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The request id this crate's callers send, and the service answers with.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Code run once per attempt of every request of a client. Both methods do nothing
/// unless overridden. Hooks run in the order they were registered, on the task that sends
/// the request: keep them quick and never block.
pub trait Hook: Send + Sync {
    /// Called just before an attempt is sent: may add or replace headers.
    fn on_request(&self, request: &mut RequestParts<'_>) {
        let _ = request;
    }

    /// Called once the attempt is over: a response head arrived, or none did (a transport
    /// error or a time-out; then [`ResponseInfo::status`] is `None`).
    fn on_response(&self, response: &ResponseInfo<'_>) {
        let _ = response;
    }
}

/// A shared hook is a hook (keep an `Arc` to read what it recorded).
impl<H: Hook + ?Sized> Hook for Arc<H> {
    fn on_request(&self, request: &mut RequestParts<'_>) {
        (**self).on_request(request);
    }

    fn on_response(&self, response: &ResponseInfo<'_>) {
        (**self).on_response(response);
    }
}

/// The hooks of one client, in registration order; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct HookList(Option<Arc<[Arc<dyn Hook>]>>);

impl HookList {
    /// The list with `hook` appended.
    pub(crate) fn with(&self, hook: Arc<dyn Hook>) -> HookList {
        let mut hooks: Vec<Arc<dyn Hook>> = self.0.iter().flat_map(|h| h.iter().cloned()).collect();
        hooks.push(hook);
        HookList(Some(hooks.into()))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |hooks| hooks.len())
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<dyn Hook>> {
        self.0.iter().flat_map(|hooks| hooks.iter())
    }
}

/// The request of one attempt, as hooks see it before it is sent.
pub struct RequestParts<'a> {
    operation_id: &'static str,
    attempt: u32,
    elapsed: Duration,
    headers: &'a mut HeaderMap,
}

impl RequestParts<'_> {
    /// The spec's `operationId` (`create_run`, `get_run`, ...).
    pub fn operation_id(&self) -> &'static str {
        self.operation_id
    }

    /// The attempt's number within its logical call, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The `Idempotency-Key` this attempt carries (every attempt of a creation carries the
    /// same one).
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers
            .get(&IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
    }

    /// Time since the logical call began (zero for the first attempt).
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The request's headers, without `Authorization`.
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The request's headers, to add or replace one. `Authorization` is set after the
    /// hooks and the `Idempotency-Key` is restored after each, whatever a hook does.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers
    }
}

impl std::fmt::Debug for RequestParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestParts")
            .field("operation_id", &self.operation_id)
            .field("attempt", &self.attempt)
            .field("elapsed", &self.elapsed)
            .finish_non_exhaustive()
    }
}

/// How one attempt ended, as hooks see it.
pub struct ResponseInfo<'a> {
    operation_id: &'static str,
    attempt: u32,
    status: Option<StatusCode>,
    headers: &'a HeaderMap,
    sent_request_id: Option<&'a HeaderValue>,
    latency: Duration,
    will_retry: bool,
}

impl ResponseInfo<'_> {
    /// The spec's `operationId`.
    pub fn operation_id(&self) -> &'static str {
        self.operation_id
    }

    /// The attempt's number within its logical call, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The HTTP status, or `None` when no response arrived (a transport error, a
    /// time-out).
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The response headers (empty when no response arrived).
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// The service's `X-Request-Id` for this attempt; without a response, the one sent.
    pub fn request_id(&self) -> Option<&str> {
        self.headers
            .get(&REQUEST_ID)
            .or(self.sent_request_id)
            .and_then(|v| v.to_str().ok())
    }

    /// From sending the request to its response head (or to the failure).
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Whether another attempt of the same call follows.
    pub fn will_retry(&self) -> bool {
        self.will_retry
    }
}

impl std::fmt::Debug for ResponseInfo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseInfo")
            .field("operation_id", &self.operation_id)
            .field("attempt", &self.attempt)
            .field("status", &self.status)
            .field("request_id", &self.request_id())
            .field("latency", &self.latency)
            .field("will_retry", &self.will_retry)
            .finish_non_exhaustive()
    }
}

/// An attempt sent with hooks registered, whose `on_response` is still to run.
pub(crate) struct Pending {
    hooks: HookList,
    operation_id: &'static str,
    attempt: u32,
    sent_at: Instant,
    sent_request_id: Option<HeaderValue>,
}

impl Pending {
    fn report(&self, head: Option<(StatusCode, &HeaderMap)>, will_retry: bool) {
        let empty = HeaderMap::new();
        let (status, headers) = match head {
            Some((status, headers)) => (Some(status), headers),
            None => (None, &empty),
        };
        let info = ResponseInfo {
            operation_id: self.operation_id,
            attempt: self.attempt,
            status,
            headers,
            sent_request_id: self.sent_request_id.as_ref(),
            latency: crate::clock::now().saturating_duration_since(self.sent_at),
            will_retry,
        };
        for hook in self.hooks.iter() {
            hook.on_response(&info);
        }
    }
}

/// Runs the `on_request` hooks over `request` (the Authorization header out of their
/// reach, the Idempotency-Key kept) and returns what reporting its response needs.
/// `None` without hooks, at the cost of one length check.
pub(crate) fn before_send(
    hooks: &HookList,
    operation_id: &'static str,
    request: &mut reqwest::Request,
) -> Option<PendingReport> {
    if hooks.len() == 0 {
        return None;
    }
    let scoped = transport::scoped_attempt();
    let (attempt, elapsed) = scoped.unwrap_or((1, Duration::ZERO));
    let headers = request.headers_mut();
    let authorization = headers.remove(AUTHORIZATION);
    let key = headers.get(&IDEMPOTENCY_KEY).cloned();
    for hook in hooks.iter() {
        hook.on_request(&mut RequestParts {
            operation_id,
            attempt,
            elapsed,
            headers,
        });
        // Undone after each hook, so that the next one sees what is sent: no
        // Authorization (the client's own is put back at the end), the original key.
        headers.remove(AUTHORIZATION);
        if headers.get(&IDEMPOTENCY_KEY) != key.as_ref() {
            match &key {
                Some(key) => {
                    headers.insert(IDEMPOTENCY_KEY.clone(), key.clone());
                }
                None => {
                    headers.remove(&IDEMPOTENCY_KEY);
                }
            }
        }
    }
    if let Some(authorization) = authorization {
        headers.insert(AUTHORIZATION, authorization);
    }
    let pending = Pending {
        hooks: hooks.clone(),
        operation_id,
        attempt,
        sent_at: crate::clock::now(),
        sent_request_id: headers.get(&REQUEST_ID).cloned(),
    };
    if scoped.is_some() {
        // The retry layer reports it once it knows whether it retries.
        transport::set_pending(pending);
        None
    } else {
        Some(PendingReport(Some(pending)))
    }
}

/// The `on_response` of a call outside [`attempt`]: reported by the transport itself, or,
/// when the call is dropped before it ends (a caller's own time-out), without a status.
pub(crate) struct PendingReport(Option<Pending>);

impl PendingReport {
    pub(crate) fn report(mut self, response: Option<&reqwest::Response>) {
        if let Some(pending) = self.0.take() {
            pending.report(response.map(|r| (r.status(), r.headers())), false);
        }
    }
}

impl Drop for PendingReport {
    fn drop(&mut self) {
        if let Some(pending) = self.0.take() {
            pending.report(None, false);
        }
    }
}

/// Runs `future` (one call of the generated client) as attempt `number` of a logical
/// call that began `elapsed` ago: hooks see that number and time, and their `on_response`
/// waits for [`Attempt::finish`], which says whether another attempt follows.
///
/// For retry layers built on the raw client (the `semarize` crate is one):
///
/// ```no_run
/// # async fn demo(client: &semarize_api::Client) {
/// use std::time::Duration;
/// let mut number = 1;
/// loop {
///     let (result, attempt) =
///         semarize_api::hooks::attempt(number, Duration::ZERO, client.list_runs().send()).await;
///     let retry = result.is_err() && number < 3;
///     let _head = attempt.finish(retry);
///     if !retry {
///         break;
///     }
///     number += 1;
/// }
/// # }
/// ```
pub fn attempt<F: Future>(
    number: u32,
    elapsed: Duration,
    future: F,
) -> impl Future<Output = (F::Output, Attempt)> {
    transport::scoped(Some((number.max(1), elapsed)), future).map(|(output, scope)| {
        (
            output,
            Attempt {
                head: scope.head,
                pending: scope.pending,
            },
        )
    })
}

/// One attempt run by [`attempt`]: the head of its response, and the hooks' `on_response`
/// still to run. Dropping it without [`finish`](Attempt::finish) reports "no retry".
pub struct Attempt {
    head: Option<Box<ResponseHead>>,
    pending: Option<Box<Pending>>,
}

impl Attempt {
    /// The head of the response, if one arrived.
    pub fn head(&self) -> Option<&ResponseHead> {
        self.head.as_deref()
    }

    /// Runs the hooks' `on_response` (once) and returns the response's head.
    pub fn finish(mut self, will_retry: bool) -> Option<ResponseHead> {
        self.report(will_retry);
        self.head.take().map(|head| *head)
    }

    fn report(&mut self, will_retry: bool) {
        if let Some(pending) = self.pending.take() {
            let head = self.head.as_ref().map(|h| (h.status, &h.headers));
            pending.report(head, will_retry);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.report(false);
    }
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("status", &self.head.as_ref().map(|h| h.status))
            .field("reported", &self.pending.is_none())
            .finish()
    }
}
