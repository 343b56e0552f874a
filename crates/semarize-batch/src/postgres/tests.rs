//! What only the PostgreSQL store has: its pool, URL, TLS, timeouts and planner
//! statistics. The transitions, claims and leases are the conformance suite's
//! (`tests/conformance.rs`), run against both stores.

use std::time::Duration;

use super::PostgresLedger;
use super::connect::{bounded_by, redact, take_query_parameter, with_verifying_sslmode};
use crate::ledger::{Kit, Ledger, LedgerError, NewRecord, RecordState};

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

fn record(n: usize) -> NewRecord {
    NewRecord {
        source_id: format!("rec-{n}"),
        kit: Kit::Code("A1B2C3D4".to_owned()),
        input: r#"{"transcript": "t"}"#.to_owned(),
        line: n as u64 + 1,
        idempotency_key: format!("key-{n}"),
        rejected: None,
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
    for chunk in 0..3 {
        let records = (chunk * 1000..(chunk + 1) * 1000).map(record).collect();
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
        .claim_for_create("w", 0, Duration::from_secs(60), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].source_id, "rec-0", "claims go in line order");
    ledger
        .apply(
            "rec-0",
            &claimed[0].kit,
            crate::ledger::Transition::Created {
                run_id: "run-0".into(),
                status: "queued".into(),
                poll_in: Duration::ZERO,
            },
            0,
        )
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
    let url = format!("postgres://u@127.0.0.1:{port}/ledger?password=hunter2&connect_timeout=1");
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
