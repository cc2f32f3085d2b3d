//! netkit's own HTTP/1.1 client, for plain `http://` URLs: keep-alive
//! connections pooled per host and port, heads parsed with `httparse`, bodies
//! read through one 64 KiB buffer per connection.
//!
//! Why not reqwest here: on many small files its per-request work was most of
//! netkit's user time, and on large ones hyper's read buffer grew to about
//! 400 KB per connection (peak RSS over 32 MiB at `-j 64`). reqwest stays for
//! https (with HTTP/2) and whenever a proxy is configured.

mod body;
mod conn;
mod head;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub(crate) use body::Body;
use body::malformed;
use conn::Conn;

use super::client::Head;
use super::decode::ACCEPTED;
use super::outcome::{ErrorKind, Failure};
use crate::net::describe_io_error;

/// An idle connection older than this is closed rather than reused: servers
/// close theirs after a while, and reusing one they closed costs a round trip.
const IDLE_FOR: Duration = Duration::from_secs(30);

pub(crate) struct Client {
    pool: Arc<Pool>,
    connect_timeout: Duration,
    /// Header lines sent with every request.
    fixed: Vec<u8>,
    /// Header lines sent only to the URL's own origin, not after a redirect to
    /// another one (Authorization, Cookie).
    credentials: Vec<u8>,
    accept_encoding: Vec<u8>,
    /// The user gave a Host header: it replaces the URL's.
    host_given: bool,
}

impl Client {
    /// `headers` go with every request (`credentials` ones only to the URL's
    /// origin); Accept and Accept-Encoding are added unless given.
    pub fn new(
        connect_timeout: Duration,
        max_idle: usize,
        headers: &[(HeaderName, HeaderValue)],
        credentials: impl Fn(&HeaderName) -> bool,
    ) -> Self {
        let mut client = Self {
            pool: Arc::new(Pool::new(max_idle)),
            connect_timeout,
            fixed: Vec::new(),
            credentials: Vec::new(),
            accept_encoding: ACCEPTED.as_bytes().to_vec(),
            host_given: false,
        };
        let given = |name: &HeaderName| headers.iter().any(|(n, _)| n == name);
        if !given(&reqwest::header::ACCEPT) {
            client.fixed.extend_from_slice(b"accept: */*\r\n");
        }
        client.host_given = given(&reqwest::header::HOST);
        for (name, value) in headers {
            if name == reqwest::header::ACCEPT_ENCODING {
                client.accept_encoding = value.as_bytes().to_vec();
                continue;
            }
            let lines = if credentials(name) {
                &mut client.credentials
            } else {
                &mut client.fixed
            };
            header_line(lines, name.as_str().as_bytes(), value.as_bytes());
        }
        client
    }

