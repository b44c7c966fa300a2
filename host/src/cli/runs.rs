//! `weft runs`, `weft runs show` and `weft resume`: run history and
//! resuming interrupted runs from the journal.

use super::Exit;
use super::out;
use super::progress::Progress;
use super::workflow::{print_run_report, sandbox};
use crate::distributed::{QueueDispatch, rebuild, upload_files};
use crate::domain::events::{Event, Record, Report, RunStatus, carry_over, finished_steps};
use crate::engine::run::Dispatch;
use crate::engine::run::{EventSink, Executor, Finished, MemorySink, RunRequest, Tee};
use crate::engine::{SpecSource, SystemClock, Workflow};
use crate::journal::postgres::PostgresJournal;
use crate::journal::sink::JournalSink;
use crate::journal::sqlite::SqliteJournal;
use crate::journal::{Journal, JournalError, RunMeta, StoredRun, default_db};
use anyhow::Context;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// `--db`: where runs are journaled.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DbArgs {
    /// The run journal: a SQLite file, or `postgres://...` to share runs and
    /// work with `weft worker`s [env: WEFT_DB; default: ~/.local/share/weft/runs.db].
    #[arg(long, value_name = "PATH|URL", global = true)]
    pub(crate) db: Option<String>,
}

/// An open journal, and the PostgreSQL queue when there is one.
pub(crate) struct Db {
    pub(crate) journal: Arc<dyn Journal>,
    pub(crate) postgres: Option<PostgresJournal>,
}

impl Db {
    /// Where attempts go: to the workers when the journal is PostgreSQL.
    pub(crate) async fn dispatch(&self) -> Option<Arc<dyn Dispatch>> {
        match &self.postgres {
            Some(pg) => Some(QueueDispatch::new(pg.clone()).await as Arc<dyn Dispatch>),
            None => None,
        }
    }
}

