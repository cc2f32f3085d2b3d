//! The IRC server, driven by raw TCP clients on 127.0.0.1: registration, channels,
//! messages, nick changes, quits, the error numerics, misbehaving clients (long
//! lines, bad UTF-8, a client that never reads) and shutdown. Most tests run the
//! library's `ChatServer` on a task; the last ones run the real binary.
//!
//! Every wait is bounded by `common::PATIENCE`. To prove that something did *not*
//! arrive, a client sends `PING :sync` and checks that the PONG is the next line:
//! replies come in command order, so anything owed before it would come first.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use netkit::chat::{ChatConfig, FloodLimit};

use common::irc::{ChatServeProcess, Client, Server, assert_numeric, nick_of};
use common::{Netkit, within};

// ----------------------------------------------------------------------------
// A server and raw clients
// ----------------------------------------------------------------------------

// ----------------------------------------------------------------------------
// Registration
// ----------------------------------------------------------------------------

#[tokio::test]
async fn registration_sends_the_welcome_burst_in_order() {
    let server = Server::default().await;
    let mut client = Client::connect(server.addr).await;
    client.send("NICK alice").await;
    client.send("USER al 0 * :Alice Liddell").await;
    let welcome = client.expect("001").await;
    assert_eq!(welcome.param(0), Some("alice"));
    assert!(
        welcome.params[1].ends_with("alice!al@127.0.0.1"),
        "{}",
        welcome.to_line()
    );
    assert_eq!(welcome.source.as_deref(), Some("netkit.local"));
    client.expect("002").await;
    client.expect("003").await;
    let info = client.expect("004").await;
    assert_eq!(info.param(1), Some("netkit.local"));
    assert_eq!(info.param(3), Some("iow"), "user modes: {}", info.to_line());
    let mut tokens = Vec::new();
    let mut next = client.expect("005").await;
    while next.command == "005" {
        tokens.extend(next.params[1..next.params.len() - 1].iter().cloned());
        next = client.next().await;
    }
    for token in [
        "CASEMAPPING=rfc1459",
        "CHANTYPES=#&",
        "PREFIX=(ov)@+",
        "CHANMODES=beI,k,l,imnst",
        "MODES=6",
        "NICKLEN=32",
        "CHANNELLEN=64",
        "KICKLEN=300",
        "NETWORK=netkit",
        "AWAYLEN=300",
    ] {
        assert!(
            tokens.iter().any(|p| p == token),
            "{token} missing: {tokens:?}"
        );
    }
    // LUSERS, then the MOTD.
    assert_numeric(
        &next,
        "251",
        &["There are 1 users and 0 invisible on 1 servers"],
    );
    for code in ["252", "253", "254", "255", "265", "266"] {
        client.expect(code).await;
    }
    client.expect("422").await;
    client.nick = "alice".into();
    client.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn the_motd_is_sent_when_configured() {
    let server = Server::start(ChatConfig {
        motd: Some(vec!["Be nice.".into(), "Really.".into()]),
        ..ChatConfig::default()
    })
    .await;
    let mut client = Client::connect(server.addr).await;
    client.send("NICK alice").await;
    client.send("USER al 0 * :Alice").await;
    let start = client.skip_to_any(&["375"]).await;
    assert!(
        start.params[1].contains("Message of the day"),
        "{}",
        start.to_line()
    );
    assert_eq!(client.expect("372").await.param(1), Some("- Be nice."));
    assert_eq!(client.expect("372").await.param(1), Some("- Really."));
    client.expect("376").await;
    server.stop().await;
}

#[tokio::test]
async fn commands_before_registration_get_451_and_cap_holds_registration() {
    let server = Server::default().await;
    let mut client = Client::connect(server.addr).await;
    client.send("JOIN #chan").await;
    assert_numeric(&client.next().await, "451", &[]);
    client.send("CAP LS 302").await;
    let ls = client.expect("CAP").await;
    assert_eq!(ls.param(1), Some("LS"));
    client.send("NICK alice").await;
    client.send("USER al 0 * :Alice").await;
    // Registration waits for CAP END: the PONG comes first.
    client.send("PING :sync").await;
    client.expect("PONG").await;
    client.send("CAP END").await;
    client.expect("001").await;
    server.stop().await;
}

#[tokio::test]
async fn registration_errors() {
    let server = Server::default().await;
    let _taken = Client::register(server.addr, "alice").await;
    let mut client = Client::connect(server.addr).await;
    client.send("NICK").await;
    assert_numeric(&client.next().await, "431", &[]);
    client.send("NICK 9lives").await;
    assert_numeric(&client.next().await, "432", &["9lives"]);
    client.send("NICK ALICE").await;
    assert_numeric(&client.next().await, "433", &["ALICE"]);
    client.send("USER al 0 *").await;
    assert_numeric(&client.next().await, "461", &["USER"]);
    client.send("NICK bob").await;
    client.send("USER bob 0 * :Bob").await;
    client.expect("001").await;
    client.skip_to_any(&["422"]).await;
    client.send("USER bob 0 * :Bob").await;
    assert_numeric(&client.next().await, "462", &[]);
    client.send("PASS secret").await;
    assert_numeric(&client.next().await, "462", &[]);
    server.stop().await;
}

#[tokio::test]
async fn a_password_is_required_when_set() {
    let server = Server::start(ChatConfig {
        password: Some("sesame".into()),
        ..ChatConfig::default()
    })
    .await;
    let mut wrong = Client::connect(server.addr).await;
    wrong.send("PASS open").await;
    wrong.send("NICK alice").await;
    wrong.send("USER al 0 * :Alice").await;
    assert_numeric(&wrong.next().await, "464", &[]);
    wrong.expect_error_and_close("Password incorrect").await;

    let mut missing = Client::connect(server.addr).await;
    missing.send("NICK alice").await;
    missing.send("USER al 0 * :Alice").await;
    assert_numeric(&missing.next().await, "464", &[]);

    let mut right = Client::connect(server.addr).await;
    right.send("PASS sesame").await;
    right.send("NICK alice").await;
    right.send("USER al 0 * :Alice").await;
    right.expect("001").await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_registers_is_closed() {
    let server = Server::start(ChatConfig {
        registration_timeout: Duration::from_millis(100),
        ..ChatConfig::default()
    })
    .await;
    let mut client = Client::connect(server.addr).await;
    client.send("NICK alice").await;
    client
        .expect_error_and_close("Registration timed out")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn silent_clients_are_pinged_then_dropped() {
    // Long enough that a busy machine still lets Bob answer in time.
    let server = Server::start(ChatConfig {
        ping_interval: Duration::from_millis(300),
        ..ChatConfig::default()
    })
    .await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#chan").await;
    bob.join("#chan").await;
    alice.expect("JOIN").await;
    // Bob answers every PING (on a task of his own, at once), sees Alice go,
    // and stays; Alice answers nothing and goes.
    let bob_side = tokio::spawn(async move {
        let mut answered = 0;
        loop {
            let message = bob.next().await;
            match message.command.as_str() {
                "PING" => {
                    assert_eq!(message.param(0), Some("netkit.local"));
                    bob.send("PONG :netkit.local").await;
                    answered += 1;
                }
                "QUIT" => return (bob, message, answered),
                _ => panic!("bob: unexpected {}", message.to_line()),
            }
        }
    });
    assert_eq!(alice.expect("PING").await.param(0), Some("netkit.local"));
    let error = alice.skip_to_any(&["ERROR"]).await;
    assert!(
        error.params[0].contains("Ping timeout"),
        "{}",
        error.to_line()
    );
    let (mut bob, quit, answered) = within("bob seeing alice go", bob_side)
        .await
        .expect("bob's task");
    assert!(answered >= 1);
    assert_eq!(nick_of(&quit), "alice");
    assert!(
        quit.params[0].starts_with("Ping timeout: "),
        "{}",
        quit.to_line()
    );
    bob.send("PRIVMSG bob :still here").await;
    let echo = bob.skip_to_any(&["PRIVMSG"]).await;
    assert_eq!(echo.param(1), Some("still here"));
    server.stop().await;
}

#[tokio::test]
async fn clients_over_the_limit_are_turned_away() {
    let server = Server::start(ChatConfig {
        max_clients: 1,
        ..ChatConfig::default()
    })
    .await;
    let _first = Client::register(server.addr, "alice").await;
    let mut second = Client::connect(server.addr).await;
    second.expect_error_and_close("Server is full").await;
    let summary = server.stop().await;
    assert_eq!(summary.rejected, 1);
}

// ----------------------------------------------------------------------------
// Channels and messages
// ----------------------------------------------------------------------------

#[tokio::test]
async fn two_clients_in_a_channel_exchange_messages() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;

    alice.send("JOIN #Rust").await;
    assert_eq!(alice.expect("JOIN").await.param(0), Some("#Rust"));
    let names = alice.expect("353").await;
    assert_eq!(
        names.params.last().map(String::as_str),
        Some("@alice"),
        "the creator is op"
    );
    alice.expect("366").await;

    // Channel names compare case-insensitively; the creator's spelling is kept.
    bob.send("JOIN #rust").await;
    let join = bob.expect("JOIN").await;
    assert_eq!((nick_of(&join), join.param(0)), ("bob", Some("#Rust")));
    let names = bob.expect("353").await;
    let mut listed: Vec<&str> = names.params[3].split(' ').collect();
    listed.sort();
    assert_eq!(listed, ["@alice", "bob"]);
    bob.expect("366").await;
    let seen = alice.expect("JOIN").await;
    assert_eq!(nick_of(&seen), "bob");

    bob.send("PRIVMSG #RUST :hello, alice").await;
    let message = alice.expect("PRIVMSG").await;
    assert_eq!(message.source.as_deref(), Some("bob!bob@127.0.0.1"));
    assert_eq!(message.params, ["#Rust", "hello, alice"]);
    alice.send("NOTICE #rust :hi bob").await;
    let notice = bob.expect("NOTICE").await;
    assert_eq!(
        (nick_of(&notice), notice.param(1)),
        ("alice", Some("hi bob"))
    );

    // Senders do not get their own messages back.
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn private_messages_reach_several_targets() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    let mut carol = Client::register(server.addr, "carol").await;

    alice.send("PRIVMSG Bob,CAROL,nobody :psst").await;
    assert_numeric(&alice.next().await, "401", &["nobody"]);
    for client in [&mut bob, &mut carol] {
        let message = client.expect("PRIVMSG").await;
        assert_eq!(nick_of(&message), "alice");
        assert_eq!(message.param(1), Some("psst"));
        assert_eq!(
            message.param(0).map(str::to_lowercase),
            Some(client.nick.clone())
        );
    }
    // NOTICE never answers with an error.
    alice.send("NOTICE nobody :hello?").await;
    alice.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn message_errors() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    bob.join("#closed").await;
    alice.send("PRIVMSG").await;
    assert_numeric(&alice.next().await, "411", &[]);
    alice.send("PRIVMSG bob").await;
    assert_numeric(&alice.next().await, "412", &[]);
    alice.send("PRIVMSG bob :").await;
    assert_numeric(&alice.next().await, "412", &[]);
    alice.send("PRIVMSG #nowhere :hi").await;
    assert_numeric(&alice.next().await, "403", &["#nowhere"]);
    alice.send("PRIVMSG #closed :let me in").await;
    assert_numeric(&alice.next().await, "404", &["#closed"]);
    // Four targets at most: the fifth is refused before any is tried.
    alice.send("PRIVMSG n1,n2,n3,n4,n5 :hi").await;
    assert_numeric(&alice.next().await, "407", &["n5"]);
    for nick in ["n1", "n2", "n3", "n4"] {
        assert_numeric(&alice.next().await, "401", &[nick]);
    }
    alice.send("FROBNICATE now").await;
    assert_numeric(&alice.next().await, "421", &["FROBNICATE"]);
    alice.send("JOIN").await;
    assert_numeric(&alice.next().await, "461", &["JOIN"]);
    alice.send("JOIN nochannel").await;
    assert_numeric(&alice.next().await, "403", &["nochannel"]);
    alice.send("PART #closed").await;
    assert_numeric(&alice.next().await, "442", &["#closed"]);
    alice.send("PART #nowhere").await;
    assert_numeric(&alice.next().await, "403", &["#nowhere"]);
    alice.send("TOPIC #closed :mine now").await;
    assert_numeric(&alice.next().await, "442", &["#closed"]);
    bob.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn join_several_then_join_zero_parts_all() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    bob.join("#a").await;
    bob.join("#b").await;
    alice.send("JOIN #a,#b").await;
    for channel in ["#a", "#b"] {
        assert_eq!(alice.expect("JOIN").await.param(0), Some(channel));
        alice.expect("353").await;
        alice.expect("366").await;
    }
    alice.send("JOIN 0").await;
    let mut parted = vec![
        alice.expect("PART").await.params[0].clone(),
        alice.expect("PART").await.params[0].clone(),
    ];
    parted.sort();
    assert_eq!(parted, ["#a", "#b"]);
    for channel in ["#a", "#b"] {
        let join = bob.expect("JOIN").await;
        assert_eq!((nick_of(&join), join.param(0)), ("alice", Some(channel)));
    }
    let mut seen = Vec::new();
    for _ in 0..2 {
        let part = bob.expect("PART").await;
        assert_eq!(nick_of(&part), "alice");
        seen.push(part.params[0].clone());
    }
    seen.sort();
    assert_eq!(seen, ["#a", "#b"]);
    server.stop().await;
}

#[tokio::test]
async fn part_is_seen_by_members_and_empty_channels_vanish() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#chan").await;
    bob.join("#chan").await;
    alice.expect("JOIN").await;

    bob.send("PART #chan :see you").await;
    let own = bob.expect("PART").await;
    assert_eq!(own.params, ["#chan", "see you"]);
    let seen = alice.expect("PART").await;
    assert_eq!(
        (nick_of(&seen), seen.params.as_slice()),
        ("bob", &["#chan".to_string(), "see you".to_string()][..])
    );

    alice.send("PART #chan").await;
    alice.expect("PART").await;
    // Nobody left: the channel is gone, and NAMES lists no one.
    bob.send("NAMES #chan").await;
    assert_numeric(&bob.next().await, "366", &["#chan"]);
    server.stop().await;
}

#[tokio::test]
async fn topics_are_set_shown_and_given_to_new_members() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#chan").await;
    alice.send("TOPIC #chan").await;
    assert_numeric(&alice.next().await, "331", &["#chan"]);
    alice.send("TOPIC #chan :Rust and tokio").await;
    let topic = alice.expect("TOPIC").await;
    assert_eq!(topic.params, ["#chan", "Rust and tokio"]);

    bob.send("JOIN #chan").await;
    bob.expect("JOIN").await;
    assert_numeric(&bob.next().await, "332", &["#chan", "Rust and tokio"]);
    assert_numeric(&bob.next().await, "333", &["#chan", "alice"]);
    bob.expect("353").await;
    bob.expect("366").await;
    server.stop().await;
}

