//! Fills a Markdown documentation template from a Python module's API (what
//! the docs-update example's `analyze` step finds): the module's docstring
//! under `## Overview`, and a heading under `## API` for every public class,
//! method and function, with its docstring or a placeholder. Plain, but it
//! never fails and it documents every name: the docs-update workflow's
//! fallback when generating the docs fails or hangs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_guest::SkillError;

/// The input of the docs-update `generate` step; only `api` is used.
#[derive(Deserialize, JsonSchema)]
struct Request {
    /// The module's API.
    api: Api,
}

/// A module's public API.
#[derive(Deserialize, JsonSchema)]
struct Api {
    /// The module's dotted name, e.g. `inventory.stock`.
    dotted: String,
    /// The module's docstring.
    #[serde(default)]
    doc: String,
    /// Its public functions.
    #[serde(default)]
    functions: Vec<Function>,
    /// Its public classes.
    #[serde(default)]
    classes: Vec<Class>,
}

/// A function or method.
#[derive(Deserialize, JsonSchema)]
struct Function {
    /// Its signature, e.g. `add(sku, quantity)`.
    signature: String,
    /// Its docstring.
    #[serde(default)]
    doc: String,
}

/// A class.
#[derive(Deserialize, JsonSchema)]
struct Class {
    /// Its name.
    name: String,
    /// Its docstring.
    #[serde(default)]
    doc: String,
    /// Its public methods.
    #[serde(default)]
    methods: Vec<Function>,
}

/// The filled template.
#[derive(Serialize, JsonSchema)]
struct Docs {
    /// The Markdown.
    markdown: String,
}

fn entry(out: &mut String, title: &str, doc: &str) {
    let doc = doc.trim();
    let doc = if doc.is_empty() { "_Not documented yet._" } else { doc };
    out.push_str(&format!("### `{title}`\n\n{doc}\n\n"));
}

/// Fills a Markdown documentation template from a module's API: an overview and a heading per public name.
#[weft_guest::skill(name = "docs-template", version = "0.1.0")]
fn run(request: Request) -> Result<Docs, SkillError> {
    let api = request.api;
    let overview = api.doc.trim();
    let overview = if overview.is_empty() { "_No module docstring yet._" } else { overview };
    let mut out = format!("# {}\n\n## Overview\n\n{overview}\n\n## API\n\n", api.dotted);
    for c in &api.classes {
        entry(&mut out, &c.name, &c.doc);
        for m in &c.methods {
            entry(&mut out, &format!("{}.{}", c.name, m.signature), &m.doc);
        }
    }
    for f in &api.functions {
        entry(&mut out, &f.signature, &f.doc);
    }
    Ok(Docs { markdown: out.trim_end().to_string() + "\n" })
}
