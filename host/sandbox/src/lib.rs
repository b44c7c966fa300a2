//! weft's sandbox: loads skill components and runs each call in a fresh store
//! with hard limits, turning every way a run can end into one [`Failure`]
//! kind or a JSON output.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use weft_domain::{Grants, Limits};
//! use weft_sandbox::{RunOptions, Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let skill = sandbox.load_file("target/skills/word-count.wasm".as_ref()).await?;
//! let report = skill.run(r#"{"text": "a b c"}"#, &RunOptions::default()).await;
//! println!("{:?}", report.result);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod cache;
mod capture;
mod classify;
mod engine;
mod files;
mod host;
pub mod scripts;
mod state;

pub use cache::default_cache_dir;
pub use capture::Captured;
pub use engine::{Allocation, EngineError};
pub use files::DiskQuotaExceeded;
pub use host::ToolGateway;
pub use state::{GrantError, LogLevel, LogLine};

use engine::{EngineProfile, EngineSlot, EpochTicker};
use host::{ErrorKind, SkillWorldPre, ToolAccess};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use weft_domain::contract::cost::CostError;
use weft_domain::contract::{Contract, GuardError, SchemaError};
use weft_domain::{Failure, Grants, Limits, OutcomeKind, Size};

/// How a [`Sandbox`] is set up. The default caches compiled components in
/// [`default_cache_dir`] and pools instances.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled components are cached; `None` disables the cache.
    /// Default: [`default_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// How instances are allocated. Default: a pool of 1,000 instances.
    pub allocation: Allocation,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig { cache_dir: default_cache_dir(), allocation: Allocation::Pooling { instances: 1000 } }
    }
}

impl SandboxConfig {
    /// For a process that runs one skill and exits (`weft skill run`,
    /// `weft script run`): instances are allocated on demand, since reserving
    /// a pool of slots costs more at start-up than the pool saves on one run.
    pub fn one_shot() -> Self {
        SandboxConfig { allocation: Allocation::OnDemand, ..SandboxConfig::default() }
    }
}

/// Loads and runs skills. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<SandboxInner>,
}

struct SandboxInner {
    config: SandboxConfig,
    cache: cache::CompileCache,
    engines: Mutex<HashMap<EngineProfile, Arc<EngineSlot>>>,
    ticker: EpochTicker,
    /// One permit per instance slot, so a burst waits instead of failing.
    slots: Semaphore,
}

/// Why a skill could not be loaded. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component.
    #[error("`{path}` is not a WebAssembly component: {reason}")]
    NotComponent {
        /// The file.
        path: String,
        /// What it is instead, and what to do.
        reason: String,
    },
    /// The component is malformed or fails to compile.
    #[error("`{path}` is not a valid component: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The compiler's complaint.
        reason: String,
    },
    /// The component does not implement the `weft:skill` world.
    #[error("`{path}` does not implement the weft:skill world: {reason}")]
    WrongWorld {
        /// The file.
        path: String,
        /// What is missing or extra.
        reason: String,
    },
    /// `describe` failed.
    #[error("`{path}`: describe failed: {failure}")]
    Describe {
        /// The file.
        path: String,
        /// How it failed.
        failure: Failure,
    },
    /// A declared schema is not a usable JSON Schema.
    #[error("`{path}`: its {which} schema is unusable: {error}")]
    Schema {
        /// The file.
        path: String,
        /// `input` or `output`.
        which: &'static str,
        /// Why.
        error: SchemaError,
    },
    /// A declared schema could make checking a value too costly, or uses a
    /// reference whose cost cannot be bounded (see [`weft_domain::contract::cost`]).
    #[error("`{path}`: its {which} schema {error}")]
    SchemaCost {
        /// The file.
        path: String,
        /// `input` or `output`.
        which: &'static str,
        /// Why.
        error: CostError,
    },
    /// The engine could not be created.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a skill says about itself, with its schemas parsed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SkillInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: Value,
    /// JSON Schema of its output.
    pub output_schema: Value,
}

