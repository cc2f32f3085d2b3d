//! One client's outbound queue and the writer that drains it.
//!
//! Fan-out serializes a line once into [`Bytes`] and pushes a clone (a reference
//! count, no copy) into the queue of every receiver. Each queue has exactly one
//! [`Writer`], which takes everything queued at once and hands it to the socket in
//! one write, so under load many lines leave in one system call.
//!
//! The policy at the bound: the queue counts bytes, from the moment a line is
//! pushed until the writer has written it. A push that would take it past the
//! limit (`--sendq`) does not wait and does not drop the line quietly: the queue
//! is discarded, the receiver is told `ERROR :SendQ exceeded`, and it is
//! disconnected. A sender therefore never waits on a slow receiver, and a client
//! that stops reading costs at most the limit in memory.
//!
//! Closing (a QUIT, shutdown, an overflow) gives the writer a final line and a
//! deadline ([`Writer`]'s linger): it writes what is still queued (nothing, after
//! an overflow), then the final line, then closes its side. A peer that does not
//! read by the deadline is simply dropped.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The most bytes gathered for one write: a copy per receiver, so a small
/// bound (a writer waiting on a slow peer holds its copy).
const COALESCE_MAX: usize = 16 << 10;
/// Lines a drained batch vector may keep room for (32 bytes each) once the
/// client is idle. Small, because the two vectors stay with every idle client
/// (the welcome burst alone grows one to 16 lines, 512 bytes); while lines keep
/// coming the vectors keep their room.
const IDLE_CAPACITY: usize = 8;

/// A push went over the limit: the receiver is being disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendQExceeded;

/// The sending side of one client's queue. Clones share the queue.
#[derive(Clone)]
pub(crate) struct Outbound {
    shared: Arc<Shared>,
}

struct Shared {
    /// Bytes queued or being written, at most.
    limit: usize,
    queue: Mutex<Queue>,
    /// Wakes the writer after a push; a stored permit covers a push that lands
    /// before the writer waits.
    wake: Notify,
    /// Cancelled once closing starts, for whatever reason.
    closing: CancellationToken,
}

#[derive(Default)]
struct Queue {
    lines: Vec<Bytes>,
    /// Bytes in `lines` plus those the writer took and has not finished writing.
    bytes: usize,
    /// Set when closing starts: the last line the writer sends.
    last: Option<Bytes>,
    /// Closing started because the queue overflowed.
    overflowed: bool,
    /// Closing started with [`Outbound::close`].
    closed: bool,
    /// Closing started, for whatever reason: the token's state, kept where
    /// `push` finds it under the lock it takes anyway (asking the token takes
    /// a lock of its own, on every delivery).
    closing: bool,
}

impl Outbound {
    /// A queue of at most `limit` bytes, and its writer, which waits at most
    /// `linger` for a peer to take the last lines once closing starts.
    pub(crate) fn new(limit: usize, linger: Duration) -> (Outbound, Writer) {
        let shared = Arc::new(Shared {
            limit,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            closing: CancellationToken::new(),
        });
        let writer = Writer {
            shared: shared.clone(),
            linger,
        };
        (Outbound { shared }, writer)
    }

    /// Queues one line (with its CR LF). Never waits. A line pushed after closing
    /// started is dropped: the client is leaving and nothing more is owed to it.
    pub(crate) fn push(&self, line: Bytes) -> Result<(), SendQExceeded> {
        if self.queue(line.len(), |queued| queued.push(line))? {
            self.wake();
        }
        Ok(())
    }

    /// Queues several lines under one lock, like [`push`](Outbound::push), but
    /// leaves waking the writer to the caller: true when it must be woken (with
    /// [`wake`](Outbound::wake)) for them to leave. Past the limit, none of them
    /// is queued.
    pub(crate) fn push_all_unwoken(&self, lines: &[Bytes]) -> Result<bool, SendQExceeded> {
        let bytes = lines.iter().map(Bytes::len).sum();
        self.queue(bytes, |queued| queued.extend_from_slice(lines))
    }

    /// Adds `bytes` of lines with `add`, or overflows; true if the writer
    /// needs waking.
    fn queue(
        &self,
        bytes: usize,
        add: impl FnOnce(&mut Vec<Bytes>),
    ) -> Result<bool, SendQExceeded> {
        let mut queue = self.shared.lock();
        if queue.closing {
            return Ok(false);
        }
        if queue.bytes + bytes > self.shared.limit {
            let dropped: usize = queue.lines.drain(..).map(|line| line.len()).sum();
            queue.bytes -= dropped;
            queue.last = Some(Bytes::from_static(b"ERROR :SendQ exceeded\r\n"));
            queue.overflowed = true;
            self.shared.start_closing(queue);
            return Err(SendQExceeded);
        }
        // Only the push that finds the queue empty wakes the writer: lines
        // behind it are taken with it. Under load that is one wake-up per
        // batch, not one per line.
        let wake = queue.lines.is_empty();
        queue.bytes += bytes;
        add(&mut queue.lines);
        Ok(wake)
    }

