//! The shutdown signal shared by all servers.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

/// Installs handlers for SIGINT and SIGTERM at once, and returns a future that
/// completes on the first of them. Call it before announcing readiness: a signal
/// that arrives between the ready line and the handlers would otherwise kill the
/// process instead of shutting it down gracefully. Must be called inside a tokio
/// runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            // Without handlers the default action (exit) still applies.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}
