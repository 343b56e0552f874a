//! Every statement of the ledger, written once for both stores: the schema, and the SQL of
//! each transition and claim. The state machine's decisions ([`Transition::from_states`],
//! [`Transition::to_state`]) become the statements' conditions here; the stores only run
//! them. The two SQL dialects differ in parameter markers, 64-bit column types, the
//! database's clock, and how a claim locks its rows ([`Dialect`]).

use std::time::Duration;

use super::state::FINISH_BY_RUN_FROM;
use super::{ClaimKind, Kit, NewRecord, RecordState, ReplaySelection, Terminal, Transition};

/// The SQL dialect of a store (a build with one store uses one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) enum Dialect {
    /// SQLite: `?N` parameters; due times follow the worker's clock (one process owns the
    /// ledger, and tests run it on virtual time).
    Sqlite,
    /// PostgreSQL: `$N` parameters; due times and leases follow the database's clock,
    /// which every worker shares.
    Postgres,
}

/// A parameter's value, whichever the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// A 64-bit integer (milliseconds, counts, line numbers).
    Int(i64),
    /// Text, possibly NULL.
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(Some(value.to_owned()))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(Some(value))
    }
}

impl From<Option<String>> for Value {
    fn from(value: Option<String>) -> Self {
        Value::Text(value)
    }
}

impl From<&Kit> for Value {
    fn from(kit: &Kit) -> Self {
        Value::Text(Some(kit.to_text()))
    }
}

/// A statement and its parameters, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

/// Milliseconds, saturating (a server-supplied delay may be any length).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Microseconds from a statement as a delay; none when negative.
pub(crate) fn micros(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}

impl Dialect {
    /// The `n`-th parameter marker (1-based).
    fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// The SQL type of millisecond timestamps and other 64-bit values.
    fn big(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        }
    }

    /// The database's now in Unix milliseconds: what `created_at` and `updated_at` record,
    /// and in PostgreSQL what every due time and lease is measured by. PostgreSQL's is the
    /// statement's start (stable within a statement, so an index can be used with it).
    pub(crate) fn db_now(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
            Dialect::Postgres => "(extract(epoch from statement_timestamp()) * 1000)::BIGINT",
        }
    }

    /// The larger of two values.
    fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// Versioned migrations, applied in order; the index + 1 is the version.
    pub(crate) fn migrations(self) -> [String; 3] {
        [schema_v1(self.big()), schema_v2(), schema_v3(self.big())]
    }
}

/// Builds one statement, numbering its parameters.
struct Builder {
    dialect: Dialect,
    params: Vec<Value>,
}

impl Builder {
    fn new(dialect: Dialect) -> Self {
        Builder {
            dialect,
            params: Vec::new(),
        }
    }

    /// Adds a parameter; its marker.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.params.push(value.into());
        self.dialect.param(self.params.len())
    }

    /// "Now" for due times and leases: the worker's (a parameter) in SQLite, the
    /// database's in PostgreSQL.
    fn due_now(&mut self, now_ms: i64) -> String {
        match self.dialect {
            Dialect::Sqlite => self.bind(now_ms),
            Dialect::Postgres => self.dialect.db_now().to_owned(),
        }
    }

    fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            params: self.params,
        }
    }
}

/// `state IN ('a', 'b')`: stored names are this crate's constants, never input.
fn state_in(states: &[RecordState]) -> String {
    let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("state IN ({})", names.join(", "))
}

/// The lease columns cleared: a transition ends the claimer's hold on the record.
const RELEASE: &str = "lease_owner = NULL, lease_until = NULL";

/// Inserts one record unless it is there already; the parameters are
/// [`ingest_params`]'s. Built once per batch of records, prepared once.
pub(crate) fn ingest_sql(dialect: Dialect) -> String {
    let values: Vec<String> = (1..=INGEST_PARAMS).map(|n| dialect.param(n)).collect();
    let now = dialect.db_now();
    format!(
        "INSERT INTO records (source_id, kit, line, input, idempotency_key, state, error_code,
             error_message, created_at, updated_at)
         VALUES ({}, {now}, {now}) ON CONFLICT (source_id, kit) DO NOTHING",
        values.join(", ")
    )
}

/// How many parameters [`ingest_sql`] takes.
const INGEST_PARAMS: usize = 8;

