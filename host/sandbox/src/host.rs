//! The `weft:skill` world as the host sees it: generated bindings, and the
//! host side of the `host` interface (`log`, `call-tool`).

use super::state::{LogLevel, RunState};
use std::sync::Arc;
use weft_domain::{Failure, OutcomeKind};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "skill",
    imports: {
        "weft:skill/host.call-tool": async,
    },
    exports: { default: async },
});

pub(crate) use self::Skill as SkillWorld;
pub(crate) use self::SkillPre as SkillWorldPre;
pub(crate) use self::weft::skill::types::ErrorKind;

use self::weft::skill::host::Level;

/// Calls tools on MCP servers for a guest's `call-tool` import.
///
/// The sandbox knows nothing of MCP; whoever runs a skill with servers
/// granted supplies a gateway.
#[async_trait::async_trait]
pub trait ToolGateway: Send + Sync {
    /// Calls `tool` on `server` with `arguments` (JSON text); returns the
    /// result as JSON text, or a classified failure.
    async fn call_tool(&self, server: &str, tool: &str, arguments: &str) -> Result<String, Failure>;
}

/// Which servers a run may call, and through what.
#[derive(Clone, Default)]
pub(crate) struct ToolAccess {
    pub(crate) gateway: Option<Arc<dyn ToolGateway>>,
    pub(crate) granted: Vec<String>,
}

impl ToolAccess {
    async fn call(&self, server: &str, tool: &str, arguments: &str) -> Result<String, SkillError> {
        let refuse = |message: String| SkillError { kind: ErrorKind::Permanent, message };
        let Some(gateway) = &self.gateway else {
            return Err(refuse("no MCP server granted to this step".to_string()));
        };
        if !self.granted.iter().any(|s| s == server) {
            return Err(refuse(format!(
                "MCP server `{server}` is not granted to this step (granted: {})",
                if self.granted.is_empty() { "none".to_string() } else { self.granted.join(", ") }
            )));
        }
        gateway.call_tool(server, tool, arguments).await.map_err(|f| SkillError {
            kind: match f.kind {
                OutcomeKind::InvalidInput => ErrorKind::InvalidInput,
                OutcomeKind::Permanent | OutcomeKind::Load => ErrorKind::Permanent,
                _ => ErrorKind::Transient,
            },
            message: format!("{}: {}", f.kind, f.message),
        })
    }
}

impl self::weft::skill::types::Host for RunState {}

impl self::weft::skill::host::Host for RunState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.logs.push(level, message);
    }

    async fn call_tool(&mut self, server: String, tool: String, arguments: String) -> Result<String, SkillError> {
        let access = self.tools.clone();
        access.call(&server, &tool, &arguments).await
    }
}
