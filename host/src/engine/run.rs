//! The executor: runs a checked workflow as a DAG, in parallel where the
//! dependencies allow, with retries, breakers, fallbacks and loops, and
//! records everything as events. Every run ends `succeeded` or `failed`.

use super::clock::Clock;
use super::expr::{ExprError, Scope, interpolate};
use super::plan::{FallbackPlan, GroupPlan, ScopePlan, StepKind, StepPlan, Workflow};
use crate::domain::breaker::{Admission, Breaker, Transition};
use crate::domain::dag::Readiness;
use crate::domain::events::{CarryOver, Event, FallbackSource, Record, RunError, RunStatus, StepStatus, Underway};
use crate::domain::spec::{ItemFailure, OnFailure};
use crate::domain::{Failure, Grants, OutcomeKind, Span};
use crate::sandbox::RunOptions;
use futures::future::BoxFuture;
use indexmap::IndexMap;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use weft_domain::sink::{EventSink, MemorySink, SinkError, Tee};

/// Which attempt a dispatched call is.
#[derive(Debug, Clone, Copy)]
pub struct AttemptAt<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The step's path.
    pub step: &'a str,
    /// The attempt number.
    pub attempt: u32,
}

/// Where skill (and script runner) attempts run. Without one they run in
/// this process; with the PostgreSQL backend they go to the shared queue and
/// workers run them.
#[async_trait::async_trait]
pub trait Dispatch: Send + Sync {
    /// Runs `skill` on `input` under `opts` somewhere, and returns its result.
    async fn run_skill(
        &self,
        at: AttemptAt<'_>,
        skill: &crate::sandbox::Skill,
        input: &str,
        opts: &RunOptions,
    ) -> Result<Value, Failure>;
}

/// A step result from an earlier life of the run, reused on resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// How it ended.
    pub status: StepStatus,
    /// Its output.
    pub output: Value,
    /// Its failure, if any.
    pub error: Option<Failure>,
}

/// A failure injected by a test scenario or `weft run --fault`: the first
/// `times` attempts of the steps it names fail with `kind` (or hang, for
/// `timeout`), without running the skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The step name or path it applies to (`fetch`, or `docs[1].fetch`).
    pub step: String,
    /// How many attempts fail.
    pub times: u32,
    /// How they fail.
    pub kind: OutcomeKind,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// Succeeded or failed.
    pub status: RunStatus,
    /// The output when it succeeded.
    pub output: Value,
    /// Why it failed.
    pub error: Option<RunError>,
}

/// Everything a run needs besides the workflow.
pub struct RunRequest {
    /// The run's id.
    pub run_id: String,
    /// The run's input.
    pub input: Value,
    /// Where events go.
    pub sink: Arc<dyn EventSink>,
    /// Results of steps that finished in an earlier life of this run.
    pub prior: IndexMap<String, Finished>,
    /// Injected failures.
    pub faults: Vec<Fault>,
    /// Whether `RunStarted` was already recorded (a resumed run).
    pub resumed: bool,
    /// MCP servers to treat as down (injected): every call fails as `transient`.
    pub down_servers: Vec<String>,
}

impl RunRequest {
    /// A new run with a fresh id.
    pub fn new(input: Value, sink: Arc<dyn EventSink>) -> Self {
        RunRequest {
            run_id: new_run_id(),
            input,
            sink,
            prior: IndexMap::new(),
            faults: Vec::new(),
            resumed: false,
            down_servers: Vec::new(),
        }
    }
}

/// A fresh, time-ordered run id.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Runs workflows.
#[derive(Clone)]
pub struct Executor {
    clock: Arc<dyn Clock>,
    seed: Option<u64>,
    dispatch: Option<Arc<dyn Dispatch>>,
}

/// Why a step failed for good and escalated: the innermost step and its failure.
#[derive(Debug, Clone)]
struct Escalation {
    step: String,
    failure: Failure,
}

struct Ctx {
    wf: Arc<Workflow>,
    dispatch: Option<Arc<dyn Dispatch>>,
    mcp: Arc<crate::mcp::client::McpPool>,
    clock: Arc<dyn Clock>,
    sink: Arc<dyn EventSink>,
    run_id: String,
    rng: Mutex<StdRng>,
    slots: Arc<Semaphore>,
    attempts: AtomicU32,
    breakers: Mutex<HashMap<String, Breaker>>,
    prior: IndexMap<String, Finished>,
    faults: Vec<Fault>,
    fault_hits: Mutex<HashMap<String, u32>>,
    running: Mutex<BTreeSet<String>>,
    underway: Mutex<IndexMap<String, Underway>>,
}

