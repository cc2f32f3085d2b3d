//! Response bodies: where each one ends (a length, chunks, or the connection's
//! close), read through the connection's buffer, and the connection handed
//! back to the pool once a body has ended cleanly.

use std::sync::Arc;

use super::Pool;
use super::conn::Conn;
use crate::fetch::outcome::{ErrorKind, Failure};
use crate::net::describe_io_error;

/// The longest chunk-size line, extensions included.
const MAX_SIZE_LINE: usize = 4 << 10;
/// The most trailer bytes after the last chunk.
const MAX_TRAILERS: usize = 16 << 10;
/// A body this long so far is a large one: its connection's buffer grows.
const LARGE_BODY: u64 = 4 << 20;

/// How the end of a body is known, and how far it has been read.
#[derive(Debug, Clone, Copy)]
pub(super) enum Framing {
    /// This many bytes are still to come; `Length(0)` is a body that ended.
    Length(u64),
    Chunked(Chunk),
    /// The body runs to the end of the connection.
    Close,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// This many bytes of the current chunk are still to come.
    Data(u64),
    /// Before the line end that follows a chunk's data.
    DataEnd,
    /// After the last chunk, this many trailer bytes read so far.
    Trailers(usize),
}

/// Bytes that have arrived and are not consumed yet: a connection's buffer.
pub(super) trait Arrived {
    fn buffered(&self) -> &[u8];
    fn consume(&mut self, n: usize) -> &[u8];
}

impl Arrived for Conn {
    fn buffered(&self) -> &[u8] {
        Conn::buffered(self)
    }

    fn consume(&mut self, n: usize) -> &[u8] {
        Conn::consume(self, n)
    }
}

/// Where reading the buffer got to.
enum Step {
    /// The next `n` buffered bytes are body data.
    Data(usize),
    /// More must arrive first.
    More,
    End,
}

impl Framing {
    pub fn chunked() -> Self {
        Self::Chunked(Chunk::Size)
    }

    /// Moves past the framing at the front of the buffer (consuming it) up to
    /// the next body data, the body's end, or the buffer's end.
    fn step(&mut self, conn: &mut impl Arrived) -> Result<Step, String> {
        loop {
            let buffered = conn.buffered();
            let chunk = match self {
                Self::Length(0) => return Ok(Step::End),
                Self::Length(_) | Self::Close if buffered.is_empty() => return Ok(Step::More),
                Self::Close => return Ok(Step::Data(buffered.len())),
                Self::Length(rest) => {
                    let n = (*rest).min(buffered.len() as u64);
                    *rest -= n;
                    return Ok(Step::Data(n as usize));
                }
                Self::Chunked(chunk) => chunk,
            };
            match *chunk {
                Chunk::Size => {
                    let Some(line) = line_len(buffered, MAX_SIZE_LINE, "chunk size line")? else {
                        return Ok(Step::More);
                    };
                    let size = parse_chunk_size(&buffered[..line])?;
                    conn.consume(line + 1);
                    *chunk = if size == 0 {
                        Chunk::Trailers(0)
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(0) => *chunk = Chunk::DataEnd,
                Chunk::Data(_) if buffered.is_empty() => return Ok(Step::More),
                Chunk::Data(rest) => {
                    let n = rest.min(buffered.len() as u64);
                    *chunk = Chunk::Data(rest - n);
                    return Ok(Step::Data(n as usize));
                }
                Chunk::DataEnd => match buffered {
                    [b'\r', b'\n', ..] => {
                        conn.consume(2);
                        *chunk = Chunk::Size;
                    }
                    [b'\n', ..] => {
                        conn.consume(1);
                        *chunk = Chunk::Size;
                    }
                    [] | [b'\r'] => return Ok(Step::More),
                    _ => return Err("no line end after a chunk's data".into()),
                },
                Chunk::Trailers(seen) => {
                    let room = MAX_TRAILERS.saturating_sub(seen);
                    let Some(line) = line_len(buffered, room, "trailer section")? else {
                        return Ok(Step::More);
                    };
                    let blank = matches!(&buffered[..line], [] | [b'\r']);
                    conn.consume(line + 1);
                    if blank {
                        *self = Self::Length(0);
                    } else {
                        *chunk = Chunk::Trailers(seen + line + 1);
                    }
                }
            }
        }
    }
}

/// The length of the line at the front of `buffered` (without its `\n`), or
/// `None` while it has not all arrived; an error past `max` bytes.
fn line_len(buffered: &[u8], max: usize, what: &str) -> Result<Option<usize>, String> {
    match buffered.iter().position(|&b| b == b'\n') {
        Some(at) if at < max => Ok(Some(at)),
        None if buffered.len() < max => Ok(None),
        _ => Err(format!("{what} longer than {max} bytes")),
    }
}

/// A chunk-size line: hex digits, then maybe `;extensions`, then maybe `\r`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let valid =
        !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_hexdigit);
    valid
        .then(|| u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok())
        .flatten()
        .ok_or_else(|| format!("invalid chunk size {:?}", String::from_utf8_lossy(line)))
}

