//! `weft mcp`: serves weft to AI agents over MCP, on stdio or streamable
//! HTTP; `weft mcp tools` lists the tools of the servers a workflow declares.

use super::Exit;
use super::args::InputArgs;
use super::out;
use super::workflow::load_workflow;
use crate::domain::{OutcomeKind, Size, Span};
use crate::engine::plan::{ScopePlan, StepKind, did_you_mean, unknown_server};
use crate::mcp::client::{McpPool, ToolInfo};
use crate::mcp::server::{Ceilings, HttpServer, McpServerConfig, WeftMcp, serve_stdio};
use crate::sandbox::{Sandbox, SandboxConfig};
use anyhow::Context;
use indexmap::IndexMap;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The address `--http` serves on when given none.
const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8700";

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct McpArgs {
    #[command(subcommand)]
    command: Option<McpCommand>,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio [ADDR default: 127.0.0.1:8700].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_HTTP_ADDR)]
    http: Option<String>,
    /// Allow --http on a non-loopback address. There is no authentication: anyone who can reach
    /// the address can run code in the sandbox.
    #[arg(long, requires = "http")]
    allow_remote: bool,
    /// Also accept requests from browser pages of this origin (`scheme://host[:port]`, a port of
    /// `*` for any; repeatable). Pages served from this machine (localhost, 127.0.0.1, [::1]) are
    /// accepted on a loopback address without it; any other Origin is refused.
    #[arg(long = "allow-origin", value_name = "ORIGIN", requires = "http")]
    allow_origins: Vec<String>,
    /// Expose every skill component (`*.wasm`) in DIR, each as a tool of its own.
    #[arg(long, value_name = "DIR")]
    skills: Option<PathBuf>,
    /// The only directory `run_workflow` may read spec files from [default: none, inline specs only].
    #[arg(long, value_name = "DIR")]
    workflows: Option<PathBuf>,
    /// The longest any one run may take, whatever a caller asks for.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    max_timeout: Span,
    /// The most memory any one run may use.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    max_memory: Size,
    /// The most fuel any one run may use; when set, every run is metered [default: unmetered].
    #[arg(long, value_name = "N")]
    max_fuel: Option<u64>,
    /// The largest output any one run may return.
    #[arg(long, value_name = "SIZE", default_value = "16MiB")]
    max_output: Size,
    /// The longest a whole workflow run may take (its `[run] deadline` is lowered to this).
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    max_deadline: Span,
    /// Calls that run at once; the others wait their turn in order, and one that cannot start
    /// within its own timeout ends as `timeout` [default: twice the machine's cores].
    #[arg(long, value_name = "N")]
    max_calls: Option<usize>,
}

#[derive(Debug, clap::Subcommand)]
enum McpCommand {
    /// List the tools of the MCP servers a workflow spec declares, and check that each tool step
    /// names a tool its server offers (the servers are started as a run would start them).
    Tools(ToolsArgs),
}

#[derive(Debug, clap::Args)]
struct ToolsArgs {
    /// The workflow spec (`.toml`, or `.json`).
    spec: PathBuf,
    /// Only this server (repeatable) [default: every server the spec declares].
    #[arg(long = "server", value_name = "NAME")]
    servers: Vec<String>,
    /// The run input `${{ input.X }}` in the servers' `args` refers to.
    #[command(flatten)]
    input: InputArgs,
    /// Print JSON: the tools of each server, and the problems found.
    #[arg(long)]
    json: bool,
}

/// How long listing one server's tools may take, once it is started.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every tool step under `scope`: (path, server, tool).
fn tool_steps(prefix: &str, scope: &ScopePlan, out: &mut Vec<(String, String, String)>) {
    for (name, step) in &scope.steps {
        let path = format!("{prefix}{name}");
        match &step.kind {
            StepKind::Tool(t) => out.push((path, t.server.clone(), t.tool.clone())),
            StepKind::Group(g) => tool_steps(&format!("{path}."), &g.scope, out),
            StepKind::Skill(_) | StepKind::Script(_) => {}
        }
    }
}

