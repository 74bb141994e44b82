//! Runs the daemon's services as tasks of one `JoinSet` under one cancellation token.
//!
//! A service that fails is never ignored: it is logged and, by its policy, restarted with
//! exponential backoff or taken as fatal, which stops the whole daemon. On shutdown every
//! service is cancelled and given a bounded time to finish; stragglers are aborted.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub type ServiceFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type Factory = Arc<dyn Fn(CancellationToken) -> ServiceFuture + Send + Sync>;

/// What to do when a service returns an error (or returns at all before shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Start it again after a backoff that doubles up to `max_backoff`.
    Restart { max_backoff: Duration },
    /// The daemon cannot work without it: stop everything.
    Fatal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Shutdown was requested and every service finished in time.
    Clean,
    /// Shutdown was requested; these services had to be aborted.
    Aborted(Vec<String>),
    /// A fatal service failed; the daemon stopped because of it.
    Failed { service: String, error: String },
}

pub struct Supervisor {
    cancel: CancellationToken,
    tasks: JoinSet<(String, Result<(), String>)>,
    names: Vec<String>,
}

impl Supervisor {
    pub fn new(cancel: CancellationToken) -> Supervisor {
        Supervisor { cancel, tasks: JoinSet::new(), names: Vec::new() }
    }

    /// Starts a service. `make` is called again for each restart.
    pub fn spawn<F, Fut>(&mut self, name: &str, policy: Policy, make: F)
    where
        F: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let factory: Factory = Arc::new(move |token| Box::pin(make(token)));
        let cancel = self.cancel.clone();
        let owned = name.to_owned();
        self.names.push(owned.clone());
        self.tasks.spawn(async move {
            let result = supervise(&owned, policy, factory, cancel).await;
            (owned, result)
        });
    }

    /// Waits until shutdown is requested (the token is cancelled) or a fatal service fails,
    /// then stops everything within `grace`.
    pub async fn run(mut self, grace: Duration) -> Stopped {
        let mut failure = None;
        let mut running = self.names.clone();
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => {}
            Some(joined) = self.tasks.join_next() => {
                let (service, error) = match joined {
                    Ok((name, Err(e))) => (name, Some(e)),
                    // Services return Ok only when shutdown began, which may have raced this.
                    Ok((name, Ok(()))) => (name, (!self.cancel.is_cancelled()).then(|| "stopped unexpectedly".to_owned())),
                    Err(e) => ("unknown".to_owned(), Some(e.to_string())),
                };
                running.retain(|n| *n != service);
                if let Some(error) = error {
                    tracing::error!(%service, %error, "fatal service failed: stopping the daemon");
                    failure = Some(Stopped::Failed { service, error });
                }
                self.cancel.cancel();
            }
        }
        let drain = async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Ok((name, _)) = joined {
                    running.retain(|n| *n != name);
                    tracing::debug!(service = %name, "stopped");
                }
            }
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(services = ?running, "services did not stop in time: aborting them");
            self.tasks.abort_all();
            return failure.unwrap_or(Stopped::Aborted(running));
        }
        failure.unwrap_or(Stopped::Clean)
    }
}

/// Runs one service until shutdown, applying its policy. Returns an error only for a fatal
/// service that failed.
async fn supervise(name: &str, policy: Policy, factory: Factory, cancel: CancellationToken) -> Result<(), String> {
    let mut backoff = Duration::from_millis(100);
    loop {
        let result = factory(cancel.child_token()).await;
        if cancel.is_cancelled() {
            return Ok(());
        }
        let error = match result {
            Ok(()) => "returned before shutdown".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        match policy {
            Policy::Fatal => return Err(error),
            Policy::Restart { max_backoff } => {
                tracing::error!(service = name, %error, retry_in = ?backoff, "service failed: restarting");
                tokio::select! {
                    () = cancel.cancelled() => return Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_failing_service_is_restarted_with_growing_backoff() {
        let cancel = CancellationToken::new();
        let mut sup = Supervisor::new(cancel.clone());
        let starts = Arc::new(AtomicU32::new(0));
        let seen = starts.clone();
        sup.spawn("flaky", Policy::Restart { max_backoff: Duration::from_secs(1) }, move |_| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                anyhow::bail!("boom")
            }
        });
        let run = tokio::spawn(sup.run(Duration::from_secs(1)));
        // Backoffs 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 s: by 3.6 s of virtual time, 7 starts.
        tokio::time::sleep(Duration::from_millis(3550)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 7);
        cancel.cancel();
        assert_eq!(run.await.unwrap(), Stopped::Clean);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fatal_failure_stops_every_service() {
        let cancel = CancellationToken::new();
        let mut sup = Supervisor::new(cancel.clone());
        sup.spawn("steady", Policy::Fatal, |token| async move {
            token.cancelled().await;
            Ok(())
        });
        sup.spawn("store", Policy::Fatal, |_| async { anyhow::bail!("disk gone") });
        let stopped = sup.run(Duration::from_secs(5)).await;
        assert_eq!(stopped, Stopped::Failed { service: "store".into(), error: "disk gone".into() });
        assert!(cancel.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_ignores_shutdown_is_aborted_after_the_grace_time() {
        let cancel = CancellationToken::new();
        let mut sup = Supervisor::new(cancel.clone());
        sup.spawn("stubborn", Policy::Fatal, |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        sup.spawn("polite", Policy::Fatal, |token| async move {
            token.cancelled().await;
            Ok(())
        });
        cancel.cancel();
        assert_eq!(sup.run(Duration::from_secs(2)).await, Stopped::Aborted(vec!["stubborn".into()]));
    }
}
