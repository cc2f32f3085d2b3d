//! Helpers shared by the integration tests: random payloads, the `netkit` binary as a
//! child process that is killed on drop, the library's echo server on a task, and
//! small misbehaving servers to point the clients at.
//!
//! Every wait here is bounded by [`PATIENCE`], so a broken netkit fails a test
//! instead of hanging the suite.

#![allow(dead_code)] // Each test crate uses a different part of this module.

pub mod irc;
pub mod redis;
pub mod tls;

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netkit::echo::{EchoConfig, EchoServer, Summary};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Runs a load generator (`netkit bench ... ARGS --json`) and parses its report.
pub fn bench_json(args: &[&str]) -> (Finished, serde_json::Value) {
    let mut args = args.to_vec();
    args.push("--json");
    let finished = Netkit::run(&args, b"");
    let report = serde_json::from_slice(&finished.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON object ({err}): {finished:?}"));
    (finished, report)
}

/// A count field of a JSON report.
pub fn count(report: &serde_json::Value, field: &str) -> u64 {
    report[field]
        .as_u64()
        .unwrap_or_else(|| panic!("`{field}` is not a count in {report}"))
}

/// Every latency percentile of a bench report is present and positive.
pub fn assert_latency_reported(report: &serde_json::Value) {
    for field in ["p50", "p90", "p99", "p999", "max", "mean"] {
        let value = report["latency_us"][field]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_us.{field} missing in {report}"));
        assert!(value > 0.0, "latency_us.{field} is {value} in {report}");
    }
}

/// The binary under test.
pub const NETKIT: &str = env!("CARGO_BIN_EXE_netkit");

/// The longest any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub const KIB: usize = 1 << 10;
pub const MIB: usize = 1 << 20;

// ----------------------------------------------------------------------------
// Random data
// ----------------------------------------------------------------------------

/// A xorshift64* byte stream. The bytes depend only on the seed, not on how the
/// stream is cut into `fill` calls, so a writer and a checker can each regenerate
/// it in chunks of their own sizes.
pub struct Xorshift {
    state: u64,
    spare: [u8; 8],
    used: usize,
}

impl Xorshift {
    pub fn new(seed: u64) -> Self {
        Self {
            // Spread small seeds (1, 2, 3...) over the whole state.
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            spare: [0; 8],
            used: 8,
        }
    }

    fn next_word(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `buf` with the next `buf.len()` bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut at = 0;
        while at < buf.len() && self.used < 8 {
            buf[at] = self.spare[self.used];
            self.used += 1;
            at += 1;
        }
        let mut words = buf[at..].chunks_exact_mut(8);
        for word in &mut words {
            word.copy_from_slice(&self.next_word().to_le_bytes());
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            self.spare = self.next_word().to_le_bytes();
            tail.copy_from_slice(&self.spare[..tail.len()]);
            self.used = tail.len();
        }
    }
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    Xorshift::new(seed).fill(&mut bytes);
    bytes
}

/// Where two byte strings first differ (or where the shorter one ends), for
/// failure messages that do not print megabytes.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

// ----------------------------------------------------------------------------
// Async helpers
// ----------------------------------------------------------------------------

/// Awaits `work` for at most [`PATIENCE`] (of tokio time, so paused time works too).
pub async fn within<T>(what: &str, work: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, work).await {
        Ok(done) => done,
        Err(_) => panic!("{what}: not done within {PATIENCE:?}"),
    }
}

/// Sends `message` on `stream` and checks that exactly it comes back.
pub async fn assert_echoes(stream: &mut tokio::net::TcpStream, message: &[u8]) {
    stream.write_all(message).await.expect("send");
    let mut echo = vec![0; message.len()];
    within("reading the echo", stream.read_exact(&mut echo))
        .await
        .expect("read the echo");
    assert_eq!(
        String::from_utf8_lossy(&echo),
        String::from_utf8_lossy(message)
    );
}

// ----------------------------------------------------------------------------
// The library's echo server
// ----------------------------------------------------------------------------

/// `EchoServer::serve` running on a task, over one TCP listener and one UDP socket
/// on 127.0.0.1 with free ports. Shut down with [`LibServer::stop`].
pub struct LibServer {
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<Summary>,
}