#[tokio::test]
async fn nick_changes_are_seen_by_peers_once() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    // Two shared channels, one NICK line.
    for channel in ["#a", "#b"] {
        alice.join(channel).await;
        bob.join(channel).await;
        alice.expect("JOIN").await;
    }
    bob.send("NICK robert").await;
    let own = bob.expect("NICK").await;
    assert_eq!(
        (own.source.as_deref(), own.param(0)),
        (Some("bob!bob@127.0.0.1"), Some("robert"))
    );
    let seen = alice.expect("NICK").await;
    assert_eq!((nick_of(&seen), seen.param(0)), ("bob", Some("robert")));
    alice.assert_nothing_pending().await;

    // The old nick is free, the new one is taken, and a case change is allowed.
    alice.send("NICK ROBERT").await;
    assert_numeric(&alice.next().await, "433", &["ROBERT"]);
    bob.nick = "robert".into();
    bob.send("NICK Robert").await;
    assert_eq!(bob.expect("NICK").await.param(0), Some("Robert"));
    let mut newcomer = Client::register(server.addr, "bob").await;
    newcomer.send("PRIVMSG robert :hi").await;
    let message = bob.expect("PRIVMSG").await;
    assert_eq!(nick_of(&message), "bob");
    server.stop().await;
}

#[tokio::test]
async fn quits_are_seen_by_peers() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    let mut carol = Client::register(server.addr, "carol").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        client.join("#chan").await;
    }
    alice.skip_to_any(&["JOIN"]).await;
    alice.expect("JOIN").await;

    bob.send("QUIT :gone fishing").await;
    bob.expect_error_and_close("Closing link: 127.0.0.1 (Quit: gone fishing)")
        .await;
    let quit = alice.expect("QUIT").await;
    assert_eq!(
        (nick_of(&quit), quit.param(0)),
        ("bob", Some("Quit: gone fishing"))
    );

    // A dropped connection is a quit too.
    drop(carol);
    let quit = alice.skip_to_any(&["QUIT"]).await;
    assert_eq!(
        (nick_of(&quit), quit.param(0)),
        ("carol", Some("Connection closed"))
    );
    server.stop().await;
}

