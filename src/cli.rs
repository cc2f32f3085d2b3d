//! Command-line definitions (clap). Parsing only: main.rs runs what is parsed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use netkit::chat::FloodLimit;
use netkit::net::{parse_duration, parse_listen_addr, parse_size};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the work ran but something failed (a refused connection, a timeout, an echo mismatch)
  2  bad usage or input (unknown flag, bad address, a port already in use)";

#[derive(Debug, Parser)]
#[command(name = "netkit", version, about = "Asynchronous network services and tools: echo server and clients, an IRC chat server, a concurrent URL fetcher, and the load generators that measure them.", after_help = EXIT_CODES)]
pub struct Cli {
    /// More log detail on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// RFC 862 echo: the server and the one-shot client.
    #[command(subcommand)]
    Echo(EchoCommand),
    /// Interactive client, like netcat: stdin goes to the socket, the socket to stdout.
    #[command(after_help = EXIT_CODES)]
    Connect(ConnectArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
    #[command(after_help = EXIT_CODES)]
    Fetch(FetchArgs),
    /// IRC chat: the server and a terminal client.
    #[command(subcommand)]
    Chat(ChatCommand),
}

#[derive(Debug, Subcommand)]
pub enum EchoCommand {
    #[command(after_help = EXIT_CODES)]
    Serve(EchoServeArgs),
    /// Send one message, print its echo, check it came back unchanged.
    #[command(after_help = EXIT_CODES)]
    Send(EchoSendArgs),
}

/// Serve RFC 862 echo over TCP and UDP until SIGINT or SIGTERM.
#[derive(Debug, Args)]
#[command(
    long_about = "Serve RFC 862 echo over TCP and UDP until SIGINT or SIGTERM.\n\n\
For each bound socket a ready line `listening tcp ADDR` (or `udp`) is printed on stdout. \
Port 0 picks a free port. On SIGINT/SIGTERM the server stops accepting, lets open \
connections finish for up to --grace, prints a summary to stderr and exits 0."
)]
pub struct EchoServeArgs {
    /// TCP address to serve on; repeat for several (IPv4 or [IPv6]:port). Default 127.0.0.1:8888 when no --tcp or --udp is given.
    #[arg(long = "tcp", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub tcp: Vec<SocketAddr>,
    /// UDP address to serve on; repeat for several.
    #[arg(long = "udp", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub udp: Vec<SocketAddr>,
    /// Connections served at once; one over the limit is closed as soon as it is accepted.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Close a connection with no traffic for this long (e.g. 30s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DUR")]
    pub idle_timeout: Duration,
    /// On shutdown, how long open connections may still run.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DUR")]
    pub grace: Duration,
    /// Listen queue length, so bursts of new connections are queued, not retried.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub backlog: u32,
}

#[derive(Debug, Args)]
pub struct EchoSendArgs {
    /// Server address, HOST:PORT.
    pub addr: String,
    /// The message; standard input when absent.
    pub message: Option<String>,
    /// Send one UDP datagram instead of using TCP.
    #[arg(long)]
    pub udp: bool,
    /// Give up when the whole exchange takes longer than this.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Server address, HOST:PORT.
    pub addr: String,
    /// UDP: each line of stdin is one datagram; replies go to stdout.
    #[arg(long)]
    pub udp: bool,
    /// How long connecting may take.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
    /// UDP only: after stdin ends, exit once no reply came for this long.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DUR")]
    pub wait: Duration,
}

/// Options every load generator takes.
#[derive(Debug, Args)]
pub struct BenchRunArgs {
    /// Worker threads (default: the CPUs this process may run on).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Print one JSON object on stdout instead of the text report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    #[command(after_help = EXIT_CODES)]
    Echo(BenchEchoArgs),
    #[command(after_help = EXIT_CODES)]
    Chat(BenchChatArgs),
}