impl Ctx {
    async fn emit(&self, event: Event) -> Result<(), Escalation> {
        let record = Record { at_ms: self.clock.wall_ms(), event };
        self.sink.record(&self.run_id, &record).await.map_err(|e| Escalation {
            step: String::new(),
            failure: Failure::new(OutcomeKind::Permanent, e.to_string()),
        })
    }

    /// Where step `path` had got to in an earlier life of the run (once).
    fn underway(&self, path: &str) -> Option<Underway> {
        self.underway.lock().unwrap_or_else(|p| p.into_inner()).shift_remove(path)
    }

    fn unit(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|p| p.into_inner()).random::<f64>()
    }

    fn fault(&self, path: &str, name: &str) -> Option<OutcomeKind> {
        let f = self.faults.iter().find(|f| f.step == path || f.step == name)?;
        let mut hits = self.fault_hits.lock().unwrap_or_else(|p| p.into_inner());
        let n = hits.entry(path.to_string()).or_default();
        if *n < f.times {
            *n += 1;
            Some(f.kind)
        } else {
            None
        }
    }
}

/// The variables a scope's steps see (cheap to clone: the input is shared).
#[derive(Clone)]
struct Env {
    input: Arc<Value>,
    item: Option<(Value, usize)>,
    iteration: Option<(u32, Value)>,
    prefix: String,
}

fn steps_value(done: &IndexMap<String, Finished>) -> serde_json::Map<String, Value> {
    steps_value_of(done, done.keys().map(String::as_str))
}

fn steps_value_of<'a>(
    done: &IndexMap<String, Finished>,
    names: impl Iterator<Item = &'a str>,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for name in names {
        if let Some(f) = done.get(name) {
            let error = f.error.as_ref().map(|e| json!({"kind": e.kind, "message": e.message}));
            out.insert(name.to_string(), json!({"output": f.output, "status": f.status.as_str(), "error": error}));
        }
    }
    out
}

fn expr_failure(e: ExprError) -> Failure {
    Failure::new(OutcomeKind::Permanent, e.to_string())
}

