//! The shared journal: PostgreSQL, for many workers on many machines.
//!
//! The same append-only event log as SQLite, with the same optimistic
//! versioning, plus the work queue the workers share: step attempts claimed
//! with `FOR UPDATE SKIP LOCKED` under a lease, runs claimed for
//! orchestration the same way, skills stored by content hash, and
//! `LISTEN`/`NOTIFY` to wake workers (with polling as the fallback).

use super::{BLOB_REF, BLOB_THRESHOLD, Journal, JournalError, RunMeta, RunSummary, StoredRun, blob_ref, event_values};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use std::time::Duration;
use tokio_postgres::NoTls;
use weft_domain::events::{Event, Record, RunStatus};

/// Numbered migrations, applied in order on start, each once.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        spec_path TEXT,
        spec_text TEXT NOT NULL,
        spec_digest TEXT NOT NULL,
        input JSONB NOT NULL,
        created_ms BIGINT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        finished_ms BIGINT,
        version BIGINT NOT NULL DEFAULT 0,
        -- Files the spec refers to (path as resolved on submission -> blob hash),
        -- so a worker elsewhere can orchestrate a detached run.
        files JSONB NOT NULL DEFAULT '{}',
        -- Detached runs wait for a worker to orchestrate them, under a lease.
        detached BOOLEAN NOT NULL DEFAULT false,
        lease_owner TEXT,
        lease_until TIMESTAMPTZ
    );
    CREATE INDEX runs_by_created ON runs (created_ms DESC);
    CREATE INDEX runs_to_orchestrate ON runs (status, detached);
    CREATE TABLE events (
        run_id TEXT NOT NULL REFERENCES runs (id),
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        body JSONB NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE blobs (hash TEXT PRIMARY KEY, bytes BYTEA NOT NULL);
    CREATE TABLE attempts (
        id BIGSERIAL PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id),
        step TEXT NOT NULL,
        attempt INT NOT NULL,
        skill TEXT NOT NULL,
        input TEXT NOT NULL,
        options JSONB NOT NULL,
        state TEXT NOT NULL DEFAULT 'ready',
        lease_owner TEXT,
        lease_until TIMESTAMPTZ,
        result JSONB,
        worker TEXT,
        UNIQUE (run_id, step, attempt)
    );
    CREATE INDEX attempts_to_claim ON attempts (state, id);",
    ),
    (
        2,
        // Whether an orchestrator has read the attempt's result: an attempt
        // submitted again after that (a failed run resumed) runs again,
        // while one whose result nobody read (its orchestrator died) is
        // picked up as it is.
        "ALTER TABLE attempts ADD COLUMN consumed BOOLEAN NOT NULL DEFAULT false;",
    ),
];

/// A journal (and work queue) in PostgreSQL.
#[derive(Clone)]
pub struct PostgresJournal {
    url: String,
    pool: Pool,
}

fn storage(url: &str) -> impl Fn(tokio_postgres::Error) -> JournalError + '_ {
    move |e| JournalError::Storage { path: redact(url), message: e.to_string() }
}

fn pool_err(url: &str) -> impl Fn(deadpool_postgres::PoolError) -> JournalError + '_ {
    move |e| JournalError::Storage { path: redact(url), message: e.to_string() }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// An attempt claimed from the queue.
#[derive(Debug, Clone)]
pub struct ClaimedAttempt {
    /// Its row.
    pub id: i64,
    /// The run.
    pub run_id: String,
    /// The step's path.
    pub step: String,
    /// The attempt number.
    pub attempt: i32,
    /// The skill's BLAKE3 digest.
    pub skill: String,
    /// The input (JSON text).
    pub input: String,
    /// Limits and grants.
    pub options: Value,
}

