//! `netkit bench chat` against netkit's own chat server (the real binary) and
//! against a small IRC server written here that can refuse a first nickname and
//! drop messages: the JSON report's contract and the exit codes. No speed is
//! asserted, only that work was done and checked.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use netkit::chat::irc::Message;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use common::irc::{ChatServeProcess, ready_addr};
use common::{FakeServer, Finished, Netkit, assert_latency_reported, bench_json, count};

/// `netkit chat serve` on a free port, with history in memory.
struct ChatServe {
    netkit: Netkit,
    addr: String,
}

impl ChatServe {
    fn start() -> ChatServe {
        Self::start_with(&[])
    }

    /// Flood control off, as for any server under a load generator.
    fn start_with(extra: &[&str]) -> ChatServe {
        let mut args = vec!["--flood", "off"];
        args.extend_from_slice(extra);
        let ChatServeProcess { netkit, addr, .. } = ChatServeProcess::start(&args);
        ChatServe {
            netkit,
            addr: addr.to_string(),
        }
    }
}

/// Runs `netkit bench chat ADDR --json EXTRA` and parses its report.
fn bench(addr: &str, extra: &[&str]) -> (Finished, Value) {
    bench_over(&[addr], extra)
}

/// Runs `netkit bench chat ADDR... --json EXTRA` and parses its report.
fn bench_over(addrs: &[&str], extra: &[&str]) -> (Finished, Value) {
    let mut args = vec!["bench", "chat"];
    args.extend_from_slice(addrs);
    args.extend_from_slice(extra);
    bench_json(&args)
}

fn assert_all_delivered(report: &Value) {
    let deliveries = count(report, "deliveries");
    assert!(deliveries > 0, "{report}");
    assert_eq!(count(report, "losses"), 0, "{report}");
    assert_eq!(count(report, "expected"), deliveries, "{report}");
    for field in ["duplicates", "reordered", "corrupt"] {
        assert_eq!(count(report, field), 0, "{field} in {report}");
    }
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
}

