//! Echo over UDP: every datagram goes back to its sender unchanged.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::net::UdpSocket;

use super::server::Shared;

pub(crate) async fn echo_datagrams(socket: UdpSocket, shared: Arc<Shared>) {
    // One buffer per socket, large enough for any datagram.
    let mut buf = vec![0u8; 65_536];
    loop {
        let received = tokio::select! {
            _ = shared.draining.cancelled() => return,
            received = socket.recv_from(&mut buf) => received,
        };
        let (n, peer) = match received {
            Ok(got) => got,
            // ICMP errors for earlier replies surface here; they concern one peer.
            Err(err) => {
                tracing::debug!("udp receive: {}", crate::net::describe_io_error(&err));
                continue;
            }
        };
        match socket.send_to(&buf[..n], peer).await {
            Ok(_) => {
                shared.stats.datagrams.fetch_add(1, Relaxed);
                shared.stats.udp_bytes.fetch_add(n as u64, Relaxed);
            }
            Err(err) => tracing::debug!(%peer, "udp send: {}", crate::net::describe_io_error(&err)),
        }
    }
}
