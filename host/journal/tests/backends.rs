//! One suite of journal behaviour, run against every backend: SQLite in a
//! temporary file, and PostgreSQL in a database of its own on the server
//! `WEFT_TEST_PG` names (`make test` starts one, see tools/with-postgres.sh).
//! A case is written once, against `dyn Journal`; the `backends!` macro at
//! the end makes a test of it per backend, `sqlite::CASE` and
//! `postgres::CASE`.

use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use weft_domain::events::{Event, Record, RunState, RunStatus, StepStatus};
use weft_journal::{Journal, JournalError, RunMeta};

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A backend under test: a fresh, empty journal; a second handle on the
/// same storage (another process's, as it were); and how many blobs the
/// storage holds, asked of the database itself.
struct Subject {
    journal: Box<dyn Journal>,
    reopen: Box<dyn Fn() -> Boxed<Box<dyn Journal>> + Send + Sync>,
    blobs: Box<dyn Fn() -> Boxed<i64> + Send + Sync>,
    // Keeps a temporary directory alive as long as the subject.
    _keep: Option<tempfile::TempDir>,
}

fn meta(id: &str, created_ms: u64) -> RunMeta {
    RunMeta {
        id: id.into(),
        workflow: "w".into(),
        spec_path: Some("/specs/w.toml".into()),
        spec_text: "name = 'w'".into(),
        spec_digest: "d1gest".into(),
        input: json!({"x": 1, "nested": {"list": [1, "two", null]}}),
        created_ms,
    }
}

fn rec(at_ms: u64, event: Event) -> Record {
    Record { at_ms, event }
}

fn started(at_ms: u64, step: &str) -> Record {
    rec(at_ms, Event::StepStarted { step: step.into() })
}

fn finished(at_ms: u64, step: &str, output: Value) -> Record {
    rec(at_ms, Event::StepFinished { step: step.into(), status: StepStatus::Succeeded, output, error: None })
}

fn run_finished(at_ms: u64, status: RunStatus) -> Record {
    rec(at_ms, Event::RunFinished { status, output: json!({"done": true}), error: None })
}

// Ids as weft makes them (UUID v7 text), two sharing a prefix.
const RUN_A: &str = "0193a5b2-7c41-7d2e-9f00-0000000000a1";
const RUN_B: &str = "0193a5b2-7c41-7d2e-9f00-0000000000b2";
const RUN_C: &str = "0193a5c9-0000-7000-8000-0000000000c3";

async fn a_run_comes_back_as_it_was_created_and_appended(s: Subject) {
    let j = &s.journal;
    j.create_run(&meta(RUN_A, 7)).await.unwrap();
    let batch = [started(1, "a"), finished(2, "a", json!({"n": 1})), started(3, "b")];
    assert_eq!(j.append(RUN_A, 0, &batch).await.unwrap(), 3);
    let run = j.load(RUN_A).await.unwrap();
    assert_eq!(run.meta, meta(RUN_A, 7));
    assert_eq!(run.version, 3);
    assert_eq!(run.records, batch, "a batch goes in whole and in order, with its times");
    assert_eq!(run.finished(), None);
    // Another handle on the same storage sees the same run.
    let other = (s.reopen)().await;
    let again = other.load(RUN_A).await.unwrap();
    assert_eq!((again.meta, again.records, again.version), (run.meta, run.records, run.version));
}

async fn a_stale_writer_is_refused_and_leaves_nothing_behind(s: Subject) {
    let j = &s.journal;
    j.create_run(&meta(RUN_A, 1)).await.unwrap();
    assert_eq!(j.append(RUN_A, 0, &[started(1, "a")]).await.unwrap(), 1);
    let err = j.append(RUN_A, 0, &[started(2, "b"), started(3, "c")]).await.unwrap_err();
    assert!(matches!(err, JournalError::Conflict { expected: 0, found: 1, .. }), "{err}");
    let err = j.append(RUN_A, 5, &[started(2, "b")]).await.unwrap_err();
    assert!(matches!(err, JournalError::Conflict { expected: 5, found: 1, .. }), "{err}");
    let run = j.load(RUN_A).await.unwrap();
    assert_eq!((run.version, run.records.len()), (1, 1));
    // The writer that saw version 1 goes on.
    assert_eq!(j.append(RUN_A, 1, &[started(2, "b")]).await.unwrap(), 2);
}

