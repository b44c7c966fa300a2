//! Journaling a run as it happens: the engine's [`EventSink`] over a
//! [`Journal`].

use super::Journal;
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::sync::Mutex;
use weft_domain::events::{Event, Record};
use weft_domain::sink::{EventSink, SinkError};

/// Appends a run's events to the journal. Events that only describe progress
/// are batched; an event that changes what a resumed run would do (a step
/// finished, a retry scheduled with its backoff, the run finished) is
/// committed, with everything before it, before the engine goes on.
///
/// Commits are grouped: while one append is under way, the durable events
/// of other steps wait for it, and the first of them then appends
/// everything recorded meanwhile at once. A wide fan-out thus pays for one
/// commit per batch of finished steps, not one per step.
pub struct JournalSink {
    journal: Arc<dyn Journal>,
    pending: StdMutex<Pending>,
    /// The log's version; held while appending, so appends go one at a time.
    version: Mutex<u64>,
}

/// Events recorded but not yet appended.
#[derive(Default)]
struct Pending {
    records: Vec<Record>,
    /// How many events were recorded in all, and how many of those are
    /// appended: event `n` (counting from 1) is durable once `appended >= n`.
    recorded: u64,
    appended: u64,
}

impl JournalSink {
    /// A sink for a run whose log is at `version`.
    pub fn new(journal: Arc<dyn Journal>, version: u64) -> Self {
        JournalSink { journal, pending: StdMutex::new(Pending::default()), version: Mutex::new(version) }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
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
            let number = {
                let mut p = self.pending();
                p.records.push(record.clone());
                p.recorded += 1;
                p.recorded
            };
            if !must_be_durable(&record.event) {
                return Ok(());
            }
            let mut version = self.version.lock().await;
            let (batch, upto) = {
                let mut p = self.pending();
                if p.appended >= number {
                    // Another step's append took this event along.
                    return Ok(());
                }
                (std::mem::take(&mut p.records), p.recorded)
            };
            match self.journal.append(run_id, *version, &batch).await {
                Ok(v) => {
                    *version = v;
                    self.pending().appended = upto;
                    Ok(())
                }
                Err(e) => {
                    // Nothing is lost: the batch goes back in front of what
                    // came meanwhile, for the next append to try again.
                    let mut p = self.pending();
                    let later = std::mem::replace(&mut p.records, batch);
                    p.records.extend(later);
                    Err(SinkError(e.to_string()))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JournalError, RunMeta, RunSummary, StoredRun};
    use async_trait::async_trait;
    use serde_json::Value;
    use weft_domain::events::StepStatus;

    /// A journal that keeps appends in memory, can hold the first one until
    /// told, and can fail the next one.
    struct Held {
        appends: StdMutex<Vec<Vec<Record>>>,
        hold_first: tokio::sync::Semaphore,
        holding: std::sync::atomic::AtomicBool,
        fail_next: std::sync::atomic::AtomicBool,
    }

    impl Held {
        fn new() -> Held {
            Held {
                appends: StdMutex::new(Vec::new()),
                hold_first: tokio::sync::Semaphore::new(0),
                holding: Default::default(),
                fail_next: Default::default(),
            }
        }
    }

    #[async_trait]
    impl Journal for Held {
        async fn create_run(&self, _: &RunMeta) -> Result<(), JournalError> {
            Ok(())
        }
        async fn append(&self, _: &str, expected: u64, records: &[Record]) -> Result<u64, JournalError> {
            if self.holding.swap(false, std::sync::atomic::Ordering::SeqCst) {
                let _ = self.hold_first.acquire().await.expect("open");
            }
            if self.fail_next.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return Err(JournalError::Corrupt("the disk is full".into()));
            }
            let mut appends = self.appends.lock().unwrap();
            let version: u64 = appends.iter().map(|a| a.len() as u64).sum();
            assert_eq!(version, expected, "appends see the version the last one left");
            appends.push(records.to_vec());
            Ok(version + records.len() as u64)
        }
        async fn load(&self, _: &str) -> Result<StoredRun, JournalError> {
            unreachable!()
        }
        async fn list(&self, _: usize) -> Result<Vec<RunSummary>, JournalError> {
            unreachable!()
        }
        async fn resolve_id(&self, _: &str) -> Result<String, JournalError> {
            unreachable!()
        }
    }

    fn started(step: &str) -> Record {
        Record { at_ms: 1, event: Event::StepStarted { step: step.into() } }
    }

    fn finished(step: &str) -> Record {
        let event =
            Event::StepFinished { step: step.into(), status: StepStatus::Succeeded, output: Value::Null, error: None };
        Record { at_ms: 2, event }
    }

    fn steps(appends: &[Vec<Record>]) -> Vec<String> {
        appends.iter().flatten().map(|r| serde_json::to_value(&r.event).unwrap()["step"].to_string()).collect()
    }

    #[tokio::test]
    async fn progress_waits_and_a_finished_step_is_appended_with_it() {
        let journal = Arc::new(Held::new());
        let sink = JournalSink::new(journal.clone(), 0);
        sink.record("r", &started("a")).await.unwrap();
        assert!(journal.appends.lock().unwrap().is_empty(), "progress alone is not appended");
        sink.record("r", &finished("a")).await.unwrap();
        let appends = journal.appends.lock().unwrap().clone();
        assert_eq!(appends.len(), 1);
        assert_eq!(steps(&appends), ["\"a\"", "\"a\""]);
    }

    #[tokio::test]
    async fn steps_finishing_during_an_append_share_the_next_one() {
        let journal = Arc::new(Held::new());
        journal.holding.store(true, std::sync::atomic::Ordering::SeqCst);
        let sink = Arc::new(JournalSink::new(journal.clone(), 0));
        let first = tokio::spawn({
            let sink = sink.clone();
            async move { sink.record("r", &finished("s0")).await }
        });
        // Wait until the first append is under way (held), then finish nine more.
        while journal.holding.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let others: Vec<_> = (1..10)
            .map(|i| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.record("r", &finished(&format!("s{i}"))).await })
            })
            .collect();
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        journal.hold_first.add_permits(1);
        first.await.unwrap().unwrap();
        for o in others {
            o.await.unwrap().unwrap();
        }
        let appends = journal.appends.lock().unwrap().clone();
        assert_eq!(appends.len(), 2, "one append for the first step, one for the nine that waited: {appends:?}");
        let mut all = steps(&appends);
        all.sort();
        assert_eq!(all.len(), 10, "every event appended once");
        all.dedup();
        assert_eq!(all.len(), 10);
    }

    #[tokio::test]
    async fn a_failed_append_loses_nothing() {
        let journal = Arc::new(Held::new());
        let sink = JournalSink::new(journal.clone(), 0);
        sink.record("r", &started("a")).await.unwrap();
        journal.fail_next.store(true, std::sync::atomic::Ordering::SeqCst);
        let e = sink.record("r", &finished("a")).await.unwrap_err();
        assert!(e.to_string().contains("the disk is full"), "{e}");
        sink.record("r", &finished("b")).await.unwrap();
        let appends = journal.appends.lock().unwrap().clone();
        assert_eq!(appends.len(), 1);
        assert_eq!(steps(&appends), ["\"a\"", "\"a\"", "\"b\""], "in order, nothing lost");
    }
}
