//! Checking a spec and compiling it into a plan the executor runs: skills
//! loaded, expressions compiled, dependencies derived, policies resolved.
//! `weft check` is this module without the run.

use super::expr::{Expression, Template, interpolated};
use super::load::{Diagnostic, Severity, SpecErrors, SpecSource};
use crate::contract::Contract;
use crate::domain::breaker::BreakerSpec;
use crate::domain::dag::Graph;
use crate::domain::retry::{RetryPolicy, RetrySpec};
use crate::domain::spec::{GrantSpec, ItemFailure, Mapping, OnFailure, StepSpec, WorkflowSpec};
use crate::domain::{LimitOverrides, Limits, Span};
use crate::sandbox::{Sandbox, Skill};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Run-wide limits, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// The whole run's deadline.
    pub deadline: Duration,
    /// Attempts across the run.
    pub max_attempts: u32,
    /// Skill runs in flight at once.
    pub concurrency: u32,
    /// Elements one fan-out may have.
    pub max_items: u32,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings { deadline: Duration::from_secs(600), max_attempts: 1000, concurrency: 8, max_items: 10_000 }
    }
}

/// A checked workflow, ready to run.
pub struct Workflow {
    /// Where the spec came from.
    pub source: SpecSource,
    /// The spec as written.
    pub spec: WorkflowSpec,
    /// Run-wide limits.
    pub settings: RunSettings,
    /// The run input's contract, if declared.
    pub input_contract: Option<Contract>,
    /// The run output's contract, if declared.
    pub output_contract: Option<Contract>,
    /// The run's output mapping (default: each top-level step's output).
    pub output: Option<Template>,
    /// The top-level steps.
    pub root: Arc<ScopePlan>,
    /// The MCP servers it declares.
    pub servers: Vec<crate::mcp::client::ServerPlan>,
    /// Warnings found while checking.
    pub warnings: Vec<Diagnostic>,
    /// BLAKE3 of the spec text, every skill's bytes, every script file's
    /// text and every script runner's bytes: what a resumed run must match.
    pub digest: String,
    /// Every file the run needs (skills, scripts, and script runners under
    /// [`runner_key`]), by the path the spec resolves to, with where it was
    /// read from.
    pub files: BTreeMap<PathBuf, PathBuf>,
}

/// A set of sibling steps and their dependencies.
pub struct ScopePlan {
    /// The steps by name, in spec order.
    pub steps: IndexMap<String, Arc<StepPlan>>,
    /// Dependencies among them.
    pub graph: Graph,
}

/// What a step runs.
pub enum StepKind {
    /// A skill component.
    Skill(Skill),
    /// A script, run by its language's runner.
    Script(ScriptPlan),
    /// A tool on an MCP server.
    Tool(ToolPlan),
    /// A group of steps with their own scope.
    Group(GroupPlan),
}

/// A script step, resolved.
pub struct ScriptPlan {
    /// The runner component for its language.
    pub runner: Skill,
    /// Its language.
    pub language: crate::domain::language::Language,
    /// Its source.
    pub source: Arc<str>,
    /// Its name in tracebacks (the file name, or `NAME.inline.py`).
    pub filename: String,
    /// The step's declared input contract.
    pub input: Option<Contract>,
    /// The step's declared output contract.
    pub output: Option<Contract>,
}

/// An MCP tool step, resolved.
pub struct ToolPlan {
    /// The server, one of the workflow's `[servers]`.
    pub server: String,
    /// The tool.
    pub tool: String,
    /// The kind of failure when the tool reports an error.
    pub tool_error: crate::domain::OutcomeKind,
    /// The step's declared input contract.
    pub input: Option<Contract>,
    /// The step's declared output contract.
    pub output: Option<Contract>,
}

/// A group of steps.
pub struct GroupPlan {
    /// Its steps.
    pub scope: Arc<ScopePlan>,
    /// Repeat until the condition holds, at most this many times.
    pub repeat: Option<(Expression, u32)>,
    /// Its output mapping.
    pub output: Option<Template>,
}

/// A fallback, resolved.
pub enum FallbackPlan {
    /// A static value.
    Value(Value),
    /// Another skill, given the same input.
    Skill(Skill),
}

/// Grants with `${{ }}` left to evaluate at run time.
#[derive(Debug, Clone, Default)]
pub struct GrantPlan {
    /// Read-only directories (relative to the spec's directory).
    pub read: Vec<String>,
    /// Read-write directories.
    pub write: Vec<String>,
    /// Environment variables set.
    pub env: BTreeMap<String, String>,
    /// Host variables passed through.
    pub inherit_env: Vec<String>,
    /// MCP servers the guest may call.
    pub servers: Vec<String>,
}

/// One step, compiled.
pub struct StepPlan {
    /// Its name.
    pub name: String,
    /// What it runs.
    pub kind: StepKind,
    /// Its input mapping (`None`: the scope's input).
    pub input: Option<Template>,
    /// Its condition.
    pub when: Option<Expression>,
    /// Its fan-out list.
    pub for_each: Option<Expression>,
    /// Fan-out concurrency.
    pub concurrency: Option<u32>,
    /// The most elements its fan-out may have (`None`: the run's `max_items`).
    pub max_items: Option<u32>,
    /// What one element's failure does.
    pub item_failure: ItemFailure,
    /// Sandbox limits per attempt.
    pub limits: Limits,
    /// Grants per attempt.
    pub grants: GrantPlan,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Fallback.
    pub fallback: Option<FallbackPlan>,
    /// What failing for good means.
    pub on_failure: OnFailure,
    /// Circuit breaker for its skill.
    pub breaker: Option<BreakerSpec>,
}

impl StepPlan {
    /// The skill this step runs, if it runs one.
    pub fn skill(&self) -> Option<&Skill> {
        match &self.kind {
            StepKind::Skill(s) => Some(s),
            StepKind::Script(_) | StepKind::Tool(_) | StepKind::Group(_) => None,
        }
    }

