//! `netkit fetch` as a user runs it, against an in-process HTTP server on
//! 127.0.0.1: printed results, files under -o, the report, retries, limits,
//! failures of every kind, exit codes, --resume and Ctrl-C; and the library's
//! `Fetcher::fetch_all` stream.

mod common;
mod fetch_server;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Finished, Netkit, PATIENCE, refused_tcp_addr};
use fetch_server::{TLS_BODY, TestServer, pattern, start_https};
use serde_json::Value;

/// Runs `netkit fetch ARGS` to completion with `input` on stdin.
fn fetch(args: &[&str], input: &[u8]) -> Finished {
    let mut full = vec!["fetch"];
    full.extend_from_slice(args);
    Netkit::run(&full, input)
}

/// The report's records, one per line.
fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read the report");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn record<'a>(records: &'a [Value], url: &str) -> &'a Value {
    let matching: Vec<&Value> = records.iter().filter(|r| r["url"] == url).collect();
    assert_eq!(matching.len(), 1, "one record for {url}: {records:#?}");
    matching[0]
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                found.push(path.strip_prefix(dir).expect("under dir").to_path_buf());
            }
        }
    }
    found.sort();
    found
}

/// The directory name the server's URLs are saved under.
fn host_dir(server: &TestServer) -> String {
    format!("127.0.0.1_{}", server.addr.port())
}

#[test]
fn prints_each_result_as_a_header_then_the_body_and_exits_0() {
    let server = TestServer::start();
    let (a, b) = (server.url("/ok/a"), server.url("/ok/b"));
    let done = fetch(&[&a, &b], b"");
    assert_eq!(done.code(), Some(0), "{done:?}");
    let out = done.stdout_text();
    for (url, body) in [(&a, "ok a\n"), (&b, "ok b\n")] {
        let header = format!("==> {url} (200, 5 B, ");
        let at = out
            .find(&header)
            .unwrap_or_else(|| panic!("no {header:?} in {out}"));
        let rest = &out[at..];
        let line_end = rest.find('\n').unwrap();
        assert!(rest[..line_end].ends_with(" ms)"), "{out}");
        assert!(rest[line_end + 1..].starts_with(body), "{out}");
    }
    assert!(done.stderr.contains("fetched 2 of 2 URLs"), "{done:?}");
}

#[test]
fn ordered_prints_in_input_order_and_otherwise_in_completion_order() {
    // /gate answers only after /open has been answered.
    let server = TestServer::start();
    let (gate, open) = (server.url("/gate"), server.url("/open"));
    let unordered = fetch(&[&gate, &open], b"");
    assert_eq!(unordered.code(), Some(0), "{unordered:?}");
    let out = unordered.stdout_text();
    assert!(out.find(&open).unwrap() < out.find(&gate).unwrap(), "{out}");

    let server = TestServer::start();
    let (gate, open) = (server.url("/gate"), server.url("/open"));
    let ordered = fetch(&["--ordered", &gate, &open], b"");
    assert_eq!(ordered.code(), Some(0), "{ordered:?}");
    let out = ordered.stdout_text();
    assert!(out.find(&gate).unwrap() < out.find(&open).unwrap(), "{out}");
}

