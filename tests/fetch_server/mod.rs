//! An HTTP/1.1 test server for `fetch`, on 127.0.0.1 port 0, run on its own
//! runtime so the tests that drive the binary need none. Hand-written rather
//! than a framework, to misbehave exactly: reset mid-body, stall, loop.
//!
//! Routes:
//! - `/ok/NAME`: 200, body `ok NAME\n`, after 20 ms (so requests overlap)
//! - `/size/N`: 200, N bytes of [`pattern`]; honours `Range: bytes=S-` with 206
//! - `/stall/N`: like `/size/N`, but a request from byte 0 gets half the body and
//!   then nothing more (the connection stays open)
//! - `/redirect/N`: 302 to `/redirect/N-1`; `/redirect/0` is 200 `done\n`
//! - `/loop/a` and `/loop/b`: 302 to each other
//! - `/status/CODE`: that status, body `status CODE\n`
//! - `/flaky/KEY`: 500 the first time per KEY, then 200 `recovered\n`
//! - `/busy/KEY`: 429 with `Retry-After: 1` the first time per KEY, then 200
//! - `/slow`: the response headers come after 30 s
//! - `/reset`: promises 2000 bytes, sends 1000, then resets the connection
//! - `/gzip`: a gzip-encoded text body (to a client that accepts gzip)
//! - `/chunked/N`: N bytes of [`pattern`] in chunked encoding, no Content-Length
//! - `/headers`: the request headers as the body, one `name: value` per line
//! - `/gate`: answers 300 ms after `/open` has been answered
//! - `/open`: 200 `open\n`
//! - any other path: 200, body `path PATH\n`

#![allow(dead_code)] // Not every test file uses every helper.

mod tls;

pub use tls::{TLS_BODY, start_https};

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    counts: Mutex<HashMap<String, u32>>,
    /// `/ok` requests being answered now, per the whole server, and the most seen.
    active: Mutex<(usize, usize)>,
    opened: Notify,
    open: Mutex<bool>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

/// Byte `i` of every generated body.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