/// Load an echo server (netkit's or any other) and measure it.
#[derive(Debug, Args)]
#[command(
    long_about = "Load an echo server (netkit's or any other) and measure it.\n\n\
Ping-pong (default): each connection sends SIZE bytes, waits for the same SIZE bytes back, \
checks them, and repeats. --churn: each operation connects, sends `Hello, server!`, reads \
the echo and closes. --idle: open the connections, check each with one echo, hold them for \
the duration. Any echo that differs from what was sent is a mismatch, and exits 1."
)]
pub struct BenchEchoArgs {
    /// Server address, HOST:PORT.
    pub addr: String,
    /// Concurrent connections (churn: concurrent connect-echo-close loops).
    #[arg(short, long, default_value_t = 50, value_name = "N")]
    pub connections: usize,
    /// Payload per round trip (e.g. 1024, 1KiB, 64KiB).
    #[arg(short, long, default_value = "1KiB", value_parser = parse_size, value_name = "BYTES")]
    pub size: u64,
    /// How long to measure (idle: how long to hold the connections).
    #[arg(short, long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub duration: Duration,
    /// Pace at R operations/s in total; latency counts from the intended send time.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Connect, echo `Hello, server!`, close, repeatedly; reports connections/s.
    #[arg(long, conflicts_with = "idle")]
    pub churn: bool,
    /// Open the connections and hold them idle; with --server-pid, reports server memory per connection.
    #[arg(long)]
    pub idle: bool,
    /// Sample this server process's CPU time and memory (from /proc) over the measurement.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    pub run: BenchRunArgs,
}

/// Load an IRC server (netkit's or any other) with channel fan-out and measure it.
#[derive(Debug, Args)]
#[command(
    long_about = "Load an IRC server (netkit's or any other) with channel fan-out and measure it.\n\n\
N clients register and join one channel; once all have joined, S of them send \
`PRIVMSG CHAN :<sender> <seq> <nanos> <padding>` for the duration and every client counts \
what it receives. Reports deliveries/s (a delivery is one message received by one client), \
latency from the send time carried in each message, and losses: deliveries expected minus \
received once a grace period has passed. Without --rate each sender stays at most --window \
messages ahead of what one receiver has seen, which measures saturation throughput with \
bounded queues. --idle: the clients only register, join and stay connected for the \
duration, answering PINGs; with --server-pid the report gives the server's memory per \
idle client. --ws: the clients speak IRC over WebSocket (ws://ADDR/ws, one line per \
message), as web users do. Several addresses (the nodes of a cluster, one channel \
spanning them) share the clients round-robin, senders included: client i connects to \
the address at i modulo their number, and every client is still owed every line. \
Against a loopback server the clients connect from 127.0.0.1-64. A server \
with flood control must have it off. Any loss, duplicate, reordering or damaged message, \
or a client that could not join (or, idle, was dropped), exits 1."
)]
pub struct BenchChatArgs {
    /// Server address, HOST:PORT; several (a cluster's nodes) share the clients round-robin.
    #[arg(value_name = "ADDR", required = true)]
    pub addrs: Vec<String>,
    /// Clients that register and join the channel.
    #[arg(short, long, default_value_t = 100, value_name = "N")]
    pub clients: usize,
    /// How many of the clients send.
    #[arg(short = 'S', long, default_value_t = 10, value_name = "S")]
    pub senders: usize,
    /// The channel to join.
    #[arg(long, default_value = "#bench", value_name = "CHAN")]
    pub channel: String,
    /// Pace at R lines/s in total; latency counts from the intended send time.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Bytes of message text (at least the numbers it carries, about 20).
    #[arg(short, long, default_value = "64", value_parser = parse_size, value_name = "BYTES")]
    pub size: u64,
    /// How long the senders send.
    #[arg(short, long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub duration: Duration,
    /// Without --rate: messages a sender may be ahead of what a probe receiver has seen.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub window: usize,
    /// After sending ends, how long to wait for messages still on their way.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DUR")]
    pub grace: Duration,
    /// Hold the clients idle for the duration; with --server-pid, reports server memory per client.
    #[arg(long, conflicts_with_all = ["senders", "rate"])]
    pub idle: bool,
    /// With --idle: clients per channel (CHAN, then CHAN-1, CHAN-2, ...); default all in one.
    #[arg(long, requires = "idle", value_name = "N")]
    pub members: Option<usize>,
    /// Clients that connect, register and join at once (few for a short listen backlog).
    #[arg(long, default_value_t = netkit::bench::chat::SETUP_PARALLEL, value_name = "N")]
    pub setup_parallel: usize,
    /// Connect as web users do: IRC over WebSocket at ws://ADDR/ws (ADDR is then the HTTP address).
    #[arg(long)]
    pub ws: bool,
    /// Sample this server process's CPU time and memory (from /proc) over the measurement;
    /// repeat for several (one per node, or redis-server too): the report sums them.
    #[arg(long = "server-pid", value_name = "PID")]
    pub server_pids: Vec<u32>,
    #[command(flatten)]
    pub run: BenchRunArgs,
}

