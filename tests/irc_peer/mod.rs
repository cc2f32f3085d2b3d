//! IRC peers for the client tests: ngircd as a child process, and scripted
//! one-connection servers (over TCP or TLS) that read and write raw lines on a
//! thread of their own. The other user in a channel is `common::irc::Client`,
//! netkit's server `common::irc::ChatServeProcess`.
//!
//! Every read waits at most `common::PATIENCE`; a peer that stays silent fails
//! the test instead of hanging it.

#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use netkit::chat::irc::Message;

use crate::common::PATIENCE;

// ----------------------------------------------------------------------------
// A raw IRC connection
// ----------------------------------------------------------------------------

/// The server's side of a scripted connection: raw lines, blocking, each read
/// bounded by `PATIENCE` (a read timeout on the socket).
pub struct Peer<S: Read + Write> {
    stream: BufReader<S>,
}

impl Peer<TcpStream> {
    fn over(stream: TcpStream) -> Peer<TcpStream> {
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("read timeout");
        Peer::with_stream(stream)
    }
}

impl<S: Read + Write> Peer<S> {
    fn with_stream(stream: S) -> Peer<S> {
        Peer {
            stream: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, line: &str) {
        let stream = self.stream.get_mut();
        stream
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| stream.flush())
            .unwrap_or_else(|e| panic!("server: sending {line:?}: {e}"));
    }

    /// The next message, or `None` at the end of the stream.
    pub fn next(&mut self) -> Option<Message> {
        let mut line = Vec::new();
        match self.stream.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                Message::parse(&line)
                    .unwrap_or_else(|e| panic!("server: unparseable {line:?}: {e}")),
            ),
            Err(e) => panic!("server: no line within {PATIENCE:?}: {e}"),
        }
    }

    /// Reads until the peer closes or the stream fails (a refused TLS
    /// handshake), whatever comes.
    pub fn drain(&mut self) {
        let mut sink = Vec::new();
        let _ = self.stream.read_to_end(&mut sink);
    }

    /// The next message, which must have this command.
    pub fn expect(&mut self, command: &str) -> Message {
        let message = self.next_or_panic();
        assert_eq!(message.command, command, "server: got {message}");
        message
    }

    fn next_or_panic(&mut self) -> Message {
        self.next()
            .unwrap_or_else(|| panic!("server: the client closed the connection"))
    }
}

// ----------------------------------------------------------------------------
// Scripted servers
// ----------------------------------------------------------------------------

/// A server on 127.0.0.1 that accepts one connection and runs `script` on it,
/// on its own thread. What the script returns comes back from [`Scripted::finish`].
pub struct Scripted<T> {
    pub addr: SocketAddr,
    done: mpsc::Receiver<T>,
}

impl<T: Send + 'static> Scripted<T> {
    pub fn start(script: impl FnOnce(Peer<TcpStream>) -> T + Send + 'static) -> Scripted<T> {
        Scripted::start_with(Peer::over, script)
    }

    /// Like [`Scripted::start`], over TLS with tests/data/localhost.pem.
    pub fn start_tls(
        script: impl FnOnce(Peer<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>) -> T
        + Send
        + 'static,
    ) -> Scripted<T> {
        let config = tls_server_config();
        Scripted::start_with(
            move |stream| {
                stream
                    .set_read_timeout(Some(PATIENCE))
                    .expect("read timeout");
                let connection = rustls::ServerConnection::new(config).expect("TLS session");
                Peer::with_stream(rustls::StreamOwned::new(connection, stream))
            },
            script,
        )
    }

    fn start_with<P>(
        wrap: impl FnOnce(TcpStream) -> P + Send + 'static,
        script: impl FnOnce(P) -> T + Send + 'static,
    ) -> Scripted<T> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let (report, done) = mpsc::channel();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let _ = report.send(script(wrap(stream)));
        });
        Scripted { addr, done }
    }

    /// What the script returned; fails if it panicked or took too long.
    pub fn finish(self) -> T {
        self.done
            .recv_timeout(PATIENCE)
            .expect("the scripted server finished (a panic in it is printed above)")
    }
}

/// The test certificate for localhost and 127.0.0.1, on the ring provider.
fn tls_server_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(data_file("localhost.pem"))
            .expect("test certificate")
            .collect::<Result<_, _>>()
            .expect("test certificate parses");
    let key = PrivateKeyDer::from_pem_file(data_file("localhost.key")).expect("test key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key match");
    Arc::new(config)
}

/// A file under tests/data.
pub fn data_file(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

// ----------------------------------------------------------------------------
// ngircd
// ----------------------------------------------------------------------------

pub const NGIRCD: &str = "/usr/sbin/ngircd";

/// ngircd in the foreground on a free port, with its configuration and PID file
/// in a temporary directory. Killed on drop.
pub struct Ngircd {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Ngircd {
    /// `None` when ngircd is not installed (CI installs it: .ci/apt-packages).
    pub fn start() -> Option<Ngircd> {
        if !Path::new(NGIRCD).exists() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        // Run as root, ngircd switches to `nobody` before writing its PID file.
        let run = dir.path().join("run");
        std::fs::create_dir(&run).expect("run directory");
        set_mode(dir.path(), 0o755);
        set_mode(&run, 0o777);
        // A port that was free a moment ago: ngircd cannot take port 0.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let identity = if root {
            "ServerUID = 65534\nServerGID = 65534\n"
        } else {
            ""
        };
        let config = format!(
            "[Global]\n\
             Name = irc.netkit.test\n\
             Info = ngircd for the netkit tests\n\
             AdminInfo1 = netkit tests\n\
             AdminInfo2 = loopback only\n\
             AdminEMail = nobody@netkit.test\n\
             Listen = 127.0.0.1\n\
             Ports = {port}\n\
             PidFile = {pid}\n\
             MotdPhrase = ngircd for the netkit tests\n\
             {identity}\
             [Limits]\n\
             MaxConnectionsIP = 0\n\
             [Options]\n\
             DNS = no\n\
             Ident = no\n\
             PAM = no\n",
            pid = run.join("ngircd.pid").display(),
        );
        let conf = dir.path().join("ngircd.conf");
        std::fs::write(&conf, config).expect("write ngircd.conf");
        let mut child = Command::new(NGIRCD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ngircd");
        // Its log goes to stdout; "... ready." comes once it listens. The log is
        // read to its end, so that ngircd never blocks on (or dies of) a pipe.
        let (lines, ready) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = lines.send(line);
            }
        });
        let mut log = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ready.recv_timeout(left) {
                Ok(line) if line.contains("ready.") => break,
                Ok(line) => log.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("ngircd did not get ready; its log:\n{}", log.join("\n"));
                }
            }
        }
        Some(Ngircd {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            _dir: dir,
        })
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
