//! IRC over TLS (`--ircs`): TLS clients trusting tests/data's CA and plain TCP
//! clients on one server, a client that never finishes its handshake, shutdown,
//! and the binary's handling of the certificate options.
//!
//! Every wait is bounded by `common::PATIENCE`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use netkit::chat::irc::Message;
use netkit::chat::{ChatConfig, ChatServer, Listener, Summary};
use netkit::net::TlsAcceptor;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;

use common::tls::{connector, data};
use common::{ChatTask, Netkit, within};

fn data_str(name: &str) -> String {
    data(name).to_str().expect("UTF-8 path").to_string()
}

/// A plain and a TLS listener on free ports, one `ChatServer` behind both.
struct Server {
    plain: SocketAddr,
    tls: SocketAddr,
    task: ChatTask,
}

impl Server {
    async fn start(config: ChatConfig) -> Server {
        let bind = || netkit::net::bind_tcp("127.0.0.1:0".parse().expect("address"), 128);
        let plain = bind().await.expect("bind");
        let tls = bind().await.expect("bind");
        let (plain_addr, tls_addr) = (plain.local_addr().unwrap(), tls.local_addr().unwrap());
        let acceptor = TlsAcceptor::from_pem_files(&data("localhost.pem"), &data("localhost.key"))
            .expect("the test certificate loads");
        let listeners = vec![Listener::plain(plain), Listener::tls(tls, acceptor)];
        Server {
            plain: plain_addr,
            tls: tls_addr,
            task: ChatTask::spawn(ChatServer::new(config), listeners),
        }
    }

    async fn stop(self) -> Summary {
        self.task.stop().await
    }
}

type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// An IRC client over either transport, speaking raw lines.
struct Client {
    nick: String,
    reader: Reader,
    writer: Writer,
}

impl Client {
    async fn plain(addr: SocketAddr) -> Client {
        let stream = within("connecting", TcpStream::connect(addr))
            .await
            .expect("connect");
        let (read, write) = stream.into_split();
        Client::over(Box::new(read), Box::new(write))
    }

    async fn tls(addr: SocketAddr) -> Client {
        Client::try_tls(addr)
            .await
            .expect("the handshake succeeds with the test CA")
    }

    /// Connects and shakes hands; the handshake's error if it fails.
    async fn try_tls(addr: SocketAddr) -> std::io::Result<Client> {
        let tcp = within("connecting", TcpStream::connect(addr))
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = within("the TLS handshake", connector().connect(name, tcp)).await?;
        let (read, write) = tokio::io::split(tls);
        Ok(Client::over(Box::new(read), Box::new(write)))
    }

    fn over(read: Box<dyn AsyncRead + Unpin + Send>, writer: Writer) -> Client {
        Client {
            nick: "*".to_string(),
            reader: BufReader::new(read),
            writer,
        }
    }

    /// Registers as `nick` and reads the welcome up to the end of the MOTD.
    async fn register(mut self, nick: &str) -> Client {
        self.nick = nick.to_string();
        self.send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}"))
            .await;
        self.wait_for("001").await;
        self.wait_for("422").await;
        self
    }

    async fn send(&mut self, lines: &str) {
        let bytes = format!("{lines}\r\n");
        within("sending", async {
            self.writer.write_all(bytes.as_bytes()).await?;
            self.writer.flush().await
        })
        .await
        .expect("send");
    }

    /// The next message, or `None` once the server has closed.
    async fn next(&mut self) -> Option<Message> {
        let mut line = Vec::new();
        let what = format!("{}: reading a line", self.nick);
        match within(&what, self.reader.read_until(b'\n', &mut line)).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(Message::parse(&line).expect("a well-formed line")),
        }
    }

    /// Skips to the next message with this command.
    async fn wait_for(&mut self, command: &str) -> Message {
        loop {
            match self.next().await {
                Some(message) if message.command == command => return message,
                Some(_) => {}
                None => panic!("{}: closed while waiting for {command}", self.nick),
            }
        }
    }

    async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        self.wait_for("366").await;
    }
}