#[test]
fn every_failure_is_reported_for_its_url_and_the_rest_go_on() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.jsonl");
    let refused = format!("http://{}/x", refused_tcp_addr());
    let urls = [
        server.url("/ok/good"),
        server.url("/status/404"),
        "not a url".to_string(),
        "ftp://127.0.0.1/file".to_string(),
        refused.clone(),
        server.url("/loop/a"),
        server.url("/redirect/3"),
    ];
    let mut args = vec!["--report", report.to_str().unwrap(), "--retries", "1"];
    args.extend(urls.iter().map(String::as_str));
    let done = fetch(&args, b"");
    assert_eq!(done.code(), Some(1), "{done:?}");
    let records = records(&report);
    assert_eq!(records.len(), urls.len(), "{records:#?}");

    let good = record(&records, &urls[0]);
    assert_eq!(
        (good["status"].as_u64(), good["error"].is_null()),
        (Some(200), true)
    );
    assert_eq!(good["bytes"], 8);

    let missing = record(&records, &urls[1]);
    assert_eq!(missing["error"], "status");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["message"], "HTTP 404 Not Found");
    assert_eq!(missing["attempts"], 1, "a 404 is never retried");

    assert_eq!(record(&records, "not a url")["error"], "invalid_url");
    assert_eq!(record(&records, &urls[3])["error"], "invalid_url");

    let refused = record(&records, &refused);
    assert_eq!(refused["error"], "connect");
    assert_eq!(refused["message"], "connection refused");
    assert_eq!(refused["attempts"], 2, "connection errors are retried");

    let looped = record(&records, &urls[5]);
    assert_eq!(looped["error"], "redirect");
    assert!(
        looped["message"]
            .as_str()
            .unwrap()
            .contains("redirect loop")
    );

    let redirected = record(&records, &urls[6]);
    assert_eq!(redirected["status"], 200);
    assert_eq!(redirected["final_url"], server.url("/redirect/0"));

    let out = done.stdout_text();
    assert!(
        out.contains(&format!(
            "==> {} (failed: HTTP 404 Not Found, 1 attempt,",
            urls[1]
        )),
        "{out}"
    );
    assert!(
        !out.contains("status 404"),
        "the body of a failure is not printed: {out}"
    );
    assert!(done.stderr.contains("fetched 2 of 7 URLs"), "{done:?}");
}

#[test]
fn a_500_then_200_succeeds_on_retry() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.jsonl");
    let url = server.url("/flaky/1");
    let done = fetch(&["--report", report.to_str().unwrap(), &url], b"");
    assert_eq!(done.code(), Some(0), "{done:?}");
    let r = &records(&report)[0];
    assert_eq!(
        (r["status"].as_u64(), r["attempts"].as_u64()),
        (Some(200), Some(2))
    );
    assert!(done.stdout_text().contains("recovered"), "{done:?}");
}

#[test]
fn a_429_is_retried_no_sooner_than_retry_after_says() {
    let server = TestServer::start();
    let url = server.url("/busy/1");
    let done = fetch(&[&url], b"");
    assert_eq!(done.code(), Some(0), "{done:?}");
    let seen = server.seen("/busy/1");
    assert_eq!(seen.len(), 2, "{seen:?}");
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After was 1s"
    );
}

#[test]
fn no_retries_for_other_4xx() {
    let server = TestServer::start();
    let url = server.url("/status/403");
    let done = fetch(&["--retries", "3", &url], b"");
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(server.seen("/status/403").len(), 1);
}

#[test]
fn a_slow_server_times_out_without_holding_up_the_others() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.jsonl");
    let slow = server.url("/slow");
    let mut args = vec![
        "--timeout",
        "300ms",
        "--retries",
        "1",
        "-j",
        "2",
        "--per-host",
        "2",
        "--report",
        report.to_str().unwrap(),
        &slow,
    ];
    let oks: Vec<String> = (0..10).map(|i| server.url(&format!("/ok/{i}"))).collect();
    args.extend(oks.iter().map(String::as_str));
    let done = fetch(&args, b"");
    assert_eq!(done.code(), Some(1), "{done:?}");
    let records = records(&report);
    let slow = record(&records, &slow);
    assert_eq!(
        (slow["error"].as_str(), slow["attempts"].as_u64()),
        (Some("timeout"), Some(2))
    );
    assert!(
        slow["message"]
            .as_str()
            .unwrap()
            .contains("no response within")
    );
    for ok in &oks {
        assert!(record(&records, ok)["error"].is_null());
    }
}

#[test]
fn a_reset_mid_body_is_a_transfer_failure_and_is_retried() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = dir.path().join("r.jsonl");
    let url = server.url("/reset");
    let done = fetch(
        &[
            "-o",
            out.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            &url,
        ],
        b"",
    );
    assert_eq!(done.code(), Some(1), "{done:?}");
    let r = &records(&report)[0];
    assert_eq!(r["error"], "transfer", "{r}");
    assert_eq!(r["attempts"], 3, "{r}");
    assert_eq!(server.seen("/reset").len(), 3);
    let name = out.join(host_dir(&server)).join("reset");
    assert!(
        !name.exists(),
        "a broken body never appears under its final name"
    );
    assert!(
        done.stderr.contains(&url),
        "a failure with -o gets a line on stderr: {done:?}"
    );
}

