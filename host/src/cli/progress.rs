//! Live progress of a run on the terminal: a spinner per running step on a
//! TTY (indicatif), plain lines otherwise.

use crate::domain::events::{Event, Record, StepStatus};
use crate::engine::run::{EventSink, SinkError};
use futures::future::BoxFuture;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Shows a run's events on stderr as they happen.
pub(crate) struct Progress {
    tty: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Progress { tty, multi, bars: Mutex::new(HashMap::new()) }
    }

    fn line(&self, text: String) {
        if self.tty {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn show(&self, run_id: &str, event: &Event) {
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
                let text = format!("attempt {attempt} failed: {}: {}", failure.kind, first_line(&failure.message));
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
            Event::AttemptStarted { .. } | Event::RunFinished { .. } => {}
        }
    }

    /// Clears any spinners left (a run that ended while steps ran).
    pub(crate) fn clear(&self) {
        for (_, bar) in self.bars.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            bar.finish_and_clear();
        }
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