/// One record's parameters for [`ingest_sql`], in its column order.
pub(crate) fn ingest_params(record: &NewRecord) -> [Value; INGEST_PARAMS] {
    let (state, code) = match &record.rejected {
        Some(_) => (RecordState::Rejected, Some("invalid_input_line".to_owned())),
        None => (RecordState::Pending, None),
    };
    [
        record.source_id.as_str().into(),
        (&record.kit).into(),
        i64::try_from(record.line).unwrap_or(i64::MAX).into(),
        record.input.as_str().into(),
        record.idempotency_key.as_str().into(),
        state.as_str().into(),
        code.into(),
        record.rejected.clone().into(),
    ]
}

/// Claims up to `limit` records of `kind` for `owner`, leased for `lease`. The result
/// columns are [`CREATE_COLUMNS`] or [`POLL_COLUMNS`].
pub(crate) fn claim(
    dialect: Dialect,
    kind: ClaimKind,
    owner: &str,
    now_ms: i64,
    lease: Duration,
    limit: usize,
) -> Statement {
    let mut b = Builder::new(dialect);
    let owner = b.bind(owner);
    let now = b.due_now(now_ms);
    let lease = b.bind(millis(lease));
    let (set, due, order, columns) = match kind {
        ClaimKind::Create => (
            format!(
                "state = '{creating}', lease_owner = {owner}, created_by = {owner},
                 lease_until = {now} + {lease}, attempts = attempts + 1,
                 updated_at = {db_now}",
                creating = RecordState::Creating.as_str(),
                db_now = dialect.db_now(),
            ),
            // Nothing while the fleet's creations are paused (a 429 any worker had).
            format!(
                "((state = '{pending}' AND next_attempt_at <= {now})
                  OR (state = '{creating}' AND lease_until < {now}))
                 AND {CREATION_PAUSE} <= {now}",
                pending = RecordState::Pending.as_str(),
                creating = RecordState::Creating.as_str(),
            ),
            "line",
            CREATE_COLUMNS,
        ),
        ClaimKind::Poll => (
            format!("lease_owner = {owner}, lease_until = {now} + {lease}, polls = polls + 1"),
            format!(
                "state = '{accepted}' AND next_poll_at <= {now}
                 AND (lease_until IS NULL OR lease_until < {now})",
                accepted = RecordState::Accepted.as_str(),
            ),
            "next_poll_at",
            POLL_COLUMNS,
        ),
    };
    let limit = b.bind(i64::try_from(limit).unwrap_or(i64::MAX));
    let sql = match dialect {
        Dialect::Sqlite => format!(
            "UPDATE records SET {set}
             WHERE rowid IN (SELECT rowid FROM records WHERE {due} ORDER BY {order} LIMIT {limit})
             RETURNING {columns}"
        ),
        // The rows are locked by the inner query (other workers skip them) and addressed by
        // `ctid`: locked, they cannot move before the update, and a TID scan keeps the
        // prepared (generic) plan from joining the claim against the whole table, which it
        // did with the limit a parameter (15 ms a claim at 10,000 records instead of under
        // 1 ms).
        Dialect::Postgres => format!(
            "UPDATE records SET {set}
             WHERE ctid = ANY(ARRAY(SELECT ctid FROM records WHERE {due}
                   ORDER BY {order} LIMIT {limit} FOR UPDATE SKIP LOCKED))
             RETURNING {columns}"
        ),
    };
    b.finish(sql)
}

/// What a creation claim returns: source_id, kit, input, idempotency_key, attempts.
pub(crate) const CREATE_COLUMNS: &str = "source_id, kit, input, idempotency_key, attempts";
/// What a poll claim returns: source_id, kit, run_id, polls.
pub(crate) const POLL_COLUMNS: &str = "source_id, kit, run_id, polls";

