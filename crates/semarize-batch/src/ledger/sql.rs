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
    /// Binds name the columns of the row `v` instead ([`UpdateRow`]).
    #[cfg(feature = "postgres")]
    as_columns: bool,
}

impl Builder {
    fn new(dialect: Dialect) -> Self {
        Builder {
            dialect,
            params: Vec::new(),
            #[cfg(feature = "postgres")]
            as_columns: false,
        }
    }

    /// Adds a parameter; its marker.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.params.push(value.into());
        #[cfg(feature = "postgres")]
        if self.as_columns {
            return format!("v.p{}", self.params.len());
        }
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

/// SQLite: inserts one record unless it is there already; the parameters are
/// [`ingest_params`]'s. Built once per batch of records, prepared once.
#[cfg(feature = "sqlite")]
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

/// PostgreSQL: inserts many new records in one statement. Each parameter is an array
/// holding one column of [`ingest_params`] (in its order), one element per record; a
/// record already in the ledger (or earlier in the arrays) is left as it is.
#[cfg(feature = "postgres")]
pub(crate) fn ingest_many_sql() -> String {
    const COLUMNS: [(&str, &str); INGEST_PARAMS] = [
        ("source_id", "TEXT"),
        ("kit", "TEXT"),
        ("line", "BIGINT"),
        ("input", "TEXT"),
        ("idempotency_key", "TEXT"),
        ("state", "TEXT"),
        ("error_code", "TEXT"),
        ("error_message", "TEXT"),
    ];
    let names: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("CAST(${} AS {ty}[])", i + 1))
        .collect();
    let (names, now) = (names.join(", "), Dialect::Postgres.db_now());
    format!(
        "INSERT INTO records ({names}, created_at, updated_at)
         SELECT {names}, {now}, {now} FROM unnest({arrays}) AS new({names})
         ON CONFLICT (source_id, kit) DO NOTHING",
        arrays = arrays.join(", "),
    )
}

/// How many parameters [`ingest_sql`] takes.
pub(crate) const INGEST_PARAMS: usize = 8;

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
/// (PostgreSQL runs the same update as an [`UpdateRow`].)
#[cfg(any(feature = "sqlite", test))]
pub(crate) fn apply(
    dialect: Dialect,
    source_id: &str,
    kit: &Kit,
    transition: &Transition,
    now_ms: i64,
) -> Statement {
    let mut b = Builder::new(dialect);
    let (set, condition) = apply_parts(&mut b, source_id, kit, transition, now_ms);
    b.finish(format!("UPDATE records SET {set} WHERE {condition}"))
}

/// [`apply`]'s SET list and condition.
fn apply_parts(
    b: &mut Builder,
    source_id: &str,
    kit: &Kit,
    transition: &Transition,
    now_ms: i64,
) -> (String, String) {
    let set = set_list(b, transition, now_ms);
    let (source_id, kit) = (b.bind(source_id), b.bind(kit));
    let from = state_in(transition.from_states());
    (
        set,
        format!("source_id = {source_id} AND kit = {kit} AND {from}"),
    )
}

/// Finishes the record of run `run_id`, if its run exists (the record is `accepted`).
/// (PostgreSQL runs the same update as an [`UpdateRow`].)
#[cfg(any(feature = "sqlite", test))]
pub(crate) fn finish_run(dialect: Dialect, run_id: &str, terminal: &Terminal) -> Statement {
    let mut b = Builder::new(dialect);
    let (set, condition) = finish_run_parts(&mut b, run_id, terminal);
    b.finish(format!("UPDATE records SET {set} WHERE {condition}"))
}

/// [`finish_run`]'s SET list and condition.
fn finish_run_parts(b: &mut Builder, run_id: &str, terminal: &Terminal) -> (String, String) {
    let set = finished_set(b, terminal);
    let run_id = b.bind(run_id);
    (
        set,
        format!("run_id = {run_id} AND {}", state_in(FINISH_BY_RUN_FROM)),
    )
}

