//! Raw IRC over TCP for the chat tests: the library's server on a task, and a
//! client that sends and reads lines, with every wait bounded by
//! [`PATIENCE`](super::PATIENCE).
//!
//! To prove that something did *not* arrive, a client sends `PING :sync` and
//! checks that the PONG is the next line: replies come in command order, so
//! anything owed before it would come first.

use std::net::SocketAddr;

use netkit::chat::history::History;
use netkit::chat::irc::Message;
use netkit::chat::{ChatConfig, ChatServer, Summary};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use super::within;

/// `ChatServer::serve` on a task, over one listener on a free port.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<Summary>,
}

impl Server {
    pub async fn start(config: ChatConfig) -> Server {
        Server::serve(ChatServer::new(config)).await
    }

    /// A server that keeps history in `store`.
    pub async fn with_history(config: ChatConfig, store: Box<dyn History>) -> Server {
        let server = ChatServer::with_history(config, store).expect("history thread");
        Server::serve(server).await
    }

    async fn serve(server: ChatServer) -> Server {
        let listener = netkit::net::bind_tcp("127.0.0.1:0".parse().expect("address"), 128)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local address");
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let serving =
            tokio::spawn(server.serve(vec![listener], async move { signal.cancelled().await }));
        Server {
            addr,
            shutdown,
            serving,
        }
    }

    pub async fn default() -> Server {
        Server::start(ChatConfig::default()).await
    }

    /// Starts the shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    pub async fn stop(self) -> Summary {
        self.shutdown.cancel();
        within("serve() returning", self.serving)
            .await
            .expect("the server task panicked")
    }
}

/// An IRC client that speaks raw lines.
pub struct Client {
    pub nick: String,
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = within("connecting", TcpStream::connect(addr))
            .await
            .expect("connect");
        Client::over(stream)
    }

    pub fn over(stream: TcpStream) -> Client {
        let (read, writer) = stream.into_split();
        Client {
            nick: "*".to_string(),
            reader: BufReader::new(read),
            writer,
        }
    }

    /// Connects and registers as `nick`, reading the whole welcome burst.
    pub async fn register(addr: SocketAddr, nick: &str) -> Client {
        let mut client = Client::connect(addr).await;
        client.send(&format!("NICK {nick}")).await;
        client.send(&format!("USER {nick} 0 * :The {nick}")).await;
        client.expect("001").await;
        client.skip_to_any(&["376", "422"]).await;
        client.nick = nick.to_string();
        client
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        within("sending", self.writer.write_all(bytes))
            .await
            .expect("send");
    }

    /// The next line, or `None` at end of stream.
    pub async fn line(&mut self) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        let what = format!("{}: reading a line", self.nick);
        match within(&what, self.reader.read_until(b'\n', &mut line)).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        }
    }

    /// The next message; panics at end of stream.
    pub async fn next(&mut self) -> Message {
        let line = self
            .line()
            .await
            .unwrap_or_else(|| panic!("{}: connection closed", self.nick));
        assert!(
            line.ends_with(b"\r\n"),
            "{}: line without CR LF: {line:?}",
            self.nick
        );
        Message::parse(&line).unwrap_or_else(|e| panic!("{}: unparseable {line:?}: {e}", self.nick))
    }

    /// The next message, or `None` at the end of the stream.
    pub async fn try_next(&mut self) -> Option<Message> {
        read_message(&mut self.reader, &self.nick).await
    }

    /// The text of the next PRIVMSG or NOTICE, skipping anything else.
    pub async fn next_text(&mut self) -> String {
        let message = self.skip_to_any(&["PRIVMSG", "NOTICE"]).await;
        message.param(1).expect("text").to_string()
    }

    /// The next message, which must have this command.
    pub async fn expect(&mut self, command: &str) -> Message {
        let message = self.next().await;
        assert_eq!(
            message.command,
            command,
            "{}: got {}",
            self.nick,
            message.to_line()
        );
        message
    }

    /// Reads until a message with one of these commands, returning it.
    pub async fn skip_to_any(&mut self, commands: &[&str]) -> Message {
        loop {
            let message = self.next().await;
            if commands.contains(&message.command.as_str()) {
                return message;
            }
        }
    }

    /// Sends `PING :sync` and expects its PONG as the very next line: nothing
    /// else was owed to this client before it.
    pub async fn assert_nothing_pending(&mut self) {
        self.send("PING :sync").await;
        let pong = self.next().await;
        assert_eq!(
            (
                pong.command.as_str(),
                pong.params.last().map(String::as_str)
            ),
            ("PONG", Some("sync")),
            "{}: expected only the PONG, got {}",
            self.nick,
            pong.to_line()
        );
    }

    /// Expects `ERROR :TEXT` and then the end of the stream.
    pub async fn expect_error_and_close(&mut self, text: &str) {
        let error = self.skip_to_any(&["ERROR"]).await;
        assert_eq!(error.param(0), Some(text), "{}", error.to_line());
        assert!(
            self.line().await.is_none(),
            "{}: still open after ERROR",
            self.nick
        );
    }

    /// Joins and reads up to the end of NAMES, skipping what others do meanwhile.
    pub async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        loop {
            let message = self.next().await;
            if message.command == "JOIN"
                && nick_of(&message) == self.nick
                && message.param(0).map(str::to_lowercase) == Some(channel.to_lowercase())
            {
                break;
            }
        }
        self.skip_to_any(&["366"]).await;
    }
}