/// The SET list of a transition.
fn set_list(b: &mut Builder, transition: &Transition, now_ms: i64) -> String {
    let to = transition.to_state().as_str();
    let db_now = b.dialect.db_now();
    match transition {
        Transition::Created {
            run_id,
            status,
            poll_in,
        } => {
            let (run_id, status) = (b.bind(run_id.as_str()), b.bind(status.as_str()));
            let now = b.due_now(now_ms);
            let poll_in = b.bind(millis(*poll_in));
            format!(
                "state = '{to}', run_id = {run_id}, status = {status},
                 next_poll_at = {now} + {poll_in}, {RELEASE}, updated_at = {db_now}"
            )
        }
        Transition::RetryCreate {
            retry_in,
            error_code,
        } => {
            let now = b.due_now(now_ms);
            let retry_in = b.bind(millis(*retry_in));
            let code = b.bind(error_code.as_str());
            format!(
                "state = '{to}', next_attempt_at = {now} + {retry_in}, error_code = {code},
                 {RELEASE}, updated_at = {db_now}"
            )
        }
        // The next poll is no change of the record: `updated_at` stays.
        Transition::Polled { status, poll_in } => {
            let status = b.bind(status.clone());
            let now = b.due_now(now_ms);
            let poll_in = b.bind(millis(*poll_in));
            format!(
                "status = COALESCE({status}, status), next_poll_at = {now} + {poll_in}, {RELEASE}"
            )
        }
        Transition::Finished(terminal) => finished_set(b, terminal),
    }
}

fn finished_set(b: &mut Builder, terminal: &Terminal) -> String {
    let to = RecordState::from(terminal.state).as_str();
    let status = b.bind(terminal.status.as_str());
    let code = b.bind(terminal.error_code.clone());
    let message = b.bind(terminal.error_message.clone());
    let output = b.bind(terminal.output.clone());
    format!(
        "state = '{to}', status = {status}, terminal_status = {status}, error_code = {code},
         error_message = {message}, output = {output}, {RELEASE}, updated_at = {db_now}",
        db_now = b.dialect.db_now()
    )
}

/// Applies `transition` to one record, if it is in one of the transition's states.
pub(crate) fn apply(
    dialect: Dialect,
    source_id: &str,
    kit: &Kit,
    transition: &Transition,
    now_ms: i64,
) -> Statement {
    let mut b = Builder::new(dialect);
    let set = set_list(&mut b, transition, now_ms);
    let (source_id, kit) = (b.bind(source_id), b.bind(kit));
    let from = state_in(transition.from_states());
    b.finish(format!(
        "UPDATE records SET {set} WHERE source_id = {source_id} AND kit = {kit} AND {from}"
    ))
}

/// Finishes the record of run `run_id`, if its run exists (the record is `accepted`).
pub(crate) fn finish_run(dialect: Dialect, run_id: &str, terminal: &Terminal) -> Statement {
    let mut b = Builder::new(dialect);
    let set = finished_set(&mut b, terminal);
    let run_id = b.bind(run_id);
    let from = state_in(FINISH_BY_RUN_FROM);
    b.finish(format!(
        "UPDATE records SET {set} WHERE run_id = {run_id} AND {from}"
    ))
}

/// The PostgreSQL channel on which workers hear of work (`LISTEN`/`NOTIFY`).
#[cfg(feature = "postgres")]
pub(crate) const WAKE_CHANNEL: &str = "semarize_batch";

/// Wakes every listening PostgreSQL worker when the transaction commits.
#[cfg(feature = "postgres")]
pub(crate) fn wake_workers() -> String {
    format!("SELECT pg_notify('{WAKE_CHANNEL}', '')")
}

/// PostgreSQL: `update` (an UPDATE of records that may finish one, without `RETURNING`)
/// also wakes every listening worker when it leaves no open record, so the idle workers
/// of a batch finished elsewhere (by a webhook receiver, by another worker's poll) end at
/// once. One row: the records it changed, and whether it woke the workers.
#[cfg(feature = "postgres")]
pub(crate) fn waking_when_done(update: Statement) -> Statement {
    debug_assert!(update.sql.trim_start().starts_with("UPDATE records"));
    Statement {
        sql: format!(
            "WITH changed AS ({update} RETURNING source_id, kit),
             woken AS (SELECT pg_notify('{WAKE_CHANNEL}', '') FROM changed c
                 WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.{open}
                     AND NOT (r.source_id = c.source_id AND r.kit = c.kit)))
             SELECT (SELECT COUNT(*) FROM changed), (SELECT COUNT(*) FROM woken)",
            update = update.sql,
            open = state_in(RecordState::OPEN),
        ),
        params: update.params,
    }
}

/// Records per state: (state, count).
pub(crate) const COUNT_STATES: &str = "SELECT state, COUNT(*) FROM records GROUP BY state";

