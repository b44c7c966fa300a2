//! weft as an MCP server (`weft mcp`): AI agents run scripts, skills and
//! workflows in weft's sandbox by calling MCP tools.
//!
//! The tools are `run_script`, `run_workflow`, `list_skills`, and one tool
//! per skill in the exposed skills directory. Every call runs under limits
//! clamped to the operator's [`Ceilings`] and is granted nothing: no files,
//! no environment, no network. See `docs/mcp.md`.
//!
//! The protocol layer is `rmcp`'s; this module implements [`ServerHandler`]
//! by hand because the tool list depends on the skills found at start-up.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use weft::mcp::server::{McpServerConfig, WeftMcp, serve_stdio};
//! use weft::sandbox::{Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let config = McpServerConfig { skills_dir: Some("target/skills".into()), ..McpServerConfig::default() };
//! let server = WeftMcp::start(sandbox, config).await?;
//! serve_stdio(server).await?;
//! # Ok(()) }
//! ```

use crate::domain::events::Report;
use crate::domain::spec::StepSpec;
use crate::domain::{Limits, OutcomeKind, Size, Span};
use crate::engine::load::Severity;
use crate::engine::plan::{ScopePlan, StepKind};
use crate::engine::{Diagnostic, Executor, MemorySink, RunRequest, SpecErrors, SpecSource, SystemClock, Workflow};
use crate::sandbox::{RunOptions, RunReport, Sandbox, Skill};
use crate::scripts::{Language, load_runner, runner_input};
use indexmap::IndexMap;
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The names of the built-in tools; a skill cannot take one of them.
pub const BUILTIN_TOOLS: [&str; 3] = ["run_script", "run_workflow", "list_skills"];

/// The most an operator may allow for one call's timeout or one workflow's
/// deadline (longer would make no sense for a tool call, and keeps deadline
/// arithmetic far from overflow).
pub const LONGEST_CEILING: Duration = Duration::from_secs(24 * 60 * 60);

/// The operator's ceilings: no call runs with more, whatever it asks for.
///
/// Limits not named here (stack, input, captured stdio, logs) are held at
/// the sandbox defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceilings {
    /// Wall-clock time of one run. Default: 30s.
    pub timeout: Duration,
    /// Memory of one run. Default: 256MiB.
    pub max_memory: u64,
    /// Fuel of one run; `None` leaves runs unmetered unless they ask. Default: none.
    pub fuel: Option<u64>,
    /// Output of one run. Default: 16MiB.
    pub max_output: u64,
    /// The whole of one workflow run (`[run] deadline`). Default: 5m.
    pub deadline: Duration,
}

impl Default for Ceilings {
    fn default() -> Self {
        Ceilings {
            timeout: Duration::from_secs(30),
            max_memory: 256 * Size::MIB,
            fuel: None,
            max_output: 16 * Size::MIB,
            deadline: Duration::from_secs(5 * 60),
        }
    }
}

impl Ceilings {
    /// The ceilings as limits: the four set here, the sandbox defaults for the rest.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            fuel: self.fuel,
            max_memory: self.max_memory,
            max_output: self.max_output,
            ..Limits::default()
        }
    }

    /// The limits a call gets when it asks for nothing: the sandbox defaults
    /// clamped to the ceilings.
    pub fn defaults(&self) -> Limits {
        Limits::default().clamp_to(&self.limits())
    }

    /// Checks that the ceilings are usable.
    pub fn check(&self) -> Result<(), ServerError> {
        self.limits().check().map_err(|e| ServerError::Ceiling(e.to_string()))?;
        for (name, d) in [("timeout", self.timeout), ("deadline", self.deadline)] {
            if d.is_zero() {
                return Err(ServerError::Ceiling(format!("the {name} ceiling must be above zero")));
            }
            if d > LONGEST_CEILING {
                return Err(ServerError::Ceiling(format!(
                    "the {name} ceiling is {}, over the most allowed ({})",
                    Span(d),
                    Span(LONGEST_CEILING)
                )));
            }
        }
        Ok(())
    }
}

/// What `weft mcp` exposes, and the operator's ceilings.
#[derive(Debug, Clone, Default)]
pub struct McpServerConfig {
    /// Calls that run at once (`run_script`, `run_workflow`, skill tools);
    /// the rest wait their turn, first come first served, and a call that
    /// cannot start before its timeout passes ends as `timeout`. `0`: twice
    /// the machine's cores. Default: `0`.
    pub max_calls: usize,
    /// A directory of skill components (`*.wasm`), each exposed as a tool.
    /// `None`: no skill tools.
    pub skills_dir: Option<PathBuf>,
    /// The only directory `run_workflow` reads spec files from. `None`: only
    /// specs given inline.
    pub workflows_dir: Option<PathBuf>,
    /// The most any call may use.
    pub ceilings: Ceilings,
}

/// Why the server cannot start or serve.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A configured directory cannot be used.
    #[error("{flag} {path}: {reason}")]
    Dir {
        /// The option that named it (`--skills`, `--workflows`).
        flag: &'static str,
        /// The directory as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A ceiling is unusable.
    #[error("bad ceiling: {0}")]
    Ceiling(String),
    /// The HTTP address is not a loopback address and remote access was not allowed.
    #[error(
        "{0} is not a loopback address: weft mcp has no authentication, so anyone who can reach it could run \
         code on this machine (inside the sandbox, within the ceilings); serve on 127.0.0.1 (the default), \
         or pass --allow-remote if the network is trusted"
    )]
    NotLoopback(SocketAddr),
    /// The HTTP address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving MCP failed: {0}")]
    Serve(String),
}