#[test]
fn saturating_run_against_netkit_delivers_everything_and_reports_latency() {
    let server = ChatServe::start();
    let pid = server.netkit.pid().to_string();
    let (finished, report) = bench(
        &server.addr,
        &[
            "--clients",
            "20",
            "--senders",
            "2",
            "--duration",
            "1s",
            "--server-pid",
            &pid,
        ],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["target"], server.addr.as_str());
    assert_eq!(report["channel"], "#bench");
    assert_eq!(count(&report, "clients"), 20);
    assert_eq!(count(&report, "joined"), 20);
    assert_eq!(count(&report, "senders"), 2);
    assert_eq!(count(&report, "size"), 64);
    assert_eq!(count(&report, "window"), 16);
    assert!(report["rate"].is_null(), "{report}");
    assert_all_delivered(&report);
    // Every line reaches the 19 other clients.
    assert_eq!(count(&report, "deliveries"), count(&report, "sent") * 19);
    assert_latency_reported(&report);
    assert!(report["deliveries_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(
        count(&report["server"], "pid"),
        u64::from(server.netkit.pid())
    );
    assert!(report["server"]["cpu_us_per_delivery"].as_f64().is_some());
}

#[test]
fn web_users_over_websocket_get_everything_too() {
    let server = ChatServeProcess::with_web(&["--flood", "off"]);
    let http = server.http.expect("an HTTP address").to_string();
    let (finished, report) = bench(
        &http,
        &[
            "--ws",
            "--clients",
            "10",
            "--senders",
            "2",
            "--duration",
            "1s",
        ],
    );
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(count(&report, "joined"), 10);
    assert_all_delivered(&report);
    assert_eq!(count(&report, "deliveries"), count(&report, "sent") * 9);
    assert_latency_reported(&report);
    // Nothing reaches a server that does not speak WebSocket.
    let irc = server.addr.to_string();
    let (finished, _) = bench(
        &irc,
        &[
            "--ws",
            "--clients",
            "2",
            "--senders",
            "1",
            "--duration",
            "1s",
        ],
    );
    assert_eq!(finished.code(), Some(1), "{finished:?}");
}

#[test]
fn clients_spread_over_two_listeners_of_one_server_get_everything() {
    // Two listeners of one server stand for two nodes of a cluster: the channel
    // spans them, so each line is owed to every other client, whichever
    // address it connected to.
    let mut server = ChatServeProcess::start(&["--flood", "off", "--irc", "127.0.0.1:0"]);
    let first = server.addr.to_string();
    let second = ready_addr(&server.netkit.line(), "irc").to_string();
    let pid = server.netkit.pid().to_string();
    let (finished, report) = bench_over(
        &[&first, &second],
        &[
            "--clients",
            "20",
            "--senders",
            "4",
            "--duration",
            "1s",
            "--server-pid",
            &pid,
        ],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["target"], first.as_str());
    assert_eq!(report["targets"], serde_json::json!([first, second]));
    assert_eq!(count(&report, "joined"), 20);
    assert_all_delivered(&report);
    assert_eq!(count(&report, "deliveries"), count(&report, "sent") * 19);
    let processes = report["server"]["processes"].as_array().expect("processes");
    assert_eq!(processes.len(), 1, "{report}");
    assert_eq!(count(&processes[0], "pid"), u64::from(server.netkit.pid()));
}

#[test]
fn client_i_connects_to_the_address_at_i_modulo_their_number() {
    // Of 6 clients over (server, refused, server), clients 1 and 4 are refused;
    // the 4 others join one channel and the sender, client 0, reaches the 3 others.
    let server = ChatServe::start();
    let refused = common::refused_tcp_addr().to_string();
    let (finished, report) = bench_over(
        &[&server.addr, &refused, &server.addr],
        &["--clients", "6", "--senders", "1", "--duration", "300ms"],
    );

    assert_eq!(
        finished.code(),
        Some(1),
        "not every client joined: {finished:?}"
    );
    assert_eq!(count(&report, "joined"), 4, "{report}");
    assert_eq!(
        report["errors"],
        serde_json::json!({"connect: connection refused": 2}),
        "{report}"
    );
    assert!(count(&report, "sent") > 0, "{report}");
    assert_eq!(count(&report, "deliveries"), count(&report, "sent") * 3);
    assert_eq!(count(&report, "losses"), 0, "{report}");
}

#[test]
fn idle_clients_over_two_servers_and_their_memory_summed() {
    // Idle clients are owed nothing, so two separate servers do as two nodes.
    let (a, b) = (ChatServe::start(), ChatServe::start());
    let pids = [a.netkit.pid(), b.netkit.pid()];
    let (pid_a, pid_b) = (pids[0].to_string(), pids[1].to_string());
    let (finished, report) = bench_over(
        &[&a.addr, &b.addr],
        &[
            "--idle",
            "--clients",
            "20",
            "--duration",
            "300ms",
            "--server-pid",
            &pid_a,
            "--server-pid",
            &pid_b,
        ],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(count(&report, "joined"), 20, "{report}");
    let usage = &report["server"];
    assert_eq!(
        count(usage, "pid"),
        u64::from(pids[0]),
        "the first: {report}"
    );
    let processes = usage["processes"].as_array().expect("processes");
    let listed: Vec<u64> = processes.iter().map(|p| count(p, "pid")).collect();
    assert_eq!(listed, pids.map(u64::from), "{report}");
    for field in ["rss_before_kib", "rss_after_kib"] {
        let sum: u64 = processes.iter().map(|p| count(p, field)).sum();
        assert_eq!(count(usage, field), sum, "{field} in {report}");
    }
    assert!(usage["rss_per_client_bytes"].as_f64().is_some(), "{report}");
}

#[test]
fn paced_run_sends_at_most_the_rate_asked_for() {
    let server = ChatServe::start();
    let (finished, report) = bench(
        &server.addr,
        &[
            "--clients",
            "10",
            "--senders",
            "5",
            "--rate",
            "200",
            "--duration",
            "1s",
            "--size",
            "200",
        ],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["rate"].as_f64(), Some(200.0));
    assert!(report["window"].is_null(), "{report}");
    assert_eq!(count(&report, "size"), 200);
    let sent = count(&report, "sent");
    assert!(
        sent > 0 && sent <= 210,
        "200 lines/s for 1s, sent {sent}: {report}"
    );
    assert_all_delivered(&report);
    assert_latency_reported(&report);
}

#[test]
fn text_report_names_the_figures() {
    let server = ChatServe::start();
    let finished = Netkit::run(
        &[
            "bench",
            "chat",
            &server.addr,
            "-c",
            "5",
            "-S",
            "1",
            "-d",
            "300ms",
        ],
        b"",
    );
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let text = finished.stdout_text();
    for word in ["deliveries", "latency", "p99", "losses       0 of"] {
        assert!(text.contains(word), "{word:?} missing in {text}");
    }
}

#[test]
fn idle_run_holds_the_clients_answering_pings_and_reports_memory_per_client() {
    // The server pings after 1s of silence and drops a client that does not
    // answer: holding 2.5s proves the idle clients answer.
    let server = ChatServe::start_with(&["--ping-interval", "1s"]);
    let pid = server.netkit.pid().to_string();
    let (finished, report) = bench(
        &server.addr,
        &[
            "--idle",
            "--clients",
            "30",
            "--duration",
            "2500ms",
            "--server-pid",
            &pid,
        ],
    );

    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(report["idle"], true, "{report}");
    assert_eq!(count(&report, "clients"), 30);
    assert_eq!(count(&report, "joined"), 30);
    assert_eq!(count(&report, "senders"), 0);
    assert_eq!(count(&report, "sent"), 0);
    assert_eq!(count(&report, "deliveries"), 0);
    assert!(report["window"].is_null(), "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert!(report["duration_s"].as_f64().unwrap() >= 2.4, "{report}");
    // Memory only for presence and sanity: a number of bytes, not a speed.
    let usage = &report["server"];
    assert_eq!(count(usage, "pid"), u64::from(server.netkit.pid()));
    let per_client = usage["rss_per_client_bytes"]
        .as_f64()
        .expect("rss_per_client_bytes");
    assert!(per_client.is_finite() && per_client >= 0.0, "{report}");
    assert!(count(usage, "rss_after_kib") > 0, "{report}");
}

#[test]
fn idle_text_report_and_no_memory_figure_without_a_server_pid() {
    let server = ChatServe::start();
    // 25 clients, 10 to a channel: #bench, #bench-1, #bench-2.
    let (finished, report) = bench(
        &server.addr,
        &["--idle", "-c", "25", "--members", "10", "-d", "200ms"],
    );
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(count(&report, "joined"), 25, "{report}");
    assert!(report["server"].is_null(), "{report}");

    let finished = Netkit::run(
        &[
            "bench",
            "chat",
            &server.addr,
            "--idle",
            "-c",
            "5",
            "-d",
            "200ms",
        ],
        b"",
    );
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let text = finished.stdout_text();
    assert!(text.contains("5 idle clients"), "{text}");
    assert!(
        text.contains("5 of 5 clients registered and joined"),
        "{text}"
    );
}

#[test]
fn bad_settings_exit_2() {
    let server = ChatServe::start();
    for extra in [
        &["--senders", "0"][..],
        &["--clients", "1"],
        &["--size", "1KiB"],
        &["--channel", "bench"],
        &["--idle", "--senders", "2"],
        &["--idle", "--rate", "100"],
        &["--idle", "--clients", "0"],
        &["--members", "5"],
        &["--idle", "--members", "0"],
        &["--setup-parallel", "0"],
    ] {
        let mut args = vec!["bench", "chat", server.addr.as_str()];
        args.extend_from_slice(extra);
        let finished = Netkit::run(&args, b"");
        assert_eq!(finished.code(), Some(2), "{extra:?}: {finished:?}");
    }
}

// ----------------------------------------------------------------------------
// A small IRC server that misbehaves on request
// ----------------------------------------------------------------------------

#[derive(Clone, Copy, Default)]
struct Faults {
    /// Answer every client's first NICK with 433 (nickname in use).
    nick_in_use_first: bool,
    /// Relay no copy of every Nth channel message.
    drop_every: Option<u64>,
    /// Relay every Nth channel message twice.
    repeat_every: Option<u64>,
}

/// A joined client: its id and its outbound queue.
type Member = (u64, mpsc::UnboundedSender<String>);

/// Registration (with a PING to answer first), JOIN with NAMES, and PRIVMSG to the
/// channel relayed to every other member, minus the faults asked for.
fn fake_irc(faults: Faults) -> FakeServer {
    let members: Arc<Mutex<Vec<Member>>> = Arc::default();
    let ids = Arc::new(AtomicU64::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    FakeServer::start(move |stream| {
        let (members, messages) = (members.clone(), messages.clone());
        let id = ids.fetch_add(1, Ordering::Relaxed);
        async move {
            let (reader, mut writer) = stream.into_split();
            let (out, mut queue) = mpsc::unbounded_channel::<String>();
            tokio::spawn(async move {
                while let Some(line) = queue.recv().await {
                    if writer.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
            let mut lines = BufReader::new(reader).lines();
            let mut nick = String::from("*");
            let mut refused = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(message) = Message::parse(line.as_bytes()) else {
                    continue;
                };
                let param = |i: usize| message.param(i).unwrap_or_default().to_string();
                match message.command.as_str() {
                    "NICK" if faults.nick_in_use_first && !refused => {
                        refused = true;
                        let _ = out.send(format!(
                            ":fake 433 * {} :Nickname is already in use\r\n",
                            param(0)
                        ));
                    }
                    "NICK" => {
                        // Like servers with a ping cookie: no welcome before the PONG.
                        nick = param(0);
                        let _ = out.send("PING :cookie\r\n".to_string());
                    }
                    "PONG" if param(0) == "cookie" => {
                        let _ = out.send(format!(":fake 001 {nick} :Welcome\r\n"));
                    }
                    "JOIN" => {
                        members.lock().unwrap().push((id, out.clone()));
                        let chan = param(0);
                        let _ = out.send(format!(
                            ":{nick}!u@h JOIN {chan}\r\n:fake 353 {nick} = {chan} :{nick}\r\n:fake 366 {nick} {chan} :End of /NAMES list.\r\n"
                        ));
                    }
                    "PRIVMSG" => {
                        let n = messages.fetch_add(1, Ordering::Relaxed) + 1;
                        if faults.drop_every.is_some_and(|every| n % every == 0) {
                            continue;
                        }
                        let mut relayed = format!(":{nick}!u@h {line}\r\n");
                        if faults.repeat_every.is_some_and(|every| n % every == 0) {
                            relayed = relayed.repeat(2);
                        }
                        for (member, queue) in members.lock().unwrap().iter() {
                            if *member != id {
                                let _ = queue.send(relayed.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            members.lock().unwrap().retain(|(member, _)| *member != id);
        }
    })
}

#[test]
fn a_nickname_in_use_is_replaced_and_pings_are_answered() {
    let server = fake_irc(Faults {
        nick_in_use_first: true,
        ..Faults::default()
    });
    let (finished, report) = bench(
        &server.addr.to_string(),
        &["--clients", "6", "--senders", "2", "--duration", "300ms"],
    );
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(count(&report, "joined"), 6, "{report}");
    assert_all_delivered(&report);
}

#[test]
fn a_server_that_drops_messages_shows_losses_and_exits_1() {
    let server = fake_irc(Faults {
        drop_every: Some(10),
        ..Faults::default()
    });
    let (finished, report) = bench(
        &server.addr.to_string(),
        &[
            "--clients",
            "6",
            "--senders",
            "2",
            "--duration",
            "500ms",
            "--grace",
            "300ms",
        ],
    );
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    let losses = count(&report, "losses");
    assert!(losses > 0, "{report}");
    assert_eq!(
        count(&report, "expected") - count(&report, "deliveries"),
        losses,
        "{report}"
    );
    assert_eq!(count(&report, "duplicates"), 0, "{report}");
    assert!(
        finished.stderr.contains("lost"),
        "stderr names the losses: {finished:?}"
    );
}

#[test]
fn an_unreachable_server_counts_errors_and_exits_1() {
    let addr = common::refused_tcp_addr().to_string();
    let (finished, report) = bench(
        &addr,
        &["--clients", "3", "--senders", "1", "--duration", "100ms"],
    );
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(count(&report, "joined"), 0);
    assert_eq!(
        report["errors"]["connect: connection refused"], 3,
        "{report}"
    );
}

#[test]
fn a_server_that_repeats_messages_shows_duplicates_and_exits_1() {
    let server = fake_irc(Faults {
        repeat_every: Some(7),
        ..Faults::default()
    });
    let (finished, report) = bench(
        &server.addr.to_string(),
        &["--clients", "4", "--senders", "1", "--duration", "300ms"],
    );
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert!(count(&report, "duplicates") > 0, "{report}");
    assert_eq!(count(&report, "losses"), 0, "{report}");
    assert_eq!(count(&report, "reordered"), 0, "{report}");
    assert!(finished.stderr.contains("duplicated"), "{finished:?}");
}