/// Fetch many URLs at once: limits, retries, files, a JSON-lines report.
#[derive(Debug, Args)]
#[command(
    long_about = "Fetch many URLs at once: limits, retries, files, a JSON-lines report.\n\n\
URLs come from the arguments and from -i FILE (one per line, blank lines and # comments \
skipped; - for standard input), read as the run goes. Without -o each result is printed \
as it completes: a header line `==> URL (200, 5.1 KiB, 12 ms)`, then the body. With -o \
bodies are saved under DIR, named from the URL (host_port/path), each appearing under its \
final name only once complete. http:// URLs go over netkit's own HTTP/1.1 client with \
keep-alive connections; https:// speaks HTTP/2 or HTTP/1.1 as ALPN decides; http_proxy, \
https_proxy, all_proxy and no_proxy are honoured. Connection errors, timeouts, 429 and 5xx are retried with \
exponential backoff and jitter (Retry-After is the minimum wait); a failure never stops \
the run. A summary goes to stderr (--json: one object on stdout). Ctrl-C cancels what is \
in flight, keeps partial downloads for --resume, and still writes the report and summary.\n\n\
Exit 0 when every URL succeeded, 1 when any failed or was cancelled, 2 for bad usage."
)]
pub struct FetchArgs {
    /// URLs to fetch (http or https).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,
    /// Also fetch the URLs in FILE, one per line; `-` reads standard input.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<String>,
    /// Requests in flight at once.
    #[arg(short, long, default_value_t = 64, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
    /// Requests in flight at once to one host (host and port).
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub per_host: u32,
    /// Requests started per second to one host: `10`, `10/s`, `30/m`.
    #[arg(long, value_parser = parse_rate, value_name = "N/s")]
    pub rate: Option<f64>,
    /// Longest wait for a response, and between two pieces of its body.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
    /// Longest a connection (and TLS handshake) may take to set up.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub connect_timeout: Duration,
    /// Retries per URL after the first attempt.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,
    /// Save bodies under DIR instead of printing them.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Write one JSON object per URL to FILE as each completes.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print results in input order (still as early as possible); a slow URL
    /// holds back at most twice --jobs others.
    #[arg(long)]
    pub ordered: bool,
    /// With -o: keep files already saved, continue partial ones with a Range request.
    #[arg(long, requires = "output")]
    pub resume: bool,
    /// Fail a URL whose body is larger than this (e.g. 10MiB).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_size: Option<u64>,
    /// A request header, `Name: value`; repeat for several.
    #[arg(short = 'H', long = "header", value_parser = parse_header, value_name = "HEADER")]
    pub headers: Vec<(String, String)>,
    /// The User-Agent header (default netkit/VERSION).
    #[arg(long, value_name = "S")]
    pub user_agent: Option<String>,
    /// Also trust the certificates in this PEM file (a private CA); repeat for several.
    #[arg(long = "ca-cert", value_name = "PEM")]
    pub ca_certs: Vec<std::path::PathBuf>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `10`, `10/s`, `30/m`, `0.5/s`: requests per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    let (number, per) = match text.split_once('/') {
        Some((number, unit)) => (number, unit.trim()),
        None => (text, "s"),
    };
    let seconds = match per {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "invalid rate {text:?}: expected N, N/s, N/m or N/h"
            ));
        }
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n / seconds),
        _ => Err(format!(
            "invalid rate {text:?}: expected a positive number, like 10/s"
        )),
    }
}

/// `Name: value`.
fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("invalid header {text:?}: expected `Name: value`")),
    }
}

#[derive(Debug, Subcommand)]
pub enum ChatCommand {
    /// Serve IRC (RFC 1459/2812 core) until SIGINT or SIGTERM.
    #[command(
        after_help = EXIT_CODES,
    long_about = "Serve IRC (RFC 1459/2812 core) until SIGINT or SIGTERM.\n\n\
For each bound socket a ready line `listening irc ADDR` (or `listening ircs ADDR` for \
TLS, `listening http ADDR` and `listening https ADDR` for the web front door) is printed \
on stdout. Port 0 picks a free port. Any IRC client can connect; browsers open the page \
at http://ADDR/ and chat over a WebSocket; plain, TLS and web clients share the same \
channels; `/HELP` lists the commands the server knows. --ircs and --https need \
--tls-cert and --tls-key (PEM files, read at start; a missing or invalid one is bad \
usage, exit 2). Flood control (--flood) delays a client's excess lines, in order. A \
client that stops reading is \
disconnected with `ERROR :SendQ exceeded` once --sendq bytes wait for it; nobody else \
slows down. On SIGINT/SIGTERM every client gets `ERROR :Server shutting down`, the \
server waits a few seconds for those lines to leave, prints a summary to stderr and \
exits 0."
    )]
    Serve(Box<ChatServeArgs>),
    /// A terminal IRC client, for netkit's server or any other.
    #[command(
        after_help = join_help(),
        long_about = "A terminal IRC client, for netkit's server or any other.\n\n\
Connects, registers as --nick (adding `_` while the nick is taken), joins the --channel \
channels, then reads standard input and the server at the same time. Each event is one \
line on stdout, in local time: `HH:MM #chan <nick> text`; errors from the server start \
with `!!`. End of input, /quit, SIGINT and SIGTERM quit politely (QUIT, then exit 0); \
a lost connection exits 1 with the reason on stderr."
    )]
    Join(ChatJoinArgs),
}