/// A skill exposed as a tool.
struct Exposed {
    skill: Skill,
    /// Whether the tool takes `{"input": ...}` because the skill's input
    /// schema is not an object schema.
    wrapped: bool,
}

struct Inner {
    sandbox: Sandbox,
    /// One permit per call that may run at once (a fair, FIFO queue).
    calls: Arc<tokio::sync::Semaphore>,
    max_calls: usize,
    ceiling: Limits,
    defaults: Limits,
    max_deadline: Duration,
    runners: HashMap<Language, Result<Skill, String>>,
    skills: IndexMap<String, Exposed>,
    skills_dir: Option<PathBuf>,
    workflows_dir: Option<PathBuf>,
    /// Where relative paths in inline specs resolve.
    inline_dir: PathBuf,
    tools: Vec<Tool>,
    warnings: Vec<String>,
}

/// The weft MCP server: the skills and runners, loaded once, and the tools
/// over them. Cheap to clone (the HTTP transport makes one per session).
#[derive(Clone)]
pub struct WeftMcp {
    inner: Arc<Inner>,
}

fn canonical_dir(flag: &'static str, dir: &Path) -> Result<PathBuf, ServerError> {
    let err = |reason: String| ServerError::Dir { flag, path: dir.display().to_string(), reason };
    let abs = std::fs::canonicalize(dir).map_err(|e| err(format!("cannot use it: {e}")))?;
    if !abs.is_dir() {
        return Err(err("not a directory".into()));
    }
    Ok(abs)
}

/// `path` with `.` and `..` resolved lexically (no file system access).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A skill's name as a tool name: `[A-Za-z0-9_-]`, at most 128 characters.
pub fn tool_name(skill_name: &str) -> String {
    skill_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(128)
        .collect()
}

/// Whether a skill's input schema can be a tool's `inputSchema` as it is
/// (MCP requires `{"type": "object", ...}`).
fn is_object_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    }
}

fn skill_tool(name: &str, skill: &Skill) -> (Tool, bool) {
    let info = skill.info();
    let mut description = if info.description.trim().is_empty() {
        format!("Runs the weft skill `{}`.", info.name)
    } else {
        info.description.trim().to_string()
    };
    description.push_str(&format!(
        " (weft skill `{}` {}; runs once in a fresh sandbox with no files, environment or network.",
        info.name, info.version
    ));
    let wrapped = !is_object_schema(&info.input_schema);
    let schema = if wrapped {
        description.push_str(" Its input is not an object, so pass it as the `input` argument.)");
        // Embedding the skill's schema keeps it visible to the caller; a
        // schema with references is left out, since they would no longer
        // resolve once nested.
        let text = info.input_schema.to_string();
        let input = if text.contains("\"$ref\"") || text.contains("\"$dynamicRef\"") {
            json!({"description": format!("The skill's input: JSON matching the schema {text}")})
        } else {
            let mut s = info.input_schema.clone();
            if let Some(m) = s.as_object_mut() {
                m.remove("$schema");
                m.remove("$id");
            }
            match s {
                Value::Bool(true) => json!({"description": "The skill's input (any JSON; default null)."}),
                other => other,
            }
        };
        json!({"type": "object", "properties": {"input": input}, "additionalProperties": false})
    } else {
        description.push(')');
        info.input_schema.clone()
    };
    let tool = Tool::new(name.to_string(), description, object(schema))
        .with_title(format!("{} {}", info.name, info.version))
        .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
    (tool, wrapped)
}

