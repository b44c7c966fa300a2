//! Scale-out on PostgreSQL: skill attempts go to a shared queue that any
//! number of `weft worker` processes, on any number of machines, claim under
//! a lease; detached runs are orchestrated by whichever worker claims them.
//! A worker that dies loses its leases and another runs the work again
//! (at least once, with the same idempotency key).

use crate::domain::events::{Event, Record, RunError, RunStatus, carry_over, finished_steps};
use crate::domain::{Failure, Grants, Limits, OutcomeKind};
use crate::engine::plan::Workflow;
use crate::engine::run::{AttemptAt, Dispatch, EventSink, Executor, Finished, RunOutcome, RunRequest};
use crate::engine::{Clock, SpecErrors, SpecSource, SystemClock};
use crate::journal::postgres::{ClaimedAttempt, ListenEvent, Listener, PostgresJournal};
use crate::journal::sink::JournalSink;
use crate::journal::{Journal, JournalError, RunMeta};
use crate::sandbox::{RunOptions, Sandbox, Skill};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a claim lasts without renewal, by default.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often to look for work when no notification came.
const POLL: Duration = Duration::from_millis(500);
/// The channel that announces new work (attempts, detached runs).
const WORK: &str = "weft_work";
/// The channel that announces a finished attempt (payload: its id).
const DONE: &str = "weft_done";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Routes `NOTIFY` wake-ups from one listening connection: new work to the
/// worker loop, a finished attempt to whoever waits for that attempt.
///
/// Wake-ups are [`Notify::notify_one`] permits: one sent before its waiter
/// starts waiting is kept, so a notification that arrives while the waiter
/// is busy (claiming, reading a result) is not lost.
pub struct Wakeups {
    router: Arc<Router>,
    _listener: Listener,
}

/// Who waits for an attempt: a token per waiter, and its wake-up.
type Waiters = Vec<(u64, Arc<Notify>)>;

#[derive(Default)]
struct Router {
    work: Notify,
    done: Mutex<HashMap<i64, Waiters>>,
    next: AtomicU64,
}

impl Router {
    fn wait_done(self: &Arc<Self>, id: i64) -> DoneWaiter {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        lock(&self.done).entry(id).or_default().push((token, notify.clone()));
        DoneWaiter { router: self.clone(), id, token, notify }
    }

    fn hear(&self, event: ListenEvent) {
        match event {
            // Anything sent while the connection was down is lost: everyone looks again.
            ListenEvent::Listening => {
                self.work.notify_one();
                for waiters in lock(&self.done).values() {
                    waiters.iter().for_each(|(_, n)| n.notify_one());
                }
            }
            ListenEvent::Notification { channel, .. } if channel == WORK => self.work.notify_one(),
            ListenEvent::Notification { channel, payload } if channel == DONE => {
                if let Ok(id) = payload.parse::<i64>()
                    && let Some(waiters) = lock(&self.done).get(&id)
                {
                    waiters.iter().for_each(|(_, n)| n.notify_one());
                }
            }
            ListenEvent::Notification { .. } => {}
        }
    }
}

/// Waits for one attempt's `weft_done`; stops listening for it when dropped.
struct DoneWaiter {
    router: Arc<Router>,
    id: i64,
    token: u64,
    notify: Arc<Notify>,
}

impl Drop for DoneWaiter {
    fn drop(&mut self) {
        let mut done = lock(&self.router.done);
        if let Some(waiters) = done.get_mut(&self.id) {
            waiters.retain(|(t, _)| *t != self.token);
            if waiters.is_empty() {
                done.remove(&self.id);
            }
        }
    }
}

impl Wakeups {
    /// Starts listening on `channels` (one connection, closed when the last
    /// holder drops this).
    fn start(journal: &PostgresJournal, channels: &[&str]) -> Arc<Wakeups> {
        let router = Arc::new(Router::default());
        let r = router.clone();
        let listener = journal.listen(channels, move |event| r.hear(event));
        Arc::new(Wakeups { router, _listener: listener })
    }

    fn wait_done(&self, id: i64) -> DoneWaiter {
        self.router.wait_done(id)
    }
}

/// The options of an attempt, as stored in the queue.
fn options_json(opts: &RunOptions) -> Value {
    json!({"limits": opts.limits, "grants": opts.grants})
}

