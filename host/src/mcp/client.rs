//! MCP servers as data sources: started (or connected to) on first use,
//! started again by the next call after their connection is lost, shut down
//! with the run. Every failure maps onto the outcome kinds, so the usual
//! recovery applies.

use crate::domain::spec::ServerSpec;
use crate::domain::{Failure, OutcomeKind, Span};
use crate::engine::expr::{Scope, interpolate};
use crate::sandbox::ToolGateway;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode};
use rmcp::service::{Peer, RoleClient, RunningService, ServiceError};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Bytes of a server's stderr kept for error messages.
const STDERR_TAIL: usize = 4096;

/// A declared server, with paths and `${{ }}` resolved for one run.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    /// Its name in the spec.
    pub name: String,
    /// How to reach it.
    pub spec: ServerSpec,
    /// The spec's directory (for `cwd`).
    pub dir: PathBuf,
}

struct Conn {
    peer: Peer<RoleClient>,
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, ()>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Conn {
    fn stderr_tail(&self) -> String {
        let b = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).trim().to_string()
    }
}

/// A tool an MCP server offers (from its `tools/list`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    /// The name a call uses.
    pub name: String,
    /// What it does, as the server describes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its arguments.
    pub input_schema: Value,
}

/// One server's connection, started on demand; the lock serialises (re)starts.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<Conn>>>>;

/// The MCP servers of one run.
pub struct McpPool {
    servers: HashMap<String, ServerPlan>,
    scope: Scope,
    conns: Mutex<HashMap<String, Slot>>,
    down: Vec<String>,
}

fn transient(msg: String) -> Failure {
    Failure::new(OutcomeKind::Transient, msg)
}

impl McpPool {
    /// A pool for `servers`; `input` is the run's input, for `${{ }}` in arguments.
    pub fn new(servers: impl IntoIterator<Item = ServerPlan>, input: Value) -> McpPool {
        McpPool {
            servers: servers.into_iter().map(|s| (s.name.clone(), s)).collect(),
            scope: Scope { input: Arc::new(input), ..Scope::default() },
            conns: Mutex::new(HashMap::new()),
            down: Vec::new(),
        }
    }

    /// Treats `servers` as down: every call to them fails as `transient`
    /// (fault injection for rehearsals and the testing plan).
    pub fn with_down(mut self, servers: Vec<String>) -> Self {
        self.down = servers;
        self
    }

    /// Whether `name` is declared.
    pub fn has(&self, name: &str) -> bool {
        self.servers.contains_key(name)
    }