/// PostgreSQL: one record's update ([`apply`] or [`finish_run`]) as a row of values, so
/// that the updates of one shape (same SET list and condition, different values) run as
/// one statement ([`update_rows`]): a worker's creations and polls end in bursts, and
/// one statement each cost most of the database's time.
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub(crate) struct UpdateRow {
    /// The SET list and the condition, naming the values as `v.p1`, `v.p2`, ...
    pub(crate) shape: (String, String),
    pub(crate) values: Vec<Value>,
}

#[cfg(feature = "postgres")]
impl UpdateRow {
    fn build(parts: impl FnOnce(&mut Builder) -> (String, String)) -> Self {
        let mut b = Builder::new(Dialect::Postgres);
        b.as_columns = true;
        let shape = parts(&mut b);
        UpdateRow {
            shape,
            values: b.params,
        }
    }

    /// [`apply`]'s update as a row.
    pub(crate) fn apply(source_id: &str, kit: &Kit, transition: &Transition) -> Self {
        // PostgreSQL's due times follow the database's clock: no worker time is bound.
        Self::build(|b| apply_parts(b, source_id, kit, transition, 0))
    }

    /// [`finish_run`]'s update as a row.
    pub(crate) fn finish_run(run_id: &str, terminal: &Terminal) -> Self {
        Self::build(|b| finish_run_parts(b, run_id, terminal))
    }

    /// About how many bytes its values take.
    pub(crate) fn bytes(&self) -> usize {
        self.values
            .iter()
            .map(|value| match value {
                Value::Int(_) => 8,
                Value::Text(text) => text.as_ref().map_or(0, String::len),
            })
            .sum()
    }
}

/// PostgreSQL: the updates `rows` (all of `shape`) in one statement, each parameter an
/// array of one value of every row. Its rows: the index in `rows` of each record it
/// changed. With `waking`, the statement also wakes every listening worker when it
/// leaves no open record, so the idle workers of a batch finished elsewhere (by a
/// webhook receiver, by another worker's poll) end at once.
#[cfg(feature = "postgres")]
pub(crate) fn update_rows(
    (set, condition): &(String, String),
    rows: Vec<Vec<Value>>,
    waking: bool,
) -> ArrayStatement {
    let width = rows.first().map_or(0, Vec::len);
    let mut columns: Vec<Vec<Value>> = (0..width).map(|_| Vec::with_capacity(rows.len())).collect();
    let mut types = vec!["TEXT"; width];
    let mut index = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        debug_assert_eq!(row.len(), width, "rows of one shape bind alike");
        for ((column, ty), value) in columns.iter_mut().zip(&mut types).zip(row) {
            if let Value::Int(_) = value {
                *ty = "BIGINT";
            }
            column.push(value);
        }
        index.push(Value::Int(i64::try_from(i).unwrap_or(i64::MAX)));
    }
    columns.push(index);
    types.push("BIGINT");
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(n, ty)| format!("CAST(${} AS {ty}[])", n + 1))
        .collect();
    let names: Vec<String> = (1..=width).map(|n| format!("p{n}")).collect();
    let update = format!(
        "UPDATE records SET {set} FROM unnest({arrays}) AS v({names}, row_index)
         WHERE {condition} RETURNING v.row_index, records.source_id, records.kit",
        arrays = arrays.join(", "),
        names = names.join(", "),
    );
    let sql = if waking {
        format!(
            "WITH changed AS ({update}),
             woken AS (SELECT pg_notify('{WAKE_CHANNEL}', '') WHERE NOT EXISTS (
                 SELECT 1 FROM records r WHERE r.{open} AND NOT EXISTS (
                     SELECT 1 FROM changed c WHERE c.source_id = r.source_id AND c.kit = r.kit)))
             SELECT row_index, (SELECT COUNT(*) FROM woken) FROM changed",
            open = state_in(RecordState::OPEN),
        )
    } else {
        update
    };
    ArrayStatement { sql, columns }
}

/// PostgreSQL: a statement whose every parameter is an array (a column of values).
#[cfg(feature = "postgres")]
pub(crate) struct ArrayStatement {
    pub(crate) sql: String,
    pub(crate) columns: Vec<Vec<Value>>,
}