#[test]
fn compressed_and_chunked_bodies_arrive_decoded_and_whole() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let done = fetch(
        &[
            "-o",
            out.to_str().unwrap(),
            &server.url("/encoded/gzip"),
            &server.url("/encoded/br"),
            &server.url("/encoded/zstd"),
            &server.url("/chunked/5500"),
        ],
        b"",
    );
    assert_eq!(done.code(), Some(0), "{done:?}");
    let host = out.join(host_dir(&server));
    for encoding in ["gzip", "br", "zstd"] {
        let text = std::fs::read_to_string(host.join("encoded").join(encoding)).unwrap();
        assert_eq!(text, "compressed text\n".repeat(100), "{encoding}");
        let seen = &server.seen(&format!("/encoded/{encoding}"))[0];
        let accepted = seen.header("accept-encoding").unwrap_or_default();
        assert!(
            accepted.contains(encoding),
            "{encoding} not offered: {accepted}"
        );
    }
    assert_eq!(
        std::fs::read(host.join("chunked/5500")).unwrap(),
        pattern(5500)
    );
}

#[test]
fn https_is_verified_and_speaks_http2_or_http1_as_alpn_decides() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ca.pem");
    for (http2, protocol) in [(true, "h2"), (false, "http/1.1")] {
        let addr = start_https(http2);
        let url = format!("https://127.0.0.1:{}/tls", addr.port());

        let trusted = fetch(&["--ca-cert", ca, &url], b"");
        assert_eq!(trusted.code(), Some(0), "{trusted:?}");
        let stdout = String::from_utf8_lossy(&trusted.stdout);
        assert!(
            stdout.contains(&format!("{TLS_BODY}{protocol}\n")),
            "{stdout}"
        );

        // Without the test CA the certificate is unknown: the URL fails, no body.
        let untrusted = fetch(&["--retries", "0", &url], b"");
        assert_eq!(untrusted.code(), Some(1), "{untrusted:?}");
        assert!(!String::from_utf8_lossy(&untrusted.stdout).contains(TLS_BODY));
    }
    let missing = fetch(
        &["--ca-cert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"],
        b"",
    );
    assert_eq!(missing.code(), Some(2), "{missing:?}");
}

#[test]
fn rate_spaces_out_the_requests_to_one_host() {
    let server = TestServer::start();
    let urls: Vec<String> = (0..5).map(|i| server.url(&format!("/ok/{i}"))).collect();
    let mut args = vec!["--rate", "10/s", "-o"];
    let dir = tempfile::tempdir().unwrap();
    args.push(dir.path().to_str().unwrap());
    args.extend(urls.iter().map(String::as_str));
    let started = std::time::Instant::now();
    let done = fetch(&args, b"");
    let elapsed = started.elapsed();
    assert_eq!(done.code(), Some(0), "{done:?}");
    // Five starts at 10 per second are at least 0.4 s apart from first to last;
    // only a lower bound is checked, since a busy machine may be slower.
    assert!(
        elapsed >= Duration::from_millis(400),
        "5 requests at 10/s took only {elapsed:?}"
    );
    assert_eq!(server.seen("/ok/").len(), 5);
}

#[test]
fn bodies_over_max_size_fail_and_leave_no_file() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = dir.path().join("r.jsonl");
    // One with a Content-Length, one chunked (the limit is found while reading).
    let (known, chunked, small) = (
        server.url("/size/100000"),
        server.url("/chunked/100000"),
        server.url("/size/100"),
    );
    let done = fetch(
        &[
            "--max-size",
            "10KiB",
            "-o",
            out.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            &known,
            &chunked,
            &small,
        ],
        b"",
    );
    assert_eq!(done.code(), Some(1), "{done:?}");
    let records = records(&report);
    for url in [&known, &chunked] {
        let r = record(&records, url);
        assert_eq!(
            (r["error"].as_str(), r["attempts"].as_u64()),
            (Some("too_large"), Some(1))
        );
    }
    let host = host_dir(&server);
    assert_eq!(
        files_under(&out),
        [PathBuf::from(format!("{host}/size/100"))]
    );
}