    /// Whether `other` is this same queue.
    pub(crate) fn same_queue(&self, other: &Outbound) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Wakes the writer for lines queued with [`push_all_unwoken`](Outbound::push_all_unwoken).
    pub(crate) fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Starts closing: what is queued is still written, then `last`. Only the
    /// first close (or overflow) decides the last line.
    pub(crate) fn close(&self, last: Bytes) {
        let mut queue = self.shared.lock();
        if queue.closing {
            return;
        }
        queue.last = Some(last);
        queue.closed = true;
        self.shared.start_closing(queue);
    }

    /// Completes once closing has started: after an overflow, or when the writer
    /// failed (the peer is gone).
    pub(crate) fn closing(&self) -> WaitForCancellationFuture<'_> {
        self.shared.closing.cancelled()
    }

    /// Whether closing started because the queue overflowed.
    pub(crate) fn overflowed(&self) -> bool {
        self.shared.lock().overflowed
    }

    /// Whether closing started with [`close`](Outbound::close) (rather than
    /// an overflow or a failed write).
    pub(crate) fn was_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl Shared {
    /// Marks the queue closing (under its lock, given), then tells the
    /// session and wakes the writer.
    fn start_closing(&self, mut queue: MutexGuard<'_, Queue>) {
        queue.closing = true;
        drop(queue);
        self.closing.cancel();
        self.wake.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding this lock leaves the queue consistent (every
        // critical section is a few field updates), so poisoning is ignored.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where a [`Writer`] puts lines: a byte stream (TCP, TLS), or a transport with
/// framing of its own (a WebSocket: one message per line).
pub(crate) trait LineSink: Send {
    /// Writes these lines, in order, in as few writes as it can.
    fn write_lines(&mut self, lines: &[Bytes]) -> impl Future<Output = io::Result<()>> + Send;

    /// Writes the last line, if there is one, and closes.
    fn finish(&mut self, last: Option<Bytes>) -> impl Future<Output = io::Result<()>> + Send;

    /// What to do while no line waits (a keepalive); by default nothing, ever.
    fn idle(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::pending()
    }
}

/// A byte stream as a [`LineSink`]: lines go out as they are, CR LF included.
struct ByteSink<W>(W);

impl<W: AsyncWrite + Unpin + Send> LineSink for ByteSink<W> {
    async fn write_lines(&mut self, lines: &[Bytes]) -> io::Result<()> {
        write_lines(&mut self.0, lines).await
    }

    async fn finish(&mut self, last: Option<Bytes>) -> io::Result<()> {
        if let Some(line) = last {
            self.0.write_all(&line).await?;
        }
        self.0.shutdown().await
    }
}

/// Drains one queue into a [`LineSink`].
pub(crate) struct Writer {
    shared: Arc<Shared>,
    linger: Duration,
}

impl Writer {
    /// Writes until the queue closes and the last line is out, the deadline after
    /// closing passes, or the stream fails. A failure closes the queue, so the
    /// session learns that its peer is gone and nothing piles up unwritten.
    pub(crate) async fn run<W: AsyncWrite + Unpin + Send>(self, stream: W) -> io::Result<()> {
        self.drain(ByteSink(stream)).await
    }

    /// [`run`](Writer::run) over any [`LineSink`].
    pub(crate) async fn drain<S: LineSink>(self, sink: S) -> io::Result<()> {
        let result = self.write_all_queued(sink).await;
        if result.is_err() {
            self.shared.start_closing(self.shared.lock());
        }
        result
    }

    async fn write_all_queued<S: LineSink>(&self, mut sink: S) -> io::Result<()> {
        let mut batch = Vec::new();
        let mut deadline = None;
        loop {
            let (closing, last) = {
                let mut queue = self.shared.lock();
                std::mem::swap(&mut batch, &mut queue.lines);
                // The last line goes only after everything queued before it.
                let last = (queue.closing && batch.is_empty()).then(|| queue.last.take());
                (queue.closing, last)
            };
            if deadline.is_none() && closing {
                deadline = Some(Instant::now() + self.linger);
            }
            if let Some(last) = last {
                let at = deadline.unwrap_or_else(|| Instant::now() + self.linger);
                return within(at, sink.finish(last)).await;
            }
            if batch.is_empty() {
                if batch.capacity() > IDLE_CAPACITY {
                    batch = Vec::new();
                }
                tokio::select! {
                    () = self.shared.wake.notified() => {
                        // Let the rest of a fan-out land before taking the
                        // queue: under load, more lines leave in one write.
                        tokio::task::yield_now().await;
                    }
                    idle = sink.idle() => idle?,
                }
                continue;
            }
            // Pinned where it is built: moving it into a pinned copy would keep
            // room for both in this future, which lives as long as the client.
            {
                let mut written = std::pin::pin!(sink.write_lines(&batch));
                match deadline {
                    Some(at) => within(at, written).await?,
                    None => {
                        tokio::select! {
                            done = &mut written => done?,
                            // Closing while the peer is slow: finish this batch
                            // only if it goes within the linger.
                            _ = self.shared.closing.cancelled() => {
                                let at = Instant::now() + self.linger;
                                deadline = Some(at);
                                within(at, written).await?;
                            }
                        }
                    }
                }
            }
            let busy = {
                let mut queue = self.shared.lock();
                queue.bytes -= batch.iter().map(Bytes::len).sum::<usize>();
                !queue.lines.is_empty()
            };
            // Keep the vector for the next batch while lines keep coming (it
            // alternates with the queue's); an idle client gives back what a
            // burst grew.
            batch.clear();
            if !busy && batch.capacity() > IDLE_CAPACITY {
                batch = Vec::new();
            }
        }
    }
}

/// Writes every line, in as few writes as it can. Lines are copied into one
/// buffer of up to [`COALESCE_MAX`] bytes per write rather than handed over as
/// one vector entry each: the kernel's copy of a vectored write pays per entry,
/// and for lines of a few dozen bytes that cost more than the copy here (in
/// `bench chat`, 100 clients x 10 senders, the kernel's copy went from 13% of
/// the server's CPU to 3%).
async fn write_lines<W: AsyncWrite + Unpin>(stream: &mut W, lines: &[Bytes]) -> io::Result<()> {
    if let [line] = lines {
        return stream.write_all(line).await;
    }
    let total: usize = lines.iter().map(Bytes::len).sum();
    let mut buf = Vec::with_capacity(total.min(COALESCE_MAX));
    for line in lines {
        if !buf.is_empty() && buf.len() + line.len() > COALESCE_MAX {
            stream.write_all(&buf).await?;
            buf.clear();
        }
        buf.extend_from_slice(line);
    }
    stream.write_all(&buf).await
}

/// Runs `work` until `deadline`; past it, the peer is too slow to wait for.
/// The timer is boxed: it is needed only while closing, and kept inline it would
/// enlarge the writer's future, which every client holds while it stays.
async fn within<T>(deadline: Instant, work: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    Box::pin(tokio::time::timeout_at(deadline, work))
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    const LINGER: Duration = Duration::from_secs(5);

    /// A stream that keeps what is written and counts the write calls.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        writes: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            self.bytes.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.writes += 1;
            let mut n = 0;
            for buf in bufs {
                self.bytes.extend_from_slice(buf);
                n += buf.len();
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn line(text: &str) -> Bytes {
        Bytes::from(format!("{text}\r\n"))
    }

    #[tokio::test]
    async fn queued_lines_leave_in_one_write_then_the_last_line() {
        let (out, writer) = Outbound::new(1 << 20, LINGER);
        for i in 0..100 {
            out.push(line(&format!("PRIVMSG #c :{i}"))).unwrap();
        }
        out.close(line("ERROR :bye"));
        out.push(line("after close")).unwrap();
        let mut stream = Recorder::default();
        writer.run(&mut stream).await.unwrap();
        let text = String::from_utf8(stream.bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 101);
        assert_eq!(lines[0], "PRIVMSG #c :0");
        assert_eq!(lines[99], "PRIVMSG #c :99");
        assert_eq!(lines[100], "ERROR :bye");
        // One write for the batch, one for the last line.
        assert_eq!(stream.writes, 2);
    }

    #[tokio::test]
    async fn an_overflow_discards_the_queue_and_says_why() {
        let (out, writer) = Outbound::new(100, LINGER);
        out.push(line(&"a".repeat(60))).unwrap();
        assert_eq!(out.push(line(&"b".repeat(60))), Err(SendQExceeded));
        // Closing after an overflow does not replace its reason.
        out.close(line("ERROR :bye"));
        let mut stream = Recorder::default();
        writer.run(&mut stream).await.unwrap();
        assert_eq!(stream.bytes, b"ERROR :SendQ exceeded\r\n");
    }
}