#[tokio::test]
async fn who_and_whois_describe_users() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#chan").await;
    bob.send("WHOIS alice").await;
    assert_numeric(
        &bob.next().await,
        "311",
        &["alice", "alice", "127.0.0.1", "*", "The alice"],
    );
    assert_numeric(&bob.next().await, "319", &["alice", "@#chan"]);
    assert_numeric(&bob.next().await, "312", &["alice", "netkit.local"]);
    assert_numeric(&bob.next().await, "318", &["alice"]);
    bob.send("WHOIS nobody").await;
    assert_numeric(&bob.next().await, "401", &["nobody"]);
    assert_numeric(&bob.next().await, "318", &["nobody"]);
    bob.send("WHO #chan").await;
    assert_numeric(
        &bob.next().await,
        "352",
        &["#chan", "alice", "127.0.0.1", "netkit.local", "alice", "H@"],
    );
    assert_numeric(&bob.next().await, "315", &["#chan"]);
    server.stop().await;
}

// ----------------------------------------------------------------------------
// Misbehaving clients
// ----------------------------------------------------------------------------

#[tokio::test]
async fn a_line_over_512_bytes_gets_417_and_the_session_goes_on() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let long = format!("PRIVMSG alice :{}\r\n", "x".repeat(600));
    alice.send_raw(long.as_bytes()).await;
    assert_numeric(&alice.next().await, "417", &[]);
    // Far over the longest frame too: the rest of the line is dropped, not parsed.
    let huge = format!("PRIVMSG alice :{}\r\n", "y".repeat(20_000));
    alice.send_raw(huge.as_bytes()).await;
    assert_numeric(&alice.next().await, "417", &[]);
    alice.send("PRIVMSG alice :short").await;
    assert_eq!(alice.expect("PRIVMSG").await.param(1), Some("short"));
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_is_relayed_as_replacement_characters() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice
        .send_raw(b"PRIVMSG bob :caf\xe9 \xff\xfe ok\r\n")
        .await;
    let message = bob.expect("PRIVMSG").await;
    assert_eq!(message.param(1), Some("caf\u{FFFD} \u{FFFD}\u{FFFD} ok"));
    alice.send_raw(b"NICK \xff\xff\r\n").await;
    assert_numeric(&alice.next().await, "432", &[]);
    alice.send_raw(b"\0\0\r\n").await;
    alice.assert_nothing_pending().await;
    server.stop().await;
}

