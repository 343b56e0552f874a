//! Live counters of a run, for progress displays: read with methods, written only by the
//! engine and the webhook receiver.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::ledger::{LedgerCounts, TerminalState};

/// Live counters of a run, shared with whoever displays them.
///
/// ```
/// let progress = semarize_batch::Progress::default();
/// assert_eq!((progress.done(), progress.total()), (0, 0));
/// assert_eq!(progress.creation_paused_until_ms(), None);
/// ```
#[derive(Debug, Default)]
pub struct Progress {
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicI64,
    rate_limited: AtomicU64,
    http_calls: AtomicU64,
    by_webhook: AtomicU64,
    creation_paused_until_ms: AtomicI64,
}

impl Progress {
    /// Records in the batch.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Records terminal.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Records failed, cancelled or rejected.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Creations in flight.
    pub fn in_flight(&self) -> u64 {
        u64::try_from(self.in_flight.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// 429s received.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// HTTP calls made to the API (creations and polls).
    pub fn http_calls(&self) -> u64 {
        self.http_calls.load(Ordering::Relaxed)
    }

    /// Runs completed by a webhook.
    pub fn by_webhook(&self) -> u64 {
        self.by_webhook.load(Ordering::Relaxed)
    }

    /// Until when (Unix ms, by the client's clock) a 429 paused creation, if one did: a
    /// display shows the pause instead of an ETA while it lasts.
    pub fn creation_paused_until_ms(&self) -> Option<i64> {
        match self.creation_paused_until_ms.load(Ordering::Relaxed) {
            0 => None,
            until => Some(until),
        }
    }

    /// Starts from the ledger's counts (a resumed batch has records done already).
    pub(crate) fn start_from(&self, counts: &LedgerCounts) {
        self.total.store(counts.total(), Ordering::Relaxed);
        self.done.store(
            counts.total().saturating_sub(counts.open()),
            Ordering::Relaxed,
        );
        self.failed.store(counts.unsuccessful(), Ordering::Relaxed);
    }

    /// A creation is sent; the guard counts it until dropped.
    pub(crate) fn creation_sent(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.http_calls.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// A poll is sent.
    pub(crate) fn poll_sent(&self) {
        self.http_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A 429 was received.
    pub(crate) fn rate_limited_once(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Creation is paused until `until_ms` (unless already paused longer).
    pub(crate) fn creation_paused_until(&self, until_ms: i64) {
        self.creation_paused_until_ms
            .fetch_max(until_ms, Ordering::Relaxed);
    }

    /// Counts a record that became terminal.
    pub(crate) fn record_done(&self, state: TerminalState) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if state != TerminalState::Succeeded {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a record that a webhook made terminal.
    #[cfg(feature = "webhooks")]
    pub(crate) fn record_webhook_completion(&self, state: TerminalState) {
        self.by_webhook.fetch_add(1, Ordering::Relaxed);
        self.record_done(state);
    }
}

/// A creation in flight, counted until dropped (an answer, an error or a cancelled
/// future alike).
pub(crate) struct InFlight<'a>(&'a Progress);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