/// Unsuccessful records per error code: (code, count).
pub(crate) fn count_errors() -> String {
    format!(
        "SELECT COALESCE(error_code, 'unknown'), COUNT(*) FROM records WHERE {} GROUP BY 1",
        state_in(&[
            RecordState::Failed,
            RecordState::Rejected,
            RecordState::Cancelled
        ])
    )
}

/// Whether a terminal run's credits are still unknown.
fn credits_unknown() -> String {
    format!(
        "credits IS NULL AND run_id IS NOT NULL AND {}",
        state_in(&[
            RecordState::Succeeded,
            RecordState::Failed,
            RecordState::Cancelled
        ])
    )
}

/// Credits recorded, and terminal runs without a figure: (credits, unknown).
pub(crate) fn count_credits() -> String {
    format!(
        "SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT),
                CAST(COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS BIGINT)
         FROM records",
        credits_unknown()
    )
}

/// Whether any record is in one of `states`.
pub(crate) fn any_in(states: &[RecordState]) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM records WHERE {})",
        state_in(states)
    )
}

/// Result rows after a line, in input order. Columns: line, source_id, kit, state, run_id,
/// idempotency_key, error_code, error_message, output, attempts, credits, created_by.
pub(crate) fn results(dialect: Dialect, after_line: u64, limit: usize) -> Statement {
    let mut b = Builder::new(dialect);
    let after = b.bind(i64::try_from(after_line).unwrap_or(i64::MAX));
    let limit = b.bind(i64::try_from(limit).unwrap_or(i64::MAX));
    b.finish(format!(
        "SELECT line, source_id, kit, state, run_id, idempotency_key, error_code, error_message,
                output, attempts, credits, created_by
         FROM records WHERE line > {after} ORDER BY line, kit LIMIT {limit}"
    ))
}

/// Terminal runs without a credit figure: (source_id, kit, run_id).
pub(crate) fn runs_without_credits(dialect: Dialect, limit: usize) -> Statement {
    let mut b = Builder::new(dialect);
    let limit = b.bind(i64::try_from(limit).unwrap_or(i64::MAX));
    b.finish(format!(
        "SELECT source_id, kit, run_id FROM records WHERE {} LIMIT {limit}",
        credits_unknown()
    ))
}

/// Records a run's credits.
pub(crate) fn set_credits(dialect: Dialect, source_id: &str, kit: &Kit, credits: i64) -> Statement {
    let mut b = Builder::new(dialect);
    let credits = b.bind(credits);
    let (source_id, kit) = (b.bind(source_id), b.bind(kit));
    b.finish(format!(
        "UPDATE records SET credits = {credits} WHERE source_id = {source_id} AND kit = {kit}"
    ))
}

/// The records a replay selects, locked on PostgreSQL: (source_id, kit, generation, input).
/// Terminal records only (in flight ones are left alone), and never a malformed input line,
/// which no replay can mend.
pub(crate) fn replay_selection(dialect: Dialect, selection: &ReplaySelection) -> Statement {
    let mut b = Builder::new(dialect);
    let mendable = "NOT (state = 'rejected' AND COALESCE(error_code, '') = 'invalid_input_line')";
    let which = match selection {
        ReplaySelection::Failed => state_in(&[
            RecordState::Failed,
            RecordState::Cancelled,
            RecordState::Rejected,
        ]),
        ReplaySelection::Ids(ids) => {
            let ids: Vec<String> = ids.iter().map(|id| b.bind(id.as_str())).collect();
            let terminal: Vec<RecordState> = RecordState::ALL
                .into_iter()
                .filter(|s| s.is_terminal())
                .collect();
            format!(
                "source_id IN ({}) AND {}",
                if ids.is_empty() {
                    "NULL".to_owned()
                } else {
                    ids.join(", ")
                },
                state_in(&terminal)
            )
        }
    };
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    b.finish(format!(
        "SELECT source_id, kit, generation, input FROM records WHERE {which} AND {mendable}{lock}"
    ))
}