    fn slot(&self, name: &str) -> Slot {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).entry(name.to_string()).or_default().clone()
    }

    /// A live connection to `name`, started if needed or if the last one died.
    async fn conn(&self, name: &str) -> Result<Arc<Conn>, Failure> {
        if self.down.iter().any(|d| d == name) {
            return Err(transient(format!("MCP server `{name}` is down (injected fault)")));
        }
        let plan = self.servers.get(name).ok_or_else(|| {
            Failure::new(OutcomeKind::Permanent, format!("no MCP server `{name}` is declared in [servers]"))
        })?;
        let slot = self.slot(name);
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref()
            && !c.peer.is_transport_closed()
        {
            return Ok(c.clone());
        }
        if let Some(dead) = guard.take()
            && let Some(s) = dead.service.lock().await.take()
        {
            let _ = s.cancel().await;
        }
        let startup = plan.spec.startup_timeout.map_or(Duration::from_secs(30), Span::get);
        let conn = match tokio::time::timeout(startup, self.start(plan)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(transient(format!("MCP server `{name}` did not start within {}", Span(startup))));
            }
        };
        let conn = Arc::new(conn);
        *guard = Some(conn.clone());
        Ok(conn)
    }

    async fn start(&self, plan: &ServerPlan) -> Result<Conn, Failure> {
        let name = &plan.name;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let service = if let Some(url) = &plan.spec.url {
            let transport =
                StreamableHttpClientTransport::with_client(super::http::Client::default(), http_config(url));
            ().serve(transport).await.map_err(|e| {
                transient(format!(
                    "cannot initialise MCP server `{name}` at {url}: {}",
                    without_type_names(&e.to_string())
                ))
            })?
        } else {
            let command = plan.spec.command.as_deref().unwrap_or_default();
            let mut cmd = tokio::process::Command::new(command);
            for a in &plan.spec.args {
                cmd.arg(interpolate(a, &self.scope).map_err(|e| Failure::new(OutcomeKind::Permanent, e.to_string()))?);
            }
            // Deny by default: the server gets PATH and HOME (to find its
            // interpreter and caches) and what the spec grants, nothing else.
            cmd.env_clear();
            for keep in ["PATH", "HOME"] {
                if let Some(v) = std::env::var_os(keep) {
                    cmd.env(keep, v);
                }
            }
            for (k, v) in &plan.spec.env {
                cmd.env(k, v);
            }
            for k in &plan.spec.inherit_env {
                if let Some(v) = std::env::var_os(k) {
                    cmd.env(k, v);
                }
            }
            let dir = match &plan.spec.cwd {
                Some(c) => plan.dir.join(c),
                None => plan.dir.clone(),
            };
            cmd.current_dir(dir);
            let (transport, child_stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| transient(format!("cannot start MCP server `{name}` (`{command}`): {e}")))?;
            if let Some(mut err) = child_stderr {
                let sink = stderr.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = err.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                        s.extend_from_slice(&buf[..n]);
                        let excess = s.len().saturating_sub(STDERR_TAIL);
                        s.drain(..excess);
                    }
                });
            }
            match ().serve(transport).await {
                Ok(s) => s,
                Err(e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let tail =
                        String::from_utf8_lossy(&stderr.lock().unwrap_or_else(|p| p.into_inner())).trim().to_string();
                    let tail = if tail.is_empty() { String::new() } else { format!("; its stderr: {tail}") };
                    let e = without_type_names(&e.to_string());
                    return Err(transient(format!("MCP server `{name}` (`{command}`) did not initialise: {e}{tail}")));
                }
            }
        };
        let peer = service.peer().clone();
        Ok(Conn { peer, service: tokio::sync::Mutex::new(Some(service)), stderr })
    }

    /// Calls `tool` on `server` with `arguments` (an object), within `timeout`.
    /// A tool that reports an error fails with `tool_error`.
    pub async fn call(
        &self,
        server: &str,
        tool: &str,
        arguments: &Value,
        timeout: Duration,
        tool_error: OutcomeKind,
    ) -> Result<Value, Failure> {
        let args = match arguments {
            Value::Object(o) => o.clone(),
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(Failure::new(
                    OutcomeKind::InvalidInput,
                    format!("the arguments of tool `{tool}` must be an object, not {other}"),
                ));
            }
        };
        let conn = self.conn(server).await?;
        let call = conn.peer.call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args));
        let result = match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                return Err(Failure::new(
                    OutcomeKind::Timeout,
                    format!("tool `{tool}` on MCP server `{server}` did not answer within {}", Span(timeout)),
                ));
            }
            Ok(Err(e)) => {
                let lost = !matches!(e, ServiceError::McpError(_) | ServiceError::Timeout { .. });
                let failure = classify(server, tool, e, &conn);
                if lost {
                    // The next call starts (or reaches) the server afresh.
                    self.forget(server, &conn).await;
                }
                return Err(failure);
            }
            Ok(Ok(r)) => r,
        };
        tool_output(server, tool, result, tool_error)
    }

    /// Drops the connection to `server` if it is still `conn`, closing it.
    async fn forget(&self, server: &str, conn: &Arc<Conn>) {
        let slot = self.slot(server);
        let mut guard = slot.lock().await;
        if guard.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn))
            && let Some(dead) = guard.take()
            && let Some(s) = dead.service.lock().await.take()
        {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.cancel()).await;
        }
    }

    /// The tools `server` offers, every page of its `tools/list`, within
    /// `timeout` (after starting it if needed). Failures are `transient`,
    /// or `timeout` when it does not answer in time.
    pub async fn list_tools(&self, server: &str, timeout: Duration) -> Result<Vec<ToolInfo>, Failure> {
        let conn = self.conn(server).await?;
        let tools = match tokio::time::timeout(timeout, conn.peer.list_all_tools()).await {
            Err(_) => {
                return Err(Failure::new(
                    OutcomeKind::Timeout,
                    format!("MCP server `{server}` did not list its tools within {}", Span(timeout)),
                ));
            }
            Ok(Err(e)) => {
                let tail = conn.stderr_tail();
                let tail = if tail.is_empty() { String::new() } else { format!("; its stderr: {tail}") };
                let e = without_type_names(&e.to_string());
                return Err(transient(format!("MCP server `{server}` did not list its tools: {e}{tail}")));
            }
            Ok(Ok(tools)) => tools,
        };
        Ok(tools
            .into_iter()
            .map(|t| ToolInfo {
                name: t.name.to_string(),
                description: t.description.map(|d| d.to_string()),
                input_schema: Value::Object((*t.input_schema).clone()),
            })
            .collect())
    }

    /// Shuts every server down.
    pub async fn shutdown(&self) {
        let slots: Vec<_> = self.conns.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(conn) = slot.lock().await.take()
                && let Some(s) = conn.service.lock().await.take()
            {
                let _ = tokio::time::timeout(Duration::from_secs(5), s.cancel()).await;
            }
        }
    }
}

