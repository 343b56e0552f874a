//! One conformance suite for every store: each transition, the claim race of two workers,
//! lease takeover, replay generations and each crash point, run against SQLite always and
//! against PostgreSQL whenever `SEMARIZE_TEST_POSTGRES_URL` is set (under `CI=true` it must
//! be: `.ci/run` starts PostgreSQL; elsewhere without it the PostgreSQL tests show as
//! ignored). Each test runs once per store, as `sqlite::NAME` and `postgres_store::NAME`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use semarize::runtime::{Clock, FixedJitter, Runtime, Sleeper, SystemClock, VirtualTime};
use semarize_batch::{
    BatchEngine, BatchOptions, CreateClaim, Kit, Ledger, LedgerCounts, LedgerFuture, NewRecord,
    NextDue, PollClaim, Progress, RecordState, ReplaySelection, ResultRow, RunEnd, RunRef,
    Terminal, TerminalState, Transition, Wake, derive_idempotency_key,
};
use semarize_emulator::Emulator;

/// A store under test, and how to open it again (another worker, or after a crash).
struct Store {
    name: &'static str,
    location: String,
    /// Whether due times and leases follow the database's clock rather than the worker's.
    shared_clock: bool,
}

impl Store {
    async fn open(&self) -> Arc<dyn Ledger> {
        semarize_batch::open_ledger(&self.location)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

impl Store {
    /// An empty SQLite ledger of `test`'s own.
    fn sqlite(test: &str) -> Store {
        let dir = std::env::temp_dir().join(format!(
            "semarize-conformance-{test}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store {
            name: "SQLite",
            location: dir.join("ledger.sqlite").display().to_string(),
            shared_clock: false,
        }
    }

    /// An empty PostgreSQL database of `test`'s own on the test server. The tests that
    /// call this are ignored without the `postgres` feature or a configured server (see
    /// `build.rs`).
    async fn postgres(test: &str) -> Store {
        #[cfg(feature = "postgres")]
        {
            let url = postgres_url();
            Store {
                name: "PostgreSQL",
                location: postgres::fresh_database(&url, &format!("semarize_conformance_{test}"))
                    .await,
                shared_clock: true,
            }
        }
        #[cfg(not(feature = "postgres"))]
        panic!("the PostgreSQL store of {test} needs the `postgres` feature")
    }
}

/// Each test runs once per store, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Store::sqlite(stringify!($test))).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(all(feature = "postgres", semarize_test_postgres)),
                    ignore = "needs the `postgres` feature and PostgreSQL: set \
                              SEMARIZE_TEST_POSTGRES_URL (bash .ci/postgres.sh prints one)"
                )]
                async fn $test() {
                    super::$test(super::Store::postgres(stringify!($test)).await).await;
                }
            )*
        }
    };
}

conformance!(
    ingest_adds_each_record_once_and_keeps_the_first,
    each_transition_applies_from_its_states_only,
    two_workers_never_claim_the_same_record,
    a_lease_is_taken_over_only_once_it_expires,
    due_times_follow_the_stores_clock,
    a_creation_pause_and_creation_slots_are_the_fleets,
    replay_starts_a_new_generation_with_a_new_key,
    a_crash_at_any_point_resumes_with_the_same_key,
    an_idle_worker_costs_under_one_statement_a_second,
    idle_workers_wake_when_work_appears_or_the_last_record_ends,
);

/// The test server's URL (a missing one fails the test: it runs only where one is
/// configured, or under `CI=true`).
#[cfg(feature = "postgres")]
fn postgres_url() -> String {
    std::env::var("SEMARIZE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect(
            "SEMARIZE_TEST_POSTGRES_URL is not set under CI=true: the PostgreSQL store would go untested",
        )
}

