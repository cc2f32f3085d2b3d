//! The chat server's HTTP front door, with a WebSocket client library on
//! 127.0.0.1: both IRCv3 WebSocket subprotocols, the Origin check, the message
//! size limit, web and TCP clients in one channel, the close code at shutdown,
//! the page, `/healthz` and `/metrics`.
//!
//! Every wait is bounded by `common::PATIENCE`.

mod common;

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use netkit::chat::irc::Message;
use netkit::chat::{ChatConfig, ChatServer, Listener, Summary, WebConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message as WsMessage};
use tokio_tungstenite::{WebSocketStream, client_async};

use common::irc::Client;
use common::tls::{connector, data};
use common::{ChatTask, within};

/// The library's server with one IRC and one HTTP listener, on a task.
struct Server {
    irc: SocketAddr,
    http: SocketAddr,
    task: ChatTask,
}

impl Server {
    async fn start(web: WebConfig) -> Server {
        let bind = || netkit::net::bind_tcp("127.0.0.1:0".parse().expect("address"), 128);
        let (irc, http) = (bind().await.expect("bind"), bind().await.expect("bind"));
        let (irc_addr, http_addr) = (irc.local_addr().unwrap(), http.local_addr().unwrap());
        let config = ChatConfig {
            flood: None,
            ..ChatConfig::default()
        };
        let server = ChatServer::new(config).with_web(web);
        let listeners = vec![Listener::plain(irc), Listener::http(http, None)];
        Server {
            irc: irc_addr,
            http: http_addr,
            task: ChatTask::spawn(server, listeners),
        }
    }

    async fn stop(self) -> Summary {
        self.task.stop().await
    }
}

type Ws = WebSocketStream<TcpStream>;

/// Opens a WebSocket at `path` with these headers (`Sec-WebSocket-Protocol`,
/// `Origin`...): the socket and the subprotocol the server chose, or the HTTP
/// status it refused with.
async fn open(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, Option<String>), u16> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let stream = TcpStream::connect(addr).await.expect("connect");
    match within("the WebSocket handshake", client_async(request, stream)).await {
        Ok((ws, response)) => {
            let protocol = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string());
            Ok((ws, protocol))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("handshake failed: {err}"),
    }
}

/// A WebSocket IRC client: one line per message.
struct WebClient {
    ws: Ws,
    nick: String,
}

impl WebClient {
    async fn connect(addr: SocketAddr, protocol: &str) -> WebClient {
        let (ws, _) = open(addr, "/ws", &[("sec-websocket-protocol", protocol)])
            .await
            .expect("upgrade");
        WebClient {
            ws,
            nick: "*".to_string(),
        }
    }

    async fn send(&mut self, line: &str) {
        within("sending", self.ws.send(WsMessage::text(line)))
            .await
            .expect("send");
    }