/// Limits, grants and tool access for one run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Hard limits.
    pub limits: Limits,
    /// What the guest may touch.
    pub grants: Grants,
    /// How `call-tool` reaches MCP servers; none means every call is refused.
    pub tools: Option<Arc<dyn ToolGateway>>,
}

/// Everything known about one run once it has ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The output, or the one failure that ended the run.
    pub result: Result<Value, Failure>,
    /// Wall-clock time of the run, instantiation included.
    pub duration: Duration,
    /// Fuel used, when the run was metered.
    pub fuel_consumed: Option<u64>,
    /// What the guest wrote to stdout.
    pub stdout: Captured,
    /// What the guest wrote to stderr.
    pub stderr: Captured,
    /// What the guest logged through the host.
    pub logs: Vec<LogLine>,
    /// Log lines dropped past the budget.
    pub logs_dropped: u64,
}

impl RunReport {
    /// The report as one JSON object, the shape `weft skill run --json`
    /// prints (docs/sandbox.md): `status` (`ok` or `error`), `output` or
    /// `error` (`{kind, message}`), `duration_ms`, `fuel_consumed`, `stdout`,
    /// `stderr`, their `*_truncated` flags, `logs` and `logs_dropped`.
    pub fn to_json(&self) -> Value {
        let mut v = match &self.result {
            Ok(output) => serde_json::json!({"status": "ok", "output": output}),
            Err(f) => serde_json::json!({"status": "error", "error": {"kind": f.kind, "message": f.message}}),
        };
        if let Some(m) = v.as_object_mut() {
            m.insert("duration_ms".into(), serde_json::json!(self.duration.as_secs_f64() * 1000.0));
            m.insert("fuel_consumed".into(), serde_json::json!(self.fuel_consumed));
            m.insert("stdout".into(), serde_json::json!(self.stdout.text));
            m.insert("stderr".into(), serde_json::json!(self.stderr.text));
            m.insert("stdout_truncated".into(), serde_json::json!(self.stdout.truncated()));
            m.insert("stderr_truncated".into(), serde_json::json!(self.stderr.truncated()));
            m.insert("logs".into(), serde_json::json!(self.logs));
            m.insert("logs_dropped".into(), serde_json::json!(self.logs_dropped));
        }
        v
    }

    /// The report of a run refused before it started (its input could not
    /// be taken, say): no time, no output, nothing captured.
    pub fn refused(failure: Failure) -> RunReport {
        RunReport { duration: Duration::ZERO, ..RunReport::failed(failure, Instant::now()) }
    }