/// Over its flood budget, a client's lines are delayed, in order, not dropped.
#[tokio::test]
async fn flood_control_delays_excess_lines_in_order() {
    let server = Server::start(ChatConfig {
        flood: Some(FloodLimit {
            rate: 4.0,
            burst: 2,
        }),
        ..ChatConfig::default()
    })
    .await;
    // Registration spent the two-line burst already.
    let mut alice = Client::register(server.addr, "alice").await;
    let started = std::time::Instant::now();
    let burst: String = (0..6).map(|n| format!("PING :p{n}\r\n")).collect();
    alice.send_raw(burst.as_bytes()).await;
    for n in 0..6 {
        let pong = alice.expect("PONG").await;
        assert_eq!(
            pong.params.last().map(String::as_str),
            Some(format!("p{n}").as_str())
        );
    }
    // Six lines at four a second, with the burst spent: at least 1.25 s.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1200), "took {took:?}");
    server.stop().await;
}

#[test]
fn a_bad_flood_limit_is_bad_usage() {
    for bad in ["fast", "5/s", "0:20", "5/s:0"] {
        let finished = Netkit::run(
            &["chat", "serve", "--irc", "127.0.0.1:0", "--flood", bad],
            b"",
        );
        assert_eq!(finished.code(), Some(2), "{bad}: {finished:?}");
        assert!(finished.stderr.contains("LINES/s:BURST"), "{finished:?}");
    }
}

