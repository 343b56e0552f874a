//! The shared ledger: PostgreSQL, for many workers on many machines. Claims use
//! `FOR UPDATE SKIP LOCKED` so workers never take the same record, and leases so a dead
//! worker's records are taken over when its lease expires. Leases and due times follow
//! the database's clock, which every worker shares.
//!
//! Connecting (pool, timeouts) is [`connect`], the URL's own parameters [`url`], TLS
//! [`tls`], the schema [`migrate`]; the statements are
//! the ledger's own ([`crate::ledger::sql`]), run here.

mod connect;
mod migrate;
#[cfg(test)]
mod tests;
mod tls;
mod updates;
mod url;

use std::time::Duration;

use tokio_postgres::Row;
use tokio_postgres::types::{IsNull, ToSql, Type, private::BytesMut};

use self::connect::{Connections, OPERATION_TIMEOUT, bounded, bounded_by, db};
use crate::Create;
use crate::Wake;
use crate::ledger::sql::{self, Dialect, Statement, Value, micros};
use crate::ledger::{
    ClaimKind, CreateClaim, Kit, Ledger, LedgerCounts, LedgerError, LedgerFuture, NewRecord,
    NextDue, PollClaim, RecordState, ReplaySelection, ResultRow, RunRef, Terminal, Transition,
    derive_idempotency_key,
};

const DIALECT: Dialect = Dialect::Postgres;

/// The PostgreSQL ledger.
#[derive(Clone)]
pub struct PostgresLedger {
    client: Connections,
    /// Record updates, run in groups ([`updates`]).
    updates: std::sync::Arc<updates::Updates>,
    location: String,
    /// Records this ledger added since it last had the table analyzed.
    unanalyzed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("location", &self.location)
            .finish()
    }
}

impl PostgresLedger {
    /// Connects, creates the ledger's tables when the database has none, and applies
    /// pending migrations (serialized across workers).
    ///
    /// TLS follows the URL's `sslmode` as in libpq, except that it cannot be dropped
    /// silently: with a `sslrootcert`, or a host that is not loopback, TLS is required
    /// unless the URL says `sslmode=disable`. The default (`prefer`) falls back to
    /// plaintext only to a loopback server, with a warning. `require` and `verify-full`
    /// verify the certificate's chain and host name, `verify-ca` the chain alone. The
    /// roots are the platform's (no `sslrootcert`, or `sslrootcert=system`, which needs
    /// `verify-full`) or the PEM file `sslrootcert=/path/ca.pem` names. Parameters are
    /// percent-decoded; `pool_size` (default 4) sizes the connection pool. Client
    /// certificates (`sslcert`, `sslkey`, `sslpassword`) are refused.
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        Self::connect_with(url, Create::IfMissing).await
    }

    /// [`PostgresLedger::connect`] for a ledger that must exist: a database without the
    /// ledger's tables is [`LedgerError::NotFound`], and nothing is created in it.
    pub async fn connect_existing(url: &str) -> Result<Self, LedgerError> {
        Self::connect_with(url, Create::Never).await
    }

    pub(crate) async fn connect_with(url: &str, create: Create) -> Result<Self, LedgerError> {
        let (client, mut first, location) = connect::connect(url).await?;
        bounded_by(
            OPERATION_TIMEOUT,
            migrate::prepare(&mut first, create, &location),
        )
        .await?;
        Ok(PostgresLedger {
            updates: std::sync::Arc::new(updates::Updates::start(client.clone())),
            client,
            unanalyzed: Default::default(),
            location,
        })
    }

    /// Runs `statement` on a pooled connection, bounded in time; its rows.
    fn query(&self, statement: Statement) -> LedgerFuture<Vec<Row>> {
        let client = self.client.clone();
        bounded(async move {
            client
                .query(&statement.sql, &params(&statement.params))
                .await
        })
    }

    /// Claims records of `kind`, reading each claimed row with `read`.
    fn claim<T: Send + 'static>(
        &self,
        kind: ClaimKind,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
        read: fn(&Row) -> T,
    ) -> LedgerFuture<Vec<T>> {
        let rows = self.query(sql::claim(DIALECT, kind, owner, now_ms, lease, limit));
        Box::pin(async move { Ok(rows.await?.iter().map(read).collect()) })
    }

    /// Runs one statement that changes records; whether any changed.
    fn change(&self, statement: Statement) -> LedgerFuture<bool> {
        let client = self.client.clone();
        bounded(async move {
            Ok(client
                .execute(&statement.sql, &params(&statement.params))
                .await?
                > 0)
        })
    }
}