fn builtin_tools() -> Vec<Tool> {
    let limits = json!({
        "type": "object",
        "description": "Lower the limits of this run. Values above the server's ceilings are lowered to them; \
                        leave a limit out for the server's default.",
        "properties": {
            "timeout": {"type": "string", "description": "Wall-clock limit, like \"500ms\", \"2s\" or \"1m\"."},
            "fuel": {"type": "integer", "minimum": 1,
                     "description": "Instruction budget (roughly, WebAssembly instructions)."},
            "max_memory": {"type": ["string", "integer"], "description": "Memory cap, like \"64MiB\", or bytes."},
            "max_output": {"type": ["string", "integer"], "description": "Largest output, like \"1MiB\", or bytes."}
        },
        "additionalProperties": false
    });
    let run_script = json!({
        "type": "object",
        "properties": {
            "language": {"type": "string", "enum": ["python", "javascript"]},
            "source": {"type": "string",
                       "description": "The script: Python or JavaScript defining run(input), which returns JSON."},
            "input": {"description": "The value passed to run(input): any JSON (default null)."},
            "limits": limits
        },
        "required": ["language", "source"],
        "additionalProperties": false
    });
    let run_workflow = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "string",
                     "description": "A workflow spec, as TOML or JSON text. Give `spec` or `path`, not both."},
            "path": {"type": "string",
                     "description": "A spec file in the server's workflows directory, relative to it."},
            "input": {"description": "The run's input: any JSON (default null)."}
        },
        "additionalProperties": false
    });
    let sandboxed = ToolAnnotations::new().read_only(true).open_world(false);
    vec![
        Tool::new(
            "run_script",
            "Runs a Python or JavaScript script in a fresh WebAssembly sandbox with hard limits and no files, \
             environment or network. The script defines run(input) and returns a JSON value. The result has \
             `status` (`ok` or `error`), the `output` or the `error` ({kind, message}; kinds such as timeout, \
             memory_limit, invalid_input, permanent), `duration_ms`, the captured `stdout` and `stderr`, and \
             `logs` (weft.log / console.log). Python: CPython 3.14 with most of the standard library; \
             JavaScript: QuickJS (ES2023), no Node or browser APIs.",
            object(run_script),
        )
        .with_title("Run a script in the sandbox")
        .with_annotations(sandboxed.clone()),
        Tool::new(
            "run_workflow",
            "Runs a weft workflow (a DAG of skill and script steps with data contracts, retries, fallbacks and \
             loops) to the end and returns its report: status `succeeded` or `failed`, the output, and per step \
             its status, attempts and recovery. A spec with errors is refused with diagnostics. Inline specs \
             may use skills and files only under the server's exposed directories (list_skills gives each \
             skill's path), and may not grant files, environment or MCP servers.",
            object(run_workflow),
        )
        .with_title("Run a workflow"),
        Tool::new(
            "list_skills",
            "Lists the skills this server exposes: name, version, description, the tool that runs it, its file \
             path (for `skill = ...` in a workflow spec), and its input and output JSON Schemas.",
            object(json!({"type": "object", "properties": {}, "additionalProperties": false})),
        )
        .with_title("List the skills")
        .with_annotations(sandboxed),
    ]
}