impl TestServer {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the test server");
        let addr = listener.local_addr().expect("test server address");
        let state = Arc::new(State::default());
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, shared.clone()));
                }
            }
        });
        Self {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests seen so far for paths starting with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        let seen = self.state.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The most `/ok` requests that were in progress at once.
    pub fn max_concurrent_ok(&self) -> usize {
        self.state.active.lock().unwrap().1
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let Some((path, headers)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        state.seen.lock().unwrap().push(Seen {
            path: path.clone(),
            headers: headers.clone(),
            at: Instant::now(),
        });
        if !respond(&mut stream, &state, &path, &headers).await {
            return;
        }
    }
}

/// Reads one request head (at most 64 KiB); `None` at end of stream.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<(String, String)>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let path = lines.next()?.split(' ').nth(1)?.to_string();
            let headers = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            return Some((path, headers));
        }
        if buf.len() > 64 << 10 {
            return None;
        }
        let mut chunk = [0; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn head(status: &str, extra: &[(&str, String)], len: Option<usize>) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(len) = len {
        out.push_str(&format!("Content-Length: {len}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

async fn send(stream: &mut TcpStream, status: &str, extra: &[(&str, String)], body: &[u8]) -> bool {
    let mut out = head(status, extra, Some(body.len()));
    out.extend_from_slice(body);
    stream.write_all(&out).await.is_ok()
}

/// First time for this key?
fn first_time(state: &State, key: &str) -> bool {
    let mut counts = state.counts.lock().unwrap();
    let n = counts.entry(key.to_string()).or_default();
    *n += 1;
    *n == 1
}

/// The start of `Range: bytes=S-`.
fn range_start(headers: &[(String, String)]) -> Option<usize> {
    let value = headers.iter().find(|(n, _)| n == "range")?.1.as_str();
    value
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// Answers one request; false to close the connection.
async fn respond(
    stream: &mut TcpStream,
    state: &State,
    path: &str,
    headers: &[(String, String)],
) -> bool {
    let (route, arg) = match path[1..].split_once('/') {
        Some((route, arg)) => (route, arg),
        None => (&path[1..], ""),
    };
    match route {
        "ok" => {
            {
                let mut active = state.active.lock().unwrap();
                active.0 += 1;
                active.1 = active.1.max(active.0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            state.active.lock().unwrap().0 -= 1;
            send(stream, "200 OK", &[], format!("ok {arg}\n").as_bytes()).await
        }
        "size" | "stall" => {
            let Ok(len) = arg.parse::<usize>() else {
                return send(stream, "400 Bad Request", &[], b"").await;
            };
            let body = pattern(len);
            let ranges = [("Accept-Ranges", "bytes".to_string())];
            match range_start(headers) {
                Some(start) if start < len => {
                    let range = ("Content-Range", format!("bytes {start}-{}/{len}", len - 1));
                    send(stream, "206 Partial Content", &[range], &body[start..]).await
                }
                Some(_) => {
                    let range = ("Content-Range", format!("bytes */{len}"));
                    send(stream, "416 Range Not Satisfiable", &[range], b"").await
                }
                None if route == "stall" => {
                    let mut out = head("200 OK", &ranges, Some(len));
                    out.extend_from_slice(&body[..len / 2]);
                    let _ = stream.write_all(&out).await;
                    std::future::pending::<()>().await;
                    false
                }
                None => send(stream, "200 OK", &ranges, &body).await,
            }
        }
        "redirect" => match arg.parse::<u32>() {
            Ok(0) => send(stream, "200 OK", &[], b"done\n").await,
            Ok(n) => {
                let to = ("Location", format!("/redirect/{}", n - 1));
                send(stream, "302 Found", &[to], b"").await
            }
            Err(_) => send(stream, "400 Bad Request", &[], b"").await,
        },
        "loop" => {
            let next = if arg == "a" { "/loop/b" } else { "/loop/a" };
            send(stream, "302 Found", &[("Location", next.to_string())], b"").await
        }
        "status" => {
            let status = match arg {
                "404" => "404 Not Found",
                "500" => "500 Internal Server Error",
                "403" => "403 Forbidden",
                _ => "400 Bad Request",
            };
            send(stream, status, &[], format!("status {arg}\n").as_bytes()).await
        }
        "flaky" => {
            if first_time(state, path) {
                send(stream, "500 Internal Server Error", &[], b"try again\n").await
            } else {
                send(stream, "200 OK", &[], b"recovered\n").await
            }
        }
        "busy" => {
            if first_time(state, path) {
                let after = ("Retry-After", "1".to_string());
                send(stream, "429 Too Many Requests", &[after], b"slow down\n").await
            } else {
                send(stream, "200 OK", &[], b"recovered\n").await
            }
        }
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            send(stream, "200 OK", &[], b"too late\n").await
        }
        "reset" => {
            let mut out = head("200 OK", &[], Some(2000));
            out.extend_from_slice(&pattern(1000));
            let _ = stream.write_all(&out).await;
            // Linger 0: close sends RST instead of FIN.
            let _ = stream.set_zero_linger();
            false
        }
        // The same text, compressed with the encoding named in the path when the
        // client accepts it.
        "encoded" => {
            let text = "compressed text\n".repeat(100);
            let accepts = headers
                .iter()
                .any(|(n, v)| n == "accept-encoding" && v.contains(arg));
            if !accepts {
                return send(stream, "200 OK", &[], text.as_bytes()).await;
            }
            let body = match arg {
                "gzip" => {
                    let mut encoder =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    encoder.write_all(text.as_bytes()).unwrap();
                    encoder.finish().unwrap()
                }
                "br" => {
                    let mut encoder = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
                    encoder.write_all(text.as_bytes()).unwrap();
                    encoder.into_inner()
                }
                "zstd" => zstd::encode_all(text.as_bytes(), 3).unwrap(),
                _ => return send(stream, "400 Bad Request", &[], b"").await,
            };
            let encoding = ("Content-Encoding", arg.to_string());
            send(stream, "200 OK", &[encoding], &body).await
        }
        "chunked" => {
            let len: usize = arg.parse().unwrap_or(0);
            let body = pattern(len);
            let mut out = head("200 OK", &[("Transfer-Encoding", "chunked".into())], None);
            for piece in body.chunks(1000) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            stream.write_all(&out).await.is_ok()
        }
        "headers" => {
            let text: String = headers.iter().map(|(n, v)| format!("{n}: {v}\n")).collect();
            send(stream, "200 OK", &[], text.as_bytes()).await
        }
        "gate" => {
            loop {
                let opened = state.opened.notified();
                if *state.open.lock().unwrap() {
                    break;
                }
                opened.await;
            }
            // Time for the client to take in /open's response before this one.
            tokio::time::sleep(Duration::from_millis(300)).await;
            send(stream, "200 OK", &[], b"gate\n").await
        }
        "open" => {
            let ok = send(stream, "200 OK", &[], b"open\n").await;
            let _ = stream.flush().await;
            *state.open.lock().unwrap() = true;
            state.opened.notify_waiters();
            ok
        }
        // Any other path (where a traversal URL lands once normalized).
        _ => send(stream, "200 OK", &[], format!("path {path}\n").as_bytes()).await,
    }
}