async fn a_run_that_is_not_there_is_not_found(s: Subject) {
    let j = &s.journal;
    assert!(matches!(j.load(RUN_A).await.unwrap_err(), JournalError::NotFound(_)));
    let err = j.append(RUN_A, 0, &[started(1, "a")]).await.unwrap_err();
    assert!(matches!(err, JournalError::NotFound(_)), "{err}");
    assert!(j.list(10).await.unwrap().is_empty());
}

async fn a_run_is_created_once(s: Subject) {
    let j = &s.journal;
    j.create_run(&meta(RUN_A, 1)).await.unwrap();
    let err = j.create_run(&meta(RUN_A, 2)).await.unwrap_err();
    assert!(matches!(err, JournalError::Exists(_)), "{err}");
    assert_eq!(j.load(RUN_A).await.unwrap().meta.created_ms, 1, "the first one stays");
}

async fn a_large_output_is_stored_once_and_comes_back_whole(s: Subject) {
    let j = &s.journal;
    j.create_run(&meta(RUN_A, 1)).await.unwrap();
    let small = json!({"text": "short"});
    j.append(RUN_A, 0, &[finished(1, "small", small.clone())]).await.unwrap();
    assert_eq!((s.blobs)().await, 0, "a small output stays in its event");
    let big = json!({"text": "x".repeat(10_000), "n": [1, 2, 3]});
    j.append(RUN_A, 1, &[finished(2, "a", big.clone()), finished(3, "b", big.clone())]).await.unwrap();
    assert_eq!((s.blobs)().await, 1, "the same large output is stored once");
    let run = j.load(RUN_A).await.unwrap();
    let outputs: Vec<&Value> = run
        .records
        .iter()
        .map(|r| match &r.event {
            Event::StepFinished { output, .. } => output,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(outputs, [&small, &big, &big]);
}

async fn the_run_list_follows_each_runs_log(s: Subject) {
    let j = &s.journal;
    j.create_run(&meta(RUN_A, 10)).await.unwrap();
    j.create_run(&meta(RUN_B, 20)).await.unwrap();
    let list = j.list(10).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [RUN_B, RUN_A], "newest first");
    assert!(list.iter().all(|r| r.status == RunState::Running && r.finished_ms.is_none() && r.events == 0), "{list:?}");
    assert_eq!(j.list(1).await.unwrap().len(), 1, "at most the limit");

    j.append(RUN_A, 0, &[started(11, "a"), run_finished(15, RunStatus::Succeeded)]).await.unwrap();
    j.append(RUN_B, 0, &[run_finished(25, RunStatus::Failed)]).await.unwrap();
    let list = j.list(10).await.unwrap();
    let seen: Vec<(&str, RunState, Option<u64>, u64)> =
        list.iter().map(|r| (r.id.as_str(), r.status, r.finished_ms, r.events)).collect();
    assert_eq!(seen, [(RUN_B, RunState::Failed, Some(25), 1), (RUN_A, RunState::Succeeded, Some(15), 2)]);
    assert_eq!(list[1].started_ms, 10);
    assert_eq!(j.load(RUN_A).await.unwrap().finished(), Some(RunStatus::Succeeded));

    // Resumed, a run is running again; resumed and finished in one batch, it ends.
    j.append(RUN_A, 2, &[rec(30, Event::RunResumed { forced: false })]).await.unwrap();
    let a = j.list(10).await.unwrap().into_iter().find(|r| r.id == RUN_A).unwrap();
    assert_eq!(a.status, RunState::Running);
    assert_eq!(j.load(RUN_A).await.unwrap().finished(), None);
    j.append(RUN_B, 1, &[rec(40, Event::RunResumed { forced: true }), run_finished(41, RunStatus::Succeeded)])
        .await
        .unwrap();
    let b = j.list(10).await.unwrap().into_iter().find(|r| r.id == RUN_B).unwrap();
    assert_eq!((b.status, b.finished_ms), (RunState::Succeeded, Some(41)));
}

async fn a_run_is_found_by_a_prefix_of_its_id_that_names_it_alone(s: Subject) {
    let j = &s.journal;
    for (id, at) in [(RUN_A, 1), (RUN_B, 2), (RUN_C, 3)] {
        j.create_run(&meta(id, at)).await.unwrap();
    }
    assert_eq!(j.resolve_id(RUN_A).await.unwrap(), RUN_A, "the whole id");
    assert_eq!(j.resolve_id(&RUN_A[..RUN_A.len() - 1]).await.unwrap(), RUN_A);
    assert_eq!(j.resolve_id("0193a5c").await.unwrap(), RUN_C);
    let err = j.resolve_id("0193a5b2").await.unwrap_err();
    assert!(matches!(&err, JournalError::NotFound(m) if m.contains("ambiguous")), "{err}");
    let err = j.resolve_id("ffff").await.unwrap_err();
    assert!(matches!(&err, JournalError::NotFound(m) if !m.contains("ambiguous")), "{err}");
}

async fn concurrent_writers_of_one_version_have_exactly_one_winner(s: Subject) {
    let j = &s.journal;
    j.create_run(&meta(RUN_A, 1)).await.unwrap();
    let other = (s.reopen)().await;
    let (mine, theirs) = ([started(1, "mine")], [started(1, "theirs")]);
    let (a, b) = tokio::join!(j.append(RUN_A, 0, &mine), other.append(RUN_A, 0, &theirs));
    let won = [a.is_ok(), b.is_ok()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{a:?} {b:?}");
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(loser, Err(JournalError::Conflict { expected: 0, found: 1, .. })), "{loser:?}");
    assert_eq!(j.load(RUN_A).await.unwrap().version, 1);
}

fn sqlite(_case: &str) -> Subject {
    use weft_journal::sqlite::SqliteJournal;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/runs.db");
    let journal = SqliteJournal::open(&path).unwrap();
    let (p1, p2) = (path.clone(), path.clone());
    Subject {
        journal: Box::new(journal),
        reopen: Box::new(move || {
            let p = p1.clone();
            Box::pin(async move { Box::new(SqliteJournal::open(&p).unwrap()) as Box<dyn Journal> })
        }),
        blobs: Box::new(move || {
            let p = p2.clone();
            Box::pin(async move {
                let c = rusqlite::Connection::open(&p).unwrap();
                c.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).unwrap()
            })
        }),
        _keep: Some(dir),
    }
}