impl Executor {
    /// An executor with time from `clock`. (The sandbox is the one the
    /// workflow's skills were loaded into.)
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Executor { clock, seed: None, dispatch: None }
    }

    /// Sends skill and script attempts to `dispatch` instead of running them
    /// here (steps that call MCP servers still run here, beside the servers).
    pub fn with_dispatch(mut self, dispatch: Arc<dyn Dispatch>) -> Self {
        self.dispatch = Some(dispatch);
        self
    }

    /// Seeds the jitter, for reproducible backoff in tests.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Runs `wf` to the end. Never hangs: the run deadline, the attempt
    /// budget, per-attempt timeouts and loop limits all bound it.
    pub async fn run(&self, wf: Arc<Workflow>, req: RunRequest) -> RunOutcome {
        self.continue_run(wf, req, CarryOver::default()).await
    }

    /// Runs `wf` on from where the earlier lives of a resumed run left off:
    /// `carried` (see [`crate::domain::events::carry_over`]) gives the steps
    /// under way their attempt numbers and remaining backoff, and counts the
    /// earlier attempts against the run's budget and the earlier lives' time
    /// against its deadline.
    pub async fn continue_run(&self, wf: Arc<Workflow>, req: RunRequest, carried: CarryOver) -> RunOutcome {
        let mcp = Arc::new(
            crate::mcp::client::McpPool::new(wf.servers.clone(), req.input.clone()).with_down(req.down_servers.clone()),
        );
        let ctx = Arc::new(Ctx {
            dispatch: self.dispatch.clone(),
            mcp: mcp.clone(),
            clock: self.clock.clone(),
            sink: req.sink.clone(),
            run_id: req.run_id.clone(),
            rng: Mutex::new(self.seed.map_or_else(StdRng::from_os_rng, StdRng::seed_from_u64)),
            slots: Arc::new(Semaphore::new(wf.settings.concurrency as usize)),
            attempts: AtomicU32::new(carried.attempts),
            breakers: Mutex::new(HashMap::new()),
            prior: req.prior,
            faults: req.faults,
            fault_hits: Mutex::new(HashMap::new()),
            running: Mutex::new(BTreeSet::new()),
            underway: Mutex::new(carried.underway),
            wf: wf.clone(),
        });
        let earlier = Duration::from_millis(carried.elapsed_ms);
        let result = Self::drive(ctx.clone(), &req.input, req.resumed, earlier).await;
        mcp.shutdown().await;
        let (status, output, error) = match result {
            Ok(output) => (RunStatus::Succeeded, output, None),
            Err(esc) => (
                RunStatus::Failed,
                Value::Null,
                Some(RunError { step: esc.step, kind: esc.failure.kind, message: esc.failure.message }),
            ),
        };
        // The last event; if even this cannot be recorded there is nobody left to tell.
        let _ = ctx.emit(Event::RunFinished { status, output: output.clone(), error: error.clone() }).await;
        RunOutcome { run_id: req.run_id, status, output, error }
    }

    /// Runs the root scope and builds the output. `earlier` is how long the
    /// run's earlier lives ran: it is spent of the deadline already.
    async fn drive(ctx: Arc<Ctx>, input: &Value, resumed: bool, earlier: Duration) -> Result<Value, Escalation> {
        let wf = ctx.wf.clone();
        if !resumed {
            ctx.emit(Event::RunStarted { workflow: wf.spec.name.clone(), input: input.clone() }).await?;
        }
        if let Some(c) = &wf.input_contract
            && let Err(v) = c.check(input)
        {
            return Err(Escalation {
                step: String::new(),
                failure: Failure::new(
                    OutcomeKind::InvalidInput,
                    format!("the run's input breaks the workflow's input_schema: {v}"),
                ),
            });
        }
        let env = Env { input: Arc::new(input.clone()), item: None, iteration: None, prefix: String::new() };
        // What the earlier lives left of the deadline; none left, nothing runs.
        let left = wf.settings.deadline.saturating_sub(earlier);
        let ran = match left.is_zero() {
            true => None,
            false => tokio::time::timeout(left, run_scope(ctx.clone(), wf.root.clone(), env)).await.ok(),
        };
        let results = match ran {
            Some(r) => r?,
            None => {
                let running: Vec<String> =
                    ctx.running.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
                return Err(Escalation {
                    step: running.first().cloned().unwrap_or_default(),
                    failure: Failure::new(
                        OutcomeKind::Timeout,
                        format!(
                            "the run's deadline of {} passed{}{}",
                            Span(wf.settings.deadline),
                            if earlier.is_zero() {
                                String::new()
                            } else {
                                format!(" ({} of it in earlier lives of the run)", Span(earlier))
                            },
                            match running.len() {
                                0 => String::new(),
                                n @ 1..=5 => format!(" while running {}", running[..n].join(", ")),
                                n => format!(" while running {} and {} more", running[..5].join(", "), n - 5),
                            }
                        ),
                    ),
                });
            }
        };
        let steps = steps_value(&results);
        let output = match &wf.output {
            Some(t) => t
                .eval(&Scope { input: Arc::new(input.clone()), steps: Arc::new(steps), ..Scope::default() })
                .map_err(|e| Escalation { step: String::new(), failure: expr_failure(e) })?,
            None => Value::Object(results.iter().map(|(k, f)| (k.clone(), f.output.clone())).collect()),
        };
        if let Some(c) = &wf.output_contract
            && let Err(v) = c.check(&output)
        {
            return Err(Escalation {
                step: String::new(),
                failure: Failure::new(
                    OutcomeKind::ContractViolation,
                    format!("the run's output breaks the workflow's output_schema: {v}"),
                ),
            });
        }
        Ok(output)
    }
}