/// The PostgreSQL channel on which workers hear of work (`LISTEN`/`NOTIFY`).
pub(crate) const WAKE_CHANNEL: &str = "semarize_batch";

/// Wakes every listening PostgreSQL worker when the transaction commits.
#[cfg(feature = "postgres")]
pub(crate) fn wake_workers() -> String {
    format!("SELECT pg_notify('{WAKE_CHANNEL}', '')")
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
    let due = format!(
        "SELECT MIN(create_due) - {now} AS create_in, MIN(poll_due) - {now} AS poll_in FROM (
             SELECT {pending} AS create_due, {none} AS poll_due
                 FROM records WHERE state = 'pending'
             UNION ALL SELECT {creating}, {none} FROM records WHERE state = 'creating'
             UNION ALL SELECT {none}, MIN({greatest}(next_poll_at, COALESCE(lease_until, 0)))
                 FROM records WHERE state = 'accepted') due_times",
        pending = after_pause("MIN(next_attempt_at)"),
        creating = after_pause("MIN(lease_until)"),
    );
    b.finish(match dialect {
        Dialect::Sqlite => due,
        // A worker that finds nothing open ends, and wakes the fleet's idle workers to
        // end too: when the last two records end side by side in two workers, neither
        // update sees the other's committed, so neither woke them (see `update_rows`);
        // the worker that looks last sees both.
        Dialect::Postgres => format!(
            "SELECT create_in, poll_in, CASE WHEN create_in IS NULL AND poll_in IS NULL
                 THEN pg_notify('{WAKE_CHANNEL}', '')::TEXT END FROM ({due}) due"
        ),
    })
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

    /// The inserts name as many parameters as a record gives them.
    #[test]
    fn the_insert_takes_every_value_of_a_record() {
        #[cfg(feature = "sqlite")]
        {
            let sql = ingest_sql(Dialect::Sqlite);
            assert!(sql.contains(&Dialect::Sqlite.param(INGEST_PARAMS)), "{sql}");
            assert!(
                !sql.contains(&Dialect::Sqlite.param(INGEST_PARAMS + 1)),
                "{sql}"
            );
        }
        #[cfg(feature = "postgres")]
        {
            let sql = ingest_many_sql();
            assert!(sql.contains(&format!("${INGEST_PARAMS} AS")), "{sql}");
            assert!(!sql.contains(&format!("${}", INGEST_PARAMS + 1)), "{sql}");
        }
    }

    /// Updates of one shape share their SQL; each value becomes a column of arrays, typed
    /// as its values are, and the statement names every column once.
    #[cfg(feature = "postgres")]
    #[test]
    fn updates_of_one_shape_run_as_one_statement_over_arrays() {
        let kit = Kit::Code("A1B2C3D4".into());
        let rows: Vec<UpdateRow> = ["a", "b"]
            .iter()
            .map(|id| {
                UpdateRow::apply(
                    id,
                    &kit,
                    &Transition::Created {
                        run_id: format!("run-{id}"),
                        status: "queued".into(),
                        poll_in: Duration::from_secs(1),
                    },
                )
            })
            .collect();
        assert_eq!(rows[0].shape, rows[1].shape);
        let shape = rows[0].shape.clone();
        let width = rows[0].values.len();
        let statement = update_rows(&shape, rows.into_iter().map(|r| r.values).collect(), true);
        assert_eq!(statement.columns.len(), width + 1, "{}", statement.sql);
        assert!(statement.columns.iter().all(|c| c.len() == 2));
        assert_eq!(statement.columns[width], [Value::Int(0), Value::Int(1)]);
        for n in 1..=width + 1 {
            assert!(
                statement.sql.contains(&format!("${n} AS")),
                "${n}: {}",
                statement.sql
            );
        }
        assert!(!statement.sql.contains(&format!("${}", width + 2)));
        assert!(statement.sql.contains("BIGINT[]") && statement.sql.contains("pg_notify"));
        for n in 1..=width {
            assert!(
                statement.sql.contains(&format!("v.p{n}")),
                "v.p{n}: {}",
                statement.sql
            );
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