    fn failed(failure: Failure, started: Instant) -> RunReport {
        RunReport {
            result: Err(failure),
            duration: started.elapsed(),
            fuel_consumed: None,
            stdout: Captured::default(),
            stderr: Captured::default(),
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

/// A loaded skill: compiled, linked, described. Cheap to clone.
#[derive(Clone)]
pub struct Skill {
    inner: Arc<SkillInner>,
}

struct SkillInner {
    sandbox: Sandbox,
    origin: String,
    bytes: Arc<[u8]>,
    digest: String,
    info: SkillInfo,
    input: Contract,
    output: Contract,
    pres: Mutex<HashMap<EngineProfile, SkillWorldPre<state::RunState>>>,
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];

impl Sandbox {
    /// Creates a sandbox. Engines are made on first use.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, EngineError> {
        let slots = match config.allocation {
            Allocation::Pooling { instances } => instances as usize,
            Allocation::OnDemand => Semaphore::MAX_PERMITS,
        };
        let inner = SandboxInner {
            cache: cache::CompileCache::new(config.cache_dir.clone()),
            config,
            engines: Mutex::new(HashMap::new()),
            ticker: EpochTicker::start(),
            slots: Semaphore::new(slots),
        };
        let sandbox = Sandbox { inner: Arc::new(inner) };
        sandbox.engine(EngineProfile::for_limits(&Limits::default()))?;
        Ok(sandbox)
    }

    /// How instances are allocated (pooling may have fallen back to on-demand).
    pub fn allocation(&self) -> Allocation {
        self.engine(EngineProfile::for_limits(&Limits::default()))
            .map(|e| e.allocation)
            .unwrap_or(self.inner.config.allocation)
    }

    fn engine(&self, profile: EngineProfile) -> Result<Arc<EngineSlot>, EngineError> {
        let mut engines = self.inner.engines.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = engines.get(&profile) {
            return Ok(e.clone());
        }
        let slot = Arc::new(EngineSlot::new(profile, self.inner.config.allocation)?);
        self.inner.ticker.watch(&slot.engine);
        engines.insert(profile, slot.clone());
        Ok(slot)
    }

    /// Loads the component at `path`: a regular file of at most
    /// [`MAX_COMPONENT_BYTES`] (a device, a FIFO or a huge file named as a
    /// skill is refused before it is read, not read until memory runs out).
    pub async fn load_file(&self, path: &Path) -> Result<Skill, LoadError> {
        let bytes = read_component(path).await?;
        self.load_bytes(&path.display().to_string(), bytes).await
    }

    /// Loads a component from memory; `origin` names it in messages.
    pub async fn load_bytes(&self, origin: &str, bytes: Vec<u8>) -> Result<Skill, LoadError> {
        check_header(origin, &bytes)?;
        let digest = cache::digest(&bytes);
        let profile = EngineProfile::for_limits(&Limits::default());
        let bytes: Arc<[u8]> = bytes.into();
        let pre = self.prepare_off_thread(origin, &digest, &bytes, profile).await?;
        let limits = Limits { timeout: Duration::from_secs(10), ..Limits::default() };
        let info = self.describe(origin, &pre, &limits).await?;
        let input = declared_contract(origin, "input", &info.input_schema)?;
        let output = declared_contract(origin, "output", &info.output_schema)?;
        let mut pres = HashMap::new();
        pres.insert(profile, pre);
        Ok(Skill {
            inner: Arc::new(SkillInner {
                sandbox: self.clone(),
                origin: origin.to_string(),
                bytes,
                digest,
                info,
                input,
                output,
                pres: Mutex::new(pres),
            }),
        })
    }

    /// [`Sandbox::prepare`] on the blocking pool: compiling a large component
    /// takes seconds, which must not stall the async workers. A panic in the
    /// compiler (on hostile bytes) becomes a load error, not a host panic.
    async fn prepare_off_thread(
        &self,
        origin: &str,
        digest: &str,
        bytes: &Arc<[u8]>,
        profile: EngineProfile,
    ) -> Result<SkillWorldPre<state::RunState>, LoadError> {
        let sandbox = self.clone();
        let (origin2, digest, bytes) = (origin.to_string(), digest.to_string(), bytes.clone());
        let joined = tokio::task::spawn_blocking(move || sandbox.prepare(&origin2, &digest, &bytes, profile)).await;
        joined.unwrap_or_else(|e| Err(LoadError::Invalid { path: origin.to_string(), reason: join_failure(e) }))
    }

    /// Compiles (or maps from the cache) and links a component for one engine profile.
    fn prepare(
        &self,
        origin: &str,
        digest: &str,
        bytes: &[u8],
        profile: EngineProfile,
    ) -> Result<SkillWorldPre<state::RunState>, LoadError> {
        let slot = self.engine(profile)?;
        let component = self
            .inner
            .cache
            .component(&slot.engine, digest, bytes)
            .map_err(|e| LoadError::Invalid { path: origin.to_string(), reason: first_line(&e) })?;
        let instance_pre = slot
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld { path: origin.to_string(), reason: format!("{e:#}") })?;
        SkillWorldPre::new(instance_pre).map_err(|e| LoadError::WrongWorld {
            path: origin.to_string(),
            reason: format!("{e:#}; a skill exports `describe` and `run` (see wit/skill.wit)"),
        })
    }

    async fn describe(
        &self,
        origin: &str,
        pre: &SkillWorldPre<state::RunState>,
        limits: &Limits,
    ) -> Result<SkillInfo, LoadError> {
        let fail = |failure| LoadError::Describe { path: origin.to_string(), failure };
        let (returned, _) =
            self.call_guest(pre, limits, &Grants::default(), ToolAccess::default(), Call::Describe).await;
        let raw = match returned.map_err(fail)? {
            Returned::Info(info) => info,
            Returned::Run(_) => unreachable!("describe returns skill-info"),
        };
        // What `describe` says is shown, listed to MCP clients and kept with
        // every loaded skill: bounded like a run's output.
        let said = [&raw.name, &raw.version, &raw.description, &raw.input_schema, &raw.output_schema]
            .iter()
            .map(|t| t.len() as u64)
            .sum::<u64>();
        if said > limits.max_output {
            return Err(fail(Failure::new(
                OutcomeKind::OutputLimit,
                format!("describe returned {} of text, over the limit of {}", Size(said), Size(limits.max_output)),
            )));
        }
        let parse = |which: &'static str, text: &str| -> Result<Value, LoadError> {
            if text.trim().is_empty() {
                return Ok(Value::Bool(true));
            }
            serde_json::from_str(text).map_err(|e| LoadError::Schema {
                path: origin.to_string(),
                which,
                error: SchemaError(format!("not JSON: {e}")),
            })
        };
        Ok(SkillInfo {
            input_schema: parse("input", &raw.input_schema)?,
            output_schema: parse("output", &raw.output_schema)?,
            name: raw.name,
            version: raw.version,
            description: raw.description,
        })
    }

