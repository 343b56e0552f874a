//! Group commit of record updates. A worker's creations and polls end in bursts (a
//! second after a burst of creations, their runs are all due), and one statement per
//! record update was most of what a fleet asked of the database. Updates are queued to
//! one task per ledger, which gathers what arrives within [`LINGER`] of the first and
//! runs the updates of one shape (the same transition: their SQL differs only in values)
//! as one statement over arrays of values ([`sql::update_rows`]). Each caller still waits
//! for its own update to be committed and learns whether it changed its record.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::connect::{Connections, OPERATION_TIMEOUT, bounded_by};
use crate::ledger::sql::{self, UpdateRow};
use crate::ledger::{LedgerError, LedgerFuture};

/// How long the first queued update waits for others to join its statement: a few
/// milliseconds against the hundreds a run or an HTTP call takes.
const LINGER: Duration = Duration::from_millis(5);

/// The most updates gathered for one round of statements, and the most bytes of values
/// (outputs may be large): one statement stays a modest message.
const MOST: usize = 512;
const MOST_BYTES: usize = 8 << 20;

/// How often a statement that lost a deadlock or a serialization conflict (another
/// worker, or the receiver, updating the same records in another order) is run again.
const CONFLICT_RETRIES: u32 = 3;

/// The queue of a ledger's record updates (see the module's documentation).
pub(super) struct Updates {
    queue: mpsc::UnboundedSender<Pending>,
}

/// One queued update and where its answer goes.
struct Pending {
    row: UpdateRow,
    /// The record it changes: one statement changes a record once, so a second update of
    /// the same record waits for the next round.
    record: String,
    /// Whether the update may finish the last open record (see [`sql::update_rows`]).
    waking: bool,
    reply: oneshot::Sender<Result<bool, LedgerError>>,
}

impl Updates {
    /// Starts the task that runs the updates on `connections`; it ends when the ledger
    /// (every [`Updates`]) is dropped.
    pub(super) fn start(connections: Connections) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(connections, pending));
        Updates { queue }
    }

    /// Queues `row`, an update of `record`; whether it changed the record, once committed.
    pub(super) fn update(
        &self,
        row: UpdateRow,
        record: String,
        waking: bool,
    ) -> LedgerFuture<bool> {
        let (reply, answer) = oneshot::channel();
        let queued = self
            .queue
            .send(Pending {
                row,
                record,
                waking,
                reply,
            })
            .is_ok();
        Box::pin(async move {
            let stopped = || LedgerError::database_message("the ledger's update task has stopped");
            if !queued {
                return Err(stopped());
            }
            answer.await.unwrap_or_else(|_| Err(stopped()))
        })
    }
}

async fn run(connections: Connections, mut pending: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = pending.recv().await {
        let mut bytes = first.row.bytes();
        let mut batch = vec![first];
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < MOST && bytes < MOST_BYTES {
            tokio::select! {
                () = &mut linger => break,
                next = pending.recv() => match next {
                    Some(update) => {
                        bytes = bytes.saturating_add(update.row.bytes());
                        batch.push(update);
                    }
                    None => break,
                },
            }
        }
        flush(&connections, batch).await;
    }
}

/// Runs `batch`: a statement per shape, side by side; an update of a record already in
/// this round waits for the next.
async fn flush(connections: &Connections, mut batch: Vec<Pending>) {
    while !batch.is_empty() {
        let mut groups: HashMap<((String, String), bool), Vec<Pending>> = HashMap::new();
        let mut records = HashSet::new();
        let mut later = Vec::new();
        for update in batch {
            if records.insert(update.record.clone()) {
                let shape = (update.row.shape.clone(), update.waking);
                groups.entry(shape).or_default().push(update);
            } else {
                later.push(update);
            }
        }
        futures::future::join_all(
            groups
                .into_iter()
                .map(|((shape, waking), group)| run_group(connections, shape, waking, group)),
        )
        .await;
        batch = later;
    }
}

/// Runs the updates `group`, all of `shape`, as one statement, and answers each.
async fn run_group(
    connections: &Connections,
    shape: (String, String),
    waking: bool,
    group: Vec<Pending>,
) {
    let (replies, rows): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|update| (update.reply, update.row.values))
        .unzip();
    let statement = sql::update_rows(&shape, rows, waking);
    let params: Vec<&(dyn ToSql + Sync)> = statement
        .columns
        .iter()
        .map(|column| column as &(dyn ToSql + Sync))
        .collect();
    let mut retries = 0;
    let result = loop {
        let attempt = bounded_by(
            OPERATION_TIMEOUT,
            connections.query(&statement.sql, &params),
        );
        match attempt.await {
            Err(e) if retries < CONFLICT_RETRIES && lost_a_conflict(&e) => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(10) * retries).await;
            }
            result => break result,
        }
    };
    match result {
        Ok(changed_rows) => {
            let mut changed = vec![false; replies.len()];
            for row in changed_rows {
                let index = usize::try_from(row.get::<_, i64>(0)).ok();
                if let Some(slot) = index.and_then(|i| changed.get_mut(i)) {
                    *slot = true;
                }
            }
            for (reply, changed) in replies.into_iter().zip(changed) {
                // A caller that stopped waiting has nothing to learn.
                let _ = reply.send(Ok(changed));
            }
        }
        Err(e) => {
            let message = match &e {
                LedgerError::Database { message, .. } => message.clone(),
                other => other.to_string(),
            };
            for reply in replies {
                let _ = reply.send(Err(LedgerError::database_message(message.clone())));
            }
        }
    }
}

/// Whether PostgreSQL rolled the statement back to resolve a deadlock or a serialization
/// conflict: running it again is safe.
fn lost_a_conflict(error: &LedgerError) -> bool {
    let LedgerError::Database {
        source: Some(source),
        ..
    } = error
    else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| {
            *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        })
}
