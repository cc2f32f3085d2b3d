//! `netkit chat join`, the terminal client, driven through its standard input:
//! against `netkit chat serve` (with a raw IRC client as the other user, whose
//! reads are awaited only where the test expects a line), against scripted
//! servers (PING, refusals, TLS), over TLS through `chat serve --ircs`, and
//! against ngircd when it is installed. One test drives the library's `join`
//! directly.
//!
//! The client prints `HH:MM text`; [`Join::wait_for`] checks the time on every
//! line and compares the text exactly. Every wait is bounded by `PATIENCE`.

mod common;
mod irc_peer;

use std::net::SocketAddr;
use std::time::Instant;

use common::irc::{ChatServeProcess, Client, nick_of};
use common::{Finished, Netkit, PATIENCE};
use irc_peer::{Ngircd, Peer, Scripted, data_file};

/// The client as a child process.
struct Join {
    netkit: Netkit,
}

impl Join {
    fn spawn(args: &[&str]) -> Join {
        let mut all = vec!["chat", "join"];
        all.extend_from_slice(args);
        Join {
            netkit: Netkit::spawn(&all),
        }
    }

    /// Joins `channel` on `addr` as `nick` and waits until the client shows it.
    fn joined(addr: SocketAddr, nick: &str, channel: &str) -> Join {
        let addr = addr.to_string();
        let mut join = Join::spawn(&[&addr, "--nick", nick, "--channel", channel]);
        join.wait_for(&format!("{channel} --> {nick} joined"));
        join
    }

    /// Reads printed lines until one reads exactly `text` after its `HH:MM `;
    /// returns the lines skipped on the way.
    fn wait_for(&mut self, text: &str) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(line) = self.netkit.line_within(left) else {
                panic!("no line {text:?} within {PATIENCE:?}; got {skipped:#?}");
            };
            let shown = without_time(&line);
            if shown == text {
                return skipped;
            }
            skipped.push(shown.to_string());
        }
    }

    fn type_line(&mut self, line: &str) {
        self.netkit.write_stdin(format!("{line}\n").as_bytes());
    }

    /// Closes standard input and waits for the exit.
    fn end_input(mut self) -> Finished {
        self.netkit.close_stdin();
        self.netkit.wait()
    }
}

/// The text of a printed line after `HH:MM `, which must be there.
fn without_time(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let bytes = line.as_bytes();
    let timed = bytes.len() >= 6
        && bytes[..5].iter().enumerate().all(|(i, b)| match i {
            2 => *b == b':',
            _ => b.is_ascii_digit(),
        })
        && bytes[5] == b' ';
    assert!(timed, "line without `HH:MM ` in front: {line:?}");
    &line[6..]
}

// ----------------------------------------------------------------------------
// Against netkit chat serve
// ----------------------------------------------------------------------------

