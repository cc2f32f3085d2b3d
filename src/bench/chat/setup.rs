//! One benchmark client's IRC conversation before the measurement: connect,
//! register (NICK/USER, waiting for 001), join the channel (waiting for 366, the
//! end of NAMES). Written for any server: PINGs are answered at every step, a
//! nickname in use (433) or unavailable (437) is replaced by another, and a
//! refusal is reported with the server's numeric and text.

use std::io;
use std::net::SocketAddr;

use std::pin::Pin;

use bytes::Bytes;
use futures::stream::SplitSink;
use futures::{SinkExt, Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, client::IntoClientRequest};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::bench::shared::connect_from;
use crate::chat::irc::{Frame, IrcCodec, Message, irc_eq};
use crate::net::describe_io_error;

/// How many nicknames a client tries before giving up.
const NICK_ATTEMPTS: u32 = 8;

/// A registered client that has joined the channel.
pub(crate) struct Conn {
    pub frames: Frames,
    writer: Writer,
}

/// The lines a server sends, over TCP or WebSocket.
pub(crate) type Frames = Pin<Box<dyn Stream<Item = io::Result<Frame>>>>;

/// How lines go to the server: bytes on TCP, or one WebSocket message per line.
enum Writer {
    Tcp(OwnedWriteHalf),
    WebSocket(SplitSink<WebSocketStream<TcpStream>, WsMessage>),
}

/// How clients reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    /// IRC over WebSocket at `/ws` (subprotocol `text.ircv3.net`).
    WebSocket,
}

