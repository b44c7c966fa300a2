//! Live progress of a run on the terminal: on a TTY (indicatif), a line
//! counting the workflow's steps pending, running, retrying and done, and a
//! spinner per step under way; plain lines otherwise.

use crate::domain::events::{Event, Record, StepStatus};
use crate::engine::run::{EventSink, SinkError};
use futures::future::BoxFuture;
use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Where one of the workflow's steps is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Done,
}

/// The workflow's (top-level) steps by phase, from the run's events. A step
/// is retrying while it, or an element or inner step of it, waits out a
/// backoff; done once it ended, however it ended.
#[derive(Debug, Default)]
struct Tally {
    steps: IndexMap<String, Phase>,
    /// Paths waiting out a backoff.
    backing_off: BTreeSet<String>,
}

/// The counts line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    pending: usize,
    running: usize,
    retrying: usize,
    done: usize,
}

/// The top-level step a path belongs to: `docs` for `docs[2]#1.check`.
fn top(path: &str) -> &str {
    path.split(['.', '[', '#']).next().unwrap_or(path)
}

impl Tally {
    fn new<'a>(steps: impl IntoIterator<Item = &'a str>, done: impl IntoIterator<Item = &'a str>) -> Tally {
        let mut t =
            Tally { steps: steps.into_iter().map(|s| (s.to_string(), Phase::Pending)).collect(), ..Tally::default() };
        for d in done {
            if let Some(p) = t.steps.get_mut(d) {
                *p = Phase::Done;
            }
        }
        t
    }

    fn see(&mut self, event: &Event) {
        match event {
            Event::StepStarted { step } => {
                if let Some(p) = self.steps.get_mut(top(step))
                    && *p == Phase::Pending
                {
                    *p = Phase::Running;
                }
            }
            Event::RetryScheduled { step, .. } => {
                self.backing_off.insert(step.clone());
            }
            Event::AttemptStarted { step, .. } | Event::BreakerRejected { step, .. } => {
                self.backing_off.remove(step);
            }
            Event::StepFinished { step, .. } => {
                self.backing_off.remove(step);
                if let Some(p) = self.steps.get_mut(step.as_str()) {
                    *p = Phase::Done;
                }
            }
            _ => {}
        }
    }

    fn counts(&self) -> Counts {
        let retrying: BTreeSet<&str> = self.backing_off.iter().map(|p| top(p)).collect();
        let mut c = Counts { pending: 0, running: 0, retrying: 0, done: 0 };
        for (name, phase) in &self.steps {
            match phase {
                Phase::Pending => c.pending += 1,
                Phase::Done => c.done += 1,
                Phase::Running if retrying.contains(name.as_str()) => c.retrying += 1,
                Phase::Running => c.running += 1,
            }
        }
        c
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "steps: {} pending · {} running · {} retrying · {} done",
            self.pending, self.running, self.retrying, self.done
        )
    }
}

/// Shows a run's events on stderr as they happen.
pub(crate) struct Progress {
    tty: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    tally: Mutex<Tally>,
    summary: ProgressBar,
}

impl Progress {
    /// A view of a run of a workflow whose top-level steps are `steps`, of
    /// which `done` finished in an earlier life.
    pub(crate) fn new<'a>(
        steps: impl IntoIterator<Item = &'a str>,
        done: impl IntoIterator<Item = &'a str>,
    ) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let tally = Tally::new(steps, done);
        let summary = multi.add(ProgressBar::new_spinner());
        summary.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
        summary.set_message(tally.counts().to_string());
        Progress { tty, multi, bars: Mutex::new(HashMap::new()), tally: Mutex::new(tally), summary }
    }

    /// Prints a line above the spinners; guest text in it is escaped.
    fn line(&self, text: String) {
        if self.tty {
            let _ = self.multi.println(super::out::safe(&text));
        } else {
            errln!("{text}");
        }
    }

    fn show(&self, run_id: &str, event: &Event) {
        {
            let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
            tally.see(event);
            self.summary.set_message(tally.counts().to_string());
        }
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::RunStarted { workflow, .. } => self.line(format!("run {run_id} of {workflow}")),
            Event::RunResumed { .. } => self.line("run resumed: finished steps are reused".to_string()),
            Event::StepStarted { step } => {
                if self.tty {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix} {wide_msg} {elapsed}")
                            .expect("a valid template"),
                    );
                    bar.set_prefix(step.clone());
                    bar.set_message("running");
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bars.insert(step.clone(), bar);
                } else {
                    self.line(format!("  started   {step}"));
                }
            }
            Event::AttemptFailed { step, attempt, failure } => {
                let text = format!(
                    "attempt {attempt} failed: {}: {}",
                    failure.kind,
                    super::out::safe(first_line(&failure.message))
                );
                match bars.get(step) {
                    Some(bar) => bar.set_message(text),
                    None => self.line(format!("  failed    {step} {text}")),
                }
            }
            Event::RetryScheduled { step, attempt, delay_ms } => {
                let text = format!("retrying (attempt {attempt}) in {delay_ms} ms");
                match bars.get(step) {
                    Some(bar) => bar.set_message(text),
                    None => self.line(format!("  retrying  {step} attempt {attempt} in {delay_ms} ms")),
                }
            }
            Event::BreakerOpened { step, skill } => self.line(format!("  breaker   opened for {skill} (after {step})")),
            Event::BreakerRejected { step, skill } => {
                self.line(format!("  breaker   open for {skill}: {step} fails fast"))
            }
            Event::FallbackUsed { step, source } => {
                self.line(format!("  fallback  {step} from its {source:?}").to_lowercase())
            }
            Event::StepFinished { step, status, error, .. } => {
                let mark = match status {
                    StepStatus::Succeeded => "✓",
                    StepStatus::Fallback => "↩",
                    StepStatus::Skipped => "–",
                    StepStatus::Failed => "✗",
                };
                let why =
                    error.as_ref().map(|e| format!(" ({}: {})", e.kind, first_line(&e.message))).unwrap_or_default();
                let text = format!("{mark} {step} {}{why}", status.as_str());
                match bars.remove(step) {
                    Some(bar) => {
                        bar.finish_and_clear();
                        self.line(text);
                    }
                    None => self.line(format!("  {text}")),
                }
            }
            Event::AttemptStarted { step, attempt } => {
                if *attempt > 1
                    && let Some(bar) = bars.get(step)
                {
                    bar.set_message(format!("running (attempt {attempt})"));
                }
            }
            Event::RunFinished { .. } => {}
        }
    }

    /// Clears the counts line and any spinners left (a run that ended while steps ran).
    pub(crate) fn clear(&self) {
        for (_, bar) in self.bars.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            bar.finish_and_clear();
        }
        self.summary.finish_and_clear();
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

