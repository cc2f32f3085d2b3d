//! `netkit fetch` on plain `http://` URLs, against a scripted raw-TCP server:
//! keep-alive reuse and its races, every way a body can end, informational
//! responses, malformed and oversized heads, the request it sends, redirects
//! across origins, decoding under --max-size, and `http_proxy`.
//!
//! The server here writes exactly the bytes a test scripts, so the client meets
//! what real servers do on the wire, including what a well-behaved HTTP library
//! would never produce.

mod common;

use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{Finished, KIB, MIB, Netkit, PATIENCE, first_difference, random_bytes};
use serde_json::Value;

// ----------------------------------------------------------------------------
// The scripted server
// ----------------------------------------------------------------------------

/// The longest request head the server reads; a longer one ends the connection.
const MAX_REQUEST_HEAD: usize = 64 * KIB;

/// How often a connection waiting for a request checks whether its server stopped.
const POLL: Duration = Duration::from_millis(50);

/// One request head as the server read it.
#[derive(Clone, Debug)]
struct Request {
    /// Which accepted connection it came on (0, 1, ...).
    conn: usize,
    /// Its place on that connection (0 for the first request).
    nth: usize,
    /// The request line, then the header lines, without the blank line.
    head: String,
}

impl Request {
    fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    fn path(&self) -> &str {
        self.line().split(' ').nth(1).unwrap_or_default()
    }

    /// Every value of the header `name` (compared case-insensitively).
    fn header(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
            .collect()
    }
}

/// What the server writes for one request, and whether it then hangs up.
struct Reply {
    bytes: Vec<u8>,
    close: bool,
    /// Written [`LATER`] after `bytes`, when no request asked for them.
    later: Vec<u8>,
}

/// How long after a reply its `later` bytes are written.
const LATER: Duration = Duration::from_millis(100);

impl Reply {
    /// Writes `bytes` and waits for the next request on the connection.
    fn keep(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            close: false,
            later: Vec::new(),
        }
    }

    /// Writes `bytes` (none: hangs up unanswered), then closes the connection.
    fn close(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
            close: true,
            later: Vec::new(),
        }
    }
}

type Script = dyn Fn(&Request) -> Reply + Send + Sync;

/// A TCP server on 127.0.0.1 that answers each request head with what its
/// script says. Every connection gets a thread; all of them end within
/// [`POLL`] of the server being dropped.
struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Server {
    fn start(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the scripted server");
        let addr = listener.local_addr().expect("scripted server address");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let accepting = {
            let (requests, connections, stop) =
                (requests.clone(), connections.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut serving = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let conn = connections.fetch_add(1, Ordering::SeqCst);
                            let (script, requests, stop) =
                                (script.clone(), requests.clone(), stop.clone());
                            serving.push(std::thread::spawn(move || {
                                serve(stream, conn, &*script, &requests, &stop);
                            }));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                for connection in serving {
                    let _ = connection.join();
                }
            })
        };
        Self {
            addr,
            requests,
            connections,
            stop,
            accepting: Some(accepting),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Where `-o out` saves this server's `path`.
    fn saved(&self, out: &Path, path: &str) -> PathBuf {
        out.join(format!("127.0.0.1_{}", self.addr.port()))
            .join(path.trim_start_matches('/'))
    }

    /// Every request head read so far, in order of arrival.
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// TCP connections accepted so far.
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
    }
}