/// How weft speaks streamable HTTP to a server: a response stream that
/// breaks is not resumed (the server may be gone; the attempt fails as
/// `transient` and the step's retry policy decides), and a session the
/// server no longer knows (it restarted) is replaced by a new one.
fn http_config(url: &str) -> rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig {
    let mut config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url.to_string())
            .reinit_on_expired_session(true)
            .session_recovery_timeout(Duration::from_secs(5));
    config.retry_config = Arc::new(NoResume);
    config
}

/// Never resume a broken response stream (see [`http_config`]).
#[derive(Debug)]
struct NoResume;

impl rmcp::transport::common::client_side_sse::SseRetryPolicy for NoResume {
    fn retry(&self, _times: usize) -> Option<Duration> {
        None
    }
}

fn classify(server: &str, tool: &str, e: ServiceError, conn: &Conn) -> Failure {
    match e {
        ServiceError::McpError(data)
            if data.code == ErrorCode::INVALID_PARAMS || data.code == ErrorCode::METHOD_NOT_FOUND =>
        {
            Failure::new(
                OutcomeKind::InvalidInput,
                format!("tool `{tool}` on MCP server `{server}` refused the call: {}", data.message),
            )
        }
        ServiceError::McpError(data) => {
            let msg = data.message.to_lowercase();
            let kind = if msg.contains("unknown tool") || msg.contains("not found") || msg.contains("invalid") {
                OutcomeKind::InvalidInput
            } else {
                OutcomeKind::Transient
            };
            Failure::new(kind, format!("tool `{tool}` on MCP server `{server}` failed: {}", data.message))
        }
        ServiceError::Timeout { .. } => {
            Failure::new(OutcomeKind::Timeout, format!("tool `{tool}` on MCP server `{server}` timed out"))
        }
        other => {
            let tail = conn.stderr_tail();
            let tail = if tail.is_empty() { String::new() } else { format!("; its stderr: {tail}") };
            let why = without_type_names(&other.to_string());
            transient(format!("lost the connection to MCP server `{server}` calling `{tool}`: {why}{tail}"))
        }
    }
}