/// The options of an attempt as the queue stored them. Unreadable options
/// are a permanent failure of the attempt: running it with default limits
/// and without its grants (its idempotency key among them) would be wrong.
fn options_of(stored: &Value) -> Result<RunOptions, Failure> {
    let unreadable = |what: &str, e: serde_json::Error| {
        Failure::new(OutcomeKind::Permanent, format!("the attempt's stored {what} are unreadable: {e}"))
    };
    let field = |name: &str| stored.get(name).cloned().unwrap_or(Value::Null);
    let limits: Limits = serde_json::from_value(field("limits")).map_err(|e| unreadable("limits", e))?;
    let grants: Grants = serde_json::from_value(field("grants")).map_err(|e| unreadable("grants", e))?;
    Ok(RunOptions { limits, grants, tools: None })
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
    wakeups: Arc<Wakeups>,
}

impl QueueDispatch {
    /// A dispatcher over `journal`'s queue, with a listening connection of
    /// its own (closed when the dispatcher is dropped).
    pub async fn new(journal: PostgresJournal) -> Arc<QueueDispatch> {
        let wakeups = Wakeups::start(&journal, &[DONE]);
        Arc::new(QueueDispatch { journal, uploaded: Mutex::new(HashSet::new()), wakeups })
    }

    /// A dispatcher sharing a worker's listening connection.
    fn sharing(journal: PostgresJournal, wakeups: Arc<Wakeups>) -> Arc<QueueDispatch> {
        Arc::new(QueueDispatch { journal, uploaded: Mutex::new(HashSet::new()), wakeups })
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
        if !lock(&self.uploaded).contains(&digest) {
            // Workers run exactly the bytes the run was submitted with.
            self.journal.put_blob(skill.bytes()).await.map_err(store)?;
            lock(&self.uploaded).insert(digest.clone());
        }
        let id = self
            .journal
            .submit_attempt(at.run_id, at.step, at.attempt as i32, &digest, input, &options_json(opts))
            .await
            .map_err(store)?;
        // Listen for this attempt before looking, so a result recorded in
        // between still wakes us.
        let waiter = self.wakeups.wait_done(id);
        loop {
            if let Some(result) = self.journal.attempt_result(id).await.map_err(store)? {
                return result_of(result);
            }
            let _ = tokio::time::timeout(POLL, waiter.notify.notified()).await;
        }
    }
}

/// Copies every file a workflow needs (skills, scripts, script runners) into
/// the journal; returns `{original path: digest}` for a worker to rebuild
/// them from.
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

/// Why a run stored in the journal could not be rebuilt or orchestrated.
#[derive(Debug, thiserror::Error)]
pub enum OrchestrateError {
    /// The journal failed, or holds something unusable.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run's files could not be written to a local directory.
    #[error("cannot write the run's files under {path}: {source}")]
    Files {
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The spec submitted with the run does not check.
    #[error("the spec submitted with the run does not check:\n{0}")]
    Spec(#[from] SpecErrors),
    /// What was rebuilt is not what was submitted.
    #[error(
        "the files stored with the run do not match the digest it was submitted with (spec, skills, scripts and runners)"
    )]
    Digest,
    /// The run has no files recorded with it.
    #[error("no files were recorded with the run")]
    NoFiles,
    /// Another worker holds the run now.
    #[error("lost the orchestration lease; another worker has the run")]
    LeaseLost,
}

impl OrchestrateError {
    /// Whether trying again cannot help: the run should be failed rather
    /// than taken up again after its lease.
    pub fn is_permanent(&self) -> bool {
        match self {
            OrchestrateError::Journal(e) => matches!(e, JournalError::Corrupt(_) | JournalError::NotFound(_)),
            OrchestrateError::Spec(_) | OrchestrateError::Digest | OrchestrateError::NoFiles => true,
            OrchestrateError::Files { .. } | OrchestrateError::LeaseLost => false,
        }
    }
}