/// A database of its own on the `WEFT_TEST_PG` server, for `case`; `None`
/// (said on stderr) outside CI when no server is given.
async fn postgres(case: &str) -> Option<Subject> {
    use weft_journal::postgres::PostgresJournal;
    let Ok(base) = std::env::var("WEFT_TEST_PG") else {
        assert!(std::env::var_os("CI").is_none(), "WEFT_TEST_PG is not set: run the tests with `make test`");
        eprintln!(
            "postgres::{case}: skipped, WEFT_TEST_PG is not set (`make test` or tools/with-postgres.sh starts a server)"
        );
        return None;
    };
    let db = format!("journal_{case}_{}", std::process::id());
    let (admin, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    // One statement each: a multi-statement batch is one transaction, which
    // these may not run in.
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    drop(admin);
    let _ = conn.await;
    // postgresql://USER@HOST:PORT/weft?PARAMS -> the same, on database `db`.
    let (head, params) = base.split_once('?').map_or((base.as_str(), None), |(h, p)| (h, Some(p)));
    let (server, _) = head.rsplit_once('/').expect("the URL names a database");
    let url = params.map_or(format!("{server}/{db}"), |p| format!("{server}/{db}?{p}"));
    let journal = PostgresJournal::connect(&url).await.unwrap();
    let (u1, u2) = (url.clone(), url);
    Some(Subject {
        journal: Box::new(journal),
        reopen: Box::new(move || {
            let u = u1.clone();
            Box::pin(async move { Box::new(PostgresJournal::connect(&u).await.unwrap()) as Box<dyn Journal> })
        }),
        blobs: Box::new(move || {
            let u = u2.clone();
            Box::pin(async move {
                let (c, conn) = tokio_postgres::connect(&u, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                c.query_one("SELECT count(*) FROM blobs", &[]).await.unwrap().get(0)
            })
        }),
        _keep: None,
    })
}

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::sqlite(stringify!($case))).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(s) = super::postgres(stringify!($case)).await {
                        super::$case(s).await
                    }
                }
            )*
        }
    };
}

backends!(
    a_run_comes_back_as_it_was_created_and_appended,
    a_stale_writer_is_refused_and_leaves_nothing_behind,
    a_run_that_is_not_there_is_not_found,
    a_run_is_created_once,
    a_large_output_is_stored_once_and_comes_back_whole,
    the_run_list_follows_each_runs_log,
    a_run_is_found_by_a_prefix_of_its_id_that_names_it_alone,
    concurrent_writers_of_one_version_have_exactly_one_winner,
);