/// Starts one record again as generation `generation`, with its new key.
pub(crate) fn replay_one(
    dialect: Dialect,
    source_id: &str,
    kit: &Kit,
    generation: i64,
    idempotency_key: &str,
) -> Statement {
    let mut b = Builder::new(dialect);
    let generation = b.bind(generation);
    let key = b.bind(idempotency_key);
    let (source_id, kit) = (b.bind(source_id), b.bind(kit));
    b.finish(format!(
        "UPDATE records SET generation = {generation}, idempotency_key = {key},
             state = '{pending}', run_id = NULL, status = NULL, attempts = 0, polls = 0,
             next_attempt_at = 0, next_poll_at = NULL, terminal_status = NULL,
             error_code = NULL, error_message = NULL, output = NULL, credits = NULL,
             {RELEASE}, updated_at = {db_now}
         WHERE source_id = {source_id} AND kit = {kit}",
        pending = RecordState::Pending.as_str(),
        db_now = dialect.db_now(),
    ))
}

/// Milliseconds until the earliest creation is due (a pending record's retry, an expired
/// creation lease; neither before the fleet's creation pause ends), and until the earliest
/// poll (an accepted record's, after its poll lease): (create, poll), each NULL when no
/// record waits for one.
pub(crate) fn next_due(dialect: Dialect, now_ms: i64) -> Statement {
    let mut b = Builder::new(dialect);
    let now = b.due_now(now_ms);
    let greatest = dialect.greatest();
    let after_pause = |due: &str| {
        format!("CASE WHEN {due} IS NULL THEN NULL ELSE {greatest}({due}, {CREATION_PAUSE}) END")
    };
    let none = format!("CAST(NULL AS {})", dialect.big());
    b.finish(format!(
        "SELECT MIN(create_due) - {now}, MIN(poll_due) - {now} FROM (
             SELECT {pending} AS create_due, {none} AS poll_due
                 FROM records WHERE state = 'pending'
             UNION ALL SELECT {creating}, {none} FROM records WHERE state = 'creating'
             UNION ALL SELECT {none}, MIN({greatest}(next_poll_at, COALESCE(lease_until, 0)))
                 FROM records WHERE state = 'accepted') due_times",
        pending = after_pause("MIN(next_attempt_at)"),
        creating = after_pause("MIN(lease_until)"),
    ))
}

/// When the fleet's creations may go on, on the clock of due times (a ledger whose
/// `fleet` row was deleted is not paused for ever).
const CREATION_PAUSE: &str = "COALESCE((SELECT creation_paused_until FROM fleet), 0)";

/// Pauses the fleet's creations until `delay` from now, unless paused longer already.
pub(crate) fn pause_creations(dialect: Dialect, delay: Duration, now_ms: i64) -> Statement {
    let mut b = Builder::new(dialect);
    let now = b.due_now(now_ms);
    let delay = b.bind(millis(delay));
    b.finish(format!(
        "UPDATE fleet SET creation_paused_until = {greatest}(creation_paused_until, {now} + {delay})",
        greatest = dialect.greatest()
    ))
}

/// Reserves `count` creation slots `interval` apart, after the fleet's slots already
/// reserved and after its pause; returns microseconds from now to the first slot. The
/// fleet's creations are paced by this one row, whichever worker sends them.
pub(crate) fn reserve_creations(
    dialect: Dialect,
    count: usize,
    interval: Duration,
    now_ms: i64,
) -> Statement {
    let mut b = Builder::new(dialect);
    let now = b.due_now(now_ms);
    let span = i64::try_from(interval.as_micros())
        .unwrap_or(i64::MAX)
        .saturating_mul(i64::try_from(count).unwrap_or(i64::MAX));
    let span = b.bind(span);
    b.finish(format!(
        "UPDATE fleet SET creation_slot_at = {greatest}(creation_slot_at, {now} * 1000,
             creation_paused_until * 1000) + {span}
         RETURNING creation_slot_at - {span} - {now} * 1000",
        greatest = dialect.greatest()
    ))
}

/// Version 1 of the records table; `big` is the SQL type of millisecond timestamps and
/// other 64-bit values.
fn schema_v1(big: &str) -> String {
    format!(
        r#"
CREATE TABLE records (
    source_id        TEXT    NOT NULL,
    kit              TEXT    NOT NULL,
    line             {big}   NOT NULL,
    input            TEXT    NOT NULL,
    generation       INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    run_id           TEXT,
    status           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    polls            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  {big}   NOT NULL DEFAULT 0,
    next_poll_at     {big},
    lease_owner      TEXT,
    lease_until      {big},
    terminal_status  TEXT,
    error_code       TEXT,
    error_message    TEXT,
    output           TEXT,
    credits          {big},
    created_by       TEXT,
    created_at       {big}   NOT NULL,
    updated_at       {big}   NOT NULL,
    PRIMARY KEY (source_id, kit)
);
CREATE INDEX records_state ON records (state, next_attempt_at);
CREATE INDEX records_poll ON records (state, next_poll_at);
CREATE INDEX records_run ON records (run_id);
CREATE INDEX records_line ON records (line);
"#
    )
}

