//! `weft worker`: runs queued attempts and detached runs from a shared
//! PostgreSQL journal, until SIGTERM or Ctrl-C.

use super::Exit;
use super::runs::DbArgs;
use crate::distributed::Worker;
use crate::domain::Span;
use crate::sandbox::{Sandbox, SandboxConfig};
use anyhow::Context;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// Attempts run at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// On SIGTERM (or Ctrl-C), how long attempts in flight may take to
    /// finish before they are handed back to the queue (the runs it
    /// orchestrates are handed back then too).
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    grace: Span,
    /// How long a claim on an attempt or a run lasts unless renewed (renewed
    /// every third of it); a dead worker's work is taken over after this.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    lease: Span,
    /// The worker's name in the queue [default: HOST-PID-RANDOM].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

pub(crate) async fn run(args: WorkerArgs, db: &DbArgs) -> anyhow::Result<u8> {
    // The handlers exist before anything else: a SIGTERM that comes while
    // the worker connects is a graceful stop too, not the default kill.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let stop = tokio_util::sync::CancellationToken::new();
    let signalled = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        signalled.cancel();
    });
    let db = tokio::select! {
        db = db.open() => db?,
        () = stop.cancelled() => return Ok(0),
    };
    let Some(pg) = db.postgres else {
        return Err(Exit {
            code: Exit::USAGE,
            message: "a worker needs a shared journal: --db postgres://... (or WEFT_DB)".into(),
        }
        .into());
    };
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    if args.lease.get() < std::time::Duration::from_millis(300) {
        return Err(Exit { code: Exit::USAGE, message: "--lease must be at least 300ms".into() }.into());
    }
    let worker = Worker::new(pg, sandbox, args.concurrency, args.name, Some(args.lease.get()));
    let name = worker.id().to_string();
    let worker = Arc::new(worker.with_log(Arc::new(move |line: &str| errln!("weft worker {name}: {line}"))));
    errln!("weft worker {}: running up to {} attempts at once", worker.id(), args.concurrency);
    let stats = worker.clone().run(stop.cancelled_owned(), args.grace.get()).await;
    errln!(
        "weft worker {}: stopped after {} attempt(s) and {} run(s); {} attempt(s) and {} run(s) handed back",
        worker.id(),
        stats.attempts,
        stats.runs,
        stats.released,
        stats.released_runs
    );
    Ok(0)
}