impl PostgresJournal {
    /// Connects to `url` (`postgres://...`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<PostgresJournal, JournalError> {
        let config: tokio_postgres::Config = url.parse().map_err(storage(url))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| JournalError::Storage { path: redact(url), message: e.to_string() })?;
        let j = PostgresJournal { url: url.to_string(), pool };
        j.migrate().await?;
        Ok(j)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, JournalError> {
        self.pool.get().await.map_err(pool_err(&self.url))
    }

    async fn migrate(&self) -> Result<(), JournalError> {
        let mut c = self.client().await?;
        let err = storage(&self.url);
        let tx = c.transaction().await.map_err(&err)?;
        // One migrator at a time, across every process.
        tx.execute("SELECT pg_advisory_xact_lock(7377060)", &[]).await.map_err(&err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())")
            .await
            .map_err(&err)?;
        for (version, sql) in MIGRATIONS {
            let done = tx
                .query_opt("SELECT version FROM schema_migrations WHERE version = $1", &[version])
                .await
                .map_err(&err)?;
            if done.is_none() {
                tx.batch_execute(sql).await.map_err(&err)?;
                tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).await.map_err(&err)?;
            }
        }
        tx.commit().await.map_err(&err)
    }

    /// Stores `bytes` under their BLAKE3 digest (once) and returns the digest.
    pub async fn put_blob(&self, bytes: &[u8]) -> Result<String, JournalError> {
        let hash = blake3::hash(bytes).to_hex().to_string();
        let c = self.client().await?;
        let err = storage(&self.url);
        let insert = c
            .prepare_cached("INSERT INTO blobs (hash, bytes) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .await
            .map_err(&err)?;
        c.execute(&insert, &[&hash, &bytes]).await.map_err(&err)?;
        Ok(hash)
    }

    /// The bytes stored under `hash`, checked against it.
    pub async fn get_blob(&self, hash: &str) -> Result<Vec<u8>, JournalError> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT bytes FROM blobs WHERE hash = $1", &[&hash])
            .await
            .map_err(storage(&self.url))?
            .ok_or_else(|| JournalError::Corrupt(format!("no blob {hash}")))?;
        let bytes: Vec<u8> = row.get(0);
        if blake3::hash(&bytes).to_hex().as_str() != hash {
            return Err(JournalError::Corrupt(format!("blob {hash} does not match its hash")));
        }
        Ok(bytes)
    }

    async fn externalize(&self, v: &mut Value) -> Result<(), JournalError> {
        let text = v.to_string();
        if text.len() > BLOB_THRESHOLD {
            let hash = self.put_blob(text.as_bytes()).await?;
            *v = serde_json::json!({ BLOB_REF: hash });
        }
        Ok(())
    }

    async fn internalize(&self, v: &mut Value) -> Result<(), JournalError> {
        if let Some(hash) = blob_ref(v) {
            let bytes = self.get_blob(hash).await?;
            *v = serde_json::from_slice(&bytes).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        }
        Ok(())
    }

    /// Marks a run as detached (waiting for a worker to orchestrate it) and
    /// records the files its spec refers to.
    pub async fn detach(&self, run_id: &str, files: &Value) -> Result<(), JournalError> {
        let c = self.client().await?;
        c.execute("UPDATE runs SET detached = true, files = $2 WHERE id = $1", &[&run_id, files])
            .await
            .map_err(storage(&self.url))?;
        c.execute("NOTIFY weft_work", &[]).await.map_err(storage(&self.url))?;
        Ok(())
    }

    /// Records the files a run's spec refers to, so that it can be resumed
    /// where they are not at hand.
    pub async fn record_files(&self, run_id: &str, files: &Value) -> Result<(), JournalError> {
        let c = self.client().await?;
        c.execute("UPDATE runs SET files = $2 WHERE id = $1", &[&run_id, files]).await.map_err(storage(&self.url))?;
        Ok(())
    }

    /// The files a run's spec refers to.
    pub async fn files(&self, run_id: &str) -> Result<Value, JournalError> {
        let c = self.client().await?;
        let row = c.query_opt("SELECT files FROM runs WHERE id = $1", &[&run_id]).await.map_err(storage(&self.url))?;
        Ok(row.map(|r| r.get::<_, Value>(0)).unwrap_or(Value::Null))
    }

    /// Claims a detached, unfinished run whose orchestration lease is free or expired.
    pub async fn claim_run(&self, owner: &str, lease: Duration) -> Result<Option<String>, JournalError> {
        let c = self.client().await?;
        let secs = lease.as_secs_f64();
        let row = c
            .query_opt(
                "UPDATE runs SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
                 WHERE id = (SELECT id FROM runs WHERE detached AND status = 'running'
                               AND (lease_until IS NULL OR lease_until < now())
                             ORDER BY created_ms FOR UPDATE SKIP LOCKED LIMIT 1)
                 RETURNING id",
                &[&owner, &secs],
            )
            .await
            .map_err(storage(&self.url))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Extends the lease on a run this owner orchestrates; false if it was lost.
    pub async fn renew_run(&self, run_id: &str, owner: &str, lease: Duration) -> Result<bool, JournalError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE runs SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2",
                &[&run_id, &owner, &lease.as_secs_f64()],
            )
            .await
            .map_err(storage(&self.url))?;
        Ok(n == 1)
    }

    /// Enqueues an attempt. The same run, step and attempt number is the
    /// same row: one submitted before whose result nobody has read yet (its
    /// orchestrator died) is picked up as it is, running or done; one whose
    /// result was read (a failed run resumed), or that now runs something
    /// else, is queued afresh.
    pub async fn submit_attempt(
        &self,
        run_id: &str,
        step: &str,
        attempt: i32,
        skill: &str,
        input: &str,
        options: &Value,
    ) -> Result<i64, JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        // One statement, so one round trip and one commit: queue (or find)
        // the attempt and wake the workers.
        let submit = c
            .prepare_cached(
                "WITH queued AS (
                   INSERT INTO attempts (run_id, step, attempt, skill, input, options) VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (run_id, step, attempt) DO UPDATE
                     SET skill = EXCLUDED.skill, input = EXCLUDED.input, options = EXCLUDED.options, state = 'ready',
                         result = NULL, consumed = false, lease_owner = NULL, lease_until = NULL, worker = NULL
                     WHERE attempts.consumed OR attempts.skill <> EXCLUDED.skill OR attempts.input <> EXCLUDED.input
                           OR attempts.options <> EXCLUDED.options
                   RETURNING id),
                 found AS (
                   SELECT id FROM queued
                   UNION ALL SELECT id FROM attempts WHERE run_id = $1 AND step = $2 AND attempt = $3
                   LIMIT 1)
                 SELECT id, pg_notify('weft_work', '')::text FROM found",
            )
            .await
            .map_err(&err)?;
        let row = c.query_one(&submit, &[&run_id, &step, &attempt, &skill, &input, options]).await.map_err(&err)?;
        Ok(row.get(0))
    }

    /// The result of attempt `id`, once done (which marks it as read).
    pub async fn attempt_result(&self, id: i64) -> Result<Option<Value>, JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        let read = c
            .prepare_cached("UPDATE attempts SET consumed = true WHERE id = $1 AND state = 'done' RETURNING result")
            .await
            .map_err(&err)?;
        let row = c.query_opt(&read, &[&id]).await.map_err(&err)?;
        Ok(row.and_then(|r| r.get::<_, Option<Value>>(0)))
    }

    /// Claims up to `most` of the oldest attempts that are ready, or whose
    /// lease expired, in one statement.
    pub async fn claim_attempts(
        &self,
        owner: &str,
        lease: Duration,
        most: usize,
    ) -> Result<Vec<ClaimedAttempt>, JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        let claim = c
            .prepare_cached(
                "UPDATE attempts SET state = 'claimed', lease_owner = $1, worker = $1,
                        lease_until = now() + make_interval(secs => $2)
                 WHERE id IN (SELECT id FROM attempts
                              WHERE state = 'ready' OR (state = 'claimed' AND lease_until < now())
                              ORDER BY id FOR UPDATE SKIP LOCKED LIMIT $3)
                 RETURNING id, run_id, step, attempt, skill, input, options",
            )
            .await
            .map_err(&err)?;
        let rows = c.query(&claim, &[&owner, &lease.as_secs_f64(), &(most as i64)]).await.map_err(&err)?;
        let mut claims: Vec<ClaimedAttempt> = rows
            .iter()
            .map(|r| ClaimedAttempt {
                id: r.get(0),
                run_id: r.get(1),
                step: r.get(2),
                attempt: r.get(3),
                skill: r.get(4),
                input: r.get(5),
                options: r.get(6),
            })
            .collect();
        // Oldest first, as queued.
        claims.sort_by_key(|c| c.id);
        Ok(claims)
    }

    /// Extends the lease on a claimed attempt; false if it was lost.
    pub async fn renew_attempt(&self, id: i64, owner: &str, lease: Duration) -> Result<bool, JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        let renew = c
            .prepare_cached(
                "UPDATE attempts SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2 AND state = 'claimed'",
            )
            .await
            .map_err(&err)?;
        let n = c.execute(&renew, &[&id, &owner, &lease.as_secs_f64()]).await.map_err(&err)?;
        Ok(n == 1)
    }

    /// Records an attempt's result, if this owner still holds it.
    pub async fn complete_attempt(&self, id: i64, owner: &str, result: &Value) -> Result<bool, JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        // One statement: record the result and, if this owner still held the
        // attempt, wake its orchestrator (the payload names the attempt).
        let complete = c
            .prepare_cached(
                "WITH done AS (
                   UPDATE attempts SET state = 'done', result = $3, lease_until = NULL
                   WHERE id = $1 AND lease_owner = $2 AND state = 'claimed' RETURNING id)
                 SELECT pg_notify('weft_done', id::text)::text FROM done",
            )
            .await
            .map_err(&err)?;
        let rows = c.query(&complete, &[&id, &owner, result]).await.map_err(&err)?;
        Ok(rows.len() == 1)
    }

    /// Gives a claimed attempt back to the queue (graceful shutdown).
    pub async fn release_attempt(&self, id: i64, owner: &str) -> Result<(), JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        c.execute(
            "UPDATE attempts SET state = 'ready', lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND state = 'claimed'",
            &[&id, &owner],
        )
        .await
        .map_err(&err)?;
        c.execute("NOTIFY weft_work", &[]).await.map_err(&err)?;
        Ok(())
    }

    /// Which worker ran each finished attempt of a run (for tests and `weft runs show`).
    pub async fn attempt_workers(&self, run_id: &str) -> Result<Vec<(String, i32, String)>, JournalError> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT step, attempt, coalesce(worker, '') FROM attempts WHERE run_id = $1 AND state = 'done' ORDER BY id", &[&run_id])
            .await
            .map_err(storage(&self.url))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Listens for `NOTIFY` on `channels` on a connection of its own, and
    /// calls `on` for each notification (and with [`ListenEvent::Listening`]
    /// each time the listening starts, since notifications sent while it was
    /// down are lost). The connection is reopened with a backoff when it
    /// fails, and closed when the returned [`Listener`] is dropped. Polling
    /// must cover what is lost in between.
    pub fn listen(&self, channels: &[&str], on: impl Fn(ListenEvent) + Send + Sync + 'static) -> Listener {
        let url = self.url.clone();
        let sql: String = channels.iter().map(|c| format!("LISTEN {c};")).collect();
        let task = tokio::spawn(async move {
            let mut backoff = LISTEN_BACKOFF.0;
            loop {
                if listen_once(&url, &sql, &on).await {
                    // It was listening: the next failure starts the backoff afresh.
                    backoff = LISTEN_BACKOFF.0;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LISTEN_BACKOFF.1);
            }
        });
        Listener { task }
    }

    /// Gives up the orchestration lease on a run (graceful shutdown), so
    /// another worker can take it over at once.
    pub async fn release_run(&self, run_id: &str, owner: &str) -> Result<(), JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        c.execute(
            "UPDATE runs SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2",
            &[&run_id, &owner],
        )
        .await
        .map_err(&err)?;
        c.execute("NOTIFY weft_work", &[]).await.map_err(&err)?;
        Ok(())
    }

    /// Whether a run is detached, and who orchestrates it now.
    pub async fn orchestration(&self, run_id: &str) -> Result<Orchestration, JournalError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT detached, CASE WHEN lease_until > now() THEN lease_owner END FROM runs WHERE id = $1",
                &[&run_id],
            )
            .await
            .map_err(storage(&self.url))?
            .ok_or_else(|| JournalError::NotFound(run_id.to_string()))?;
        Ok(Orchestration { detached: row.get(0), owner: row.get(1) })
    }

    /// Wakes idle workers: there may be work for them.
    pub async fn wake_workers(&self) -> Result<(), JournalError> {
        let c = self.client().await?;
        c.execute("NOTIFY weft_work", &[]).await.map_err(storage(&self.url))?;
        Ok(())
    }
}

