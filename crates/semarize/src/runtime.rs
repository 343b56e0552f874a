//! Time and randomness, injectable so that retry and wait behaviour can be tested in
//! milliseconds and measured exactly.
//!
//! The client uses a [`Clock`] for deadlines, a [`Sleeper`] for delays and a [`Jitter`]
//! for full-jitter backoff. The defaults are the system clock, Tokio's timer and a fast
//! non-cryptographic generator. [`VirtualTime`] is both a clock and a sleeper whose time
//! only moves when something sleeps (optionally also sleeping a scaled-down real time).

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Tells the time.
pub trait Clock: Send + Sync + Debug {
    /// Monotonic now, for deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock now, for timestamps and HTTP-date `Retry-After` values.
    fn now_utc(&self) -> DateTime<Utc>;

    /// Wall-clock now as Unix seconds (webhook timestamps).
    fn unix_seconds(&self) -> i64 {
        self.now_utc().timestamp()
    }
}

/// Waits.
pub trait Sleeper: Send + Sync + Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<()>;
}

/// Randomness for backoff jitter.
pub trait Jitter: Send + Sync + Debug {
    /// A number from 0 to 1: the share of the backoff ceiling to wait.
    fn fraction(&self) -> f64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

// The one place in the client crates that reads the system's time (the clock rule in
// crates/clippy.toml): everything else asks a `Clock`.
#[allow(clippy::disallowed_methods)]
impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn unix_seconds(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// Tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Uniform random fractions from `fastrand`'s per-thread generator (seeded from the OS):
/// good enough to spread retries, not for anything secret.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        fastrand::f64()
    }
}

/// Always the same fraction: `FixedJitter(1.0)` gives the full backoff, `0.0` none.
#[derive(Clone, Copy, Debug)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn fraction(&self) -> f64 {
        self.0.clamp(0.0, 1.0)
    }
}

/// A clock and sleeper for tests: time moves only when something sleeps, and every sleep
/// is recorded.
///
/// With [`VirtualTime::scaled`], each sleep also waits `duration / scale` of real time, so
/// work happening elsewhere (an emulator finishing a run) can progress while the virtual
/// clock measures the documented delays exactly.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use semarize::runtime::{Sleeper, VirtualTime};
/// use std::time::Duration;
/// let time = VirtualTime::new();
/// time.sleep(Duration::from_secs(30)).await; // returns at once
/// assert_eq!(time.elapsed(), Duration::from_secs(30));
/// assert_eq!(time.sleeps(), vec![Duration::from_secs(30)]);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct VirtualTime {
    inner: Arc<VirtualInner>,
}

#[derive(Debug)]
struct VirtualInner {
    start: Instant,
    start_utc: DateTime<Utc>,
    offset: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
    scale: Option<f64>,
}

impl VirtualTime {
    /// Sleeps return at once.
    pub fn new() -> Self {
        Self::build(None)
    }

    /// Sleeps also wait `duration / scale` of real time.
    pub fn scaled(scale: f64) -> Self {
        Self::build(Some(scale.max(1.0)))
    }

    fn build(scale: Option<f64>) -> Self {
        VirtualTime {
            inner: Arc::new(VirtualInner {
                start: SystemClock.now(),
                start_utc: SystemClock.now_utc(),
                offset: Mutex::new(Duration::ZERO),
                sleeps: Mutex::new(Vec::new()),
                scale,
            }),
        }
    }

    /// Virtual time passed since creation.
    pub fn elapsed(&self) -> Duration {
        *self.inner.offset.lock().expect("virtual time lock")
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner.sleeps.lock().expect("virtual time lock").clone()
    }

    /// Moves time forward without sleeping.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.inner.offset.lock().expect("virtual time lock");
        *offset = offset.saturating_add(by);
    }
}

impl Default for VirtualTime {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for VirtualTime {
    fn now(&self) -> Instant {
        saturating_add(self.inner.start, self.elapsed())
    }

    fn now_utc(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.elapsed())
            .ok()
            .and_then(|d| self.inner.start_utc.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The latest instant that `Instant` arithmetic allows: about a century past `start`.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `instant + by`, saturating at a century from `instant` instead of panicking on a
/// server-supplied or caller-supplied duration too large to add.
pub(crate) fn saturating_add(instant: Instant, by: Duration) -> Instant {
    instant.checked_add(by.min(FAR_FUTURE)).unwrap_or(instant)
}

impl Sleeper for VirtualTime {
    fn sleep(&self, duration: Duration) -> BoxFuture<()> {
        self.inner
            .sleeps
            .lock()
            .expect("virtual time lock")
            .push(duration);
        self.advance(duration);
        let real = self.inner.scale.map(|scale| duration.div_f64(scale));
        Box::pin(async move {
            match real {
                Some(real) => tokio::time::sleep(real).await,
                None => tokio::task::yield_now().await,
            }
        })
    }
}

/// The clock, sleeper and jitter a client uses.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleeper: Arc<dyn Sleeper>,
    pub(crate) jitter: Arc<dyn Jitter>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            jitter: Arc::new(RandomJitter),
        }
    }
}

impl Runtime {
    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The sleeper.
    pub fn sleeper(&self) -> &dyn Sleeper {
        self.sleeper.as_ref()
    }

    /// The jitter source.
    pub fn jitter(&self) -> &dyn Jitter {
        self.jitter.as_ref()
    }

    /// Virtual time for both clock and sleeper, with the given jitter.
    pub fn virtual_time(time: VirtualTime, jitter: impl Jitter + 'static) -> Self {
        Runtime {
            clock: Arc::new(time.clone()),
            sleeper: Arc::new(time),
            jitter: Arc::new(jitter),
        }
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces the sleeper.
    pub fn with_sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// Replaces the jitter.
    pub fn with_jitter(mut self, jitter: impl Jitter + 'static) -> Self {
        self.jitter = Arc::new(jitter);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_jitter_stays_in_range() {
        let jitter = RandomJitter;
        for _ in 0..10_000 {
            let f = jitter.fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
