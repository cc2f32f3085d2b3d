//! Line framing for IRC over a byte stream (TCP, TLS), with a bound on length.
//!
//! [`IrcCodec`] splits the stream on `\n`, accepting `\r\n` and a bare `\n`, skips
//! empty lines, and yields each line's raw bytes as a [`Frame`]; parsing is left to
//! [`Message::parse`]. Keeping the two apart lets every transport feed the same
//! session: a WebSocket transport, where one frame is one line, builds its frames
//! with [`Frame::from_line`] and never touches this codec.
//!
//! Length limits are checked on raw bytes, before any decoding: the tags part
//! (`@...` and its space) against [`MAX_TAGS`], the rest plus CR LF against
//! [`MAX_LINE`]. A line over either limit becomes [`Frame::LineTooLong`] and is
//! dropped, and the session goes on (the server answers 417 ERR_INPUTTOOLONG). It
//! is an item rather than a decoder error because a `FramedRead` stream ends after
//! its first error. The decoder buffers at most [`MAX_FRAME`] - 1 bytes of an
//! unfinished line: past that the line cannot fit any more, so it reports
//! `LineTooLong` at once and throws away everything up to the next `\n`.
//!
//! The server's transports drive this decoder through their own line reader
//! (`chat::lines`), which keeps no buffer while a client is idle; `FramedRead`
//! works with it as well.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::message::{MAX_LINE, MAX_TAGS, Message};

/// The longest acceptable line on the wire, tags and CR LF included.
pub const MAX_FRAME: usize = MAX_TAGS + MAX_LINE;

/// What the decoder yields for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One non-empty line within the limits, without its line ending, not parsed.
    Line(Bytes),
    /// A line over the limits; its bytes were dropped.
    LineTooLong,
}

impl Frame {
    /// Classifies one line that a message-oriented transport (a WebSocket frame)
    /// delivered whole. A trailing `\r\n`, `\n` or `\r` is removed; an empty line
    /// gives `None`.
    pub fn from_line(line: Bytes) -> Option<Frame> {
        let mut line = line;
        for ending in [b'\n', b'\r'] {
            if line.last() == Some(&ending) {
                line.truncate(line.len() - 1);
            }
        }
        if line.is_empty() {
            None
        } else if within_limits(&line) {
            Some(Frame::Line(line))
        } else {
            Some(Frame::LineTooLong)
        }
    }
}

/// Whether a line (without its line ending) fits: the tags part, `@` to the first
/// space inclusive, at most [`MAX_TAGS`] bytes, and the rest at most
/// [`MAX_LINE`] - 2 bytes (room for CR LF).
pub fn within_limits(line: &[u8]) -> bool {
    let tags_len = match line.first() {
        Some(b'@') => line
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |space| space + 1),
        _ => 0,
    };
    tags_len <= MAX_TAGS && line.len() - tags_len <= MAX_LINE - 2
}

/// IRC line codec: decodes [`Frame`]s, encodes [`Message`]s with CR LF.
#[derive(Debug, Default)]
pub struct IrcCodec {
    /// How far the buffer was already searched for `\n`, so a line arriving in
    /// many small reads is scanned once.
    scanned: usize,
    /// Dropping the rest of a line already reported as too long.
    discarding: bool,
}

impl IrcCodec {
    /// A codec in its initial state.
    pub fn new() -> IrcCodec {
        IrcCodec::default()
    }
}

impl Decoder for IrcCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        loop {
            // `min` guards against a caller that shrank the buffer between calls.
            let start = self.scanned.min(buf.len());
            let newline = buf[start..].iter().position(|&b| b == b'\n');
            let Some(offset) = newline else {
                if self.discarding {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                if buf.len() >= MAX_FRAME {
                    // Even a '\n' as the next byte would make this line too long.
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(Frame::LineTooLong));
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            let end = start + offset;
            self.scanned = 0;
            if std::mem::take(&mut self.discarding) {
                buf.advance(end + 1);
                continue;
            }
            let line = buf.split_to(end + 1).freeze();
            if let Some(frame) = Frame::from_line(line) {
                return Ok(Some(frame));
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // A last line without its '\n' (a client that wrote QUIT and closed) still
        // counts. `decode` left no bytes if it was discarding.
        self.scanned = 0;
        Ok(Frame::from_line(buf.split().freeze()))
    }
}

impl Encoder<&Message> for IrcCodec {
    type Error = io::Error;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), io::Error> {
        message.write_to(dst);
        Ok(())
    }
}

impl Encoder<Message> for IrcCodec {
    type Error = io::Error;

