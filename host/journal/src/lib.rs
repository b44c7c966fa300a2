//! weft's journal: every run as an append-only event log, durable before the
//! engine goes on, so a run survives the process dying at any instant.
//!
//! [`Journal`] is the storage trait. `sqlite::SqliteJournal` (feature `sqlite`, on by
//! default) is the embedded journal; `postgres::PostgresJournal` (feature
//! `postgres`) the shared one. Writes carry the version the writer last saw (optimistic
//! concurrency), so several writers — workers on other machines, with a
//! shared backend — cannot interleave a run's log. Large outputs are stored
//! once, content-addressed, and referenced from events.

#![deny(missing_docs)]

#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sink;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use weft_domain::events::{Event, Record, RunState, RunStatus};

/// What is stored about a run besides its events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMeta {
    /// The run's id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// Where the spec was read from (absolute), if from a file.
    pub spec_path: Option<String>,
    /// The spec's text, as run.
    pub spec_text: String,
    /// BLAKE3 of the spec text and every skill's bytes.
    pub spec_digest: String,
    /// The run's input.
    pub input: Value,
    /// When it was created (ms since the Unix epoch).
    pub created_ms: u64,
}

/// A run as the journal holds it.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// Its metadata.
    pub meta: RunMeta,
    /// Its events, in order.
    pub records: Vec<Record>,
    /// The version of its log (the number of events).
    pub version: u64,
}

impl StoredRun {
    /// Whether the log ends with the run finished, and how.
    pub fn finished(&self) -> Option<RunStatus> {
        for r in self.records.iter().rev() {
            match &r.event {
                Event::RunFinished { status, .. } => return Some(*status),
                Event::RunResumed { .. } => return None,
                _ => {}
            }
        }
        None
    }
}

/// One line of `weft runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run's id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// `running`, `succeeded` or `failed` (a run whose process died stays `running` until resumed).
    pub status: RunState,
    /// When it started (ms since the Unix epoch).
    pub started_ms: u64,
    /// When it ended, if it has.
    pub finished_ms: Option<u64>,
    /// Events in its log.
    pub events: u64,
}

/// What can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// No run has this id.
    #[error("no run `{0}` in the journal")]
    NotFound(String),
    /// Another writer appended first.
    #[error("run `{run}` changed under us: expected version {expected}, found {found}")]
    Conflict {
        /// The run.
        run: String,
        /// The version the writer saw.
        expected: u64,
        /// The version in the journal.
        found: u64,
    },
    /// A run with this id exists already.
    #[error("run `{0}` exists already")]
    Exists(String),
    /// The database failed.
    #[error("journal database `{path}`: {message}")]
    Storage {
        /// Where the database is.
        path: String,
        /// What failed.
        message: String,
    },
    /// The stored data is not what weft wrote.
    #[error("journal data is corrupt: {0}")]
    Corrupt(String),
}

/// Where runs are kept.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Records a new run (before its first event).
    async fn create_run(&self, meta: &RunMeta) -> Result<(), JournalError>;

    /// Appends `records` to the log of `run_id`, if its version is still
    /// `expected_version`; returns the new version. Durable on return.
    async fn append(&self, run_id: &str, expected_version: u64, records: &[Record]) -> Result<u64, JournalError>;

    /// The run with every event.
    async fn load(&self, run_id: &str) -> Result<StoredRun, JournalError>;

    /// The most recent runs first.
    async fn list(&self, limit: usize) -> Result<Vec<RunSummary>, JournalError>;

    /// The run whose id starts with `prefix`, if exactly one does.
    async fn resolve_id(&self, prefix: &str) -> Result<String, JournalError>;
}

/// Outputs larger than this are stored once as blobs and referenced.
pub const BLOB_THRESHOLD: usize = 1024;

/// The key under which an event refers to a blob.
pub const BLOB_REF: &str = "$weft_blob";

/// The values of `event` that may be large enough to be stored as blobs.
pub(crate) fn event_values(event: &mut Event) -> Vec<&mut Value> {
    match event {
        Event::RunStarted { input, .. } => vec![input],
        Event::StepFinished { output, .. } | Event::RunFinished { output, .. } => vec![output],
        _ => vec![],
    }
}

/// The hash of the blob `v` refers to, if `v` is a reference.
pub(crate) fn blob_ref(v: &Value) -> Option<&str> {
    v.as_object().filter(|o| o.len() == 1).and_then(|o| o.get(BLOB_REF)).and_then(Value::as_str)
}

/// The default database: `$WEFT_DB`, else `weft/runs.db` in the user's data
/// directory (`~/.local/share/weft/runs.db` on Linux).
pub fn default_db() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("WEFT_DB") {
        return p.into();
    }
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("weft").join("runs.db")
}
