//! `weft worker`: runs queued attempts and detached runs from a shared
//! PostgreSQL journal, until SIGTERM or Ctrl-C.

use super::Exit;
use super::runs::DbArgs;
use crate::distributed::Worker;
use crate::domain::Span;
use crate::sandbox::{Sandbox, SandboxConfig};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    /// Attempts run at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// On SIGTERM, how long attempts in flight may take to finish before
    /// they are handed back to the queue.
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
    let db = db.open().await?;
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
    let worker = Arc::new(Worker::new(pg, sandbox, args.concurrency, args.name, Some(args.lease.get())));
    eprintln!("weft worker {}: running up to {} attempts at once", worker.id(), args.concurrency);
    let stop = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    let stats = worker.clone().run(stop, args.grace.get()).await;
    eprintln!(
        "weft worker {}: stopped after {} attempt(s) and {} run(s); {} handed back",
        worker.id(),
        stats.attempts,
        stats.runs,
        stats.released
    );
    Ok(0)
}
