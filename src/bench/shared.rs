//! What every load generator shares: live progress counters, errors counted by
//! kind (a map, so memory stays bounded in an error storm), and connecting.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;

/// A live view of progress for a display: operations done so far. Each worker
/// counts on its own counter; readers add them up.
#[derive(Default)]
pub struct Progress {
    per_worker: Mutex<Vec<Arc<AtomicU64>>>,
}

impl Progress {
    /// Operations (round trips, connections, deliveries) done so far.
    pub fn count(&self) -> u64 {
        let counters = self.per_worker.lock().unwrap_or_else(|e| e.into_inner());
        counters.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Starts following the workers' counters.
    pub(crate) fn follow(&self, counters: &[Arc<AtomicU64>]) {
        *self.per_worker.lock().unwrap_or_else(|e| e.into_inner()) = counters.to_vec();
    }
}

/// Errors by kind, e.g. `connection refused: 3`.
pub type ErrorCounts = BTreeMap<String, u64>;

pub(crate) fn merge_errors(into: &mut ErrorCounts, from: ErrorCounts) {
    for (kind, n) in from {
        *into.entry(kind).or_default() += n;
    }
}

/// `none`, or `kind: n, kind: n` for the text reports.
pub fn describe_errors(errors: &ErrorCounts) -> String {
    if errors.is_empty() {
        return "none".to_string();
    }
    let list: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    list.join(", ")
}

/// Rounded to 2 decimals, for reports.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub(crate) async fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Source addresses that connections rotate through against an IPv4 loopback target.
const LOOPBACK_SOURCES: u32 = 64;

/// Connects from one of 127.0.0.1-64 (by `turn`) when the target is IPv4
/// loopback, otherwise as `connect` does. Each source address has its own port
/// space: churn leaves tens of thousands of TIME_WAIT entries, and with one source
/// the kernel's search for a free port becomes the load generator's main cost;
/// many held clients look like many hosts, not one, to a server's per-address
/// limits. `IP_BIND_ADDRESS_NO_PORT` leaves the port choice to connect().
pub(crate) async fn connect_from(target: SocketAddr, turn: u32) -> io::Result<TcpStream> {
    let SocketAddr::V4(v4) = target else {
        return connect(target).await;
    };
    if !v4.ip().is_loopback() {
        return connect(target).await;
    }
    let socket = tokio::net::TcpSocket::new_v4()?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `one` for the size given, and the fd is open.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    let source = Ipv4Addr::from(u32::from(Ipv4Addr::LOCALHOST) + turn % LOOPBACK_SOURCES);
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.set_nodelay(true)?;
    socket.connect(target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_merge_and_read_as_a_list() {
        let mut total = ErrorCounts::new();
        assert_eq!(describe_errors(&total), "none");
        merge_errors(&mut total, [("timed out".to_string(), 2)].into());
        merge_errors(
            &mut total,
            [
                ("timed out".to_string(), 1),
                ("connection refused".to_string(), 4),
            ]
            .into(),
        );
        assert_eq!(
            describe_errors(&total),
            "connection refused: 4, timed out: 3"
        );
    }

    #[test]
    fn progress_adds_the_workers_counters() {
        let progress = Progress::default();
        let counters = vec![Arc::new(AtomicU64::new(2)), Arc::new(AtomicU64::new(5))];
        progress.follow(&counters);
        counters[0].fetch_add(1, Relaxed);
        assert_eq!(progress.count(), 8);
    }
}
