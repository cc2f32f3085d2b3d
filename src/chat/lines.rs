//! Reading IRC lines from a byte stream without a read buffer per connection.
//!
//! `FramedRead` keeps a buffer of several KiB per connection for as long as it
//! lives, which is most of what an idle client costs. [`LineReader`] instead
//! reads into the worker thread's buffer (`net::with_read_buffer`) and copies out
//! only what it read; once the session has taken every complete line, what is
//! left is at most one unfinished line, which it moves into an allocation of its
//! exact size before waiting (none at all when the line ended with the read). So
//! an idle client holds no read buffer.
//!
//! The framing is [`IrcCodec`]'s, the decoder itself, so both read paths have the
//! same semantics: `\r\n` or `\n`, empty lines skipped, bounds on tags and line,
//! `Frame::LineTooLong` for an overlong line and its bytes discarded up to the
//! next `\n`, and a last line without `\n` at end of stream still delivered.
//! It works over any `AsyncRead`: a TCP read half, or a TLS stream (where rustls
//! keeps buffers of its own anyway).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

use super::irc::{Frame, IrcCodec};

/// IRC [`Frame`]s read from `R`, holding no buffer while waiting for a line.
pub(crate) struct LineReader<R> {
    io: R,
    codec: IrcCodec,
    /// Bytes read and not framed yet: lines the session has not taken, then at
    /// most one unfinished line.
    buf: BytesMut,
    /// `buf` holds no more memory than its bytes (it was compacted since the last
    /// read).
    compacted: bool,
    eof: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(io: R) -> LineReader<R> {
        LineReader {
            io,
            codec: IrcCodec::new(),
            buf: BytesMut::new(),
            compacted: true,
            eof: false,
        }
    }

    /// One read through the thread's buffer, appended to `buf`; 0 at end of
    /// stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        crate::net::with_read_buffer(|chunk| {
            let mut read = ReadBuf::new(chunk);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
            let got = read.filled();
            if !got.is_empty() {
                self.buf.extend_from_slice(got);
                self.compacted = false;
            }
            Poll::Ready(Ok(got.len()))
        })
    }

    /// Before waiting: keep only the unfinished line's bytes. The frames already
    /// handed out may share `buf`'s allocation; this lets it go with them.
    fn compact(&mut self) {
        if !self.compacted {
            self.buf = BytesMut::from(&self.buf[..]);
            self.compacted = true;
        }
    }
}

impl<R: AsyncRead + Unpin> Stream for LineReader<R> {
    type Item = io::Result<Frame>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if !this.buf.is_empty() {
                match this.codec.decode(&mut this.buf) {
                    Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                    Ok(None) => {}
                    Err(err) => return Poll::Ready(Some(Err(err))),
                }
            }
            if this.eof {
                // The last line without its '\n', once; then the end.
                let last = this.codec.decode_eof(&mut this.buf).transpose();
                this.buf = BytesMut::new();
                return Poll::Ready(last);
            }
            match this.poll_fill(cx) {
                Poll::Ready(Ok(0)) => this.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(err)) => return Poll::Ready(Some(Err(err))),
                Poll::Pending => {
                    this.compact();
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::irc::MAX_FRAME;
    use bytes::Bytes;
    use futures::{FutureExt, StreamExt};
    use tokio::io::{AsyncWriteExt, DuplexStream};

    /// A reader on one end of an in-memory pipe: each write is what the next
    /// read sees, so a test decides exactly how the input is cut.
    fn pipe() -> (LineReader<DuplexStream>, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        (LineReader::new(ours), theirs)
    }

    /// Every frame available without waiting.
    fn ready_frames(reader: &mut LineReader<DuplexStream>) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(Some(frame)) = reader.next().now_or_never() {
            frames.push(frame.expect("read"));
        }
        frames
    }

    fn line(bytes: &[u8]) -> Frame {
        Frame::Line(Bytes::copy_from_slice(bytes))
    }

