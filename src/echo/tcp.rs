//! Echo over TCP.
//!
//! An idle connection holds no read buffer: a connection waits for readiness, reads
//! into a buffer that belongs to the worker thread, and writes the bytes straight
//! back. Only the bytes a full socket did not take are copied into a buffer of the
//! connection's own, and the connection reads nothing more until they are gone, so a
//! client that stops reading is pushed back on (the kernel window closes) and costs at
//! most one read's worth of memory.

use std::io::{self, ErrorKind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFuture;
use tokio_util::task::TaskTracker;

use super::server::Shared;
use crate::net::{Accepted, Acceptor};

/// Reads per wake-up before yielding to other connections.
const READS_PER_WAKE: usize = 16;
/// Once shutdown starts, a connection that has been quiet this long is closed.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    limit: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    let mut acceptor = Acceptor::new(listener, limit);
    while let Some(Accepted {
        stream,
        peer,
        permit,
    }) = acceptor.next(&shared.draining).await
    {
        let Some(permit) = permit else {
            // Over the limit: close at once (the drop) so the others are not disturbed.
            shared.stats.rejected.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "connection limit reached, closing");
            continue;
        };
        shared.stats.connections.fetch_add(1, Relaxed);
        let shared = shared.clone();
        tracker.spawn(async move {
            let mut conn = Connection::new(stream, &shared);
            let end = conn.run().await;
            shared.stats.tcp_bytes.fetch_add(conn.echoed, Relaxed);
            match end {
                Ok(End::Idle) => {
                    shared.stats.idle_closed.fetch_add(1, Relaxed);
                }
                Ok(End::Cut) => {
                    shared.stats.cut_at_shutdown.fetch_add(1, Relaxed);
                }
                Ok(End::Closed) => {}
                Err(err) => tracing::debug!(%peer, "connection ended: {}", crate::net::describe_io_error(&err)),
            }
            drop(permit);
        });
    }
}

enum End {
    /// The peer closed (or half-closed) and everything it sent was echoed.
    Closed,
    Idle,
    Cut,
}

/// What happened while waiting for the socket.
enum Wake {
    Ready,
    Quiet,
    Cut,
}

struct Connection<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    /// Bytes read but not yet written back, because the socket was full.
    pending: Vec<u8>,
    echoed: u64,
    last_activity: Instant,
    idle_limit: Duration,
    /// The peer half-closed: once `pending` is written, close our side too.
    peer_done: bool,
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, shared: &'a Shared) -> Self {
        // No set_nodelay here: listeners from `net::bind_tcp` have TCP_NODELAY,
        // and accepted sockets inherit it.
        Self {
            stream,
            shared,
            pending: Vec::new(),
            echoed: 0,
            last_activity: Instant::now(),
            idle_limit: shared.config.idle_timeout,
            peer_done: false,
        }
    }

    async fn run(&mut self) -> io::Result<End> {
        let mut alarms = Alarms {
            // Created once and only re-armed when it fires early, so traffic
            // costs no timer updates.
            idle: pin!(tokio::time::sleep(self.idle_limit)),
            draining: pin!(self.shared.draining.cancelled()),
            cut: pin!(self.shared.cut.cancelled()),
        };
        loop {
            let interest = if self.pending.is_empty() {
                if self.peer_done {
                    // Everything is echoed; dropping the socket sends our FIN.
                    return Ok(End::Closed);
                }
                Interest::Read
            } else {
                Interest::Write
            };
            match self.wait(interest, &mut alarms).await? {
                Wake::Ready => {}
                Wake::Quiet => return Ok(self.quiet_end()),
                Wake::Cut => return Ok(End::Cut),
            }
            match interest {
                Interest::Write => self.flush_pending()?,
                Interest::Read => self.echo_available()?,
            }
        }
    }

    /// Echoes what the socket holds, up to READS_PER_WAKE reads, stopping early
    /// when the socket is empty or full.
    fn echo_available(&mut self) -> io::Result<()> {
        for _ in 0..READS_PER_WAKE {
            match self.echo_once()? {
                Step::Echoed if self.pending.is_empty() => {}
                Step::Echoed | Step::Drained | Step::WouldBlock => break,
                Step::Eof => {
                    self.peer_done = true;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Waits until the socket is ready for `interest`, the connection has been
    /// quiet too long, or the server cuts it.
    async fn wait(&mut self, interest: Interest, alarms: &mut Alarms<'_, '_>) -> io::Result<Wake> {
        loop {
            tokio::select! {
                biased;
                ready = async {
                    match interest {
                        Interest::Read => self.stream.readable().await,
                        Interest::Write => self.stream.writable().await,
                    }
                } => {
                    ready?;
                    return Ok(Wake::Ready);
                }
                _ = alarms.idle.as_mut() => {
                    let deadline = self.last_activity + self.idle_limit;
                    if Instant::now() >= deadline {
                        return Ok(Wake::Quiet);
                    }
                    alarms.idle.as_mut().reset(deadline);
                }
                _ = alarms.draining.as_mut(), if self.idle_limit > DRAIN_QUIET => {
                    // Shutdown: from now on a short quiet spell ends the connection.
                    self.idle_limit = DRAIN_QUIET;
                    alarms.idle.as_mut().reset(self.last_activity + DRAIN_QUIET);
                }
                _ = alarms.cut.as_mut() => return Ok(Wake::Cut),
            }
        }
    }

    fn quiet_end(&self) -> End {
        if self.shared.draining.is_cancelled() {
            End::Closed
        } else {
            End::Idle
        }
    }

    /// One read into the thread's buffer, written straight back.
    fn echo_once(&mut self) -> io::Result<Step> {
        crate::net::with_read_buffer(|buf| {
            let n = match crate::net::read_draining(&self.stream, buf) {
                Ok(0) => return Ok(Step::Eof),
                Ok(n) => n,
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(Step::WouldBlock),
                Err(err) => return Err(err),
            };
            self.last_activity = Instant::now();
            self.echoed += n as u64;
            let mut written = 0;
            while written < n {
                match self.stream.try_write(&buf[written..n]) {
                    Ok(k) => written += k,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => return Err(err),
                }
            }
            self.pending.extend_from_slice(&buf[written..n]);
            Ok(if n < buf.len() {
                Step::Drained
            } else {
                Step::Echoed
            })
        })
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        match self.stream.try_write(&self.pending) {
            Ok(k) => {
                self.last_activity = Instant::now();
                self.pending.drain(..k);
                if self.pending.is_empty() {
                    // Give the memory back: an idle connection holds no buffer.
                    self.pending = Vec::new();
                }
                Ok(())
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// What a connection waits for besides its socket, created once per connection so
/// that waiting again costs no new registration.
struct Alarms<'p, 's> {
    idle: Pin<&'p mut Sleep>,
    draining: Pin<&'p mut WaitForCancellationFuture<'s>>,
    cut: Pin<&'p mut WaitForCancellationFuture<'s>>,
}

#[derive(Clone, Copy)]
enum Interest {
    Read,
    Write,
}

enum Step {
    /// Echoed a full buffer: more may be queued.
    Echoed,
    /// Echoed, and the socket's queue is empty.
    Drained,
    WouldBlock,
    Eof,
}