async fn tools(args: ToolsArgs) -> anyhow::Result<u8> {
    let max_input = crate::domain::Limits::default().max_input;
    let input: serde_json::Value = serde_json::from_str(&args.input.read(max_input, None)?)?;
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let wf = load_workflow(&sandbox, &args.spec, args.json).await?;
    if wf.spec.servers.is_empty() {
        return Err(
            Exit { code: Exit::USAGE, message: format!("{} declares no [servers]", args.spec.display()) }.into()
        );
    }
    for s in &args.servers {
        if let Some(p) = unknown_server(&wf.spec, s) {
            return Err(Exit { code: Exit::USAGE, message: format!("--server {s}: {p}") }.into());
        }
    }
    let names: Vec<String> =
        wf.spec.servers.keys().filter(|n| args.servers.is_empty() || args.servers.contains(n)).cloned().collect();
    let no_input = input.is_null();
    let pool = McpPool::new(wf.servers.clone(), input);
    let mut listed: IndexMap<String, Result<Vec<ToolInfo>, String>> = IndexMap::new();
    for name in &names {
        let r = pool.list_tools(name, LIST_TIMEOUT).await.map_err(|f| {
            let hint = if f.kind == OutcomeKind::Permanent && no_input {
                " (its `args` use the run input: pass it with --input)"
            } else {
                ""
            };
            format!("{}: {}{hint}", f.kind, f.message)
        });
        listed.insert(name.clone(), r);
    }
    pool.shutdown().await;

    let mut problems = Vec::new();
    for (name, r) in &listed {
        if let Err(e) = r {
            problems.push(format!("MCP server `{name}` cannot be listed: {e}"));
        }
    }
    let mut steps = Vec::new();
    tool_steps("", &wf.root, &mut steps);
    for (path, server, tool) in &steps {
        if let Some(Ok(offered)) = listed.get(server) {
            let offered: Vec<String> = offered.iter().map(|t| t.name.clone()).collect();
            if !offered.contains(tool) {
                let hint = did_you_mean(tool, offered.iter()).map(|h| format!("; {h}")).unwrap_or_default();
                problems.push(format!(
                    "step `{path}` calls tool `{tool}`, which MCP server `{server}` does not offer{hint}"
                ));
            }
        }
    }

    if args.json {
        let servers: serde_json::Map<String, serde_json::Value> = listed
            .iter()
            .map(|(n, r)| {
                let v = match r {
                    Ok(t) => json!({"tools": t}),
                    Err(e) => json!({"error": e}),
                };
                (n.clone(), v)
            })
            .collect();
        out::json_line(&json!({"ok": problems.is_empty(), "servers": servers, "problems": problems}))?;
    } else {
        for (name, r) in &listed {
            let Ok(tools) = r else { continue };
            outln!("{name}: {} tool(s)", tools.len())?;
            let width = tools.iter().map(|t| t.name.len()).max().unwrap_or(0);
            for t in tools {
                outln!("  {:width$}  {}", t.name, summary(t.description.as_deref().unwrap_or_default()))?;
            }
        }
        for p in &problems {
            errln!("error: {p}");
        }
        if problems.is_empty() && !steps.is_empty() {
            errln!("ok: every tool step names a tool its server offers");
        }
    }
    Ok(if problems.is_empty() { 0 } else { Exit::FAILED })
}

/// The first sentence of a tool's description, at most 80 characters.
fn summary(description: &str) -> String {
    let line = description.lines().next().unwrap_or_default().trim();
    let sentence = line.split_once(". ").map_or(line, |(s, _)| s).trim_end_matches('.');
    match sentence.char_indices().nth(79) {
        Some((i, _)) => format!("{}…", &sentence[..i]),
        None => sentence.to_string(),
    }
}

/// The address `--http` names: `IP:PORT`, or `HOST:PORT` resolved.
async fn http_addr(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    let mut found = tokio::net::lookup_host(text)
        .await
        .with_context(|| format!("--http {text}: not an address; write it like {DEFAULT_HTTP_ADDR}"))?;
    found.next().with_context(|| format!("--http {text}: the name has no address"))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) async fn run(args: McpArgs) -> anyhow::Result<u8> {
    match args.command {
        Some(McpCommand::Tools(t)) => tools(t).await,
        None => serve(args).await,
    }
}

async fn serve(args: McpArgs) -> anyhow::Result<u8> {
    let ceilings = Ceilings {
        timeout: args.max_timeout.get(),
        max_memory: args.max_memory.bytes(),
        fuel: args.max_fuel,
        max_output: args.max_output.bytes(),
        deadline: args.max_deadline.get(),
    };
    ceilings.check()?;
    for origin in &args.allow_origins {
        crate::mcp::server::check_origin(origin).map_err(|e| anyhow::anyhow!("--allow-origin {e}"))?;
    }
    // Refuse a bad address before the (possibly slow) loading.
    let http = match &args.http {
        Some(text) => {
            let addr = http_addr(text).await?;
            if !addr.ip().is_loopback() && !args.allow_remote {
                return Err(crate::mcp::server::ServerError::NotLoopback(addr).into());
            }
            Some(addr)
        }
        None => None,
    };
    if args.max_calls == Some(0) {
        anyhow::bail!("--max-calls must be at least 1");
    }
    let config = McpServerConfig {
        skills_dir: args.skills,
        workflows_dir: args.workflows,
        ceilings,
        max_calls: args.max_calls.unwrap_or(0),
    };
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let server = WeftMcp::start(sandbox, config).await?;
    for w in server.warnings() {
        errln!("warning: {w}");
    }
    let names: Vec<&str> = server.tools().iter().map(|t| t.name.as_ref()).collect();
    errln!("weft mcp: {} tools: {}; {} calls run at once", names.len(), names.join(", "), server.max_calls());
    match http {
        None => {
            errln!("weft mcp: serving MCP on stdin/stdout");
            serve_stdio(server).await?;
        }
        Some(addr) => {
            let bound = HttpServer::bind(addr, args.allow_remote).await?;
            if !bound.local_addr().ip().is_loopback() {
                errln!(
                    "warning: serving on {} with no authentication: anyone who can reach it can run code in the sandbox",
                    bound.local_addr()
                );
            }
            errln!("weft mcp: listening on http://{}/mcp", bound.local_addr());
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                trigger.cancel();
            });
            bound.serve(server, shutdown, &args.allow_origins).await?;
        }
    }
    Ok(0)
}