/// Why a client could not take part. Its text is the key under which the
/// report counts it, so it names the step and the cause, not the client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("{step}: {}", describe_io_error(.cause))]
    Io {
        step: &'static str,
        cause: io::Error,
    },
    #[error("{0}: the server closed the connection")]
    Closed(&'static str),
    #[error("{0}: the server sent ERROR: {1}")]
    ServerError(&'static str, String),
    #[error("{0}: {1} {2}")]
    Refused(&'static str, String, String),
    #[error("register: no free nickname after {NICK_ATTEMPTS} tries")]
    NoFreeNick,
    #[error("{0}: timed out")]
    TimedOut(&'static str),
    #[error("set-up: interrupted")]
    Interrupted,
    #[error("{0}: {1}")]
    WebSocket(&'static str, String),
}

/// Nicknames: `n`, a tag for this run and attempt, the client's index; base 36 and
/// at most 9 characters for 10^5 clients, which is RFC 1459's limit and ngircd's
/// default.
pub(crate) fn nick(run_tag: u32, attempt: u32, index: usize) -> String {
    let tag = (run_tag.wrapping_add(attempt.wrapping_mul(7919))) % (36 * 36);
    format!("n{}{}", base36(tag as u64, 2), base36(index as u64, 0))
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 || out.is_empty() {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Connects (from one of 127.0.0.1-64 against a loopback target, by index),
/// registers and joins `channel`.
pub(crate) async fn connect_and_join(
    target: SocketAddr,
    transport: Transport,
    channel: &str,
    run_tag: u32,
    index: usize,
) -> Result<Conn, SetupError> {
    let stream = connect_from(target, index as u32)
        .await
        .map_err(|cause| SetupError::Io {
            step: "connect",
            cause,
        })?;
    let mut conn = match transport {
        Transport::Tcp => {
            let (reader, writer) = stream.into_split();
            Conn {
                frames: Box::pin(FramedRead::new(reader, IrcCodec::new())),
                writer: Writer::Tcp(writer),
            }
        }
        Transport::WebSocket => upgrade(target, stream).await?,
    };
    conn.register(run_tag, index).await?;
    conn.join(channel).await?;
    Ok(conn)
}

/// Opens IRC over WebSocket on a connected stream.
async fn upgrade(target: SocketAddr, stream: TcpStream) -> Result<Conn, SetupError> {
    const STEP: &str = "websocket upgrade";
    let mut request = format!("ws://{target}/ws")
        .into_client_request()
        .map_err(|err| SetupError::WebSocket(STEP, err.to_string()))?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        tungstenite::http::HeaderValue::from_static("text.ircv3.net"),
    );
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|err| SetupError::WebSocket(STEP, err.to_string()))?;
    let (sink, stream) = ws.split();
    // One message is one line; pings are answered by the library, a close
    // frame ends the stream.
    let frames = stream.filter_map(|message| async move {
        match message {
            Ok(WsMessage::Text(text)) => Frame::from_line(Bytes::from(text)).map(Ok),
            Ok(WsMessage::Binary(bytes)) => Frame::from_line(bytes).map(Ok),
            Ok(_) => None,
            Err(err) => Some(Err(io::Error::other(err))),
        }
    });
    Ok(Conn {
        frames: Box::pin(frames),
        writer: Writer::WebSocket(sink),
    })
}

impl Conn {
    /// Sends whole lines (each with its CR LF): in one write over TCP, one
    /// message each over WebSocket, flushed together.
    pub(crate) async fn send(&mut self, lines: &[u8]) -> io::Result<()> {
        match &mut self.writer {
            Writer::Tcp(writer) => writer.write_all(lines).await,
            Writer::WebSocket(sink) => {
                for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let text = std::str::from_utf8(line).map_err(io::Error::other)?;
                    sink.feed(WsMessage::text(text))
                        .await
                        .map_err(io::Error::other)?;
                }
                sink.flush().await.map_err(io::Error::other)
            }
        }
    }

    async fn send_at(&mut self, step: &'static str, line: String) -> Result<(), SetupError> {
        self.send(line.as_bytes())
            .await
            .map_err(|cause| SetupError::Io { step, cause })
    }

    /// The next line; LineTooLong is skipped.
    async fn line(&mut self, step: &'static str) -> Result<bytes::Bytes, SetupError> {
        loop {
            match self.frames.next().await {
                Some(Ok(Frame::Line(line))) => return Ok(line),
                Some(Ok(Frame::LineTooLong)) => continue,
                Some(Err(cause)) => return Err(SetupError::Io { step, cause }),
                None => return Err(SetupError::Closed(step)),
            }
        }
    }

    /// Answers a PING, turns ERROR into an error; None for those, else the message.
    async fn control(
        &mut self,
        step: &'static str,
        message: Message,
    ) -> Result<Option<Message>, SetupError> {
        match message.command.as_str() {
            "PING" => {
                let token = message.params.last().map_or("", String::as_str);
                self.send_at(step, format!("PONG :{token}\r\n")).await?;
                Ok(None)
            }
            "ERROR" => {
                let text = message.params.last().cloned().unwrap_or_default();
                Err(SetupError::ServerError(step, text))
            }
            _ => Ok(Some(message)),
        }
    }

    /// The next message, with PINGs answered and ERROR turned into an error.
    async fn next(&mut self, step: &'static str) -> Result<Message, SetupError> {
        loop {
            let line = self.line(step).await?;
            let Ok(message) = Message::parse(&line) else {
                continue;
            };
            if let Some(message) = self.control(step, message).await? {
                return Ok(message);
            }
        }
    }

    /// Once joined, until `until` is cancelled: reads what the server sends (the
    /// other clients' JOINs, mostly), answering PINGs, so that nothing piles up
    /// in the server's queue for this client before the measurement. Lines that
    /// cannot be a PING or an ERROR are dropped unparsed: with 10,000 clients in
    /// one channel they are tens of millions.
    pub(crate) async fn drain_until(
        &mut self,
        until: &CancellationToken,
    ) -> Result<(), SetupError> {
        const STEP: &str = "wait for the others to join";
        loop {
            // Reading a frame is cancel-safe; answering happens outside the select.
            let line = tokio::select! {
                biased;
                _ = until.cancelled() => return Ok(()),
                line = self.line(STEP) => line?,
            };
            let control = |word: &[u8]| line.windows(word.len()).any(|w| w == word);
            if !(control(b"PING") || control(b"ERROR")) {
                continue;
            }
            if let Ok(message) = Message::parse(&line) {
                self.control(STEP, message).await?;
            }
        }
    }

    async fn register(&mut self, run_tag: u32, index: usize) -> Result<(), SetupError> {
        const STEP: &str = "register";
        let mut attempt = 0;
        let first = nick(run_tag, attempt, index);
        self.send_at(
            STEP,
            format!("NICK {first}\r\nUSER nkbench 0 * :netkit bench\r\n"),
        )
        .await?;
        loop {
            let message = self.next(STEP).await?;
            match message.command.as_str() {
                "001" => return Ok(()),
                // Nickname in use, or held by nick delay: take another.
                "433" | "436" | "437" => {
                    attempt += 1;
                    if attempt >= NICK_ATTEMPTS {
                        return Err(SetupError::NoFreeNick);
                    }
                    let next = nick(run_tag, attempt, index);
                    self.send_at(STEP, format!("NICK {next}\r\n")).await?;
                }
                code if is_error_numeric(code) => return Err(refused(STEP, &message)),
                _ => {}
            }
        }
    }

    async fn join(&mut self, channel: &str) -> Result<(), SetupError> {
        const STEP: &str = "join";
        self.send_at(STEP, format!("JOIN {channel}\r\n")).await?;
        loop {
            let message = self.next(STEP).await?;
            let about_channel = message.param(1).is_some_and(|c| irc_eq(c, channel));
            match message.command.as_str() {
                "366" if about_channel => return Ok(()),
                code if is_error_numeric(code) && about_channel => {
                    return Err(refused(STEP, &message));
                }
                _ => {}
            }
        }
    }
}

/// 400-599: the error numerics.
fn is_error_numeric(code: &str) -> bool {
    code.len() == 3 && matches!(code.as_bytes()[0], b'4' | b'5')
}

fn refused(step: &'static str, message: &Message) -> SetupError {
    let text = message.params.last().cloned().unwrap_or_default();
    SetupError::Refused(step, message.command.clone(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_are_short_valid_and_distinct() {
        let a = nick(1234, 0, 99_999);
        assert!(a.len() <= 9, "{a}");
        assert!(crate::chat::irc::is_valid_nick(&a, 9), "{a}");
        assert_ne!(nick(1234, 0, 5), nick(1234, 1, 5));
        assert_ne!(nick(1234, 0, 5), nick(1234, 0, 6));
        assert_eq!(nick(0, 0, 0), "n000");
    }
}
