//! The TCP transport: turns a socket into the lines a [`Session`] reads and
//! writes.
//!
//! The read half is framed by [`IrcCodec`] into bounded lines; the write half
//! belongs to the [`Writer`](super::outbound::Writer) of the session's outbound
//! queue, on a task of its own so that a slow peer never holds up the session
//! (or, through fan-out, anyone else). A TLS transport would do the same over a
//! TLS stream; a WebSocket one would build frames with `Frame::from_line` and
//! drain the queue into one message per line.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_util::codec::FramedRead;
use tracing::Instrument;

use super::irc::IrcCodec;
use super::outbound::Outbound;
use super::server::Context;
use super::session::Session;

/// Serves one IRC client over TCP until it leaves and its last lines are out.
pub(crate) async fn serve_tcp(stream: TcpStream, peer: SocketAddr, ctx: Arc<Context>) {
    let span = tracing::debug_span!("irc", %peer);
    async move {
        let (read, write) = stream.into_split();
        let (out, writer) = Outbound::new(ctx.config.sendq, ctx.config.grace);
        let writing = tokio::spawn(writer.run(write));
        let frames = FramedRead::new(read, IrcCodec::new());
        Session::new(ctx, out, peer.ip()).run(frames).await;
        match writing.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!("write failed: {}", crate::net::describe_io_error(&err))
            }
            Err(err) => tracing::warn!("writer task failed: {err}"),
        }
    }
    .instrument(span)
    .await
}