/// The nick in a `nick!user@host` source.
pub fn nick_of(message: &Message) -> &str {
    let source = message.source.as_deref().unwrap_or("");
    source.split('!').next().unwrap_or(source)
}

/// Asserts a numeric's code and its parameters after the addressee.
pub fn assert_numeric(message: &Message, code: &str, params: &[&str]) {
    assert_eq!(message.command, code, "{}", message.to_line());
    let rest: Vec<&str> = message.params.iter().skip(1).map(String::as_str).collect();
    assert_eq!(
        &rest[..params.len().min(rest.len())],
        params,
        "{}",
        message.to_line()
    );
}

/// The next message on `reader`, or `None` at the end of the stream.
pub async fn read_message(reader: &mut BufReader<OwnedReadHalf>, nick: &str) -> Option<Message> {
    let mut line = Vec::new();
    match within(
        &format!("{nick}: reading"),
        reader.read_until(b'\n', &mut line),
    )
    .await
    {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(Message::parse(&line).expect("a valid line from the server")),
    }
}

/// `netkit chat serve --irc 127.0.0.1:0 --db :memory: [EXTRA]` (or a cluster
/// node) as a child process, once its ready lines are read: IRC only, or IRC
/// and HTTP.
pub struct ChatServeProcess {
    pub netkit: super::Netkit,
    pub addr: SocketAddr,
    /// The web front door's address, when started with one.
    pub http: Option<SocketAddr>,
}

impl ChatServeProcess {
    /// IRC only (`--http off`).
    pub fn start(extra: &[&str]) -> ChatServeProcess {
        ChatServeProcess::spawn(&["--db", ":memory:"], &["--http", "off"], extra)
    }

    /// IRC and the web front door, both on free ports.
    pub fn with_web(extra: &[&str]) -> ChatServeProcess {
        ChatServeProcess::spawn(&["--db", ":memory:"], &["--http", "127.0.0.1:0"], extra)
    }

    /// A node of the cluster on the Redis at `redis`, named `name`, with IRC
    /// and the web front door; flood control off.
    pub fn node(redis: &str, name: &str) -> ChatServeProcess {
        ChatServeProcess::node_with_env(redis, name, &[])
    }

    /// A node, with these environment variables set.
    pub fn node_with_env(
        redis: &str,
        name: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> ChatServeProcess {
        let store = ["--redis", redis, "--node", name];
        let web = ["--http", "127.0.0.1:0"];
        ChatServeProcess::spawn_with_env(&store, &web, &["--flood", "off"], env)
    }

    fn spawn(store: &[&str], http: &[&str], extra: &[&str]) -> ChatServeProcess {
        ChatServeProcess::spawn_with_env(store, http, extra, &[])
    }

    fn spawn_with_env(
        store: &[&str],
        http: &[&str],
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> ChatServeProcess {
        let mut args = vec!["chat", "serve", "--irc", "127.0.0.1:0"];
        args.extend_from_slice(store);
        args.extend_from_slice(http);
        args.extend_from_slice(extra);
        let mut netkit = super::Netkit::spawn_with_env(&args, env);
        let addr = ready_addr(&netkit.line(), "irc");
        let http = (http[1] != "off").then(|| ready_addr(&netkit.line(), "http"));
        ChatServeProcess { netkit, addr, http }
    }
}

/// The address in a server's ready line, `listening KIND ADDR`.
pub fn ready_addr(line: &str, kind: &str) -> SocketAddr {
    line.strip_prefix(&format!("listening {kind} "))
        .and_then(|addr| addr.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
}
