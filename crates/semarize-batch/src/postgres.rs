//! The shared ledger: PostgreSQL, for many workers on many machines. Claims use
//! `FOR UPDATE SKIP LOCKED` so workers never take the same record, and leases so a dead
//! worker's records are taken over when its lease expires.

use std::time::Duration;

use tokio_postgres::{Client, Row};

use super::ledger::{
    CreateClaim, Kit, Ledger, LedgerCounts, LedgerError, NewRecord, PollClaim, RecordState,
    ReplaySelection, ResultRow, RunRef, SCHEMA_VERSION, Terminal, derive_idempotency_key,
};
use crate::Create;
use semarize::runtime::BoxFuture;

/// Versioned migrations, applied in order; the index + 1 is the version.
fn migrations() -> Vec<String> {
    vec![
        super::ledger::schema_v1("BIGINT"),
        super::ledger::schema_v2(),
    ]
}

/// An arbitrary constant: the advisory lock that serializes migrations across workers.
const MIGRATION_LOCK: i64 = 0x5e3a_72e0;

/// The PostgreSQL ledger.
#[derive(Clone)]
pub struct PostgresLedger {
    client: Connections,
    location: String,
    /// Records this ledger added since it last had the table analyzed.
    unanalyzed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The ledger's connections, pooled: one worker's creations, polls and webhook
/// completions run their statements side by side instead of queueing behind one
/// connection. The size is the URL's `pool_size` (default [`DEFAULT_POOL_SIZE`]).
#[derive(Clone)]
struct Connections(deadpool_postgres::Pool);

/// Connections per ledger unless the URL says `pool_size`.
const DEFAULT_POOL_SIZE: usize = 4;

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

impl Connections {
    /// A connection of the pool, opened if none is free and the pool is not full.
    async fn get(&self) -> Result<deadpool_postgres::Object, LedgerError> {
        self.0.get().await.map_err(|e| LedgerError::Database {
            message: with_causes(&e),
            source: Some(Box::new(e)),
        })
    }

    /// Runs `sql` on a pooled connection as a statement prepared once per connection.
    /// A statement sent as text is parsed and planned on every call, one more round trip
    /// and, with four workers on two cores, most of the database's CPU: the engine runs
    /// the same few statements thousands of times.
    async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, LedgerError> {
        let client = self.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        client.query(&statement, params).await.map_err(db)
    }

    /// [`Connections::query`] for a statement that returns no rows; the rows it changed.
    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, LedgerError> {
        let client = self.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        client.execute(&statement, params).await.map_err(db)
    }
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("location", &self.location)
            .finish()
    }
}

/// The database's "now" in Unix milliseconds. Leases are taken and expire by this one
/// clock, so workers on machines whose clocks disagree never take over a live lease; and
/// `updated_at` is this time too.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

/// An error and its causes, `outer: inner: ...`: tokio-postgres's own text alone says
/// "error performing TLS handshake" and leaves out why (an unknown certificate issuer).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn db(e: tokio_postgres::Error) -> LedgerError {
    LedgerError::Database {
        message: with_causes(&e),
        source: Some(Box::new(e)),
    }
}

/// The URL without credentials (user info, and a `password` query parameter), for
/// messages.
fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{}", &base[..scheme], &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            redacted.push('?');
            redacted.push_str(&kept.join("&"));
        }
    }
    redacted
}

/// How long connecting (TCP and the startup exchange) may take unless the URL says
/// `connect_timeout`: a server that accepts and never answers is an error, not a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server-side limit of one statement unless the URL sets `options`.
const STATEMENT_TIMEOUT_OPTION: &str = "-c statement_timeout=30000";

/// The client-side bound of one ledger operation, waiting for the shared connection
/// included: the server's statement timeout cannot fire when the server (or the network
/// path to it) stops answering, so this is what turns a stalled database into an error.
/// Four statement timeouts, so that a queue of slow but live statements does not trip it.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Boxes a ledger operation bounded by [`OPERATION_TIMEOUT`].
fn bounded<T: Send + 'static>(
    operation: impl Future<Output = Result<T, LedgerError>> + Send + 'static,
) -> BoxFuture<Result<T, LedgerError>> {
    Box::pin(bounded_by(OPERATION_TIMEOUT, operation))
}

async fn bounded_by<T>(
    limit: Duration,
    operation: impl Future<Output = Result<T, LedgerError>>,
) -> Result<T, LedgerError> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| {
            Err(LedgerError::database_message(format!(
                "PostgreSQL did not answer within {} s",
                limit.as_secs_f64()
            )))
        })
}

