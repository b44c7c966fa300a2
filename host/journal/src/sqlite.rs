//! The embedded journal: one SQLite file, WAL mode, full sync, numbered
//! migrations applied on open.

use super::{BLOB_REF, BLOB_THRESHOLD, Journal, JournalError, RunMeta, RunSummary, StoredRun, blob_ref, event_values};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use weft_domain::events::{Event, Record, RunStatus};

/// Numbered migrations; each runs once, in order, in its own transaction.
const MIGRATIONS: &[(u32, &str)] = &[(
    1,
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        spec_path TEXT,
        spec_text TEXT NOT NULL,
        spec_digest TEXT NOT NULL,
        input TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        -- A projection of the log, updated in the same transaction as the
        -- events it follows from, so listing runs needs no replay.
        status TEXT NOT NULL DEFAULT 'running',
        finished_ms INTEGER,
        version INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_created ON runs (created_ms DESC);
    CREATE TABLE events (
        run_id TEXT NOT NULL REFERENCES runs (id),
        seq INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        bytes BLOB NOT NULL
    ) WITHOUT ROWID;",
)];

/// A journal in one SQLite file.
#[derive(Clone)]
pub struct SqliteJournal {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

fn storage(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |e| JournalError::Storage { path: path.display().to_string(), message: e.to_string() }
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<SqliteJournal, JournalError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| JournalError::Storage {
                path: path.display().to_string(),
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let err = storage(path);
        // Processes opening the same new database at once take turns setting
        // it up (WAL mode, migrations) under an advisory lock.
        let lock_path = path.with_extension("db-setup.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|f| f.lock().map(|()| f))
            .map_err(|e| JournalError::Storage {
                path: path.display().to_string(),
                message: format!("cannot lock {}: {e}", lock_path.display()),
            })?;
        let mut conn = Connection::open(path).map_err(&err)?;
        // Other processes may hold the database: wait for them, from the first statement on.
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(&err)?;
        // WAL with full sync: a commit is on disk when it returns.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(&err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(&err)?;
        migrate(&mut conn).map_err(&err)?;
        drop(lock);
        Ok(SqliteJournal { path: path.to_path_buf(), conn: Arc::new(Mutex::new(conn)) })
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs SQLite's own integrity check; `Ok` when it says `ok`.
    pub fn integrity_check(&self) -> Result<(), JournalError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let verdict: String =
            conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(storage(&self.path))?;
        if verdict == "ok" { Ok(()) } else { Err(JournalError::Corrupt(verdict)) }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Path) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c, &path)
        })
        .await
        .map_err(|e| JournalError::Storage { path: self.path.display().to_string(), message: e.to_string() })?
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done: Option<u32> = conn
            .query_row("SELECT version FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
            .optional()?;
        if done.is_some() {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_migrations (version, applied_ms) VALUES (?1, ?2)", params![version, now_ms()])?;
        tx.commit()?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Moves a large value into the blob table, leaving a reference.
fn externalize(tx: &rusqlite::Transaction<'_>, v: &mut Value) -> rusqlite::Result<()> {
    let text = v.to_string();
    if text.len() <= BLOB_THRESHOLD {
        return Ok(());
    }
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    tx.execute("INSERT OR IGNORE INTO blobs (hash, bytes) VALUES (?1, ?2)", params![hash, text.as_bytes()])?;
    *v = serde_json::json!({ BLOB_REF: hash });
    Ok(())
}

/// Puts a blob's value back where its reference is.
fn internalize(conn: &Connection, v: &mut Value) -> Result<(), JournalError> {
    let Some(hash) = blob_ref(v) else {
        return Ok(());
    };
    let bytes: Vec<u8> = conn
        .query_row("SELECT bytes FROM blobs WHERE hash = ?1", [hash], |r| r.get(0))
        .map_err(|e| JournalError::Corrupt(format!("blob {hash}: {e}")))?;
    *v = serde_json::from_slice(&bytes).map_err(|e| JournalError::Corrupt(format!("blob {hash}: {e}")))?;
    Ok(())
}

#[async_trait]
impl Journal for SqliteJournal {
    async fn create_run(&self, meta: &RunMeta) -> Result<(), JournalError> {
        let meta = meta.clone();
        self.blocking(move |c, path| {
            let exists: Option<String> =
                c.query_row("SELECT id FROM runs WHERE id = ?1", [&meta.id], |r| r.get(0)).optional().map_err(storage(path))?;
            if exists.is_some() {
                return Err(JournalError::Exists(meta.id));
            }
            let tx = c.transaction().map_err(storage(path))?;
            let mut input = meta.input.clone();
            externalize(&tx, &mut input).map_err(storage(path))?;
            tx.execute(
                "INSERT INTO runs (id, workflow, spec_path, spec_text, spec_digest, input, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![meta.id, meta.workflow, meta.spec_path, meta.spec_text, meta.spec_digest, input.to_string(), meta.created_ms as i64],
            )
            .map_err(storage(path))?;
            tx.commit().map_err(storage(path))
        })
        .await
    }

    async fn append(&self, run_id: &str, expected_version: u64, records: &[Record]) -> Result<u64, JournalError> {
        let run_id = run_id.to_string();
        let records = records.to_vec();
        self.blocking(move |c, path| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(storage(path))?;
            let found: Option<i64> = tx
                .query_row("SELECT version FROM runs WHERE id = ?1", [&run_id], |r| r.get(0))
                .optional()
                .map_err(storage(path))?;
            let found = found.ok_or_else(|| JournalError::NotFound(run_id.clone()))? as u64;
            if found != expected_version {
                return Err(JournalError::Conflict { run: run_id, expected: expected_version, found });
            }
            let mut version = found;
            let mut finished: Option<(RunStatus, u64)> = None;
            let mut resumed = false;
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO events (run_id, seq, at_ms, body) VALUES (?1, ?2, ?3, ?4)")
                    .map_err(storage(path))?;
                for r in records {
                    let mut r = r;
                    for v in event_values(&mut r.event) {
                        externalize(&tx, v).map_err(storage(path))?;
                    }
                    match &r.event {
                        Event::RunFinished { status, .. } => finished = Some((*status, r.at_ms)),
                        Event::RunResumed { .. } => {
                            resumed = true;
                            finished = None;
                        }
                        _ => {}
                    }
                    version += 1;
                    let body = serde_json::to_string(&r.event).map_err(|e| JournalError::Corrupt(e.to_string()))?;
                    insert.execute(params![run_id, version as i64, r.at_ms as i64, body]).map_err(storage(path))?;
                }
            }
            tx.execute("UPDATE runs SET version = ?2 WHERE id = ?1", params![run_id, version as i64])
                .map_err(storage(path))?;
            if resumed {
                tx.execute("UPDATE runs SET status = 'running', finished_ms = NULL WHERE id = ?1", [&run_id])
                    .map_err(storage(path))?;
            }
            if let Some((status, at)) = finished {
                let s = match status {
                    RunStatus::Succeeded => "succeeded",
                    RunStatus::Failed => "failed",
                };
                tx.execute(
                    "UPDATE runs SET status = ?2, finished_ms = ?3 WHERE id = ?1",
                    params![run_id, s, at as i64],
                )
                .map_err(storage(path))?;
            }
            tx.commit().map_err(storage(path))?;
            Ok(version)
        })
        .await
    }

    async fn load(&self, run_id: &str) -> Result<StoredRun, JournalError> {
        let run_id = run_id.to_string();
        self.blocking(move |c, path| {
            let row = c
                .query_row(
                    "SELECT workflow, spec_path, spec_text, spec_digest, input, created_ms, version FROM runs WHERE id = ?1",
                    [&run_id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    },
                )
                .optional()
                .map_err(storage(path))?
                .ok_or_else(|| JournalError::NotFound(run_id.clone()))?;
            let (workflow, spec_path, spec_text, spec_digest, input, created_ms, version) = row;
            let mut input: Value = serde_json::from_str(&input).map_err(|e| JournalError::Corrupt(e.to_string()))?;
            internalize(c, &mut input)?;
            let mut stmt = c.prepare("SELECT at_ms, body FROM events WHERE run_id = ?1 ORDER BY seq").map_err(storage(path))?;
            let rows = stmt
                .query_map([&run_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(storage(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage(path))?;
            let mut records = Vec::with_capacity(rows.len());
            for (at, body) in rows {
                let mut event: Event = serde_json::from_str(&body).map_err(|e| JournalError::Corrupt(format!("event of {run_id}: {e}")))?;
                for v in event_values(&mut event) {
                    internalize(c, v)?;
                }
                records.push(Record { at_ms: at as u64, event });
            }
            Ok(StoredRun {
                meta: RunMeta { id: run_id, workflow, spec_path, spec_text, spec_digest, input, created_ms: created_ms as u64 },
                records,
                version: version as u64,
            })
        })
        .await
    }

    async fn list(&self, limit: usize) -> Result<Vec<RunSummary>, JournalError> {
        self.blocking(move |c, path| {
            let mut stmt = c
                .prepare("SELECT id, workflow, status, created_ms, finished_ms, version FROM runs ORDER BY created_ms DESC, id DESC LIMIT ?1")
                .map_err(storage(path))?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok(RunSummary {
                        id: r.get(0)?,
                        workflow: r.get(1)?,
                        status: r.get::<_, String>(2)?.parse().map_err(|e: String| {
                            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
                        })?,
                        started_ms: r.get::<_, i64>(3)? as u64,
                        finished_ms: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                        events: r.get::<_, i64>(5)? as u64,
                    })
                })
                .map_err(storage(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage(path))?;
            Ok(rows)
        })
        .await
    }

    async fn resolve_id(&self, prefix: &str) -> Result<String, JournalError> {
        let prefix = prefix.to_string();
        self.blocking(move |c, path| {
            let mut stmt = c
                .prepare("SELECT id FROM runs WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 2")
                .map_err(storage(path))?;
            let ids = stmt
                .query_map([&prefix], |r| r.get::<_, String>(0))
                .map_err(storage(path))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage(path))?;
            match ids.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(JournalError::NotFound(prefix)),
                _ => Err(JournalError::NotFound(format!("{prefix} (ambiguous: give more of the id)"))),
            }
        })
        .await
    }
}
