//! The ledger's schema in PostgreSQL: versioned migrations serialized across workers by an
//! advisory lock, the check that a ledger exists, and planner statistics after bulk loads.

use tokio_postgres::Client;

use super::connect::db;
use crate::Create;
use crate::ledger::sql::Dialect;
use crate::ledger::{LedgerError, SCHEMA_VERSION};

/// An arbitrary constant: the advisory lock that serializes migrations across workers.
const MIGRATION_LOCK: i64 = 0x5e3a_72e0;

/// Applies pending migrations under the advisory lock; with [`Create::Never`], a database
/// without the ledger's tables is [`LedgerError::NotFound`] and nothing is created. On
/// `client`, the connection that holds the lock: a timeout that drops it ends the session
/// and so releases the lock.
pub(super) async fn prepare(
    client: &mut Client,
    create: Create,
    location: &str,
) -> Result<(), LedgerError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    // No early return until the lock is released: the connection goes back to the pool.
    let existing = match create {
        Create::IfMissing => Ok(true),
        Create::Never => has_schema(client).await,
    };
    let migrated = match existing {
        Ok(true) => migrate(client).await,
        Ok(false) => Err(LedgerError::NotFound {
            location: location.to_owned(),
            reason: "the database has no ledger tables (only a batch run creates them)".into(),
        }),
        Err(e) => Err(e),
    };
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    migrated
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
    for (index, sql) in Dialect::Postgres
        .migrations()
        .iter()
        .enumerate()
        .skip(current as usize)
    {
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

/// Has the records table analyzed once the records added since the last time are more
/// than half of what the planner's statistics know of: after a bulk load, as PostgreSQL's
/// manual advises, and not left to autovacuum, which may take a minute. Until then the
/// planner takes a freshly filled ledger for nearly empty and claims sort every pending
/// record (30 ms a claim at 10,000 records). Growth by halves keeps it to a few analyses
/// even for a million lines. Without the right to analyze, PostgreSQL skips it with a
/// warning.
pub(super) async fn analyze_if_grown(
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
