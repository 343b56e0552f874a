//! Retry policy, the client-wide retry budget, and `Retry-After` parsing.
//!
//! What is retried: connection failures, timeouts, 408, 429 and 5xx. Other 4xx are final.
//! The delay before a retry is the largest of the `Retry-After` header (delta-seconds or
//! HTTP-date), the body's `retry_after_seconds`, and a capped exponential backoff with full
//! jitter. Run creation is retried with the same Idempotency-Key, so a retry never creates
//! a second run.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How one logical call is retried.
///
/// ```
/// use std::time::Duration;
/// let policy = semarize::RetryPolicy::default()
///     .max_attempts(6)
///     .max_elapsed(Duration::from_secs(120));
/// assert_eq!(policy.attempts(), 6);
/// assert_eq!(semarize::RetryPolicy::none().attempts(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_elapsed: Duration,
    base_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Up to 5 attempts within 2 minutes; backoff from 500 ms doubling to at most 20 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(120),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// No retry is started whose delay would end later than this after the first attempt
    /// began.
    pub fn max_elapsed(mut self, elapsed: Duration) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// The backoff before the first retry (before jitter); it doubles per retry.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The cap of the exponential backoff (a longer `Retry-After` is still honoured).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Attempts in all.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The elapsed-time limit.
    pub fn elapsed_limit(&self) -> Duration {
        self.max_elapsed
    }

    /// Full-jitter backoff before retry number `retry` (1 for the first retry):
    /// `fraction * min(max_delay, base_delay * 2^(retry-1))`.
    pub fn backoff(&self, retry: u32, fraction: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(30);
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        ceiling.mul_f64(fraction.clamp(0.0, 1.0))
    }

    /// The delay before retry number `retry`: the larger of what the server advised and
    /// the jittered backoff.
    pub fn delay(&self, retry: u32, fraction: f64, advised: Option<Duration>) -> Duration {
        self.backoff(retry, fraction)
            .max(advised.unwrap_or(Duration::ZERO))
    }
}

/// A client-wide retry budget: each retry spends tokens and each success returns some, so
/// that when the service is failing the client stops retrying instead of multiplying its
/// load (a retry storm). First attempts are never limited.
///
/// ```
/// let budget = semarize::RetryBudget::new(10, 5, 1);
/// assert!(budget.try_spend());
/// assert!(budget.try_spend());
/// assert!(!budget.try_spend(), "two retries spent the 10 tokens");
/// budget.record_success();
/// assert_eq!(budget.available(), 1);
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    tokens: AtomicU32,
    capacity: u32,
    retry_cost: u32,
    success_refund: u32,
}

impl Default for RetryBudget {
    /// 500 tokens, 5 per retry, 1 back per success: 100 retries in a row at most, then
    /// retries resume as calls succeed again.
    fn default() -> Self {
        RetryBudget::new(500, 5, 1)
    }
}

impl RetryBudget {
    /// A budget of `capacity` tokens where a retry costs `retry_cost` and a success returns
    /// `success_refund`.
    pub fn new(capacity: u32, retry_cost: u32, success_refund: u32) -> Self {
        RetryBudget {
            tokens: AtomicU32::new(capacity),
            capacity,
            retry_cost,
            success_refund,
        }
    }

    /// A budget that never runs out.
    pub fn unlimited() -> Self {
        RetryBudget::new(u32::MAX, 0, 0)
    }

    /// Takes the cost of one retry; false when the budget cannot afford it.
    pub fn try_spend(&self) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                t.checked_sub(self.retry_cost)
            })
            .is_ok()
    }

    /// Returns tokens after a successful call.
    pub fn record_success(&self) {
        // A full budget (the common case) is left untouched: no write on the hot path.
        if self.success_refund == 0 || self.available() >= self.capacity {
            return;
        }
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(self.success_refund).min(self.capacity))
            });
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (relative to `now`). A date in the
/// past is zero; anything unparseable is ignored.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

/// The advised delay of a response: the larger of its `Retry-After` header and its body's
/// `retry_after_seconds`.
///
/// `now` is only called when the header is an HTTP-date (rare; it costs a clock read).
pub(crate) fn advised_delay(
    headers: &HeaderMap,
    body_seconds: Option<u64>,
    now: impl FnOnce() -> DateTime<Utc>,
) -> Option<Duration> {
    let header = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| match v.trim().parse::<u64>() {
            Ok(seconds) => Some(Duration::from_secs(seconds)),
            Err(_) => parse_retry_after(v, now()),
        });
    let body = body_seconds.map(Duration::from_secs);
    match (header, body) {
        (Some(h), Some(b)) => Some(h.max(b)),
        (h, b) => h.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = RetryPolicy::default();
        let full: Vec<u64> = (1..=8)
            .map(|r| policy.backoff(r, 1.0).as_millis() as u64)
            .collect();
        assert_eq!(full, vec![500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
        assert_eq!(policy.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(policy.backoff(3, 0.5), Duration::from_secs(1));
    }

    #[test]
    fn advice_wins_when_longer() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(1, 1.0, Some(Duration::from_secs(10))),
            Duration::from_secs(10)
        );
        assert_eq!(
            policy.delay(8, 1.0, Some(Duration::from_secs(1))),
            Duration::from_secs(20)
        );
    }

    #[test]
    fn retry_after_forms() {
        let now: DateTime<Utc> = "2026-02-24T12:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("10", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Tue, 24 Feb 2026 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 24 Feb 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn the_larger_of_header_and_body() {
        let now = Utc::now();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(
            advised_delay(&headers, Some(7), || now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            advised_delay(&headers, Some(1), || now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(advised_delay(&HeaderMap::new(), None, || now), None);
    }
}
