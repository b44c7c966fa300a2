//! Hostile: tries to escape the sandbox and reports what worked.
//!
//! Input (every field optional):
//! `{"read": [paths], "write": [paths], "list": [dirs], "env": bool,
//!   "connect": ["host:port"], "lookup": ["hostname"]}`.
//!
//! Output: `{"read": {path: outcome}, "write": {...}, "list": {...},
//! "env": {NAME: VALUE}, "connect": {...}, "lookup": {...}}` where an outcome
//! is `{"ok": true, "value": ...}` or `{"ok": false, "error": "..."}`.
//! Never panics: every failure is reported as an outcome.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use weft_guest::SkillError;

/// How many bytes of a file to return.
const READ_PREFIX: u64 = 200;

#[derive(Deserialize, JsonSchema, Default)]
#[serde(default, deny_unknown_fields)]
struct Probe {
    /// Files to read (the first 200 bytes are returned).
    read: Vec<String>,
    /// Files to create or overwrite with the text `probe`.
    write: Vec<String>,
    /// Directories to list.
    list: Vec<String>,
    /// Whether to return every environment variable.
    env: bool,
    /// `host:port` addresses to open a TCP connection to.
    connect: Vec<String>,
    /// Host names to resolve.
    lookup: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Outcome {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl<T: Into<Value>, E: std::fmt::Display> From<Result<T, E>> for Outcome {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Outcome { ok: true, value: Some(value.into()), error: None },
            Err(err) => Outcome { ok: false, value: None, error: Some(err.to_string()) },
        }
    }
}

#[derive(Serialize, JsonSchema, Default)]
struct Report {
    read: BTreeMap<String, Outcome>,
    write: BTreeMap<String, Outcome>,
    list: BTreeMap<String, Outcome>,
    env: BTreeMap<String, String>,
    connect: BTreeMap<String, Outcome>,
    lookup: BTreeMap<String, Outcome>,
}

fn read(path: &str) -> std::io::Result<String> {
    let mut prefix = Vec::new();
    std::fs::File::open(path)?.take(READ_PREFIX).read_to_end(&mut prefix)?;
    Ok(String::from_utf8_lossy(&prefix).into_owned())
}

fn write(path: &str) -> std::io::Result<String> {
    std::fs::write(path, "probe")?;
    Ok("wrote 5 bytes".to_owned())
}

fn list(dir: &str) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn connect(addr: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(addr)?;
    Ok(match stream.peer_addr() {
        Ok(peer) => format!("connected to {peer}"),
        Err(_) => "connected".to_owned(),
    })
}

fn lookup(host: &str) -> std::io::Result<Vec<String>> {
    Ok((host, 0u16).to_socket_addrs()?.map(|addr| addr.ip().to_string()).collect())
}

/// Probes the sandbox: files, directories, environment, network.
#[weft_guest::skill(name = "escape-probe")]
fn run(probe: Probe) -> Result<Report, SkillError> {
    let mut report = Report::default();
    for path in probe.read {
        let outcome = read(&path).into();
        report.read.insert(path, outcome);
    }
    for path in probe.write {
        let outcome = write(&path).into();
        report.write.insert(path, outcome);
    }
    for dir in probe.list {
        let outcome = list(&dir).into();
        report.list.insert(dir, outcome);
    }
    if probe.env {
        // `vars_os`, not `vars`: `vars` panics on a value that is not UTF-8.
        for (name, value) in std::env::vars_os() {
            report.env.insert(name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned());
        }
    }
    for addr in probe.connect {
        let outcome = connect(&addr).into();
        report.connect.insert(addr, outcome);
    }
    for host in probe.lookup {
        let outcome = lookup(&host).into();
        report.lookup.insert(host, outcome);
    }
    Ok(report)
}