#[tokio::test]
async fn tls_and_plain_clients_share_a_channel() {
    let server = Server::start(ChatConfig::default()).await;
    let mut secure = Client::tls(server.tls).await.register("secure").await;
    let mut plain = Client::plain(server.plain).await.register("plain").await;
    secure.join("#both").await;
    plain.join("#both").await;
    let joined = secure.wait_for("JOIN").await;
    assert!(joined.source.unwrap().starts_with("plain!"));

    secure.send("PRIVMSG #both :hello from TLS").await;
    let got = plain.wait_for("PRIVMSG").await;
    assert_eq!(got.params, ["#both", "hello from TLS"]);
    assert!(got.source.unwrap().starts_with("secure!"));

    plain.send("PRIVMSG #both :hello from TCP").await;
    plain.send("PRIVMSG secure :and in private").await;
    let got = secure.wait_for("PRIVMSG").await;
    assert_eq!(got.params, ["#both", "hello from TCP"]);
    let got = secure.wait_for("PRIVMSG").await;
    assert_eq!(got.params, ["secure", "and in private"]);

    let summary = server.stop().await;
    assert_eq!(summary.connections, 2);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_does_not_block_others() {
    let server = Server::start(ChatConfig::default()).await;
    // The first bytes of a ClientHello, and then nothing.
    let mut stalled = TcpStream::connect(server.tls).await.expect("connect");
    stalled.write_all(&[0x16, 0x03, 0x01]).await.expect("send");
    let _silent = TcpStream::connect(server.tls).await.expect("connect");
    // Others are accepted, shake hands and talk meanwhile.
    let mut alice = Client::tls(server.tls).await.register("alice").await;
    let mut bob = Client::tls(server.tls).await.register("bob").await;
    alice.send("PRIVMSG bob :still here").await;
    assert_eq!(bob.wait_for("PRIVMSG").await.params, ["bob", "still here"]);
    // The stalled ones are still waiting (their deadline is 10s), not refused.
    let mut byte = [0u8; 1];
    let open = tokio::time::timeout(Duration::from_millis(100), stalled.read(&mut byte)).await;
    assert!(open.is_err(), "the stalled client was answered: {open:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_handshake_is_given_up_after_the_deadline() {
    // The handshake deadline is the registration timeout when that is shorter.
    // One slot, which the stalled client holds until it is given up.
    let server = Server::start(ChatConfig {
        registration_timeout: Duration::from_millis(500),
        max_clients: 1,
        ..ChatConfig::default()
    })
    .await;
    let mut stalled = TcpStream::connect(server.tls).await.expect("connect");
    stalled.write_all(&[0x16, 0x03, 0x01]).await.expect("send");
    let mut rest = Vec::new();
    // Closed by the server: end of stream (or a reset), and no bytes for us.
    let read = within("the server closing", stalled.read_to_end(&mut rest)).await;
    assert!(rest.is_empty() || read.is_err(), "{rest:?}");
    // The slot is given back: a good client gets in and is served. (The server
    // closes the socket just before it releases the slot, so an attempt right
    // after the close may still find it taken.)
    let mut client = within("a client getting the slot", async {
        loop {
            if let Ok(client) = Client::try_tls(server.tls).await {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    client.send("PING :served").await;
    assert_eq!(client.wait_for("PONG").await.param(1), Some("served"));
    let summary = server.stop().await;
    assert_eq!(summary.connections, 2, "{summary:?}");
}

#[tokio::test]
async fn a_tls_client_over_the_limit_is_closed_and_the_others_stay() {
    let server = Server::start(ChatConfig {
        max_clients: 1,
        ..ChatConfig::default()
    })
    .await;
    let mut first = Client::tls(server.tls).await.register("first").await;
    let refused = Client::try_tls(server.tls).await;
    assert!(refused.is_err(), "a handshake over the limit succeeded");
    first.send("PING :still-here").await;
    assert_eq!(first.wait_for("PONG").await.param(1), Some("still-here"));
    let summary = server.stop().await;
    assert_eq!((summary.connections, summary.rejected), (1, 1));
}

#[tokio::test]
async fn tls_clients_are_told_when_the_server_shuts_down() {
    let server = Server::start(ChatConfig::default()).await;
    let mut secure = Client::tls(server.tls).await.register("secure").await;
    server.task.shutdown.cancel();
    let error = secure.wait_for("ERROR").await;
    assert_eq!(error.param(0), Some("Server shutting down"));
    assert!(secure.next().await.is_none(), "still open after ERROR");
    server.stop().await;
}

// ----------------------------------------------------------------------------
// The binary
// ----------------------------------------------------------------------------

/// The address in a ready line of this kind.
fn ready_addr(line: &str, kind: &str) -> SocketAddr {
    line.strip_prefix(&format!("listening {kind} "))
        .and_then(|addr| addr.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected a `listening {kind}` line, got {line:?}"))
}

#[tokio::test]
async fn the_binary_serves_ircs_next_to_irc() {
    let (cert, key) = (data_str("localhost.pem"), data_str("localhost.key"));
    let mut netkit = Netkit::spawn(&[
        "chat",
        "serve",
        "--http",
        "off",
        "--db",
        ":memory:",
        "--irc",
        "127.0.0.1:0",
        "--ircs",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ]);
    let plain = ready_addr(&netkit.line(), "irc");
    let tls = ready_addr(&netkit.line(), "ircs");
    let mut secure = Client::tls(tls).await.register("secure").await;
    let mut other = Client::plain(plain).await.register("other").await;
    other.send("PRIVMSG secure :hi").await;
    assert_eq!(secure.wait_for("PRIVMSG").await.params, ["secure", "hi"]);

    let finished = tokio::task::spawn_blocking(move || netkit.terminate());
    let error = secure.wait_for("ERROR").await;
    assert_eq!(error.param(0), Some("Server shutting down"));
    let finished = within("the binary exiting", finished).await.expect("join");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

/// `netkit chat serve ARGS` must fail at once with exit code 2 and one error line
/// containing every one of `needles`.
fn assert_bad_usage(args: &[&str], needles: &[&str]) {
    let mut all = vec!["chat", "serve", "--db", ":memory:"];
    all.extend_from_slice(args);
    let finished = Netkit::run(&all, b"");
    assert_eq!(finished.code(), Some(2), "{finished:?}");
    assert!(finished.stdout.is_empty(), "a ready line: {finished:?}");
    for needle in needles {
        assert!(finished.stderr.contains(needle), "{needle:?}: {finished:?}");
    }
}

#[test]
fn ircs_without_a_certificate_is_bad_usage() {
    assert_bad_usage(
        &["--ircs", "127.0.0.1:0"],
        &["--ircs needs a certificate", "--tls-cert", "--tls-key"],
    );
    // One of the pair is not enough either.
    assert_bad_usage(
        &[
            "--ircs",
            "127.0.0.1:0",
            "--tls-cert",
            &data_str("localhost.pem"),
        ],
        &["--tls-key"],
    );
    // And a certificate with nothing to use it on is a mistake worth saying.
    assert_bad_usage(
        &[
            "--tls-cert",
            &data_str("localhost.pem"),
            "--tls-key",
            &data_str("localhost.key"),
        ],
        &["add --ircs"],
    );
}

#[test]
fn unusable_certificate_files_are_named() {
    let key = data_str("localhost.key");
    let missing = data_str("no-such-cert.pem");
    assert_bad_usage(
        &[
            "--ircs",
            "127.0.0.1:0",
            "--tls-cert",
            &missing,
            "--tls-key",
            &key,
        ],
        &["cannot read the TLS certificate", &missing, "such file"],
    );
    // A key where the certificate should be.
    assert_bad_usage(
        &[
            "--ircs",
            "127.0.0.1:0",
            "--tls-cert",
            &key,
            "--tls-key",
            &key,
        ],
        &["no certificate in", &key],
    );
}
