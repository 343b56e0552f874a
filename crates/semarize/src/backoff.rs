//! The one backoff of this crate: capped exponential growth with full jitter.
//!
//! The retry loop, the run waiter and the batch engine all space their attempts with it,
//! so a fleet of clients spreads its retries and polls instead of moving in lockstep.

use std::time::Duration;

/// Capped exponential backoff: step `n` (1 for the first) has the ceiling
/// `min(max, base * 2^(n-1))`; with full jitter the delay is a random share of it.
///
/// ```
/// use std::time::Duration;
/// use semarize::Backoff;
/// let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
/// assert_eq!(backoff.ceiling(1), Duration::from_secs(1));
/// assert_eq!(backoff.ceiling(4), Duration::from_secs(8));
/// assert_eq!(backoff.ceiling(40), Duration::from_secs(10));
/// assert_eq!(backoff.full_jitter(4, 0.5), Duration::from_secs(4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `base` and doubles up to `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The first step's ceiling.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The cap.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The ceiling of step `step` (1 for the first; 0 counts as 1). Saturates: no step
    /// overflows.
    pub fn ceiling(&self, step: u32) -> Duration {
        let exponent = step.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }

    /// Full jitter: `fraction` (from 0 to 1, clamped) of the ceiling of `step`.
    pub fn full_jitter(&self, step: u32, fraction: f64) -> Duration {
        let ceiling = self.ceiling(step);
        if fraction.is_nan() || fraction >= 1.0 {
            return ceiling;
        }
        // try_from: `mul_f64` panics where f64 rounding pushes a huge ceiling past the max.
        Duration::try_from_secs_f64(ceiling.as_secs_f64() * fraction.max(0.0))
            .map_or(ceiling, |d| d.min(ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_and_clamps() {
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.ceiling(u32::MAX), Duration::MAX);
        let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(20));
        assert_eq!(backoff.full_jitter(3, 7.0), Duration::from_secs(2));
        assert_eq!(backoff.full_jitter(3, -1.0), Duration::ZERO);
        assert_eq!(backoff.full_jitter(3, f64::NAN), Duration::from_secs(2));
        assert_eq!(backoff.ceiling(0), backoff.ceiling(1));
    }
}
