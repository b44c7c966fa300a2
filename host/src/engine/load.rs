//! Reading spec files (TOML, or JSON for specs that programs write), and
//! diagnostics that point at the file, line and column.

use crate::domain::spec::WorkflowSpec;
use std::fmt;
use std::path::{Path, PathBuf};

/// The format of a spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

/// A spec's text and where it came from.
#[derive(Debug, Clone)]
pub struct SpecSource {
    /// The file, or `<inline>`.
    pub name: String,
    /// The directory relative paths in the spec resolve against.
    pub dir: PathBuf,
    /// The text.
    pub text: String,
    /// Its format.
    pub format: Format,
    /// Where the files it refers to are, when not where the spec says: a
    /// worker orchestrating a run submitted elsewhere maps each original path
    /// to a local copy of the bytes submitted with the run.
    pub relocated: Option<std::sync::Arc<std::collections::HashMap<PathBuf, PathBuf>>>,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot run.
    Error,
    /// The spec runs, but probably not as meant.
    Warning,
}

/// A problem in a spec, located as precisely as the format allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The spec file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The key path, such as `steps.fetch.input`.
    pub at: String,
    /// What is wrong.
    pub message: String,
    /// What to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}: {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if !self.at.is_empty() {
            write!(f, ": {}", self.at)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every diagnostic of a spec that cannot run.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SpecErrors(pub Vec<Diagnostic>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// The largest spec weft reads: a spec is steps and mappings, and data
/// belongs in the run's input.
pub const MAX_SPEC_BYTES: u64 = 4 * crate::domain::Size::MIB;

fn too_large(name: &str, size: Option<u64>) -> SpecErrors {
    let size = match size {
        Some(n) => format!("{}", crate::domain::Size(n)),
        None => format!("more than {}", crate::domain::Size(MAX_SPEC_BYTES)),
    };
    SpecErrors(vec![Diagnostic {
        severity: Severity::Error,
        file: name.to_string(),
        line: None,
        column: None,
        at: String::new(),
        message: format!("the spec is {size}, over the limit of {} for a spec", crate::domain::Size(MAX_SPEC_BYTES)),
        help: Some("keep data out of the spec: pass it as the run's input (--input @FILE)".into()),
    }])
}

impl SpecSource {
    /// Reads a spec file; the format follows the extension (`.json` is JSON,
    /// anything else TOML). A file over [`MAX_SPEC_BYTES`] is refused
    /// without reading it whole.
    pub fn read(path: &Path) -> Result<SpecSource, SpecErrors> {
        use std::io::Read;
        let name = path.display().to_string();
        let cannot = |e: std::io::Error| {
            SpecErrors(vec![Diagnostic {
                severity: Severity::Error,
                file: name.clone(),
                line: None,
                column: None,
                at: String::new(),
                message: format!("cannot read the spec: {e}"),
                help: None,
            }])
        };
        let file = std::fs::File::open(path).map_err(cannot)?;
        if let Ok(meta) = file.metadata()
            && meta.len() > MAX_SPEC_BYTES
        {
            return Err(too_large(&name, Some(meta.len())));
        }
        let mut bytes = Vec::new();
        file.take(MAX_SPEC_BYTES + 1).read_to_end(&mut bytes).map_err(cannot)?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(too_large(&name, None));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            cannot(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
        })?;
        let format =
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) { Format::Json } else { Format::Toml };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        Ok(SpecSource { name, dir, text, format, relocated: None })
    }

    /// A spec given as text (for example by an MCP client), with relative
    /// paths resolved against `dir`. The format is guessed: JSON if it starts
    /// with `{`.
    pub fn inline(text: &str, dir: &Path) -> SpecSource {
        let format = if text.trim_start().starts_with('{') { Format::Json } else { Format::Toml };
        SpecSource { name: "<inline>".into(), dir: dir.to_path_buf(), text: text.to_string(), format, relocated: None }
    }

    /// Where the file `rel` (as written in the spec) is: resolved against the
    /// spec's directory, then relocated if the run was submitted elsewhere.
    pub fn resolve(&self, rel: &str) -> PathBuf {
        let p = Path::new(rel);
        let p = if p.is_absolute() { p.to_path_buf() } else { self.dir.join(p) };
        match self.relocated.as_ref().and_then(|m| m.get(&p)) {
            Some(local) => local.clone(),
            None => p,
        }
    }

    /// A diagnostic at key path `at` (dot-separated), located in the text when possible.
    pub fn diagnostic(
        &self,
        severity: Severity,
        at: &[String],
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, column) = match self.locate(at) {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        };
        Diagnostic { severity, file: self.name.clone(), line, column, at: at.join("."), message: message.into(), help }
    }

    /// Line and column of the deepest key of `path` found in the text.
    pub fn locate(&self, path: &[String]) -> Option<(usize, usize)> {
        match self.format {
            Format::Toml => {
                let doc = toml_edit::Document::parse(self.text.as_str()).ok()?;
                let mut table: &dyn toml_edit::TableLike = doc.as_table();
                let mut best = None;
                for key in path {
                    let Some((k, item)) = table.get_key_value(key) else { break };
                    if let Some(span) = k.span() {
                        best = Some(span.start);
                    }
                    match item.as_table_like() {
                        Some(t) => table = t,
                        None => break,
                    }
                }
                best.map(|o| line_col(&self.text, o))
            }
            Format::Json => {
                // Find each key in turn, searching forward from the last one.
                let mut from = 0;
                let mut best = None;
                for key in path {
                    let needle = format!("\"{key}\"");
                    match self.text[from..].find(&needle) {
                        Some(i) => {
                            from += i;
                            best = Some(from);
                            from += needle.len();
                        }
                        None => break,
                    }
                }
                best.map(|o| line_col(&self.text, o))
            }
        }
    }

    /// Parses the text into a spec; syntax and shape errors are located.
    pub fn parse(&self) -> Result<WorkflowSpec, SpecErrors> {
        if self.text.len() as u64 > MAX_SPEC_BYTES {
            return Err(too_large(&self.name, Some(self.text.len() as u64)));
        }
        let located = |message: String, offset: Option<usize>, at: String| {
            let (line, column) =
                offset.map(|o| line_col(&self.text, o)).map_or((None, None), |(l, c)| (Some(l), Some(c)));
            SpecErrors(vec![Diagnostic {
                severity: Severity::Error,
                file: self.name.clone(),
                line,
                column,
                at,
                message,
                help: Some("see docs/workflows.md for every field, or docs/workflow.schema.json".into()),
            }])
        };
        match self.format {
            Format::Toml => toml::from_str::<WorkflowSpec>(&self.text).map_err(|e| {
                let message = e.message().trim().to_string();
                located(message, e.span().map(|s| s.start), String::new())
            }),
            Format::Json => {
                let de = &mut serde_json::Deserializer::from_str(&self.text);
                serde_path_to_error::deserialize::<_, WorkflowSpec>(de).map_err(|e| {
                    let at = e.path().to_string();
                    let inner = e.into_inner();
                    let (line, col) = (inner.line(), inner.column());
                    let mut errs = located(inner.to_string(), None, if at == "." { String::new() } else { at });
                    errs.0[0].line = Some(line);
                    errs.0[0].column = Some(col);
                    errs
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toml(text: &str) -> SpecSource {
        SpecSource { name: "w.toml".into(), dir: ".".into(), text: text.into(), format: Format::Toml, relocated: None }
    }

    #[test]
    fn locates_nested_keys_in_toml() {
        let src = toml("name = \"w\"\n\n[steps.fetch]\nskill = \"a.wasm\"\ninput = \"input\"\n");
        assert_eq!(src.locate(&["steps".into(), "fetch".into(), "input".into()]), Some((5, 1)));
        assert_eq!(src.locate(&["steps".into(), "fetch".into()]), Some((3, 8)));
        assert_eq!(src.locate(&["nope".into()]), None);
    }

    #[test]
    fn unknown_fields_are_errors_with_a_line() {
        let src = toml("name = \"w\"\n[steps.a]\nskill = \"a.wasm\"\nretries = 3\n");
        let err = src.parse().unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.line, Some(4), "{d}");
        assert!(d.message.contains("unknown field `retries`"), "{d}");
    }

    #[test]
    fn json_specs_report_the_path_and_line() {
        let src =
            SpecSource::inline("{\n  \"name\": \"w\",\n  \"steps\": {\"a\": {\"skil\": \"x\"}}\n}", Path::new("."));
        let err = src.parse().unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.line, Some(3), "{d}");
        assert!(d.message.contains("unknown field `skil`"), "{d}");
        assert!(d.at.starts_with("steps.a"), "{d}");
    }

    #[test]
    fn diagnostics_print_file_line_column_path_and_help() {
        let src = toml("name = \"w\"\n[steps.a]\nskill = \"a.wasm\"\n");
        let d = src.diagnostic(
            Severity::Error,
            &["steps".into(), "a".into(), "skill".into()],
            "missing",
            Some("build it".into()),
        );
        assert_eq!(d.to_string(), "error: w.toml:3:1: steps.a.skill: missing\n  help: build it");
    }
}