/// The first and the longest wait before reopening a failed `LISTEN` connection.
const LISTEN_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// Opens a connection, listens, and passes notifications to `on` until the
/// connection ends; true if it got as far as listening.
async fn listen_once(url: &str, sql: &str, on: &(impl Fn(ListenEvent) + Send + Sync)) -> bool {
    use futures::StreamExt;
    let Ok(config) = url.parse::<tokio_postgres::Config>() else { return false };
    let Ok((client, mut connection)) = config.connect(NoTls).await else { return false };
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listen = client.batch_execute(sql);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            r = &mut listen, if !listening => {
                if r.is_err() {
                    return false;
                }
                listening = true;
                on(ListenEvent::Listening);
            }
            m = messages.next() => match m {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    on(ListenEvent::Notification { channel: n.channel().to_string(), payload: n.payload().to_string() });
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return listening,
            }
        }
    }
}

/// What a [`PostgresJournal::listen`] callback hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenEvent {
    /// The connection is (again) listening; anything sent before may have been missed.
    Listening,
    /// A `NOTIFY` on one of the channels.
    Notification {
        /// The channel.
        channel: String,
        /// Its payload.
        payload: String,
    },
}

/// A `LISTEN` connection; dropping it closes the connection.
#[derive(Debug)]
pub struct Listener {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Who orchestrates a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orchestration {
    /// Whether it was submitted with `--detach` (workers orchestrate it).
    pub detached: bool,
    /// The worker holding its orchestration lease, while the lease lasts.
    pub owner: Option<String>,
}

#[async_trait]
impl Journal for PostgresJournal {
    async fn create_run(&self, meta: &RunMeta) -> Result<(), JournalError> {
        let mut input = meta.input.clone();
        self.externalize(&mut input).await?;
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO runs (id, workflow, spec_path, spec_text, spec_digest, input, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO NOTHING",
                &[&meta.id, &meta.workflow, &meta.spec_path, &meta.spec_text, &meta.spec_digest, &input, &(meta.created_ms as i64)],
            )
            .await
            .map_err(storage(&self.url))?;
        if n == 0 {
            return Err(JournalError::Exists(meta.id.clone()));
        }
        Ok(())
    }

