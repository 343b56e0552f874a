//! Retry policy, the client-wide retry budget, and `Retry-After` parsing.
//!
//! What is retried: connection failures, timeouts, 408, 429 and 5xx. Other 4xx are final.
//! The delay before a retry is the largest of the `Retry-After` header (delta-seconds or
//! HTTP-date), the body's `retry_after_seconds`, and a capped exponential backoff with full
//! jitter ([`Backoff`]). Run creation is retried with the same Idempotency-Key, so a retry
//! never creates a second run. A delay that would end past the call's elapsed-time limit
//! ends the call at once, with the advised delay on the error, instead of sleeping.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::backoff::Backoff;

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
    backoff: Backoff,
}

impl Default for RetryPolicy {
    /// Up to 5 attempts within 2 minutes; backoff from 500 ms doubling to at most 20 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(120),
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(20)),
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
        self.backoff = Backoff::new(delay, self.backoff.max());
        self
    }

    /// The cap of the exponential backoff (a longer `Retry-After` is still honoured).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.backoff = Backoff::new(self.backoff.base(), delay);
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
        self.backoff.full_jitter(retry, fraction)
    }

    /// The delay before retry number `retry`: the larger of what the server advised and
    /// the jittered backoff.
    pub fn delay(&self, retry: u32, fraction: f64, advised: Option<Duration>) -> Duration {
        self.backoff(retry, fraction)
            .max(advised.unwrap_or(Duration::ZERO))
    }
}

/// A client-wide retry budget: each retry spends tokens, so that when the service is
/// failing the client stops retrying instead of multiplying its load (a retry storm).
/// First attempts are never limited.
///
/// As in the AWS SDKs' standard mode: a retry costs `retry_cost` tokens, a retry after a
/// time-out costs twice that (a time-out hints at an overloaded service), a call that
/// succeeds after retrying gets back what it spent, and a call that succeeds at once
/// returns `success_refund` tokens.
///
/// Only the client's calls spend and refund it; share one between clients by giving
/// them the same `Arc`:
///
/// ```
/// use std::sync::Arc;
/// let budget = Arc::new(semarize::RetryBudget::new(500, 5, 1));
/// let client = semarize::Client::builder()
///     .api_key("smz_test_example")
///     .retry_budget(budget.clone())
///     .build()?;
/// assert_eq!(budget.available(), 500, "nothing spent before a retry");
/// # drop(client);
/// # Ok::<(), semarize::Error>(())
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    tokens: AtomicU32,
    capacity: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_refund: u32,
}

impl Default for RetryBudget {
    /// 500 tokens, 5 per retry (10 after a time-out), 1 back per first-attempt success:
    /// 100 retries in a row at most, then retries resume as calls succeed again.
    fn default() -> Self {
        RetryBudget::new(500, 5, 1)
    }
}

impl RetryBudget {
    /// A budget of `capacity` tokens where a retry costs `retry_cost` (twice that after a
    /// time-out) and a first-attempt success returns `success_refund`.
    pub fn new(capacity: u32, retry_cost: u32, success_refund: u32) -> Self {
        RetryBudget {
            tokens: AtomicU32::new(capacity),
            capacity,
            retry_cost,
            timeout_cost: retry_cost.saturating_mul(2),
            success_refund,
        }
    }

    /// What a retry after a time-out costs (default: twice the retry cost).
    pub fn with_timeout_cost(mut self, cost: u32) -> Self {
        self.timeout_cost = cost;
        self
    }

    /// A budget that never runs out.
    pub fn unlimited() -> Self {
        RetryBudget::new(u32::MAX, 0, 0)
    }

    /// Takes the cost of one retry; false when the budget cannot afford it.
    #[cfg(test)]
    fn try_spend(&self) -> bool {
        self.try_spend_tokens(self.retry_cost)
    }

    /// The cost of the next retry, after a time-out or after another failure.
    pub(crate) fn cost(&self, after_timeout: bool) -> u32 {
        if after_timeout {
            self.timeout_cost
        } else {
            self.retry_cost
        }
    }

    pub(crate) fn try_spend_tokens(&self, cost: u32) -> bool {
        self.tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(cost))
            .is_ok()
    }

    /// A call succeeded after spending `spent` tokens on retries: they come back, or
    /// `success_refund` when it spent none.
    pub(crate) fn record_success(&self, spent: u32) {
        let refund = if spent > 0 {
            spent
        } else {
            self.success_refund
        };
        // A full budget (the common case) is left untouched: no write on the hot path.
        if refund == 0 || self.available() >= self.capacity {
            return;
        }
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(refund).min(self.capacity))
            });
    }

    /// Tokens left.
    pub fn available(&self) -> u32 {
        self.tokens.load(Ordering::Acquire)
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (relative to `now`). A date in the
/// past is zero; a number too large for 64 bits saturates (the call then ends at once
/// rather than retrying early); anything else is ignored.
///
/// ```
/// use std::time::Duration;
/// let now: chrono::DateTime<chrono::Utc> = "2026-02-24T12:00:00Z".parse().unwrap();
/// assert_eq!(semarize::parse_retry_after("10", now), Some(Duration::from_secs(10)));
/// assert_eq!(semarize::parse_retry_after("99999999999999999999999", now), Some(Duration::MAX));
/// assert_eq!(semarize::parse_retry_after("-5", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
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
    // The body's number was decoded as u64 already; negative or fractional values made
    // the envelope undecodable and never get here.
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
    fn a_budget_spends_refunds_and_caps_its_tokens() {
        let budget = RetryBudget::new(10, 4, 1);
        assert_eq!(budget.available(), 10);
        assert!(budget.try_spend());
        assert!(budget.try_spend());
        assert_eq!(budget.available(), 2);
        assert!(!budget.try_spend(), "4 tokens cannot be paid from 2");
        assert_eq!(budget.available(), 2, "a refused retry spends nothing");
        budget.record_success(4);
        assert_eq!(
            budget.available(),
            6,
            "a call that retried gets its spend back"
        );
        budget.record_success(0);
        assert_eq!(
            budget.available(),
            7,
            "a first-attempt success returns the refund"
        );
        budget.record_success(100);
        assert_eq!(budget.available(), 10, "never above the capacity");
        budget.record_success(0);
        assert_eq!(budget.available(), 10);
    }

    #[test]
    fn a_time_out_costs_its_own_price_and_an_unlimited_budget_never_ends() {
        let budget = RetryBudget::new(100, 5, 1);
        assert_eq!((budget.cost(false), budget.cost(true)), (5, 10));
        let budget = RetryBudget::new(100, 5, 1).with_timeout_cost(30);
        assert_eq!((budget.cost(false), budget.cost(true)), (5, 30));
        let unlimited = RetryBudget::unlimited();
        for _ in 0..10_000 {
            assert!(unlimited.try_spend());
            assert!(unlimited.try_spend_tokens(unlimited.cost(true)));
        }
        assert_eq!(unlimited.available(), u32::MAX);
    }

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
        let now: DateTime<Utc> = "2026-02-24T10:00:00Z".parse().unwrap();
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