    /// Sends a GET for `url` (from byte `range_from` on, when not 0) and reads
    /// the response head. `credentials`: the URL is of the origin the user named.
    pub async fn get(
        &self,
        url: &Url,
        range_from: u64,
        credentials: bool,
    ) -> Result<(Head, Body), Failure> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let key: Arc<str> = match url.port() {
            Some(port) => format!("{host}:{port}").into(),
            None => host.into(),
        };
        let request = self.request(url, &key, range_from, credentials);
        loop {
            let (mut conn, reused) = match self.pool.take(&key) {
                Some(conn) => (conn, true),
                None => (self.connect(url, host, port).await?, false),
            };
            match exchange(&mut conn, &request).await {
                Ok(head) => {
                    let body =
                        Body::new(conn, head.framing, head.keep_alive, self.pool.clone(), key);
                    return Ok((head.head, body));
                }
                // The server closed the idle connection while it sat in the
                // pool: nothing was answered, so try again on another.
                Err(Exchange::Closed(_)) if reused => continue,
                Err(Exchange::Closed(err)) => {
                    return Err(Failure::new(ErrorKind::Transfer, describe_io_error(&err)));
                }
                Err(Exchange::Failed(failure)) => return Err(failure),
            }
        }
    }

    fn request(&self, url: &Url, key: &str, range_from: u64, credentials: bool) -> Vec<u8> {
        let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let mut request = Vec::with_capacity(256 + self.fixed.len());
        request.extend_from_slice(b"GET ");
        request.extend_from_slice(target.as_bytes());
        request.extend_from_slice(b" HTTP/1.1\r\n");
        if !self.host_given {
            header_line(&mut request, b"host", key.as_bytes());
        }
        request.extend_from_slice(&self.fixed);
        if credentials {
            request.extend_from_slice(&self.credentials);
        }
        if range_from > 0 {
            // Byte ranges are of the encoded body: ask for it unencoded, so
            // the bytes on disk and the range agree.
            header_line(
                &mut request,
                b"range",
                format!("bytes={range_from}-").as_bytes(),
            );
            header_line(&mut request, b"accept-encoding", b"identity");
        } else {
            header_line(&mut request, b"accept-encoding", &self.accept_encoding);
        }
        request.extend_from_slice(b"\r\n");
        request
    }

    /// A new connection, within the connect timeout (name lookup included).
    async fn connect(&self, url: &Url, host: &str, port: u16) -> Result<Conn, Failure> {
        let connecting = async {
            let addrs: Vec<SocketAddr> = match url.host() {
                Some(url::Host::Ipv4(ip)) => vec![(ip, port).into()],
                Some(url::Host::Ipv6(ip)) => vec![(ip, port).into()],
                _ => tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|err| {
                        let why = describe_io_error(&err);
                        Failure::new(ErrorKind::Connect, format!("cannot resolve {host}: {why}"))
                    })?
                    .collect(),
            };
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(Conn::new(stream));
                    }
                    Err(err) => last = err,
                }
            }
            Err(Failure::new(ErrorKind::Connect, describe_io_error(&last)))
        };
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(result) => result,
            Err(_) => Err(Failure::new(
                ErrorKind::Timeout,
                format!(
                    "no connection within {}",
                    crate::net::format_duration(self.connect_timeout)
                ),
            )),
        }
    }
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

enum Exchange {
    /// The connection ended before any of the response arrived.
    Closed(io::Error),
    Failed(Failure),
}

/// Writes `request` and reads the response head, past any 1xx ones.
async fn exchange(conn: &mut Conn, request: &[u8]) -> Result<head::Parsed, Exchange> {
    conn.send(request).await.map_err(Exchange::Closed)?;
    let mut answered = false;
    loop {
        match head::parse(conn.buffered()) {
            Ok(Some(parsed))
                if parsed.head.status.is_informational()
                    && parsed.head.status != reqwest::StatusCode::SWITCHING_PROTOCOLS =>
            {
                conn.consume(parsed.len);
                continue;
            }
            Ok(Some(parsed)) => {
                conn.consume(parsed.len);
                return Ok(parsed);
            }
            Ok(None) => {}
            Err(reason) => return Err(Exchange::Failed(malformed(reason))),
        }
        let closed = |err: io::Error| match answered {
            false => Exchange::Closed(err),
            true => Exchange::Failed(Failure::new(ErrorKind::Transfer, describe_io_error(&err))),
        };
        match conn.fill().await {
            Ok(0) => {
                return Err(closed(io::Error::other(
                    "connection closed before the response",
                )));
            }
            Ok(_) => answered = true,
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Err(Exchange::Failed(malformed(format!(
                    "response head longer than {} KiB",
                    conn::BUFFER >> 10
                ))));
            }
            Err(err) => return Err(closed(err)),
        }
    }
}

/// Idle keep-alive connections, per host and port.
pub(crate) struct Pool {
    idle: Mutex<HashMap<Arc<str>, Vec<Idle>>>,
    max_idle: usize,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    fn new(max_idle: usize) -> Self {
        Self {
            idle: Mutex::default(),
            max_idle,
        }
    }

    /// The most recently used idle connection to `key`, if one is fresh.
    fn take(&self, key: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.get_mut(key)?;
        let fresh = conns.pop().filter(|idle| idle.since.elapsed() < IDLE_FOR);
        if fresh.is_none() {
            // The rest are older still.
            conns.clear();
        }
        fresh.map(|idle| idle.conn)
    }

    fn put(&self, key: &Arc<str>, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(key.clone()).or_default();
        if conns.len() < self.max_idle {
            conns.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}