    /// The next message, which must be one IRC line in a text frame.
    async fn next(&mut self) -> Message {
        loop {
            let message = within(&format!("{}: reading", self.nick), self.ws.next())
                .await
                .unwrap_or_else(|| panic!("{}: closed", self.nick))
                .expect("read");
            match message {
                WsMessage::Text(text) => {
                    assert!(
                        !text.ends_with('\n'),
                        "a line with its line ending: {text:?}"
                    );
                    return Message::parse(text.as_bytes()).expect("an IRC line");
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                other => panic!("{}: unexpected {other:?}", self.nick),
            }
        }
    }

    async fn skip_to(&mut self, command: &str) -> Message {
        loop {
            let message = self.next().await;
            if message.command == command {
                return message;
            }
        }
    }

    async fn register(addr: SocketAddr, nick: &str) -> WebClient {
        let mut client = WebClient::connect(addr, "text.ircv3.net").await;
        client.send(&format!("NICK {nick}")).await;
        client
            .send(&format!("USER {nick} 0 * :{nick} on the web"))
            .await;
        client.skip_to("001").await;
        client.skip_to("422").await;
        client.nick = nick.to_string();
        client
    }

    /// The close frame's code, skipping anything before it.
    async fn close_code(&mut self) -> CloseCode {
        loop {
            match within("the close frame", self.ws.next()).await {
                Some(Ok(WsMessage::Close(Some(frame)))) => return frame.code,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}

/// One HTTP/1.1 GET: the status line and headers, and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    within("the response", stream.read_to_string(&mut response))
        .await
        .expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn the_first_subprotocol_the_client_offers_wins() {
    let server = Server::start(WebConfig::default()).await;
    for (offered, chosen) in [
        ("text.ircv3.net", Some("text.ircv3.net")),
        ("binary.ircv3.net", Some("binary.ircv3.net")),
        ("binary.ircv3.net, text.ircv3.net", Some("binary.ircv3.net")),
        ("chat, text.ircv3.net", Some("text.ircv3.net")),
    ] {
        let (_, protocol) = open(server.http, "/ws", &[("sec-websocket-protocol", offered)])
            .await
            .expect("upgrade");
        assert_eq!(protocol.as_deref(), chosen, "offered {offered}");
    }
    let (_, protocol) = open(server.http, "/", &[]).await.expect("upgrade at /");
    assert_eq!(protocol, None);

    // Binary: lines arrive as binary messages, and may carry any bytes.
    let (mut ws, _) = open(
        server.http,
        "/",
        &[("sec-websocket-protocol", "binary.ircv3.net")],
    )
    .await
    .expect("upgrade");
    ws.send(WsMessage::binary(Bytes::from_static(b"PING :\xffraw")))
        .await
        .unwrap();
    let pong = loop {
        match within("the PONG", ws.next()).await.unwrap().unwrap() {
            WsMessage::Binary(bytes) => break bytes,
            WsMessage::Ping(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    let pong = Message::parse(&pong).expect("an IRC line");
    assert_eq!(pong.command, "PONG");
    assert_eq!(pong.param(1), Some("\u{fffd}raw"));
    server.stop().await;
}

#[tokio::test]
async fn other_origins_are_refused_unless_allowed() {
    let server = Server::start(WebConfig::default()).await;
    let own = format!("http://{}", server.http);
    assert!(open(server.http, "/ws", &[("origin", &own)]).await.is_ok());
    assert_eq!(
        open(server.http, "/ws", &[("origin", "http://evil.test")])
            .await
            .err(),
        Some(403)
    );
    // No Origin: not a browser, allowed.
    assert!(open(server.http, "/ws", &[]).await.is_ok());
    server.stop().await;

    let server = Server::start(WebConfig {
        allowed_origins: vec!["https://chat.example.com".to_string()],
    })
    .await;
    assert!(
        open(
            server.http,
            "/ws",
            &[("origin", "https://chat.example.com")]
        )
        .await
        .is_ok()
    );
    let own = format!("http://{}", server.http);
    assert_eq!(
        open(server.http, "/ws", &[("origin", &own)]).await.err(),
        Some(403)
    );
    server.stop().await;
}

#[tokio::test]
async fn long_lines_get_417_and_huge_messages_close_the_connection() {
    let server = Server::start(WebConfig::default()).await;
    let mut web = WebClient::register(server.http, "webby").await;
    // Over the IRC limit but within the WebSocket one: 417, and it goes on.
    web.send(&format!("PRIVMSG #c :{}", "x".repeat(600))).await;
    web.skip_to("417").await;
    web.send("PING :still here").await;
    assert_eq!(web.skip_to("PONG").await.param(1), Some("still here"));
    // Over the WebSocket limit: closed with 1009.
    web.send(&"y".repeat(64 * 1024)).await;
    assert_eq!(web.close_code().await, CloseCode::Size);
    server.stop().await;
}

#[tokio::test]
async fn web_and_tcp_clients_share_a_channel_and_metrics_count_them() {
    let server = Server::start(WebConfig::default()).await;
    let mut web = WebClient::register(server.http, "webby").await;
    let mut tcp = Client::register(server.irc, "tcpy").await;
    web.send("JOIN #both").await;
    web.skip_to("366").await;
    tcp.join("#both").await;
    web.skip_to("JOIN").await;
    tcp.send("PRIVMSG #both :hello from tcp").await;
    let heard = web.skip_to("PRIVMSG").await;
    assert_eq!(heard.param(1), Some("hello from tcp"));
    web.send("PRIVMSG #both :hello from the web").await;
    assert_eq!(tcp.next_text().await, "hello from the web");

    let (head, metrics) = get(server.http, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let sample = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(sample("netkit_chat_clients{transport=\"websocket\"}"), 1.0);
    assert_eq!(sample("netkit_chat_clients{transport=\"tcp\"}"), 1.0);
    assert_eq!(sample("netkit_chat_channels "), 1.0);
    assert_eq!(sample("netkit_chat_messages_total "), 2.0);
    assert_eq!(sample("netkit_chat_deliveries_total "), 2.0);

    // Leaving counts by reason.
    web.send("QUIT :bye").await;
    assert_eq!(web.close_code().await, CloseCode::Normal);
    tcp.skip_to_any(&["QUIT"]).await;
    let (_, metrics) = get(server.http, "/metrics").await;
    assert!(
        metrics.contains("netkit_chat_disconnects_total{reason=\"quit\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("netkit_chat_clients{transport=\"websocket\"} 0"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_tells_web_clients_and_closes_with_going_away() {
    let server = Server::start(WebConfig::default()).await;
    let mut web = WebClient::register(server.http, "webby").await;
    server.task.shutdown.cancel();
    let error = web.skip_to("ERROR").await;
    assert_eq!(error.param(0), Some("Server shutting down"));
    assert_eq!(web.close_code().await, CloseCode::Away);
    server.stop().await;
}

#[tokio::test]
async fn the_page_health_and_plain_http() {
    let server = Server::start(WebConfig::default()).await;
    let (head, body) = get(server.http, "/").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let head = head.to_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(body.contains("<script src=\"/app.js\""), "{body}");
    let (head, _) = get(server.http, "/app.js").await;
    assert!(
        head.to_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    let (head, body) = get(server.http, "/healthz").await;
    assert!(
        head.starts_with("HTTP/1.1 200") && body == "ok\n",
        "{head}\n{body}"
    );
    let (head, _) = get(server.http, "/nowhere").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    server.stop().await;
}

#[tokio::test]
async fn websockets_work_over_https() {
    let tcp = netkit::net::bind_tcp("127.0.0.1:0".parse().unwrap(), 128)
        .await
        .unwrap();
    let addr = tcp.local_addr().unwrap();
    let acceptor =
        netkit::net::TlsAcceptor::from_pem_files(&data("localhost.pem"), &data("localhost.key"))
            .expect("the test certificate loads");
    let task = ChatTask::spawn(
        ChatServer::new(ChatConfig::default()),
        vec![Listener::http(tcp, Some(acceptor))],
    );
    let stream = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = within("the TLS handshake", connector().connect(name, stream))
        .await
        .expect("TLS");
    let request = format!("wss://localhost:{}/ws", addr.port())
        .into_client_request()
        .unwrap();
    let (mut ws, _) = within("the upgrade", client_async(request, tls))
        .await
        .expect("upgrade");
    ws.send(WsMessage::text("PING :secure")).await.unwrap();
    let pong = loop {
        match within("the PONG", ws.next()).await.unwrap().unwrap() {
            WsMessage::Text(text) => break Message::parse(text.as_bytes()).unwrap(),
            _ => continue,
        }
    };
    assert_eq!(pong.param(1), Some("secure"));
    task.stop().await;
}