/// Rebuilds a run's workflow from the files stored with it (copied under
/// `dir`, which is removed afterwards), and checks that it is exactly what
/// was submitted: the same digest over the spec, skills, scripts and
/// runners. Used by a worker orchestrating a detached run, and by `weft
/// resume` where the run's own files are not at hand.
pub async fn rebuild(
    journal: &PostgresJournal,
    sandbox: &Sandbox,
    meta: &RunMeta,
    dir: &Path,
) -> Result<Workflow, OrchestrateError> {
    let files = journal.files(&meta.id).await?;
    let files = files.as_object().ok_or(OrchestrateError::NoFiles)?;
    let io = |source: std::io::Error| OrchestrateError::Files { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let built = async {
        let mut relocated = HashMap::new();
        for (original, digest) in files {
            let digest = digest.as_str().ok_or_else(|| {
                JournalError::Corrupt(format!("run {}: the file {original} has no digest: {digest}", meta.id))
            })?;
            let ext = Path::new(original).extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
            let local = dir.join(format!("{digest}{ext}"));
            std::fs::write(&local, journal.get_blob(digest).await?).map_err(io)?;
            relocated.insert(PathBuf::from(original), local);
        }
        let spec_path = meta.spec_path.clone().unwrap_or_else(|| "<inline>".into());
        let spec_dir = Path::new(&spec_path).parent().map(Path::to_path_buf).unwrap_or_default();
        let mut source = SpecSource::inline(&meta.spec_text, &spec_dir);
        source.name = spec_path;
        source.relocated = Some(Arc::new(relocated));
        // Everything is read (skills and runners loaded, scripts read) here.
        let wf = Workflow::check(sandbox, source).await?;
        if wf.digest != meta.spec_digest {
            return Err(OrchestrateError::Digest);
        }
        Ok(wf)
    }
    .await;
    let _ = std::fs::remove_dir_all(dir);
    built
}

/// The outcome of renewing a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    /// It was extended.
    Renewed,
    /// Someone else holds it now.
    Lost,
    /// The renewal did not get through (the database failed or was slow).
    Failed,
}

/// What to do after a renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Renew again after this long.
    RenewIn(Duration),
    /// Stop the work: the lease is gone, or about to run out unrenewed.
    GiveUp,
}

/// When to renew a lease of `lease`, and when to give it up: renew every
/// third of it; after a failed renewal retry every tenth, until the lease
/// would run out before the next try.
#[derive(Debug, Clone, Copy)]
struct LeaseSchedule {
    lease: Duration,
}

impl LeaseSchedule {
    fn every(&self) -> Duration {
        self.lease / 3
    }

    fn retry(&self) -> Duration {
        self.lease / 10
    }

    /// After a renewal sent at `sent` came back as `r` at `now`; `held_until`
    /// is when the lease runs out as far as this holder knows.
    fn next(&self, held_until: &mut Instant, sent: Instant, now: Instant, r: Renewal) -> Next {
        match r {
            Renewal::Renewed => {
                *held_until = sent + self.lease;
                Next::RenewIn(self.every())
            }
            Renewal::Lost => Next::GiveUp,
            Renewal::Failed if held_until.saturating_duration_since(now) > self.retry() => Next::RenewIn(self.retry()),
            Renewal::Failed => Next::GiveUp,
        }
    }
}

/// Keeps a lease claimed at `claimed` renewed with `renew`; returns when it
/// is lost (true) or about to run out unrenewed (false).
async fn hold_lease<F, Fut>(lease: Duration, claimed: Instant, mut renew: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, JournalError>>,
{
    let schedule = LeaseSchedule { lease };
    let mut held_until = claimed + lease;
    let mut wait = schedule.every();
    loop {
        tokio::time::sleep(wait).await;
        let sent = Instant::now();
        let left = held_until.saturating_duration_since(sent);
        let r = match tokio::time::timeout(left, renew()).await {
            Ok(Ok(true)) => Renewal::Renewed,
            Ok(Ok(false)) => Renewal::Lost,
            Ok(Err(_)) | Err(_) => Renewal::Failed,
        };
        match schedule.next(&mut held_until, sent, Instant::now(), r) {
            Next::RenewIn(d) => wait = d,
            Next::GiveUp => return r == Renewal::Lost,
        }
    }
}

/// Where a worker says what it is doing (a line at a time).
pub type WorkerLog = Arc<dyn Fn(&str) + Send + Sync>;

/// A `weft worker`: runs queued attempts and orchestrates detached runs.
pub struct Worker {
    lease: Duration,
    journal: PostgresJournal,
    sandbox: Sandbox,
    id: String,
    concurrency: usize,
    skills: tokio::sync::Mutex<HashMap<String, Skill>>,
    files_dir: PathBuf,
    log: WorkerLog,
}

/// What a worker did, for its exit message.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerStats {
    /// Attempts it ran to the end.
    pub attempts: u64,
    /// Attempts it handed back at shutdown.
    pub released: u64,
    /// Runs it orchestrated to the end.
    pub runs: u64,
    /// Runs it handed back at shutdown.
    pub released_runs: u64,
}

