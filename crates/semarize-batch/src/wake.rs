//! Idle workers rest instead of asking the ledger again and again. A claim loop that finds
//! nothing rests until the ledger's next due time (at most [`IDLE_RECHECK`]), and is woken
//! sooner when work may have appeared: by the ledger ([`Ledger::watch`](crate::Ledger::watch):
//! records ingested or replayed by another process, the last open record finished
//! elsewhere; PostgreSQL `LISTEN`/`NOTIFY`), or by the engine's own transitions (a run
//! created now is due for its first poll in a second).
//!
//! A rest sleeps in slices of [`REST_SLICE`] and looks at its wake-ups between them: a
//! wake-up costs no statement, and on virtual time a rest never jumps the clock past a
//! wake-up by more than one slice.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use semarize::runtime::Runtime;

/// The longest rest of an idle loop: what it costs to notice work that nothing announced
/// (another worker died holding a record, a wake-up lost with a dropped connection). Each
/// look is two statements (a claim and the next due time), so an idle worker's two loops
/// cost at most four statements per rest: under one a second.
pub(crate) const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// The shortest rest: a record due now that the claim did not get (another worker holds
/// it) is not asked for in a tight loop.
pub(crate) const MIN_REST: Duration = Duration::from_millis(10);

/// How often a resting loop looks at its wake-ups: the longest a wake-up waits.
const REST_SLICE: Duration = Duration::from_millis(50);

/// A wake-up for idle workers. A [`Ledger`](crate::Ledger) that learns of new work from
/// elsewhere calls [`Wake::wake`] on the handle the engine gave its
/// [`watch`](crate::Ledger::watch), and every loop resting on it looks at the ledger again.
/// Cheap to clone; waking with nobody resting costs nothing.
///
/// ```
/// let wake = semarize_batch::Wake::default();
/// wake.clone().wake();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Wake {
    generation: Arc<AtomicU64>,
}

impl Wake {
    /// Wakes every loop resting on this handle.
    pub fn wake(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
}

/// The wake-ups of the workers of this process on a ledger only this process uses: the
/// ledger wakes them itself when it changes.
#[cfg(feature = "sqlite")]
#[derive(Clone, Debug, Default)]
pub(crate) struct Watchers(Arc<std::sync::Mutex<Vec<Wake>>>);

#[cfg(feature = "sqlite")]
impl Watchers {
    /// Wakes every registered worker.
    pub(crate) fn wake_all(&self) {
        for wake in self.0.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            wake.wake();
        }
    }

    /// [`Ledger::watch`](crate::Ledger::watch): `wake` stays registered until the future
    /// (which never ends) is dropped.
    pub(crate) fn watch(&self, wake: Wake) -> crate::LedgerFuture<()> {
        struct Registered(Watchers, Wake);
        impl Drop for Registered {
            fn drop(&mut self) {
                let mut all = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
                all.retain(|w| !Arc::ptr_eq(&w.generation, &self.1.generation));
            }
        }
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(wake.clone());
        let registered = Registered(self.clone(), wake);
        Box::pin(async move {
            let _registered = registered;
            std::future::pending().await
        })
    }
}

/// One claim loop's rest: the wake-ups it honours and the earliest time its own engine
/// asked it to look again.
#[derive(Debug)]
pub(crate) struct Alarm {
    wake: Wake,
    /// The wake-up generation the loop last looked at the ledger after.
    seen: AtomicU64,
    /// Unix milliseconds (the engine's clock) at which to look again at the latest;
    /// `i64::MAX` when nothing asked.
    ring_at_ms: AtomicI64,
}

impl Alarm {
    pub(crate) fn new(wake: &Wake) -> Self {
        Alarm {
            wake: wake.clone(),
            seen: AtomicU64::new(wake.generation()),
            ring_at_ms: AtomicI64::new(i64::MAX),
        }
    }

    /// Asks the loop to look at the ledger at `at_ms` at the latest.
    pub(crate) fn ring_at(&self, at_ms: i64) {
        self.ring_at_ms.fetch_min(at_ms, Ordering::Relaxed);
    }

    /// Marks the wake-ups so far as seen. Called just before the loop looks at the
    /// ledger, so a wake-up that comes while it looks ends the rest that follows.
    pub(crate) fn looking(&self) {
        self.seen.store(self.wake.generation(), Ordering::Relaxed);
    }

    /// Rests until `until_ms` (Unix milliseconds on `runtime`'s clock), an earlier
    /// [`ring_at`](Alarm::ring_at), or a wake-up since [`looking`](Alarm::looking).
    pub(crate) async fn rest(&self, runtime: &Runtime, until_ms: i64) {
        let now_ms = || runtime.clock().now_utc().timestamp_millis();
        loop {
            let due = until_ms.min(self.ring_at_ms.load(Ordering::Relaxed));
            let left = due.saturating_sub(now_ms());
            if left <= 0 || self.wake.generation() != self.seen.load(Ordering::Relaxed) {
                break;
            }
            let left = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
            runtime.sleeper().sleep(left.min(REST_SLICE)).await;
        }
        // A ring that has come due is spent; a later one stays for the next rest.
        let now = now_ms();
        let _ = self
            .ring_at_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |at| {
                (at <= now).then_some(i64::MAX)
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semarize::runtime::{FixedJitter, VirtualTime};

    fn virtual_runtime() -> (Runtime, VirtualTime) {
        let time = VirtualTime::new();
        (Runtime::virtual_time(time.clone(), FixedJitter(0.5)), time)
    }

    fn now_ms(runtime: &Runtime) -> i64 {
        runtime.clock().now_utc().timestamp_millis()
    }

    #[tokio::test]
    async fn a_rest_lasts_until_its_time_in_slices() {
        let (runtime, time) = virtual_runtime();
        let alarm = Alarm::new(&Wake::default());
        alarm.looking();
        alarm.rest(&runtime, now_ms(&runtime) + 120).await;
        assert_eq!(
            time.sleeps(),
            [50, 50, 20].map(Duration::from_millis).to_vec()
        );
    }

    #[tokio::test]
    async fn an_earlier_ring_shortens_the_rest_and_is_spent_by_it() {
        let (runtime, time) = virtual_runtime();
        let alarm = Alarm::new(&Wake::default());
        let start = now_ms(&runtime);
        alarm.ring_at(start + 30);
        alarm.ring_at(start + 70);
        alarm.looking();
        alarm.rest(&runtime, start + 5_000).await;
        assert_eq!(time.elapsed(), Duration::from_millis(30));
        // Spent: the next rest goes its whole length.
        alarm.rest(&runtime, start + 130).await;
        assert_eq!(time.elapsed(), Duration::from_millis(130));
    }

    #[tokio::test]
    async fn a_wake_up_since_the_last_look_ends_the_rest_within_a_slice() {
        let (runtime, time) = virtual_runtime();
        let wake = Wake::default();
        let alarm = Alarm::new(&wake);
        alarm.looking();
        // Woken while the loop looked at the ledger: the rest does not start.
        wake.wake();
        alarm.rest(&runtime, now_ms(&runtime) + 5_000).await;
        assert_eq!(time.elapsed(), Duration::ZERO);
        // Looked again: the wake-up is seen, and a rest goes on until woken.
        alarm.looking();
        let resting = alarm.rest(&runtime, now_ms(&runtime) + 5_000);
        let waking = async {
            while time.elapsed() < Duration::from_millis(200) {
                tokio::task::yield_now().await;
            }
            wake.wake();
        };
        tokio::join!(resting, waking);
        assert!(
            time.elapsed() <= Duration::from_millis(250),
            "{:?}",
            time.elapsed()
        );
    }
}
