//! The one place in this crate that reads the time: a monotonic instant, for the offsets
//! between recorded responses and the latency hooks see. (The `semarize` crate's calls
//! take their time from its injected clock instead.)

use std::time::Instant;

/// Now, on the monotonic clock.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> Instant {
    Instant::now()
}