    /// The JSON Schemas its input and output are known to match, if declared.
    pub fn schemas(&self) -> (Option<&Value>, Option<&Value>) {
        match &self.kind {
            StepKind::Skill(s) => (Some(&s.info().input_schema), Some(&s.info().output_schema)),
            StepKind::Script(sc) => (sc.input.as_ref().map(Contract::schema), sc.output.as_ref().map(Contract::schema)),
            StepKind::Tool(t) => (t.input.as_ref().map(Contract::schema), t.output.as_ref().map(Contract::schema)),
            StepKind::Group(_) => (None, None),
        }
    }
}

/// What the checker knows about the variables in scope.
#[derive(Clone, Copy, Default)]
struct Bindings {
    item: bool,
    iteration: bool,
}

struct Checker<'a> {
    src: &'a SpecSource,
    sandbox: &'a Sandbox,
    skills: HashMap<PathBuf, Result<Skill, String>>,
    runners: HashMap<crate::domain::language::Language, Result<Skill, String>>,
    /// BLAKE3 of each script file's text, by path.
    scripts: BTreeMap<PathBuf, String>,
    servers: Vec<String>,
    files: BTreeMap<PathBuf, PathBuf>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn with(at: &[String], more: &[&str]) -> Vec<String> {
    let mut v = at.to_vec();
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

/// Closest name by edit distance, for "did you mean".
fn suggest<'a>(name: &str, among: impl Iterator<Item = &'a String>) -> Option<String> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    among
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<'a> Checker<'a> {
    fn error(&mut self, at: &[String], message: impl Into<String>, help: Option<String>) {
        self.errors.push(self.src.diagnostic(Severity::Error, at, message, help));
    }

    fn warn(&mut self, at: &[String], message: impl Into<String>, help: Option<String>) {
        self.warnings.push(self.src.diagnostic(Severity::Warning, at, message, help));
    }

    fn resolve(&self, rel: &str) -> PathBuf {
        self.src.resolve(rel)
    }

    /// Resolves a file the run needs (a skill or a script) and remembers it.
    fn resolve_file(&mut self, rel: &str) -> PathBuf {
        let p = Path::new(rel);
        let original = if p.is_absolute() { p.to_path_buf() } else { self.src.dir.join(p) };
        let local = self.resolve(rel);
        self.files.insert(original, local.clone());
        local
    }

    async fn skill(&mut self, at: &[String], rel: &str) -> Option<Skill> {
        let path = self.resolve_file(rel);
        if !self.skills.contains_key(&path) {
            let loaded = if path.exists() {
                self.sandbox.load_file(&path).await.map_err(|e| e.to_string())
            } else {
                Err(format!("skill `{rel}` not found (looked for {})", path.display()))
            };
            self.skills.insert(path.clone(), loaded);
        }
        match &self.skills[&path] {
            Ok(s) => Some(s.clone()),
            Err(e) => {
                let help = if path.exists() {
                    None
                } else {
                    Some("paths are relative to the spec file; build skills with `make build`".into())
                };
                let e = e.clone();
                self.error(at, e, help);
                None
            }
        }
    }

    fn contracts(&mut self, at: &[String], step: &StepSpec) -> (Option<Contract>, Option<Contract>) {
        let mut contract = |field: &str, schema: &Option<Value>| {
            schema.as_ref().and_then(|s| match Contract::guarded(s.clone()) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.error(&with(at, &[field]), format!("the schema {e}"), None);
                    None
                }
            })
        };
        (contract("input_schema", &step.input_schema), contract("output_schema", &step.output_schema))
    }

    fn tool(&mut self, at: &[String], step: &StepSpec) -> Option<ToolPlan> {
        let (Some(tool), Some(server)) = (&step.tool, &step.server) else {
            self.error(
                at,
                "an MCP tool step needs both `tool` and `server`",
                Some("e.g. tool = \"git_log\", server = \"git\"".into()),
            );
            return None;
        };
        if !self.servers.contains(server) {
            self.error(
                &with(at, &["server"]),
                format!("unknown MCP server `{server}`"),
                suggest(server, self.servers.iter()).or_else(|| Some("declare it under [servers.NAME]".into())),
            );
            return None;
        }
        let (input, output) = self.contracts(at, step);
        Some(ToolPlan {
            server: server.clone(),
            tool: tool.clone(),
            tool_error: step.tool_error.unwrap_or(crate::domain::OutcomeKind::Transient),
            input,
            output,
        })
    }

    async fn script(&mut self, at: &[String], name: &str, step: &StepSpec) -> Option<ScriptPlan> {
        use crate::domain::language::Language;
        let (source, filename, language) = match (&step.script, &step.script_inline) {
            (Some(rel), _) => {
                let path = self.resolve_file(rel);
                let Some(language) = step.language.or_else(|| Language::of_path(&path)) else {
                    self.error(
                        &with(at, &["script"]),
                        format!("cannot tell the language of `{rel}`"),
                        Some("name it .py or .js, or set `language`".into()),
                    );
                    return None;
                };
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        let file = path.file_name().map_or_else(|| rel.clone(), |n| n.to_string_lossy().into_owned());
                        (text, file, language)
                    }
                    Err(e) => {
                        self.error(
                            &with(at, &["script"]),
                            format!("cannot read the script `{rel}` ({}): {e}", path.display()),
                            Some("paths are relative to the spec file".into()),
                        );
                        return None;
                    }
                }
            }
            (None, Some(text)) => {
                let Some(language) = step.language else {
                    self.error(
                        &with(at, &["script_inline"]),
                        "an inline script needs `language`",
                        Some("add language = \"python\" or \"javascript\"".into()),
                    );
                    return None;
                };
                let ext = if language == Language::Python { "py" } else { "js" };
                (text.clone(), format!("{name}.inline.{ext}"), language)
            }
            (None, None) => return None,
        };
        if let Some(rel) = &step.script {
            // The digest covers what a script file says (an inline one is in the spec text).
            self.scripts.insert(self.src.dir.join(rel), blake3::hash(source.as_bytes()).to_hex().to_string());
        }
        if !self.runners.contains_key(&language) {
            // A run submitted elsewhere brings its runner along, as it brings its files.
            let key = runner_key(language);
            let loaded = match self.src.relocated.as_ref().and_then(|m| m.get(&key)) {
                Some(local) => self.sandbox.load_file(local).await.map_err(|e| e.to_string()),
                None => crate::scripts::load_runner(self.sandbox, language).await.map_err(|e| e.to_string()),
            };
            if loaded.is_ok() {
                let local = self
                    .src
                    .relocated
                    .as_ref()
                    .and_then(|m| m.get(&key).cloned())
                    .unwrap_or_else(|| crate::scripts::runners_dir().join(language.runner_file()));
                self.files.insert(key, local);
            }
            self.runners.insert(language, loaded);
        }
        let runner = match &self.runners[&language] {
            Ok(r) => r.clone(),
            Err(e) => {
                let e = e.clone();
                self.error(&with(at, &["script"]), e, None);
                return None;
            }
        };
        let (input, output) = self.contracts(at, step);
        Some(ScriptPlan { runner, language, source: source.into(), filename, input, output })
    }

    fn expr(&mut self, at: &[String], source: &str) -> Option<Expression> {
        match Expression::compile(source) {
            Ok(e) => Some(e),
            Err(e) => {
                self.error(at, e.to_string(), Some("expressions are CEL: https://cel.dev".into()));
                None
            }
        }
    }

    fn template(&mut self, at: &[String], m: &Mapping) -> Option<Template> {
        match Template::compile(m) {
            Ok(t) => Some(t),
            Err((field, e)) => {
                let at = if field.is_empty() { at.to_vec() } else { with(at, &[field.as_str()]) };
                self.error(
                    &at,
                    e.to_string(),
                    Some("expressions are CEL; a literal string is quoted inside: \"'text'\"".into()),
                );
                None
            }
        }
    }

    /// Checks that expressions only use variables that exist where they are.
    fn check_vars(&mut self, at: &[String], exprs: &[&Expression], b: Bindings, allow_steps: bool) {
        for e in exprs {
            for v in e.variables() {
                let ok = match v.as_str() {
                    "input" => true,
                    "steps" => allow_steps,
                    "item" | "index" => b.item,
                    "iteration" | "previous" => b.iteration,
                    _ => true, // comprehension variables and the like
                };
                if !ok {
                    let help = match v.as_str() {
                        "item" | "index" => {
                            "`item` and `index` exist only in a step with `for_each` (and the steps of its group)"
                        }
                        "iteration" | "previous" => {
                            "`iteration` and `previous` exist only inside a group with `repeat`"
                        }
                        _ => "`steps` is not available here",
                    };
                    let what = if e.source().trim() == v {
                        format!("`{v}` is not defined here")
                    } else {
                        format!("`{}` uses `{v}`, which is not defined here", e.source())
                    };
                    self.error(at, what, Some(help.into()));
                }
            }
        }
    }

    fn limits(&mut self, at: &[String], o: &LimitOverrides) -> Limits {
        match Limits::default().apply(o) {
            Ok(l) => l,
            Err(e) => {
                self.error(&with(at, &["limits"]), e.to_string(), None);
                Limits::default()
            }
        }
    }

    fn retry(&mut self, at: &[String], spec: Option<&RetrySpec>, defaults: Option<&RetrySpec>) -> RetryPolicy {
        let merged = match (spec, defaults) {
            (None, None) => return RetryPolicy::none(),
            (Some(s), Some(d)) => s.or(d),
            (Some(s), None) => s.clone(),
            (None, Some(d)) => d.clone(),
        };
        match merged.resolve() {
            Ok(p) => p,
            Err(e) => {
                let at = if spec.is_some() { with(at, &["retry"]) } else { key(&["defaults", "retry"]) };
                self.error(&at, e.to_string(), None);
                RetryPolicy::none()
            }
        }
    }

    fn grants(&mut self, at: &[String], g: &GrantSpec, b: Bindings) -> GrantPlan {
        for (field, list) in [("read", &g.read), ("write", &g.write)] {
            for entry in list {
                match interpolated(entry) {
                    Ok(exprs) => {
                        let refs: Vec<&Expression> = exprs.iter().collect();
                        self.check_vars(&with(at, &["grants", field]), &refs, b, false);
                        if exprs.is_empty() {
                            let path = self.resolve(entry);
                            if !path.is_dir() {
                                self.error(
                                    &with(at, &["grants", field]),
                                    format!("`{entry}` is not a directory (looked for {})", path.display()),
                                    Some("grant paths are relative to the spec file".into()),
                                );
                            }
                        }
                    }
                    Err(e) => self.error(&with(at, &["grants", field]), e.to_string(), None),
                }
            }
        }
        for name in g.env.keys().chain(&g.inherit_env) {
            if name.is_empty() || name.contains('=') {
                self.error(
                    &with(at, &["grants", "env"]),
                    format!("`{name}` is not an environment variable name"),
                    None,
                );
            }
        }
        for server in &g.servers {
            if !self.servers.contains(server) {
                self.error(
                    &with(at, &["grants", "servers"]),
                    format!("grants unknown MCP server `{server}`"),
                    suggest(server, self.servers.iter()).or_else(|| Some("declare it under [servers.NAME]".into())),
                );
            }
        }
        GrantPlan {
            read: g.read.clone(),
            write: g.write.clone(),
            env: g.env.clone(),
            inherit_env: g.inherit_env.clone(),
            servers: g.servers.clone(),
        }
    }

    /// Checks a scope of sibling steps and compiles it.
    fn scope<'s>(
        &'s mut self,
        at: Vec<String>,
        steps: &'s IndexMap<String, StepSpec>,
        spec: &'s WorkflowSpec,
        b: Bindings,
        input_schema: Option<Value>,
    ) -> futures::future::BoxFuture<'s, Option<Arc<ScopePlan>>> {
        Box::pin(async move {
            let names: Vec<String> = steps.keys().cloned().collect();
            if steps.is_empty() {
                self.error(&at, "there are no steps", Some("add a step such as [steps.first] with a `skill`".into()));
            }
            let mut graph = Graph::new();
            let mut plans = IndexMap::new();
            let mut output_schemas: HashMap<String, Value> = HashMap::new();
            // Steps are checked in dependency order where possible, so that
            // mapping checks can see the schemas of the steps they read from.
            let mut deps_by_step: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (name, step) in steps {
                let sat = with(&at, &[name.as_str()]);
                if !valid_name(name) {
                    self.error(
                        &sat,
                        format!("`{name}` is not a valid step name"),
                        Some(format!(
                            "use letters, digits and `_` (CEL reads `steps.{name}` as arithmetic); e.g. `{}`",
                            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                        )),
                    );
                }
                let mut deps: BTreeSet<String> = BTreeSet::new();
                for need in &step.needs {
                    if !names.contains(need) {
                        self.error(
                            &with(&sat, &["needs"]),
                            format!("unknown step `{need}`"),
                            suggest(need, names.iter()),
                        );
                    }
                    deps.insert(need.clone());
                }
                let mut refd = BTreeSet::new();
                let mut texts: Vec<(&str, String)> = Vec::new();
                if let Some(w) = &step.when {
                    texts.push(("when", w.clone()));
                }
                if let Some(f) = &step.for_each {
                    texts.push(("for_each", f.clone()));
                }
                for (field, text) in texts {
                    if let Ok(e) = Expression::compile(&text) {
                        for r in e.step_refs() {
                            refd.insert((field.to_string(), r));
                        }
                    }
                }
                if let Some(m) = &step.input
                    && let Ok(t) = Template::compile(m)
                {
                    for r in t.step_refs() {
                        refd.insert(("input".to_string(), r));
                    }
                }
                for (field, r) in refd {
                    if !names.contains(&r) {
                        self.error(
                            &with(&sat, &[field.as_str()]),
                            format!("refers to `steps.{r}`, but there is no step `{r}` here"),
                            suggest(&r, names.iter()).or_else(|| {
                                Some("inside a group, `steps` are the group's own; pass outer values through the group's `input`".into())
                            }),
                        );
                    } else if &r == name {
                        self.error(
                            &with(&sat, &[field.as_str()]),
                            format!("step `{name}` refers to its own output"),
                            Some(
                                "a step reads only other steps' outputs; to feed a step its own earlier result, \
                                 put it in a group with `repeat` and read `previous`"
                                    .into(),
                            ),
                        );
                    } else {
                        deps.insert(r);
                    }
                }
                deps.retain(|d| names.contains(d) && d != name);
                graph.add(name.clone(), deps.iter().cloned());
                deps_by_step.insert(name.clone(), deps);
            }
            let order = match graph.order() {
                Ok(o) => o,
                Err(cycle) => {
                    let first = cycle.0.first().cloned().unwrap_or_default();
                    self.error(
                        &with(&at, &[first.as_str()]),
                        cycle.to_string(),
                        Some("break the cycle: a step cannot depend, directly or through others, on itself".into()),
                    );
                    names.clone()
                }
            };
            for name in &order {
                let Some(step) = steps.get(name) else { continue };
                let sat = with(&at, &[name.as_str()]);
                let plan = self.step(sat, name, step, spec, b, &output_schemas, input_schema.clone()).await;
                if let Some(plan) = plan {
                    if let (_, Some(schema)) = plan.schemas() {
                        let schema = schema.clone();
                        let schema = if plan.for_each.is_some() {
                            serde_json::json!({"type": "array", "items": schema})
                        } else {
                            schema
                        };
                        output_schemas.insert(name.clone(), schema);
                    }
                    plans.insert(name.clone(), Arc::new(plan));
                }
            }
            // Keep spec order for reports.
            let mut ordered = IndexMap::new();
            for n in &names {
                if let Some(p) = plans.swap_remove(n) {
                    ordered.insert(n.clone(), p);
                }
            }
            if ordered.len() == names.len() { Some(Arc::new(ScopePlan { steps: ordered, graph })) } else { None }
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &mut self,
        at: Vec<String>,
        name: &str,
        step: &StepSpec,
        spec: &WorkflowSpec,
        outer: Bindings,
        siblings: &HashMap<String, Value>,
        input_schema: Option<Value>,
    ) -> Option<StepPlan> {
        let b = Bindings { item: outer.item || step.for_each.is_some(), ..outer };
        let kinds = [
            step.skill.is_some(),
            step.script.is_some() || step.script_inline.is_some(),
            step.steps.is_some(),
            step.tool.is_some() || step.server.is_some(),
        ];
        if step.script.is_some() && step.script_inline.is_some() {
            self.error(&at, "a script step has `script` (a file) or `script_inline`, not both", None);
        }
        if !kinds[3] && step.tool_error.is_some() {
            self.error(&with(&at, &["tool_error"]), "`tool_error` applies to an MCP tool step", None);
        }
        if !kinds[1] && !kinds[3] {
            for (field, set) in [
                ("language", step.language.is_some()),
                ("input_schema", step.input_schema.is_some()),
                ("output_schema", step.output_schema.is_some()),
            ] {
                if set {
                    let what = if field == "language" { "a script step" } else { "a script or tool step" };
                    self.error(&with(&at, &[field]), format!("`{field}` applies to {what}"), None);
                }
            }
        }
        let kind = match (kinds.iter().filter(|k| **k).count(), &step.skill, &step.steps) {
            (n, ..) if n > 1 => {
                self.error(
                    &at,
                    "a step runs one of `skill`, `script` (or `script_inline`), `tool` or a group of `steps`",
                    None,
                );
                None
            }
            (0, ..) => {
                self.error(
                    &at,
                    format!("step `{name}` has nothing to run"),
                    Some("give it `skill = \"path/to/skill.wasm\"`, `script = \"file.py\"`, `tool` and `server`, or a group of `steps`".into()),
                );
                None
            }
            (_, None, None) if kinds[3] => self.tool(&at, step).map(StepKind::Tool),
            (_, None, None) => {
                if step.repeat.is_some() {
                    self.error(&with(&at, &["repeat"]), "`repeat` applies to a group of steps", None);
                }
                self.script(&at, name, step).await.map(StepKind::Script)
            }
            (_, Some(path), _) => {
                if step.repeat.is_some() {
                    self.error(
                        &with(&at, &["repeat"]),
                        "`repeat` applies to a group of steps",
                        Some("put the steps to repeat under [steps.NAME.steps.*]".into()),
                    );
                }
                if step.output.is_some() {
                    self.error(
                        &with(&at, &["output"]),
                        "`output` applies to a group; a skill step's output is the skill's",
                        None,
                    );
                }
                self.skill(&with(&at, &["skill"]), path).await.map(StepKind::Skill)
            }
            (_, None, Some(inner)) => {
                if step.retry.is_some() {
                    self.error(
                        &with(&at, &["retry"]),
                        "a group cannot be retried as a whole",
                        Some("give `retry` to the steps inside it".into()),
                    );
                }
                let inner_b = Bindings { iteration: b.iteration || step.repeat.is_some(), ..b };
                let repeat = match &step.repeat {
                    Some(r) => {
                        if r.max_iterations == 0 {
                            self.error(
                                &with(&at, &["repeat", "max_iterations"]),
                                "a loop needs at least one iteration",
                                Some("set max_iterations = 3, say".into()),
                            );
                        }
                        let until = self.expr(&with(&at, &["repeat", "until"]), &r.until);
                        if let Some(u) = &until {
                            self.check_vars(&with(&at, &["repeat", "until"]), &[u], inner_b, true);
                            for r in u.step_refs() {
                                if !inner.contains_key(&r) {
                                    self.error(
                                        &with(&at, &["repeat", "until"]),
                                        format!("refers to `steps.{r}`, which is not a step of this group"),
                                        suggest(&r, inner.keys()),
                                    );
                                }
                            }
                        }
                        until.map(|u| (u, r.max_iterations.max(1)))
                    }
                    None => None,
                };
                let output = step.output.as_ref().and_then(|m| self.template(&with(&at, &["output"]), m));
                if let Some(o) = &output {
                    self.check_vars(&with(&at, &["output"]), &o.expressions(), inner_b, true);
                    for r in o.step_refs() {
                        if !inner.contains_key(&r) {
                            self.error(
                                &with(&at, &["output"]),
                                format!("refers to `steps.{r}`, which is not a step of this group"),
                                suggest(&r, inner.keys()),
                            );
                        }
                    }
                }
                let scope = self.scope(with(&at, &["steps"]), inner, spec, inner_b, None).await;
                scope.map(|scope| StepKind::Group(GroupPlan { scope, repeat, output }))
            }
        };
        let input = step.input.as_ref().and_then(|m| self.template(&with(&at, &["input"]), m));
        if let Some(t) = &input {
            self.check_vars(&with(&at, &["input"]), &t.expressions(), b, true);
        }
        let when = step.when.as_ref().and_then(|w| self.expr(&with(&at, &["when"]), w));
        if let Some(w) = &when {
            // `when` is decided before a fan-out, so `item` is not bound there.
            self.check_vars(&with(&at, &["when"]), &[w], outer, true);
            if w.source().trim() == "false" {
                self.warn(&with(&at, &["when"]), format!("step `{name}` never runs (`when = \"false\"`)"), None);
            }
        }
        let for_each = step.for_each.as_ref().and_then(|f| self.expr(&with(&at, &["for_each"]), f));
        if let Some(f) = &for_each {
            self.check_vars(&with(&at, &["for_each"]), &[f], outer, true);
        }
        if step.for_each.is_none() {
            if step.concurrency.is_some() {
                self.error(&with(&at, &["concurrency"]), "`concurrency` applies to a step with `for_each`", None);
            }
            if step.item_failure.is_some() {
                self.error(&with(&at, &["item_failure"]), "`item_failure` applies to a step with `for_each`", None);
            }
            if step.max_items.is_some() {
                self.error(&with(&at, &["max_items"]), "`max_items` applies to a step with `for_each`", None);
            }
        }
        if step.concurrency == Some(0) {
            self.error(&with(&at, &["concurrency"]), "concurrency must be at least 1", None);
        }
        if step.max_items == Some(0) {
            self.error(&with(&at, &["max_items"]), "max_items must be at least 1", None);
        }
        let limits = self.limits(&at, &step.limits.or(&spec.defaults.limits));
        let retry = self.retry(&at, step.retry.as_ref(), spec.defaults.retry.as_ref());
        let grants = self.grants(&at, &step.grants, b);
        let breaker = step.breaker.or(spec.defaults.breaker);
        if let Some(br) = &breaker
            && (br.failure_threshold == 0 || br.cooldown == Span(Duration::ZERO))
        {
            self.error(
                &with(&at, &["breaker"]),
                "a breaker needs failure_threshold >= 1 and a cooldown above zero",
                None,
            );
        }
        let fallback = match &step.fallback {
            None => None,
            Some(f) => match (&f.value, &f.skill) {
                (Some(v), None) => {
                    let contract = match &kind {
                        Some(StepKind::Skill(s)) => Some(s.output_contract().clone()),
                        Some(StepKind::Script(sc)) => sc.output.clone(),
                        Some(StepKind::Tool(t)) => t.output.clone(),
                        _ => None,
                    };
                    if let Some(c) = contract
                        && let Err(v_err) = c.check(v)
                    {
                        self.error(
                            &with(&at, &["fallback", "value"]),
                            format!("the fallback value breaks the step's output schema: {v_err}"),
                            Some("a fallback stands in for the step's output, so it must have the same shape".into()),
                        );
                    }
                    Some(FallbackPlan::Value(v.clone()))
                }
                (None, Some(path)) => {
                    self.skill(&with(&at, &["fallback", "skill"]), path).await.map(FallbackPlan::Skill)
                }
                _ => {
                    self.error(&with(&at, &["fallback"]), "a fallback has exactly one of `value` or `skill`", None);
                    None
                }
            },
        };
        // Data contracts: can the input mapping satisfy the step's input schema?
        let declared_input = match &kind {
            Some(StepKind::Skill(skill)) => Some(skill.info().input_schema.clone()),
            Some(StepKind::Script(sc)) => sc.input.as_ref().map(|c| c.schema().clone()),
            Some(StepKind::Tool(t)) => t.input.as_ref().map(|c| c.schema().clone()),
            _ => None,
        };
        if let Some(target) = &declared_input {
            let problems = match &input {
                Some(t) => mapping_problems(t, target, siblings, input_schema.as_ref()),
                None => match &input_schema {
                    Some(s) => schema_gaps(s, target, "the run's input"),
                    None => vec![],
                },
            };
            let help = match &step.skill {
                Some(path) => format!("see `weft skill describe {path}` for its input schema"),
                None => "see the step's `input_schema`".to_string(),
            };
            for p in problems {
                self.error(&with(&at, &["input"]), p, Some(help.clone()));
            }
        }
        let kind = kind?;
        Some(StepPlan {
            name: name.to_string(),
            kind,
            input,
            when,
            for_each,
            concurrency: step.concurrency,
            max_items: step.max_items,
            item_failure: step.item_failure.unwrap_or_default(),
            limits,
            grants,
            retry,
            fallback,
            on_failure: step.on_failure.unwrap_or_default(),
            breaker,
        })
    }
}