    async fn append(&self, run_id: &str, expected_version: u64, records: &[Record]) -> Result<u64, JournalError> {
        let mut prepared = Vec::with_capacity(records.len());
        for r in records {
            let mut r = r.clone();
            for v in event_values(&mut r.event) {
                self.externalize(v).await?;
            }
            prepared.push(r);
        }
        let mut finished: Option<(RunStatus, u64)> = None;
        let mut resumed = false;
        let (mut seqs, mut ats, mut bodies) = (Vec::new(), Vec::new(), Vec::new());
        for (i, r) in prepared.iter().enumerate() {
            match &r.event {
                Event::RunFinished { status, .. } => finished = Some((*status, r.at_ms)),
                Event::RunResumed { .. } => {
                    resumed = true;
                    finished = None;
                }
                _ => {}
            }
            seqs.push((expected_version + 1 + i as u64) as i64);
            ats.push(r.at_ms as i64);
            bodies.push(serde_json::to_value(&r.event).map_err(|e| JournalError::Corrupt(e.to_string()))?);
        }
        let version = expected_version + prepared.len() as u64;
        let status = finished.map(|(s, _)| match s {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        });
        let finished_ms = finished.map(|(_, at)| at as i64);
        let c = self.client().await?;
        let err = storage(&self.url);
        // One statement, so one round trip and one commit: move the version
        // on if it is still the expected one (optimistic versioning), insert
        // the events under it, update the run's status, and say when the
        // run finished.
        let append = c
            .prepare_cached(
                "WITH moved AS (
                   UPDATE runs SET version = $3,
                     status = CASE WHEN $7::text IS NOT NULL THEN $7::text WHEN $9 THEN 'running' ELSE status END,
                     finished_ms = CASE WHEN $7::text IS NOT NULL THEN $8::bigint WHEN $9 THEN NULL ELSE finished_ms END,
                     lease_owner = CASE WHEN $7::text IS NOT NULL THEN NULL ELSE lease_owner END,
                     lease_until = CASE WHEN $7::text IS NOT NULL THEN NULL ELSE lease_until END
                   WHERE id = $1 AND version = $2
                   RETURNING id),
                 appended AS (
                   INSERT INTO events (run_id, seq, at_ms, body)
                   SELECT moved.id, e.seq, e.at_ms, e.body
                   FROM moved, unnest($4::bigint[], $5::bigint[], $6::jsonb[]) AS e(seq, at_ms, body))
                 SELECT moved.id, CASE WHEN $7::text IS NOT NULL THEN pg_notify('weft_run_finished', moved.id)::text END
                 FROM moved",
            )
            .await
            .map_err(&err)?;
        let moved = c
            .query_opt(
                &append,
                &[
                    &run_id,
                    &(expected_version as i64),
                    &(version as i64),
                    &seqs,
                    &ats,
                    &bodies,
                    &status,
                    &finished_ms,
                    &resumed,
                ],
            )
            .await
            .map_err(&err)?;
        if moved.is_none() {
            let row = c.query_opt("SELECT version FROM runs WHERE id = $1", &[&run_id]).await.map_err(&err)?;
            let found = row.ok_or_else(|| JournalError::NotFound(run_id.to_string()))?.get::<_, i64>(0) as u64;
            return Err(JournalError::Conflict { run: run_id.to_string(), expected: expected_version, found });
        }
        Ok(version)
    }

