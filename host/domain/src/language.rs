//! The languages generated scripts are written in.

use std::path::Path;

/// A script language weft can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python (CPython in a component, built with componentize-py).
    Python,
    /// JavaScript (QuickJS in a component).
    Javascript,
}

impl Language {
    /// The language of a script file, from its extension (`.py`, `.js`, `.mjs`).
    pub fn of_path(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "py" => Some(Language::Python),
            "js" | "mjs" => Some(Language::Javascript),
            _ => None,
        }
    }

    /// The lowercase name used in specs and tool arguments.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
        }
    }

    /// The runner component's file name.
    pub fn runner_file(self) -> &'static str {
        match self {
            Language::Python => "python-runner.wasm",
            Language::Javascript => "js-runner.wasm",
        }
    }
}

impl std::str::FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "python" | "py" => Ok(Language::Python),
            "javascript" | "js" => Ok(Language::Javascript),
            _ => Err(format!("unknown script language `{s}`; use python or javascript")),
        }
    }
}
