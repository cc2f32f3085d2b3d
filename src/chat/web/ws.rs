//! IRC over WebSocket, as the IRCv3 WebSocket specification describes it: one
//! IRC line per message, without CR LF; subprotocol `text.ircv3.net` (text
//! messages, UTF-8) or `binary.ircv3.net` (binary messages), the first one the
//! client offers that the server knows, text when it offers none.
//!
//! A WebSocket client is an ordinary [`Session`]: same nicks, channels,
//! history, limits and flood control. Only the transport differs: incoming
//! messages become [`Frame`]s, and the session's outbound queue drains into one
//! message per line, flushed together.
//!
//! Hygiene: pages from other origins are refused (403) unless allowed; a
//! message over [`MAX_MESSAGE`] closes the connection with 1009; the server
//! pings an idle connection every `--ping-interval`; and the close frame says
//! why a client was dropped (1000 after QUIT, 1001 at shutdown, 1008 for a
//! queue overflow or a KILL, 1011 when the server failed).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use super::{Peer, page};
use crate::chat::irc::{Frame, MAX_FRAME};
use crate::chat::metrics::Transport;
use crate::chat::outbound::{LineSink, Outbound};
use crate::chat::server::Context;
use crate::chat::session::Session;

const TEXT: &str = "text.ircv3.net";
const BINARY: &str = "binary.ircv3.net";

/// The largest message (and frame) accepted: twice the longest IRC line, so a
/// line a little over the IRC limits still gets its 417 and the session goes
/// on, while anything larger is refused before it is buffered.
pub(crate) const MAX_MESSAGE: usize = 2 * MAX_FRAME;

/// The client permit of the HTTP connection: an upgraded connection keeps it
/// for as long as its session lasts.
#[derive(Clone, Default)]
pub(super) struct Permit(pub Arc<Mutex<Option<OwnedSemaphorePermit>>>);

/// `/`: the page, or a WebSocket when the request asks for one.
pub(super) async fn page_or_upgrade(State(ctx): State<Arc<Context>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let wants_websocket = parts
        .headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if wants_websocket {
        accept(ctx, parts).await
    } else {
        page::index().into_response()
    }
}

/// `/ws`: a WebSocket only.
pub(super) async fn upgrade(State(ctx): State<Arc<Context>>, request: Request) -> Response {
    accept(ctx, request.into_parts().0).await
}

async fn accept(ctx: Arc<Context>, mut parts: Parts) -> Response {
    if !origin_allowed(&parts.headers, &ctx.web.allowed_origins) {
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let mut ws = match WebSocketUpgrade::from_request_parts(&mut parts, &ctx).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let chosen = ws
        .requested_protocols()
        .find(|p| p.as_bytes() == TEXT.as_bytes() || p.as_bytes() == BINARY.as_bytes())
        .cloned();
    let binary = chosen
        .as_ref()
        .is_some_and(|p| p.as_bytes() == BINARY.as_bytes());
    if let Some(protocol) = chosen {
        ws.set_selected_protocol(protocol);
    }
    let peer = parts.extensions.get::<Peer>().map(|p| p.0);
    let permit = parts
        .extensions
        .get::<Permit>()
        .and_then(|p| p.0.lock().ok()?.take());
    let Some(peer) = peer else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            let tracker = ctx.tracker.clone();
            tracker.track_future(serve(socket, peer, ctx, binary, permit))
        })
}

/// Whether a request's `Origin` may open a WebSocket: no `Origin` (not a
/// browser), one of `allowed`, or, with none configured, the page's own
/// origin (`http(s)://` and the request's `Host`).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if !allowed.is_empty() {
        return allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let own = |scheme: &str| {
        host.is_some_and(|h| origin.eq_ignore_ascii_case(&format!("{scheme}://{h}")))
    };
    own("http") || own("https")
}

/// Runs one session over an upgraded connection.
async fn serve(
    socket: WebSocket,
    peer: SocketAddr,
    ctx: Arc<Context>,
    binary: bool,
    permit: Option<OwnedSemaphorePermit>,
) {
    let (sink, stream) = socket.split();
    let (out, writer) = Outbound::new(ctx.config.sendq, ctx.config.grace);
    let too_big = Arc::new(AtomicBool::new(false));
    let sink = WsSink {
        sink,
        binary,
        keepalive: ctx.config.ping_interval,
        too_big: too_big.clone(),
    };
    let writing = tokio::spawn(writer.drain(sink));
    ctx.metrics.connected(Transport::WebSocket);
    let why = Session::new(ctx.clone(), out, peer.ip())
        .run(Box::pin(frames(stream, too_big)))
        .await;
    ctx.metrics.disconnected(Transport::WebSocket, why);
    match writing.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::debug!(%peer, "websocket write failed: {err}"),
        Err(err) => tracing::warn!(%peer, "websocket writer task failed: {err}"),
    }
    drop(permit);
}