/// The limits a caller may set on `run_script`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallLimits {
    timeout: Option<Span>,
    fuel: Option<u64>,
    max_memory: Option<Size>,
    max_output: Option<Size>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptArgs {
    language: Language,
    source: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    limits: Option<CallLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowArgs {
    #[serde(default)]
    spec: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    input: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// A failed call: `isError`, the failure as structured content (with
/// `extra` fields), and "kind: message" as text.
fn failed(kind: OutcomeKind, message: &str, extra: serde_json::Map<String, Value>, text_extra: &str) -> CallToolResult {
    let mut v = json!({"status": "error", "error": {"kind": kind, "message": message}});
    if let Some(m) = v.as_object_mut() {
        m.extend(extra);
    }
    let mut r = CallToolResult::structured_error(v);
    r.content = vec![ContentBlock::text(format!("{kind}: {message}{text_extra}"))];
    r
}

fn bad_arguments(tool: &str, why: impl std::fmt::Display) -> CallToolResult {
    failed(OutcomeKind::InvalidInput, &format!("bad arguments for `{tool}`: {why}"), Default::default(), "")
}

fn parse_args<T: serde::de::DeserializeOwned>(tool: &str, args: Option<JsonObject>) -> Result<T, CallToolResult> {
    serde_json::from_value(Value::Object(args.unwrap_or_default())).map_err(|e| bad_arguments(tool, e))
}

/// The result of one sandboxed run: the `weft skill run --json` object.
fn run_result(report: &RunReport) -> CallToolResult {
    let v = report.to_json();
    match &report.result {
        Ok(_) => CallToolResult::structured(v),
        Err(f) => {
            let mut r = CallToolResult::structured_error(v);
            r.content = vec![ContentBlock::text(format!("{}: {}", f.kind, f.message))];
            r
        }
    }
}

fn spec_errors(diags: Vec<Diagnostic>) -> CallToolResult {
    let n = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let listed: String = diags.iter().map(|d| format!("\n{d}")).collect();
    let mut extra = serde_json::Map::new();
    extra.insert("diagnostics".into(), serde_json::to_value(&diags).unwrap_or_default());
    failed(OutcomeKind::InvalidInput, &format!("the workflow spec has {n} error(s)"), extra, &listed)
}

/// Lowers the limits of every step in `scope` (groups included) to `ceiling`.
/// Returns false if the plan is shared and cannot be changed.
fn clamp_scope(scope: &mut Arc<ScopePlan>, ceiling: &Limits) -> bool {
    let Some(scope) = Arc::get_mut(scope) else { return false };
    for step in scope.steps.values_mut() {
        let Some(step) = Arc::get_mut(step) else { return false };
        step.limits = step.limits.clamp_to(ceiling);
        if let StepKind::Group(g) = &mut step.kind
            && !clamp_scope(&mut g.scope, ceiling)
        {
            return false;
        }
    }
    true
}

impl WeftMcp {
    /// Loads the runners and every skill in `config.skills_dir` into
    /// `sandbox`. A skill that cannot be loaded, or whose tool name is
    /// taken, is skipped with a warning ([`WeftMcp::warnings`]); so is a
    /// runner that is missing (`run_script` then reports it).
    pub async fn start(sandbox: Sandbox, config: McpServerConfig) -> Result<WeftMcp, ServerError> {
        config.ceilings.check()?;
        let ceiling = config.ceilings.limits();
        let defaults = config.ceilings.defaults();
        let skills_dir = config.skills_dir.as_deref().map(|d| canonical_dir("--skills", d)).transpose()?;
        let workflows_dir = config.workflows_dir.as_deref().map(|d| canonical_dir("--workflows", d)).transpose()?;
        let mut warnings = Vec::new();

        let mut files = Vec::new();
        if let Some(dir) = &skills_dir {
            let entries = std::fs::read_dir(dir).map_err(|e| ServerError::Dir {
                flag: "--skills",
                path: dir.display().to_string(),
                reason: format!("cannot list it: {e}"),
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_file() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wasm")) {
                    files.push(path);
                }
            }
            files.sort();
        }

        let (python, javascript, loaded) = tokio::join!(
            load_runner(&sandbox, Language::Python),
            load_runner(&sandbox, Language::Javascript),
            futures::future::join_all(files.iter().map(|f| sandbox.load_file(f))),
        );
        let mut runners = HashMap::new();
        for (lang, r) in [(Language::Python, python), (Language::Javascript, javascript)] {
            let r = r.map_err(|e| e.to_string());
            if let Err(e) = &r {
                warnings.push(format!("run_script cannot run {}: {e}", lang.as_str()));
            }
            runners.insert(lang, r);
        }

        let mut skills: IndexMap<String, Exposed> = IndexMap::new();
        let mut tools = builtin_tools();
        for (file, loaded) in files.iter().zip(loaded) {
            let skill = match loaded {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("skipping {}: {e}", file.display()));
                    continue;
                }
            };
            let name = tool_name(&skill.info().name);
            if name.is_empty() {
                warnings.push(format!("skipping {}: the skill has no name to make a tool name of", file.display()));
                continue;
            }
            if BUILTIN_TOOLS.contains(&name.as_str()) {
                warnings.push(format!("skipping {}: its name `{name}` is a built-in tool's", file.display()));
                continue;
            }
            if let Some(other) = skills.get(&name) {
                warnings.push(format!(
                    "skipping {}: the tool name `{name}` is already taken by {}",
                    file.display(),
                    other.skill.origin()
                ));
                continue;
            }
            let (tool, wrapped) = skill_tool(&name, &skill);
            tools.push(tool);
            skills.insert(name, Exposed { skill, wrapped });
        }

        let inline_dir = match (&workflows_dir, &skills_dir) {
            (Some(d), _) | (None, Some(d)) => d.clone(),
            (None, None) => {
                std::env::current_dir().and_then(std::fs::canonicalize).unwrap_or_else(|_| PathBuf::from("/"))
            }
        };
        let max_calls = match config.max_calls {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
            n => n,
        };
        Ok(WeftMcp {
            inner: Arc::new(Inner {
                sandbox,
                calls: Arc::new(tokio::sync::Semaphore::new(max_calls)),
                max_calls,
                ceiling,
                defaults,
                max_deadline: config.ceilings.deadline,
                runners,
                skills,
                skills_dir,
                workflows_dir,
                inline_dir,
                tools,
                warnings,
            }),
        })
    }

    /// What was skipped at start-up, one line each.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// The tools offered, built-ins first.
    pub fn tools(&self) -> &[Tool] {
        &self.inner.tools
    }

    /// Runs one tool call. Unknown tools are an MCP invalid-params error;
    /// everything else, bad arguments included, is a result (`isError` when
    /// it failed).
    pub async fn call(&self, name: &str, args: Option<JsonObject>) -> Result<CallToolResult, McpError> {
        match name {
            "run_script" => Ok(self.run_script(args).await),
            "run_workflow" => Ok(self.run_workflow(args).await),
            "list_skills" => Ok(self.list_skills(args)),
            other => match self.inner.skills.get(other) {
                Some(exposed) => Ok(self.run_skill(other, exposed, args).await),
                None => Err(McpError::invalid_params(
                    format!("unknown tool `{other}`; tools/list names the tools this server offers"),
                    None,
                )),
            },
        }
    }

    /// How many calls run at once.
    pub fn max_calls(&self) -> usize {
        self.inner.max_calls
    }

    /// Waits for a free run slot, at most `budget` (the call's own timeout,
    /// or a workflow's deadline): a call still waiting when it passes is
    /// answered `timeout`, so none starves in the queue. Once it holds a
    /// slot, the call runs with its whole timeout.
    async fn admit(&self, budget: Duration) -> Result<Slot, CallToolResult> {
        match tokio::time::timeout(budget, self.inner.calls.clone().acquire_owned()).await {
            Ok(Ok(permit)) => {
                Ok(Slot { permit: Some(permit), calls: self.inner.calls.clone(), max: self.inner.max_calls })
            }
            _ => Err(failed(
                OutcomeKind::Timeout,
                &format!(
                    "the call's timeout of {} passed while it waited for one of the server's {} run slots \
                     (weft mcp --max-calls); the server is busy: try again later",
                    Span(budget),
                    self.inner.max_calls
                ),
                Default::default(),
                "",
            )),
        }
    }

    /// The limits of a call that asks for `asked`: the defaults with what it
    /// sets replaced, lowered to the ceilings, then checked.
    fn limits_for(&self, asked: Option<&CallLimits>) -> Result<Limits, String> {
        let d = &self.inner.defaults;
        let Some(o) = asked else { return Ok(d.clone()) };
        let wanted = Limits {
            timeout: o.timeout.map_or(d.timeout, Span::get),
            fuel: o.fuel.or(d.fuel),
            max_memory: o.max_memory.map_or(d.max_memory, Size::bytes),
            max_output: o.max_output.map_or(d.max_output, Size::bytes),
            ..d.clone()
        };
        let limits = wanted.clamp_to(&self.inner.ceiling);
        limits.check().map_err(|e| format!("bad limits: {e}"))?;
        Ok(limits)
    }

    async fn run_script(&self, args: Option<JsonObject>) -> CallToolResult {
        let args: ScriptArgs = match parse_args("run_script", args) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let limits = match self.limits_for(args.limits.as_ref()) {
            Ok(l) => l,
            Err(e) => return bad_arguments("run_script", e),
        };
        let runner = match self.inner.runners.get(&args.language) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return failed(OutcomeKind::Load, e, Default::default(), ""),
            None => return failed(OutcomeKind::Load, "no runner for this language", Default::default(), ""),
        };
        let filename = match args.language {
            Language::Python => "script.py",
            Language::Javascript => "script.js",
        };
        let _slot = match self.admit(limits.timeout).await {
            Ok(slot) => slot,
            Err(r) => return r,
        };
        let opts = RunOptions { limits, ..RunOptions::default() };
        let report = runner.run(&runner_input(&args.source, &args.input, filename), &opts).await;
        run_result(&report)
    }

    async fn run_skill(&self, tool: &str, exposed: &Exposed, args: Option<JsonObject>) -> CallToolResult {
        let input = if exposed.wrapped {
            let mut args = args.unwrap_or_default();
            let input = args.remove("input").unwrap_or(Value::Null);
            if let Some(extra) = args.keys().next() {
                return bad_arguments(
                    tool,
                    format!("unexpected argument `{extra}`; this tool takes the skill's input as `input`"),
                );
            }
            input
        } else {
            Value::Object(args.unwrap_or_default())
        };
        let _slot = match self.admit(self.inner.defaults.timeout).await {
            Ok(slot) => slot,
            Err(r) => return r,
        };
        let opts = RunOptions { limits: self.inner.defaults.clone(), ..RunOptions::default() };
        run_result(&exposed.skill.run(&input.to_string(), &opts).await)
    }

    fn list_skills(&self, args: Option<JsonObject>) -> CallToolResult {
        if let Err(r) = parse_args::<NoArgs>("list_skills", args) {
            return r;
        }
        let skills: Vec<Value> = self
            .inner
            .skills
            .iter()
            .map(|(tool, e)| {
                let info = e.skill.info();
                json!({
                    "name": info.name,
                    "version": info.version,
                    "description": info.description,
                    "tool": tool,
                    "path": e.skill.origin(),
                    "input_schema": info.input_schema,
                    "output_schema": info.output_schema,
                })
            })
            .collect();
        CallToolResult::structured(json!({ "skills": skills }))
    }

    /// The spec file `rel` names in the workflows directory, refusing
    /// anything that resolves outside it.
    fn workflow_file(&self, rel: &str) -> Result<PathBuf, String> {
        let Some(dir) = &self.inner.workflows_dir else {
            return Err("this server has no workflows directory (weft mcp --workflows DIR), so `path` cannot \
                        be used; pass the spec's text as `spec`"
                .into());
        };
        let outside = || format!("`{rel}` is outside the workflows directory; `path` is relative to it");
        let wanted = normalize(&dir.join(rel));
        if !wanted.starts_with(dir) {
            return Err(outside());
        }
        let found =
            std::fs::canonicalize(&wanted).map_err(|_| format!("no workflow `{rel}` in the workflows directory"))?;
        if !found.starts_with(dir) {
            return Err(outside());
        }
        if !found.is_file() {
            return Err(format!("`{rel}` is not a file"));
        }
        Ok(found)
    }

    /// Whether `path` (absolute, or relative to `base`) is under a directory this server exposes.
    fn exposed_file(&self, base: &Path, path: &str) -> bool {
        let roots: Vec<&PathBuf> = [&self.inner.skills_dir, &self.inner.workflows_dir].into_iter().flatten().collect();
        let inside = |p: &Path| roots.iter().any(|r| p.starts_with(r));
        let lexical = normalize(&base.join(path));
        inside(&lexical) && std::fs::canonicalize(&lexical).map_or(true, |real| inside(&real))
    }

    /// What an inline spec may not do: declare MCP servers, grant anything,
    /// or name files outside the exposed directories.
    fn refuse_inline(&self, src: &SpecSource, spec: &crate::domain::spec::WorkflowSpec) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for name in spec.servers.keys() {
            out.push(src.diagnostic(
                Severity::Error,
                &["servers".to_string(), name.clone()],
                "an inline workflow cannot declare MCP servers: weft mcp grants nothing to what callers send",
                Some("a workflow that needs MCP servers must be in the server's workflows directory".into()),
            ));
        }
        self.refuse_steps(src, &["steps".to_string()], &spec.steps, &mut out);
        out
    }

    fn refuse_steps(
        &self,
        src: &SpecSource,
        at: &[String],
        steps: &IndexMap<String, StepSpec>,
        out: &mut Vec<Diagnostic>,
    ) {
        let with = |at: &[String], more: &[&str]| {
            let mut v = at.to_vec();
            v.extend(more.iter().map(|s| s.to_string()));
            v
        };
        let roots: Vec<String> = [&self.inner.skills_dir, &self.inner.workflows_dir]
            .into_iter()
            .flatten()
            .map(|d| d.display().to_string())
            .collect();
        let help = if roots.is_empty() {
            "this server exposes no directory, so an inline workflow can run only `script_inline` steps".to_string()
        } else {
            format!(
                "an inline workflow may use files only under {} (list_skills gives skill paths)",
                roots.join(" or ")
            )
        };
        for (name, step) in steps {
            let at = with(at, &[name.as_str()]);
            let g = &step.grants;
            if !(g.read.is_empty()
                && g.write.is_empty()
                && g.env.is_empty()
                && g.inherit_env.is_empty()
                && g.servers.is_empty())
            {
                out.push(src.diagnostic(
                    Severity::Error,
                    &with(&at, &["grants"]),
                    "an inline workflow cannot grant files, environment or MCP servers: weft mcp grants nothing to \
                     what callers send",
                    None,
                ));
            }
            let files = [
                (vec!["skill"], step.skill.as_ref()),
                (vec!["script"], step.script.as_ref()),
                (vec!["fallback", "skill"], step.fallback.as_ref().and_then(|f| f.skill.as_ref())),
            ];
            for (field, path) in files {
                if let Some(p) = path
                    && !self.exposed_file(&src.dir, p)
                {
                    out.push(src.diagnostic(
                        Severity::Error,
                        &with(&at, &field),
                        format!("`{p}` is outside the directories this server exposes"),
                        Some(help.clone()),
                    ));
                }
            }
            if let Some(sub) = &step.steps {
                self.refuse_steps(src, &with(&at, &["steps"]), sub, out);
            }
        }
    }

    async fn run_workflow(&self, args: Option<JsonObject>) -> CallToolResult {
        let args: WorkflowArgs = match parse_args("run_workflow", args) {
            Ok(a) => a,
            Err(r) => return r,
        };
        let source = match (&args.spec, &args.path) {
            (Some(_), Some(_)) => return bad_arguments("run_workflow", "give `spec` or `path`, not both"),
            (None, None) => {
                return bad_arguments("run_workflow", "give the spec's text as `spec`, or a file as `path`");
            }
            (Some(text), None) => {
                let src = SpecSource::inline(text, &self.inner.inline_dir);
                let spec = match src.parse() {
                    Ok(s) => s,
                    Err(SpecErrors(d)) => return spec_errors(d),
                };
                let refused = self.refuse_inline(&src, &spec);
                if !refused.is_empty() {
                    return spec_errors(refused);
                }
                src
            }
            (None, Some(rel)) => {
                let file = match self.workflow_file(rel) {
                    Ok(f) => f,
                    Err(e) => return bad_arguments("run_workflow", e),
                };
                match SpecSource::read(&file) {
                    // Diagnostics name the file as the caller did.
                    Ok(src) => SpecSource { name: rel.clone(), ..src },
                    Err(SpecErrors(d)) => return spec_errors(d),
                }
            }
        };
        let mut wf = match Workflow::check(&self.inner.sandbox, source).await {
            Ok(wf) => wf,
            Err(SpecErrors(d)) => return spec_errors(d),
        };
        wf.settings.deadline = wf.settings.deadline.min(self.inner.max_deadline);
        if !clamp_scope(&mut wf.root, &self.inner.ceiling) {
            let message = "weft could not apply the server's ceilings to the workflow (a bug in weft)";
            return failed(OutcomeKind::Permanent, message, Default::default(), "");
        }
        let _slot = match self.admit(wf.settings.deadline).await {
            Ok(slot) => slot,
            Err(r) => return r,
        };
        let sink = Arc::new(MemorySink::default());
        let outcome =
            Executor::new(Arc::new(SystemClock)).run(Arc::new(wf), RunRequest::new(args.input, sink.clone())).await;
        let report = Report::from_log(&outcome.run_id, &sink.records());
        let v = serde_json::to_value(&report).unwrap_or_default();
        match &report.error {
            None if report.status == "succeeded" => CallToolResult::structured(v),
            error => {
                let text = match error {
                    Some(e) if e.step.is_empty() => format!("{}: {}", e.kind, e.message),
                    Some(e) => format!("{}: {} (at step `{}`)", e.kind, e.message, e.step),
                    None => format!("the run ended {}", report.status),
                };
                let mut r = CallToolResult::structured_error(v);
                r.content = vec![ContentBlock::text(text)];
                r
            }
        }
    }
}

