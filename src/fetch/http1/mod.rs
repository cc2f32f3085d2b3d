//! netkit's own HTTP/1.1 client, for plain `http://` URLs: keep-alive
//! connections pooled per host and port, heads parsed with `httparse`, bodies
//! read through one buffer per connection (64 KiB, 256 KiB once a body is
//! large).
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
use reqwest::header::{HOST, HeaderName, HeaderValue};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub(crate) use body::Body;
use body::malformed;
use conn::Conn;

use super::client::Head;
use super::outcome::{ErrorKind, Failure};
use crate::net::{describe_io_error, format_duration};

/// An idle connection older than this is closed rather than reused: servers
/// close theirs after a while, and reusing one they closed costs a round trip.
const IDLE_FOR: Duration = Duration::from_secs(30);

pub(crate) struct Client {
    pool: Arc<Pool>,
    connect_timeout: Duration,
}

impl Client {
    /// Keeps at most `max_idle` idle connections per host and port, and
    /// `max_idle_total` in all.
    pub fn new(connect_timeout: Duration, max_idle: usize, max_idle_total: usize) -> Self {
        Self {
            pool: Arc::new(Pool::new(max_idle, max_idle_total)),
            connect_timeout,
        }
    }

    /// Sends a GET for `url` with `headers` (a Host header is added unless
    /// among them) and reads the response head.
    pub async fn get<'h>(
        &self,
        url: &Url,
        headers: impl Iterator<Item = &'h (HeaderName, HeaderValue)> + Clone,
    ) -> Result<(Head, Body), Failure> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or(80);
        let key = pool_key(url);
        let request = request(url, &key, headers);
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

    /// A new connection, within the connect timeout (name lookup included).
    /// With several addresses each gets its share of the timeout.
    async fn connect(&self, url: &Url, host: &str, port: u16) -> Result<Conn, Failure> {
        let timeout = self.connect_timeout;
        let timed_out = |to: &dyn std::fmt::Display, within| {
            Failure::new(
                ErrorKind::Timeout,
                format!("no connection to {to} within {}", format_duration(within)),
            )
        };
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
            let share = timeout / addrs.len().max(1) as u32;
            let mut last = None;
            for addr in addrs {
                match tokio::time::timeout(share, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(Conn::new(stream));
                    }
                    Ok(Err(err)) => {
                        last = Some(Failure::new(ErrorKind::Connect, describe_io_error(&err)))
                    }
                    Err(_) => last = Some(timed_out(&addr, share)),
                }
            }
            Err(last.unwrap_or_else(|| {
                Failure::new(ErrorKind::Connect, format!("no address for {host}"))
            }))
        };
        tokio::time::timeout(timeout, connecting)
            .await
            .unwrap_or_else(|_| Err(timed_out(&host, timeout)))
    }
}

/// The Host header's value, and the pool's key: host, and port unless the
/// default one.
fn pool_key(url: &Url) -> Arc<str> {
    // The URL keeps a port only when it is not the scheme's default.
    Arc::from(&url[url::Position::BeforeHost..url::Position::AfterPort])
}

