//! One connection to a server and its read buffer.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The read buffer's size at first: the longest response head, and the most
/// of a body read at once until it grows. 64 connections take 4 MiB.
pub(super) const BUFFER: usize = 64 << 10;

/// The read buffer's size once a body turns out large ([`Conn::grow`]).
/// Measured with benches/fetch-vs-peers.sh (medians of 3 runs): 5 bodies of
/// 100 MiB took 0.56 s with 64 KiB reads, 0.33 s with 256 KiB, 0.30 s with
/// 1 MiB; 200 bodies of 1 MiB took the same time with each, and 256 KiB
/// buffers for all 64 connections raised the peak RSS from 15 to 22 MiB.
pub(super) const LARGE_BUFFER: usize = 256 << 10;

pub(super) struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    /// `buf[start..end]` has arrived and is not consumed yet.
    start: usize,
    end: usize,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    pub async fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request).await
    }

    /// What has arrived and is not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks the first `n` buffered bytes as used, and hands them out; they
    /// stay readable until the next [`fill`](Self::fill).
    pub fn consume(&mut self, n: usize) -> &[u8] {
        let (from, to) = (self.start, self.start + n);
        debug_assert!(to <= self.end);
        self.start = to;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        &self.buf[from..to]
    }

    /// Whether nothing has arrived on this idle connection: neither bytes
    /// that no request asked for, nor its close. Costs no system call when
    /// the last read drained the socket (tokio then knows it is not readable).
    pub fn quiet(&mut self) -> bool {
        let spare = &mut self.buf[self.end..];
        matches!(self.stream.try_read(spare), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads in pieces of [`LARGE_BUFFER`] from now on; it stays so in the
    /// pool, for the next large body from the same server.
    pub fn grow(&mut self) {
        if self.buf.len() < LARGE_BUFFER {
            let mut larger = vec![0; LARGE_BUFFER].into_boxed_slice();
            larger[..self.end - self.start].copy_from_slice(self.buffered());
            (self.end, self.start) = (self.end - self.start, 0);
            self.buf = larger;
        }
    }

    /// Reads more after what is buffered; `Ok(0)` is the end of the stream.
    /// Fails when the buffer is full of bytes not consumed.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "buffer full"));
            }
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn growing_keeps_what_is_buffered_and_reads_larger_pieces() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut server = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut conn = Conn::new(listener.accept().await.unwrap().0);
        server.write_all(b"abcdef").await.unwrap();
        while conn.buffered().len() < 6 {
            conn.fill().await.unwrap();
        }
        assert_eq!(conn.consume(2), b"ab");
        conn.grow();
        assert_eq!(conn.buffered(), b"cdef");
        let more = vec![7u8; BUFFER * 2];
        server.write_all(&more).await.unwrap();
        while conn.buffered().len() < 4 + more.len() {
            conn.fill().await.unwrap();
        }
        assert_eq!(&conn.buffered()[..4], b"cdef");
        assert!(conn.buffered()[4..] == more[..]);
    }
}
