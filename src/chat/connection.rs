//! The byte-stream transports, TCP and TLS: turn a connection into the lines a
//! [`Session`] reads and writes.
//!
//! Both are one generic path over the stream type: the read side is framed by a
//! [`LineReader`] (no read buffer while the client is idle), the write side
//! belongs to the [`Writer`](super::outbound::Writer) of the session's outbound
//! queue, on a task of its own so that a slow peer never holds up the session
//! (or, through fan-out, anyone else). TLS only adds the handshake in front, in
//! the connection's task and under a deadline. A WebSocket transport would build
//! frames with `Frame::from_line` and drain the queue into one message per line.
//!
//! A task holds its whole future for as long as the client stays, so the
//! futures are built to stay small: the plain path is assembled before the task
//! starts and chained with combinators (its future is the session's and little
//! else), and the TLS handshake is never part of a plain client's task.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::Instrument;

use super::lines::LineReader;
use super::metrics::Transport;
use super::outbound::Outbound;
use super::server::Context;
use super::session::Session;
use crate::net::TlsAcceptor;

/// Serves one IRC client over TCP until it leaves and its last lines are out.
/// Starts the writer task at once; the session runs when the future is polled.
pub(crate) fn serve_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
) -> impl Future<Output = ()> + Send {
    let span = tracing::debug_span!("irc", %peer);
    let (read, write) = stream.into_split();
    serve(read, write, peer, ctx, Transport::Tcp).instrument(span)
}

/// Serves one IRC client over TLS: the handshake first, bounded by
/// [`net::HANDSHAKE_TIMEOUT`](crate::net::HANDSHAKE_TIMEOUT) (or the
/// registration timeout when shorter) and cut short by shutdown, then the same
/// session as over TCP.
pub(crate) async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    tls: TlsAcceptor,
) {
    let span = tracing::debug_span!("ircs", %peer);
    async move {
        let limit = crate::net::HANDSHAKE_TIMEOUT.min(ctx.config.registration_timeout);
        let stream = tokio::select! {
            stream = tls.accept(stream, limit) => stream,
            // Nothing can be said to a client without TLS yet: just close.
            _ = ctx.draining.cancelled() => return,
        };
        match stream {
            Ok(stream) => {
                let (read, write) = tokio::io::split(stream);
                serve(read, write, peer, ctx, Transport::Tls).await
            }
            Err(err) => tracing::debug!(
                "TLS handshake failed: {}",
                crate::net::describe_io_error(&err)
            ),
        }
    }
    .instrument(span)
    .await
}

/// Starts the writer task, and returns the session followed by waiting for the
/// writer. Not an `async fn`: its arguments would then be kept in the future
/// next to the session built from them.
fn serve<R, W>(
    read: R,
    write: W,
    peer: SocketAddr,
    ctx: Arc<Context>,
    transport: Transport,
) -> impl Future<Output = ()> + Send
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, writer) = Outbound::new(ctx.config.sendq, ctx.config.grace);
    let writing = tokio::spawn(writer.run(write));
    ctx.metrics.connected(transport);
    let metrics = ctx.metrics.clone();
    let session = Session::new(ctx, out, peer.ip()).run(LineReader::new(read));
    // `then`, not `async move { session.await; ... }`: an async block keeps the
    // future it captured and, separately, the one it awaits, so the session's
    // state would be there twice.
    session.then(move |why| async move {
        metrics.disconnected(transport, why);
        match writing.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!("write failed: {}", crate::net::describe_io_error(&err))
            }
            Err(err) => tracing::warn!("writer task failed: {err}"),
        }
    })
}
