//! A config made from files, made again when their content changes (cert-manager's rotation).

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use super::TlsError;
use super::files::{File, read_all, same};

/// A config made from files and made again when their content changes.
pub struct Reloading<C> {
    current: Arc<RwLock<Arc<C>>>,
}

impl<C> Clone for Reloading<C> {
    fn clone(&self) -> Self {
        Self {
            current: self.current.clone(),
        }
    }
}

impl<C: Send + Sync + 'static> Reloading<C> {
    /// Reads `paths` and builds the config; then, where a Tokio runtime runs and the interval
    /// is not zero, reads them again every `interval` for as long as a clone of this lives.
    pub(super) fn watch(
        paths: Vec<PathBuf>,
        interval: Duration,
        what: &'static str,
        build: impl Fn(&[File]) -> Result<C, TlsError> + Send + 'static,
    ) -> Result<Self, TlsError> {
        let mut last = read_all(&paths)?;
        let current = Arc::new(RwLock::new(Arc::new(build(&last)?)));
        let runtime = tokio::runtime::Handle::try_current();
        if paths.is_empty() || interval.is_zero() || runtime.is_err() {
            return Ok(Self { current });
        }
        let watched = Arc::downgrade(&current);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(current) = watched.upgrade() else {
                    return;
                };
                let files = match read_all(&paths) {
                    Ok(files) => files,
                    Err(err) => {
                        tracing::warn!(tls = what, %err, "TLS files cannot be read; the loaded ones stay in use");
                        continue;
                    }
                };
                if same(&files, &last) {
                    continue;
                }
                match build(&files) {
                    Ok(config) => {
                        *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
                        tracing::info!(tls = what, "TLS files changed: new connections use them");
                    }
                    Err(err) => {
                        tracing::warn!(tls = what, %err, "changed TLS files do not load; the previous ones stay in use");
                    }
                }
                last = files;
            }
        });
        Ok(Self { current })
    }

    /// The config in force now.
    pub fn current(&self) -> Arc<C> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
