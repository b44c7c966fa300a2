//! Scale-out on PostgreSQL: skill attempts go to a shared queue that any
//! number of `weft worker` processes, on any number of machines, claim under
//! a lease; detached runs are orchestrated by whichever worker claims them.
//! A worker that dies loses its leases and another runs the work again
//! (at least once, with the same idempotency key).

use crate::domain::events::{Event, Record, finished_steps};
use crate::domain::{Failure, Grants, Limits, OutcomeKind};
use crate::engine::plan::Workflow;
use crate::engine::run::{AttemptAt, Dispatch, EventSink, Executor, Finished, RunOutcome, RunRequest};
use crate::engine::{Clock, SpecSource, SystemClock};
use crate::journal::postgres::{ClaimedAttempt, PostgresJournal};
use crate::journal::sink::JournalSink;
use crate::journal::{Journal, JournalError};
use crate::sandbox::{RunOptions, Sandbox, Skill};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a claim lasts without renewal, by default.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often to look for work when no notification came.
const POLL: Duration = Duration::from_millis(500);

/// Wakes waiters whenever PostgreSQL notifies one of `channels`.
async fn notifier(journal: &PostgresJournal, channels: &[&str]) -> Arc<Notify> {
    let notify = Arc::new(Notify::new());
    if let Ok(mut rx) = journal.listen(channels).await {
        let n = notify.clone();
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                n.notify_waiters();
            }
        });
    }
    notify
}

/// The options of an attempt, as stored in the queue.
fn options_json(opts: &RunOptions) -> Value {
    json!({"limits": opts.limits, "grants": opts.grants})
}

fn result_json(result: &Result<Value, Failure>) -> Value {
    match result {
        Ok(v) => json!({"ok": v}),
        Err(f) => json!({"error": f}),
    }
}

fn result_of(v: Value) -> Result<Value, Failure> {
    if let Some(ok) = v.get("ok") {
        return Ok(ok.clone());
    }
    match v.get("error").cloned().map(serde_json::from_value::<Failure>) {
        Some(Ok(f)) => Err(f),
        _ => Err(Failure::new(OutcomeKind::Permanent, format!("a worker recorded an unreadable result: {v}"))),
    }
}

/// Sends attempts to the queue and waits for a worker's result.
pub struct QueueDispatch {
    journal: PostgresJournal,
    uploaded: Mutex<HashSet<String>>,
    done: Arc<Notify>,
}

impl QueueDispatch {
    /// A dispatcher over `journal`'s queue.
    pub async fn new(journal: PostgresJournal) -> Arc<QueueDispatch> {
        let done = notifier(&journal, &["weft_done"]).await;
        Arc::new(QueueDispatch { journal, uploaded: Mutex::new(HashSet::new()), done })
    }
}

#[async_trait::async_trait]
impl Dispatch for QueueDispatch {
    async fn run_skill(
        &self,
        at: AttemptAt<'_>,
        skill: &Skill,
        input: &str,
        opts: &RunOptions,
    ) -> Result<Value, Failure> {
        let store = |e: JournalError| Failure::new(OutcomeKind::Transient, format!("the work queue failed: {e}"));
        let digest = skill.digest().to_string();
        let known = self.uploaded.lock().unwrap_or_else(|p| p.into_inner()).contains(&digest);
        if !known {
            // Workers run exactly the bytes the run was submitted with.
            self.journal.put_blob(skill.bytes()).await.map_err(store)?;
            self.uploaded.lock().unwrap_or_else(|p| p.into_inner()).insert(digest.clone());
        }
        let id = self
            .journal
            .submit_attempt(at.run_id, at.step, at.attempt as i32, &digest, input, &options_json(opts))
            .await
            .map_err(store)?;
        loop {
            let woken = self.done.notified();
            if let Some(result) = self.journal.attempt_result(id).await.map_err(store)? {
                return result_of(result);
            }
            let _ = tokio::time::timeout(POLL, woken).await;
        }
    }
}

/// Copies every file a workflow needs into the journal; returns
/// `{original path: digest}` for a worker to rebuild them from.
pub async fn upload_files(journal: &PostgresJournal, wf: &Workflow) -> Result<Value, JournalError> {
    let mut map = serde_json::Map::new();
    for (original, local) in &wf.files {
        let bytes = std::fs::read(local).map_err(|e| JournalError::Storage {
            path: local.display().to_string(),
            message: format!("cannot read a file the workflow needs: {e}"),
        })?;
        map.insert(original.display().to_string(), Value::String(journal.put_blob(&bytes).await?));
    }
    Ok(Value::Object(map))
}

