//! A record's life, decided here once: its states, and the transitions the engine and the
//! webhook receiver ask a store to apply. Which states a transition leaves and which it
//! reaches is [`Transition::from_states`] and [`Transition::to_state`]; a store turns
//! that into one atomic statement and never decides it again.
//!
//! ```text
//! pending --claim--> creating --Created--> accepted --Polled--> accepted
//!    ^                  |                      |
//!    +---RetryCreate----+                      +--Finished--> succeeded | failed | cancelled
//! (any open state) --Finished--> terminal      (ingest of a malformed line: rejected)
//! ```

use std::time::Duration;

use serde::Serialize;

use super::LedgerError;

/// Where a record is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordState {
    /// Waiting for a creation worker.
    Pending,
    /// A worker holds it and may have sent the creation (lease).
    Creating,
    /// The run exists; waiting for its terminal state.
    Accepted,
    /// The run succeeded; the output is stored.
    Succeeded,
    /// The run failed.
    Failed,
    /// The run was cancelled.
    Cancelled,
    /// The API refused to create the run (a non-retryable 4xx), or the input line was
    /// malformed; see the error code.
    Rejected,
}

impl RecordState {
    /// Every state.
    pub const ALL: [RecordState; 7] = [
        RecordState::Pending,
        RecordState::Creating,
        RecordState::Accepted,
        RecordState::Succeeded,
        RecordState::Failed,
        RecordState::Cancelled,
        RecordState::Rejected,
    ];

    /// The states of a record not yet terminal.
    pub const OPEN: &'static [RecordState] = &[
        RecordState::Pending,
        RecordState::Creating,
        RecordState::Accepted,
    ];

    /// The states of a record that still needs its run created.
    pub const TO_CREATE: &'static [RecordState] = &[RecordState::Pending, RecordState::Creating];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Pending => "pending",
            RecordState::Creating => "creating",
            RecordState::Accepted => "accepted",
            RecordState::Succeeded => "succeeded",
            RecordState::Failed => "failed",
            RecordState::Cancelled => "cancelled",
            RecordState::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Result<Self, LedgerError> {
        RecordState::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| LedgerError::Corrupt(format!("unknown record state {raw:?}")))
    }

    /// Whether nothing more will happen to the record (until an explicit replay).
    pub fn is_terminal(self) -> bool {
        TerminalState::ALL
            .iter()
            .any(|t| RecordState::from(*t) == self)
    }
}

/// How a record ended: the terminal [`RecordState`]s, so that a finished record can never
/// be given an open state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TerminalState {
    /// The run succeeded.
    Succeeded,
    /// The run failed, or cannot be read.
    Failed,
    /// The run was cancelled.
    Cancelled,
    /// The API refused to create the run.
    Rejected,
}

impl TerminalState {
    /// Every terminal state.
    pub const ALL: [TerminalState; 4] = [
        TerminalState::Succeeded,
        TerminalState::Failed,
        TerminalState::Cancelled,
        TerminalState::Rejected,
    ];
}

impl From<TerminalState> for RecordState {
    fn from(state: TerminalState) -> Self {
        match state {
            TerminalState::Succeeded => RecordState::Succeeded,
            TerminalState::Failed => RecordState::Failed,
            TerminalState::Cancelled => RecordState::Cancelled,
            TerminalState::Rejected => RecordState::Rejected,
        }
    }
}

/// How a record ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    /// The terminal state.
    pub state: TerminalState,
    /// The run's status as the API gave it (`rejected` or `unknown` when there is no run
    /// to read).
    pub status: String,
    /// `error_code`.
    pub error_code: Option<String>,
    /// `error_message`.
    pub error_message: Option<String>,
    /// The output, as JSON text.
    pub output: Option<String>,
}

/// A change to one record, decided by the engine or the webhook receiver and applied by a
/// store in one atomic statement. A transition applies only to a record in one of its
/// [`from_states`](Transition::from_states): a late answer (a poll after a webhook
/// finished the record, a creation answer after a replay) changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transition {
    /// The run exists: store its id and status, and poll it after `poll_in`.
    Created {
        /// The run.
        run_id: String,
        /// Its status as created.
        status: String,
        /// When to poll it first, from now.
        poll_in: Duration,
    },
    /// The creation is tried again, with the same Idempotency-Key, after `retry_in`.
    RetryCreate {
        /// When, from now.
        retry_in: Duration,
        /// Why (the API's error code, `rate_limited`, `transport`, ...).
        error_code: String,
    },
    /// The run is not terminal yet, or the poll got no answer: poll again after `poll_in`.
    Polled {
        /// The status seen, when the poll got one.
        status: Option<String>,
        /// When to poll next, from now.
        poll_in: Duration,
    },
    /// The record is terminal.
    Finished(Terminal),
}

impl Transition {
    /// The states a record must be in for the transition to apply.
    pub fn from_states(&self) -> &'static [RecordState] {
        match self {
            Transition::Created { .. } => RecordState::TO_CREATE,
            Transition::RetryCreate { .. } => &[RecordState::Creating],
            Transition::Polled { .. } => &[RecordState::Accepted],
            Transition::Finished(_) => RecordState::OPEN,
        }
    }

    /// The state a record is in afterwards.
    pub fn to_state(&self) -> RecordState {
        match self {
            Transition::Created { .. } | Transition::Polled { .. } => RecordState::Accepted,
            Transition::RetryCreate { .. } => RecordState::Pending,
            Transition::Finished(terminal) => terminal.state.into(),
        }
    }
}

/// A webhook finishes a record by its run, and only once the run exists: a record still
/// being created has no run id the delivery could name.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const FINISH_BY_RUN_FROM: &[RecordState] = &[RecordState::Accepted];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_exactly_the_ones_not_open() {
        for state in RecordState::ALL {
            assert_eq!(
                state.is_terminal(),
                !RecordState::OPEN.contains(&state),
                "{state:?}"
            );
        }
    }

    #[test]
    fn transitions_leave_open_states_only() {
        let finished = Transition::Finished(Terminal {
            state: TerminalState::Cancelled,
            status: "cancelled".into(),
            error_code: None,
            error_message: None,
            output: None,
        });
        for transition in [
            Transition::Created {
                run_id: "r".into(),
                status: "queued".into(),
                poll_in: Duration::ZERO,
            },
            Transition::RetryCreate {
                retry_in: Duration::ZERO,
                error_code: "rate_limited".into(),
            },
            Transition::Polled {
                status: None,
                poll_in: Duration::ZERO,
            },
            finished.clone(),
        ] {
            assert!(
                transition.from_states().iter().all(|s| !s.is_terminal()),
                "{transition:?}"
            );
        }
        assert_eq!(finished.to_state(), RecordState::Cancelled);
    }
}