    async fn load(&self, run_id: &str) -> Result<StoredRun, JournalError> {
        let c = self.client().await?;
        let err = storage(&self.url);
        let row = c
            .query_opt(
                "SELECT workflow, spec_path, spec_text, spec_digest, input, created_ms, version FROM runs WHERE id = $1",
                &[&run_id],
            )
            .await
            .map_err(&err)?
            .ok_or_else(|| JournalError::NotFound(run_id.to_string()))?;
        let mut input: Value = row.get(4);
        self.internalize(&mut input).await?;
        let meta = RunMeta {
            id: run_id.to_string(),
            workflow: row.get(0),
            spec_path: row.get(1),
            spec_text: row.get(2),
            spec_digest: row.get(3),
            input,
            created_ms: row.get::<_, i64>(5) as u64,
        };
        let version = row.get::<_, i64>(6) as u64;
        let rows =
            c.query("SELECT at_ms, body FROM events WHERE run_id = $1 ORDER BY seq", &[&run_id]).await.map_err(&err)?;
        let mut records = Vec::with_capacity(rows.len());
        for r in rows {
            let mut event: Event = serde_json::from_value(r.get::<_, Value>(1))
                .map_err(|e| JournalError::Corrupt(format!("event of {run_id}: {e}")))?;
            for v in event_values(&mut event) {
                self.internalize(v).await?;
            }
            records.push(Record { at_ms: r.get::<_, i64>(0) as u64, event });
        }
        Ok(StoredRun { meta, records, version })
    }