/// JSON Schema `type` as a set of names (`integer` implies `number` is accepted).
fn types_of(schema: &Value) -> Option<BTreeSet<String>> {
    match schema.get("type")? {
        Value::String(t) => Some([t.clone()].into()),
        Value::Array(ts) => Some(ts.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()),
        _ => None,
    }
}

fn compatible(source: &BTreeSet<String>, target: &BTreeSet<String>) -> bool {
    source.iter().any(|s| target.contains(s) || (s == "integer" && target.contains("number")))
}

/// Follows `.a.b` through `properties` (and `items` for numeric segments is not needed: paths are field names).
fn sub_schema<'v>(mut schema: &'v Value, fields: &[String]) -> Option<&'v Value> {
    for f in fields {
        schema = schema.get("properties")?.get(f)?;
    }
    Some(schema)
}

/// The declared schema a plain path expression reads from, if known.
fn source_schema(e: &Expression, siblings: &HashMap<String, Value>, input_schema: Option<&Value>) -> Option<Value> {
    let path = e.as_path()?;
    match path.first().map(String::as_str) {
        Some("steps") if path.len() >= 3 && path[2] == "output" => {
            sub_schema(siblings.get(&path[1])?, &path[3..]).cloned()
        }
        Some("input") => sub_schema(input_schema?, &path[1..]).cloned(),
        _ => None,
    }
}