/// One client never reads; a sender floods the channel; the others keep receiving
/// every line, and the silent one is dropped with SendQ exceeded.
#[tokio::test]
async fn a_client_that_never_reads_is_dropped_and_others_keep_receiving() {
    let server = Server::start(ChatConfig {
        sendq: 32 * 1024,
        flood: None,
        ..ChatConfig::default()
    })
    .await;
    let mut sender = Client::register(server.addr, "sender").await;
    let mut readers = Vec::new();
    for i in 0..3 {
        readers.push(Client::register(server.addr, &format!("reader{i}")).await);
    }
    // A small receive buffer, so the kernel holds little for the silent client
    // and its queue on the server fills soon.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = within("connecting", socket.connect(server.addr))
        .await
        .expect("connect");
    let mut silent = Client::over(stream);
    silent.send("NICK silent").await;
    silent.send("USER silent 0 * :Silent").await;
    silent.skip_to_any(&["422"]).await;
    silent.nick = "silent".into();

    sender.join("#flood").await;
    silent.send("JOIN #flood").await;
    for reader in &mut readers {
        reader.join("#flood").await;
    }
    for _ in 0..4 {
        sender.expect("JOIN").await;
    }
    // Everyone has seen every JOIN before the flood starts.
    for (i, reader) in readers.iter_mut().enumerate() {
        for _ in i + 1..3 {
            reader.expect("JOIN").await;
        }
    }

    let silent_dropped = Arc::new(AtomicBool::new(false));
    let mut receiving = Vec::new();
    let mut progress = Vec::new();
    for mut reader in readers {
        let dropped = silent_dropped.clone();
        let (received, watch) = tokio::sync::watch::channel(0u64);
        progress.push(watch);
        receiving.push(tokio::spawn(async move {
            let mut expected = 0u64;
            loop {
                let message = reader.next().await;
                match message.command.as_str() {
                    "QUIT" => {
                        let who = (nick_of(&message), message.param(0));
                        assert_eq!(who, ("silent", Some("SendQ exceeded")));
                        dropped.store(true, Ordering::Relaxed);
                    }
                    "PRIVMSG" => {
                        let text = message.param(1).unwrap_or_default();
                        if text == "done" {
                            return expected;
                        }
                        let number = text.split(' ').next().and_then(|n| n.parse().ok());
                        assert_eq!(number, Some(expected), "{}: a line was lost", reader.nick);
                        expected += 1;
                        let _ = received.send(expected);
                    }
                    other => panic!("{}: unexpected {other}", reader.nick),
                }
            }
        }));
    }

    // Flood until the silent client is dropped (its kernel buffers take some
    // lines first), then a little more. Each batch is far below the send queue,
    // and the next goes only once every reader has the last: the readers are
    // never the ones that overflow.
    let padding = "z".repeat(400);
    let mut sent = 0u64;
    let mut after_drop = 0;
    while after_drop < 100 {
        assert!(sent < 100_000, "the silent client was never dropped");
        let mut batch = String::new();
        for _ in 0..20 {
            batch.push_str(&format!("PRIVMSG #flood :{sent} {padding}\r\n"));
            sent += 1;
        }
        sender.send_raw(batch.as_bytes()).await;
        for watch in &mut progress {
            within("a reader keeping up", watch.wait_for(|&n| n == sent))
                .await
                .expect("reader alive");
        }
        if silent_dropped.load(Ordering::Relaxed) {
            after_drop += 20;
        }
    }
    sender.send("PRIVMSG #flood :done").await;
    for receiving in receiving {
        let received = within("a reader getting every line", receiving)
            .await
            .expect("reader task");
        assert_eq!(received, sent);
    }

    // The silent client finally reads: whole lines, then the ERROR, then the end.
    loop {
        let message = silent.next().await;
        if message.command == "ERROR" {
            assert_eq!(message.param(0), Some("SendQ exceeded"));
            break;
        }
    }
    assert!(silent.line().await.is_none());
    server.stop().await;
}

