//! Accepting TCP connections under a connection limit, without ever giving up on
//! the listener.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// The first pause after an accept that failed for lack of resources.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// One accepted connection. `permit` is None when the limit was reached: the
/// caller turns the connection away (closing it at once), counting it.
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub permit: Option<OwnedSemaphorePermit>,
}

pub struct Acceptor {
    listener: TcpListener,
    limit: Arc<Semaphore>,
    backoff: Duration,
}

impl Acceptor {
    /// Accepts on `listener`; a connection holds one permit of `limit` while it
    /// lives (drop the permit when the connection ends).
    pub fn new(listener: TcpListener, limit: Arc<Semaphore>) -> Self {
        Self {
            listener,
            limit,
            backoff: FIRST_BACKOFF,
        }
    }

    /// The next connection, or None once `stop` is cancelled. An error that
    /// concerns one connection is skipped; running out of file descriptors or
    /// memory is retried with a growing pause, so connections can close meanwhile
    /// instead of the loop spinning or the listener dying.
    pub async fn next(&mut self, stop: &CancellationToken) -> Option<Accepted> {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return None,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    self.backoff = FIRST_BACKOFF;
                    let permit = self.limit.clone().try_acquire_owned().ok();
                    return Some(Accepted {
                        stream,
                        peer,
                        permit,
                    });
                }
                Err(err) if is_per_connection(&err) => continue,
                Err(err) => {
                    tracing::warn!(
                        "accept failed: {}; retrying in {:?}",
                        super::describe_io_error(&err),
                        self.backoff
                    );
                    tokio::select! {
                        _ = stop.cancelled() => return None,
                        _ = tokio::time::sleep(self.backoff) => {}
                    }
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Errors of accept that concern one connection, not the listener.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    )
}