/// A run slot of `weft mcp`, held while a call runs. When the last call in
/// flight lets go of its slot, the allocator is asked to give its free
/// memory back to the system: a burst of calls (each run has a sandbox of
/// its own) would otherwise leave the server holding its peak for good.
struct Slot {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    calls: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        if self.calls.available_permits() == self.max {
            give_memory_back();
        }
    }
}

/// Returns the allocator's free memory to the system (glibc's malloc keeps
/// it otherwise), on a blocking thread: it takes a few milliseconds.
fn give_memory_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn_blocking(|| {
            // SAFETY: malloc_trim only walks and trims glibc's own heaps,
            // under their locks; it has no preconditions on the caller.
            unsafe { libc::malloc_trim(0) };
        });
    }
}

/// Aborts a task when dropped (the call was cancelled or its connection lost).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ServerHandler for WeftMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("weft", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "weft runs code in a WebAssembly sandbox with hard limits and no access to files, environment \
                 or network. run_script runs a Python or JavaScript script defining run(input); run_workflow \
                 runs a workflow spec; list_skills lists the skills, and each skill is also a tool of its own. \
                 A failed run comes back with isError and error.kind (timeout, memory_limit, invalid_input, ...).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.inner.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // The call runs as a task of its own, so that a bug that panics
        // answers this call with an error instead of leaving it unanswered,
        // and a cancelled call stops its run.
        let this = self.clone();
        let name = request.name.to_string();
        let task = tokio::spawn(async move { this.call(&request.name, request.arguments).await });
        let _abort = AbortOnDrop(task.abort_handle());
        tokio::select! {
            joined = task => match joined {
                Ok(result) => result.map(CallToolResponse::from),
                Err(e) => Err(McpError::internal_error(format!("weft failed running `{name}` (a bug in weft): {e}"), None)),
            },
            () = context.ct.cancelled() => Err(McpError::internal_error(format!("the call of `{name}` was cancelled"), None)),
        }
    }
}