#[test]
fn files_are_named_from_the_url_and_never_outside_the_directory() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let long = "x".repeat(400);
    let urls = [
        server.url("/ok/../../../escape1"),
        server.url("/ok/%2e%2e/%2e%2e/%2e%2e/escape2"),
        server.url("/ok/..%2f..%2f..%2fescape3"),
        server.url("/ok/nul%00byte"),
        server.url(&format!("/ok/{long}")),
        server.url("/ok/dir/"),
        server.url("/ok/q?a=1&b=/etc/passwd"),
    ];
    let mut args = vec!["-o", out.to_str().unwrap()];
    args.extend(urls.iter().map(String::as_str));
    let done = fetch(&args, b"");
    assert_eq!(done.code(), Some(0), "{done:?}");
    // Nothing next to the output directory, and everything under it.
    let beside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["out"]);
    let files = files_under(&out);
    assert_eq!(files.len(), urls.len(), "{files:#?}");
    let host = host_dir(&server);
    for file in &files {
        assert!(file.starts_with(&host), "{file:?}");
        for part in file.components() {
            assert!(part.as_os_str().len() <= 255, "{file:?}");
        }
        assert!(!file.to_string_lossy().contains('\0'));
    }
    let names: HashSet<String> = files
        .iter()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&format!("{host}/escape1")), "{names:?}");
    assert!(
        names.contains(&format!("{host}/ok/dir/index.html")),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("{host}/ok/q?a=1&b=_etc_passwd")),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| !n.ends_with(".netkit-part")),
        "{names:?}"
    );
}

#[test]
fn urls_from_stdin_skip_blanks_and_comments_and_each_gets_one_record() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.jsonl");
    let urls: Vec<String> = (0..200).map(|i| server.url(&format!("/ok/{i}"))).collect();
    let mut input = String::from("# a list\n\n");
    for url in &urls {
        input.push_str(url);
        input.push_str("\n\n");
    }
    input.push_str("   \n# the end\n");
    let done = fetch(
        &[
            "-i",
            "-",
            "-j",
            "16",
            "--per-host",
            "3",
            "--report",
            report.to_str().unwrap(),
        ],
        input.as_bytes(),
    );
    assert_eq!(done.code(), Some(0), "{done:?}");
    let records = records(&report);
    assert_eq!(records.len(), urls.len());
    let reported: HashSet<&str> = records.iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert_eq!(reported, urls.iter().map(String::as_str).collect());
    let most = server.max_concurrent_ok();
    assert!(
        (1..=3).contains(&most),
        "{most} requests at once to one host, limit 3"
    );
}

#[test]
fn json_summary_is_one_object_on_stdout() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let done = fetch(
        &[
            "--json",
            "-o",
            out.to_str().unwrap(),
            &server.url("/ok/1"),
            &server.url("/status/404"),
        ],
        b"",
    );
    assert_eq!(done.code(), Some(1), "{done:?}");
    let summary: Value = serde_json::from_str(done.stdout_text().trim()).expect("one JSON object");
    assert_eq!(summary["urls"], 2);
    assert_eq!(summary["succeeded"], 1);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["errors"]["status"], 1);
}

#[test]
fn headers_and_user_agent_are_sent() {
    let server = TestServer::start();
    let done = fetch(
        &[
            "-H",
            "X-Token: secret",
            "--user-agent",
            "tester/1",
            &server.url("/headers"),
        ],
        b"",
    );
    assert_eq!(done.code(), Some(0), "{done:?}");
    let out = done.stdout_text();
    assert!(out.contains("x-token: secret"), "{out}");
    assert!(out.contains("user-agent: tester/1"), "{out}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    for args in [
        vec![],
        vec!["-H", "no colon", "http://127.0.0.1:9/"],
        vec!["--resume", "http://127.0.0.1:9/"],
        vec!["-j", "0", "http://127.0.0.1:9/"],
        vec!["--timeout", "5", "http://127.0.0.1:9/"],
        vec!["-i", missing.to_str().unwrap()],
    ] {
        let done = fetch(&args, b"");
        assert_eq!(done.code(), Some(2), "{args:?}: {done:?}");
    }
}