/// `url` with libpq's `sslmode=verify-full` or `verify-ca` (which managed databases tell
/// their users to write) as `require`, the strongest mode tokio-postgres knows: with
/// rustls, `require` already verifies the certificate chain and the host name.
fn with_verifying_sslmode(url: &str) -> String {
    let (url, mode) = take_query_parameter(url, "sslmode");
    let mode = match mode.as_deref() {
        Some("verify-full" | "verify-ca") => Some("require".to_owned()),
        _ => mode,
    };
    match mode {
        None => url,
        Some(mode) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}sslmode={mode}")
        }
    }
}

/// `url` without the query parameter `key`, and that parameter's value.
fn take_query_parameter(url: &str, key: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == key => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    match kept.is_empty() {
        true => (base.to_owned(), value),
        false => (format!("{base}?{}", kept.join("&")), value),
    }
}

/// The TLS side of a connection (rustls). The server's certificate is verified against
/// the system's roots, or against the PEM file named by `sslrootcert` (libpq's name for
/// it) when the URL has one. Whether TLS is used is the URL's `sslmode`: `disable`,
/// `prefer` (the default: TLS when the server offers it) or `require`.
fn tls(root_file: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    // A provider the application installed wins; else the one this build's TLS feature
    // chose for HTTPS, so one process has one rustls provider.
    #[cfg(any(feature = "rustls", feature = "rustls-ring"))]
    let provider = semarize_api::tls::rustls_provider();
    #[cfg(not(any(feature = "rustls", feature = "rustls-ring")))]
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| {
            "TLS to PostgreSQL needs a rustls crypto provider: build with the `rustls` or \
             `rustls-ring` feature, install one with CryptoProvider::install_default, or \
             connect with sslmode=disable"
                .to_owned()
        })?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match root_file {
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| format!("sslrootcert {path}: {e}");
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                roots
                    .add(certificate.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| format!("TLS: {e}"))?
                .with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PostgresLedger {
    /// Connects, creates the ledger's tables when the database has none, and applies
    /// pending migrations (serialized across workers).
    ///
    /// TLS follows the URL's `sslmode` (`disable`, `prefer` by default, `require`); the
    /// server's certificate is verified against the system's roots, or against
    /// `sslrootcert=/path/ca.pem` (for managed databases with their own CA).
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        Self::connect_with(url, Create::IfMissing).await
    }

    /// [`PostgresLedger::connect`] for a ledger that must exist: a database without the
    /// ledger's tables is [`LedgerError::NotFound`], and nothing is created in it.
    pub async fn connect_existing(url: &str) -> Result<Self, LedgerError> {
        Self::connect_with(url, Create::Never).await
    }

    pub(crate) async fn connect_with(url: &str, create: Create) -> Result<Self, LedgerError> {
        let location = redact(url);
        let open = |reason: String| LedgerError::Invalid {
            location: location.clone(),
            reason,
        };
        // tokio-postgres knows neither `sslrootcert` nor `pool_size`: they are this
        // function's.
        let (url, root_file) = take_query_parameter(url, "sslrootcert");
        let (url, pool_size) = take_query_parameter(&url, "pool_size");
        let url = with_verifying_sslmode(&url);
        let pool_size = match pool_size {
            None => DEFAULT_POOL_SIZE,
            Some(raw) => match raw.parse::<usize>() {
                Ok(size @ 1..=1024) => size,
                _ => {
                    return Err(open(format!(
                        "pool_size={raw} is not a number from 1 to 1024"
                    )));
                }
            },
        };
        let tls = tls(root_file.as_deref()).map_err(open)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| open(format!("not a PostgreSQL URL: {e}")))?;
        let connect_timeout = *config.get_connect_timeout().unwrap_or(&CONNECT_TIMEOUT);
        config.connect_timeout(connect_timeout);
        if config.get_options().is_none() {
            config.options(STATEMENT_TIMEOUT_OPTION);
        }
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(connect_timeout))
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .build()
            .map_err(|e| open(e.to_string()))?;
        // The first connection now: a wrong URL, password or certificate is an error of
        // `connect`, not of the first operation.
        let no_answer = || LedgerError::Unavailable {
            location: location.clone(),
            reason: format!(
                "no answer within {} s (set connect_timeout in the URL to wait longer)",
                connect_timeout.as_secs()
            ),
            source: None,
        };
        let mut client = match tokio::time::timeout(connect_timeout, pool.get()).await {
            Err(_) | Ok(Err(deadpool_postgres::PoolError::Timeout(_))) => return Err(no_answer()),
            Ok(Err(e)) => return Err(connect_error(&location, e)),
            Ok(Ok(client)) => client,
        };
        // Migrations are serialized by a session lock, so on this one connection; dropping
        // it on a timeout ends the session and so releases the lock.
        bounded_by(OPERATION_TIMEOUT, async {
            client
                .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db)?;
            // No early return until the lock is released: the connection goes back to
            // the pool.
            let existing = match create {
                Create::IfMissing => Ok(true),
                Create::Never => has_schema(&client).await,
            };
            let migrated = match existing {
                Ok(true) => migrate(&mut client).await,
                Ok(false) => Err(LedgerError::NotFound {
                    location: location.clone(),
                    reason: "the database has no ledger tables (only a batch run creates them)"
                        .into(),
                }),
                Err(e) => Err(e),
            };
            client
                .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db)?;
            migrated
        })
        .await?;
        Ok(PostgresLedger {
            client: Connections(pool),
            unanalyzed: Default::default(),
            location,
        })
    }
}