    async fn list(&self, limit: usize) -> Result<Vec<RunSummary>, JournalError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, workflow, status, created_ms, finished_ms, version FROM runs ORDER BY created_ms DESC, id DESC LIMIT $1",
                &[&(limit as i64)],
            )
            .await
            .map_err(storage(&self.url))?;
        rows.iter()
            .map(|r| {
                Ok(RunSummary {
                    id: r.get(0),
                    workflow: r.get(1),
                    status: r.get::<_, String>(2).parse().map_err(JournalError::Corrupt)?,
                    started_ms: r.get::<_, i64>(3) as u64,
                    finished_ms: r.get::<_, Option<i64>>(4).map(|v| v as u64),
                    events: r.get::<_, i64>(5) as u64,
                })
            })
            .collect()
    }

    async fn resolve_id(&self, prefix: &str) -> Result<String, JournalError> {
        let c = self.client().await?;
        let pattern = format!("{}%", prefix.replace(['%', '_'], ""));
        let rows = c
            .query("SELECT id FROM runs WHERE id LIKE $1 ORDER BY id LIMIT 2", &[&pattern])
            .await
            .map_err(storage(&self.url))?;
        match rows.as_slice() {
            [one] => Ok(one.get(0)),
            [] => Err(JournalError::NotFound(prefix.to_string())),
            _ => Err(JournalError::NotFound(format!("{prefix} (ambiguous: give more of the id)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://weft:secret@db:5432/weft"), "postgres://weft:***@db:5432/weft");
        assert_eq!(redact("postgres://weft@db/weft"), "postgres://weft@db/weft");
    }
}