/// A response body being read from its connection.
pub(crate) struct Body {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    /// Body bytes handed out so far.
    delivered: u64,
    pool: Arc<Pool>,
    key: Arc<str>,
}

impl Body {
    pub(super) fn new(
        conn: Conn,
        framing: Framing,
        keep_alive: bool,
        pool: Arc<Pool>,
        key: Arc<str>,
    ) -> Self {
        Self {
            conn: Some(conn),
            framing,
            keep_alive,
            delivered: 0,
            pool,
            key,
        }
    }

    /// The next piece of the body as it arrives; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Failure> {
        let Some(n) = self.advance().await? else {
            self.release();
            return Ok(None);
        };
        self.delivered += n as u64;
        Ok(self.conn.as_mut().map(|conn| conn.consume(n)))
    }

    /// Reads until body data is buffered: how much, or `None` at the end.
    async fn advance(&mut self) -> Result<Option<usize>, Failure> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        loop {
            match self.framing.step(conn).map_err(malformed)? {
                Step::Data(n) => return Ok(Some(n)),
                Step::End => return Ok(None),
                Step::More => {}
            }
            if self.delivered >= LARGE_BODY {
                conn.grow();
            }
            match conn.fill().await {
                Ok(0) if matches!(self.framing, Framing::Close) => return Ok(None),
                Ok(0) => {
                    return Err(Failure::new(
                        ErrorKind::Transfer,
                        "connection closed before the end of the body",
                    ));
                }
                Ok(_) => {}
                Err(err) => return Err(Failure::new(ErrorKind::Transfer, describe_io_error(&err))),
            }
        }
    }

    /// Done with the body before its end (an error status, a redirect): the
    /// connection goes back to the pool if the rest has arrived already, and
    /// is closed if not.
    pub fn discard(mut self) {
        if let Some(conn) = self.conn.as_mut() {
            while let Ok(Step::Data(n)) = self.framing.step(conn) {
                conn.consume(n);
            }
        }
        self.release();
    }

    /// Pools the connection if the body ended cleanly and nothing follows it.
    fn release(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let ended = matches!(self.framing.step(&mut conn), Ok(Step::End));
        if ended && self.keep_alive && conn.buffered().is_empty() {
            self.pool.put(&self.key, conn);
        }
    }
}