/// Whether the database holds the ledger's tables (any schema version).
async fn has_schema(client: &Client) -> Result<bool, LedgerError> {
    let row = client
        .query_one(
            "SELECT to_regclass('records') IS NOT NULL AND to_regclass('schema_version') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db)?;
    Ok(row.get(0))
}

/// The first connection failed: a database that does not exist is not found, refused
/// credentials are the URL's fault, anything else (refused, reset, a TLS handshake that
/// failed) is the database being unavailable.
fn connect_error(location: &str, error: deadpool_postgres::PoolError) -> LedgerError {
    use tokio_postgres::error::SqlState;
    let reason = with_causes(&error);
    let code = match &error {
        deadpool_postgres::PoolError::Backend(e) => e.code().cloned(),
        _ => None,
    };
    match code {
        Some(code) if code == SqlState::INVALID_CATALOG_NAME => LedgerError::NotFound {
            location: location.to_owned(),
            reason,
        },
        // Class 28: invalid authorization (a wrong user or password).
        Some(code) if code.code().starts_with("28") => LedgerError::Invalid {
            location: location.to_owned(),
            reason,
        },
        _ => LedgerError::Unavailable {
            location: location.to_owned(),
            reason,
            source: Some(Box::new(error)),
        },
    }
}

async fn migrate(client: &mut Client) -> Result<(), LedgerError> {
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        .await
        .map_err(db)?;
    let current: i32 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
        .await
        .map_err(db)?
        .get(0);
    if i64::from(current) > SCHEMA_VERSION {
        return Err(LedgerError::Corrupt(format!(
            "the ledger has schema version {current}; this build knows up to {SCHEMA_VERSION}"
        )));
    }
    for (index, sql) in migrations().iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
    }
    Ok(())
}

/// Makes the records matching `condition` terminal. The terminal fields are `$1`..`$5`;
/// `key` fills `$6` onwards. Returns whether a record changed.
async fn finish_where(
    client: &Connections,
    condition: &str,
    key: &[String],
    terminal: Terminal,
) -> Result<bool, LedgerError> {
    let state = terminal.state.unwrap_or(RecordState::Failed).as_str();
    let sql = format!(
        "UPDATE records SET state = $1, status = $2, terminal_status = $2, error_code = $3,
             error_message = $4, output = $5, lease_owner = NULL, lease_until = NULL,
             updated_at = {DB_NOW_MS}
         WHERE {condition}"
    );
    let terminal_params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &state,
        &terminal.status,
        &terminal.error_code,
        &terminal.error_message,
        &terminal.output,
    ];
    let all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = terminal_params
        .into_iter()
        .chain(
            key.iter()
                .map(|k| k as &(dyn tokio_postgres::types::ToSql + Sync)),
        )
        .collect();
    Ok(client.execute(&sql, &all).await? > 0)
}

/// Has the records table analyzed once the records added since the last time are more
/// than half of what the planner's statistics know of: after a bulk load, as PostgreSQL's
/// manual advises, and not left to autovacuum, which may take a minute. Until then the
/// planner takes a freshly filled ledger for nearly empty and claims sort every pending
/// record (30 ms a claim at 10,000 records). Growth by halves keeps it to a few analyses
/// even for a million lines. Without the right to analyze, PostgreSQL skips it with a
/// warning.
async fn analyze_if_grown(
    client: &Client,
    unanalyzed: &std::sync::atomic::AtomicU64,
    added: u64,
) -> Result<(), LedgerError> {
    use std::sync::atomic::Ordering;
    let new = unanalyzed
        .fetch_add(added, Ordering::Relaxed)
        .saturating_add(added);
    if new == 0 {
        return Ok(());
    }
    // reltuples is -1 before the first analysis.
    let known: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    if new as f64 > f64::from(known.max(0.0)) / 2.0 {
        client.batch_execute("ANALYZE records").await.map_err(db)?;
        unanalyzed.store(0, Ordering::Relaxed);
    }
    Ok(())
}