impl EventSink for Progress {
    fn record<'a>(&'a self, run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>> {
        self.show(run_id, &record.event);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Failure, OutcomeKind};

    fn counts(t: &Tally) -> (usize, usize, usize, usize) {
        let c = t.counts();
        (c.pending, c.running, c.retrying, c.done)
    }

    fn started(step: &str) -> Event {
        Event::StepStarted { step: step.into() }
    }

    fn finished(step: &str) -> Event {
        Event::StepFinished {
            step: step.into(),
            status: StepStatus::Succeeded,
            output: serde_json::Value::Null,
            error: None,
        }
    }

    #[test]
    fn the_counts_follow_the_steps_through_pending_running_retrying_and_done() {
        let mut t = Tally::new(["fetch", "docs", "check", "report"], []);
        assert_eq!(counts(&t), (4, 0, 0, 0));
        t.see(&started("fetch"));
        t.see(&Event::AttemptStarted { step: "fetch".into(), attempt: 1 });
        t.see(&started("docs"));
        t.see(&started("docs[0]"));
        t.see(&started("docs[1]"));
        assert_eq!(counts(&t), (2, 2, 0, 0), "a fan-out's elements count as their step");
        let failure = Failure::new(OutcomeKind::Transient, "busy");
        t.see(&Event::AttemptFailed { step: "docs[1]".into(), attempt: 1, failure });
        t.see(&Event::RetryScheduled { step: "docs[1]".into(), attempt: 2, delay_ms: 200 });
        assert_eq!(counts(&t), (2, 1, 1, 0), "one element backing off makes its step retrying");
        t.see(&finished("fetch"));
        assert_eq!(counts(&t), (2, 0, 1, 1));
        t.see(&Event::AttemptStarted { step: "docs[1]".into(), attempt: 2 });
        assert_eq!(counts(&t), (2, 1, 0, 1), "running again once the next attempt starts");
        t.see(&finished("docs[0]"));
        t.see(&finished("docs[1]"));
        assert_eq!(counts(&t), (2, 1, 0, 1), "the fan-out is done when it ends, not its elements");
        t.see(&finished("docs"));
        t.see(&started("check"));
        t.see(&started("check#1.inner"));
        t.see(&Event::StepFinished {
            step: "check".into(),
            status: StepStatus::Failed,
            output: serde_json::Value::Null,
            error: Some(Failure::new(OutcomeKind::Permanent, "no")),
        });
        assert_eq!(counts(&t), (1, 0, 0, 3), "a step that failed is done too");
    }

    #[test]
    fn steps_finished_in_an_earlier_life_start_done() {
        let t = Tally::new(["a", "b", "c"], ["a", "b[0]", "c"]);
        assert_eq!(counts(&t), (1, 0, 0, 2));
        assert_eq!(t.counts().to_string(), "steps: 1 pending · 0 running · 0 retrying · 2 done");
    }

    #[test]
    fn a_path_belongs_to_its_top_level_step() {
        assert_eq!(top("docs[2]#1.check"), "docs");
        assert_eq!(top("refine#3.check"), "refine");
        assert_eq!(top("group.inner"), "group");
        assert_eq!(top("fetch"), "fetch");
    }
}
