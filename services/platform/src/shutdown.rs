//! The process's stop signal: SIGTERM (Kubernetes) or SIGINT (Ctrl-C).

use std::future::Future;

/// Installs the SIGTERM and SIGINT handlers now and returns a future that resolves on the first
/// of them. Call it before the process announces itself (prints its address, reports healthy):
/// a signal that arrives before the handlers exist kills the process instead of draining it. If
/// the handlers cannot be installed the process could never stop cleanly, so that is reported
/// and treated as an immediate stop.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => Some((term, int)),
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!(%err, "cannot install signal handlers; stopping");
            None
        }
    };
    async move {
        let Some((mut term, mut int)) = handlers else {
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
            _ = int.recv() => tracing::info!("SIGINT received; shutting down"),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A SIGTERM sent after `signal()` returned, but before its future is first polled, is
    /// caught rather than killing the process.
    #[tokio::test]
    async fn a_signal_before_the_first_poll_is_not_lost() {
        let stop = super::signal();
        nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM)
            .expect("raise SIGTERM");
        tokio::time::timeout(std::time::Duration::from_secs(5), stop)
            .await
            .expect("the stop future resolves");
    }
}