fn create_claim(row: &Row) -> CreateClaim {
    CreateClaim {
        source_id: row.get(0),
        kit: row.get(1),
        input: row.get(2),
        idempotency_key: row.get(3),
        attempts: row.get::<_, i32>(4) as u32,
    }
}

impl Ledger for PostgresLedger {
    fn ingest(&self, records: Vec<NewRecord>) -> BoxFuture<Result<u64, LedgerError>> {
        let (client, unanalyzed) = (self.client.clone(), self.unanalyzed.clone());
        bounded(async move {
            let mut client = client.get().await?;
            let tx = client.transaction().await.map_err(db)?;
            let insert = tx
                .prepare(
                    "INSERT INTO records (source_id, kit, line, input, idempotency_key, state, error_code, error_message,
                         created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (source_id, kit) DO NOTHING",
                )
                .await
                .map_err(db)?;
            let mut added = 0;
            for r in &records {
                let (state, code) = match &r.rejected {
                    Some(_) => (RecordState::Rejected, Some("invalid_input_line")),
                    None => (RecordState::Pending, None),
                };
                added += tx
                    .execute(
                        &insert,
                        &[
                            &r.source_id,
                            &r.kit,
                            &(r.line as i64),
                            &r.input,
                            &r.idempotency_key,
                            &state.as_str(),
                            &code,
                            &r.rejected,
                            &r.now_ms,
                        ],
                    )
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            analyze_if_grown(&client, &unanalyzed, added).await?;
            Ok(added)
        })
    }

    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<CreateClaim>, LedgerError>> {
        let (client, owner) = (self.client.clone(), owner.to_owned());
        let lease_ms = lease_until_ms.saturating_sub(now_ms);
        bounded(async move {
            // Leases start and expire by the database's clock (see DB_NOW_MS); retry
            // times are the workers' own, where skew only shifts a schedule. The claimed
            // rows are addressed by `ctid`: locked by the inner query, they cannot move
            // before the update, and a TID scan keeps the prepared (generic) plan from
            // joining the claim against the whole table, which it did with the limit a
            // parameter (a hash join over a sequential scan, 15 ms a claim at 10,000
            // records instead of under 1 ms).
            let rows = client
                .query(
                    &format!(
                        "WITH clock AS (SELECT {DB_NOW_MS} AS now)
                     UPDATE records r SET state = 'creating', lease_owner = $1, created_by = $1,
                         lease_until = (SELECT now FROM clock) + $2,
                         attempts = r.attempts + 1, updated_at = (SELECT now FROM clock)
                     WHERE r.ctid = ANY(ARRAY(SELECT ctid FROM records
                           WHERE (state = 'pending' AND next_attempt_at <= $3)
                              OR (state = 'creating' AND lease_until < (SELECT now FROM clock))
                           ORDER BY line LIMIT $4 FOR UPDATE SKIP LOCKED))
                     RETURNING r.source_id, r.kit, r.input, r.idempotency_key, r.attempts"
                    ),
                    &[&owner, &lease_ms, &now_ms, &(limit as i64)],
                )
                .await?;
            Ok(rows.iter().map(create_claim).collect())
        })
    }

    fn accepted(
        &self,
        source_id: &str,
        kit: &Kit,
        run_id: &str,
        status: &str,
        next_poll_at_ms: i64,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let client = self.client.clone();
        let (source_id, kit, run_id, status) = (
            source_id.to_owned(),
            kit.clone(),
            run_id.to_owned(),
            status.to_owned(),
        );
        bounded(async move {
            client
                .execute(
                    &format!(
                        "UPDATE records SET state = 'accepted', run_id = $3, status = $4, next_poll_at = $5,
                         lease_owner = NULL, lease_until = NULL, updated_at = {DB_NOW_MS}
                     WHERE source_id = $1 AND kit = $2 AND state IN ('pending', 'creating')"
                    ),
                    &[&source_id, &kit, &run_id, &status, &next_poll_at_ms],
                )
                .await?;
            Ok(())
        })
    }

    fn retry_create(
        &self,
        source_id: &str,
        kit: &Kit,
        next_attempt_at_ms: i64,
        error_code: Option<&str>,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let client = self.client.clone();
        let (source_id, kit, code) = (
            source_id.to_owned(),
            kit.clone(),
            error_code.map(str::to_owned),
        );
        bounded(async move {
            client
                .execute(
                    &format!(
                        "UPDATE records SET state = 'pending', next_attempt_at = $3, error_code = $4,
                         lease_owner = NULL, lease_until = NULL, updated_at = {DB_NOW_MS}
                     WHERE source_id = $1 AND kit = $2 AND state = 'creating'"
                    ),
                    &[&source_id, &kit, &next_attempt_at_ms, &code],
                )
                .await?;
            Ok(())
        })
    }

    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<PollClaim>, LedgerError>> {
        let (client, owner) = (self.client.clone(), owner.to_owned());
        let lease_ms = lease_until_ms.saturating_sub(now_ms);
        bounded(async move {
            // By `ctid`, as in `claim_for_create`.
            let rows = client
                .query(
                    &format!(
                        "WITH clock AS (SELECT {DB_NOW_MS} AS now)
                     UPDATE records r SET lease_owner = $1,
                         lease_until = (SELECT now FROM clock) + $2, polls = r.polls + 1
                     WHERE r.ctid = ANY(ARRAY(SELECT ctid FROM records
                           WHERE state = 'accepted' AND next_poll_at <= $3
                             AND (lease_until IS NULL OR lease_until < (SELECT now FROM clock))
                           ORDER BY next_poll_at LIMIT $4 FOR UPDATE SKIP LOCKED))
                     RETURNING r.source_id, r.kit, r.run_id, r.polls"
                    ),
                    &[&owner, &lease_ms, &now_ms, &(limit as i64)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| PollClaim {
                    source_id: r.get(0),
                    kit: r.get(1),
                    run_id: r.get::<_, Option<String>>(2).unwrap_or_default(),
                    polls: r.get::<_, i32>(3) as u32,
                })
                .collect())
        })
    }

    fn polled(
        &self,
        source_id: &str,
        kit: &Kit,
        status: Option<&str>,
        next_poll_at_ms: i64,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let client = self.client.clone();
        let (source_id, kit, status) =
            (source_id.to_owned(), kit.clone(), status.map(str::to_owned));
        bounded(async move {
            client
                .execute(
                    "UPDATE records SET status = COALESCE($3, status), next_poll_at = $4, lease_owner = NULL, lease_until = NULL
                     WHERE source_id = $1 AND kit = $2 AND state = 'accepted'",
                    &[&source_id, &kit, &status, &next_poll_at_ms],
                )
                .await?;
            Ok(())
        })
    }

    fn finish(
        &self,
        source_id: &str,
        kit: &Kit,
        terminal: Terminal,
    ) -> BoxFuture<Result<bool, LedgerError>> {
        let client = self.client.clone();
        let key = vec![source_id.to_owned(), kit.to_text()];
        bounded(async move {
            finish_where(
                &client,
                "source_id = $6 AND kit = $7 AND state NOT IN ('succeeded', 'failed', 'cancelled', 'rejected')",
                &key,
                terminal,
            )
            .await
        })
    }

    fn finish_run(&self, run_id: &str, terminal: Terminal) -> BoxFuture<Result<bool, LedgerError>> {
        let client = self.client.clone();
        let key = vec![run_id.to_owned()];
        bounded(async move {
            finish_where(
                &client,
                "run_id = $6 AND state = 'accepted'",
                &key,
                terminal,
            )
            .await
        })
    }

    fn counts(&self) -> BoxFuture<Result<LedgerCounts, LedgerError>> {
        let client = self.client.clone();
        bounded(async move {
            let client = client.get().await?;
            let mut counts = LedgerCounts::default();
            for row in client
                .query("SELECT state, COUNT(*) FROM records GROUP BY state", &[])
                .await
                .map_err(db)?
            {
                let state = RecordState::parse(row.get::<_, &str>(0))?;
                counts
                    .states
                    .insert(state.as_str().to_owned(), row.get::<_, i64>(1) as u64);
            }
            for row in client
                .query(
                    "SELECT COALESCE(error_code, 'unknown'), COUNT(*) FROM records
                     WHERE state IN ('failed', 'rejected', 'cancelled') GROUP BY 1",
                    &[],
                )
                .await
                .map_err(db)?
            {
                counts
                    .errors
                    .insert(row.get(0), row.get::<_, i64>(1) as u64);
            }
            let row = client
                .query_one(
                    "SELECT COALESCE(SUM(credits), 0)::BIGINT,
                            COUNT(*) FILTER (WHERE credits IS NULL AND run_id IS NOT NULL
                                AND state IN ('succeeded', 'failed', 'cancelled'))
                     FROM records",
                    &[],
                )
                .await
                .map_err(db)?;
            counts.credits = row.get(0);
            counts.credits_unknown = row.get::<_, i64>(1) as u64;
            Ok(counts)
        })
    }

    fn results(
        &self,
        after_line: u64,
        limit: usize,
    ) -> BoxFuture<Result<Vec<ResultRow>, LedgerError>> {
        let client = self.client.clone();
        bounded(async move {
            let rows = client
                .query(
                    "SELECT line, source_id, kit, state, run_id, idempotency_key, error_code, error_message,
                            output, attempts, credits, created_by
                     FROM records WHERE line > $1 ORDER BY line, kit LIMIT $2",
                    &[&(after_line as i64), &(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ResultRow {
                        line: r.get::<_, i64>(0) as u64,
                        id: r.get(1),
                        kit: r.get(2),
                        state: RecordState::parse(r.get::<_, &str>(3))?,
                        run_id: r.get(4),
                        idempotency_key: r.get(5),
                        error_code: r.get(6),
                        error_message: r.get(7),
                        output: r.get(8),
                        attempts: r.get::<_, i32>(9) as u32,
                        credits: r.get(10),
                        created_by: r.get(11),
                    })
                })
                .collect()
        })
    }

    fn runs_without_credits(&self, limit: usize) -> BoxFuture<Result<Vec<RunRef>, LedgerError>> {
        let client = self.client.clone();
        bounded(async move {
            let rows = client
                .query(
                    "SELECT source_id, kit, run_id FROM records
                     WHERE credits IS NULL AND run_id IS NOT NULL AND state IN ('succeeded', 'failed', 'cancelled')
                     LIMIT $1",
                    &[&(limit as i64)],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| RunRef {
                    source_id: r.get(0),
                    kit: r.get(1),
                    run_id: r.get(2),
                })
                .collect())
        })
    }