/// Runs the steps of one scope as a DAG; the first escalation stops the rest.
fn run_scope(
    ctx: Arc<Ctx>,
    scope: Arc<ScopePlan>,
    env: Env,
) -> BoxFuture<'static, Result<IndexMap<String, Finished>, Escalation>> {
    Box::pin(async move {
        let mut done: IndexMap<String, Finished> = IndexMap::new();
        let mut readiness = Readiness::new(&scope.graph);
        let mut tasks: JoinSet<(String, Result<Finished, Escalation>)> = JoinSet::new();
        loop {
            let ready = readiness.take_ready();
            // A lone ready step with nothing else in flight (a sequential
            // chain) runs right here: no task to spawn, no thread to wake.
            if ready.len() == 1 && tasks.is_empty() {
                let name = ready.into_iter().next().expect("one ready step");
                let step = scope.steps[&name].clone();
                let steps = steps_value_of(&done, scope.graph.deps_of(&name));
                let f = run_step(ctx.clone(), step, env.clone(), steps).await?;
                readiness.finished(&name);
                done.insert(name, f);
                continue;
            }
            for name in ready {
                let step = scope.steps[&name].clone();
                let (ctx, env) = (ctx.clone(), env.clone());
                // A step's expressions can only read the steps it depends on:
                // pass those, not every output so far.
                let steps = steps_value_of(&done, scope.graph.deps_of(&name));
                tasks.spawn(async move {
                    let r = run_step(ctx, step, env, steps).await;
                    (name, r)
                });
            }
            let Some(joined) = tasks.join_next().await else { break };
            match joined {
                Ok((name, Ok(f))) => {
                    readiness.finished(&name);
                    done.insert(name, f);
                }
                Ok((_, Err(esc))) => {
                    // Stop the siblings and wait until they have stopped, so
                    // nothing is recorded after the run's end.
                    tasks.shutdown().await;
                    return Err(esc);
                }
                Err(e) if e.is_cancelled() => {}
                Err(e) => {
                    tasks.shutdown().await;
                    return Err(Escalation {
                        step: env.prefix.trim_end_matches('.').to_string(),
                        failure: Failure::new(OutcomeKind::Permanent, format!("internal error in the engine: {e}")),
                    });
                }
            }
        }
        // Report in spec order.
        let mut ordered = IndexMap::new();
        for name in scope.steps.keys() {
            if let Some(f) = done.swap_remove(name) {
                ordered.insert(name.clone(), f);
            }
        }
        Ok(ordered)
    })
}

/// One step: its condition, then its fan-out or its single instance.
async fn run_step(
    ctx: Arc<Ctx>,
    step: Arc<StepPlan>,
    env: Env,
    steps: serde_json::Map<String, Value>,
) -> Result<Finished, Escalation> {
    let path = format!("{}{}", env.prefix, step.name);
    if let Some(f) = ctx.prior.get(&path) {
        return Ok(f.clone());
    }
    let scope = Scope {
        input: env.input.clone(),
        steps: Arc::new(steps),
        item: env.item.clone(),
        iteration: env.iteration.clone(),
    };
    if let Some(when) = &step.when {
        match when.eval_bool(&scope) {
            Ok(true) => {}
            Ok(false) => {
                ctx.emit(Event::StepStarted { step: path.clone() }).await?;
                return finish(&ctx, &path, StepStatus::Skipped, Value::Null, None).await;
            }
            Err(e) => {
                ctx.emit(Event::StepStarted { step: path.clone() }).await?;
                return give_up(&ctx, &step, &path, path.clone(), expr_failure(e), None).await;
            }
        }
    }
    let Some(for_each) = &step.for_each else {
        return run_instance(ctx, step, scope, path, true).await;
    };
    ctx.emit(Event::StepStarted { step: path.clone() }).await?;
    let items = match for_each.eval(&scope) {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            let f = Failure::new(
                OutcomeKind::Permanent,
                format!("`for_each` must give a list, but `{}` gave {other}", for_each.source()),
            );
            return give_up(&ctx, &step, &path, path.clone(), f, None).await;
        }
        Err(e) => return give_up(&ctx, &step, &path, path.clone(), expr_failure(e), None).await,
    };
    let cap = step.max_items.unwrap_or(ctx.wf.settings.max_items) as usize;
    if items.len() > cap {
        let f = Failure::new(
            OutcomeKind::Permanent,
            format!(
                "`for_each` gave {} elements, over the limit of {cap}; raise `max_items` on the step or in [run] \
                 if that many are meant",
                items.len()
            ),
        );
        return give_up(&ctx, &step, &path, path.clone(), f, None).await;
    }
    // Elements are started as others finish, never more than `bound` at
    // once: what a fan-out holds is bounded by its concurrency, not its
    // length, and the run's deadline can stop it between any two.
    let bound = step.concurrency.unwrap_or(ctx.wf.settings.concurrency).max(1) as usize;
    let mut pending = items.into_iter().enumerate();
    let mut tasks: JoinSet<(usize, Result<Finished, Escalation>)> = JoinSet::new();
    let mut start_more = |tasks: &mut JoinSet<_>| {
        while tasks.len() < bound {
            let Some((i, item)) = pending.next() else { break };
            let (ctx, step) = (ctx.clone(), step.clone());
            let mut scope = scope.clone();
            scope.item = Some((item, i));
            let item_path = format!("{path}[{i}]");
            tasks.spawn(async move {
                if let Some(f) = ctx.prior.get(&item_path) {
                    return (i, Ok(f.clone()));
                }
                (i, run_instance(ctx, step, scope, item_path, true).await)
            });
        }
    };
    start_more(&mut tasks);
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut failed = 0usize;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, Ok(f))) => results.push((i, f.output)),
            Ok((i, Err(esc))) => match step.item_failure {
                ItemFailure::Fail => {
                    tasks.shutdown().await;
                    finish(&ctx, &path, StepStatus::Failed, Value::Null, Some(esc.failure.clone())).await?;
                    return Err(esc);
                }
                ItemFailure::Continue => {
                    failed += 1;
                    results.push((i, Value::Null));
                }
            },
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                tasks.shutdown().await;
                let f = Failure::new(OutcomeKind::Permanent, format!("internal error in the engine: {e}"));
                return Err(Escalation { step: path.clone(), failure: f });
            }
        }
        start_more(&mut tasks);
    }
    results.sort_by_key(|(i, _)| *i);
    let output = Value::Array(results.into_iter().map(|(_, v)| v).collect());
    let note = (failed > 0)
        .then(|| Failure::new(OutcomeKind::Permanent, format!("{failed} element(s) failed and were left out")));
    finish(&ctx, &path, StepStatus::Succeeded, output, note).await
}

