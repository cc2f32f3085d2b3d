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
    fn step(&mut self, conn: &mut Conn) -> Result<Step, String> {
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