/// The request's bytes: the request line, Host (`key`) unless given, `headers`.
fn request<'h>(
    url: &Url,
    key: &str,
    headers: impl Iterator<Item = &'h (HeaderName, HeaderValue)> + Clone,
) -> Vec<u8> {
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut request = Vec::with_capacity(512);
    request.extend_from_slice(b"GET ");
    request.extend_from_slice(target.as_bytes());
    request.extend_from_slice(b" HTTP/1.1\r\n");
    if !headers.clone().any(|(name, _)| name == HOST) {
        header_line(&mut request, b"host", key.as_bytes());
    }
    for (name, value) in headers {
        header_line(&mut request, name.as_str().as_bytes(), value.as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
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
            // A grown buffer would take more: the limit stays the same.
            Ok(None) if conn.buffered().len() >= conn::BUFFER => {
                return Err(Exchange::Failed(malformed(format!(
                    "response head longer than {} KiB",
                    conn::BUFFER >> 10
                ))));
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
            Err(err) => return Err(closed(err)),
        }
    }
}

/// Idle keep-alive connections, per host and port.
pub(super) struct Pool {
    idle: Mutex<Idle>,
    max_idle: usize,
    max_idle_total: usize,
}

#[derive(Default)]
struct Idle {
    /// Oldest first.
    by_key: HashMap<Arc<str>, Vec<Pooled>>,
    total: usize,
}

struct Pooled {
    conn: Conn,
    since: Instant,
}

impl Pool {
    fn new(max_idle: usize, max_idle_total: usize) -> Self {
        Self {
            idle: Mutex::default(),
            max_idle,
            max_idle_total,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection to `key` that is fresh and on
    /// which nothing has arrived (no close, no stray bytes).
    fn take(&self, key: &str) -> Option<Conn> {
        loop {
            let popped = self.lock().pop(key)?;
            // Stale ones are closed here, with the lock released.
            let mut conn = popped.ok()?.conn;
            if conn.quiet() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request to `key`. With the pool full, the
    /// connection idle longest makes room: the hosts of a long list come and
    /// go, and the newest one is the likeliest to be asked again.
    fn put(&self, key: &Arc<str>, conn: Conn) {
        let mut idle = self.lock();
        let mut closed = Vec::new();
        if idle
            .by_key
            .get(key)
            .is_some_and(|conns| conns.len() >= self.max_idle)
        {
            return;
        }
        if idle.total >= self.max_idle_total {
            closed = idle.sweep();
            if idle.total >= self.max_idle_total {
                closed.extend(idle.oldest());
            }
        }
        idle.by_key.entry(key.clone()).or_default().push(Pooled {
            conn,
            since: Instant::now(),
        });
        idle.total += 1;
        drop(idle);
        // Closed with the lock released.
        drop(closed);
    }
}

impl Idle {
    /// The newest connection to `key`: `Ok` if it is fresh, else `Err` with
    /// all of `key`'s (the rest are older still), to close.
    fn pop(&mut self, key: &str) -> Option<Result<Pooled, Vec<Pooled>>> {
        let conns = self.by_key.get_mut(key)?;
        let pooled = conns.pop()?;
        let popped = if pooled.since.elapsed() < IDLE_FOR {
            Ok(pooled)
        } else {
            let mut stale = std::mem::take(conns);
            stale.push(pooled);
            Err(stale)
        };
        if conns.is_empty() {
            self.by_key.remove(key);
        }
        self.total -= popped.as_ref().map_or_else(Vec::len, |_| 1);
        Some(popped)
    }

    /// Takes out the connections idle too long.
    fn sweep(&mut self) -> Vec<Pooled> {
        let mut stale = Vec::new();
        self.by_key.retain(|_, conns| {
            let fresh = conns.partition_point(|pooled| pooled.since.elapsed() >= IDLE_FOR);
            stale.extend(conns.drain(..fresh));
            !conns.is_empty()
        });
        self.total -= stale.len();
        stale
    }

    /// Takes out the connection idle longest.
    fn oldest(&mut self) -> Option<Pooled> {
        let key = self
            .by_key
            .iter()
            .min_by_key(|(_, conns)| conns.first().map(|pooled| pooled.since))?
            .0
            .clone();
        let conns = self.by_key.get_mut(&key)?;
        let pooled = conns.remove(0);
        if conns.is_empty() {
            self.by_key.remove(&key);
        }
        self.total -= 1;
        Some(pooled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(url: &str, headers: &[(HeaderName, HeaderValue)]) -> String {
        let url = Url::parse(url).unwrap();
        String::from_utf8(request(&url, &pool_key(&url), headers.iter())).unwrap()
    }

    #[test]
    fn the_request_line_has_path_and_query_and_host_names_a_port_only_when_given() {
        let agent = [(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static("netkit/test"),
        )];
        assert_eq!(
            rendered("http://[::1]:8080/a%20b/c?x=1&y#frag", &agent),
            "GET /a%20b/c?x=1&y HTTP/1.1\r\nhost: [::1]:8080\r\nuser-agent: netkit/test\r\n\r\n"
        );
        assert_eq!(
            rendered("http://Example.COM:80", &[]),
            "GET / HTTP/1.1\r\nhost: example.com\r\n\r\n"
        );
        assert_eq!(
            rendered("http://user:pw@h.test:81/x", &[]),
            "GET /x HTTP/1.1\r\nhost: h.test:81\r\n\r\n"
        );
    }

    /// Idle connections to 127.0.0.1 (the server side kept open, so each is
    /// quiet), and what the server accepted, kept alive with them.
    async fn idle_conns(n: usize) -> (Vec<Conn>, Vec<TcpStream>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mut conns, mut accepted) = (Vec::new(), Vec::new());
        for _ in 0..n {
            conns.push(Conn::new(TcpStream::connect(addr).await.unwrap()));
            accepted.push(listener.accept().await.unwrap().0);
        }
        (conns, accepted)
    }

    #[tokio::test(start_paused = true)]
    async fn the_pool_keeps_its_limits_makes_room_from_the_oldest_and_forgets_stale_ones() {
        let (conns, _accepted) = idle_conns(4).await;
        let mut conns = conns.into_iter();
        let pool = Pool::new(1, 2);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        pool.put(&a, conns.next().unwrap());
        pool.put(&a, conns.next().unwrap());
        assert_eq!(pool.lock().total, 1, "one per host");
        tokio::time::advance(Duration::from_secs(1)).await;
        pool.put(&b, conns.next().unwrap());
        tokio::time::advance(Duration::from_secs(1)).await;
        pool.put(&c, conns.next().unwrap());
        assert_eq!(pool.lock().total, 2, "two in all");
        assert!(pool.take(&a).is_none(), "the oldest made room");
        assert!(pool.take(&b).is_some());
        tokio::time::advance(IDLE_FOR).await;
        assert!(pool.take(&c).is_none(), "idle too long");
        assert_eq!(pool.lock().total, 0);
        assert!(
            pool.lock().by_key.is_empty(),
            "no host kept without connections"
        );
    }

    #[test]
    fn a_host_header_given_replaces_the_urls() {
        let host = [(HOST, HeaderValue::from_static("virtual.test"))];
        assert_eq!(
            rendered("http://127.0.0.1:9/", &host),
            "GET / HTTP/1.1\r\nhost: virtual.test\r\n\r\n"
        );
    }
}
