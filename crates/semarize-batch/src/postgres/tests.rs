//! What only the PostgreSQL store has: its pool, URL, TLS, timeouts and planner
//! statistics. The transitions, claims and leases are the conformance suite's
//! (`tests/conformance.rs`), run against both stores.

use std::time::Duration;

use super::PostgresLedger;
use super::connect::bounded_by;
use crate::ledger::{Kit, Ledger, LedgerError, NewRecord, RecordState};

/// The test database (TLS). The tests that call this are ignored unless one is configured
/// (or `CI=true`; see `build.rs`), so a missing one is a failure here.
fn test_database_url() -> String {
    database_url_from("SEMARIZE_TEST_POSTGRES_URL")
}

/// The database the environment variable `name` names.
fn database_url_from(name: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            panic!("{name} is not set: under CI=true that is a failure (.ci/run starts PostgreSQL)")
        })
}

/// One connection held elsewhere (a long statement of another task) does not stop
/// the ledger: the pool has another. With one connection behind a lock, the count
/// would wait for the held one.
#[tokio::test]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn operations_run_beside_a_busy_connection() {
    let url = test_database_url();
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
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn a_bulk_load_is_analyzed_and_any_in_answers_per_state() {
    let url = test_database_url();
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

/// `url` with the query parameter `key` set to `value`, or removed.
fn with_param(url: &str, key: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(key))
        .map(str::to_owned)
        .collect();
    if let Some(value) = value {
        pairs.push(format!("{key}={value}"));
    }
    match pairs.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", pairs.join("&")),
    }
}

/// `url` with `127.0.0.1` as `host`.
fn with_host(url: &str, host: &str) -> String {
    url.replacen("@127.0.0.1:", &format!("@{host}:"), 1)
}

/// Whether the ledger's own connection is encrypted, as the server sees it.
async fn encrypted(ledger: &PostgresLedger) -> bool {
    ledger
        .client
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn refusal(url: &str) -> String {
    PostgresLedger::connect(url).await.unwrap_err().to_string()
}

/// The test cluster with TLS (its URL names the CA that signed its certificate).
fn tls_database_url() -> (String, String) {
    let url = test_database_url();
    let ca = url
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("sslrootcert="))
        .expect("the TLS test cluster's URL names its CA (sslrootcert)")
        .to_owned();
    (url, ca)
}

#[tokio::test]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn tls_is_used_and_the_server_is_verified() {
    let (url, _) = tls_database_url();
    assert!(encrypted(&PostgresLedger::connect(&url).await.unwrap()).await);
    // A CA alone, without a mode, requires TLS and verifies.
    let default_mode = with_param(&url, "sslmode", None);
    assert!(encrypted(&PostgresLedger::connect(&default_mode).await.unwrap()).await);
    // Without the CA the server's certificate is unknown: refused, not trusted, in
    // every verifying mode.
    for mode in ["require", "verify-ca", "verify-full"] {
        let without_ca = with_param(
            &with_param(&url, "sslrootcert", None),
            "sslmode",
            Some(mode),
        );
        let error = refusal(&without_ca).await;
        assert!(
            error.to_lowercase().contains("certificate"),
            "{mode}: {error}"
        );
    }
    let error = refusal(&with_param(
        &url,
        "sslrootcert",
        Some("/nonexistent/ca.pem"),
    ))
    .await;
    assert!(error.contains("sslrootcert /nonexistent/ca.pem"), "{error}");
}

/// The certificate names 127.0.0.1 only: `verify-ca` reaches it as `localhost` (the
/// chain is sound), `verify-full` and `require` do not (the name is wrong).
#[tokio::test]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn verify_ca_checks_the_chain_and_verify_full_the_host_too() {
    let (url, _) = tls_database_url();
    let by_name = with_host(&url, "localhost");
    let chain_only = with_param(&by_name, "sslmode", Some("verify-ca"));
    assert!(encrypted(&PostgresLedger::connect(&chain_only).await.unwrap()).await);
    for mode in ["verify-full", "require"] {
        let error = refusal(&with_param(&by_name, "sslmode", Some(mode))).await;
        assert!(error.contains("not valid for name"), "{mode}: {error}");
    }
    let by_address = with_param(&url, "sslmode", Some("verify-full"));
    assert!(encrypted(&PostgresLedger::connect(&by_address).await.unwrap()).await);
}

/// The test cluster without TLS.
fn plaintext_database_url() -> String {
    database_url_from("SEMARIZE_TEST_POSTGRES_PLAINTEXT_URL")
}