#[tokio::test]
async fn talks_in_the_channel_and_privately_with_another_client() {
    let server = ChatServeProcess::start(&[]);
    let mut bob = Client::register(server.addr, "bob").await;
    bob.join("#rust").await;
    let mut alice = Join::joined(server.addr, "alice", "#rust");
    let joined = bob.skip_to_any(&["JOIN"]).await;
    assert_eq!(nick_of(&joined), "alice");

    // A plain line goes to the current channel.
    alice.type_line("hello bob");
    let said = bob.expect("PRIVMSG").await;
    assert_eq!(
        (nick_of(&said), said.params.as_slice()),
        ("alice", &["#rust".into(), "hello bob".into()][..])
    );
    bob.send("PRIVMSG #rust :hi alice").await;
    alice.wait_for("#rust <bob> hi alice");
    // Input that is not UTF-8 is sent with its bad bytes replaced, not refused.
    alice.netkit.write_stdin(b"caf\xe9 au lait\n");
    assert_eq!(
        bob.expect("PRIVMSG").await.param(1),
        Some("caf\u{fffd} au lait")
    );

    // Actions both ways.
    alice.type_line("/me waves");
    assert_eq!(
        bob.expect("PRIVMSG").await.param(1),
        Some("\u{1}ACTION waves\u{1}")
    );
    bob.send("PRIVMSG #rust :\u{1}ACTION dances\u{1}").await;
    alice.wait_for("#rust * bob dances");

    // Private messages both ways.
    alice.type_line("/msg bob just between us");
    let private = bob.expect("PRIVMSG").await;
    assert_eq!(private.params, ["bob", "just between us"]);
    bob.send("PRIVMSG alice :psst").await;
    alice.wait_for("*bob* psst");

    // A notice, a topic and the names list, as the client shows them.
    bob.send("NOTICE #rust :heads up").await;
    alice.wait_for("#rust -bob- heads up");
    bob.send("TOPIC #rust :all about Rust").await;
    alice.wait_for("#rust -- bob set the topic: all about Rust");
    alice.type_line("/names");
    alice.wait_for("#rust -- names: @bob alice");

    let finished = alice.end_input();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

#[tokio::test]
async fn nick_changes_and_end_of_input_quits_politely() {
    let server = ChatServeProcess::start(&[]);
    let mut bob = Client::register(server.addr, "bob").await;
    bob.join("#rust").await;
    let mut alice = Join::joined(server.addr, "alice", "#rust");
    bob.skip_to_any(&["JOIN"]).await;

    alice.type_line("/nick alicia");
    let nick = bob.expect("NICK").await;
    assert_eq!((nick_of(&nick), nick.param(0)), ("alice", Some("alicia")));
    alice.wait_for("-- alice is now known as alicia");
    // The client knows its new nick: its own lines show under it.
    alice.type_line("still me");
    alice.wait_for("#rust <alicia> still me");
    assert_eq!(bob.expect("PRIVMSG").await.param(1), Some("still me"));

    let finished = alice.end_input();
    let quit = bob.expect("QUIT").await;
    assert_eq!(nick_of(&quit), "alicia");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert_eq!(finished.stderr, "", "a polite quit is not an error");
}

#[tokio::test]
async fn sigterm_quits_politely_too() {
    let server = ChatServeProcess::start(&[]);
    let mut bob = Client::register(server.addr, "bob").await;
    bob.join("#rust").await;
    let mut alice = Join::joined(server.addr, "alice", "#rust");
    bob.skip_to_any(&["JOIN"]).await;
    // Standard input stays open: the signal alone ends the session.
    let finished = alice.netkit.terminate();
    let quit = bob.expect("QUIT").await;
    assert_eq!(
        (nick_of(&quit), quit.param(0)),
        ("alice", Some("Quit: Leaving"))
    );
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

#[tokio::test]
async fn a_taken_nick_gets_an_underscore() {
    let server = ChatServeProcess::start(&[]);
    let mut alice = Client::register(server.addr, "alice").await;
    alice.join("#rust").await;
    let mut second = Join::spawn(&[&server.addr.to_string(), "--nick", "alice", "-c", "#rust"]);
    let skipped = second.wait_for("#rust --> alice_ joined");
    assert!(
        skipped.iter().any(|line| line.starts_with("!! 433 alice")),
        "the refusal is shown: {skipped:#?}"
    );
    assert!(
        skipped
            .iter()
            .any(|line| line == "-- trying the nickname alice_"),
        "the retry is shown: {skipped:#?}"
    );
    let joined = alice.skip_to_any(&["JOIN"]).await;
    assert_eq!(nick_of(&joined), "alice_");
    second.type_line("I am the second one");
    let said = alice.expect("PRIVMSG").await;
    assert_eq!(
        (nick_of(&said), said.param(1)),
        ("alice_", Some("I am the second one"))
    );
}

#[test]
fn a_lost_connection_says_why_and_exits_1() {
    let mut server = ChatServeProcess::start(&[]);
    let mut alice = Join::joined(server.addr, "alice", "#rust");
    server.netkit.terminate();
    alice.wait_for("!! ERROR: Server shutting down");
    let finished = alice.netkit.wait();
    let error = finished.assert_one_error_line(1);
    assert!(
        error.contains(&format!("connection to {} lost", server.addr))
            && error.contains("Server shutting down"),
        "{error}"
    );
}

#[test]
fn slash_commands_explain_their_mistakes() {
    let server = ChatServeProcess::start(&[]);
    let mut alice = Join::joined(server.addr, "alice", "#rust");
    alice.type_line("/frobnicate");
    alice.wait_for("!! unknown command /frobnicate (/help lists them)");
    alice.type_line("/msg bob");
    alice.wait_for("!! usage: /msg TARGET text");
    alice.type_line(&"x".repeat(5000));
    alice.wait_for("!! a line of 5000 bytes is too long to send (at most 4096)");
    alice.type_line("/part");
    alice.wait_for("#rust <-- alice left");
    alice.type_line("anyone?");
    alice.wait_for("!! not in a channel: /join #channel first, or use /msg");
    alice.type_line("/quit enough");
    let finished = alice.netkit.wait();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

#[tokio::test]
async fn the_library_runs_a_session_from_any_reader_to_any_writer() {
    let server = ChatServeProcess::start(&[]);
    let mut bob = Client::register(server.addr, "bob").await;
    bob.join("#rust").await;
    let config = netkit::chat::client::JoinConfig {
        addr: server.addr.to_string(),
        nick: "alice".into(),
        channels: vec!["#rust".into()],
        password: None,
        tls: None,
        timeout: PATIENCE,
    };
    let input: &[u8] = b"hello from the library\n/quit done\n";
    let mut output = Vec::new();
    let session = netkit::chat::client::join(&config, input, &mut output, std::future::pending());
    common::within("the session", session)
        .await
        .expect("a session that ends with /quit is a success");

    let shown = String::from_utf8(output).expect("UTF-8 output");
    let shown: Vec<&str> = shown.lines().map(without_time).collect();
    assert!(
        shown.contains(&"#rust <alice> hello from the library"),
        "{shown:#?}"
    );
    bob.skip_to_any(&["JOIN"]).await;
    let said = bob.expect("PRIVMSG").await;
    assert_eq!(said.params, ["#rust", "hello from the library"]);
    let quit = bob.expect("QUIT").await;
    assert_eq!(quit.param(0), Some("Quit: done"));
}

// ----------------------------------------------------------------------------
// Against scripted servers
// ----------------------------------------------------------------------------

/// Reads NICK and USER, welcomes the client as `nick`.
fn welcome<S: std::io::Read + std::io::Write>(server: &mut Peer<S>, nick: &str) {
    server.expect("NICK");
    server.expect("USER");
    server.send(&format!(":fake.test 001 {nick} :Welcome, {nick}"));
}

#[test]
fn answers_the_servers_ping() {
    let server = Scripted::start(|mut server| {
        welcome(&mut server, "alice");
        server.send("PING :token-42");
        server.expect("PONG")
    });
    let mut alice = Join::spawn(&[&server.addr.to_string(), "--nick", "alice"]);
    alice.wait_for("-- Welcome, alice");
    let pong = server.finish();
    assert_eq!(pong.params, ["token-42"]);
    drop(alice);
}

#[test]
fn an_erroneous_nick_is_bad_input() {
    let server = Scripted::start(|mut server| {
        server.expect("NICK");
        server.expect("USER");
        server.send(":fake.test 432 * alice :Erroneous Nickname");
        // Hold the connection until the client leaves.
        server.drain()
    });
    let alice = Join::spawn(&[&server.addr.to_string(), "--nick", "alice"]);
    let finished = alice.end_input();
    let error = finished.assert_one_error_line(2);
    assert!(
        error.contains("refused the nickname \"alice\": Erroneous Nickname"),
        "{error}"
    );
    server.finish();
}

#[test]
fn bad_usage_exits_2_with_a_clear_message() {
    for (args, expected) in [
        (
            &["127.0.0.1", "--nick", "9lives"][..],
            "invalid nickname \"9lives\"",
        ),
        (
            &["127.0.0.1:99999", "--nick", "alice"][..],
            "invalid server address",
        ),
        (
            &["127.0.0.1:6667", "--nick", "alice", "-c", "#a,b"][..],
            "invalid channel",
        ),
        (
            &["127.0.0.1:6667", "--nick", "alice", "--ca-cert", "x.pem"][..],
            "--tls",
        ),
    ] {
        let mut all = vec!["chat", "join"];
        all.extend_from_slice(args);
        let finished = Netkit::run(&all, b"");
        assert_eq!(finished.code(), Some(2), "{args:?}: {finished:?}");
        assert!(
            finished.stderr.contains(expected),
            "{args:?}: {}",
            finished.stderr
        );
    }
    let finished = Netkit::run(
        &[
            "chat",
            "join",
            "127.0.0.1:1",
            "--nick",
            "alice",
            "--tls",
            "--ca-cert",
            "/nonexistent.pem",
        ],
        b"",
    );
    let error = finished.assert_one_error_line(2);
    assert!(
        error.contains("cannot read") && error.contains("/nonexistent.pem"),
        "{error}"
    );
}

#[test]
fn help_lists_the_commands() {
    let finished = Netkit::run(&["chat", "join", "--help"], b"");
    assert_eq!(finished.code(), Some(0));
    let help = finished.stdout_text();
    for command in [
        "/join", "/part", "/msg", "/me", "/nick", "/names", "/topic", "/who", "/quit",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

#[test]
fn talks_over_tls_with_a_private_ca() {
    let server = Scripted::start_tls(|mut server| {
        welcome(&mut server, "alice");
        let join = server.expect("JOIN");
        server.send(":alice!a@localhost JOIN #secure");
        server.send(":bob!b@localhost PRIVMSG #secure :over TLS");
        let said = server.expect("PRIVMSG");
        (join, said, server.expect("QUIT"))
    });
    let addr = format!("localhost:{}", server.addr.port());
    let mut alice = Join::spawn(&[
        &addr,
        "--nick",
        "alice",
        "-c",
        "#secure",
        "--tls",
        "--ca-cert",
        &data_file("ca.pem"),
    ]);
    alice.wait_for("#secure <bob> over TLS");
    alice.type_line("and back");
    let finished = alice.end_input();
    let (join, said, quit) = server.finish();
    assert_eq!(join.params, ["#secure"]);
    assert_eq!(said.params, ["#secure", "and back"]);
    assert_eq!(quit.command, "QUIT");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
}

#[test]
fn two_clients_talk_over_tls_through_chat_serve_ircs() {
    let (cert, key, ca) = (
        data_file("localhost.pem"),
        data_file("localhost.key"),
        data_file("ca.pem"),
    );
    let mut server = Netkit::spawn(&[
        "chat",
        "serve",
        "--ircs",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--db",
        ":memory:",
        "--http",
        "off",
    ]);
    let ready = server.line();
    let addr = ready
        .strip_prefix("listening ircs ")
        .unwrap_or_else(|| panic!("unexpected ready line {ready:?}"))
        .trim()
        .to_string();
    let over_tls = |nick: &str| {
        Join::spawn(&[
            &addr,
            "--nick",
            nick,
            "-c",
            "#secure",
            "--tls",
            "--ca-cert",
            &ca,
        ])
    };
    let mut bob = over_tls("bob");
    bob.wait_for("#secure --> bob joined");
    let mut alice = over_tls("alice");
    alice.wait_for("#secure --> alice joined");
    bob.wait_for("#secure --> alice joined");

    alice.type_line("hello over TLS");
    bob.wait_for("#secure <alice> hello over TLS");
    bob.type_line("/me nods");
    alice.wait_for("#secure * bob nods");

    let finished = alice.end_input();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    bob.wait_for("<-- alice quit (Quit: Leaving)");
}

#[test]
fn tls_refuses_a_certificate_the_ca_did_not_sign() {
    let server = Scripted::start_tls(|mut server| server.drain());
    // The server's own certificate is not a CA: nothing it signs is trusted.
    let finished = Netkit::run(
        &[
            "chat",
            "join",
            &server.addr.to_string(),
            "--nick",
            "alice",
            "--tls",
            "--ca-cert",
            &data_file("localhost.pem"),
        ],
        b"",
    );
    let error = finished.assert_one_error_line(1);
    assert!(
        error.contains("TLS with") && error.contains("certificate"),
        "{error}"
    );
    drop(server);
}

// ----------------------------------------------------------------------------
// Against ngircd
// ----------------------------------------------------------------------------

#[tokio::test]
async fn talks_through_ngircd() {
    let Some(ngircd) = Ngircd::start() else {
        eprintln!("skipped: {} is not installed", irc_peer::NGIRCD);
        return;
    };
    let mut bob = Client::register(ngircd.addr, "bob").await;
    bob.join("#interop").await;
    let mut alice = Join::joined(ngircd.addr, "alice", "#interop");
    let joined = bob.skip_to_any(&["JOIN"]).await;
    assert_eq!(nick_of(&joined), "alice");

    alice.type_line("hello through ngircd");
    let said = bob.skip_to_any(&["PRIVMSG"]).await;
    assert_eq!(said.params, ["#interop", "hello through ngircd"]);
    bob.send("PRIVMSG #interop :hello alice").await;
    alice.wait_for("#interop <bob> hello alice");

    // ngircd too says a nick is taken: a second alice becomes alice_.
    let mut second = Join::spawn(&[
        &ngircd.addr.to_string(),
        "--nick",
        "alice",
        "-c",
        "#interop",
    ]);
    second.wait_for("#interop --> alice_ joined");
    alice.wait_for("#interop --> alice_ joined");

    let finished = alice.end_input();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let quit = bob.skip_to_any(&["QUIT"]).await;
    assert_eq!(nick_of(&quit), "alice");
    assert!(
        quit.param(0)
            .is_some_and(|reason| reason.contains("Leaving")),
        "{quit}"
    );
    drop(second);
}