    #[tokio::test]
    async fn a_line_split_across_many_reads_is_one_frame() {
        let (mut reader, mut peer) = pipe();
        let text = b"PRIVMSG #chan :one line, many reads\r\n";
        for byte in text {
            assert_eq!(ready_frames(&mut reader), []);
            peer.write_all(&[*byte]).await.unwrap();
        }
        assert_eq!(
            ready_frames(&mut reader),
            [line(b"PRIVMSG #chan :one line, many reads")]
        );
        assert!(reader.buf.is_empty() && reader.buf.capacity() == 0);
    }

    #[tokio::test]
    async fn several_lines_in_one_read_come_one_by_one() {
        let (mut reader, mut peer) = pipe();
        peer.write_all(b"NICK a\r\n\r\nUSER a 0 * :A\nPING x\r\nPAR")
            .await
            .unwrap();
        assert_eq!(
            ready_frames(&mut reader),
            [line(b"NICK a"), line(b"USER a 0 * :A"), line(b"PING x")]
        );
        // Waiting, it keeps only the unfinished line.
        assert_eq!(&reader.buf[..], b"PAR");
        assert!(reader.buf.capacity() < 64, "{}", reader.buf.capacity());
        peer.write_all(b"T #a\n").await.unwrap();
        assert_eq!(ready_frames(&mut reader), [line(b"PART #a")]);
    }

    #[tokio::test]
    async fn an_overlong_line_is_reported_then_the_next_line_kept() {
        let (mut reader, mut peer) = pipe();
        let mut frames = Vec::new();
        // Far longer than any bound, in pieces, without a '\n' for a while.
        for _ in 0..8 {
            peer.write_all(&[b'x'; 4096]).await.unwrap();
            frames.extend(ready_frames(&mut reader));
            assert!(reader.buf.len() < MAX_FRAME);
        }
        peer.write_all(b"xx\r\nPING ok\r\n").await.unwrap();
        frames.extend(ready_frames(&mut reader));
        assert_eq!(frames, [Frame::LineTooLong, line(b"PING ok")]);
    }

    #[tokio::test]
    async fn a_line_exactly_at_the_limit_passes_and_one_byte_more_does_not() {
        let (mut reader, mut peer) = pipe();
        let tags = format!("@{} ", "t".repeat(crate::chat::irc::MAX_TAGS - 2));
        let rest = "x".repeat(crate::chat::irc::MAX_LINE - 2);
        let largest = format!("{tags}{rest}");
        assert_eq!(largest.len() + 2, MAX_FRAME);
        peer.write_all(format!("{largest}\r\n{largest}y\r\n").as_bytes())
            .await
            .unwrap();
        assert_eq!(
            ready_frames(&mut reader),
            [line(largest.as_bytes()), Frame::LineTooLong]
        );
    }

    #[tokio::test]
    async fn bytes_that_are_not_utf8_pass_through_unchanged() {
        let (mut reader, mut peer) = pipe();
        peer.write_all(b"PRIVMSG #a :\xff\xfe\xc3(\r\n")
            .await
            .unwrap();
        assert_eq!(
            ready_frames(&mut reader),
            [line(b"PRIVMSG #a :\xff\xfe\xc3(")]
        );
    }

    #[tokio::test]
    async fn a_last_line_without_newline_counts_at_end_of_stream() {
        let (mut reader, mut peer) = pipe();
        peer.write_all(b"PING a\r\nQUIT :bye").await.unwrap();
        drop(peer);
        let frames: Vec<Frame> = reader.by_ref().map(|frame| frame.unwrap()).collect().await;
        assert_eq!(frames, [line(b"PING a"), line(b"QUIT :bye")]);
        assert!(reader.next().await.is_none(), "ended twice");
    }

    #[tokio::test]
    async fn reads_lines_from_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, _write) = server.into_split();
        let reader = LineReader::new(read);
        let many: String = (0..1000).map(|i| format!("PRIVMSG #a :{i}\r\n")).collect();
        client.write_all(many.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();
        let wait = std::time::Duration::from_secs(20);
        let frames: Vec<Frame> = tokio::time::timeout(wait, reader.map(Result::unwrap).collect())
            .await
            .expect("all lines within 20s");
        assert_eq!(frames.len(), 1000);
        assert_eq!(frames[999], line(b"PRIVMSG #a :999"));
    }
}