async fn finish(
    ctx: &Ctx,
    path: &str,
    status: StepStatus,
    output: Value,
    error: Option<Failure>,
) -> Result<Finished, Escalation> {
    ctx.emit(Event::StepFinished { step: path.to_string(), status, output: output.clone(), error: error.clone() })
        .await?;
    Ok(Finished { status, output, error })
}

/// One instance of a step (the step itself, or one element of its fan-out):
/// input mapping, attempts with retries, then fallback and `on_failure`.
async fn run_instance(
    ctx: Arc<Ctx>,
    step: Arc<StepPlan>,
    scope: Scope,
    path: String,
    announce: bool,
) -> Result<Finished, Escalation> {
    if announce {
        ctx.emit(Event::StepStarted { step: path.clone() }).await?;
    }
    ctx.running.lock().unwrap_or_else(|p| p.into_inner()).insert(path.clone());
    let result = instance_body(&ctx, &step, &scope, &path).await;
    ctx.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&path);
    result
}

async fn instance_body(
    ctx: &Arc<Ctx>,
    step: &Arc<StepPlan>,
    scope: &Scope,
    path: &str,
) -> Result<Finished, Escalation> {
    let input = match &step.input {
        Some(t) => match t.eval(scope) {
            Ok(v) => v,
            Err(e) => {
                let f = Failure::new(OutcomeKind::InvalidInput, format!("the input mapping failed: {e}"));
                return give_up(ctx, step, path, path.to_string(), f, None).await;
            }
        },
        None => Value::clone(&scope.input),
    };
    match &step.kind {
        StepKind::Skill(_) | StepKind::Script(_) | StepKind::Tool(_) => {
            match attempts(ctx, step, scope, path, &input).await? {
                Ok(output) => finish(ctx, path, StepStatus::Succeeded, output, None).await,
                Err(f) => give_up(ctx, step, path, path.to_string(), f, Some(&input)).await,
            }
        }
        StepKind::Group(g) => match run_group(ctx.clone(), g, scope, path, input.clone()).await {
            Ok(output) => finish(ctx, path, StepStatus::Succeeded, output, None).await,
            Err(esc) => give_up(ctx, step, path, esc.step, esc.failure, Some(&input)).await,
        },
    }
}