    /// Makes a fresh instance in a fresh store under `limits` and calls it,
    /// racing the call against the deadline. Returns what the guest returned
    /// or the one failure that ended it, and what the store collected.
    async fn call_guest(
        &self,
        pre: &SkillWorldPre<state::RunState>,
        limits: &Limits,
        grants: &Grants,
        tools: ToolAccess,
        call: Call<'_>,
    ) -> (Result<Returned, Failure>, Leftovers) {
        let _permit = self.inner.slots.acquire().await.expect("the slot semaphore is never closed");
        let _ticking = self.inner.ticker.ticking();
        let deadline = Instant::now() + limits.timeout;
        let (mut store, captures) = match state::new_store(pre.engine(), limits, grants, tools, deadline) {
            Ok(s) => s,
            Err(e) => return (Err(Failure::new(OutcomeKind::Permanent, e.to_string())), Leftovers::default()),
        };
        let called = async {
            let guest = pre.instantiate_async(&mut store).await?;
            Ok::<_, wasmtime::Error>(match call {
                Call::Describe => Returned::Info(guest.call_describe(&mut store).await?),
                Call::Run(input) => Returned::Run(guest.call_run(&mut store, input).await?),
            })
        };
        // Dropping the call at the deadline also stops a guest blocked in a
        // host call, which epoch interruption alone cannot reach.
        let outcome = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), called).await;
        let fuel_consumed = limits.fuel.map(|given| given.saturating_sub(store.get_fuel().unwrap_or(0)));
        let data = store.data_mut();
        let stderr = captures.stderr.snapshot();
        let result = match outcome {
            Ok(Ok(v)) => Ok(v),
            Err(_elapsed) => Err(Failure::new(OutcomeKind::Timeout, timeout_message(limits))),
            Ok(Err(e)) => {
                let end = classify::EndState {
                    memory_refused: data.memory.refused,
                    memory_cap: data.memory.cap(),
                    stderr_tail: stderr.tail(2048),
                    max_output: limits.max_output,
                };
                let mut f = classify::classify(&e, &end);
                if f.kind == OutcomeKind::Timeout {
                    f.message = timeout_message(limits);
                }
                Err(f)
            }
        };
        let left = Leftovers {
            stdout: captures.stdout.snapshot(),
            stderr,
            logs: std::mem::take(&mut data.logs.lines),
            logs_dropped: data.logs.dropped,
            fuel_consumed,
        };
        (result, left)
    }
}