/// Reads request heads on one connection and writes the script's replies until
/// the client hangs up, a reply closes, or the server stops.
fn serve(
    mut stream: TcpStream,
    conn: usize,
    script: &Script,
    requests: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(PATIENCE)));
    if setup.is_err() {
        return;
    }
    let mut buffered = Vec::new();
    for nth in 0.. {
        let Some(head) = read_head(&mut stream, &mut buffered, stop) else {
            return;
        };
        let request = Request { conn, nth, head };
        let reply = script(&request);
        requests.lock().unwrap().push(request);
        // The client may give up on a reply it does not like before reading it all.
        let mut written = stream.write_all(&reply.bytes);
        if written.is_ok() && !reply.later.is_empty() {
            std::thread::sleep(LATER);
            written = stream.write_all(&reply.later);
        }
        if reply.close || written.is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// The next request head (up to its blank line), leaving what follows in
/// `buffered`; `None` at the end of the connection or once the server stops.
fn read_head(stream: &mut TcpStream, buffered: &mut Vec<u8>, stop: &AtomicBool) -> Option<String> {
    let mut piece = [0; 4096];
    loop {
        if let Some(end) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffered[..end]).into_owned();
            buffered.drain(..end + 4);
            return Some(head);
        }
        if buffered.len() > MAX_REQUEST_HEAD || stop.load(Ordering::SeqCst) {
            return None;
        }
        match stream.read(&mut piece) {
            Ok(0) => return None,
            Ok(n) => buffered.extend_from_slice(&piece[..n]),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
}

/// A whole `200 OK` response with a Content-Length, the connection kept.
fn ok(body: &[u8]) -> Vec<u8> {
    response(
        "HTTP/1.1 200 OK",
        &format!("Content-Length: {}", body.len()),
        body,
    )
}

/// A status line, header lines (`\r\n`-separated, without the last one) and a body.
fn response(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{status}\r\n{headers}\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

// ----------------------------------------------------------------------------
// Running netkit
// ----------------------------------------------------------------------------

/// How a `netkit fetch` run ended, and its report.
struct Run {
    done: Finished,
    records: Vec<Value>,
}

impl Run {
    /// The one record for `url`.
    fn record(&self, url: &str) -> &Value {
        let matching: Vec<&Value> = self.records.iter().filter(|r| r["url"] == url).collect();
        assert_eq!(matching.len(), 1, "one record for {url}: {self:#?}");
        matching[0]
    }

    /// Asserts the exit code, with the whole run in the failure message.
    fn assert_exit(&self, code: i32) {
        assert_eq!(self.done.code(), Some(code), "exit code: {self:#?}");
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("code", &self.done.code())
            .field("stderr", &self.done.stderr)
            .field("records", &self.records)
            .finish()
    }
}

/// Runs `netkit fetch --report FILE ARGS` to completion.
fn fetch(args: &[&str]) -> Run {
    fetch_with_env(args, &[])
}

/// [`fetch`] with these environment variables set for netkit.
fn fetch_with_env(args: &[&str], env: &[(&str, &OsStr)]) -> Run {
    let dir = tempfile::tempdir().expect("a directory for the report");
    let report = dir.path().join("report.jsonl");
    // A response that never comes fails the run well before PATIENCE.
    let mut full = vec![
        "fetch",
        "--timeout",
        "5s",
        "--report",
        report.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    let mut netkit = Netkit::spawn_with_env(&full, env);
    netkit.close_stdin();
    let done = netkit.wait();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let records = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    Run { done, records }
}

/// Every file under `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|entry| {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// Asserts that `path` holds exactly `expected`, without printing megabytes.
fn assert_file(path: &Path, expected: &[u8]) {
    let saved = std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(
        saved == expected,
        "{}: {} bytes saved, {} expected, first difference at {:?}",
        path.display(),
        saved.len(),
        expected.len(),
        first_difference(&saved, expected)
    );
}

// ----------------------------------------------------------------------------
// Connections
// ----------------------------------------------------------------------------

/// Many small files from one server cost one connection, not one each.
#[test]
fn keep_alive_fetches_twenty_urls_over_one_connection() {
    let server = Server::start(|_| Reply::keep(ok(b"small body\n")));
    let urls: Vec<String> = (0..20).map(|i| server.url(&format!("/k/{i}"))).collect();
    let mut args = vec!["-j", "1", "--per-host", "1"];
    args.extend(urls.iter().map(String::as_str));
    let run = fetch(&args);
    run.assert_exit(0);
    for url in &urls {
        assert_eq!(run.record(url)["status"], 200, "{run:#?}");
    }
    assert_eq!(server.requests().len(), 20);
    assert_eq!(server.connections(), 1, "{:#?}", server.requests());
}

/// Fetches `count` URLs one at a time with no retries, and asserts each
/// succeeded at its first attempt.
fn assert_every_url_succeeds_first_time(server: &Server, count: usize) {
    let urls: Vec<String> = (0..count).map(|i| server.url(&format!("/r/{i}"))).collect();
    let mut args = vec!["-j", "1", "--per-host", "1", "--retries", "0"];
    args.extend(urls.iter().map(String::as_str));
    let run = fetch(&args);
    run.assert_exit(0);
    for url in &urls {
        let record = run.record(url);
        assert_eq!(
            (record["status"].as_u64(), record["attempts"].as_u64()),
            (Some(200), Some(1)),
            "{record}"
        );
    }
}

/// A server that hangs up after every response without saying so costs the
/// user nothing: no failure, no retry spent.
#[test]
fn a_server_closing_after_each_response_unannounced_costs_no_attempt() {
    let server = Server::start(|_| Reply::close(ok(b"then gone\n")));
    assert_every_url_succeeds_first_time(&server, 5);
}

/// A server whose keep-alive timeout fires just as the next request arrives
/// (it hangs up without a byte of response) costs the user nothing either: the
/// request goes again on a new connection.
#[test]
fn an_idle_connection_closed_as_it_is_reused_is_replaced_transparently() {
    let server = Server::start(|request| match request.nth {
        0 => Reply::keep(ok(b"first on this connection\n")),
        _ => Reply::close(Vec::new()),
    });
    assert_every_url_succeeds_first_time(&server, 5);
    assert_eq!(server.connections(), 5, "{:#?}", server.requests());
}

/// `Connection: close` is obeyed even when the server leaves the socket open:
/// the next request goes on a new connection.
#[test]
fn connection_close_sends_the_next_request_on_a_new_connection() {
    let server = Server::start(|_| {
        Reply::keep(response(
            "HTTP/1.1 200 OK",
            "Content-Length: 4\r\nConnection: close",
            b"bye\n",
        ))
    });
    let (first, second) = (server.url("/one"), server.url("/two"));
    let run = fetch(&["-j", "1", "--per-host", "1", &first, &second]);
    run.assert_exit(0);
    assert_eq!(run.record(&second)["status"], 200);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_ne!(requests[0].conn, requests[1].conn, "{requests:#?}");
}

// ----------------------------------------------------------------------------
// Bodies
// ----------------------------------------------------------------------------

/// An HTTP/1.0 server that ends its body by closing: the file is whole.
#[test]
fn an_http_1_0_body_ending_at_close_is_saved_whole() {
    let body = random_bytes(100_000, 10);
    let reply = response(
        "HTTP/1.0 200 OK",
        "Content-Type: application/octet-stream",
        &body,
    );
    let server = Server::start(move |_| Reply::close(reply.clone()));
    let out = tempfile::tempdir().unwrap();
    let url = server.url("/old/whole");
    let run = fetch(&["-o", out.path().to_str().unwrap(), &url]);
    run.assert_exit(0);
    assert_eq!(run.record(&url)["bytes"], body.len(), "{run:#?}");
    assert_file(&server.saved(out.path(), "/old/whole"), &body);
}

/// Large bodies (past the point where the client reads in larger pieces),
/// with a length, in chunks and to the close, are saved whole; the kept-alive
/// connection then serves the next one.
#[test]
fn large_bodies_of_every_framing_are_saved_whole() {
    let body = random_bytes(9 * MIB + 12_345, 11);
    let mut chunked = Vec::new();
    for piece in body.chunks(100_003) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (plain, close) = (ok(&body), response("HTTP/1.0 200 OK", "X: y", &body));
    let chunked = response("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", &chunked);
    let server = Server::start(move |request| match request.path() {
        "/close" => Reply::close(close.clone()),
        "/chunked" => Reply::keep(chunked.clone()),
        _ => Reply::keep(plain.clone()),
    });
    let out = tempfile::tempdir().unwrap();
    let paths = ["/length", "/chunked", "/length2", "/close"];
    let urls: Vec<String> = paths.iter().map(|path| server.url(path)).collect();
    let mut args = vec!["-j", "1", "-o", out.path().to_str().unwrap()];
    args.extend(urls.iter().map(String::as_str));
    let run = fetch(&args);
    run.assert_exit(0);
    for path in paths {
        assert_file(&server.saved(out.path(), path), &body);
    }
    assert_eq!(server.connections(), 1, "{:#?}", server.requests());
}

/// A `103 Early Hints` before the answer is not taken for the answer.
#[test]
fn early_hints_before_the_200_are_skipped() {
    let mut reply = response(
        "HTTP/1.1 103 Early Hints",
        "Link: </a.css>; rel=preload",
        b"",
    );
    reply.extend(ok(b"the real body\n"));
    let server = Server::start(move |_| Reply::keep(reply.clone()));
    let out = tempfile::tempdir().unwrap();
    let url = server.url("/hinted");
    let run = fetch(&["-o", out.path().to_str().unwrap(), &url]);
    run.assert_exit(0);
    assert_eq!(run.record(&url)["status"], 200, "{run:#?}");
    assert_file(&server.saved(out.path(), "/hinted"), b"the real body\n");
}

/// Chunk extensions and trailers do not end up in the file, and the
/// connection is still good for the next request.
#[test]
fn a_chunked_body_with_extensions_and_trailers_is_saved_exactly_and_keeps_the_connection() {
    let chunked = response(
        "HTTP/1.1 200 OK",
        "Transfer-Encoding: chunked",
        b"5;name=value\r\nhello\r\n\
          1A;a=b;quoted=\"x;y\"\r\n, abcdefghijklmnopqrstuvwx\r\n\
          1\r\n\n\r\n\
          0;last\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
    );
    let server = Server::start(move |_| Reply::keep(chunked.clone()));
    let out = tempfile::tempdir().unwrap();
    let (first, second) = (server.url("/c/1"), server.url("/c/2"));
    let out_dir = out.path().to_str().unwrap();
    let run = fetch(&["-j", "1", "--per-host", "1", "-o", out_dir, &first, &second]);
    run.assert_exit(0);
    let expected = b"hello, abcdefghijklmnopqrstuvwx\n";
    assert_file(&server.saved(out.path(), "/c/1"), expected);
    assert_file(&server.saved(out.path(), "/c/2"), expected);
    assert_eq!(server.connections(), 1, "{:#?}", server.requests());
}

/// A body cut short of its Content-Length fails as a transfer error and never
/// appears under its final name.
#[test]
fn a_body_shorter_than_its_content_length_fails_and_leaves_no_file() {
    let server = Server::start(|_| {
        Reply::close(response(
            "HTTP/1.1 200 OK",
            "Content-Length: 1000",
            b"0123456789",
        ))
    });
    let out = tempfile::tempdir().unwrap();
    let url = server.url("/short");
    let run = fetch(&["--retries", "0", "-o", out.path().to_str().unwrap(), &url]);
    run.assert_exit(1);
    let record = run.record(&url);
    assert_eq!(record["error"], "transfer", "{record}");
    assert_eq!(
        record["message"], "connection closed before the end of the body",
        "{record}"
    );
    let saved = server.saved(out.path(), "/short");
    assert!(!saved.exists(), "{} exists", saved.display());
}

/// A gzip body is limited by its decoded size: a small download that inflates
/// past --max-size fails and leaves nothing behind; without the limit it is
/// saved decoded and whole.
#[test]
fn a_gzip_body_is_decoded_and_its_decoded_size_is_limited() {
    use flate2::{Compression, write::GzEncoder};
    let zeros = vec![0; 2 * MIB];
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&zeros).unwrap();
    let gzipped = encoder.finish().unwrap();
    let reply = response(
        "HTTP/1.1 200 OK",
        &format!(
            "Content-Encoding: gzip\r\nContent-Length: {}",
            gzipped.len()
        ),
        &gzipped,
    );
    let server = Server::start(move |_| Reply::keep(reply.clone()));
    let url = server.url("/zeros");

    let limited = tempfile::tempdir().unwrap();
    let run = fetch(&[
        "--max-size",
        "100K",
        "-o",
        limited.path().to_str().unwrap(),
        &url,
    ]);
    run.assert_exit(1);
    assert_eq!(run.record(&url)["error"], "too_large", "{run:#?}");
    assert_eq!(
        files_under(limited.path()),
        Vec::<PathBuf>::new(),
        "no file, not even a .netkit-part"
    );

    let whole = tempfile::tempdir().unwrap();
    let run = fetch(&["-o", whole.path().to_str().unwrap(), &url]);
    run.assert_exit(0);
    assert_file(&server.saved(whole.path(), "/zeros"), &zeros);
    let offered = server.requests()[0].header("accept-encoding").join(",");
    assert!(offered.contains("gzip"), "gzip not offered: {offered:?}");
}

/// The size limit holds for the last decoded bytes too, which the decoder
/// writes out only once the body has ended: still `too_large`, not a decoding
/// error, and not retried.
#[test]
fn a_gzip_body_just_over_the_limit_is_too_large() {
    use flate2::{Compression, write::GzEncoder};
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&[b'z'; 110_000]).unwrap();
    let gzipped = encoder.finish().unwrap();
    let headers = format!(
        "Content-Encoding: gzip\r\nContent-Length: {}",
        gzipped.len()
    );
    let reply = response("HTTP/1.1 200 OK", &headers, &gzipped);
    let server = Server::start(move |_| Reply::keep(reply.clone()));
    let url = server.url("/z");
    let run = fetch(&["--max-size", "100000", &url]);
    run.assert_exit(1);
    let record = run.record(&url);
    assert_eq!(
        (record["error"].as_str(), record["attempts"].as_u64()),
        (Some("too_large"), Some(1)),
        "{run:#?}"
    );
}

/// An empty body is empty whatever Content-Encoding says: a 204 or a
/// zero-length 200 "in gzip" or "in br" succeeds, with an empty file.
#[test]
fn an_empty_body_in_an_encoding_is_an_empty_file() {
    let server = Server::start(|request| {
        Reply::keep(match request.path() {
            "/none" => response("HTTP/1.1 204 No Content", "Content-Encoding: gzip", b""),
            _ => response(
                "HTTP/1.1 200 OK",
                "Content-Encoding: br\r\nContent-Length: 0",
                b"",
            ),
        })
    });
    let out = tempfile::tempdir().unwrap();
    let (none, empty) = (server.url("/none"), server.url("/empty"));
    let run = fetch(&["-o", out.path().to_str().unwrap(), &none, &empty]);
    run.assert_exit(0);
    assert_file(&server.saved(out.path(), "/none"), b"");
    assert_file(&server.saved(out.path(), "/empty"), b"");
}

/// `user:password@` in a URL is sent as Basic credentials to its origin,
/// also after a redirect within it, and not to another origin.
#[test]
fn credentials_in_the_url_go_to_its_origin_only() {
    let elsewhere = Server::start(|_| Reply::keep(ok(b"elsewhere\n")));
    let away = elsewhere.url("/dest");
    let origin = Server::start(move |request| {
        // Absolute, without the user: the credentials come from the URL the
        // user named.
        let location = match request.path() {
            "/cross" => away.clone(),
            "/same" => format!("http://{}/dest", request.header("host")[0]),
            _ => return Reply::keep(ok(b"here\n")),
        };
        let headers = format!("Location: {location}\r\nContent-Length: 0");
        Reply::keep(response("HTTP/1.1 301 Moved Permanently", &headers, b""))
    });
    let with_user = |path: &str| format!("http://us%20er:p%40ss@{}{path}", origin.addr);
    let (cross, same) = (with_user("/cross"), with_user("/same"));
    let run = fetch(&[&cross, &same]);
    run.assert_exit(0);
    // base64 of "us er:p@ss"
    let basic = "Basic dXMgZXI6cEBzcw==";
    for request in origin.requests() {
        assert_eq!(request.header("authorization"), [basic], "{request:#?}");
    }
    assert_eq!(origin.requests().len(), 3, "/cross, /same and /dest");
    // The report does not repeat the password.
    assert_eq!(
        run.record(&same)["final_url"],
        origin.url("/dest"),
        "{run:#?}"
    );
    let there = elsewhere.requests();
    assert_eq!(there.len(), 1, "{there:#?}");
    assert!(there[0].header("authorization").is_empty(), "{there:#?}");
}

/// A host name is looked up, and each of its addresses tried: `localhost`
/// may name ::1 first, where nothing listens, then 127.0.0.1.
#[test]
fn a_host_name_is_resolved_and_its_addresses_tried_in_turn() {
    let server = Server::start(|_| Reply::keep(ok(b"by name\n")));
    let url = format!("http://localhost:{}/named", server.addr.port());
    let out = tempfile::tempdir().unwrap();
    let run = fetch(&["-o", out.path().to_str().unwrap(), &url]);
    run.assert_exit(0);
    let requests = server.requests();
    let host = format!("localhost:{}", server.addr.port());
    assert_eq!(requests[0].header("host"), [host.as_str()], "{requests:#?}");
    let saved = out
        .path()
        .join(format!("localhost_{}", server.addr.port()))
        .join("named");
    assert_file(&saved, b"by name\n");
}

/// With the pool full (`-j 1` keeps one idle connection), the connection
/// idle longest makes room for the newest, which the next request reuses.
#[test]
fn a_full_pool_keeps_the_newest_connection() {
    let a = Server::start(|_| Reply::keep(ok(b"a\n")));
    let b = Server::start(|_| Reply::keep(ok(b"b\n")));
    let urls = [a.url("/1"), b.url("/1"), b.url("/2")];
    let mut args = vec!["-j", "1"];
    args.extend(urls.iter().map(String::as_str));
    let run = fetch(&args);
    run.assert_exit(0);
    assert_eq!((a.connections(), b.connections()), (1, 1), "{run:#?}");
}

/// Bytes that arrive on an idle connection after its response (a server
/// that sent more than it said) are not taken for the next response: the
/// next request goes on a new connection and succeeds first time.
#[test]
fn stray_bytes_on_an_idle_connection_retire_it() {
    let server = Server::start(|_| Reply {
        later: b"HTTP/1.1 500 Stray\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ..Reply::keep(ok(b"fine\n"))
    });
    let (a, b) = (server.url("/a"), server.url("/b"));
    // Two requests a second: the second starts after the stray bytes came.
    let run = fetch(&["-j", "1", "--per-host", "1", "--rate", "2", &a, &b]);
    run.assert_exit(0);
    for url in [&a, &b] {
        let record = run.record(url);
        assert_eq!(
            (record["status"].as_u64(), record["attempts"].as_u64()),
            (Some(200), Some(1)),
            "{run:#?}"
        );
    }
    assert_eq!(server.connections(), 2, "{:#?}", server.requests());
}

// ----------------------------------------------------------------------------
// Broken responses
// ----------------------------------------------------------------------------

/// Something that is not HTTP fails as a transfer error, retried like one.
#[test]
fn a_malformed_status_line_is_a_transfer_failure() {
    let server = Server::start(|_| Reply::close(b"garbage\r\n\r\n".to_vec()));
    let url = server.url("/garbage");
    let run = fetch(&["--retries", "1", &url]);
    run.assert_exit(1);
    let record = run.record(&url);
    assert_eq!(record["error"], "transfer", "{record}");
    let message = record["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("malformed response"), "{record}");
    assert_eq!(record["attempts"], 2, "{record}");
    assert_eq!(server.requests().len(), 2);
}

/// A response head past 64 KiB is refused instead of buffered without end.
#[test]
fn a_response_head_over_64_kib_is_a_transfer_failure() {
    let filler: String = (0..2000)
        .map(|i| format!("X-Filler-{i:04}: {}\r\n", "f".repeat(40)))
        .collect();
    let head = format!("{filler}Content-Length: 3");
    let server = Server::start(move |_| Reply::close(response("HTTP/1.1 200 OK", &head, b"ok\n")));
    let url = server.url("/big-head");
    let run = fetch(&["--retries", "0", &url]);
    run.assert_exit(1);
    let record = run.record(&url);
    assert_eq!(record["error"], "transfer", "{record}");
    let message = record["message"].as_str().unwrap_or_default();
    assert!(message.contains("response head"), "{record}");
}

// ----------------------------------------------------------------------------
// What is sent
// ----------------------------------------------------------------------------

/// The request is the URL's path and query (never its fragment), to the right
/// Host, with netkit's user agent (or the user's) and the user's headers.
#[test]
fn the_request_carries_path_query_host_user_agent_and_headers() {
    let server = Server::start(|_| Reply::keep(ok(b"seen\n")));
    let url = format!("{}#frag", server.url("/p/a?x=1&y=2"));
    let run = fetch(&["-H", "X-Test: yes", &url]);
    run.assert_exit(0);
    let requests = server.requests();
    let request = &requests[0];
    assert_eq!(request.line(), "GET /p/a?x=1&y=2 HTTP/1.1", "{request:#?}");
    assert_eq!(
        request.header("host"),
        [format!("127.0.0.1:{}", server.addr.port())],
        "{request:#?}"
    );
    let agents = request.header("user-agent");
    assert!(
        agents.len() == 1 && agents[0].starts_with("netkit/"),
        "{request:#?}"
    );
    assert_eq!(request.header("x-test"), ["yes"], "{request:#?}");

    let run = fetch(&["--user-agent", "custom/1", &server.url("/agent")]);
    run.assert_exit(0);
    let requests = server.requests();
    let request = requests.last().unwrap();
    assert_eq!(request.path(), "/agent");
    assert_eq!(request.header("user-agent"), ["custom/1"], "{request:#?}");
}

/// Redirects are followed; credentials go along within the origin but never
/// to another one, while other headers do.
#[test]
fn redirects_keep_credentials_within_the_origin_only() {
    let elsewhere = Server::start(|_| Reply::keep(ok(b"elsewhere\n")));
    let away = elsewhere.url("/dest");
    let origin = Server::start(move |request| {
        let location = match request.path() {
            "/cross" => away.as_str(),
            "/same" => "/dest",
            _ => return Reply::keep(ok(b"here\n")),
        };
        let headers = format!("Location: {location}\r\nContent-Length: 6");
        Reply::keep(response("HTTP/1.1 302 Found", &headers, b"moved\n"))
    });
    let (cross, same) = (origin.url("/cross"), origin.url("/same"));
    let run = fetch(&[
        "-H",
        "Authorization: Bearer secret",
        "-H",
        "X-Keep: 1",
        "-H",
        "Host: virtual.test",
        &cross,
        &same,
    ]);
    run.assert_exit(0);

    let record = run.record(&cross);
    assert_eq!(record["status"], 200, "{record}");
    assert_eq!(record["final_url"], elsewhere.url("/dest"), "{record}");
    let there = elsewhere.requests();
    assert_eq!(there.len(), 1, "{there:#?}");
    assert_eq!(there[0].header("x-keep"), ["1"], "{there:#?}");
    assert!(there[0].header("authorization").is_empty(), "{there:#?}");
    let own_host = elsewhere.addr.to_string();
    assert_eq!(there[0].header("host"), [own_host.as_str()], "{there:#?}");

    let record = run.record(&same);
    assert_eq!(record["status"], 200, "{record}");
    assert_eq!(record["final_url"], origin.url("/dest"), "{record}");
    let here: Vec<Request> = origin
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/dest")
        .collect();
    assert_eq!(here.len(), 1, "{here:#?}");
    assert_eq!(
        here[0].header("authorization"),
        ["Bearer secret"],
        "{here:#?}"
    );
    assert_eq!(here[0].header("x-keep"), ["1"], "{here:#?}");
    assert_eq!(here[0].header("host"), ["virtual.test"], "{here:#?}");
}

/// With `http_proxy` set, plain http goes through the proxy (absolute-form
/// request line), and the proxy's answer is what is saved.
#[test]
fn http_proxy_from_the_environment_is_used() {
    let via = via_proxy("");
    assert_eq!(via.proxy.len(), 1, "{via:#?}");
    assert_eq!(via.proxy[0].line(), format!("GET {} HTTP/1.1", via.url));
    assert!(via.origin.is_empty(), "{via:#?}");
    assert_eq!(via.saved, b"from the proxy\n");
}

/// A host in `no_proxy` is fetched directly, by netkit's own client.
#[test]
fn no_proxy_hosts_are_fetched_directly() {
    let via = via_proxy("localhost,127.0.0.1");
    assert!(via.proxy.is_empty(), "{via:#?}");
    assert_eq!(via.origin.len(), 1, "{via:#?}");
    assert_eq!(via.origin[0].line(), "GET /x HTTP/1.1");
    assert_eq!(via.saved, b"from the origin\n");
}

/// What a fetch with `http_proxy` set saw.
#[derive(Debug)]
struct ViaProxy {
    url: String,
    proxy: Vec<Request>,
    origin: Vec<Request>,
    saved: Vec<u8>,
}

/// Fetches one URL with `http_proxy` naming a scripted proxy and `no_proxy`
/// set to `no_proxy` (the test's own environment may not exempt 127.0.0.1).
fn via_proxy(no_proxy: &str) -> ViaProxy {
    let proxy = Server::start(|_| Reply::keep(ok(b"from the proxy\n")));
    let origin = Server::start(|_| Reply::keep(ok(b"from the origin\n")));
    let url = origin.url("/x");
    let proxy_url = format!("http://{}", proxy.addr);
    let out = tempfile::tempdir().unwrap();
    let no_proxy = OsStr::new(no_proxy);
    let run = fetch_with_env(
        &["-o", out.path().to_str().unwrap(), &url],
        &[
            ("http_proxy", OsStr::new(&proxy_url)),
            ("no_proxy", no_proxy),
            ("NO_PROXY", no_proxy),
        ],
    );
    run.assert_exit(0);
    let saved = std::fs::read(origin.saved(out.path(), "/x")).expect("the saved body");
    ViaProxy {
        url,
        proxy: proxy.requests(),
        origin: origin.requests(),
        saved,
    }
}
