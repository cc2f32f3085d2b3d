//! The echo server: configuration, the accept loops, limits and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// Connections served at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// A connection with no traffic in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// After shutdown starts, how long connections may still run before they are cut.
    pub grace: Duration,
}

impl Default for EchoConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(300),
            grace: Duration::from_secs(5),
        }
    }
}

/// What a server did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// TCP connections accepted and served.
    pub connections: u64,
    /// TCP connections closed on accept because `max_connections` were open.
    pub rejected: u64,
    /// TCP connections closed by the idle timeout.
    pub idle_closed: u64,
    /// TCP connections still open when the grace period ran out.
    pub cut_at_shutdown: u64,
    /// Bytes echoed over TCP.
    pub tcp_bytes: u64,
    /// UDP datagrams echoed, and their bytes.
    pub datagrams: u64,
    pub udp_bytes: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "served {} connections ({} rejected at the limit, {} idle timeouts, {} cut at shutdown), \
             echoed {} bytes over TCP and {} datagrams ({} bytes) over UDP",
            self.connections,
            self.rejected,
            self.idle_closed,
            self.cut_at_shutdown,
            self.tcp_bytes,
            self.datagrams,
            self.udp_bytes
        )
    }
}

/// Counters shared by all connections. Connections add their byte counts when they
/// end, so the hot path touches no shared cache line.
#[derive(Default)]
pub(crate) struct Stats {
    pub connections: AtomicU64,
    pub rejected: AtomicU64,
    pub idle_closed: AtomicU64,
    pub cut_at_shutdown: AtomicU64,
    pub tcp_bytes: AtomicU64,
    pub datagrams: AtomicU64,
    pub udp_bytes: AtomicU64,
}

impl Stats {
    fn summary(&self) -> Summary {
        Summary {
            connections: self.connections.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            idle_closed: self.idle_closed.load(Relaxed),
            cut_at_shutdown: self.cut_at_shutdown.load(Relaxed),
            tcp_bytes: self.tcp_bytes.load(Relaxed),
            datagrams: self.datagrams.load(Relaxed),
            udp_bytes: self.udp_bytes.load(Relaxed),
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub config: EchoConfig,
    pub stats: Stats,
    /// Cancelled when shutdown starts: connections finish what they have, then close.
    pub draining: CancellationToken,
    /// Cancelled when the grace period runs out: connections close at once.
    pub cut: CancellationToken,
}

/// An echo server over any number of TCP listeners and UDP sockets.
///
/// ```no_run
/// # async fn example() -> anyhow::Result<()> {
/// let listener = netkit::net::bind_tcp("127.0.0.1:0".parse()?, 1024).await?;
/// let server = netkit::echo::EchoServer::new(Default::default());
/// let summary = server.serve(vec![listener], vec![], netkit::net::shutdown_signal()).await;
/// eprintln!("{summary}");
/// # Ok(()) }
/// ```
pub struct EchoServer {
    shared: Arc<Shared>,
}

impl EchoServer {
    pub fn new(config: EchoConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                stats: Stats::default(),
                draining: CancellationToken::new(),
                cut: CancellationToken::new(),
            }),
        }
    }

    /// Serves until `shutdown` completes, then stops accepting, lets open
    /// connections finish for up to the grace period, and returns the summary.
    pub async fn serve(
        self,
        tcp: Vec<TcpListener>,
        udp: Vec<UdpSocket>,
        shutdown: impl Future<Output = ()>,
    ) -> Summary {
        let shared = self.shared;
        let connections = TaskTracker::new();
        let limit = Arc::new(Semaphore::new(shared.config.max_connections));
        let mut loops = tokio::task::JoinSet::new();
        for listener in tcp {
            loops.spawn(super::tcp::accept_loop(
                listener,
                shared.clone(),
                limit.clone(),
                connections.clone(),
            ));
        }
        for socket in udp {
            loops.spawn(super::udp::echo_datagrams(socket, shared.clone()));
        }

        shutdown.await;
        tracing::info!("shutting down: no new connections, draining open ones");
        shared.draining.cancel();
        // Accept loops and UDP sockets end on `draining`; their sockets close with them.
        while loops.join_next().await.is_some() {}
        connections.close();
        if tokio::time::timeout(shared.config.grace, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "grace period of {} over: closing the remaining connections",
                crate::net::format_duration(shared.config.grace)
            );
            shared.cut.cancel();
            connections.wait().await;
        }
        shared.stats.summary()
    }
}