fn timeout_message(limits: &Limits) -> String {
    format!("the run went past its deadline of {}", weft_domain::Span(limits.timeout))
}

/// What to call on a fresh instance.
enum Call<'a> {
    Describe,
    Run(&'a str),
}

/// What the guest returned.
enum Returned {
    Info(host::SkillInfo),
    Run(Result<String, host::SkillError>),
}

/// What a store collected besides the result.
#[derive(Default)]
struct Leftovers {
    stdout: Captured,
    stderr: Captured,
    logs: Vec<LogLine>,
    logs_dropped: u64,
    fuel_consumed: Option<u64>,
}

/// The largest component file weft loads (the Python runner, the largest
/// shipped, is about 25 MiB).
pub const MAX_COMPONENT_BYTES: u64 = 256 * weft_domain::Size::MIB;

async fn read_component(path: &Path) -> Result<Vec<u8>, LoadError> {
    use tokio::io::AsyncReadExt;
    let shown = path.display().to_string();
    let fail = |reason: String| LoadError::Read { path: shown.clone(), source: std::io::Error::other(reason) };
    // What the path names, without opening it: opening a FIFO blocks.
    let meta = tokio::fs::metadata(path).await.map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(fail(format!(
            "it is {}, over the limit of {} for a component",
            Size(meta.len()),
            Size(MAX_COMPONENT_BYTES)
        )));
    }
    let file = tokio::fs::File::open(path).await.map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(fail(format!("it grew past the limit of {} while it was read", Size(MAX_COMPONENT_BYTES))));
    }
    Ok(bytes)
}

/// Why a compile on the blocking pool did not return: the compiler panicked
/// (with its message, when it gave one) or the runtime is shutting down.
fn join_failure(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "compiling it was cancelled (the runtime is shutting down)".to_string();
    }
    let payload = e.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    format!("the compiler panicked on it: {message}")
}

fn first_line(e: &wasmtime::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}

/// Compiles a schema a skill declared, once its cost is bounded: the guest
/// chose it, and every input and output is checked against it in-process.
fn declared_contract(origin: &str, which: &'static str, schema: &Value) -> Result<Contract, LoadError> {
    let path = origin.to_string();
    Contract::guarded(schema.clone()).map_err(|e| match e {
        GuardError::Cost(error) => LoadError::SchemaCost { path, which, error },
        GuardError::Schema(error) => LoadError::Schema { path, which, error },
    })
}

fn check_header(origin: &str, bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotComponent {
            path: origin.to_string(),
            reason: "it is not WebAssembly at all (no `\\0asm` header)".to_string(),
        });
    }
    if bytes[4..8] == CORE_VERSION {
        return Err(LoadError::NotComponent {
            path: origin.to_string(),
            reason: "it is a core WebAssembly module; build skills as components \
                     (for Rust: `cargo build --target wasm32-wasip2`)"
                .to_string(),
        });
    }
    Ok(())
}

impl Skill {
    /// What the skill says about itself.
    pub fn info(&self) -> &SkillInfo {
        &self.inner.info
    }

    /// Where it was loaded from.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// BLAKE3 digest of its bytes (hex).
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The component's bytes, as loaded.
    pub fn bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// Its input contract.
    pub fn input_contract(&self) -> &Contract {
        &self.inner.input
    }

    /// Its output contract.
    pub fn output_contract(&self) -> &Contract {
        &self.inner.output
    }

    async fn pre_for(&self, profile: EngineProfile) -> Result<SkillWorldPre<state::RunState>, LoadError> {
        if let Some(pre) = self.inner.pres.lock().unwrap_or_else(|p| p.into_inner()).get(&profile) {
            return Ok(pre.clone());
        }
        let inner = &self.inner;
        let pre = inner.sandbox.prepare_off_thread(&inner.origin, &inner.digest, &inner.bytes, profile).await?;
        self.inner.pres.lock().unwrap_or_else(|p| p.into_inner()).insert(profile, pre.clone());
        Ok(pre)
    }