    fn set_credits(
        &self,
        source_id: &str,
        kit: &Kit,
        credits: i64,
    ) -> BoxFuture<Result<(), LedgerError>> {
        let client = self.client.clone();
        let (source_id, kit) = (source_id.to_owned(), kit.clone());
        bounded(async move {
            client
                .execute(
                    "UPDATE records SET credits = $3 WHERE source_id = $1 AND kit = $2",
                    &[&source_id, &kit, &credits],
                )
                .await?;
            Ok(())
        })
    }

    fn replay(
        &self,
        selection: ReplaySelection,
        now_ms: i64,
    ) -> BoxFuture<Result<u64, LedgerError>> {
        let client = self.client.clone();
        bounded(async move {
            let mut client = client.get().await?;
            let tx = client.transaction().await.map_err(db)?;
            let rows = match &selection {
                ReplaySelection::Failed => {
                    tx.query(
                        "SELECT source_id, kit, generation, input FROM records
                         WHERE state IN ('failed', 'cancelled')
                            OR (state = 'rejected' AND COALESCE(error_code, '') != 'invalid_input_line')
                         FOR UPDATE",
                        &[],
                    )
                    .await
                }
                ReplaySelection::Ids(ids) => {
                    tx.query(
                        "SELECT source_id, kit, generation, input FROM records
                         WHERE source_id = ANY($1) AND state IN ('succeeded', 'failed', 'cancelled', 'rejected')
                           AND NOT (state = 'rejected' AND COALESCE(error_code, '') = 'invalid_input_line')
                         FOR UPDATE",
                        &[ids],
                    )
                    .await
                }
            }
            .map_err(db)?;
            for row in &rows {
                let (source_id, kit, input): (String, Kit, String) =
                    (row.get(0), row.get(1), row.get(3));
                let next = row.get::<_, i32>(2) + 1;
                tx.execute(
                    "UPDATE records SET generation = $3, idempotency_key = $4, state = 'pending', run_id = NULL,
                         status = NULL, attempts = 0, polls = 0, next_attempt_at = 0, next_poll_at = NULL,
                         terminal_status = NULL, error_code = NULL, error_message = NULL, output = NULL,
                         credits = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $5
                     WHERE source_id = $1 AND kit = $2",
                    &[&source_id, &kit, &next, &derive_idempotency_key(&source_id, &kit, &input, next as u32), &now_ms],
                )
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Ok(rows.len() as u64)
        })
    }

    fn any_in(&self, states: &'static [RecordState]) -> BoxFuture<Result<bool, LedgerError>> {
        let client = self.client.clone();
        let states: Vec<&'static str> = states.iter().map(|s| s.as_str()).collect();
        bounded(async move {
            let rows = client
                .query(
                    "SELECT EXISTS (SELECT 1 FROM records WHERE state = ANY($1))",
                    &[&states],
                )
                .await?;
            Ok(rows.first().is_some_and(|row| row.get::<_, bool>(0)))
        })
    }

    fn next_due_ms(&self) -> BoxFuture<Result<Option<i64>, LedgerError>> {
        let client = self.client.clone();
        bounded(async move {
            let rows = client
                .query(
                    "SELECT MIN(due) FROM (
                         SELECT MIN(next_attempt_at) AS due FROM records WHERE state = 'pending'
                         UNION ALL SELECT MIN(lease_until) FROM records WHERE state = 'creating'
                         UNION ALL SELECT MIN(GREATEST(next_poll_at, COALESCE(lease_until, 0))) FROM records WHERE state = 'accepted') d",
                    &[],
                )
                .await?;
            Ok(rows.first().and_then(|row| row.get::<_, Option<i64>>(0)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Kit, NewRecord};

    /// The test database, or None (and a visible skip) outside CI; under CI=true a missing
    /// database fails the test, since .ci/run starts one.
    fn test_database_url() -> Option<String> {
        match std::env::var("SEMARIZE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                let under_ci = std::env::var("CI").is_ok_and(|ci| !ci.is_empty() && ci != "false");
                assert!(
                    !under_ci,
                    "SEMARIZE_TEST_POSTGRES_URL is not set under CI=true"
                );
                eprintln!("SKIPPED: SEMARIZE_TEST_POSTGRES_URL is not set");
                None
            }
        }
    }

    /// One connection held elsewhere (a long statement of another task) does not stop
    /// the ledger: the pool has another. With one connection behind a lock, the count
    /// would wait for the held one.
    #[tokio::test]
    async fn operations_run_beside_a_busy_connection() {
        let Some(url) = test_database_url() else {
            return;
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let ledger = PostgresLedger::connect(&format!("{url}{separator}pool_size=2"))
            .await
            .unwrap();
        let _busy = ledger.client.get().await.unwrap();
        let counts = tokio::time::timeout(Duration::from_secs(30), ledger.counts())
            .await
            .expect("the pool's other connection answers");
        counts.unwrap();
    }

    /// `url` with its database replaced by a fresh, empty one called `name`.
    async fn fresh_database(url: &str, name: &str) -> String {
        let admin = PostgresLedger::connect(url).await.unwrap();
        let admin = admin.client.get().await.unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (server, _) = base.rsplit_once('/').unwrap();
        format!("{server}/{name}?{query}")
    }

    fn record(n: usize, now_ms: i64) -> NewRecord {
        NewRecord {
            source_id: format!("rec-{n}"),
            kit: Kit::Code("A1B2C3D4".to_owned()),
            input: r#"{"transcript": "t"}"#.to_owned(),
            line: n as u64 + 1,
            idempotency_key: format!("key-{n}"),
            rejected: None,
            now_ms,
        }
    }

    /// A bulk load leaves planner statistics behind (without them a claim sorted every
    /// pending record), and `any_in` answers per state as the counts do.
    #[tokio::test]
    async fn a_bulk_load_is_analyzed_and_any_in_answers_per_state() {
        let Some(url) = test_database_url() else {
            return;
        };
        let url = fresh_database(&url, "semarize_unit_bulk_load").await;
        let ledger = PostgresLedger::connect(&url).await.unwrap();
        assert!(!ledger.any_in(RecordState::OPEN).await.unwrap());
        let now = crate::now_ms();
        for chunk in 0..3 {
            let records = (chunk * 1000..(chunk + 1) * 1000)
                .map(|n| record(n, now))
                .collect();
            assert_eq!(ledger.ingest(records).await.unwrap(), 1000);
        }
        let known: f32 = ledger
            .client
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(known >= 2000.0, "the planner knows of {known} records");

        let pending = &[RecordState::Pending][..];
        let accepted = &[RecordState::Accepted][..];
        assert!(ledger.any_in(pending).await.unwrap());
        assert!(!ledger.any_in(accepted).await.unwrap());
        let claimed = ledger
            .claim_for_create("w", now, now + 60_000, 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].source_id, "rec-0", "claims go in line order");
        ledger
            .accepted("rec-0", &claimed[0].kit, "run-0", "queued", now)
            .await
            .unwrap();
        assert!(ledger.any_in(accepted).await.unwrap());
        assert_eq!(
            ledger.counts().await.unwrap().count(RecordState::Accepted),
            1
        );
    }

    #[tokio::test]
    async fn a_pool_size_that_is_no_size_is_refused_before_connecting() {
        for bad in ["0", "many", "100000"] {
            let error = PostgresLedger::connect(&format!(
                "postgres://u:secret@127.0.0.1:1/db?pool_size={bad}"
            ))
            .await
            .unwrap_err()
            .to_string();
            assert!(error.contains(&format!("pool_size={bad}")), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[tokio::test]
    async fn tls_is_used_and_the_server_is_verified() {
        let Some(url) = test_database_url() else {
            return;
        };
        let (_, root_file) = take_query_parameter(&url, "sslrootcert");
        if root_file.is_none() {
            eprintln!("SKIPPED: the test database URL names no sslrootcert (no TLS to test)");
            return;
        }
        let ledger = PostgresLedger::connect(&url).await.unwrap();
        let row = ledger
            .client
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        assert!(
            row.get::<_, bool>(0),
            "the ledger's connection is encrypted"
        );
        // Without the CA the server's certificate is unknown: refused, not trusted.
        let (without_ca, _) = take_query_parameter(&url, "sslrootcert");
        let err = PostgresLedger::connect(&without_ca)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        let missing = format!("{without_ca}&sslrootcert=/nonexistent/ca.pem");
        let err = PostgresLedger::connect(&missing)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_query_parameter_is_taken_out_of_the_url() {
        assert_eq!(
            take_query_parameter(
                "postgres://h/db?sslmode=require&sslrootcert=/ca.pem&x=1",
                "sslrootcert"
            ),
            (
                "postgres://h/db?sslmode=require&x=1".to_owned(),
                Some("/ca.pem".to_owned())
            )
        );
        assert_eq!(
            take_query_parameter("postgres://h/db?sslrootcert=/ca.pem", "sslrootcert"),
            ("postgres://h/db".to_owned(), Some("/ca.pem".to_owned()))
        );
        assert_eq!(
            take_query_parameter("postgres://h/db", "sslrootcert"),
            ("postgres://h/db".to_owned(), None)
        );
    }

    #[test]
    fn libpq_verifying_modes_are_require_which_verifies() {
        assert_eq!(
            with_verifying_sslmode("postgres://h/db?sslmode=verify-full&sslrootcert=/ca.pem"),
            "postgres://h/db?sslrootcert=/ca.pem&sslmode=require"
        );
        assert_eq!(
            with_verifying_sslmode("postgres://h/db?sslmode=verify-ca"),
            "postgres://h/db?sslmode=require"
        );
        assert_eq!(
            with_verifying_sslmode("postgres://h/db?sslmode=disable"),
            "postgres://h/db?sslmode=disable"
        );
        assert_eq!(with_verifying_sslmode("postgres://h/db"), "postgres://h/db");
    }

    /// Runs one statement on the ledger's connection (test set-up).
    async fn execute(ledger: &PostgresLedger, statement: &str) {
        ledger
            .client
            .get()
            .await
            .unwrap()
            .execute(statement, &[])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn leases_follow_the_database_clock_not_a_workers() {
        let Some(url) = test_database_url() else {
            return;
        };
        let ledger = PostgresLedger::connect(&url).await.unwrap();
        execute(&ledger, "DELETE FROM records").await;
        let now = crate::now_ms();
        let records = (1..=3)
            .map(|i| NewRecord {
                source_id: format!("clock-{i}"),
                kit: Kit::Code("A1B2C3D4".to_owned()),
                input: "{}".to_owned(),
                line: i,
                idempotency_key: format!("clock-key-{i}"),
                rejected: None,
                now_ms: now,
            })
            .collect();
        ledger.ingest(records).await.unwrap();
        let hour = 3_600_000;
        let minute = 60_000;
        assert_eq!(
            ledger
                .claim_for_create("a", now, now + minute, 10)
                .await
                .unwrap()
                .len(),
            3
        );
        // A worker whose clock runs two hours ahead: by its clock the leases ran out long
        // ago, by the database's they have a minute left. It takes nothing.
        let ahead = now + 2 * hour;
        assert!(
            ledger
                .claim_for_create("b", ahead, ahead + minute, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // A lease that has really run out is taken over, whatever the worker's clock says.
        execute(&ledger, "UPDATE records SET lease_until = 0").await;
        let behind = now - 2 * hour;
        assert_eq!(
            ledger
                .claim_for_create("c", behind, behind + minute, 10)
                .await
                .unwrap()
                .len(),
            3
        );
        execute(&ledger, "DELETE FROM records").await;
    }

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(
            redact("postgres://u:secret@db.example:5432/ledger?sslmode=require"),
            "postgres://db.example:5432/ledger?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://db/ledger?user=u&password=secret&sslmode=require"),
            "postgresql://db/ledger?user=u&sslmode=require"
        );
        assert_eq!(
            redact("postgres://db/ledger?PASSWORD=secret"),
            "postgres://db/ledger"
        );
    }

    #[tokio::test]
    async fn an_operation_without_an_answer_ends_with_an_error() {
        let err = bounded_by(
            Duration::from_millis(20),
            std::future::pending::<Result<(), LedgerError>>(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            LedgerError::database_message("PostgreSQL did not answer within 0.02 s").to_string()
        );
    }

    #[tokio::test]
    async fn a_server_that_accepts_and_never_answers_is_an_error_not_a_hang() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let url =
            format!("postgres://u@127.0.0.1:{port}/ledger?password=hunter2&connect_timeout=1");
        let err = tokio::time::timeout(Duration::from_secs(10), PostgresLedger::connect(&url))
            .await
            .expect("connect gave up by itself")
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("no answer within 1 s"), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        silent.abort();
    }
}