impl Worker {
    /// A worker running up to `concurrency` attempts at once, named `name`
    /// (default: after the host and process), holding claims for `lease`
    /// between renewals (default [`LEASE`]). It logs nothing until given
    /// [`Worker::with_log`].
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
            log: Arc::new(|_| {}),
        }
    }

    /// Reports what goes wrong (a run that cannot be orchestrated, the
    /// database failing) to `log`.
    pub fn with_log(mut self, log: WorkerLog) -> Worker {
        self.log = log;
        self
    }

    /// Its name in the queue.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `stop` resolves; then stops claiming, lets attempts in
    /// flight finish for up to `grace`, and hands back the rest: unfinished
    /// attempts go back to the queue, and the runs it orchestrates are
    /// released for another worker to take over at once.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>, grace: Duration) -> WorkerStats {
        let wakeups = Wakeups::start(&self.journal, &[WORK, DONE]);
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut attempts: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let mut runs: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
        let in_flight: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let orchestrating: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut healthy = true;
        // Detached runs are looked for when told of new work and at every
        // poll, not each time an attempt ends.
        let mut look_for_runs = true;
        tokio::pin!(stop);
        loop {
            let mut failure = None;
            // Orchestrate detached runs (they mostly wait on the queue).
            if look_for_runs {
                loop {
                    let claimed = Instant::now();
                    match self.journal.claim_run(&self.id, self.lease).await {
                        Ok(Some(run_id)) => {
                            lock(&orchestrating).insert(run_id.clone());
                            let (me, stats, wakeups, orchestrating) =
                                (self.clone(), stats.clone(), wakeups.clone(), orchestrating.clone());
                            runs.spawn(async move {
                                me.orchestrate_or_fail(&run_id, claimed, wakeups, &stats).await;
                                lock(&orchestrating).remove(&run_id);
                            });
                        }
                        Ok(None) => break,
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
            }
            // Claim as many attempts as there is room for, in one go.
            let room = slots.available_permits();
            if room > 0 {
                let claimed = Instant::now();
                match self.journal.claim_attempts(&self.id, self.lease, room).await {
                    Ok(claims) => {
                        for claim in claims {
                            let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                            lock(&in_flight).insert(claim.id);
                            let (me, stats, in_flight) = (self.clone(), stats.clone(), in_flight.clone());
                            attempts.spawn(async move {
                                let id = claim.id;
                                if me.attempt(claim, claimed).await {
                                    lock(&stats).attempts += 1;
                                }
                                lock(&in_flight).remove(&id);
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            // Say when the database fails and when it is back, not at every poll.
            match (&failure, healthy) {
                (Some(e), true) => (self.log)(&format!("cannot claim work: {e}; trying again")),
                (None, false) => (self.log)("claiming work again"),
                _ => {}
            }
            healthy = failure.is_none();
            look_for_runs = tokio::select! {
                _ = &mut stop => break,
                _ = wakeups.router.work.notified() => true,
                _ = tokio::time::sleep(POLL) => true,
                Some(_) = attempts.join_next(), if !attempts.is_empty() => false,
                Some(_) = runs.join_next(), if !runs.is_empty() => false,
            };
        }
        // Graceful shutdown: finish what is running, within the grace period.
        let _ = tokio::time::timeout(grace, async { while attempts.join_next().await.is_some() {} }).await;
        attempts.shutdown().await;
        runs.shutdown().await;
        let left: Vec<i64> = lock(&in_flight).drain().collect();
        for id in &left {
            if let Err(e) = self.journal.release_attempt(*id, &self.id).await {
                (self.log)(&format!("cannot hand back attempt {id} (its lease will run out instead): {e}"));
            }
        }
        let left_runs: Vec<String> = lock(&orchestrating).drain().collect();
        for run_id in &left_runs {
            if let Err(e) = self.journal.release_run(run_id, &self.id).await {
                (self.log)(&format!("cannot hand back run {run_id} (its lease will run out instead): {e}"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.files_dir);
        let mut s = *lock(&stats);
        s.released = left.len() as u64;
        s.released_runs = left_runs.len() as u64;
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
            .load_bytes(&format!("skill {}", &digest[..16.min(digest.len())]), bytes)
            .await
            .map_err(|e| Failure::new(OutcomeKind::Load, e.to_string()))?;
        if skill.digest() != digest {
            return Err(Failure::new(OutcomeKind::Load, format!("skill {digest} changed in transit")));
        }
        skills.insert(digest.to_string(), skill.clone());
        Ok(skill)
    }

    /// Runs one attempt claimed at `claimed`, renewing its lease; true if
    /// its result was recorded.
    async fn attempt(&self, claim: ClaimedAttempt, claimed: Instant) -> bool {
        let work = async {
            let opts = options_of(&claim.options)?;
            let skill = self.skill(&claim.skill).await?;
            skill.run(&claim.input, &opts).await.result
        };
        let renew = hold_lease(self.lease, claimed, || self.journal.renew_attempt(claim.id, &self.id, self.lease));
        let result = tokio::select! {
            r = work => r,
            lost = renew => {
                if !lost {
                    // The database did not answer in time: stop before the
                    // lease runs out, and hand the attempt back if it can.
                    (self.log)(&format!("attempt {} of {}: could not renew its lease; handing it back", claim.attempt, claim.step));
                    let _ = self.journal.release_attempt(claim.id, &self.id).await;
                }
                // Otherwise another worker has it now (this one stalled).
                return false;
            }
        };
        matches!(self.journal.complete_attempt(claim.id, &self.id, &result_json(&result)).await, Ok(true))
    }

    /// Orchestrates a run, and says what went wrong if it could not: a
    /// permanent cause fails the run; anything else leaves it for the next
    /// claim after its lease.
    async fn orchestrate_or_fail(
        &self,
        run_id: &str,
        claimed: Instant,
        wakeups: Arc<Wakeups>,
        stats: &Mutex<WorkerStats>,
    ) {
        match self.orchestrate(run_id, claimed, wakeups).await {
            Ok(_) => lock(stats).runs += 1,
            Err(e) if e.is_permanent() => {
                (self.log)(&format!("run {run_id} cannot be orchestrated; failing it: {e}"));
                if let Err(e2) = self.fail_run(run_id, &e).await {
                    (self.log)(&format!("run {run_id}: cannot record its failure: {e2}"));
                }
            }
            Err(e) => (self.log)(&format!("run {run_id}: {e}; it will be taken up again when its lease runs out")),
        }
    }

    /// Ends a run that cannot be orchestrated with a failed `RunFinished`.
    async fn fail_run(&self, run_id: &str, why: &OrchestrateError) -> Result<(), JournalError> {
        let stored = self.journal.load(run_id).await?;
        let at_ms = SystemClock.wall_ms();
        let mut records = Vec::new();
        if stored.records.is_empty() {
            let event = Event::RunStarted { workflow: stored.meta.workflow.clone(), input: stored.meta.input.clone() };
            records.push(Record { at_ms, event });
        }
        let error = RunError { step: String::new(), kind: OutcomeKind::Load, message: why.to_string() };
        records.push(Record {
            at_ms,
            event: Event::RunFinished { status: RunStatus::Failed, output: Value::Null, error: Some(error) },
        });
        self.journal.append(run_id, stored.version, &records).await.map(|_| ())
    }

    /// Orchestrates a detached run claimed at `claimed`: rebuilds its
    /// workflow from the files submitted with it, and runs (or resumes) it,
    /// attempts going to the queue. The run's lease is renewed throughout.
    async fn orchestrate(
        &self,
        run_id: &str,
        claimed: Instant,
        wakeups: Arc<Wakeups>,
    ) -> Result<RunOutcome, OrchestrateError> {
        let work = async {
            let stored = self.journal.load(run_id).await?;
            let wf = rebuild(&self.journal, &self.sandbox, &stored.meta, &self.files_dir.join(run_id)).await?;
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
            let dispatch = QueueDispatch::sharing(self.journal.clone(), wakeups);
            let executor = Executor::new(Arc::new(SystemClock)).with_dispatch(dispatch);
            // A run taken over from another worker goes on with the retries,
            // budget and deadline its earlier lives left.
            let carried = carry_over(&stored.records);
            Ok::<_, OrchestrateError>(executor.continue_run(Arc::new(wf), req, carried).await)
        };
        let keep_lease = hold_lease(self.lease, claimed, || self.journal.renew_run(run_id, &self.id, self.lease));
        tokio::select! {
            outcome = work => outcome,
            _ = keep_lease => Err(OrchestrateError::LeaseLost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_survive_the_queue_with_their_idempotency_key() {
        let mut grants = Grants::default();
        grants.env.insert("WEFT_IDEMPOTENCY_KEY".into(), "run/step".into());
        let limits = Limits { timeout: Duration::from_millis(1234), ..Limits::default() };
        let opts = RunOptions { limits, grants, tools: None };
        let back = options_of(&options_json(&opts)).unwrap();
        assert_eq!(back.limits.timeout, Duration::from_millis(1234));
        assert_eq!(back.grants.env["WEFT_IDEMPOTENCY_KEY"], "run/step");
    }

    #[test]
    fn unreadable_options_fail_the_attempt_for_good() {
        for stored in [json!({"limits": {"timeout": "soon"}, "grants": {}}), json!({"grants": {}}), json!(null)] {
            let Err(f) = options_of(&stored) else { panic!("{stored} was read") };
            assert_eq!(f.kind, OutcomeKind::Permanent, "{stored}");
            assert!(f.message.contains("unreadable"), "{}", f.message);
        }
    }

    fn schedule() -> (LeaseSchedule, Instant) {
        (LeaseSchedule { lease: Duration::from_secs(10) }, Instant::now())
    }

    #[test]
    fn a_renewed_lease_is_renewed_again_after_a_third_of_it() {
        let (s, t0) = schedule();
        let mut until = t0 + s.lease;
        let sent = t0 + Duration::from_secs(3);
        assert_eq!(
            s.next(&mut until, sent, sent + Duration::from_millis(5), Renewal::Renewed),
            Next::RenewIn(s.lease / 3)
        );
        assert_eq!(until, sent + s.lease, "the lease runs from when the renewal was sent");
    }

    #[test]
    fn a_lost_lease_is_given_up_at_once() {
        let (s, t0) = schedule();
        let mut until = t0 + s.lease;
        assert_eq!(s.next(&mut until, t0, t0, Renewal::Lost), Next::GiveUp);
    }

    #[test]
    fn a_failed_renewal_is_retried_until_the_lease_would_run_out() {
        let (s, t0) = schedule();
        let mut until = t0 + s.lease;
        let mut now = t0 + s.every();
        let mut tries = 0;
        while let Next::RenewIn(d) = s.next(&mut until, now, now, Renewal::Failed) {
            assert_eq!(d, s.retry());
            now += d;
            tries += 1;
        }
        assert_eq!(until, t0 + s.lease, "a failure does not extend the lease");
        assert!(now < until, "gave up before the lease ran out");
        assert!(until - now <= s.retry(), "and not long before: {:?} left", until - now);
        assert!(tries >= 5, "retried {tries} times");
        // A renewal that gets through in time keeps the lease.
        let mut until = t0 + s.lease;
        let now = t0 + s.every();
        assert_eq!(s.next(&mut until, now, now, Renewal::Failed), Next::RenewIn(s.retry()));
        let now = now + s.retry();
        assert_eq!(s.next(&mut until, now, now, Renewal::Renewed), Next::RenewIn(s.every()));
        assert_eq!(until, now + s.lease);
    }

    #[tokio::test]
    async fn done_notifications_wake_only_the_waiter_of_that_attempt() {
        let router = Arc::new(Router::default());
        let w = router.wait_done(7);
        let other = router.wait_done(8);
        router.hear(ListenEvent::Notification { channel: DONE.into(), payload: "7".into() });
        // A permit is kept for a waiter not yet waiting.
        tokio::time::timeout(Duration::from_secs(5), w.notify.notified()).await.expect("attempt 7's waiter woke");
        assert!(futures::FutureExt::now_or_never(other.notify.notified()).is_none(), "attempt 8's waiter slept on");
        drop(w);
        assert!(!lock(&router.done).contains_key(&7), "a dropped waiter stops listening");
        // Reconnecting wakes everyone: anything may have been missed.
        router.hear(ListenEvent::Listening);
        assert!(futures::FutureExt::now_or_never(other.notify.notified()).is_some());
        assert!(futures::FutureExt::now_or_never(router.work.notified()).is_some());
    }
}