#[test]
fn resume_continues_an_interrupted_download_with_a_range_request() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let url = server.url("/stall/100000");
    // The first request gets half the body, then nothing: it times out.
    let first = fetch(
        &[
            "-o",
            out.to_str().unwrap(),
            "--timeout",
            "300ms",
            "--retries",
            "0",
            &url,
        ],
        b"",
    );
    assert_eq!(first.code(), Some(1), "{first:?}");
    let final_path = out.join(host_dir(&server)).join("stall/100000");
    assert!(!final_path.exists());
    let part = out.join(host_dir(&server)).join("stall/100000.netkit-part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 50_000);

    let second = fetch(&["-o", out.to_str().unwrap(), "--resume", &url], b"");
    assert_eq!(second.code(), Some(0), "{second:?}");
    assert_eq!(std::fs::read(&final_path).unwrap(), pattern(100_000));
    assert!(!part.exists());
    let seen = server.seen("/stall/");
    assert_eq!(seen.last().unwrap().header("range"), Some("bytes=50000-"));

    // A third run with --resume keeps the finished file and asks nothing.
    let third = fetch(&["-o", out.to_str().unwrap(), "--resume", &url], b"");
    assert_eq!(third.code(), Some(0), "{third:?}");
    assert_eq!(server.seen("/stall/").len(), seen.len());
}

#[test]
fn ctrl_c_cancels_leaves_no_partial_file_and_reports_every_url() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = dir.path().join("r.jsonl");
    let stalled = server.url("/stall/100000");
    let queued: Vec<String> = (0..5).map(|i| server.url(&format!("/ok/{i}"))).collect();
    let mut args = vec![
        "fetch",
        "-j",
        "1",
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        &stalled,
    ];
    args.extend(queued.iter().map(String::as_str));
    let mut netkit = Netkit::spawn(&args);
    let part = out.join(host_dir(&server)).join("stall/100000.netkit-part");
    let deadline = Instant::now() + PATIENCE;
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 50_000 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = libc::pid_t::try_from(netkit.pid()).unwrap();
    // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let done = netkit.wait();
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert!(!out.join(host_dir(&server)).join("stall/100000").exists());
    let records = records(&report);
    assert_eq!(records.len(), 1 + queued.len(), "{records:#?}");
    for url in std::iter::once(&stalled).chain(&queued) {
        assert_eq!(record(&records, url)["error"], "cancelled");
    }
    assert!(done.stderr.contains("fetched 0 of 6 URLs"), "{done:?}");
}

#[test]
fn the_library_yields_outcomes_in_completion_order() {
    use futures::StreamExt;
    let server = TestServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcomes = runtime.block_on(async {
        let fetcher = netkit::fetch::Fetcher::builder().build().unwrap();
        let urls = futures::stream::iter([server.url("/gate"), server.url("/open")]);
        let all = fetcher
            .fetch_all(urls, Default::default())
            .collect::<Vec<_>>();
        tokio::time::timeout(PATIENCE, all)
            .await
            .expect("fetch_all finished")
    });
    let order: Vec<(u64, bool)> = outcomes.iter().map(|o| (o.index, o.succeeded())).collect();
    assert_eq!(order, [(1, true), (0, true)]);
    assert_eq!(outcomes[0].body.as_ref().map(|b| b.len()), Some(5));
}

#[test]
fn in_input_order_a_slow_url_holds_back_a_bounded_number_of_others() {
    use futures::StreamExt;
    let server = TestServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (early, total) = runtime.block_on(async {
        let fetcher = netkit::fetch::Fetcher::builder()
            .concurrency(2)
            .ordered(true)
            .build()
            .unwrap();
        // /slow answers after 30 s; the 20 others at once.
        let urls: Vec<String> = std::iter::once(server.url("/slow"))
            .chain((0..20).map(|i| server.url(&format!("/ok/{i}"))))
            .collect();
        let cancel = tokio_util::sync::CancellationToken::new();
        let mut outcomes =
            std::pin::pin!(fetcher.fetch_all(futures::stream::iter(urls), cancel.clone()));
        let mut early = Vec::new();
        let wait = tokio::time::sleep(Duration::from_secs(1));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                Some(outcome) = outcomes.next() => early.push(outcome.index),
                _ = &mut wait => break,
            }
        }
        cancel.cancel();
        let rest = tokio::time::timeout(PATIENCE, outcomes.count())
            .await
            .expect("the rest ends once cancelled");
        let total = early.len() + rest;
        (early, total)
    });
    // Twice the concurrency past the slow first URL: the 3 after it, no more.
    assert_eq!(early, [1, 2, 3]);
    assert_eq!(total, 21, "every URL gets its outcome");
}