    fn encode(&mut self, message: Message, dst: &mut BytesMut) -> Result<(), io::Error> {
        message.write_to(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut IrcCodec, input: &[u8]) -> Vec<Frame> {
        let mut buf = BytesMut::from(input);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            frames.push(frame);
        }
        frames
    }

    fn line(s: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn splits_on_lf_and_crlf_and_skips_empty_lines() {
        let frames = decode_all(&mut IrcCodec::new(), b"NICK a\r\n\r\n\nUSER a 0 * :A\nQUIT");
        assert_eq!(
            frames,
            [line("NICK a"), line("USER a 0 * :A"), line("QUIT")]
        );
    }

    #[test]
    fn lines_split_across_reads() {
        let mut codec = IrcCodec::new();
        let mut buf = BytesMut::from(&b"PRIV"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"MSG #a :hi\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\nPING");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(line("PRIVMSG #a :hi"))
        );
        assert_eq!(&buf[..], b"PING");
    }

    #[test]
    fn limits_count_tags_and_the_rest_separately() {
        let rest = "x".repeat(MAX_LINE - 2);
        assert!(within_limits(rest.as_bytes()));
        assert!(!within_limits(format!("{rest}x").as_bytes()));
        let tags = format!("@{} ", "t".repeat(MAX_TAGS - 2));
        assert!(within_limits(format!("{tags}{rest}").as_bytes()));
        assert!(!within_limits(format!("@t{tags}{rest}").as_bytes()));
        assert!(!within_limits(format!("{tags}{rest}x").as_bytes()));
        // Without tags, a line cannot borrow the tags allowance.
        assert!(!within_limits("x".repeat(1000).as_bytes()));
    }

    #[test]
    fn a_long_complete_line_is_dropped_and_the_next_one_kept() {
        let input = format!("PRIVMSG #a :{}\r\nPING x\r\n", "y".repeat(600));
        let frames = decode_all(&mut IrcCodec::new(), input.as_bytes());
        assert_eq!(frames, [Frame::LineTooLong, line("PING x")]);
    }

    #[test]
    fn an_endless_line_is_reported_once_and_not_buffered() {
        let mut codec = IrcCodec::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for _ in 0..10 {
            buf.extend_from_slice(&[b'z'; 4096]);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
            assert!(buf.len() < MAX_FRAME);
        }
        buf.extend_from_slice(b"zzz\r\nPING x\r\n");
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert_eq!(frames, [Frame::LineTooLong, line("PING x")]);
    }

    #[test]
    fn the_largest_line_fits_exactly() {
        let tags = format!("@{} ", "t".repeat(MAX_TAGS - 2));
        let rest = "x".repeat(MAX_LINE - 2);
        let input = format!("{tags}{rest}\r\n");
        assert_eq!(input.len(), MAX_FRAME);
        let frames = decode_all(&mut IrcCodec::new(), input.as_bytes());
        assert_eq!(frames, [line(&input[..MAX_FRAME - 2])]);
    }

    #[test]
    fn websocket_frames_use_the_same_limits() {
        assert_eq!(
            Frame::from_line(Bytes::from_static(b"PING x\r\n")),
            Some(line("PING x"))
        );
        assert_eq!(Frame::from_line(Bytes::from_static(b"\r\n")), None);
        let long = Bytes::from("x".repeat(MAX_LINE));
        assert_eq!(Frame::from_line(long), Some(Frame::LineTooLong));
    }

    #[test]
    fn encodes_with_crlf() {
        let mut dst = BytesMut::new();
        let message = Message::new("PING").with_param("x y");
        IrcCodec::new().encode(&message, &mut dst).unwrap();
        IrcCodec::new().encode(message, &mut dst).unwrap();
        assert_eq!(&dst[..], b"PING :x y\r\nPING :x y\r\n");
    }
}