/// A `weft worker`: runs queued attempts and orchestrates detached runs.
pub struct Worker {
    lease: Duration,
    journal: PostgresJournal,
    sandbox: Sandbox,
    id: String,
    concurrency: usize,
    skills: tokio::sync::Mutex<HashMap<String, Skill>>,
    files_dir: PathBuf,
}

/// What a worker did, for its exit message.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerStats {
    /// Attempts it ran to the end.
    pub attempts: u64,
    /// Attempts it handed back at shutdown.
    pub released: u64,
    /// Runs it orchestrated.
    pub runs: u64,
}

impl Worker {
    /// A worker running up to `concurrency` attempts at once, named `name`
    /// (default: after the host and process), holding claims for `lease`
    /// between renewals (default [`LEASE`]).
    pub fn new(
        journal: PostgresJournal,
        sandbox: Sandbox,
        concurrency: usize,
        name: Option<String>,
        lease: Option<Duration>,
    ) -> Worker {
        let id = name.unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "host".into());
            format!("{host}-{}-{}", std::process::id(), &crate::engine::run::new_run_id()[24..])
        });
        let files_dir = std::env::temp_dir().join(format!("weft-worker-{id}-{}", std::process::id()));
        Worker {
            lease: lease.unwrap_or(LEASE),
            journal,
            sandbox,
            id,
            concurrency: concurrency.max(1),
            skills: tokio::sync::Mutex::new(HashMap::new()),
            files_dir,
        }
    }

    fn renew_every(&self) -> Duration {
        self.lease / 3
    }

    /// Its name in the queue.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `stop` resolves; then stops claiming, lets attempts in
    /// flight finish for up to `grace`, and hands back the rest.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>, grace: Duration) -> WorkerStats {
        let wake = notifier(&self.journal, &["weft_work"]).await;
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut attempts: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut runs: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        tokio::pin!(stop);
        loop {
            // Orchestrate detached runs (they mostly wait on the queue).
            while let Ok(Some(run_id)) = self.journal.claim_run(&self.id, self.lease).await {
                let me = self.clone();
                let stats = stats.clone();
                runs.spawn(async move {
                    let _ = me.orchestrate(&run_id).await;
                    stats.lock().unwrap_or_else(|p| p.into_inner()).runs += 1;
                });
            }
            // Claim attempts while there is room.
            while let Ok(permit) = slots.clone().try_acquire_owned() {
                match self.journal.claim_attempt(&self.id, self.lease).await {
                    Ok(Some(claim)) => {
                        in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(claim.id);
                        let (me, stats, in_flight) = (self.clone(), stats.clone(), in_flight.clone());
                        attempts.spawn(async move {
                            let id = claim.id;
                            if me.attempt(claim).await {
                                stats.lock().unwrap_or_else(|p| p.into_inner()).attempts += 1;
                            }
                            in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                            drop(permit);
                        });
                    }
                    _ => break,
                }
            }
            let woken = wake.notified();
            tokio::select! {
                _ = &mut stop => break,
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
                Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
                Some(_) = runs.join_next(), if !runs.is_empty() => {}
            }
        }
        // Graceful shutdown: finish what is running, within the grace period.
        let _ = tokio::time::timeout(grace, async { while attempts.join_next().await.is_some() {} }).await;
        attempts.shutdown().await;
        runs.shutdown().await;
        let left: Vec<i64> = in_flight.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for id in &left {
            let _ = self.journal.release_attempt(*id, &self.id).await;
        }
        let _ = std::fs::remove_dir_all(&self.files_dir);
        let mut s = *stats.lock().unwrap_or_else(|p| p.into_inner());
        s.released = left.len() as u64;
        s
    }

    async fn skill(&self, digest: &str) -> Result<Skill, Failure> {
        let mut skills = self.skills.lock().await;
        if let Some(s) = skills.get(digest) {
            return Ok(s.clone());
        }
        let bytes = self.journal.get_blob(digest).await.map_err(|e| Failure::new(OutcomeKind::Load, e.to_string()))?;
        let skill = self
            .sandbox
            .load_bytes(&format!("skill {}", &digest[..16]), bytes)
            .await
            .map_err(|e| Failure::new(OutcomeKind::Load, e.to_string()))?;
        if skill.digest() != digest {
            return Err(Failure::new(OutcomeKind::Load, format!("skill {digest} changed in transit")));
        }
        skills.insert(digest.to_string(), skill.clone());
        Ok(skill)
    }

    /// Runs one claimed attempt, renewing its lease; true if its result was recorded.
    async fn attempt(&self, claim: ClaimedAttempt) -> bool {
        let limits: Limits = serde_json::from_value(claim.options["limits"].clone()).unwrap_or_default();
        let grants: Grants = serde_json::from_value(claim.options["grants"].clone()).unwrap_or_default();
        let opts = RunOptions { limits, grants, tools: None };
        let work = async {
            match self.skill(&claim.skill).await {
                Ok(skill) => skill.run(&claim.input, &opts).await.result,
                Err(f) => Err(f),
            }
        };
        let renew = async {
            loop {
                tokio::time::sleep(self.renew_every()).await;
                if !matches!(self.journal.renew_attempt(claim.id, &self.id, self.lease).await, Ok(true)) {
                    return;
                }
            }
        };
        let result = tokio::select! {
            r = work => r,
            // The lease was lost (this worker stalled): someone else has it now.
            () = renew => return false,
        };
        matches!(self.journal.complete_attempt(claim.id, &self.id, &result_json(&result)).await, Ok(true))
    }

    /// Orchestrates a detached run: rebuilds its workflow from the files
    /// submitted with it, and runs (or resumes) it, attempts going to the queue.
    async fn orchestrate(&self, run_id: &str) -> Result<RunOutcome, anyhow::Error> {
        let stored = self.journal.load(run_id).await?;
        let files = self.journal.files(run_id).await?;
        let dir = self.files_dir.join(run_id);
        std::fs::create_dir_all(&dir)?;
        let mut relocated = HashMap::new();
        for (original, digest) in files.as_object().into_iter().flatten() {
            let digest = digest.as_str().unwrap_or_default();
            let ext = Path::new(original).extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            let local = dir.join(format!("{digest}{ext}"));
            std::fs::write(&local, self.journal.get_blob(digest).await?)?;
            relocated.insert(PathBuf::from(original), local);
        }
        let spec_path = stored.meta.spec_path.clone().unwrap_or_else(|| "<inline>".into());
        let spec_dir = Path::new(&spec_path).parent().map(Path::to_path_buf).unwrap_or_default();
        let mut source = SpecSource::inline(&stored.meta.spec_text, &spec_dir);
        source.name = spec_path;
        source.relocated = Some(Arc::new(relocated));
        let wf = Workflow::check(&self.sandbox, source).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if wf.digest != stored.meta.spec_digest {
            anyhow::bail!("run {run_id}: the files do not match the digest it was submitted with");
        }
        let fresh = stored.records.is_empty();
        let mut version = stored.version;
        if !fresh {
            let resumed = Record { at_ms: SystemClock.wall_ms(), event: Event::RunResumed { forced: false } };
            version = self.journal.append(run_id, version, std::slice::from_ref(&resumed)).await?;
        }
        let prior = finished_steps(&stored.records)
            .into_iter()
            .map(|(path, (status, output, error))| (path, Finished { status, output, error }))
            .collect();
        let sink: Arc<dyn EventSink> = Arc::new(JournalSink::new(Arc::new(self.journal.clone()), version));
        let req = RunRequest {
            run_id: run_id.to_string(),
            input: stored.meta.input.clone(),
            sink,
            prior,
            faults: Vec::new(),
            resumed: !fresh,
            down_servers: Vec::new(),
        };
        let executor =
            Executor::new(Arc::new(SystemClock)).with_dispatch(QueueDispatch::new(self.journal.clone()).await);
        let run = executor.run(Arc::new(wf), req);
        let keep_lease = async {
            loop {
                tokio::time::sleep(self.renew_every()).await;
                if !matches!(self.journal.renew_run(run_id, &self.id, self.lease).await, Ok(true)) {
                    return;
                }
            }
        };
        tokio::select! {
            outcome = run => Ok(outcome),
            () = keep_lease => anyhow::bail!("run {run_id}: lost the orchestration lease; another worker has it"),
        }
    }
}
