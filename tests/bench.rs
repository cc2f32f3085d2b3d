//! `netkit bench echo` against netkit's own echo server and against a server that
//! corrupts its echoes: the JSON report's contract and the exit codes. No speed is
//! asserted, only that work was done and checked.

mod common;

use serde_json::Value;

use common::{
    FakeServer, Finished, ServeProcess, assert_latency_reported, bench_json, count,
    refused_tcp_addr,
};

/// Runs `netkit bench echo ADDR --duration 1s --json EXTRA` and parses its report.
fn bench(addr: &str, extra: &[&str]) -> (Finished, Value) {
    let mut args = vec!["bench", "echo", addr, "--duration", "1s"];
    args.extend_from_slice(extra);
    bench_json(&args)
}

/// The connections a terminated server's summary says it served.
fn served_connections(server: &Finished) -> u64 {
    let summary = server
        .stderr
        .lines()
        .find(|line| line.contains("served"))
        .unwrap_or_else(|| panic!("no summary: {server:?}"));
    let after = summary.split("served ").nth(1).expect("served N");
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"))
}

#[test]
fn ping_pong_reports_verified_round_trips_and_latency_as_json() {
    let server = ServeProcess::start(&[]);
    let addr = server.tcp.to_string();
    let (finished, report) = bench(&addr, &["--connections", "4"]);

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["mode"], "pingpong");
    assert_eq!(report["target"], addr.as_str());
    assert_eq!(count(&report, "connections"), 4);
    assert_eq!(count(&report, "size"), 1024);
    assert!(count(&report, "operations") > 0, "{report}");
    assert_eq!(count(&report, "mismatches"), 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert_latency_reported(&report);
    assert!(
        report["server"].is_null(),
        "no --server-pid, no server figures"
    );
}

#[test]
fn churn_opens_a_connection_per_operation_and_samples_the_server() {
    let server = ServeProcess::start(&[]);
    let pid = server.pid().to_string();
    let (finished, report) = bench(
        &server.tcp.to_string(),
        &["--churn", "--connections", "4", "--server-pid", &pid],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["mode"], "churn");
    let operations = count(&report, "operations");
    assert!(operations > 0, "{report}");
    assert_eq!(count(&report, "mismatches"), 0, "{report}");
    assert_latency_reported(&report);
    assert_eq!(count(&report["server"], "pid"), u64::from(server.pid()));
    assert!(report["server"]["rss_per_connection_bytes"].is_null());

    // Each operation was a connection of its own: the server saw at least as many.
    let summary = server.terminate();
    assert!(
        served_connections(&summary) >= operations,
        "server served fewer connections than the {operations} reported: {summary:?}"
    );
}

#[test]
fn idle_holds_checked_connections_and_reports_server_memory_per_connection() {
    let server = ServeProcess::start(&[]);
    let pid = server.pid().to_string();
    let (finished, report) = bench(
        &server.tcp.to_string(),
        &["--idle", "--connections", "20", "--server-pid", &pid],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["mode"], "idle");
    assert_eq!(count(&report, "operations"), 20, "every connection opened");
    assert_eq!(count(&report, "mismatches"), 0, "{report}");
    assert_latency_reported(&report);
    let per_connection = report["server"]["rss_per_connection_bytes"]
        .as_f64()
        .unwrap_or_else(|| panic!("server.rss_per_connection_bytes missing in {report}"));
    assert!(per_connection >= 0.0, "{report}");

    let summary = server.terminate();
    assert_eq!(served_connections(&summary), 20, "{summary:?}");
}

#[test]
fn echoes_that_differ_are_counted_as_mismatches_and_exit_1() {
    let corrupting = FakeServer::corrupting();
    let (finished, report) = bench(&corrupting.addr.to_string(), &["--connections", "4"]);

    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert!(count(&report, "mismatches") > 0, "{report}");
    assert!(
        finished
            .stderr
            .contains("echoes differed from what was sent"),
        "{finished:?}"
    );
}

#[test]
fn a_server_that_refuses_every_connection_exits_1_with_no_operations() {
    let addr = refused_tcp_addr().to_string();
    let (finished, report) = bench(&addr, &["--connections", "2"]);

    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(count(&report, "operations"), 0, "{report}");
    assert!(
        count(&report["errors"], "connection refused") > 0,
        "refusals are counted: {report}"
    );
    assert!(
        finished
            .stderr
            .contains(&format!("no operation completed against {addr}")),
        "{finished:?}"
    );
}