/// `text` without the Rust type names rmcp puts in its transport errors
/// (`Transport [rmcp::transport::worker::WorkerTransport<...>] error: ...`):
/// they say nothing to a user.
fn without_type_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = matching_bracket(&rest[open..]).map(|c| open + c) else { break };
        let inside = &rest[open + 1..close];
        out.push_str(&rest[..open]);
        if !inside.contains("::") {
            out.push_str(&rest[open..=close]);
        } else if out.ends_with(' ') {
            out.pop();
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The index of the `]` closing the `[` that `text` starts with.
fn matching_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The tool's result as JSON: its structured content when it gives one, else
/// its content list (text items whose text is JSON are parsed).
fn tool_output(server: &str, tool: &str, result: CallToolResult, tool_error: OutcomeKind) -> Result<Value, Failure> {
    let texts: Vec<String> = result
        .content
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.get("text").and_then(Value::as_str).map(str::to_string))
        .collect();
    if result.is_error == Some(true) {
        let msg = if texts.is_empty() { "no message".to_string() } else { texts.join("\n") };
        // Servers report an unknown tool or bad arguments as a tool error
        // too; those are the caller's mistake, not a failure worth retrying.
        let lower = msg.to_lowercase();
        let refused = lower.contains("-32602")
            || lower.contains("invalid arguments")
            || lower.contains("unknown tool")
            || (lower.contains("tool") && lower.contains("not found"));
        let kind = if refused { OutcomeKind::InvalidInput } else { tool_error };
        return Err(Failure::new(kind, format!("tool `{tool}` on MCP server `{server}` reported an error: {msg}")));
    }
    if let Some(v) = result.structured_content {
        return Ok(v);
    }
    let content: Vec<Value> = result
        .content
        .iter()
        .filter_map(|c| serde_json::to_value(c).ok())
        .map(|mut v| {
            if let Some(text) = v.get("text").and_then(Value::as_str)
                && let Ok(parsed) = serde_json::from_str::<Value>(text)
                && (parsed.is_object() || parsed.is_array())
            {
                v["json"] = parsed;
            }
            v
        })
        .collect();
    Ok(Value::Array(content))
}

/// `call-tool` for a skill: the servers of the run, restricted to those
/// granted to the step, within `timeout` per call.
pub struct Gateway {
    /// The run's servers.
    pub pool: Arc<McpPool>,
    /// Per-call timeout.
    pub timeout: Duration,
}

#[async_trait::async_trait]
impl ToolGateway for Gateway {
    async fn call_tool(&self, server: &str, tool: &str, arguments: &str) -> Result<String, Failure> {
        let args: Value = serde_json::from_str(arguments).map_err(|e| {
            Failure::new(OutcomeKind::InvalidInput, format!("the arguments of `{tool}` are not JSON: {e}"))
        })?;
        let v = self.pool.call(server, tool, &args, self.timeout, OutcomeKind::Transient).await?;
        Ok(v.to_string())
    }
}

/// Whether `command` can be found (as a path, or on `PATH`).
pub fn command_exists(command: &str, dir: &Path) -> bool {
    let p = Path::new(command);
    if p.components().count() > 1 {
        return dir.join(p).exists() || p.exists();
    }
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(command).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_are_taken_out_of_transport_errors() {
        let rmcp = "Transport send error: Transport [rmcp::transport::worker::WorkerTransport<rmcp::transport::\
                    streamable_http_client::StreamableHttpClientWorker<reqwest::Client>>] error: Client error: \
                    error sending request for url (http://127.0.0.1:1/mcp)";
        assert_eq!(
            without_type_names(rmcp),
            "Transport send error: Transport error: Client error: error sending request for url (http://127.0.0.1:1/mcp)"
        );
        assert_eq!(without_type_names("a [plain] note"), "a [plain] note");
        assert_eq!(without_type_names("unclosed [x::y"), "unclosed [x::y");
    }
}