/// A server that answers "no TLS" gets a plaintext connection only where libpq's
/// `prefer` cannot be a downgrade: loopback, no CA, or `sslmode=disable` by name.
#[tokio::test]
#[cfg_attr(
    not(all(semarize_test_postgres, semarize_test_postgres_plaintext)),
    ignore = "needs PostgreSQL with and without TLS: set SEMARIZE_TEST_POSTGRES_URL and \
              SEMARIZE_TEST_POSTGRES_PLAINTEXT_URL (bash .ci/postgres.sh, PG_TLS=off bash .ci/postgres.sh)"
)]
async fn tls_cannot_be_downgraded_by_a_server_that_offers_none() {
    let (plain, (_, ca)) = (plaintext_database_url(), tls_database_url());
    for allowed in [
        plain.clone(),
        with_param(&plain, "sslmode", Some("prefer")),
        with_param(&plain, "sslmode", Some("disable")),
        with_host(&plain, "localhost"),
    ] {
        let ledger = PostgresLedger::connect(&allowed).await.unwrap();
        assert!(!encrypted(&ledger).await, "{allowed}");
    }
    for refused in [
        with_param(&plain, "sslrootcert", Some(&ca)),
        with_param(&plain, "sslmode", Some("require")),
        with_param(&plain, "sslmode", Some("verify-ca")),
        with_param(&plain, "sslmode", Some("verify-full")),
        // A host name that is not loopback requires TLS, wherever it is sent.
        with_param(
            &with_host(&plain, "ledger.internal"),
            "hostaddr",
            Some("127.0.0.1"),
        ),
    ] {
        let error = refusal(&refused).await;
        assert!(
            error.contains("server does not support TLS"),
            "{refused}: {error}"
        );
    }
}

#[tokio::test]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn url_parameters_are_percent_decoded() {
    let (url, ca) = tls_database_url();
    // A CA file whose name needs encoding, named encoded.
    let dir = std::env::temp_dir().join(format!("semarize ca {}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("root ca.pem");
    std::fs::copy(&ca, &copy).unwrap();
    let encoded = copy.to_str().unwrap().replace(' ', "%20");
    let url = with_param(&url, "sslrootcert", Some(&encoded));
    let url = with_param(&url, "pool_size", Some("%32"));
    let ledger = PostgresLedger::connect(&url).await.unwrap();
    assert!(encrypted(&ledger).await);
    assert_eq!(ledger.client.pool.status().max_size, 2);
    std::fs::remove_dir_all(&dir).unwrap();
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

/// Updates that arrive together run together, and each caller still learns whether its
/// own record changed: a burst of creations and finishes answers each one as the
/// transitions allow, a second update of a record in the same burst sees the first, and
/// the burst costs one or two statements rather than one per update.
#[tokio::test]
#[cfg_attr(
    not(semarize_test_postgres),
    ignore = "needs PostgreSQL: set SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
)]
async fn a_burst_of_updates_answers_each_caller_in_a_few_statements() {
    use crate::ledger::{Terminal, TerminalState, Transition};
    let url = test_database_url();
    let url = fresh_database(&url, "semarize_unit_update_burst").await;
    let ledger = PostgresLedger::connect(&url).await.unwrap();
    const RECORDS: usize = 60;
    ledger
        .ingest((0..RECORDS).map(record).collect())
        .await
        .unwrap();
    let claims = ledger
        .claim_for_create("w", 0, Duration::from_secs(60), RECORDS)
        .await
        .unwrap();
    assert_eq!(claims.len(), RECORDS);
    let kit = Kit::Code("A1B2C3D4".to_owned());
    let created = |n: usize| Transition::Created {
        run_id: format!("run-{n}"),
        status: "queued".into(),
        poll_in: Duration::from_secs(1),
    };
    let succeeded = Transition::Finished(Terminal {
        state: TerminalState::Succeeded,
        status: "succeeded".into(),
        error_code: None,
        error_message: None,
        output: Some("{}".into()),
    });
    // Every record created, rec-0 twice (the second finds it accepted already), and a
    // finish of a record that was never accepted (nothing to finish).
    let mut burst: Vec<_> = (0..RECORDS)
        .map(|n| ledger.apply(&format!("rec-{n}"), &kit, created(n), 0))
        .collect();
    burst.push(ledger.apply("rec-0", &kit, created(0), 0));
    burst.push(ledger.apply("rec-unknown", &kit, succeeded.clone(), 0));
    let answers = futures::future::try_join_all(burst).await.unwrap();
    assert!(
        answers[..RECORDS].iter().all(|changed| *changed),
        "{answers:?}"
    );
    assert_eq!(&answers[RECORDS..], [false, false]);
    // Rows one statement updated share its transaction id: the burst was one or two
    // statements, not one per record.
    let transactions: i64 = ledger
        .client
        .get()
        .await
        .unwrap()
        .query_one("SELECT COUNT(DISTINCT xmin::TEXT) FROM records", &[])
        .await
        .unwrap()
        .get(0);
    assert!(transactions <= 2, "{transactions} statements for the burst");
    // The runs are recorded: finishing them by run id works, once.
    let finished = futures::future::try_join_all((0..RECORDS).map(|n| {
        ledger.finish_run(
            &format!("run-{n}"),
            match &succeeded {
                Transition::Finished(terminal) => terminal.clone(),
                _ => unreachable!(),
            },
        )
    }))
    .await
    .unwrap();
    assert!(finished.iter().all(|changed| *changed));
    assert!(!ledger.any_in(RecordState::OPEN).await.unwrap());
}