/// Required fields of `target` that an object schema `source` does not declare.
fn schema_gaps(source: &Value, target: &Value, what: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(st), Some(tt)) = (types_of(source), types_of(target))
        && !compatible(&st, &tt)
    {
        out.push(format!("{what} is of type {}, but the skill's input must be {}", join(&st), join(&tt)));
        return out;
    }
    let Some(props) = source.get("properties").and_then(Value::as_object) else { return out };
    for req in target.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if !props.contains_key(req) {
            out.push(format!("the skill requires `{req}`, which {what} does not declare"));
        }
    }
    out
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(" or ")
}

/// Problems a mapping has against the schema it must satisfy, where both ends are declared.
fn mapping_problems(
    t: &Template,
    target: &Value,
    siblings: &HashMap<String, Value>,
    input_schema: Option<&Value>,
) -> Vec<String> {
    let mut out = Vec::new();
    match t {
        Template::Expr(e) => {
            if let Some(source) = source_schema(e, siblings, input_schema) {
                out.extend(schema_gaps(&source, target, &format!("`{}`", e.source())));
            }
        }
        Template::Literal(v) => {
            if let Ok(c) = Contract::new(target.clone())
                && let Err(v) = c.check(v)
            {
                out.push(format!("the literal input breaks the skill's input schema: {v}"));
            }
        }
        Template::Fields(fields) => {
            if let Some(tt) = types_of(target)
                && !tt.contains("object")
            {
                out.push(format!("the mapping builds an object, but the skill's input must be {}", join(&tt)));
                return out;
            }
            let props = target.get("properties").and_then(Value::as_object);
            for req in target.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
            {
                if !fields.contains_key(req) {
                    out.push(format!("the mapping gives no `{req}`, which the skill requires"));
                }
            }
            let closed = target.get("additionalProperties") == Some(&Value::Bool(false));
            for (k, sub) in fields {
                let Some(prop) = props.and_then(|p| p.get(k)) else {
                    if closed {
                        let known: Vec<String> = props.map(|p| p.keys().cloned().collect()).unwrap_or_default();
                        let hint = suggest(k, known.iter()).map(|h| format!(" ({h})")).unwrap_or_default();
                        out.push(format!("the skill does not accept a field `{k}`{hint}"));
                    }
                    continue;
                };
                match sub {
                    Template::Literal(v) => {
                        if let Ok(c) = Contract::new(prop.clone())
                            && let Err(v) = c.check(v)
                        {
                            out.push(format!("`{k}`: {v}"));
                        }
                    }
                    Template::Expr(e) => {
                        if let (Some(source), Some(tt)) = (source_schema(e, siblings, input_schema), types_of(prop))
                            && let Some(st) = types_of(&source)
                            && !compatible(&st, &tt)
                        {
                            out.push(format!(
                                "`{k}` gets `{}`, of type {}, but the skill wants {}",
                                e.source(),
                                join(&st),
                                join(&tt)
                            ));
                        }
                    }
                    Template::Fields(_) => out.extend(
                        mapping_problems(sub, prop, siblings, input_schema).into_iter().map(|p| format!("`{k}`: {p}")),
                    ),
                }
            }
        }
    }
    out
}

