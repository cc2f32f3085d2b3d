//! The chat page in a real browser: runs `tests/browser/e2e.mjs` (Debian's
//! chromium driven by playwright-core) against this build's `netkit` binary,
//! and the page's pure-logic unit tests (`tests/browser/unit/`, node's own
//! test runner). Both are node programs; these tests fail when they fail.
//!
//! They skip, saying why, only when a tool they need is not installed: node,
//! `/usr/bin/chromium`, or `tests/browser/node_modules` (`npm ci --prefix
//! tests/browser`). `.ci/run` installs all three.
//!
//! One more test needs none of them: every file the page loads (its script,
//! the modules that imports, its style) is served from the binary, as it is
//! in `web/`, with its content type and the Content-Security-Policy.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::irc::ChatServeProcess;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The e2e script has its own overall deadline (120 s); this one only
/// catches a node process that hangs anyway.
const LIMIT: Duration = Duration::from_secs(240);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Why the test cannot run here, if it cannot.
fn missing(needs_browser: bool) -> Option<String> {
    if !node_available() {
        return Some("node is not installed".to_string());
    }
    if needs_browser {
        if !Path::new(CHROMIUM).exists() {
            return Some(format!(
                "{CHROMIUM} is not installed (apt-get install chromium)"
            ));
        }
        let modules = root().join("tests/browser/node_modules/playwright-core");
        if !modules.exists() {
            return Some(format!(
                "{} is missing (npm ci --prefix tests/browser)",
                modules.display()
            ));
        }
    }
    None
}

/// Runs node with `args` in the repository root, its output to a file that is
/// printed afterwards (shown by the test harness when the test fails), and
/// panics unless it exits 0 within [`LIMIT`].
fn run_node(name: &str, args: &[&str], env: &[(&str, &Path)]) {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let log_path = out_dir.join(format!("{name}.log"));
    let log = File::create(&log_path).expect("create the node log file");
    let mut command = Command::new("node");
    command
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log file handle"))
        .stderr(log);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("{output}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("node {} failed ({status}); output above", args.join(" ")),
        None => panic!("node {} ran longer than {LIMIT:?}", args.join(" ")),
    }
}

#[test]
fn chat_page_in_chromium() {
    if let Some(why) = missing(true) {
        eprintln!("skipped: {why}");
        return;
    }
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("browser");
    run_node(
        "browser-e2e",
        &["tests/browser/e2e.mjs"],
        &[
            ("NETKIT_BIN", Path::new(env!("CARGO_BIN_EXE_netkit"))),
            ("NETKIT_BROWSER_OUT", &screenshots),
        ],
    );
}

#[test]
fn chat_page_logic_unit_tests() {
    if let Some(why) = missing(false) {
        eprintln!("skipped: {why}");
        return;
    }
    run_node("browser-unit", &["--test", "tests/browser/unit/"], &[]);
}

/// A `GET` over a fresh connection: status, headers (names lower-cased), body.
fn get(addr: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|err| panic!("connect {addr}: {err}"));
    stream
        .set_read_timeout(Some(common::PATIENCE))
        .expect("set a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|err| panic!("read the response to GET {path}: {err}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in the response to GET {path}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line for GET {path}: {head}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The local files a page or module refers to: `src="./x"`, `href="x"`,
/// `from './x.js'`, `import './x.js'`.
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for opener in ["src=\"", "href=\"", "from '", "import '"] {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let close = if opener.ends_with('"') { '"' } else { '\'' };
            if let Some(end) = rest.find(close) {
                let target = rest[..end].trim_start_matches("./").trim_start_matches('/');
                if !target.contains(':') && !target.is_empty() {
                    found.push(target.to_string());
                }
            }
        }
    }
    found
}

#[test]
fn every_file_the_page_loads_is_served_as_in_web() {
    let mut server = ChatServeProcess::with_web(&[]);
    let http = server.http.expect("an HTTP address").to_string();
    let web = root().join("web");
    let mut queue = vec![("/".to_string(), "index.html".to_string())];
    let mut seen = BTreeSet::new();
    while let Some((path, file)) = queue.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let on_disk = std::fs::read_to_string(web.join(&file))
            .unwrap_or_else(|err| panic!("web/{file}, referred to by the page: {err}"));
        let (status, headers, body) = get(&http, &path);
        assert_eq!(status, 200, "GET {path}");
        let expected_type = match file.rsplit('.').next() {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            other => panic!("web/{file}: no content type known for {other:?}"),
        };
        assert_eq!(
            header(&headers, "content-type"),
            Some(expected_type),
            "GET {path}"
        );
        let policy = header(&headers, "content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("default-src 'self'"),
            "GET {path}: CSP {policy:?}"
        );
        assert!(body == on_disk, "GET {path} serves web/{file} as it is");
        for target in references(&on_disk) {
            queue.push((format!("/{target}"), target));
        }
    }
    // Every file in web/ belongs to the page (package.json only tells node
    // that the modules are ES modules, for the unit tests).
    let in_web: BTreeSet<String> = std::fs::read_dir(&web)
        .expect("list web/")
        .map(|entry| {
            entry
                .expect("a web/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "package.json")
        .collect();
    assert_eq!(
        seen, in_web,
        "the files the page loads are the files in web/"
    );
    server.netkit.terminate();
}