pub(super) fn malformed(reason: String) -> Failure {
    Failure::new(ErrorKind::Transfer, format!("malformed response: {reason}"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// An encoded body that arrives in pieces.
    struct Feed {
        bytes: Vec<u8>,
        start: usize,
        end: usize,
    }

    impl Arrived for Feed {
        fn buffered(&self) -> &[u8] {
            &self.bytes[self.start..self.end]
        }

        fn consume(&mut self, n: usize) -> &[u8] {
            self.start += n;
            &self.bytes[self.start - n..self.start]
        }
    }

    /// Reads `bytes` with `framing`, `piece` bytes arriving at a time: the
    /// body, and how many bytes were consumed; `None` for an error or when
    /// the bytes end before the body does.
    fn read(mut framing: Framing, bytes: Vec<u8>, piece: usize) -> Option<(Vec<u8>, usize)> {
        let mut feed = Feed {
            bytes,
            start: 0,
            end: 0,
        };
        let mut body = Vec::new();
        loop {
            match framing.step(&mut feed).ok()? {
                Step::Data(n) => body.extend_from_slice(feed.consume(n)),
                Step::End => return Some((body, feed.start)),
                Step::More if feed.end == feed.bytes.len() => return None,
                Step::More => feed.end = (feed.end + piece).min(feed.bytes.len()),
            }
        }
    }

    fn chunked(body: &[u8], sizes: &[usize], upper: bool, ext: bool, trailers: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).clamp(1, rest.len());
            let size = if upper {
                format!("{n:X}")
            } else {
                format!("{n:x}")
            };
            out.extend_from_slice(size.as_bytes());
            if ext {
                out.extend_from_slice(b" ;name=\"a;b\"");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\n");
        if trailers {
            out.extend_from_slice(b"Expires: never\r\nX-Sum: 1\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        #[test]
        fn chunked_bodies_come_out_whole_however_they_arrive(
            body in proptest::collection::vec(any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..700, 1..8),
            piece in 1usize..200,
            upper: bool, ext: bool, trailers: bool,
        ) {
            let mut encoded = chunked(&body, &sizes, upper, ext, trailers);
            let len = encoded.len();
            // The next response's bytes are left alone.
            encoded.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            let (read, consumed) = read(Framing::chunked(), encoded, piece).expect("a whole body");
            prop_assert_eq!(read, body);
            prop_assert_eq!(consumed, len);
        }

        #[test]
        fn a_chunked_body_cut_short_never_ends(
            body in proptest::collection::vec(any::<u8>(), 1..2000),
            sizes in proptest::collection::vec(1usize..700, 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let encoded = chunked(&body, &sizes, false, false, false);
            let cut = cut.index(encoded.len());
            prop_assert!(read(Framing::chunked(), encoded[..cut].to_vec(), 64).is_none());
        }

        #[test]
        fn any_bytes_read_as_chunks_end_or_fail_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            piece in 1usize..50,
        ) {
            let _ = read(Framing::chunked(), bytes, piece);
        }

        #[test]
        fn a_length_takes_exactly_that_many_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..3000),
            len in 0usize..3000,
            piece in 1usize..500,
        ) {
            let result = read(Framing::Length(len as u64), bytes.clone(), piece);
            if len <= bytes.len() {
                prop_assert_eq!(result, Some((bytes[..len].to_vec(), len)));
            } else {
                prop_assert_eq!(result, None);
            }
        }
    }

    #[test]
    fn malformed_chunk_framing_is_an_error() {
        for bad in [
            &b"zz\r\nab\r\n0\r\n\r\n"[..],
            b"\r\n",
            b"-1\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"10000000000000000\r\n",
        ] {
            let mut framing = Framing::chunked();
            let mut feed = Feed {
                bytes: bad.to_vec(),
                start: 0,
                end: bad.len(),
            };
            let mut failed = false;
            for _ in 0..10 {
                match framing.step(&mut feed) {
                    Ok(Step::Data(n)) => {
                        feed.consume(n);
                    }
                    Ok(_) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "{:?}", String::from_utf8_lossy(bad));
        }
        let long = vec![b'1'; MAX_SIZE_LINE + 1];
        let mut feed = Feed {
            end: long.len(),
            bytes: long,
            start: 0,
        };
        assert!(Framing::chunked().step(&mut feed).is_err());
    }
}