/// Version 2: the claimable records in line order. A claim walks `line` until it finds
/// pending or expired records; over the whole-table `records_line` index that walk passed
/// every record already done, so claims grew with the batch (quadratic over a batch, and
/// on PostgreSQL with four workers enough to delay webhook completions past Semarize's
/// 10 s answer window). Partial indexes exist in both backends.
fn schema_v2() -> String {
    "CREATE INDEX records_claimable ON records (line) WHERE state = 'pending' OR state = 'creating';"
        .to_owned()
}

/// Version 3: what the workers of one ledger share beyond records, in one row. A ledger
/// serves one workspace, and Semarize's rate limits are per workspace, so a 429 any
/// worker had pauses every worker's creations (`creation_paused_until`, on the clock of
/// due times), and an optional fleet-wide rate is kept by handing out creation slots
/// (`creation_slot_at`: the next free slot, in microseconds on the same clock).
fn schema_v3(big: &str) -> String {
    format!(
        r#"
CREATE TABLE fleet (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    creation_paused_until  {big} NOT NULL DEFAULT 0,
    creation_slot_at       {big} NOT NULL DEFAULT 0
);
INSERT INTO fleet (id) VALUES (1);
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::TerminalState;

    /// Each statement binds exactly the parameters its SQL names, in order, in both
    /// dialects.
    #[test]
    fn every_parameter_is_named_once_in_order() {
        let kit = Kit::Code("A1B2C3D4".into());
        let terminal = Terminal {
            state: TerminalState::Succeeded,
            status: "succeeded".into(),
            error_code: None,
            error_message: None,
            output: Some("{}".into()),
        };
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let statements = [
                claim(
                    dialect,
                    ClaimKind::Create,
                    "w",
                    5,
                    Duration::from_secs(1),
                    3,
                ),
                claim(dialect, ClaimKind::Poll, "w", 5, Duration::from_secs(1), 3),
                apply(
                    dialect,
                    "a",
                    &kit,
                    &Transition::Polled {
                        status: None,
                        poll_in: Duration::from_secs(1),
                    },
                    5,
                ),
                apply(
                    dialect,
                    "a",
                    &kit,
                    &Transition::Finished(terminal.clone()),
                    5,
                ),
                finish_run(dialect, "run", &terminal),
                replay_selection(dialect, &ReplaySelection::Ids(vec!["a".into(), "b".into()])),
                next_due(dialect, 5),
                pause_creations(dialect, Duration::from_secs(1), 5),
                reserve_creations(dialect, 3, Duration::from_millis(20), 5),
            ];
            for statement in statements {
                for n in 1..=statement.params.len() {
                    let marker = dialect.param(n);
                    assert!(
                        statement.sql.contains(&marker),
                        "{dialect:?}: {marker} unused in {}",
                        statement.sql
                    );
                }
                let next = dialect.param(statement.params.len() + 1);
                assert!(
                    !statement.sql.contains(&next),
                    "{dialect:?}: {next} unbound in {}",
                    statement.sql
                );
            }
        }
    }

    /// The insert names as many parameters as a record gives it.
    #[test]
    fn the_insert_takes_every_value_of_a_record() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = ingest_sql(dialect);
            assert!(sql.contains(&dialect.param(INGEST_PARAMS)), "{sql}");
            assert!(!sql.contains(&dialect.param(INGEST_PARAMS + 1)), "{sql}");
        }
    }

    /// A transition's conditions are the state machine's: the stores never spell them.
    #[test]
    fn a_transition_applies_from_its_states_only() {
        let kit = Kit::Code("A1B2C3D4".into());
        let retry = Transition::RetryCreate {
            retry_in: Duration::from_secs(1),
            error_code: "rate_limited".into(),
        };
        let statement = apply(Dialect::Postgres, "a", &kit, &retry, 0);
        assert!(
            statement.sql.ends_with("AND state IN ('creating')"),
            "{}",
            statement.sql
        );
        assert!(
            statement.sql.contains("state = 'pending'"),
            "{}",
            statement.sql
        );
    }
}
