//! Deduplicating deliveries: at-least-once delivery means duplicates will come.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::VerifiedEvent;
use crate::runtime::{Clock, SystemClock};

/// Remembers ids seen recently. Implement it over Redis or your database to dedupe across
/// processes; [`MemoryDedupeStore`] serves one process.
pub trait DedupeStore: Send + Sync + Debug {
    /// Records `id`; true when it was not seen within the store's memory.
    fn first_seen(&self, id: &str, now: Instant) -> bool;
}

/// Ids with when they were seen, and the same in arrival order (for eviction).
type Remembered = (HashMap<String, Instant>, VecDeque<(Instant, String)>);

/// An in-memory store bounded in size and time: ids are forgotten after the TTL, and the
/// oldest go first when the capacity is reached.
#[derive(Debug)]
pub struct MemoryDedupeStore {
    capacity: usize,
    ttl: Duration,
    state: Mutex<Remembered>,
}

impl MemoryDedupeStore {
    /// Remembers at most `capacity` ids, each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        MemoryDedupeStore {
            capacity: capacity.max(1),
            ttl,
            state: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryDedupeStore {
    /// 100,000 ids for 24 hours (the documented delivery window).
    fn default() -> Self {
        MemoryDedupeStore::new(100_000, Duration::from_secs(24 * 3600))
    }
}

impl DedupeStore for MemoryDedupeStore {
    fn first_seen(&self, id: &str, now: Instant) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, order) = &mut *guard;
        while let Some((at, _)) = order.front() {
            let expired = now.saturating_duration_since(*at) >= self.ttl;
            if !expired && order.len() < self.capacity {
                break;
            }
            let (at, old) = order.pop_front().expect("front exists");
            if seen.get(&old) == Some(&at) {
                seen.remove(&old);
            }
        }
        if let Some(at) = seen.get(id)
            && now.saturating_duration_since(*at) < self.ttl
        {
            return false;
        }
        seen.insert(id.to_owned(), now);
        order.push_back((now, id.to_owned()));
        true
    }
}

/// Which id identifies a duplicate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DedupeBy {
    /// `Semarize-Delivery-Id` (recommended): one processing per delivery attempt.
    #[default]
    DeliveryId,
    /// `Semarize-Event-Id`: one processing per event, whatever the attempts.
    EventId,
}

/// Drops duplicate deliveries.
///
/// ```
/// use semarize::webhooks::{DedupeBy, Deduper, VerifiedEvent};
/// fn handle(deduper: &Deduper, event: &VerifiedEvent) {
///     if !deduper.first_delivery(event) {
///         return; // a duplicate: already processed
///     }
///     // process it
/// }
/// let deduper = Deduper::in_memory(DedupeBy::DeliveryId);
/// ```
#[derive(Clone, Debug)]
pub struct Deduper {
    store: Arc<dyn DedupeStore>,
    by: DedupeBy,
    clock: Arc<dyn Clock>,
}

impl Deduper {
    /// Over `store`.
    pub fn new(store: impl DedupeStore + 'static, by: DedupeBy) -> Self {
        Deduper {
            store: Arc::new(store),
            by,
            clock: Arc::new(SystemClock),
        }
    }

    /// Over a default [`MemoryDedupeStore`].
    pub fn in_memory(by: DedupeBy) -> Self {
        Deduper::new(MemoryDedupeStore::default(), by)
    }

    /// The clock for TTLs (for tests).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// True the first time a delivery (or event) is seen; false for duplicates.
    pub fn first_delivery(&self, event: &VerifiedEvent) -> bool {
        let id = match self.by {
            DedupeBy::DeliveryId => event.delivery_id(),
            DedupeBy::EventId => event.event_id(),
        };
        self.store.first_seen(id, self.clock.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_ttl_and_capacity() {
        let store = MemoryDedupeStore::new(2, Duration::from_secs(10));
        let t0 = SystemClock.now();
        assert!(store.first_seen("a", t0));
        assert!(!store.first_seen("a", t0 + Duration::from_secs(1)));
        assert!(store.first_seen("b", t0));
        assert!(store.first_seen("c", t0), "capacity 2: 'a' is forgotten");
        assert_eq!(store.len(), 2);
        assert!(store.first_seen("a", t0 + Duration::from_secs(2)));
        assert!(
            store.first_seen("b", t0 + Duration::from_secs(11)),
            "expired"
        );
    }
}