fn is_postgres(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl DbArgs {
    pub(crate) async fn open(&self) -> anyhow::Result<Db> {
        let target = self
            .db
            .clone()
            .or_else(|| std::env::var("WEFT_DB").ok())
            .unwrap_or_else(|| default_db().display().to_string());
        if is_postgres(&target) {
            let pg = PostgresJournal::connect(&target).await?;
            return Ok(Db { journal: Arc::new(pg.clone()), postgres: Some(pg) });
        }
        Ok(Db { journal: Arc::new(SqliteJournal::open(Path::new(&target))?), postgres: None })
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    /// How many runs to list, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum RunsCommand {
    /// Show one run: its step table and its event log.
    Show {
        /// The run's id (a unique prefix will do).
        run_id: String,
        /// Print JSON: the report and the events.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ResumeArgs {
    /// The run's id (a unique prefix will do).
    run_id: String,
    /// Resume even though the spec, a skill, a script or a script runner
    /// changed since the run started (not for a detached run: a worker
    /// resumes it from the files it was submitted with).
    #[arg(long)]
    force: bool,
    /// Print one JSON report on stdout instead of progress and a summary.
    #[arg(long)]
    json: bool,
}

fn fmt_time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}

fn fmt_duration(from: u64, to: Option<u64>) -> String {
    match to {
        Some(to) => format!("{:.1}s", to.saturating_sub(from) as f64 / 1000.0),
        None => "-".to_string(),
    }
}

pub(crate) async fn runs(args: RunsArgs, db: &DbArgs) -> anyhow::Result<u8> {
    let db = db.open().await?;
    let journal = db.journal;
    match args.command {
        None => {
            let list = journal.list(args.limit).await?;
            if args.json {
                out::json_line(&list)?;
            } else if list.is_empty() {
                errln!("no runs yet");
            } else {
                outln!("{:32}  {:10}  {:20}  {:>9}  workflow", "run", "status", "started", "duration")?;
                for r in list {
                    outln!(
                        "{:32}  {:10}  {:20}  {:>9}  {}",
                        r.id,
                        r.status,
                        fmt_time(r.started_ms),
                        fmt_duration(r.started_ms, r.finished_ms),
                        r.workflow
                    )?;
                }
            }
            Ok(0)
        }
        Some(RunsCommand::Show { run_id, json }) => {
            let id = journal.resolve_id(&run_id).await.map_err(not_found)?;
            let run = journal.load(&id).await?;
            let report = Report::from_log(&id, &run.records);
            // On PostgreSQL, which worker ran each attempt that finished.
            let workers = match &db.postgres {
                Some(pg) => pg.attempt_workers(&id).await?,
                None => Vec::new(),
            };
            if json || args.json {
                let mut shown = json!({"report": report, "events": run.records, "spec_path": run.meta.spec_path, "input": run.meta.input});
                if db.postgres.is_some() {
                    shown["workers"] = workers
                        .iter()
                        .map(|(step, attempt, worker)| json!({"step": step, "attempt": attempt, "worker": worker}))
                        .collect();
                }
                out::json_line(&shown)?;
            } else {
                errln!("events:");
                let start = run.records.first().map_or(0, |r| r.at_ms);
                for r in &run.records {
                    errln!("  +{:>7} ms  {}", r.at_ms.saturating_sub(start), describe(r));
                }
                if !workers.is_empty() {
                    errln!("attempts run by workers:");
                    for (step, attempt, worker) in &workers {
                        errln!("  {step} #{attempt}  {worker}");
                    }
                }
                print_run_report(&report, false)?;
            }
            Ok(0)
        }
    }
}

fn describe(r: &Record) -> String {
    let mut v = serde_json::to_value(&r.event).unwrap_or_default();
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_string();
    if let Some(o) = v.as_object_mut() {
        o.remove("type");
        for key in ["output", "input"] {
            if let Some(x) = o.get_mut(key) {
                let text = x.to_string();
                if text.len() > 80 {
                    *x = json!(format!("{}…", &text[..text.char_indices().nth(77).map_or(text.len(), |(i, _)| i)]));
                }
            }
        }
    }
    format!("{kind} {v}")
}

fn not_found(e: JournalError) -> anyhow::Error {
    match e {
        JournalError::NotFound(id) => {
            Exit { code: Exit::USAGE, message: format!("no run `{id}` in the journal; `weft runs` lists them") }.into()
        }
        e => e.into(),
    }
}

/// Creates the run in the journal and runs it (shared by `weft run`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_journaled(
    db: Db,
    wf: Arc<Workflow>,
    input: serde_json::Value,
    faults: Vec<crate::engine::Fault>,
    down_servers: Vec<String>,
    detach: bool,
    json_out: bool,
) -> anyhow::Result<u8> {
    let journal = db.journal.clone();
    let spec_path = match &wf.source.name {
        n if n == "<inline>" => None,
        n => Some(std::fs::canonicalize(n).map(|p| p.display().to_string()).unwrap_or_else(|_| n.clone())),
    };
    let sink_memory = Arc::new(MemorySink::default());
    let mut req = RunRequest::new(input.clone(), sink_memory.clone());
    let meta = RunMeta {
        id: req.run_id.clone(),
        workflow: wf.spec.name.clone(),
        spec_path,
        spec_text: wf.source.text.clone(),
        spec_digest: wf.digest.clone(),
        input,
        created_ms: crate::engine::Clock::wall_ms(&SystemClock),
    };
    if detach && db.postgres.is_none() {
        return Err(
            Exit { code: Exit::USAGE, message: "--detach needs a shared journal: --db postgres://...".into() }.into()
        );
    }
    if detach && (!faults.is_empty() || !down_servers.is_empty()) {
        return Err(Exit {
            code: Exit::USAGE,
            message: "--fault and --server-down rehearse a run in this process, not a detached one".into(),
        }
        .into());
    }
    let files = match &db.postgres {
        Some(pg) => Some(upload_files(pg, &wf).await?),
        None => None,
    };
    journal.create_run(&meta).await?;
    if let (false, Some(pg), Some(files)) = (detach, &db.postgres, &files) {
        // Kept for `weft resume` on a machine without the spec and its files.
        pg.record_files(&meta.id, files).await?;
    }
    if let (true, Some(pg), Some(files)) = (detach, &db.postgres, &files) {
        pg.detach(&meta.id, files).await?;
        if json_out {
            out::json_line(&serde_json::json!({"run_id": meta.id, "status": "submitted"}))?;
        } else {
            outln!("{}", meta.id)?;
            errln!(
                "submitted run {} of {}: a `weft worker` will run it; `weft runs show {}` follows it",
                meta.id,
                meta.workflow,
                meta.id
            );
        }
        return Ok(0);
    }
    req.faults = faults;
    req.down_servers = down_servers;
    let dispatch = db.dispatch().await;
    execute(journal, wf, req, 0, sink_memory, Vec::new(), dispatch, json_out).await
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    journal: Arc<dyn Journal>,
    wf: Arc<Workflow>,
    mut req: RunRequest,
    version: u64,
    memory: Arc<MemorySink>,
    earlier: Vec<Record>,
    dispatch: Option<Arc<dyn Dispatch>>,
    json_out: bool,
) -> anyhow::Result<u8> {
    let progress = (!json_out).then(|| {
        let steps = wf.root.steps.keys().map(String::as_str);
        Arc::new(Progress::new(steps, req.prior.keys().map(String::as_str)))
    });
    let mut sinks: Vec<Arc<dyn EventSink>> = vec![Arc::new(JournalSink::new(journal, version)), memory.clone()];
    if let Some(p) = &progress {
        sinks.push(p.clone());
    }
    req.sink = Arc::new(Tee(sinks));
    let mut executor = Executor::new(Arc::new(SystemClock));
    if let Some(d) = dispatch {
        executor = executor.with_dispatch(d);
    }
    // A resumed run goes on with the retries, budget and deadline its earlier lives left.
    let carried = carry_over(&earlier);
    let outcome = executor.continue_run(wf, req, carried).await;
    if let Some(p) = &progress {
        p.clear();
    }
    let mut log = earlier;
    log.extend(memory.records());
    let report = Report::from_log(&outcome.run_id, &log);
    print_run_report(&report, json_out)?;
    Ok(if outcome.status == RunStatus::Succeeded { 0 } else { Exit::FAILED })
}

pub(crate) async fn resume(args: ResumeArgs, db: &DbArgs) -> anyhow::Result<u8> {
    let db = db.open().await?;
    let journal = db.journal.clone();
    let id = journal.resolve_id(&args.run_id).await.map_err(not_found)?;
    let stored = journal.load(&id).await?;
    if stored.finished() == Some(RunStatus::Succeeded) {
        return Err(Exit {
            code: Exit::USAGE,
            message: format!("run {id} already succeeded; there is nothing to resume"),
        }
        .into());
    }
    if let Some(pg) = &db.postgres
        && pg.orchestration(&id).await?.detached
    {
        return requeue(pg, stored, &args).await;
    }
    let sandbox = sandbox()?;
    let wf = match &db.postgres {
        Some(pg) => workflow_on_postgres(pg, &sandbox, &stored, args.force).await?,
        None => workflow_from_spec(&sandbox, &stored, args.force).await?,
    };
    let prior = finished_steps(&stored.records)
        .into_iter()
        .map(|(path, (status, output, error))| (path, Finished { status, output, error }))
        .collect();
    let resumed =
        Record { at_ms: crate::engine::Clock::wall_ms(&SystemClock), event: Event::RunResumed { forced: args.force } };
    let version = journal.append(&id, stored.version, std::slice::from_ref(&resumed)).await?;
    let memory = Arc::new(MemorySink::default());
    let req = RunRequest {
        run_id: id.clone(),
        input: stored.meta.input.clone(),
        sink: memory.clone(),
        prior,
        faults: Vec::new(),
        resumed: true,
        down_servers: Vec::new(),
    };
    let mut earlier = stored.records;
    earlier.push(resumed);
    let dispatch = db.dispatch().await;
    execute(journal, Arc::new(wf), req, version, memory, earlier, dispatch, args.json).await.context("resuming the run")
}

fn changed(id: &str) -> anyhow::Error {
    Exit {
        code: Exit::USAGE,
        message: format!(
            "the spec, one of its skills or scripts, or a script runner changed since run {id} started; \
             resuming would mix two versions of the workflow. Run it anew, or resume with --force to run the rest with the new version"
        ),
    }
    .into()
}

/// The workflow as it is now where the run's spec was read from (or from
/// the spec text recorded with the run, if the file is gone), refused if it
/// changed unless `force`.
async fn workflow_from_spec(
    sandbox: &crate::sandbox::Sandbox,
    stored: &StoredRun,
    force: bool,
) -> anyhow::Result<Workflow> {
    let id = &stored.meta.id;
    let source = match &stored.meta.spec_path {
        Some(p) if Path::new(p).exists() => SpecSource::read(Path::new(p)).map_err(|e| anyhow::anyhow!("{e}"))?,
        Some(p) => {
            let dir = Path::new(p).parent().unwrap_or(Path::new("."));
            errln!("note: {p} is gone; resuming from the spec text recorded with the run");
            let mut s = SpecSource::inline(&stored.meta.spec_text, dir);
            s.name = p.clone();
            s
        }
        None => SpecSource::inline(&stored.meta.spec_text, Path::new(".")),
    };
    let wf = match Workflow::check(sandbox, source).await {
        Ok(wf) => wf,
        Err(e) => {
            errln!("{e}");
            return Err(Exit { code: Exit::USAGE, message: format!("the spec of run {id} no longer checks") }.into());
        }
    };
    if wf.digest != stored.meta.spec_digest && !force {
        return Err(changed(id));
    }
    Ok(wf)
}

/// On PostgreSQL the files the run was submitted with are in the journal:
/// where the spec is not at hand (another machine), or no longer checks
/// here, the run resumes from those. Where it is, and changed, resuming is
/// refused unless `force`, as with SQLite.
async fn workflow_on_postgres(
    pg: &PostgresJournal,
    sandbox: &crate::sandbox::Sandbox,
    stored: &StoredRun,
    force: bool,
) -> anyhow::Result<Workflow> {
    let id = &stored.meta.id;
    if let Some(p) = stored.meta.spec_path.as_deref().filter(|p| Path::new(p).exists()) {
        let local = match SpecSource::read(Path::new(p)) {
            Ok(source) => Workflow::check(sandbox, source).await,
            Err(e) => Err(e),
        };
        match local {
            Ok(wf) if wf.digest == stored.meta.spec_digest || force => return Ok(wf),
            Ok(_) => return Err(changed(id)),
            Err(e) if force => {
                errln!("{e}");
                return Err(
                    Exit { code: Exit::USAGE, message: format!("the spec of run {id} no longer checks") }.into()
                );
            }
            Err(_) => errln!("note: {p} no longer checks here; resuming from the files recorded with the run"),
        }
    } else {
        errln!("note: the spec is not here; resuming from the files recorded with the run");
    }
    let dir = std::env::temp_dir().join(format!("weft-resume-{id}-{}", std::process::id()));
    rebuild(pg, sandbox, &stored.meta, &dir)
        .await
        .with_context(|| format!("rebuilding run {id} from its recorded files"))
}

/// A detached run resumes on a worker, from the files it was submitted
/// with: queue it again, unless a worker is orchestrating it now.
async fn requeue(pg: &PostgresJournal, stored: StoredRun, args: &ResumeArgs) -> anyhow::Result<u8> {
    let id = stored.meta.id.clone();
    if args.force {
        return Err(Exit {
            code: Exit::USAGE,
            message: format!(
                "run {id} was submitted with --detach: a worker resumes it from the files it was submitted with, \
                 so --force cannot change them; submit it anew to run another version"
            ),
        }
        .into());
    }
    if stored.finished().is_none() {
        if let Some(owner) = pg.orchestration(&id).await?.owner {
            return Err(Exit {
                code: Exit::USAGE,
                message: format!(
                    "run {id} is being run by worker {owner} now; `weft runs show {id}` follows it \
                     (if that worker died, another takes the run over when its lease runs out)"
                ),
            }
            .into());
        }
    } else {
        let resumed =
            Record { at_ms: crate::engine::Clock::wall_ms(&SystemClock), event: Event::RunResumed { forced: false } };
        pg.append(&id, stored.version, std::slice::from_ref(&resumed)).await?;
    }
    pg.wake_workers().await?;
    if args.json {
        out::json_line(&json!({"run_id": id, "status": "submitted"}))?;
    } else {
        outln!("{id}")?;
        errln!("queued run {id} again: a `weft worker` will resume it; `weft runs show {id}` follows it");
    }
    Ok(0)
}