/// Parameters as the driver takes them.
fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

/// A parameter as the column it is compared with or stored in wants it: `INTEGER`
/// columns (generation) take 32 bits, `BIGINT` ones 64, text columns text.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Int(value) if *ty == Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
            Value::Int(value) => value.to_sql(ty, out),
            Value::Text(value) => value.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty) || <i32 as ToSql>::accepts(ty) || <String as ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A stored count or counter (PostgreSQL's `INTEGER` is 32 bits, `BIGINT` 64).
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn counter(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

impl Ledger for PostgresLedger {
    fn ingest(&self, records: Vec<NewRecord>) -> LedgerFuture<u64> {
        let (client, unanalyzed) = (self.client.clone(), self.unanalyzed.clone());
        bounded(async move {
            // One statement for the chunk: a column of values per parameter. Row by
            // row, every worker of a fleet re-reading the input paid a statement per
            // record before its first creation.
            let mut columns: [Vec<Value>; sql::INGEST_PARAMS] =
                std::array::from_fn(|_| Vec::with_capacity(records.len()));
            for record in &records {
                for (column, value) in columns.iter_mut().zip(sql::ingest_params(record)) {
                    column.push(value);
                }
            }
            let columns: Vec<&(dyn ToSql + Sync)> = columns
                .iter()
                .map(|column| column as &(dyn ToSql + Sync))
                .collect();
            let mut client = client.get().await?;
            let tx = client.transaction().await.map_err(db)?;
            let insert = tx
                .prepare_cached(&sql::ingest_many_sql())
                .await
                .map_err(db)?;
            let added = tx.execute(&insert, &columns).await.map_err(db)?;
            if added > 0 {
                tx.execute(&sql::wake_workers(), &[]).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            migrate::analyze_if_grown(&client, &unanalyzed, added).await?;
            Ok(added)
        })
    }

    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<CreateClaim>> {
        self.claim(ClaimKind::Create, owner, now_ms, lease, limit, |row| {
            CreateClaim {
                source_id: row.get(0),
                kit: row.get(1),
                input: row.get(2),
                idempotency_key: row.get(3),
                attempts: counter(row.get(4)),
            }
        })
    }

    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<PollClaim>> {
        self.claim(ClaimKind::Poll, owner, now_ms, lease, limit, |row| {
            PollClaim {
                source_id: row.get(0),
                kit: row.get(1),
                run_id: row.get::<_, Option<String>>(2).unwrap_or_default(),
                polls: counter(row.get(3)),
            }
        })
    }

    fn apply(
        &self,
        source_id: &str,
        kit: &Kit,
        transition: Transition,
        // The database's clock sets due times.
        _now_ms: i64,
    ) -> LedgerFuture<bool> {
        let row = sql::UpdateRow::apply(source_id, kit, &transition);
        let record = format!("{source_id}\n{}", kit.to_text());
        let finishing = matches!(transition, Transition::Finished(_));
        self.updates.update(row, record, finishing)
    }

    fn finish_run(&self, run_id: &str, terminal: Terminal) -> LedgerFuture<bool> {
        let row = sql::UpdateRow::finish_run(run_id, &terminal);
        self.updates.update(row, format!("run\n{run_id}"), true)
    }

    fn counts(&self) -> LedgerFuture<LedgerCounts> {
        let plain = |sql: String| {
            self.query(Statement {
                sql,
                params: Vec::new(),
            })
        };
        let (states, errors, credits) = (
            plain(sql::COUNT_STATES.to_owned()),
            plain(sql::count_errors()),
            plain(sql::count_credits()),
        );
        Box::pin(async move {
            let mut counts = LedgerCounts::default();
            for row in states.await? {
                let state = RecordState::parse(row.get::<_, &str>(0))?;
                counts.states.insert(state, count(row.get(1)));
            }
            for row in errors.await? {
                counts.errors.insert(row.get(0), count(row.get(1)));
            }
            if let Some(row) = credits.await?.first() {
                counts.credits = row.get(0);
                counts.credits_unknown = count(row.get(1));
            }
            Ok(counts)
        })
    }

    fn any_in(&self, states: &'static [RecordState]) -> LedgerFuture<bool> {
        let rows = self.query(Statement {
            sql: sql::any_in(states),
            params: Vec::new(),
        });
        Box::pin(async move { Ok(rows.await?.first().is_some_and(|row| row.get::<_, bool>(0))) })
    }

    fn results(&self, after_line: u64, limit: usize) -> LedgerFuture<Vec<ResultRow>> {
        let rows = self.query(sql::results(DIALECT, after_line, limit));
        Box::pin(async move {
            rows.await?
                .iter()
                .map(|r| {
                    Ok(ResultRow {
                        line: count(r.get(0)),
                        id: r.get(1),
                        kit: r.get(2),
                        state: RecordState::parse(r.get::<_, &str>(3))?,
                        run_id: r.get(4),
                        idempotency_key: r.get(5),
                        error_code: r.get(6),
                        error_message: r.get(7),
                        output: r.get(8),
                        attempts: counter(r.get(9)),
                        credits: r.get(10),
                        created_by: r.get(11),
                    })
                })
                .collect()
        })
    }

    fn runs_without_credits(&self, limit: usize) -> LedgerFuture<Vec<RunRef>> {
        let rows = self.query(sql::runs_without_credits(DIALECT, limit));
        Box::pin(async move {
            Ok(rows
                .await?
                .iter()
                .map(|r| RunRef {
                    source_id: r.get(0),
                    kit: r.get(1),
                    run_id: r.get(2),
                })
                .collect())
        })
    }

    fn set_credits(&self, source_id: &str, kit: &Kit, credits: i64) -> LedgerFuture<()> {
        let changed = self.change(sql::set_credits(DIALECT, source_id, kit, credits));
        Box::pin(async move { changed.await.map(drop) })
    }

    fn replay(&self, selection: ReplaySelection) -> LedgerFuture<u64> {
        let client = self.client.clone();
        bounded(async move {
            let mut client = client.get().await?;
            let tx = client.transaction().await.map_err(db)?;
            let selection = sql::replay_selection(DIALECT, &selection);
            let rows = tx
                .query(&selection.sql, &params(&selection.params))
                .await
                .map_err(db)?;
            for row in &rows {
                let (source_id, kit, input): (String, Kit, String) =
                    (row.get(0), row.get(1), row.get(3));
                let next = i64::from(row.get::<_, i32>(2)).saturating_add(1);
                let generation = u32::try_from(next).unwrap_or(u32::MAX);
                let key = derive_idempotency_key(&source_id, &kit, &input, generation);
                let update = sql::replay_one(DIALECT, &source_id, &kit, next, &key);
                tx.execute(&update.sql, &params(&update.params))
                    .await
                    .map_err(db)?;
            }
            if !rows.is_empty() {
                tx.execute(&sql::wake_workers(), &[]).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Ok(rows.len() as u64)
        })
    }

    fn next_due(&self, now_ms: i64) -> LedgerFuture<NextDue> {
        let rows = self.query(sql::next_due(DIALECT, now_ms));
        Box::pin(async move {
            Ok(rows
                .await?
                .first()
                .map_or_else(NextDue::default, |row| NextDue {
                    create_in_ms: row.get(0),
                    poll_in_ms: row.get(1),
                }))
        })
    }

    /// Listens on a connection of its own (`LISTEN`): ingests, replays and the last
    /// finished record of any worker wake this one. A lost connection is opened again
    /// (the workers meanwhile look every few seconds, as without it).
    fn watch(&self, wake: Wake) -> LedgerFuture<()> {
        let (connections, location) = (self.client.clone(), self.location.clone());
        Box::pin(async move {
            let mut delay = Duration::from_secs(1);
            loop {
                let (listened, error) = connections.listen(&wake).await;
                tracing::warn!(
                    ledger = %location,
                    error = %error,
                    retry_in_s = delay.as_secs(),
                    "the ledger's wake-up connection failed; idle workers look every few \
                     seconds until it is back"
                );
                // Whatever was announced meanwhile was missed: look now.
                wake.wake();
                delay = if listened {
                    Duration::from_secs(1)
                } else {
                    delay.saturating_mul(2).min(Duration::from_secs(60))
                };
                tokio::time::sleep(delay).await;
            }
        })
    }

    fn pause_creations(&self, delay: Duration, now_ms: i64) -> LedgerFuture<()> {
        let changed = self.change(sql::pause_creations(DIALECT, delay, now_ms));
        Box::pin(async move { changed.await.map(drop) })
    }

    fn reserve_creations(
        &self,
        count: usize,
        interval: Duration,
        now_ms: i64,
    ) -> LedgerFuture<Duration> {
        let rows = self.query(sql::reserve_creations(DIALECT, count, interval, now_ms));
        Box::pin(async move {
            let first = rows.await?.first().map_or(0, |row| row.get::<_, i64>(0));
            Ok(micros(first))
        })
    }
}
