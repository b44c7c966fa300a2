//! Where a run's events go: a journal persists them, a progress view shows
//! them, a test keeps them in memory.

use crate::events::Record;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};

/// Where a run's events go. A journal persists them; a progress view shows
/// them. `record` returns once the event is as durable as the sink makes it.
pub trait EventSink: Send + Sync {
    /// Records one event of run `run_id`.
    fn record<'a>(&'a self, run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// An event could not be recorded; the run stops rather than go on unrecorded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot record the run's events: {0}")]
pub struct SinkError(pub String);

/// Keeps events in memory (and lets others see them as they come).
#[derive(Default)]
pub struct MemorySink {
    records: Mutex<Vec<Record>>,
}

impl MemorySink {
    /// Every event so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl EventSink for MemorySink {
    fn record<'a>(&'a self, _run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).push(record.clone());
        Box::pin(async { Ok(()) })
    }
}

/// Sends every event to several sinks, in order.
pub struct Tee(pub Vec<Arc<dyn EventSink>>);

impl EventSink for Tee {
    fn record<'a>(&'a self, run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            // Every sink sees every event, even if one of them fails.
            let mut first_error = None;
            for s in &self.0 {
                if let Err(e) = s.record(run_id, record).await {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }
}
