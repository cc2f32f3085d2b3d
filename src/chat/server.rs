//! The chat server: the accept loops (plain IRC and IRC over TLS), the client
//! limit, and graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cluster::{Cluster, LogId, Logged};
use super::config::ChatConfig;
use super::history::{History, Pipeline};
use super::hub::Hub;
use super::metrics::Metrics;
use super::web::WebConfig;
use crate::net::{Accepted, Acceptor, TlsAcceptor};

/// At shutdown, how long a cluster node waits for its departure to be in the log.
const DEPARTURE_WAIT: Duration = Duration::from_secs(2);

/// What a server did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections closed at once because `max_clients` were open.
    pub rejected: u64,
    /// Connections still open when the grace period ran out.
    pub cut_at_shutdown: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "served {} connections, IRC and HTTP ({} rejected at the limit, {} cut at shutdown)",
            self.connections, self.rejected, self.cut_at_shutdown
        )
    }
}

/// What every connection shares.
pub(crate) struct Context {
    pub config: Arc<ChatConfig>,
    pub hub: Hub,
    /// Cancelled when shutdown starts: sessions say goodbye and close.
    pub draining: CancellationToken,
    pub started: SystemTime,
    pub metrics: Arc<Metrics>,
    /// The HTTP front door's settings.
    pub web: WebConfig,
    /// Every connection's task, and every WebSocket session's: shutdown waits
    /// for them.
    pub tracker: TaskTracker,
}

/// One socket a [`ChatServer`] accepts clients on: IRC or HTTP (the page and
/// IRC over WebSocket), each plain or over TLS. A `TcpListener` converts into
/// a plain IRC one.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    http: bool,
}

impl Listener {
    /// Plain IRC (conventionally port 6667).
    pub fn plain(tcp: TcpListener) -> Listener {
        Listener {
            tcp,
            tls: None,
            http: false,
        }
    }

    /// IRC over TLS (conventionally port 6697): each connection starts with a
    /// TLS handshake, in its own task and under a deadline.
    pub fn tls(tcp: TcpListener, acceptor: TlsAcceptor) -> Listener {
        Listener {
            tcp,
            tls: Some(acceptor),
            http: false,
        }
    }

    /// HTTP: the chat page, IRC over WebSocket, `/healthz` and `/metrics`;
    /// HTTPS with an acceptor.
    pub fn http(tcp: TcpListener, tls: Option<TlsAcceptor>) -> Listener {
        Listener {
            tcp,
            tls,
            http: true,
        }
    }
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Listener {
        Listener::plain(tcp)
    }
}

/// An IRC server over any number of TCP and TLS listeners, sharing one hub:
/// plain and TLS clients meet in the same channels.
///
/// ```no_run
/// # async fn example() -> anyhow::Result<()> {
/// use netkit::chat::{ChatServer, Listener};
/// use netkit::net::{TlsAcceptor, bind_tcp, shutdown_signal};
///
/// let plain = bind_tcp("127.0.0.1:6667".parse()?, 1024).await?;
/// let tls = bind_tcp("127.0.0.1:6697".parse()?, 1024).await?;
/// let acceptor = TlsAcceptor::from_pem_files("chain.pem".as_ref(), "key.pem".as_ref())?;
/// let listeners = vec![Listener::plain(plain), Listener::tls(tls, acceptor)];
/// let server = ChatServer::new(Default::default());
/// let summary = server.serve(listeners, shutdown_signal()).await;
/// eprintln!("{summary}");
/// # Ok(()) }
/// ```
///
/// `serve` also takes plain `TcpListener`s: `server.serve(vec![listener], ...)`.
pub struct ChatServer {
    ctx: Arc<Context>,
    /// In a cluster, this node's place in it and the log entry to read from.
    cluster: Option<(Cluster, LogId)>,
}

impl ChatServer {
    /// A server that keeps no history: channel messages go out at once.
    pub fn new(config: ChatConfig) -> ChatServer {
        ChatServer::with_pipeline(config, None, Arc::default())
    }

    /// A server that commits channel messages to `history` before delivering
    /// them, in batches, on a thread of its own that owns the store. Fails only
    /// if that thread cannot be started.
    pub fn with_history(config: ChatConfig, history: Box<dyn History>) -> io::Result<ChatServer> {
        let metrics = Arc::new(Metrics::default());
        let pipeline = Pipeline::start(history, metrics.clone())?;
        Ok(ChatServer::with_pipeline(config, Some(pipeline), metrics))
    }

    /// A node of a cluster: nicks, channels and history are shared with the
    /// other nodes through Redis (see [`cluster`](super::cluster)), and channel
    /// messages are committed to `history` (the cluster's) before delivery.
    /// Fails if the history thread cannot be started or the cluster's
    /// snapshot is not understood.
    pub fn with_cluster(
        config: ChatConfig,
        mut cluster: Cluster,
        history: Box<dyn History>,
    ) -> io::Result<ChatServer> {
        let metrics = Arc::new(Metrics::default());
        metrics.with_cluster(cluster.metrics());
        let pipeline = Pipeline::start(history, metrics.clone())?;
        let link = cluster.take_link();
        let mut server = ChatServer::with_hub(config, metrics, |config, metrics| {
            Hub::new(config, Some(pipeline), metrics, Some(link))
        });
        let from = match cluster.snapshot() {
            Some(json) => server.ctx.hub.restore(json).map_err(|err| {
                io::Error::other(format!("the cluster's snapshot is not understood: {err}"))
            })?,
            None => LogId::default(),
        };
        server.cluster = Some((cluster, from));
        Ok(server)
    }