fn join_help() -> String {
    format!("{}\n\n{EXIT_CODES}", netkit::chat::client::COMMANDS_HELP)
}

#[derive(Debug, Args)]
pub struct ChatJoinArgs {
    /// Server address, HOST:PORT (the port defaults to 6667, or 6697 with --tls).
    #[arg(value_parser = netkit::chat::client::parse_server_addr)]
    pub addr: String,
    /// The nickname to register.
    #[arg(short, long, value_parser = netkit::chat::client::parse_nick, value_name = "NICK")]
    pub nick: String,
    /// A channel to join once registered; repeat for several. The last is the current one.
    #[arg(short, long = "channel", value_parser = netkit::chat::client::parse_channel, value_name = "CHAN")]
    pub channels: Vec<String>,
    /// Connect with TLS, checking the server's certificate and name.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: trust the CA certificates in this PEM file instead of the system's; repeat for several.
    #[arg(long = "ca-cert", value_name = "PEM", requires = "tls")]
    pub ca_certs: Vec<PathBuf>,
    /// The server password (sent with PASS).
    #[arg(long, value_name = "PASS")]
    pub password: Option<String>,
    /// How long connecting and registering may take.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ChatServeArgs {
    /// IRC address to serve on; repeat for several (IPv4 or [IPv6]:port). Default 127.0.0.1:6667 when neither --irc nor --ircs is given.
    #[arg(long = "irc", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub irc: Vec<SocketAddr>,
    /// IRC over TLS address to serve on (6697 by convention); repeat for several. Needs --tls-cert and --tls-key.
    #[arg(long = "ircs", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub ircs: Vec<SocketAddr>,
    /// HTTP address for the chat page and IRC over WebSocket (at / and /ws), /healthz and /metrics; repeat for several, `off` for none. Default 127.0.0.1:8080.
    #[arg(long = "http", value_name = "ADDR|off", value_parser = parse_http_addr)]
    pub http: Vec<HttpAddr>,
    /// HTTPS address for the same (page, WebSocket over TLS); repeat for several. Needs --tls-cert and --tls-key.
    #[arg(long = "https", value_name = "ADDR", value_parser = parse_listen_addr)]
    pub https: Vec<SocketAddr>,
    /// A web origin (like https://chat.example.com) whose pages may open a WebSocket; repeat for several. Default: only the page's own origin. Clients that send no Origin (not browsers) are always allowed.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// TLS certificate chain for --ircs and --https: a PEM file, the server's certificate first.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key for --ircs and --https: a PEM file (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The server's name: the source of its replies. Default: the --node name, or netkit.local.
    #[arg(long, value_parser = parse_server_name, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Join a cluster of nodes that share nicks, channels and history through
    /// this Redis: redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS.
    /// History then lives in Redis, not in --db. Redis must not be reachable
    /// by untrusted parties.
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    pub redis: Option<String>,
    /// With --redis: this node's name in the cluster (shown in logs and as
    /// the default server name). Default: the server name.
    #[arg(long, value_parser = parse_server_name, value_name = "NAME", requires = "redis")]
    pub node: Option<String>,
    /// Clients must send this password (PASS) to register.
    #[arg(long, value_name = "PASS")]
    pub password: Option<String>,
    /// IRC operator credentials for OPER, NAME:PASS; repeat for several.
    #[arg(long, value_name = "NAME:PASS", value_parser = parse_oper)]
    pub oper: Vec<(String, String)>,
    /// Message of the day: a text file of at most 64 KiB, read at start.
    #[arg(long, value_parser = read_motd, value_name = "FILE")]
    pub motd: Option<Motd>,
    /// Clients served at once; one more gets an ERROR line and is closed.
    #[arg(long, default_value_t = 10_000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,
    /// Bytes waiting for one client before it is disconnected (SendQ exceeded); at least 1KiB.
    #[arg(long, default_value = "1MiB", value_parser = parse_sendq, value_name = "SIZE")]
    pub sendq: usize,
    /// Flood control per client: LINES/s:BURST, or `off`. Lines over it are
    /// read later, in order, never dropped.
    #[arg(long, default_value = "5/s:20", value_parser = parse_flood, value_name = "LINES/s:BURST|off")]
    pub flood: Flood,
    /// PING a client silent this long; drop it when silent as long again.
    #[arg(long, default_value = "60s", value_parser = parse_ping_interval, value_name = "DUR")]
    pub ping_interval: Duration,
    /// Channel history: an SQLite file (created if missing), or `:memory:` to keep nothing on disk.
    #[arg(long, default_value = "./netkit-chat.db", value_name = "PATH")]
    pub db: String,
    /// Messages kept per channel; older ones are pruned in the background.
    #[arg(long, default_value_t = 100_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub history_limit: u64,
    /// Listen queue length, so bursts of new connections are queued, not retried.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub backlog: u32,
}