/// Serves `server` over stdin and stdout until the client closes stdin.
/// stdout carries only the protocol.
///
/// Each line from stdin is checked before rmcp sees it: a line that is not
/// JSON is answered with JSON-RPC error -32700 (parse error), and JSON that
/// is not an object (a message) or an array of them with -32600 (invalid
/// request), as JSON-RPC 2.0 has it, instead of being dropped unanswered. A
/// line over [`MAX_STDIO_LINE`] is answered -32700 and skipped.
pub async fn serve_stdio(server: WeftMcp) -> Result<(), ServerError> {
    serve_lines(server, tokio::io::stdin(), tokio::io::stdout()).await
}

/// The longest line `serve_stdio` reads.
pub const MAX_STDIO_LINE: usize = 16 * 1024 * 1024;

/// [`serve_stdio`] over any reader and writer.
pub async fn serve_lines<R, W>(server: WeftMcp, input: R, output: W) -> Result<(), ServerError>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let output = Arc::new(tokio::sync::Mutex::new(output));
    // What rmcp reads: the lines that are JSON messages.
    let (mut to_rmcp, rmcp_in) = tokio::io::duplex(64 * 1024);
    // What rmcp writes, passed on to `output` a whole line at a time, so that
    // an error answered here never lands inside one of its lines.
    let (rmcp_out, from_rmcp) = tokio::io::duplex(64 * 1024);
    let errors = output.clone();
    let reader = tokio::spawn(async move {
        let mut input = tokio::io::BufReader::new(input);
        loop {
            let (line, too_long) = match read_line(&mut input, MAX_STDIO_LINE).await {
                Ok(Some(l)) => l,
                Ok(None) | Err(_) => break,
            };
            let answer = if too_long {
                Some((-32700, format!("Parse error: a line over {} bytes", MAX_STDIO_LINE)))
            } else {
                match serde_json::from_slice::<Value>(&line) {
                    _ if line.iter().all(u8::is_ascii_whitespace) => None,
                    Ok(Value::Object(_) | Value::Array(_)) => {
                        if to_rmcp.write_all(&line).await.is_err() || to_rmcp.write_all(b"\n").await.is_err() {
                            break;
                        }
                        None
                    }
                    Ok(_) => Some((-32600, "Invalid Request: a JSON-RPC message is an object".to_string())),
                    Err(e) => Some((-32700, format!("Parse error: {e}"))),
                }
            };
            if let Some((code, message)) = answer {
                let text = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
                let mut out = errors.lock().await;
                let _ = out.write_all(format!("{text}\n").as_bytes()).await;
                let _ = out.flush().await;
            }
        }
        // stdin closed: so is rmcp's input, and it stops serving.
        drop(to_rmcp);
    });
    let writer = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(from_rmcp);
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let mut out = output.lock().await;
                    if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let served = async {
        let running = server.serve((rmcp_in, rmcp_out)).await.map_err(|e| ServerError::Serve(e.to_string()))?;
        running.waiting().await.map_err(|e| ServerError::Serve(e.to_string()))?;
        Ok(())
    }
    .await;
    reader.abort();
    let _ = writer.await;
    served
}