/// The key under which a script runner travels with a run's files (see
/// [`Workflow::files`]): runners are found beside the `weft` binary, not
/// beside the spec, so they have no path of the spec's own.
pub fn runner_key(language: crate::domain::language::Language) -> PathBuf {
    Path::new("<runners>").join(language.runner_file())
}

/// What a resumed run must match: BLAKE3 over the spec text, the digests of
/// the skills, of the script files and of the script runners (each set
/// sorted). A workflow with no scripts digests as the spec and its skills.
fn workflow_digest(text: &str, skills: Vec<String>, scripts: Vec<String>, runners: Vec<String>) -> String {
    let mut h = blake3::Hasher::new();
    h.update(text.as_bytes());
    for (label, mut digests) in [("", skills), ("script:", scripts), ("runner:", runners)] {
        digests.sort();
        for d in digests {
            h.update(label.as_bytes());
            h.update(d.as_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}

impl Workflow {
    /// Checks the spec in `source`, loading every skill it names; returns the
    /// runnable workflow or every error found.
    pub async fn check(sandbox: &Sandbox, source: SpecSource) -> Result<Workflow, SpecErrors> {
        let spec = source.parse()?;
        let mut c = Checker {
            src: &source,
            sandbox,
            skills: HashMap::new(),
            runners: HashMap::new(),
            scripts: BTreeMap::new(),
            servers: spec.servers.keys().cloned().collect(),
            files: BTreeMap::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        if spec.name.trim().is_empty() {
            c.error(&key(&["name"]), "the workflow needs a name", None);
        }
        let contract = |c: &mut Checker, field: &str, schema: &Option<Value>| {
            schema.as_ref().and_then(|s| match Contract::guarded(s.clone()) {
                Ok(k) => Some(k),
                Err(e) => {
                    c.error(&key(&[field]), format!("the schema {e}"), None);
                    None
                }
            })
        };
        let input_contract = contract(&mut c, "input_schema", &spec.input_schema);
        let output_contract = contract(&mut c, "output_schema", &spec.output_schema);
        let d = RunSettings::default();
        let settings = RunSettings {
            deadline: spec.run.deadline.map_or(d.deadline, Span::get),
            max_attempts: spec.run.max_attempts.unwrap_or(d.max_attempts),
            concurrency: spec.run.concurrency.unwrap_or(d.concurrency),
            max_items: spec.run.max_items.unwrap_or(d.max_items),
        };
        if settings.deadline.is_zero() {
            c.error(&key(&["run", "deadline"]), "the run deadline must be above zero", None);
        }
        if settings.max_attempts == 0 {
            c.error(&key(&["run", "max_attempts"]), "the run needs at least one attempt", None);
        }
        if settings.concurrency == 0 {
            c.error(&key(&["run", "concurrency"]), "concurrency must be at least 1", None);
        }
        if settings.max_items == 0 {
            c.error(&key(&["run", "max_items"]), "max_items must be at least 1", None);
        }
        let mut servers = Vec::new();
        for (name, server) in &spec.servers {
            let at = key(&["servers", name.as_str()]);
            match (&server.command, &server.url) {
                (Some(_), Some(_)) | (None, None) => {
                    c.error(&at, "an MCP server has a `command` (stdio) or a `url` (streamable HTTP)", None);
                }
                (Some(cmd), None) => {
                    if !crate::mcp::client::command_exists(cmd, &source.dir) {
                        c.warn(
                            &with(&at, &["command"]),
                            format!("`{cmd}` is not on PATH; the server will fail to start"),
                            None,
                        );
                    }
                }
                (None, Some(url)) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        c.error(&with(&at, &["url"]), format!("`{url}` is not an http(s) URL"), None);
                    }
                }
            }
            for a in &server.args {
                if let Ok(exprs) = interpolated(a) {
                    let refs: Vec<&Expression> = exprs.iter().collect();
                    c.check_vars(&with(&at, &["args"]), &refs, Bindings::default(), false);
                } else {
                    c.error(&with(&at, &["args"]), format!("`{a}` has a `${{{{` without its closing `}}}}`"), None);
                }
            }
            servers.push(crate::mcp::client::ServerPlan {
                name: name.clone(),
                spec: server.clone(),
                dir: source.dir.clone(),
            });
        }
        let root = c.scope(key(&["steps"]), &spec.steps, &spec, Bindings::default(), spec.input_schema.clone()).await;
        let output = spec.output.as_ref().and_then(|m| c.template(&key(&["output"]), m));
        if let Some(o) = &output {
            c.check_vars(&key(&["output"]), &o.expressions(), Bindings::default(), true);
            for r in o.step_refs() {
                if !spec.steps.contains_key(&r) {
                    c.error(
                        &key(&["output"]),
                        format!("refers to `steps.{r}`, but there is no step `{r}`"),
                        suggest(&r, spec.steps.keys()),
                    );
                }
            }
        }
        for (sname, scenario) in &spec.scenarios {
            let at = key(&["scenarios", sname.as_str()]);
            for f in &scenario.faults {
                match (&f.step, &f.server) {
                    (Some(step), None) => {
                        if let Some((problem, hint)) = unknown_fault_step(&spec, step) {
                            c.error(&with(&at, &["faults"]), format!("the fault on `{step}` never fires: {problem}"), hint);
                        }
                        if f.down.is_some() {
                            c.error(&with(&at, &["faults"]), "`down` applies to a `server` fault", None);
                        }
                    }
                    (None, Some(server)) => {
                        if !spec.servers.contains_key(server) {
                            c.error(&with(&at, &["faults"]), format!("a fault names unknown MCP server `{server}`"), suggest(server, spec.servers.keys()));
                        }
                        if f.kind.is_some() || f.times.is_some() {
                            c.error(&with(&at, &["faults"]), "a `server` fault takes only `down = true`", None);
                        }
                    }
                    _ => c.error(&with(&at, &["faults"]), "a fault names a `step` or a `server`", Some("e.g. { step = \"fetch\", kind = \"transient\", times = 2 } or { server = \"git\", down = true }".into())),
                }
            }
            for (path, want) in &scenario.expect.steps {
                if let Some(status) = &want.status
                    && !["succeeded", "failed", "skipped", "fallback", "cancelled", "absent"].contains(&status.as_str())
                {
                    c.error(
                        &with(&at, &["expect", "steps"]),
                        format!("`{path}`: unknown status `{status}`"),
                        Some("use succeeded, failed, skipped, fallback, cancelled or absent".into()),
                    );
                }
                for r in want.recovery.iter().flatten() {
                    if !["retry", "fallback", "continued", "breaker_opened", "breaker_rejected"].contains(&r.as_str()) {
                        c.error(
                            &with(&at, &["expect", "steps"]),
                            format!("`{path}`: unknown recovery action `{r}`"),
                            Some("use retry, fallback, continued, breaker_opened or breaker_rejected".into()),
                        );
                    }
                }
            }
        }
        let Checker { errors, warnings, skills, runners, scripts, files, .. } = c;
        if !errors.is_empty() {
            let mut all = errors;
            all.extend(warnings);
            return Err(SpecErrors(all));
        }
        let skills = skills.values().filter_map(|s| s.as_ref().ok().map(|s| s.digest().to_string())).collect();
        let runners = runners.values().filter_map(|s| s.as_ref().ok().map(|s| s.digest().to_string())).collect();
        let digest = workflow_digest(&source.text, skills, scripts.into_values().collect(), runners);
        Ok(Workflow {
            digest,
            source,
            settings,
            input_contract,
            output_contract,
            output,
            root: root.expect("no errors means every step compiled"),
            servers,
            files,
            warnings,
            spec,
        })
    }
}

/// Why a fault aimed at `step` would never fire in `spec`, with a suggestion;
/// `None` when it can. A fault names a step anywhere in the spec by its bare
/// name (`fetch_docs`), or one instance by its path
/// (`modules[1].document#2.generate`), each segment a step of the scope the
/// one before it opens. Scenarios' faults and `weft run --fault` are checked
/// alike.
pub fn unknown_fault_step(spec: &WorkflowSpec, step: &str) -> Option<(String, Option<String>)> {
    fn names(steps: &IndexMap<String, StepSpec>, out: &mut Vec<String>) {
        for (n, s) in steps {
            out.push(n.clone());
            if let Some(inner) = &s.steps {
                names(inner, out);
            }
        }
    }
    if !step.contains(['.', '[', '#']) {
        let mut all = Vec::new();
        names(&spec.steps, &mut all);
        if all.iter().any(|n| n == step) {
            return None;
        }
        return Some((format!("the spec has no step `{step}`"), suggest(step, all.iter())));
    }
    let mut scope = Some(&spec.steps);
    let mut walked = String::new();
    for segment in step.split('.') {
        let name = segment.split(['[', '#']).next().unwrap_or(segment);
        let Some(steps) = scope else {
            return Some((format!("`{walked}` has no steps inside it, so `{step}` names nothing"), None));
        };
        let Some(found) = steps.get(name) else {
            let within = if walked.is_empty() { String::new() } else { format!(" inside `{walked}`") };
            return Some((format!("there is no step `{name}`{within}"), suggest(name, steps.keys())));
        };
        scope = found.steps.as_ref();
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(segment);
    }
    None
}

/// Why `server` names no MCP server of `spec`, with a suggestion; `None`
/// when it is declared. For `weft run --server-down`.
pub fn unknown_server(spec: &WorkflowSpec, server: &str) -> Option<String> {
    if spec.servers.contains_key(server) {
        return None;
    }
    let hint = suggest(server, spec.servers.keys()).map(|h| format!("; {h}")).unwrap_or_default();
    let declared = if spec.servers.is_empty() { " (it declares none)".to_string() } else { String::new() };
    Some(format!("the spec has no MCP server `{server}`{declared}{hint}"))
}

/// "did you mean `X`?" for the name among `among` closest to `name`, if any is close.
pub fn did_you_mean<'a>(name: &str, among: impl Iterator<Item = &'a String>) -> Option<String> {
    suggest(name, among)
}

#[cfg(test)]
mod tests {
    use super::{unknown_fault_step, workflow_digest};

    #[test]
    fn a_fault_names_a_step_anywhere_or_one_instance_by_its_path() {
        let spec: crate::domain::spec::WorkflowSpec = toml::from_str(
            r#"
            name = "faults"
            [steps.show]
            skill = "a.wasm"
            [steps.modules]
            for_each = "input.items"
            [steps.modules.steps.fetch]
            skill = "a.wasm"
            [steps.modules.steps.document]
            repeat = { until = "true", max_iterations = 2 }
            [steps.modules.steps.document.steps.generate]
            skill = "a.wasm"
            "#,
        )
        .unwrap();
        for fires in ["show", "fetch", "generate", "modules[0].fetch", "modules[1].document#2.generate", "modules"] {
            assert_eq!(unknown_fault_step(&spec, fires), None, "{fires}");
        }
        let problem = |step| unknown_fault_step(&spec, step).unwrap();
        assert_eq!(problem("fecth"), ("the spec has no step `fecth`".into(), Some("did you mean `fetch`?".into())));
        let (why, hint) = problem("modules[0].fecth");
        assert_eq!(why, "there is no step `fecth` inside `modules[0]`");
        assert_eq!(hint.as_deref(), Some("did you mean `fetch`?"));
        // The right name in the wrong scope names nothing.
        assert_eq!(problem("modules[0].generate").0, "there is no step `generate` inside `modules[0]`");
        assert_eq!(problem("show.fetch").0, "`show` has no steps inside it, so `show.fetch` names nothing");
        assert_eq!(problem("modulse[0].fetch").0, "there is no step `modulse`");
    }

    fn d(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn the_digest_covers_skills_scripts_and_runners() {
        let base = workflow_digest("spec", vec![d("s1"), d("s2")], vec![d("p1")], vec![d("r1")]);
        // The order in which things were found does not matter.
        assert_eq!(base, workflow_digest("spec", vec![d("s2"), d("s1")], vec![d("p1")], vec![d("r1")]));
        for changed in [
            workflow_digest("spec2", vec![d("s1"), d("s2")], vec![d("p1")], vec![d("r1")]),
            workflow_digest("spec", vec![d("s1"), d("s3")], vec![d("p1")], vec![d("r1")]),
            workflow_digest("spec", vec![d("s1"), d("s2")], vec![d("p2")], vec![d("r1")]),
            workflow_digest("spec", vec![d("s1"), d("s2")], vec![d("p1")], vec![d("r2")]),
            // A script's digest is not mistaken for a runner's.
            workflow_digest("spec", vec![d("s1"), d("s2")], vec![d("r1")], vec![d("p1")]),
        ] {
            assert_ne!(base, changed);
        }
    }

    #[test]
    fn without_scripts_the_digest_is_the_spec_and_its_skills_as_before() {
        let mut h = blake3::Hasher::new();
        h.update(b"spec");
        h.update(b"a");
        h.update(b"b");
        assert_eq!(workflow_digest("spec", vec![d("b"), d("a")], vec![], vec![]), h.finalize().to_hex().to_string());
    }
}
