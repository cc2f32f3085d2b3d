//! Binding listeners, and turning OS errors into sentences that name the address.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, UdpSocket};

/// A socket could not be bound. Displays as `cannot listen on ADDR: CAUSE`.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {}", describe_io_error(.cause))]
pub struct BindError {
    pub addr: SocketAddr,

    pub cause: io::Error,
}

/// Binds a TCP listener with `SO_REUSEADDR` (so a restart does not wait for
/// TIME_WAIT) and an explicit accept backlog, so that a burst of thousands of
/// connections is queued by the kernel rather than answered with SYN retries.
/// `TCP_NODELAY` is set on the listener: accepted sockets inherit it, which saves
/// a system call per connection.
pub async fn bind_tcp(addr: SocketAddr, backlog: u32) -> Result<TcpListener, BindError> {
    let wrap = |cause| BindError { addr, cause };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(wrap)?;
    socket.set_reuseaddr(true).map_err(wrap)?;
    socket.set_nodelay(true).map_err(wrap)?;
    socket.bind(addr).map_err(wrap)?;
    socket.listen(backlog).map_err(wrap)
}

/// Binds a UDP socket.
pub async fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, BindError> {
    UdpSocket::bind(addr)
        .await
        .map_err(|cause| BindError { addr, cause })
}

/// The cause of an I/O error as a short lowercase sentence, without the
/// `(os error N)` suffix that std appends: `address already in use`.
pub fn describe_io_error(err: &io::Error) -> String {
    use io::ErrorKind::*;
    let known = match err.kind() {
        AddrInUse => "address already in use",
        AddrNotAvailable => "address not available on this machine",
        PermissionDenied => "permission denied",
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        TimedOut => "timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        UnexpectedEof => "connection closed early",
        BrokenPipe => "connection closed by peer",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_kinds_read_as_sentences() {
        let err = io::Error::from(io::ErrorKind::AddrInUse);
        assert_eq!(describe_io_error(&err), "address already in use");
    }

    #[test]
    fn os_error_suffix_is_dropped() {
        let err = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(describe_io_error(&err), "too many open files");
    }
}