/// Reads one line (without its newline) of at most `max` bytes; a longer
/// one is read through to its end and given back empty, marked too long.
/// `None` at the end of the input.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    input: &mut R,
    max: usize,
) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok((!line.is_empty() || too_long).then_some((line, too_long)));
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        input.consume(used);
        if done.is_some() {
            return Ok(Some((line, too_long)));
        }
    }
}

/// A bound streamable HTTP endpoint, not yet serving.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl HttpServer {
    /// Binds `addr`. A non-loopback address is refused unless `allow_remote`
    /// (weft mcp has no authentication).
    pub async fn bind(addr: SocketAddr, allow_remote: bool) -> Result<HttpServer, ServerError> {
        if !addr.ip().is_loopback() && !allow_remote {
            return Err(ServerError::NotLoopback(addr));
        }
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
        Ok(HttpServer { listener, addr })
    }

    /// The address bound (with the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `server` at `/mcp` until `shutdown` is cancelled.
    ///
    /// On a loopback address only `Host: localhost`, `127.0.0.1` and `::1`
    /// are accepted (against DNS rebinding). A request from a browser page
    /// (with an `Origin` header) is accepted when the page is itself served
    /// from this machine (`http(s)://localhost`, `127.0.0.1` or `[::1]`, any
    /// port) and the listener is a loopback one, or when its origin is in
    /// `allowed_origins` (`--allow-origin`); any other origin is refused.
    pub async fn serve(
        self,
        server: WeftMcp,
        shutdown: CancellationToken,
        allowed_origins: &[String],
    ) -> Result<(), ServerError> {
        let ip = self.addr.ip();
        let mut config = StreamableHttpServerConfig::default()
            .with_cancellation_token(shutdown.child_token())
            .with_allowed_origins(origins_for(ip, allowed_origins))
            .enforce_origin_validation();
        if !ip.is_loopback() {
            config = if ip.is_unspecified() {
                // Any of the machine's names may reach it; there is no list to check against.
                config.disable_allowed_hosts()
            } else {
                let mut hosts = config.allowed_hosts.clone();
                hosts.push(ip.to_string());
                config.with_allowed_hosts(hosts)
            };
        }
        let service =
            StreamableHttpService::new(move || Ok(server.clone()), LocalSessionManager::default().into(), config);
        let router = axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(deleted_sessions_answer_no_content));
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
            .await
            .map_err(|e| ServerError::Serve(e.to_string()))
    }
}