/// The client's messages as IRC lines; ends at its close frame. A message over
/// [`MAX_MESSAGE`] ends it too, and marks `too_big` for the close code.
fn frames(
    stream: SplitStream<WebSocket>,
    too_big: Arc<AtomicBool>,
) -> impl Stream<Item = std::io::Result<Frame>> + Send {
    futures::stream::unfold(Some(stream), move |stream| {
        let too_big = too_big.clone();
        async move {
            let mut stream = stream?;
            loop {
                let message = match stream.next().await? {
                    Ok(message) => message,
                    Err(err) => {
                        let oversized = is_capacity(&err);
                        if oversized {
                            too_big.store(true, Ordering::Relaxed);
                        }
                        let kind = if oversized {
                            std::io::ErrorKind::InvalidData
                        } else {
                            std::io::ErrorKind::ConnectionReset
                        };
                        let why = if oversized {
                            "message too big".to_string()
                        } else {
                            err.to_string()
                        };
                        return Some((Err(std::io::Error::new(kind, why)), None));
                    }
                };
                let line = match message {
                    WsMessage::Text(text) => Bytes::from(text),
                    WsMessage::Binary(bytes) => bytes,
                    WsMessage::Close(_) => return None,
                    WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                };
                if let Some(frame) = Frame::from_line(line) {
                    return Some((Ok(frame), Some(stream)));
                }
            }
        }
    })
}

/// Whether a read failed because a message or frame was over the size limit.
fn is_capacity(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = source {
        if let Some(tungstenite::Error::Capacity(_)) = error.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// One message per line, flushed once per batch.
struct WsSink {
    sink: SplitSink<WebSocket, WsMessage>,
    binary: bool,
    keepalive: Duration,
    too_big: Arc<AtomicBool>,
}

impl WsSink {
    fn message(&self, line: &Bytes) -> std::io::Result<WsMessage> {
        let line = line
            .strip_suffix(b"\r\n")
            .map_or(line.clone(), |l| line.slice(..l.len()));
        if self.binary {
            return Ok(WsMessage::Binary(line));
        }
        // Every line the server makes is text; a line that is not would be a bug.
        Utf8Bytes::try_from(line)
            .map(WsMessage::Text)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
    }
}

impl LineSink for WsSink {
    async fn write_lines(&mut self, lines: &[Bytes]) -> std::io::Result<()> {
        for line in lines {
            let message = self.message(line)?;
            self.sink.feed(message).await.map_err(to_io)?;
        }
        self.sink.flush().await.map_err(to_io)
    }

    async fn finish(&mut self, last: Option<Bytes>) -> std::io::Result<()> {
        let (code, reason) = match &last {
            _ if self.too_big.load(Ordering::Relaxed) => (1009, "Message too big".to_string()),
            Some(line) => close_for(line),
            None => (1011, "Server error".to_string()),
        };
        if let Some(line) = &last {
            let message = self.message(line)?;
            self.sink.feed(message).await.map_err(to_io)?;
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        self.sink
            .send(WsMessage::Close(Some(frame)))
            .await
            .map_err(to_io)?;
        self.sink.close().await.map_err(to_io)
    }

    /// Pings a connection that had nothing to say for a while, so that proxies
    /// keep it open; the client's session notices a dead one.
    async fn idle(&mut self) -> std::io::Result<()> {
        tokio::time::sleep(self.keepalive).await;
        self.sink
            .send(WsMessage::Ping(Bytes::from_static(b"netkit")))
            .await
            .map_err(to_io)
    }
}

/// The close code and reason for a session's last line, `ERROR :text`.
fn close_for(line: &Bytes) -> (u16, String) {
    let text = String::from_utf8_lossy(line);
    let text = text
        .trim_end()
        .strip_prefix("ERROR :")
        .unwrap_or(text.trim_end());
    let code = if text.contains("Server shutting down") {
        1001
    } else if text.contains("SendQ exceeded") || text.contains("Killed") {
        1008
    } else {
        1000
    };
    // A close reason is at most 123 bytes.
    (code, crate::chat::limits::truncate(text, 123).to_string())
}

fn to_io(err: axum::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn origins() {
        let own = headers(&[
            (header::HOST, "chat.test:8080"),
            (header::ORIGIN, "http://chat.test:8080"),
        ]);
        assert!(origin_allowed(&own, &[]));
        let other = headers(&[
            (header::HOST, "chat.test:8080"),
            (header::ORIGIN, "http://evil.test"),
        ]);
        assert!(!origin_allowed(&other, &[]));
        assert!(origin_allowed(&other, &["http://evil.test".to_string()]));
        assert!(!origin_allowed(&own, &["http://evil.test".to_string()]));
        assert!(origin_allowed(&headers(&[(header::HOST, "x")]), &[]));
    }

    #[test]
    fn close_codes_say_why() {
        let code = |line: &str| close_for(&Bytes::from(line.to_string()));
        assert_eq!(code("ERROR :Server shutting down\r\n").0, 1001);
        assert_eq!(
            code("ERROR :SendQ exceeded\r\n"),
            (1008, "SendQ exceeded".to_string())
        );
        assert_eq!(code("ERROR :Closing link: 1.2.3.4 (Quit: bye)\r\n").0, 1000);
        let long = format!("ERROR :{}\r\n", "x".repeat(300));
        assert_eq!(code(&long).1.len(), 123);
    }
}