    /// Sets the HTTP front door's settings (before [`serve`](ChatServer::serve)).
    pub fn with_web(mut self, web: WebConfig) -> ChatServer {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            ctx.web = web;
        }
        self
    }

    fn with_pipeline(
        config: ChatConfig,
        pipeline: Option<Pipeline>,
        metrics: Arc<Metrics>,
    ) -> ChatServer {
        ChatServer::with_hub(config, metrics, |config, metrics| {
            Hub::new(config, pipeline, metrics, None)
        })
    }

    fn with_hub(
        config: ChatConfig,
        metrics: Arc<Metrics>,
        hub: impl FnOnce(Arc<ChatConfig>, Arc<Metrics>) -> Hub,
    ) -> ChatServer {
        let config = Arc::new(config);
        ChatServer {
            cluster: None,
            ctx: Arc::new(Context {
                hub: hub(config.clone(), metrics.clone()),
                config,
                draining: CancellationToken::new(),
                started: SystemTime::now(),
                metrics,
                web: WebConfig::default(),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// Serves until `shutdown` completes; then stops accepting, sends every client
    /// `ERROR :Server shutting down`, waits up to the grace period for the lines to
    /// leave, commits and closes the history, and returns the summary.
    pub async fn serve<L: Into<Listener>>(
        self,
        listeners: impl IntoIterator<Item = L>,
        shutdown: impl Future<Output = ()>,
    ) -> Summary {
        let ctx = self.ctx;
        // Dropped at the end, which stops them.
        let cluster = self
            .cluster
            .map(|(cluster, from)| cluster.run(ctx.clone(), from));
        let stats = Arc::new(Stats::default());
        let connections = ctx.tracker.clone();
        let limit = Arc::new(Semaphore::new(ctx.config.max_clients));
        let mut loops = tokio::task::JoinSet::new();
        for listener in listeners {
            loops.spawn(accept_loop(
                listener.into(),
                ctx.clone(),
                stats.clone(),
                limit.clone(),
                connections.clone(),
            ));
        }

        shutdown.await;
        tracing::info!("shutting down: no new connections, closing the open ones");
        ctx.draining.cancel();
        // In a cluster, the other nodes drop this node's clients now, not once
        // its heartbeat expires.
        let departed = cluster.as_ref().and_then(|_| {
            ctx.hub.publish_awaited(&Logged::NodeGone {
                node: ctx.hub.node(),
                reason: "Server shutting down".to_string(),
            })
        });
        while loops.join_next().await.is_some() {}
        connections.close();
        // Each writer gives up on its peer after the grace period on its own; the
        // margin covers the scheduling of thousands of them.
        let wait = ctx.config.grace + Duration::from_secs(1);
        if tokio::time::timeout(wait, connections.wait())
            .await
            .is_err()
        {
            stats
                .cut_at_shutdown
                .store(connections.len() as u64, Relaxed);
            tracing::warn!(
                "{} connections still open after the grace period",
                connections.len()
            );
        }
        ctx.hub.close_history().await;
        if let Some(departed) = departed {
            // Stopping the cluster's tasks before the entry is written would
            // leave the others to give this node up, later and as a split.
            // Bounded: Redis may have gone away meanwhile.
            let _ = tokio::time::timeout(DEPARTURE_WAIT, departed).await;
        }
        drop(cluster);
        stats.summary()
    }
}

#[derive(Default)]
struct Stats {
    connections: AtomicU64,
    rejected: AtomicU64,
    cut_at_shutdown: AtomicU64,
}

impl Stats {
    fn summary(&self) -> Summary {
        Summary {
            connections: self.connections.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            cut_at_shutdown: self.cut_at_shutdown.load(Relaxed),
        }
    }
}

async fn accept_loop(
    listener: Listener,
    ctx: Arc<Context>,
    stats: Arc<Stats>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    let mut acceptor = Acceptor::new(listener.tcp, limit);
    while let Some(Accepted {
        stream,
        peer,
        permit,
    }) = acceptor.next(&ctx.draining).await
    {
        let Some(permit) = permit else {
            // Over the limit: one line, without waiting (a fresh socket's buffer
            // takes it), then close, so the others are not disturbed.
            stats.rejected.fetch_add(1, Relaxed);
            if listener.tls.is_none() && !listener.http {
                // (A TLS client could not read it before a handshake.)
                let _ = stream.try_write(b"ERROR :Server is full\r\n");
            }
            tracing::debug!(%peer, "client limit reached, closing");
            continue;
        };
        stats.connections.fetch_add(1, Relaxed);
        let ctx = ctx.clone();
        // Two spawns rather than one `match` inside the task: a task holds its
        // whole future, and the TLS handshake's state would make every plain
        // client's task kilobytes larger.
        if listener.http {
            let tls = listener.tls.clone();
            tracker.spawn(super::web::serve_http(stream, peer, ctx, tls, permit));
            continue;
        }
        match listener.tls.clone() {
            None => {
                // `map`, not an async block, which would hold the client twice.
                let client = super::connection::serve_tcp(stream, peer, ctx);
                tracker.spawn(client.map(move |()| drop(permit)))
            }
            Some(tls) => tracker.spawn(async move {
                super::connection::serve_tls(stream, peer, ctx, tls).await;
                drop(permit);
            }),
        };
    }
}