/// A `DELETE` that ended a session is answered 204 No Content (rmcp answers
/// 202, which clients that follow the HTTP semantics of DELETE do not
/// expect).
async fn deleted_sessions_answer_no_content(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let delete = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    if delete && response.status() == axum::http::StatusCode::ACCEPTED {
        *response.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    response
}

/// The browser origins a listener on `ip` accepts: pages served from this
/// machine when it listens on loopback, and what the operator allowed.
fn origins_for(ip: std::net::IpAddr, allowed: &[String]) -> Vec<String> {
    let mut origins = Vec::new();
    if ip.is_loopback() {
        for scheme in ["http", "https"] {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                origins.push(format!("{scheme}://{host}:*"));
            }
        }
    }
    origins.extend(allowed.iter().cloned());
    origins
}

/// Checks an `--allow-origin` value: `scheme://host[:port]` (a port of `*`
/// for any), or `null`.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "null" {
        return Ok(());
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!(
            "`{origin}` is not an origin: write it as scheme://host[:port], like https://app.example:8443"
        ));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(format!("`{origin}`: an origin's scheme is http or https"));
    }
    if rest.is_empty() || rest.contains('/') {
        return Err(format!("`{origin}` is not an origin: no path, only scheme://host[:port]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_keep_only_safe_characters() {
        assert_eq!(tool_name("word-count"), "word-count");
        assert_eq!(tool_name("my skill/v2.0"), "my_skill_v2_0");
        assert_eq!(tool_name("été"), "_t_");
        assert_eq!(tool_name(&"x".repeat(300)).len(), 128);
    }

    #[test]
    fn paths_are_normalized_without_touching_the_disk() {
        assert_eq!(normalize(Path::new("/srv/wf/../../etc/passwd")), PathBuf::from("/etc/passwd"));
        assert_eq!(normalize(Path::new("/srv/wf/./a/../b.toml")), PathBuf::from("/srv/wf/b.toml"));
        assert_eq!(normalize(Path::new("/../..")), PathBuf::from("/"));
    }

    #[test]
    fn defaults_are_the_sandbox_defaults_under_the_ceilings() {
        let c = Ceilings { timeout: Duration::from_secs(1), fuel: Some(5), ..Ceilings::default() };
        let d = c.defaults();
        assert_eq!(d.timeout, Duration::from_secs(1));
        assert_eq!(d.fuel, Some(5));
        assert_eq!(d.max_memory, Limits::default().max_memory);
        assert!(Ceilings { timeout: Duration::ZERO, ..Ceilings::default() }.check().is_err());
        assert!(Ceilings { deadline: Duration::from_secs(90_000), ..Ceilings::default() }.check().is_err());
        assert!(Ceilings::default().check().is_ok());
    }

    #[test]
    fn loopback_listeners_accept_local_pages_and_others_only_what_was_allowed() {
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let lan: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let o = origins_for(local, &["https://app.example".to_string()]);
        assert!(o.contains(&"http://localhost:*".to_string()) && o.contains(&"http://[::1]:*".to_string()));
        assert!(o.contains(&"https://app.example".to_string()));
        assert_eq!(origins_for(lan, &[]), Vec::<String>::new());
        assert!(check_origin("https://app.example:8443").is_ok());
        assert!(check_origin("null").is_ok());
        assert!(check_origin("app.example").is_err());
        assert!(check_origin("https://app.example/path").is_err());
        assert!(check_origin("ftp://app.example").is_err());
    }

    #[test]
    fn only_object_schemas_are_used_as_they_are() {
        assert!(is_object_schema(&json!({"type": "object", "properties": {}})));
        assert!(!is_object_schema(&json!({"type": "string"})));
        assert!(!is_object_schema(&json!(true)));
        assert!(!is_object_schema(&json!({"type": ["object", "null"]})));
    }
}
