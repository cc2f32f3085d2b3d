//! The chat page in a real browser: runs `tests/browser/e2e.mjs` (Debian's
//! chromium driven by playwright-core) against this build's `netkit` binary,
//! and the page's pure-logic unit tests (`tests/browser/unit/`, node's own
//! test runner). Both are node programs; these tests fail when they fail.
//!
//! They skip, saying why, only when a tool they need is not installed: node,
//! `/usr/bin/chromium`, or `tests/browser/node_modules` (`npm ci --prefix
//! tests/browser`). `.ci/run` installs all three.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
