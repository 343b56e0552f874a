//! Rate admission: each workspace has a bucket for run creations and one for reads, at
//! the rates the settings give; a request past its rate is answered 429 with the wait.

use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::error::ApiError;

/// A workspace's two buckets.
#[derive(Debug)]
pub(crate) struct Admission {
    create: TokenBucket,
    read: TokenBucket,
}

impl Admission {
    /// Full buckets.
    pub(crate) fn new(now: Instant) -> Self {
        Admission {
            create: TokenBucket::new(now),
            read: TokenBucket::new(now),
        }
    }

    /// Takes a token from the create or read bucket, or answers 429 with the whole
    /// seconds until one is available (at least 1).
    pub(crate) fn admit(&mut self, settings: &Settings, create: bool) -> Result<(), ApiError> {
        let now = Instant::now();
        let result = if create {
            self.create.take(settings.create_rate, now)
        } else {
            self.read.take(settings.read_rate, now)
        };
        result.map_err(|wait| ApiError::rate_limited(wait.as_secs_f64().ceil().max(1.0) as u64))
    }
}

/// A token bucket holding at most one second of tokens.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(now: Instant) -> Self {
        TokenBucket {
            tokens: f64::MAX,
            last: now,
        }
    }

    /// Takes one token at `rate` per second (`None`: unlimited). On refusal, returns how
    /// long until a token is available.
    pub(crate) fn take(&mut self, rate: Option<f64>, now: Instant) -> Result<(), Duration> {
        let Some(rate) = rate.filter(|r| *r > 0.0) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens.min(rate) + elapsed * rate).min(rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_rate_and_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(start);
        for _ in 0..10 {
            bucket.take(Some(10.0), start).unwrap();
        }
        let wait = bucket.take(Some(10.0), start).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        bucket
            .take(Some(10.0), start + Duration::from_millis(150))
            .unwrap();
        bucket.take(None, start).unwrap();
    }
}
