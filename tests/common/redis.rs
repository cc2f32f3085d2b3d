//! A real `redis-server` (Debian's package) for the tests: on a free port of
//! 127.0.0.1, in a directory of its own, killed on drop.
//!
//! [`RedisServer::start`] keeps nothing on disk. [`RedisServer::start_persistent`]
//! writes an append-only file synced on every write, so that after
//! [`stop`](RedisServer::stop) and [`restart`](RedisServer::restart) (same
//! port, same directory) Redis has everything it acknowledged.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Redis may take to answer PING after it starts, or to exit after
/// SHUTDOWN.
const STARTUP: Duration = Duration::from_secs(10);
/// Ports tried before giving up, in case another process takes the free port
/// between our probe and Redis's bind.
const PORT_ATTEMPTS: usize = 5;

pub struct RedisServer {
    port: u16,
    /// With TLS: the port of its TLS listener, beside the plain one.
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
    persistent: bool,
    /// `None` once stopped.
    child: Option<Child>,
}

/// Why a redis-server did not come up.
enum Failure {
    PortTaken,
    Other(String),
}

impl RedisServer {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> RedisServer {
        RedisServer::launch(false, false)
    }

    /// A Redis with an append-only file, fsynced before every reply.
    pub fn start_persistent() -> RedisServer {
        RedisServer::launch(false, true)
    }

    /// A Redis that keeps nothing on disk and also serves TLS, with the
    /// certificate of `localhost` from tests/data (see [`tls_url`](RedisServer::tls_url)).
    pub fn start_tls() -> RedisServer {
        RedisServer::launch(true, false)
    }

    fn launch(tls: bool, persistent: bool) -> RedisServer {
        let dir = tempfile::tempdir().expect("a directory for redis-server");
        let mut server = RedisServer {
            port: 0,
            tls_port: None,
            dir,
            persistent,
            child: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            server.tls_port = tls.then(free_port);
            match server.spawn() {
                Ok(child) => {
                    server.child = Some(child);
                    return server;
                }
                Err(Failure::PortTaken) => continue,
                Err(Failure::Other(why)) => panic!("{why}"),
            }
        }
        panic!("redis-server found its port taken {PORT_ATTEMPTS} times");
    }

    /// `redis://127.0.0.1:PORT/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `rediss://localhost:TLS_PORT/0`, for a Redis started with TLS.
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("a Redis started with TLS");
        format!("rediss://localhost:{port}/0")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Shuts Redis down gracefully (SHUTDOWN: a persistent one syncs its
    /// file) and waits for it to exit.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("redis-server is not running");
        // Redis closes the connection instead of answering a SHUTDOWN that works.
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        conn.write_all(b"SHUTDOWN\r\n").expect("send SHUTDOWN");
        let deadline = Instant::now() + STARTUP;
        while child.try_wait().expect("redis-server status").is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server did not exit within {STARTUP:?} of SHUTDOWN");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts Redis again on the same port and directory (stopping it first
    /// if it runs), and waits until it answers: a persistent one has loaded
    /// its file by then.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        match self.spawn() {
            Ok(child) => self.child = Some(child),
            Err(Failure::PortTaken) => panic!("port {} was taken while Redis was down", self.port),
            Err(Failure::Other(why)) => panic!("{why}"),
        }
    }

    /// Runs redis-server until it answers PING.
    fn spawn(&self) -> Result<Child, Failure> {
        let log_path = self.dir.path().join("redis.log");
        let log = File::create(&log_path).expect("create redis.log");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("redis.log"))
            .stderr(log);
        if let Some(port) = self.tls_port {
            let data = |name: &str| super::tls::data(name);
            command
                .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(data("localhost.pem"))
                .arg("--tls-key-file")
                .arg(data("localhost.key"))
                .arg("--tls-ca-cert-file")
                .arg(data("ca.pem"));
        }
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let mut child = command.spawn().map_err(|err| {
            Failure::Other(format!(
                "cannot run redis-server ({err}): apt-get install redis-server"
            ))
        })?;
        let deadline = Instant::now() + STARTUP;
        loop {
            if child.try_wait().expect("redis-server status").is_some() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains("Address already in use") {
                    return Err(Failure::PortTaken);
                }
                return Err(Failure::Other(format!("redis-server exited: {log}")));
            }
            if answers_ping(self.port) {
                return Ok(child);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(Failure::Other(format!(
                    "redis-server on port {} did not answer PING within {STARTUP:?}: {log}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on now (bound, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Whether a Redis on `port` answers PING with PONG (and not, say, that it
/// is still loading its file).
fn answers_ping(port: u16) -> bool {
    let ping = || -> std::io::Result<bool> {
        let mut conn = TcpStream::connect(("127.0.0.1", port))?;
        conn.set_read_timeout(Some(Duration::from_secs(1)))?;
        conn.write_all(b"PING\r\n")?;
        let mut reply = String::new();
        BufReader::new(conn).read_line(&mut reply)?;
        Ok(reply == "+PONG\r\n")
    };
    ping().unwrap_or(false)
}