    /// Runs the skill once on `input` (JSON text) in a fresh sandbox.
    ///
    /// The input is checked against the size cap and the input schema first;
    /// the output against the size cap, JSON and the output schema after.
    pub async fn run(&self, input: &str, opts: &RunOptions) -> RunReport {
        let started = Instant::now();
        let limits = &opts.limits;
        if let Err(e) = limits.check() {
            return RunReport::failed(Failure::new(OutcomeKind::InvalidInput, e.to_string()), started);
        }
        if input.len() as u64 > limits.max_input {
            return RunReport::failed(
                Failure::new(
                    OutcomeKind::InvalidInput,
                    format!("the input is {}, over the limit of {}", Size(input.len() as u64), Size(limits.max_input)),
                ),
                started,
            );
        }
        let value: Value = match serde_json::from_str(input) {
            Ok(v) => v,
            Err(e) => {
                return RunReport::failed(
                    Failure::new(OutcomeKind::InvalidInput, format!("the input is not JSON: {e}")),
                    started,
                );
            }
        };
        if let Err(v) = self.inner.input.check(&value) {
            return RunReport::failed(
                Failure::new(OutcomeKind::InvalidInput, format!("the input breaks the skill's input schema: {v}")),
                started,
            );
        }
        let pre = match self.pre_for(EngineProfile::for_limits(limits)).await {
            Ok(p) => p,
            Err(e) => return RunReport::failed(Failure::new(OutcomeKind::Load, e.to_string()), started),
        };
        let tools = ToolAccess { gateway: opts.tools.clone(), granted: opts.grants.mcp_servers.clone() };
        let (returned, left) = self.inner.sandbox.call_guest(&pre, limits, &opts.grants, tools, Call::Run(input)).await;
        let result = returned.and_then(|r| match r {
            Returned::Run(Ok(text)) => self.accept_output(&text, limits),
            Returned::Run(Err(e)) => Err(guest_error(e)),
            Returned::Info(_) => unreachable!("run returns a result"),
        });
        RunReport {
            result,
            duration: started.elapsed(),
            fuel_consumed: left.fuel_consumed,
            stdout: left.stdout,
            stderr: left.stderr,
            logs: left.logs,
            logs_dropped: left.logs_dropped,
        }
    }

    fn accept_output(&self, text: &str, limits: &Limits) -> Result<Value, Failure> {
        if text.len() as u64 > limits.max_output {
            return Err(Failure::new(
                OutcomeKind::OutputLimit,
                format!("the output is {}, over the limit of {}", Size(text.len() as u64), Size(limits.max_output)),
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let shown: String = text.chars().take(80).collect();
            Failure::new(OutcomeKind::ContractViolation, format!("the output is not JSON ({e}): {shown:?}"))
        })?;
        self.inner.output.check(&value).map_err(|v| {
            Failure::new(OutcomeKind::ContractViolation, format!("the output breaks the skill's output schema: {v}"))
        })?;
        Ok(value)
    }
}

fn guest_error(e: host::SkillError) -> Failure {
    let kind = match e.kind {
        ErrorKind::Transient => OutcomeKind::Transient,
        ErrorKind::Permanent => OutcomeKind::Permanent,
        ErrorKind::InvalidInput => OutcomeKind::InvalidInput,
    };
    Failure::new(kind, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_compiler_panic_becomes_a_reason_not_a_host_panic() {
        let panicked: Result<(), _> =
            tokio::task::spawn_blocking(|| panic!("wasmtime gave up on {}", "these bytes")).await;
        assert_eq!(join_failure(panicked.unwrap_err()), "the compiler panicked on it: wasmtime gave up on these bytes");
        let panicked: Result<(), _> = tokio::task::spawn_blocking(|| panic!("a static message")).await;
        assert_eq!(join_failure(panicked.unwrap_err()), "the compiler panicked on it: a static message");
    }
}
