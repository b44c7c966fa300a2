//! Journaling a run as it happens: the engine's [`EventSink`] over a
//! [`Journal`].

use super::Journal;
use crate::domain::events::{Event, Record};
use crate::engine::run::{EventSink, SinkError};
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Appends a run's events to the journal. Events that only describe progress
/// are batched; an event that changes what a resumed run would do (a step
/// finished, a retry scheduled with its backoff, the run finished) is
/// committed, with everything before it, before the engine goes on.
pub struct JournalSink {
    journal: Arc<dyn Journal>,
    state: Mutex<(u64, Vec<Record>)>,
}

impl JournalSink {
    /// A sink for a run whose log is at `version`.
    pub fn new(journal: Arc<dyn Journal>, version: u64) -> Self {
        JournalSink { journal, state: Mutex::new((version, Vec::new())) }
    }
}

/// Whether the engine may go on only once `event` is on disk.
fn must_be_durable(event: &Event) -> bool {
    matches!(
        event,
        Event::StepFinished { .. }
            | Event::RunFinished { .. }
            | Event::RunResumed { .. }
            | Event::RunStarted { .. }
            | Event::RetryScheduled { .. }
    )
}

impl EventSink for JournalSink {
    fn record<'a>(&'a self, run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut state = self.state.lock().await;
            state.1.push(record.clone());
            if !must_be_durable(&record.event) {
                return Ok(());
            }
            let (version, pending) = &mut *state;
            let new_version =
                self.journal.append(run_id, *version, pending).await.map_err(|e| SinkError(e.to_string()))?;
            *version = new_version;
            pending.clear();
            Ok(())
        })
    }
}