/// A server name is one word that cannot be mistaken for a nick or a prefix.
fn parse_server_name(text: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "invalid server name {text:?}: expected 1-63 letters, digits, dots, dashes or underscores"
        ))
    }
}

/// `NAME:PASS`, both non-empty and without spaces (OPER takes them as two words).
fn parse_oper(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, pass))
            if !name.is_empty() && !pass.is_empty() && !text.contains(char::is_whitespace) =>
        {
            Ok((name.to_string(), pass.to_string()))
        }
        _ => Err(format!(
            "invalid operator {text:?}: expected NAME:PASS, without spaces"
        )),
    }
}

/// Pinging more often than once a second would flood idle clients for nothing.
fn parse_ping_interval(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(interval) if interval >= Duration::from_secs(1) => Ok(interval),
        Ok(_) => Err(format!("invalid ping interval {text:?}: at least 1s")),
        Err(err) => Err(err.to_string()),
    }
}

/// An HTTP address, or `off`. A type of its own, because clap reads an
/// `Option` item as an optional flag.
#[derive(Debug, Clone, Copy)]
pub struct HttpAddr(pub Option<SocketAddr>);

fn parse_http_addr(text: &str) -> Result<HttpAddr, String> {
    if text == "off" {
        return Ok(HttpAddr(None));
    }
    parse_listen_addr(text)
        .map(|addr| HttpAddr(Some(addr)))
        .map_err(|err| err.to_string())
}

/// A flood limit, or none. A type of its own, because clap reads an `Option`
/// field as an optional flag.
#[derive(Debug, Clone, Copy)]
pub struct Flood(pub Option<FloodLimit>);

/// `5/s:20` (the `/s` may be left out), or `off`.
fn parse_flood(text: &str) -> Result<Flood, String> {
    if text == "off" {
        return Ok(Flood(None));
    }
    let invalid =
        || format!("invalid flood limit {text:?}: expected LINES/s:BURST, like 5/s:20, or off");
    let (rate, burst) = text.split_once(':').ok_or_else(invalid)?;
    let rate: f64 = rate
        .strip_suffix("/s")
        .unwrap_or(rate)
        .parse()
        .map_err(|_| invalid())?;
    let burst: u32 = burst.parse().map_err(|_| invalid())?;
    if !(rate.is_finite() && rate > 0.0) || burst == 0 {
        return Err(invalid());
    }
    Ok(Flood(Some(FloodLimit { rate, burst })))
}

/// The send queue must hold at least a few full lines, or every client drops.
fn parse_sendq(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text).map_err(|err| err.to_string())?;
    match usize::try_from(bytes) {
        Ok(bytes) if bytes >= 1024 => Ok(bytes),
        _ => Err(format!("invalid send queue {text:?}: at least 1KiB")),
    }
}

/// The lines of a MOTD file. A type of its own, because clap reads an
/// `Option<Vec<_>>` field as a repeatable option.
#[derive(Debug, Clone)]
pub struct Motd(pub Vec<String>);

/// The MOTD file as lines, read once at start. The size bound keeps a wrong path
/// (a log file, a disk image) from being held in memory and sent to every client.
fn read_motd(path: &str) -> Result<Motd, String> {
    const MAX_MOTD: u64 = 64 * 1024;
    let fail = |err: std::io::Error| {
        format!(
            "cannot read the MOTD {path}: {}",
            netkit::net::describe_io_error(&err)
        )
    };
    let size = std::fs::metadata(path).map_err(fail)?.len();
    if size > MAX_MOTD {
        return Err(format!("the MOTD {path} is {size} bytes; at most 64 KiB"));
    }
    let bytes = std::fs::read(path).map_err(fail)?;
    Ok(Motd(
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| line.trim_end().to_string())
            .collect(),
    ))
}