/// Runs a skill step's attempts. `Ok(Err(f))` is a failure for good after
/// retries; `Err` means the run must stop (the journal failed).
async fn attempts(
    ctx: &Arc<Ctx>,
    step: &StepPlan,
    scope: &Scope,
    path: &str,
    input: &Value,
) -> Result<Result<Value, Failure>, Escalation> {
    let breaker_key = match &step.kind {
        StepKind::Skill(skill) => skill.origin().to_string(),
        StepKind::Script(sc) => format!("script {}", sc.filename),
        StepKind::Tool(t) => format!("MCP server {}", t.server),
        StepKind::Group(_) => unreachable!("attempts run skill, script and tool steps"),
    };
    // A step under way in an earlier life of the run goes on from there.
    let mut attempt = 0u32;
    let mut wait = Duration::ZERO;
    match ctx.underway(path) {
        None => {}
        Some(Underway::Attempting { attempt: n }) => attempt = n.saturating_sub(1),
        Some(Underway::Waiting { attempt: n, due_ms }) => {
            attempt = n.saturating_sub(1);
            wait = Duration::from_millis(due_ms.saturating_sub(ctx.clock.wall_ms()));
        }
        Some(Underway::Failed { attempt: n, failure }) => {
            attempt = n;
            if let Some(f) = retry_or_give_up(ctx, step, path, n, failure).await? {
                return Ok(Err(f));
            }
        }
    }
    loop {
        if !wait.is_zero() {
            ctx.clock.sleep(std::mem::take(&mut wait)).await;
        }
        attempt += 1;
        if let Some(spec) = step.breaker {
            let admission = {
                let mut b = ctx.breakers.lock().unwrap_or_else(|p| p.into_inner());
                b.entry(breaker_key.clone()).or_insert_with(|| Breaker::new(spec)).admit(ctx.clock.now())
            };
            if let Admission::Reject { .. } = admission {
                ctx.emit(Event::BreakerRejected { step: path.to_string(), skill: breaker_key.clone() }).await?;
                return Ok(Err(Failure::new(
                    OutcomeKind::Transient,
                    format!("the circuit breaker for `{breaker_key}` is open"),
                )));
            }
        }
        let used = ctx.attempts.fetch_add(1, Ordering::SeqCst);
        if used >= ctx.wf.settings.max_attempts {
            return Ok(Err(Failure::new(
                OutcomeKind::Permanent,
                format!("the run's budget of {} attempts is spent", ctx.wf.settings.max_attempts),
            )));
        }
        ctx.emit(Event::AttemptStarted { step: path.to_string(), attempt }).await?;
        let result = match ctx.fault(path, &step.name) {
            Some(kind) => Err(injected(ctx, kind, step).await),
            None => match resolve_grants(step, scope, &ctx.wf.source.dir) {
                Err(f) => Err(f),
                Ok(mut grants) => {
                    // A stable key per step, so a skill with side effects can
                    // deduplicate them when a resumed run repeats an attempt.
                    grants.env.insert("WEFT_IDEMPOTENCY_KEY".into(), format!("{}/{path}", ctx.run_id));
                    grants.env.insert("WEFT_ATTEMPT".into(), attempt.to_string());
                    let _slot = ctx.slots.acquire().await.expect("the slots are never closed");
                    let tools: Option<Arc<dyn crate::sandbox::ToolGateway>> =
                        (!grants.mcp_servers.is_empty()).then(|| {
                            Arc::new(crate::mcp::client::Gateway {
                                pool: ctx.mcp.clone(),
                                timeout: step.limits.timeout,
                            }) as _
                        });
                    let opts = RunOptions { limits: step.limits.clone(), grants, tools };
                    invoke(ctx, AttemptAt { run_id: &ctx.run_id, step: path, attempt }, step, input, &opts).await
                }
            },
        };
        let failure = match result {
            Ok(output) => {
                if step.breaker.is_some() {
                    let mut b = ctx.breakers.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(br) = b.get_mut(&breaker_key) {
                        br.succeeded();
                    }
                }
                return Ok(Ok(output));
            }
            Err(f) => f,
        };
        ctx.emit(Event::AttemptFailed { step: path.to_string(), attempt, failure: failure.clone() }).await?;
        if step.breaker.is_some() {
            let opened = {
                let mut b = ctx.breakers.lock().unwrap_or_else(|p| p.into_inner());
                b.get_mut(&breaker_key).map(|br| br.failed(ctx.clock.now())) == Some(Transition::Opened)
            };
            if opened {
                ctx.emit(Event::BreakerOpened { step: path.to_string(), skill: breaker_key.clone() }).await?;
            }
        }
        if let Some(f) = retry_or_give_up(ctx, step, path, attempt, failure).await? {
            return Ok(Err(f));
        }
    }
}