impl LibServer {
    pub async fn start(config: EchoConfig) -> Self {
        let any_port: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
        let listener = netkit::net::bind_tcp(any_port, 1024)
            .await
            .expect("bind tcp");
        let socket = netkit::net::bind_udp(any_port).await.expect("bind udp");
        let tcp = listener.local_addr().expect("tcp address");
        let udp = socket.local_addr().expect("udp address");
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let serving = tokio::spawn(EchoServer::new(config).serve(
            vec![listener],
            vec![socket],
            async move { signal.cancelled().await },
        ));
        Self {
            tcp,
            udp,
            shutdown,
            serving,
        }
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Shuts down (if not begun already) and returns what `serve` returned.
    pub async fn stop(self) -> Summary {
        self.shutdown.cancel();
        within("serve() returning after shutdown", self.serving)
            .await
            .expect("the server task panicked")
    }
}

/// `ChatServer::serve` running on a task until [`ChatTask::stop`] (or
/// `shutdown` cancelled).
pub struct ChatTask {
    pub shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<netkit::chat::Summary>,
}

impl ChatTask {
    pub fn spawn(server: netkit::chat::ChatServer, listeners: Vec<netkit::chat::Listener>) -> Self {
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let serving =
            tokio::spawn(server.serve(listeners, async move { signal.cancelled().await }));
        Self { shutdown, serving }
    }

    /// Shuts down (if not begun already) and returns what `serve` returned.
    pub async fn stop(self) -> netkit::chat::Summary {
        self.shutdown.cancel();
        within("serve() returning after shutdown", self.serving)
            .await
            .expect("the server task panicked")
    }
}

/// Connects to `addr` until the connection is refused, proving that the listener
/// is gone; panics if it still accepts after [`PATIENCE`]. There is nothing to
/// await for a listener closing, so this polls.
pub async fn wait_until_refused(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => return,
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{addr} still accepts connections after {PATIENCE:?}: {other:?}"
                );
                drop(other);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

// ----------------------------------------------------------------------------
// The binary
// ----------------------------------------------------------------------------

/// A running `netkit` process, killed (and reaped) on drop. Its stdout is read line
/// by line on a thread, its stderr collected on another, so it never blocks on a
/// full pipe.
pub struct Netkit {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<Vec<u8>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// How a `netkit` process ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Everything on stdout not already taken with [`Netkit::line`].
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit code and that stderr is exactly one line starting with
    /// `netkit: `; returns that line.
    pub fn assert_one_error_line(&self, code: i32) -> &str {
        assert_eq!(self.code(), Some(code), "exit code; {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr expected: {self:?}");
        assert!(
            lines[0].starts_with("netkit: "),
            "the error line names the program: {self:?}"
        );
        lines[0]
    }
}

impl Netkit {
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    /// Like [`spawn`](Netkit::spawn), with these environment variables set.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let mut child = Command::new(NETKIT)
            .args(args)
            .envs(env.iter().copied())
            // Log output must not depend on the environment the tests run in.
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {NETKIT}: {err}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (lines, stdout_lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = stdout;
            loop {
                let mut line = Vec::new();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if lines.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            text
        });
        Self {
            child,
            stdin,
            stdout: stdout_lines,
            stderr: Some(stderr),
        }
    }

