//! Generated scripts: Python and JavaScript run by runner components.
//!
//! A runner is an ordinary `weft:skill` component (built from `runners/`)
//! whose input carries the script's source and the script's input, so a new
//! script needs no compile step. This module finds the runners and wraps a
//! script and its input into a runner's input.

use crate::{LoadError, Sandbox, Skill};
use serde_json::{Value, json};
use std::path::PathBuf;
pub use weft_domain::language::Language;

/// Where the runner components are: `$WEFT_RUNNERS_DIR`, else the `skills`
/// directory beside the `weft` binary's build directory (`target/skills`
/// for `target/release/weft`), else `./target/skills`.
pub fn runners_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("WEFT_RUNNERS_DIR") {
        return d.into();
    }
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(3) {
            let candidate = up.join("skills");
            if candidate.join(Language::Python.runner_file()).exists()
                || candidate.join(Language::Javascript.runner_file()).exists()
            {
                return candidate;
            }
        }
    }
    PathBuf::from("target/skills")
}

/// Why a runner is not available.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The runner component was never built.
    #[error(
        "the {lang} runner is not built (looked for {path}); build it with `make build`, or point WEFT_RUNNERS_DIR at it"
    )]
    Missing {
        /// The language.
        lang: &'static str,
        /// Where it was looked for.
        path: String,
    },
    /// It exists but cannot be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Loads the runner for `lang`.
pub async fn load_runner(sandbox: &Sandbox, lang: Language) -> Result<Skill, RunnerError> {
    let path = runners_dir().join(lang.runner_file());
    if !path.exists() {
        return Err(RunnerError::Missing { lang: lang.as_str(), path: path.display().to_string() });
    }
    Ok(sandbox.load_file(&path).await?)
}

/// The runner's input for `source` run on `input`.
pub fn runner_input(source: &str, input: &Value, filename: &str) -> String {
    json!({"source": source, "input": input, "filename": filename}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn languages_follow_the_extension() {
        assert_eq!(Language::of_path(Path::new("a/analyze.py")), Some(Language::Python));
        assert_eq!(Language::of_path(Path::new("x.MJS")), Some(Language::Javascript));
        assert_eq!(Language::of_path(Path::new("x.rb")), None);
        assert_eq!("JS".parse::<Language>().unwrap(), Language::Javascript);
        assert!("ruby".parse::<Language>().unwrap_err().contains("python or javascript"));
    }

    #[test]
    fn the_runner_input_carries_source_and_input() {
        let v: Value = serde_json::from_str(&runner_input("def run(i): return i", &json!({"a": 1}), "s.py")).unwrap();
        assert_eq!(v, json!({"source": "def run(i): return i", "input": {"a": 1}, "filename": "s.py"}));
    }
}
