//! `weft mcp`: serves weft to AI agents over MCP, on stdio or streamable HTTP.

use crate::domain::{Size, Span};
use crate::mcp::server::{Ceilings, HttpServer, McpServerConfig, WeftMcp, serve_stdio};
use crate::sandbox::{Sandbox, SandboxConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

/// The address `--http` serves on when given none.
const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8700";

#[derive(Debug, clap::Args)]
pub(crate) struct McpArgs {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio [ADDR default: 127.0.0.1:8700].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_HTTP_ADDR)]
    http: Option<String>,
    /// Allow --http on a non-loopback address. There is no authentication: anyone who can reach
    /// the address can run code in the sandbox.
    #[arg(long, requires = "http")]
    allow_remote: bool,
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
    let ceilings = Ceilings {
        timeout: args.max_timeout.get(),
        max_memory: args.max_memory.bytes(),
        fuel: args.max_fuel,
        max_output: args.max_output.bytes(),
        deadline: args.max_deadline.get(),
    };
    ceilings.check()?;
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
    let config = McpServerConfig { skills_dir: args.skills, workflows_dir: args.workflows, ceilings };
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let server = WeftMcp::start(sandbox, config).await?;
    for w in server.warnings() {
        eprintln!("warning: {w}");
    }
    let names: Vec<&str> = server.tools().iter().map(|t| t.name.as_ref()).collect();
    eprintln!("weft mcp: {} tools: {}", names.len(), names.join(", "));
    match http {
        None => {
            eprintln!("weft mcp: serving MCP on stdin/stdout");
            serve_stdio(server).await?;
        }
        Some(addr) => {
            let bound = HttpServer::bind(addr, args.allow_remote).await?;
            if !bound.local_addr().ip().is_loopback() {
                eprintln!(
                    "warning: serving on {} with no authentication: anyone who can reach it can run code in the sandbox",
                    bound.local_addr()
                );
            }
            eprintln!("weft mcp: listening on http://{}/mcp", bound.local_addr());
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                trigger.cancel();
            });
            bound.serve(server, shutdown).await?;
        }
    }
    Ok(0)
}