/// After attempt `attempt` failed: schedules the next one and waits its
/// backoff (`None`), or gives the failure back when it is not retried.
async fn retry_or_give_up(
    ctx: &Ctx,
    step: &StepPlan,
    path: &str,
    attempt: u32,
    failure: Failure,
) -> Result<Option<Failure>, Escalation> {
    if !step.retry.retries(failure.kind, attempt) {
        return Ok(Some(failure));
    }
    let delay = step.retry.delay_after(attempt, ctx.unit());
    ctx.emit(Event::RetryScheduled {
        step: path.to_string(),
        attempt: attempt + 1,
        delay_ms: delay.as_millis() as u64,
    })
    .await?;
    ctx.clock.sleep(delay).await;
    Ok(None)
}

/// One call of what a skill or script step runs, with the step's own
/// contracts checked around a script.
async fn invoke(
    ctx: &Ctx,
    at: AttemptAt<'_>,
    step: &StepPlan,
    input: &Value,
    opts: &RunOptions,
) -> Result<Value, Failure> {
    // Steps that call MCP servers run here, beside the servers; others may go elsewhere.
    let run = |skill: &crate::sandbox::Skill, text: String| {
        let dispatch = ctx.dispatch.clone().filter(|_| opts.tools.is_none());
        let skill = skill.clone();
        async move {
            match dispatch {
                Some(d) => d.run_skill(at, &skill, &text, opts).await,
                None => skill.run(&text, opts).await.result,
            }
        }
    };
    match &step.kind {
        StepKind::Tool(t) => {
            if let Some(c) = &t.input
                && let Err(v) = c.check(input)
            {
                return Err(Failure::new(
                    OutcomeKind::InvalidInput,
                    format!("the arguments break the step's input_schema: {v}"),
                ));
            }
            let output = ctx.mcp.call(&t.server, &t.tool, input, opts.limits.timeout, t.tool_error).await?;
            if let Some(c) = &t.output
                && let Err(v) = c.check(&output)
            {
                return Err(Failure::new(
                    OutcomeKind::ContractViolation,
                    format!("the tool's result breaks the step's output_schema: {v}"),
                ));
            }
            Ok(output)
        }
        StepKind::Skill(skill) => run(skill, input.to_string()).await,
        StepKind::Script(sc) => {
            if let Some(c) = &sc.input
                && let Err(v) = c.check(input)
            {
                return Err(Failure::new(
                    OutcomeKind::InvalidInput,
                    format!("the input breaks the step's input_schema: {v}"),
                ));
            }
            let wrapped = crate::scripts::runner_input(&sc.source, input, &sc.filename);
            let output = run(&sc.runner, wrapped).await?;
            if let Some(c) = &sc.output
                && let Err(v) = c.check(&output)
            {
                return Err(Failure::new(
                    OutcomeKind::ContractViolation,
                    format!("the output breaks the step's output_schema: {v}"),
                ));
            }
            Ok(output)
        }
        StepKind::Group(_) => unreachable!("groups are not invoked"),
    }
}

/// What an injected fault looks like from inside the step.
async fn injected(ctx: &Ctx, kind: OutcomeKind, step: &StepPlan) -> Failure {
    if kind == OutcomeKind::Timeout {
        // A hang: wait out the step's own timeout, as a hung skill would
        // (on the run's clock, so a test's manual clock does not wait).
        ctx.clock.sleep(step.limits.timeout).await;
    }
    Failure::new(kind, format!("injected fault: {kind}"))
}

fn resolve_grants(step: &StepPlan, scope: &Scope, dir: &Path) -> Result<Grants, Failure> {
    let mut g = Grants::default();
    for (list, writable) in [(&step.grants.read, false), (&step.grants.write, true)] {
        for entry in list {
            let text = interpolate(entry, scope).map_err(expr_failure)?;
            let p = Path::new(&text);
            let p = if p.is_absolute() { p.to_path_buf() } else { dir.join(p) };
            let abs = std::fs::canonicalize(&p)
                .map_err(|e| Failure::new(OutcomeKind::Permanent, format!("cannot grant `{}`: {e}", p.display())))?;
            g = if writable { g.write_dir(abs) } else { g.read_dir(abs) };
        }
    }
    for (k, v) in &step.grants.env {
        g = g.env(k, v);
    }
    g.mcp_servers = step.grants.servers.clone();
    for k in &step.grants.inherit_env {
        let v = std::env::var(k).map_err(|_| {
            Failure::new(
                OutcomeKind::Permanent,
                format!("`{k}` is granted through inherit_env but not set in weft's environment"),
            )
        })?;
        g = g.env(k, v);
    }
    Ok(g)
}