#[cfg(feature = "postgres")]
mod postgres {
    /// `url` with `sslmode=disable` and no `sslrootcert` (which only the ledger knows), for
    /// the suite's own administration.
    fn without_tls(url: &str) -> String {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                !p.is_empty() && !p.starts_with("sslmode=") && !p.starts_with("sslrootcert=")
            })
            .collect();
        kept.push("sslmode=disable");
        format!("{base}?{}", kept.join("&"))
    }

    /// An empty database `name` on `url`'s server, and its URL (the same settings).
    pub(super) async fn fresh_database(url: &str, name: &str) -> String {
        let (admin, connection) = tokio_postgres::connect(&without_tls(url), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
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
}

fn kit() -> Kit {
    Kit::Code("A1B2C3D4".into())
}

/// Records `from..to`, the line number being the number.
fn records(from: u64, to: u64) -> Vec<NewRecord> {
    (from..to)
        .map(|n| {
            let input = format!(r#"{{"transcript":"call {n}"}}"#);
            NewRecord {
                source_id: format!("r{n}"),
                idempotency_key: derive_idempotency_key(&format!("r{n}"), &kit(), &input, 0),
                kit: kit(),
                input,
                line: n,
                rejected: None,
            }
        })
        .collect()
}

fn terminal(state: TerminalState) -> Terminal {
    Terminal {
        state,
        status: format!("{state:?}").to_lowercase(),
        error_code: (state != TerminalState::Succeeded).then(|| "kit_failed".to_owned()),
        error_message: None,
        output: (state == TerminalState::Succeeded).then(|| r#"{"ok":true}"#.to_owned()),
    }
}

fn created(run_id: &str, poll_in: Duration) -> Transition {
    Transition::Created {
        run_id: run_id.into(),
        status: "queued".into(),
        poll_in,
    }
}

/// A worker's "now": the stores that follow the database's clock ignore it.
const NOW: i64 = 1_800_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

/// A record is added once: a second line with its id (in the same chunk or a later one,
/// by this worker or another reading the same input) changes nothing; a rejected line is
/// stored rejected with its reason.
async fn ingest_adds_each_record_once_and_keeps_the_first(store: Store) {
    let ledger = store.open().await;
    let mut chunk = records(1, 4);
    let mut again = records(2, 3).remove(0);
    again.line = 9;
    again.input = r#"{"transcript":"a later line"}"#.into();
    chunk.push(again);
    let mut rejected = records(4, 5).remove(0);
    rejected.rejected = Some("not JSON".into());
    chunk.push(rejected);
    assert_eq!(ledger.ingest(chunk).await.unwrap(), 4);
    // Another worker reads the same input, and one more line.
    assert_eq!(ledger.ingest(records(1, 6)).await.unwrap(), 1);
    assert_eq!(ledger.ingest(Vec::new()).await.unwrap(), 0);
    let rows = ledger.results(0, 100).await.unwrap();
    let summary: Vec<(u64, &str, RecordState, Option<&str>)> = rows
        .iter()
        .map(|r| (r.line, r.id.as_str(), r.state, r.error_message.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "r1", RecordState::Pending, None),
            (2, "r2", RecordState::Pending, None),
            (3, "r3", RecordState::Pending, None),
            (4, "r4", RecordState::Rejected, Some("not JSON")),
            (5, "r5", RecordState::Pending, None),
        ]
    );
    let claims = ledger.claim_for_create("w", NOW, HOUR, 10).await.unwrap();
    let r2 = claims.iter().find(|c| c.source_id == "r2").unwrap();
    assert_eq!(
        r2.input, r#"{"transcript":"call 2"}"#,
        "the first line wins"
    );
}

async fn each_transition_applies_from_its_states_only(store: Store) {
    let name = store.name;
    let ledger = store.open().await;
    assert_eq!(ledger.ingest(records(1, 4)).await.unwrap(), 3, "{name}");
    assert_eq!(
        ledger.ingest(records(1, 4)).await.unwrap(),
        0,
        "{name}: ingest again adds nothing"
    );
    let apply = |id: &str, t: Transition| ledger.apply(id, &kit(), t, NOW);

    // pending: a retry needs a creation under way.
    let retry = Transition::RetryCreate {
        retry_in: HOUR,
        error_code: "rate_limited".into(),
    };
    assert!(!apply("r1", retry.clone()).await.unwrap(), "{name}");
    let claimed = ledger.claim_for_create("w", NOW, HOUR, 10).await.unwrap();
    assert_eq!(claimed.len(), 3, "{name}");
    assert!(claimed.iter().all(|c| c.attempts == 1), "{name}");

    // creating -> pending (retry), -> accepted (created).
    assert!(apply("r2", retry.clone()).await.unwrap(), "{name}");
    assert!(
        !apply("r2", retry).await.unwrap(),
        "{name}: retry needs creating"
    );
    assert!(apply("r3", created("run-3", HOUR)).await.unwrap(), "{name}");
    assert!(
        !apply("r3", created("run-3b", HOUR)).await.unwrap(),
        "{name}: created once"
    );
    let polled = Transition::Polled {
        status: Some("running".into()),
        poll_in: HOUR,
    };
    assert!(apply("r3", polled.clone()).await.unwrap(), "{name}");
    // r3's next poll is an hour away; r2 may be created again in an hour, r1 (creating,
    // leased for an hour) taken over then.
    let due = ledger.next_due(NOW).await.unwrap();
    for due_in in [due.create_in_ms, due.poll_in_ms] {
        let due_in = due_in.expect("one of each is open");
        assert!((3_590_000..=3_600_000).contains(&due_in), "{name}: {due:?}");
    }
    assert!(
        !apply("r2", polled).await.unwrap(),
        "{name}: polled needs accepted"
    );

    // A webhook finishes a record only once its run exists.
    assert!(
        !ledger
            .finish_run("run-3b", terminal(TerminalState::Succeeded))
            .await
            .unwrap()
    );
    assert!(
        ledger
            .finish_run("run-3", terminal(TerminalState::Succeeded))
            .await
            .unwrap(),
        "{name}"
    );
    assert!(
        !ledger
            .finish_run("run-3", terminal(TerminalState::Failed))
            .await
            .unwrap(),
        "{name}: once"
    );
    assert!(
        !apply("r3", Transition::Finished(terminal(TerminalState::Failed)))
            .await
            .unwrap(),
        "{name}: a terminal record stays as it is"
    );
    // Any open record can end: the pending one and the one still being created.
    assert!(
        apply(
            "r2",
            Transition::Finished(terminal(TerminalState::Rejected))
        )
        .await
        .unwrap()
    );
    assert!(
        apply(
            "r1",
            Transition::Finished(terminal(TerminalState::Cancelled))
        )
        .await
        .unwrap()
    );

    let counts = ledger.counts().await.unwrap();
    assert_eq!(
        counts
            .states
            .iter()
            .map(|(s, n)| (*s, *n))
            .collect::<Vec<_>>(),
        [
            (RecordState::Succeeded, 1),
            (RecordState::Cancelled, 1),
            (RecordState::Rejected, 1)
        ],
        "{name}"
    );
    assert_eq!(counts.errors.get("kit_failed"), Some(&2), "{name}");
    assert_eq!(counts.credits_unknown, 1, "{name}: the run with an outcome");
    let rows = ledger.results(0, 10).await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.id.as_str(), r.state))
            .collect::<Vec<_>>(),
        [
            ("r1", RecordState::Cancelled),
            ("r2", RecordState::Rejected),
            ("r3", RecordState::Succeeded)
        ],
        "{name}: in input order"
    );
    assert_eq!(rows[2].output.as_deref(), Some(r#"{"ok":true}"#), "{name}");
    assert_eq!(rows[2].run_id.as_deref(), Some("run-3"), "{name}");
    assert!(!ledger.any_in(RecordState::OPEN).await.unwrap(), "{name}");
    assert_eq!(
        ledger.next_due(NOW).await.unwrap(),
        NextDue::default(),
        "{name}: nothing open"
    );
}

async fn two_workers_never_claim_the_same_record(store: Store) {
    let name = store.name;
    let one = store.open().await;
    // Two handles where the store allows two processes; one shared handle in SQLite,
    // whose file is one process's at a time.
    let two = if store.shared_clock {
        store.open().await
    } else {
        one.clone()
    };
    one.ingest(records(1, 301)).await.unwrap();
    let worker = |ledger: Arc<dyn Ledger>, id: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let claimed = ledger.claim_for_create(id, NOW, HOUR, 7).await.unwrap();
            if claimed.is_empty() {
                return mine;
            }
            mine.extend(claimed.into_iter().map(|c| c.source_id));
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(worker(one.clone(), "a")),
        tokio::spawn(worker(two, "b"))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let all: BTreeSet<&String> = a.iter().chain(&b).collect();
    assert_eq!(a.len() + b.len(), 300, "{name}: {} + {}", a.len(), b.len());
    assert_eq!(all.len(), 300, "{name}: no record claimed twice");
}

async fn a_lease_is_taken_over_only_once_it_expires(store: Store) {
    let name = store.name;
    let ledger = store.open().await;
    ledger.ingest(records(1, 3)).await.unwrap();
    let first = ledger.claim_for_create("a", NOW, HOUR, 1).await.unwrap();
    assert!(
        ledger.claim_for_create("b", NOW, HOUR, 1).await.unwrap()[0].source_id
            != first[0].source_id,
        "{name}: a live lease is not taken"
    );
    assert!(
        ledger
            .claim_for_create("b", NOW, HOUR, 5)
            .await
            .unwrap()
            .is_empty(),
        "{name}"
    );

    // A lease of nothing expires at once: its record goes to the next claimer, with the
    // same key and one more attempt.
    ledger.ingest(records(3, 4)).await.unwrap();
    let held = ledger
        .claim_for_create("a", NOW, Duration::ZERO, 1)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taken = ledger
        .claim_for_create("b", NOW + 5, HOUR, 1)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "{name}");
    assert_eq!(taken[0].source_id, held[0].source_id, "{name}");
    assert_eq!(taken[0].idempotency_key, held[0].idempotency_key, "{name}");
    assert_eq!(taken[0].attempts, 2, "{name}");
    let rows = ledger.results(0, 10).await.unwrap();
    assert_eq!(rows[2].created_by.as_deref(), Some("b"), "{name}");

    // Poll leases alike.
    assert!(
        ledger
            .apply(
                &taken[0].source_id,
                &kit(),
                created("run-x", Duration::ZERO),
                NOW
            )
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let polled = ledger
        .claim_for_poll("a", NOW + 10, Duration::ZERO, 5)
        .await
        .unwrap();
    assert_eq!(polled.len(), 1, "{name}");
    assert_eq!(
        (polled[0].run_id.as_str(), polled[0].polls),
        ("run-x", 1),
        "{name}"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = ledger.claim_for_poll("b", NOW + 20, HOUR, 5).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "{name}: an expired poll lease is taken over"
    );
    assert_eq!(again[0].polls, 2, "{name}");
    assert!(
        ledger
            .claim_for_poll("a", NOW + 30, HOUR, 5)
            .await
            .unwrap()
            .is_empty(),
        "{name}"
    );
}

async fn due_times_follow_the_stores_clock(store: Store) {
    let name = store.name;
    let ledger = store.open().await;
    ledger.ingest(records(1, 3)).await.unwrap();
    let claimed = ledger.claim_for_create("a", NOW, HOUR, 2).await.unwrap();
    assert_eq!(claimed.len(), 2, "{name}");
    let retry = Transition::RetryCreate {
        retry_in: Duration::from_secs(60),
        error_code: "rate_limited".into(),
    };
    assert!(
        ledger.apply("r1", &kit(), retry, NOW).await.unwrap(),
        "{name}"
    );
    let due = ledger.next_due(NOW).await.unwrap();
    assert_eq!(due.poll_in_ms, None, "{name}: nothing accepted");
    let due_in = due.create_in_ms.expect("r1 is open");
    // A worker whose clock runs two hours ahead.
    let ahead = NOW + 2 * 3_600_000;
    let retried = ledger.claim_for_create("b", ahead, HOUR, 5).await.unwrap();
    if store.shared_clock {
        // The database's clock: the retry is a minute away and r2's lease an hour,
        // whatever any worker's clock says.
        assert!(
            (59_000..=60_000).contains(&due_in),
            "{name}: due in {due_in} ms"
        );
        assert!(
            retried.is_empty(),
            "{name}: nothing is due by the database's clock"
        );
    } else {
        // The worker's clock, which owns the file: the retry is due a minute after it.
        assert_eq!(due_in, 60_000, "{name}");
        assert_eq!(retried.len(), 2, "{name}: two hours later both are due");
    }
}

/// A 429's pause stops every worker's creation claims until it ends (a shorter one never
/// shortens it), and creation slots are handed out one interval apart across workers,
/// after the pause.
async fn a_creation_pause_and_creation_slots_are_the_fleets(store: Store) {
    let name = store.name;
    let first = store.open().await;
    // A second worker where the store allows two processes (see the claim race).
    let second = if store.shared_clock {
        store.open().await
    } else {
        first.clone()
    };
    first.ingest(records(1, 4)).await.unwrap();
    let pause = Duration::from_millis(300);
    first.pause_creations(pause, NOW).await.unwrap();
    first
        .pause_creations(Duration::from_millis(10), NOW)
        .await
        .unwrap();
    assert!(
        second
            .claim_for_create("b", NOW, HOUR, 5)
            .await
            .unwrap()
            .is_empty(),
        "{name}: nothing is claimed during the pause"
    );
    let due_in = second
        .next_due(NOW)
        .await
        .unwrap()
        .create_in_ms
        .expect("open");
    assert!((200..=300).contains(&due_in), "{name}: due in {due_in} ms");
    // After the pause: the worker's clock moves on in SQLite, the database's in PostgreSQL.
    let now = match store.shared_clock {
        true => {
            tokio::time::sleep(pause + Duration::from_millis(50)).await;
            NOW
        }
        false => NOW + 301,
    };
    assert_eq!(
        second
            .claim_for_create("b", now, HOUR, 5)
            .await
            .unwrap()
            .len(),
        3,
        "{name}: every record is claimable once the pause ends"
    );
    let interval = Duration::from_millis(100);
    let ms = |d: Duration| d.as_millis();
    let a = first.reserve_creations(3, interval, now).await.unwrap();
    let b = second.reserve_creations(2, interval, now).await.unwrap();
    assert!(ms(a) <= 10, "{name}: the first slot is now, not {a:?}");
    // Three slots later, less the time between the two statements.
    assert!(
        (250..=300).contains(&ms(b)),
        "{name}: the other worker's first slot is in {b:?}"
    );
    // Slots wait for a pause too.
    first
        .pause_creations(Duration::from_secs(5), now)
        .await
        .unwrap();
    let c = second.reserve_creations(1, interval, now).await.unwrap();
    assert!(
        (4_900..=5_000).contains(&ms(c)),
        "{name}: the slot after the pause is in {c:?}"
    );
}

async fn replay_starts_a_new_generation_with_a_new_key(store: Store) {
    let name = store.name;
    let ledger = store.open().await;
    let mut input = records(1, 5);
    input.push(NewRecord {
        source_id: "#line-9".into(),
        kit: kit(),
        input: "{}".into(),
        line: 9,
        idempotency_key: derive_idempotency_key("#line-9", &kit(), "{}", 0),
        rejected: Some("line 9: not JSON".into()),
    });
    ledger.ingest(input).await.unwrap();
    ledger.claim_for_create("w", NOW, HOUR, 3).await.unwrap();
    let finish = |id: &'static str, state| {
        ledger.apply(id, &kit(), Transition::Finished(terminal(state)), NOW)
    };
    finish("r1", TerminalState::Succeeded).await.unwrap();
    finish("r2", TerminalState::Failed).await.unwrap();
    // r3 is still being created, r4 pending: in flight, never replayed.
    assert_eq!(
        ledger.replay(ReplaySelection::Failed).await.unwrap(),
        1,
        "{name}"
    );
    assert_eq!(
        ledger
            .replay(ReplaySelection::Ids(vec![
                "r1".into(),
                "r3".into(),
                "#line-9".into()
            ]))
            .await
            .unwrap(),
        1,
        "{name}: only the terminal r1; a malformed line is never replayed"
    );
    let rows = ledger.results(0, 10).await.unwrap();
    for row in &rows[..2] {
        let input = format!(r#"{{"transcript":"call {}"}}"#, row.line);
        assert_eq!(row.state, RecordState::Pending, "{name}");
        assert_eq!(
            row.idempotency_key,
            derive_idempotency_key(&row.id, &kit(), &input, 1),
            "{name}: generation 1's key"
        );
        assert_eq!((row.run_id.as_ref(), row.attempts), (None, 0), "{name}");
    }
    assert_eq!(rows[4].state, RecordState::Rejected, "{name}");
    // A second replay of the same record: generation 2.
    finish("r1", TerminalState::Cancelled).await.unwrap();
    ledger
        .replay(ReplaySelection::Ids(vec!["r1".into()]))
        .await
        .unwrap();
    let r1 = &ledger.results(0, 1).await.unwrap()[0];
    assert_eq!(
        r1.idempotency_key,
        derive_idempotency_key("r1", &kit(), r#"{"transcript":"call 1"}"#, 2),
        "{name}"
    );
}

/// A worker killed at each point of a record's life: its record comes back to the next
/// worker (after the lease, or at once when SQLite is reopened) with the same key, so a
/// creation that reached the API is replayed there, not duplicated.
async fn a_crash_at_any_point_resumes_with_the_same_key(store: Store) {
    let name = store.name;
    let ledger = store.open().await;
    ledger.ingest(records(1, 3)).await.unwrap();
    // Killed after claiming (whether or not the creation was sent).
    let claimed = ledger
        .claim_for_create("dead", NOW, Duration::ZERO, 1)
        .await
        .unwrap();
    drop(ledger);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let ledger = store.open().await;
    let resumed = ledger
        .claim_for_create("next", NOW + 5, HOUR, 1)
        .await
        .unwrap();
    assert_eq!(resumed[0].source_id, claimed[0].source_id, "{name}");
    assert_eq!(
        resumed[0].idempotency_key, claimed[0].idempotency_key,
        "{name}"
    );

    // Killed after recording the run, before any poll: the poller picks it up.
    ledger
        .apply("r1", &kit(), created("run-1", Duration::ZERO), NOW + 5)
        .await
        .unwrap();
    drop(ledger);
    let ledger = store.open().await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let polls = ledger
        .claim_for_poll("next", NOW + 10, Duration::ZERO, 5)
        .await
        .unwrap();
    assert_eq!(polls.len(), 1, "{name}");

    // Killed while polling: after the lease (or a reopen), polled again.
    drop(ledger);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let ledger = store.open().await;
    let polls = ledger
        .claim_for_poll("next", NOW + 20, HOUR, 5)
        .await
        .unwrap();
    assert_eq!(polls.len(), 1, "{name}");
    assert_eq!(polls[0].run_id, "run-1", "{name}");

    // Killed between a poll's answer and its record: the answer is applied once.
    let done = Transition::Finished(terminal(TerminalState::Succeeded));
    assert!(
        ledger.apply("r1", &kit(), done.clone(), NOW).await.unwrap(),
        "{name}"
    );
    assert!(
        !ledger.apply("r1", &kit(), done, NOW).await.unwrap(),
        "{name}"
    );
    // The other record was never touched: still pending, generation 0.
    let rows = ledger.results(0, 10).await.unwrap();
    assert_eq!(rows[1].state, RecordState::Pending, "{name}");
    assert_eq!(rows[1].attempts, 0, "{name}");
}

/// A ledger that counts the statements a worker sends through it: one a call, three for
/// `counts`, one a record for `ingest`.
#[derive(Debug)]
struct Counted {
    inner: Arc<dyn Ledger>,
    statements: std::sync::atomic::AtomicU64,
}

impl Counted {
    fn new(inner: Arc<dyn Ledger>) -> Arc<Self> {
        Arc::new(Counted {
            inner,
            statements: Default::default(),
        })
    }

    fn statements(&self) -> u64 {
        self.statements.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn sent(&self, n: u64) {
        self.statements
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Ledger for Counted {
    fn ingest(&self, records: Vec<NewRecord>) -> LedgerFuture<u64> {
        self.sent(records.len() as u64);
        self.inner.ingest(records)
    }
    fn claim_for_create(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<CreateClaim>> {
        self.sent(1);
        self.inner.claim_for_create(owner, now_ms, lease, limit)
    }
    fn claim_for_poll(
        &self,
        owner: &str,
        now_ms: i64,
        lease: Duration,
        limit: usize,
    ) -> LedgerFuture<Vec<PollClaim>> {
        self.sent(1);
        self.inner.claim_for_poll(owner, now_ms, lease, limit)
    }
    fn apply(&self, id: &str, kit: &Kit, t: Transition, now_ms: i64) -> LedgerFuture<bool> {
        self.sent(1);
        self.inner.apply(id, kit, t, now_ms)
    }
    fn finish_run(&self, run_id: &str, terminal: Terminal) -> LedgerFuture<bool> {
        self.sent(1);
        self.inner.finish_run(run_id, terminal)
    }
    fn counts(&self) -> LedgerFuture<LedgerCounts> {
        self.sent(3);
        self.inner.counts()
    }
    fn any_in(&self, states: &'static [RecordState]) -> LedgerFuture<bool> {
        self.sent(1);
        self.inner.any_in(states)
    }
    fn results(&self, after_line: u64, limit: usize) -> LedgerFuture<Vec<ResultRow>> {
        self.sent(1);
        self.inner.results(after_line, limit)
    }
    fn runs_without_credits(&self, limit: usize) -> LedgerFuture<Vec<RunRef>> {
        self.sent(1);
        self.inner.runs_without_credits(limit)
    }
    fn set_credits(&self, id: &str, kit: &Kit, credits: i64) -> LedgerFuture<()> {
        self.sent(1);
        self.inner.set_credits(id, kit, credits)
    }
    fn replay(&self, selection: ReplaySelection) -> LedgerFuture<u64> {
        self.sent(1);
        self.inner.replay(selection)
    }
    fn next_due(&self, now_ms: i64) -> LedgerFuture<NextDue> {
        self.sent(1);
        self.inner.next_due(now_ms)
    }
    fn watch(&self, wake: Wake) -> LedgerFuture<()> {
        self.inner.watch(wake)
    }
    fn pause_creations(&self, delay: Duration, now_ms: i64) -> LedgerFuture<()> {
        self.sent(1);
        self.inner.pause_creations(delay, now_ms)
    }
    fn reserve_creations(
        &self,
        count: usize,
        interval: Duration,
        now_ms: i64,
    ) -> LedgerFuture<Duration> {
        self.sent(1);
        self.inner.reserve_creations(count, interval, now_ms)
    }
}

/// Time `SPEED` times faster than real time, clock and sleeps alike (a virtual clock that
/// sleeps advance would run ahead twice as fast with two loops resting side by side).
#[derive(Debug)]
struct Fast;

const SPEED: u32 = 200;

impl Sleeper for Fast {
    fn sleep(&self, duration: Duration) -> semarize::runtime::BoxFuture<()> {
        Box::pin(tokio::time::sleep(duration / SPEED))
    }
}

/// A runtime on fast time, and the task that moves its clock.
fn fast_runtime() -> (Runtime, VirtualTime, tokio::task::JoinHandle<()>) {
    let time = VirtualTime::new();
    let clock = time.clone();
    let ticking = tokio::spawn(async move {
        let start = SystemClock.now();
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let target = start.elapsed() * SPEED;
            clock.advance(target.saturating_sub(clock.elapsed()));
        }
    });
    let runtime = Runtime::virtual_time(time.clone(), FixedJitter(0.5)).with_sleeper(Fast);
    (runtime, time, ticking)
}

/// A client of an API that is never called (the tests' workers have nothing to send).
fn unused_client(runtime: Runtime) -> semarize::Client {
    semarize::Client::builder()
        .api_key("smz_test_unused")
        .base_url("http://127.0.0.1:9")
        .runtime(runtime)
        .build()
        .unwrap()
}

/// Unix milliseconds now, for due times set up on the worker's clock (SQLite).
fn real_now_ms() -> i64 {
    SystemClock.now_utc().timestamp_millis()
}

/// A batch where nothing is due for an hour: three runs accepted (next poll in an hour)
/// and a record to create whose retry is an hour away.
async fn nothing_due_for_an_hour(ledger: &dyn Ledger) {
    let now = real_now_ms();
    ledger.ingest(records(1, 5)).await.unwrap();
    let claimed = ledger
        .claim_for_create("setup", now, HOUR, 4)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4);
    for n in 1..=3 {
        let run = format!("run-{n}");
        let accepted = ledger.apply(&format!("r{n}"), &kit(), created(&run, HOUR), now);
        assert!(accepted.await.unwrap());
    }
    let retry = Transition::RetryCreate {
        retry_in: HOUR,
        error_code: "rate_limited".into(),
    };
    assert!(ledger.apply("r4", &kit(), retry, now).await.unwrap());
}

/// An idle fleet costs at most one statement a second per worker: two workers (one in
/// SQLite, whose file is one process's), ten minutes of fast time with nothing due,
/// both loops of each alive. Each loop still looks at least every few seconds (work
/// that nothing announced is found), which the lower bound checks.
async fn an_idle_worker_costs_under_one_statement_a_second(store: Store) {
    let name = store.name;
    let setup = store.open().await;
    nothing_due_for_an_hour(setup.as_ref()).await;
    let workers = if store.shared_clock { 2 } else { 1 };
    let mut runs = Vec::new();
    for worker in 0..workers {
        let ledger = Counted::new(if store.shared_clock {
            store.open().await
        } else {
            setup.clone()
        });
        let (runtime, time, ticking) = fast_runtime();
        let engine = BatchEngine::new(
            ledger.clone(),
            unused_client(runtime),
            BatchOptions::default().worker_id(format!("idle-{worker}")),
            Arc::new(Progress::default()),
        );
        runs.push(async move {
            let ten_minutes = async {
                while time.elapsed() < Duration::from_secs(600) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            let end = engine.run_until(ten_minutes).await.unwrap();
            ticking.abort();
            (end, ledger.statements(), time.elapsed())
        });
    }
    for (end, statements, elapsed) in futures::future::join_all(runs).await {
        assert_eq!(end, RunEnd::Stopped, "{name}");
        // The start's counts are three statements.
        let idle = statements - 3;
        let seconds = elapsed.as_secs();
        eprintln!("{name}: {idle} statements in {seconds} s idle");
        assert!(idle <= seconds, "{name}: {idle} statements in {seconds} s");
        let looks = seconds / 5;
        assert!(
            idle >= 2 * looks,
            "{name}: {idle} statements in {seconds} s: the loops stopped looking"
        );
    }
}

/// Idle workers are woken, not left to their next look: on a clock that never moves (so
/// no rest ends by itself), a worker creates a record another process added, and ends
/// when another process finished the last open record.
async fn idle_workers_wake_when_work_appears_or_the_last_record_ends(store: Store) {
    let name = store.name;
    let emulator = Emulator::start(semarize_emulator::Config::default())
        .await
        .unwrap();
    let worker = store.open().await;
    let elsewhere = if store.shared_clock {
        store.open().await
    } else {
        worker.clone()
    };
    let now = real_now_ms();
    // r1 is being created by a worker that holds it for an hour; r2's run polls in an hour.
    elsewhere.ingest(records(1, 3)).await.unwrap();
    let claimed = elsewhere.claim_for_create("other", now, HOUR, 2).await;
    assert_eq!(claimed.unwrap().len(), 2);
    let accepted = elsewhere.apply("r2", &kit(), created("run-2", HOUR), now);
    assert!(accepted.await.unwrap());

    // Frozen: time never moves, and sleeps are real.
    let frozen = Runtime::virtual_time(VirtualTime::new(), FixedJitter(0.5))
        .with_sleeper(semarize::runtime::TokioSleeper);
    let client = semarize::Client::builder()
        .api_key(emulator.api_key())
        .base_url(emulator.base_url())
        .runtime(frozen)
        .build()
        .unwrap();
    let engine = BatchEngine::new(
        worker,
        client,
        BatchOptions::default()
            .worker_id("woken")
            .webhook_grace(HOUR),
        Arc::new(Progress::default()),
    );
    let others = async {
        // Let the worker find nothing and rest.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(emulator.control().runs().is_empty(), "{name}");
        elsewhere.ingest(records(3, 4)).await.unwrap();
        let deadline = SystemClock.now() + Duration::from_secs(30);
        while emulator.control().runs().is_empty() {
            assert!(
                SystemClock.now() < deadline,
                "{name}: the worker never woke for r3"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let r3_run = emulator.control().runs()[0].run_id.to_string();
        // The rest of the batch ends elsewhere; the last one wakes the worker.
        let rejected = Transition::Finished(terminal(TerminalState::Rejected));
        assert!(elsewhere.apply("r1", &kit(), rejected, now).await.unwrap());
        for run in ["run-2", r3_run.as_str()] {
            // The worker records r3's run right after creating it: finish it once it has.
            let deadline = SystemClock.now() + Duration::from_secs(30);
            while !elsewhere
                .finish_run(run, terminal(TerminalState::Succeeded))
                .await
                .unwrap()
            {
                assert!(SystemClock.now() < deadline, "{name}: {run}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let (ended, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(60), engine.run()),
        others
    );
    ended
        .unwrap_or_else(|_| panic!("{name}: the worker was never woken by the last record"))
        .unwrap();
    emulator.shutdown().await;
}
