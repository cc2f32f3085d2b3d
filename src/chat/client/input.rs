//! The user's lines, read with a bound and without failing on bad bytes.
//!
//! A line longer than [`MAX_INPUT_LINE`] is dropped (the caller says so) instead
//! of being buffered whole: the text splitter would turn a runaway paste into
//! hundreds of messages. Bytes that are not UTF-8 become U+FFFD, as the server
//! does, rather than ending the session. Reading is cancel-safe (a `select!`
//! may drop [`InputLines::next`] at any await): the partial line lives in the
//! struct, and bytes are consumed only once copied there.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest input line kept, in bytes: several IRC lines' worth of text.
pub const MAX_INPUT_LINE: usize = 4096;

/// One input line, or the length of one that was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputLine {
    Line(String),
    TooLong(usize),
}

/// Lines from an `AsyncBufRead`, bounded.
pub struct InputLines<R> {
    reader: R,
    line: Vec<u8>,
    /// Bytes of the current line beyond what is kept (0: the line fits so far).
    dropped: usize,
}

impl<R: AsyncBufRead + Unpin> InputLines<R> {
    pub fn new(reader: R) -> InputLines<R> {
        InputLines {
            reader,
            line: Vec::new(),
            dropped: 0,
        }
    }

    /// The next line without its line ending; `None` at the end of input. A
    /// last line without a newline still counts.
    pub async fn next(&mut self) -> io::Result<Option<InputLine>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok((!self.line.is_empty() || self.dropped > 0).then(|| self.take()));
            }
            let (chunk, found) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (&available[..at], at + 1),
                None => (available, available.len()),
            };
            let room = MAX_INPUT_LINE.saturating_sub(self.line.len());
            if self.dropped == 0 && chunk.len() <= room {
                self.line.extend_from_slice(chunk);
            } else {
                self.dropped += chunk.len();
            }
            let complete = found > chunk.len();
            self.reader.consume(found);
            if complete {
                return Ok(Some(self.take()));
            }
        }
    }

    fn take(&mut self) -> InputLine {
        let line = std::mem::take(&mut self.line);
        match std::mem::take(&mut self.dropped) {
            0 => {
                let text = String::from_utf8_lossy(&line);
                InputLine::Line(text.trim_end_matches('\r').to_string())
            }
            dropped => InputLine::TooLong(line.len() + dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8]) -> Vec<InputLine> {
        let mut lines = InputLines::new(tokio::io::BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(line) = lines.next().await.expect("reading a slice") {
            out.push(line);
        }
        out
    }

    fn line(text: &str) -> InputLine {
        InputLine::Line(text.into())
    }

    #[tokio::test]
    async fn splits_lines_across_reads_and_keeps_a_last_unterminated_one() {
        assert_eq!(
            all(b"hello there\r\n\nsecond line\nlast").await,
            [
                line("hello there"),
                line(""),
                line("second line"),
                line("last")
            ]
        );
        assert_eq!(all(b"").await, []);
    }

    #[tokio::test]
    async fn bad_bytes_become_replacement_characters() {
        assert_eq!(all(b"caf\xe9\n").await, [line("caf\u{fffd}")]);
    }

    #[tokio::test]
    async fn an_overlong_line_is_dropped_and_the_next_one_kept() {
        let mut input = vec![b'x'; MAX_INPUT_LINE + 10];
        input.extend_from_slice(b"\nafter\n");
        assert_eq!(
            all(&input).await,
            [InputLine::TooLong(MAX_INPUT_LINE + 10), line("after")]
        );
        let exact = vec![b'y'; MAX_INPUT_LINE];
        assert_eq!(all(&exact).await, [line(&"y".repeat(MAX_INPUT_LINE))]);
    }
}