    /// Runs `netkit ARGS` with `input` on its stdin (then closed) to completion.
    pub fn run(args: &[&str], input: &[u8]) -> Finished {
        let mut netkit = Self::spawn(args);
        netkit.write_stdin(input);
        netkit.close_stdin();
        netkit.wait()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        // A process that exits without reading its input closes the pipe: that is
        // for the exit code to show, not a failure to write.
        let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line on stdout (with its newline), waiting at most [`PATIENCE`].
    pub fn line(&mut self) -> String {
        match self.stdout.recv_timeout(PATIENCE) {
            Ok(line) => String::from_utf8_lossy(&line).into_owned(),
            Err(RecvTimeoutError::Timeout) => panic!("no line on stdout within {PATIENCE:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let finished = self.wait();
                panic!("stdout ended while a line was expected: {finished:?}")
            }
        }
    }

    /// The next line on stdout, or `None` when none comes within `timeout` or
    /// stdout has ended: for callers that report their own failure.
    pub fn line_within(&mut self, timeout: Duration) -> Option<String> {
        let line = self.stdout.recv_timeout(timeout).ok()?;
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    /// Waits for the process to exit on its own; kills it and fails the test after
    /// [`PATIENCE`].
    pub fn wait(&mut self) -> Finished {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.take_stderr();
                panic!("netkit did not exit within {PATIENCE:?}; stderr: {stderr}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stdout = Vec::new();
        // The process has exited, so stdout reaches its end promptly.
        while let Ok(line) = self.stdout.recv_timeout(PATIENCE) {
            stdout.extend_from_slice(&line);
        }
        Finished {
            status,
            stdout,
            stderr: self.take_stderr(),
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> Finished {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill has no memory-safety preconditions; the pid is our child,
        // not yet reaped, so it cannot have been reused.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill(SIGTERM) failed");
        self.wait()
    }

    fn take_stderr(&mut self) -> String {
        let bytes = self
            .stderr
            .take()
            .map(|reader| reader.join().unwrap_or_default())
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Drop for Netkit {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `netkit echo serve --tcp 127.0.0.1:0 [EXTRA]`, once its ready lines are read.
pub struct ServeProcess {
    pub netkit: Netkit,
    pub tcp: SocketAddr,
    /// Set when EXTRA holds `--udp 127.0.0.1:0`.
    pub udp: Option<SocketAddr>,
}

impl ServeProcess {
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec!["echo", "serve", "--tcp", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut netkit = Netkit::spawn(&args);
        let udp_sockets = extra.iter().filter(|arg| **arg == "--udp").count();
        let mut tcp = None;
        let mut udp = None;
        for _ in 0..1 + udp_sockets {
            let line = netkit.line();
            let words: Vec<&str> = line.split_whitespace().collect();
            let addr = |text: &str| -> SocketAddr {
                text.parse()
                    .unwrap_or_else(|_| panic!("bad address in ready line {line:?}"))
            };
            match words[..] {
                ["listening", "tcp", at] => tcp = Some(addr(at)),
                ["listening", "udp", at] => udp = Some(addr(at)),
                _ => panic!("unexpected ready line {line:?}"),
            }
        }
        Self {
            netkit,
            tcp: tcp.expect("a `listening tcp` line"),
            udp,
        }
    }

    pub fn pid(&self) -> u32 {
        self.netkit.pid()
    }

    /// SIGTERM, then the exit status and the stderr (which holds the summary).
    pub fn terminate(mut self) -> Finished {
        self.netkit.terminate()
    }
}

// ----------------------------------------------------------------------------
// Misbehaving servers
// ----------------------------------------------------------------------------

/// A TCP server on 127.0.0.1 run by the test on its own runtime, for the
/// behaviours a correct echo server never shows. For tests without a runtime of
/// their own (the ones that drive the binary). Stops on drop.
pub struct FakeServer {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeServer {
    /// Runs `handle` on every accepted connection.
    pub fn start<F, Fut>(handle: F) -> Self
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("test runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the fake server");
        let addr = listener.local_addr().expect("fake server address");
        runtime.spawn(async move {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(handle(stream));
                }
            }
        });
        Self {
            addr,
            runtime: Some(runtime),
        }
    }

    /// Echoes every read with its first byte flipped.
    pub fn corrupting() -> Self {
        Self::start(|mut stream| async move {
            let mut buf = vec![0; 64 * KIB];
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                buf[0] ^= 0xFF;
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        })
    }

    /// Accepts, reads, and never answers.
    pub fn silent() -> Self {
        Self::start(|mut stream| async move {
            let mut buf = vec![0; 64 * KIB];
            while let Ok(1..) = stream.read(&mut buf).await {}
        })
    }

    /// Echoes at most `limit` bytes of what it first reads, then ends its side of
    /// the connection (a clean end of stream: it goes on reading, so no reset).
    pub fn closing_after(limit: usize) -> Self {
        Self::start(move |mut stream| async move {
            let mut buf = vec![0; 64 * KIB];
            let Ok(n) = stream.read(&mut buf).await else {
                return;
            };
            let _ = stream.write_all(&buf[..n.min(limit)]).await;
            let _ = stream.shutdown().await;
            while let Ok(1..) = stream.read(&mut buf).await {}
        })
    }

    /// Reads until the client half-closes, then answers `received N bytes` and
    /// closes: only a client that still reads after its input ends sees the answer.
    pub fn answering_after_end_of_input() -> Self {
        Self::start(|mut stream| async move {
            let mut received = Vec::new();
            if stream.read_to_end(&mut received).await.is_ok() {
                let answer = format!("received {} bytes\n", received.len());
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        })
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// An address on 127.0.0.1 where nothing listens (a port bound, then released).
pub fn refused_tcp_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A UDP address on 127.0.0.1 where no socket is bound.
pub fn closed_udp_addr() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address")
}
