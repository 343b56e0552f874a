//! Completing ledger records from verified webhook deliveries, wherever they are received:
//! the batch's own receiver ([`start_webhook_receiver`](crate::start_webhook_receiver)) or
//! a standalone one in front of a shared ledger (`semarize webhooks listen --ledger`).

use semarize::Client;
use semarize::webhooks::VerifiedEvent;

use crate::BatchError;
use crate::engine::terminal_from_run;
use crate::ledger::{Ledger, TerminalState};

/// What one verified delivery did to the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Completion {
    /// The run's record is now terminal, in this state.
    Finished(TerminalState),
    /// Nothing changed: the run is not terminal yet, its record was already terminal (a
    /// duplicate or late delivery, or a poll got there first), or no record has this run.
    Unchanged,
}

/// Finishes the record of `event`'s run. A thin event (or one without output) is
/// completed by reading the run with `client`, so the ledger always stores the full
/// output. An error means nothing was stored: answer the delivery with a 5xx so that
/// Semarize delivers it again.
///
/// ```no_run
/// # async fn demo(
/// #     ledger: &dyn semarize_batch::Ledger,
/// #     client: &semarize::Client,
/// #     event: &semarize::webhooks::VerifiedEvent,
/// # ) -> Result<(), semarize_batch::BatchError> {
/// use semarize_batch::{Completion, complete_from_webhook};
/// match complete_from_webhook(ledger, client, event).await? {
///     Completion::Finished(state) => println!("{} is {state:?}", event.run_id()),
///     _ => {} // a duplicate, a late delivery, or a run of another batch
/// }
/// # Ok(()) }
/// ```
pub async fn complete_from_webhook(
    ledger: &dyn Ledger,
    client: &Client,
    event: &VerifiedEvent,
) -> Result<Completion, BatchError> {
    let run = event.complete(client).await?;
    if !run.status.is_terminal() {
        return Ok(Completion::Unchanged);
    }
    let terminal = terminal_from_run(&run);
    let state = terminal.state;
    if ledger.finish_run(&run.run_id, terminal).await? {
        Ok(Completion::Finished(state))
    } else {
        Ok(Completion::Unchanged)
    }
}
