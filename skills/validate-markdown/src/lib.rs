//! Validates generated Markdown documentation with a real CommonMark parser
//! (pulldown-cmark): the required sections are there, every public name of
//! the module is documented, and every code fence is closed.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_guest::SkillError;

/// What to check.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Document {
    /// The Markdown to check.
    markdown: String,
    /// Public names of the module; each needs a heading of its own.
    #[serde(default)]
    names: Vec<String>,
    /// Second-level sections that must be present, e.g. `["Overview", "API"]`.
    #[serde(default = "default_sections")]
    required_sections: Vec<String>,
}

fn default_sections() -> Vec<String> {
    vec!["Overview".into(), "API".into()]
}

/// The verdict.
#[derive(Serialize, JsonSchema)]
struct Verdict {
    /// True when there is nothing to complain about.
    valid: bool,
    /// What is wrong, one sentence each, for the generator to fix.
    complaints: Vec<String>,
    /// The second-level sections found, in order.
    sections: Vec<String>,
}

/// Checks Markdown documentation: required sections, every public name documented, code fences closed.
#[weft_guest::skill(name = "validate-markdown", version = "0.1.0")]
fn run(doc: Document) -> Result<Verdict, SkillError> {
    if doc.markdown.trim().is_empty() {
        return Ok(Verdict { valid: false, complaints: vec!["the document is empty".into()], sections: vec![] });
    }
    let mut sections = Vec::new();
    let mut headings = Vec::new();
    let mut complaints = Vec::new();
    let mut heading: Option<(HeadingLevel, String)> = None;
    let text = doc.markdown.as_str();
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, String::new())),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, h)) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, h)) = heading.take() {
                    if level == HeadingLevel::H2 {
                        sections.push(h.trim().to_string());
                    }
                    headings.push(h);
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                let block = text[range.clone()].trim_end();
                let fence: String = block.trim_start().chars().take_while(|c| *c == '`' || *c == '~').collect();
                let closed =
                    block.lines().count() > 1 && block.lines().last().is_some_and(|l| l.trim().starts_with(&fence));
                if !closed {
                    let line = text[..range.start].lines().count() + 1;
                    complaints.push(format!("the code fence opened on line {line} is never closed"));
                }
            }
            _ => {}
        }
    }
    for required in &doc.required_sections {
        if !sections.iter().any(|s| s.eq_ignore_ascii_case(required)) {
            complaints.push(format!("the required section `## {required}` is missing"));
        }
    }
    for name in &doc.names {
        let documented = headings
            .iter()
            .any(|h| h.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).any(|w| w == name));
        if !documented {
            complaints.push(format!("the public name `{name}` is not documented (give it a heading)"));
        }
    }
    weft_guest::info!("{} section(s), {} complaint(s)", sections.len(), complaints.len());
    Ok(Verdict { valid: complaints.is_empty(), complaints, sections })
}