/// A step failed for good: try its fallback, then apply `on_failure`.
async fn give_up(
    ctx: &Arc<Ctx>,
    step: &StepPlan,
    path: &str,
    failing: String,
    failure: Failure,
    input: Option<&Value>,
) -> Result<Finished, Escalation> {
    let mut failure = failure;
    match &step.fallback {
        Some(FallbackPlan::Value(v)) => {
            ctx.emit(Event::FallbackUsed { step: path.to_string(), source: FallbackSource::Value }).await?;
            return finish(ctx, path, StepStatus::Fallback, v.clone(), Some(failure)).await;
        }
        Some(FallbackPlan::Skill(s)) => {
            let input = input.map_or_else(|| "null".to_string(), Value::to_string);
            // Its own stable key: it stands in for the step, in every life of the run.
            let key = format!("{}/{path}/fallback", ctx.run_id);
            let grants = Grants::default().env("WEFT_IDEMPOTENCY_KEY", key);
            let opts = RunOptions { limits: step.limits.clone(), grants, ..RunOptions::default() };
            let report = {
                let _slot = ctx.slots.acquire().await.expect("the slots are never closed");
                s.run(&input, &opts).await
            };
            match report.result {
                Ok(v) => {
                    ctx.emit(Event::FallbackUsed { step: path.to_string(), source: FallbackSource::Skill }).await?;
                    return finish(ctx, path, StepStatus::Fallback, v, Some(failure)).await;
                }
                Err(f2) => {
                    failure = Failure::new(
                        f2.kind,
                        format!("{} (and its fallback skill failed too: {})", failure.message, f2.message),
                    );
                }
            }
        }
        None => {}
    }
    match step.on_failure {
        OnFailure::Continue => finish(ctx, path, StepStatus::Skipped, Value::Null, Some(failure)).await,
        OnFailure::Escalate => {
            finish(ctx, path, StepStatus::Failed, Value::Null, Some(failure.clone())).await?;
            Err(Escalation { step: failing, failure })
        }
    }
}

/// Runs a group: its scope once, or repeatedly until its condition holds.
async fn run_group(ctx: Arc<Ctx>, g: &GroupPlan, outer: &Scope, path: &str, input: Value) -> Result<Value, Escalation> {
    let rounds = g.repeat.as_ref().map_or(1, |(_, n)| *n);
    let env_input = Arc::new(input);
    let mut previous = Value::Null;
    for i in 0..rounds {
        let prefix = if g.repeat.is_some() { format!("{path}#{}.", i + 1) } else { format!("{path}.") };
        let iteration = g.repeat.as_ref().map(|_| (i, previous.clone())).or_else(|| outer.iteration.clone());
        let env = Env { input: env_input.clone(), item: outer.item.clone(), iteration: iteration.clone(), prefix };
        let results = run_scope(ctx.clone(), g.scope.clone(), env).await?;
        let steps = steps_value(&results);
        let scope =
            Scope { input: env_input.clone(), steps: Arc::new(steps.clone()), item: outer.item.clone(), iteration };
        let done = match &g.repeat {
            None => true,
            Some((until, _)) => {
                until.eval_bool(&scope).map_err(|e| Escalation { step: path.to_string(), failure: expr_failure(e) })?
            }
        };
        if done {
            return match &g.output {
                Some(t) => t.eval(&scope).map_err(|e| Escalation { step: path.to_string(), failure: expr_failure(e) }),
                None => Ok(Value::Object(results.into_iter().map(|(k, f)| (k, f.output)).collect())),
            };
        }
        previous = Value::Object(steps);
    }
    let until = g.repeat.as_ref().map(|(u, _)| u.source().to_string()).unwrap_or_default();
    Err(Escalation {
        step: path.to_string(),
        failure: Failure::new(
            OutcomeKind::Permanent,
            format!("did not converge: `{until}` was still false after {rounds} iterations"),
        ),
    })
}