// ----------------------------------------------------------------------------
// Shutdown and the binary
// ----------------------------------------------------------------------------

#[tokio::test]
async fn library_shutdown_tells_every_client() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut early = Client::connect(server.addr).await;
    early.send("NICK early").await;
    server.begin_shutdown();
    alice.expect_error_and_close("Server shutting down").await;
    early.expect_error_and_close("Server shutting down").await;
    let summary = server.stop().await;
    assert_eq!(summary.connections, 2);
}

#[tokio::test]
async fn the_binary_serves_and_shuts_down_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let motd = dir.path().join("motd.txt");
    std::fs::write(&motd, "Welcome!\nBe kind.\n").expect("write the MOTD");
    let motd = motd.to_str().expect("UTF-8 path");
    let ChatServeProcess {
        mut netkit, addr, ..
    } = ChatServeProcess::start(&[
        "--server-name",
        "irc.test",
        "--password",
        "pw",
        "--motd",
        motd,
    ]);
    let mut client = Client::connect(addr).await;
    client.send("PASS pw").await;
    client.send("NICK alice").await;
    client.send("USER al 0 * :Alice").await;
    let welcome = client.expect("001").await;
    assert_eq!(welcome.source.as_deref(), Some("irc.test"));
    client.skip_to_any(&["375"]).await;
    assert_eq!(client.expect("372").await.param(1), Some("- Welcome!"));
    assert_eq!(client.expect("372").await.param(1), Some("- Be kind."));
    client.expect("376").await;

    let finished = tokio::task::spawn_blocking(move || netkit.terminate());
    client.expect_error_and_close("Server shutting down").await;
    let finished = within("the binary exiting", finished).await.expect("join");
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    assert!(
        finished
            .stderr
            .contains("served 1 connections, IRC and HTTP"),
        "{finished:?}"
    );
}

#[test]
fn a_tiny_sendq_is_bad_usage() {
    let finished = Netkit::run(
        &["chat", "serve", "--irc", "127.0.0.1:0", "--sendq", "100"],
        b"",
    );
    assert_eq!(finished.code(), Some(2), "{finished:?}");
    assert!(finished.stderr.contains("at least 1KiB"), "{finished:?}");
}
