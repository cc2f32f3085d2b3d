//! Several `chat serve --redis` nodes behaving as one server, on a real
//! redis-server started by each test.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use netkit::chat::irc::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::irc::{ChatServeProcess, Client, assert_numeric, nick_of};
use common::redis::RedisServer;
use common::within;

/// A Redis and `n` nodes on it, named a, b, c...
fn cluster(n: usize) -> (RedisServer, Vec<ChatServeProcess>) {
    let redis = RedisServer::start();
    let nodes = (0..n).map(|i| node(&redis, i)).collect();
    (redis, nodes)
}

fn node(redis: &RedisServer, i: usize) -> ChatServeProcess {
    let name = ((b'a' + i as u8) as char).to_string();
    ChatServeProcess::node(&redis.url(), &name)
}

/// Registers `nick` on `node` and joins `channel`.
async fn member(node: &ChatServeProcess, nick: &str, channel: &str) -> Client {
    let mut client = Client::register(node.addr, nick).await;
    client.join(channel).await;
    client
}

/// Reads until `nick` is seen joining `channel`.
async fn seen_joining(client: &mut Client, nick: &str) {
    loop {
        let message = client.skip_to_any(&["JOIN"]).await;
        if nick_of(&message) == nick {
            return;
        }
    }
}

/// The nicks of a NAMES reply for `channel`, sorted, without prefixes.
async fn names(client: &mut Client, channel: &str) -> Vec<String> {
    client.send(&format!("NAMES {channel}")).await;
    let reply = client.skip_to_any(&["353"]).await;
    let mut nicks: Vec<String> = reply
        .params
        .last()
        .unwrap()
        .split_whitespace()
        .map(|n| n.trim_start_matches(['@', '+']).to_string())
        .collect();
    nicks.sort();
    client.skip_to_any(&["366"]).await;
    nicks
}

#[tokio::test]
async fn users_on_different_nodes_share_channels_and_private_messages() {
    let (_redis, nodes) = cluster(2);
    let mut alice = member(&nodes[0], "alice", "#rust").await;
    let mut bob = member(&nodes[1], "bob", "#rust").await;
    seen_joining(&mut alice, "bob").await;

    bob.send("PRIVMSG #rust :hello from b").await;
    let message = alice.skip_to_any(&["PRIVMSG"]).await;
    assert_eq!(nick_of(&message), "bob");
    assert_eq!(message.params, ["#rust", "hello from b"]);
    alice.send("PRIVMSG bob :just you").await;
    let message = bob.skip_to_any(&["PRIVMSG"]).await;
    assert_eq!(nick_of(&message), "alice");
    assert_eq!(message.params, ["bob", "just you"]);

    // Both nodes list both members, and WHO and WHOIS see across nodes.
    assert_eq!(names(&mut alice, "#rust").await, ["alice", "bob"]);
    assert_eq!(names(&mut bob, "#rust").await, ["alice", "bob"]);
    bob.send("WHO #rust").await;
    let mut who = Vec::new();
    loop {
        let reply = bob.next().await;
        match reply.command.as_str() {
            "352" => who.push((
                reply.param(5).unwrap().to_string(),
                reply.param(4).unwrap().to_string(),
            )),
            "315" => break,
            _ => {}
        }
    }
    who.sort();
    let on = |nick: &str, server: &str| (nick.to_string(), server.to_string());
    assert_eq!(
        who,
        [on("alice", "a"), on("bob", "b")],
        "users and their servers"
    );
    bob.send("WHOIS alice").await;
    let whois = bob.skip_to_any(&["311"]).await;
    assert_numeric(&whois, "311", &["alice", "alice", "127.0.0.1"]);
    let server = bob.skip_to_any(&["312"]).await;
    assert_numeric(&server, "312", &["alice", "a"]);

    // A topic and a mode set on one node are seen on the other, and hold there.
    alice.send("TOPIC #rust :cluster topic").await;
    let topic = bob.skip_to_any(&["TOPIC"]).await;
    assert_eq!(topic.params, ["#rust", "cluster topic"]);
    alice.send("MODE #rust +m").await;
    let mode = bob.skip_to_any(&["MODE"]).await;
    assert_eq!(mode.params, ["#rust", "+m"]);
    bob.send("PRIVMSG #rust :muted?").await;
    let refused = bob.skip_to_any(&["404"]).await;
    assert_numeric(&refused, "404", &["#rust"]);
    bob.send("TOPIC #rust").await;
    let topic = bob.skip_to_any(&["332"]).await;
    assert_eq!(topic.params.last().unwrap(), "cluster topic");
}

#[tokio::test]
async fn a_nick_taken_on_one_node_is_433_on_the_other() {
    let (_redis, nodes) = cluster(2);
    let _alice = Client::register(nodes[0].addr, "alice").await;
    let mut second = Client::connect(nodes[1].addr).await;
    second.send("NICK Alice").await;
    second.send("USER x 0 * :x").await;
    let refused = second.skip_to_any(&["433"]).await;
    assert_numeric(&refused, "433", &["Alice"]);
    assert_eq!(refused.param(0), Some("*"));
    // Another nick registers; changing to the taken one is refused too.
    second.send("NICK carol").await;
    second.expect("001").await;
    second.send("NICK ALICE").await;
    let refused = second.skip_to_any(&["433"]).await;
    assert_numeric(&refused, "433", &["ALICE"]);
    assert_eq!(refused.param(0), Some("carol"));
}

#[tokio::test]
async fn chathistory_is_the_same_from_every_node() {
    let (_redis, nodes) = cluster(2);
    let mut alice = member(&nodes[0], "alice", "#log").await;
    let mut bob = member(&nodes[1], "bob", "#log").await;
    seen_joining(&mut alice, "bob").await;
    for i in 0..5 {
        let (from, to) = if i % 2 == 0 {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        from.send(&format!("PRIVMSG #log :message {i}")).await;
        assert_eq!(to.next_text().await, format!("message {i}"));
    }
    let mut pages = Vec::new();
    for node in &nodes {
        let nick = format!("reader{}", pages.len());
        let mut reader = history_reader(node, &nick, "#log").await;
        reader.send("CHATHISTORY LATEST #log * 10").await;
        let mut page = Vec::new();
        loop {
            let message = reader.next().await;
            match message.command.as_str() {
                "PRIVMSG" => page.push((
                    message.tag("msgid").unwrap().to_string(),
                    message.tag("time").unwrap().to_string(),
                    message.params[1].clone(),
                )),
                "BATCH" if message.param(0).unwrap().starts_with('-') => break,
                _ => {}
            }
        }
        pages.push(page);
    }
    let texts: Vec<&str> = pages[0].iter().map(|(_, _, text)| text.as_str()).collect();
    assert_eq!(
        texts,
        (0..5).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
    assert_eq!(pages[0], pages[1], "both nodes serve the same history");
}

#[tokio::test]
async fn a_killed_node_s_users_quit_everywhere_and_free_their_nicks() {
    let (redis, mut nodes) = cluster(2);
    let _alice = member(&nodes[0], "alice", "#split").await;
    let mut bob = member(&nodes[1], "bob", "#split").await;
    bob.send("NAMES #split").await;
    bob.skip_to_any(&["366"]).await;
    // kill -9: the node says nothing; its heartbeat stops.
    drop(nodes.remove(0));
    let quit = bob.skip_to_any(&["QUIT"]).await;
    assert_eq!(nick_of(&quit), "alice");
    assert_eq!(quit.params, ["*.net *.split"]);
    bob.send("NICK alice").await;
    let changed = bob.skip_to_any(&["NICK"]).await;
    assert_eq!(changed.params, ["alice"]);
    assert_eq!(names(&mut bob, "#split").await, ["alice"]);

    // The node restarted (same name, a new process) sees the network as it is.
    let fresh = node(&redis, 0);
    let mut carol = member(&fresh, "carol", "#split").await;
    assert_eq!(names(&mut carol, "#split").await, ["alice", "carol"]);
}

#[tokio::test]
async fn a_node_that_stops_says_so_at_once() {
    let (_redis, mut nodes) = cluster(2);
    let _alice = member(&nodes[0], "alice", "#bye").await;
    let mut bob = member(&nodes[1], "bob", "#bye").await;
    bob.send("NAMES #bye").await;
    bob.skip_to_any(&["366"]).await;
    let finished = nodes[0].netkit.terminate();
    assert_eq!(finished.code(), Some(0), "{finished:?}");
    let quit = within(
        "the QUIT of a node that stopped",
        bob.skip_to_any(&["QUIT"]),
    )
    .await;
    assert_eq!(quit.params, ["Server shutting down"]);
}

#[tokio::test]
async fn a_web_client_on_one_node_talks_with_an_irc_client_on_another() {
    let (_redis, nodes) = cluster(2);
    let http = nodes[0].http.expect("an HTTP listener");
    let request = format!("ws://{http}/ws").into_client_request().unwrap();
    let stream = TcpStream::connect(http).await.unwrap();
    let (mut ws, _) = within(
        "the WebSocket handshake",
        tokio_tungstenite::client_async(request, stream),
    )
    .await
    .expect("upgrade");
    for line in ["NICK webby", "USER w 0 * :w", "JOIN #mixed"] {
        ws.send(WsMessage::text(line)).await.unwrap();
    }
    ws_next(&mut ws, "366").await;
    let mut irc = member(&nodes[1], "ircy", "#mixed").await;
    seen_joining_ws(&mut ws, "ircy").await;
    irc.send("PRIVMSG #mixed :hi web").await;
    let text = ws_next(&mut ws, "PRIVMSG").await;
    assert_eq!(text.params, ["#mixed", "hi web"]);
    ws.send(WsMessage::text("PRIVMSG #mixed :hi irc"))
        .await
        .unwrap();
    assert_eq!(irc.next_text().await, "hi irc");
}

async fn ws_next<S>(ws: &mut S, command: &str) -> Message
where
    S: StreamExt<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = within("a WebSocket message", ws.next())
            .await
            .expect("open")
            .expect("read");
        if let WsMessage::Text(text) = frame {
            let message = Message::parse(text.as_bytes()).expect("an IRC line");
            if message.command == command {
                return message;
            }
        }
    }
}

async fn seen_joining_ws<S>(ws: &mut S, nick: &str)
where
    S: StreamExt<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let join = ws_next(ws, "JOIN").await;
        if nick_of(&join) == nick {
            return;
        }
    }
}

#[tokio::test]
async fn metrics_show_the_cluster() {
    let (_redis, nodes) = cluster(2);
    let mut alice = member(&nodes[0], "alice", "#m").await;
    alice.send("PRIVMSG #m :counted").await;
    alice.assert_nothing_pending().await;
    // Heartbeats run every second: wait for both to be seen.
    let http = nodes[0].http.unwrap();
    let mut text = String::new();
    for _ in 0..50 {
        text = get_metrics(http).await;
        if text.contains("netkit_chat_cluster_nodes 2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains("netkit_chat_cluster_nodes 2"), "{text}");
    for family in [
        "netkit_chat_redis_round_trip_seconds",
        "netkit_chat_cluster_events_published_total",
        "netkit_chat_cluster_events_consumed_total",
        "netkit_chat_cluster_resyncs_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family}: {text}"
        );
    }
    let published = sample(&text, "netkit_chat_cluster_events_published_total");
    assert!(published >= 3.0, "registration, JOIN, PRIVMSG: {text}");
}

fn sample(text: &str, name: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn get_metrics(http: SocketAddr) -> String {
    let mut stream = TcpStream::connect(http).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within("the metrics", stream.read_to_string(&mut response))
        .await
        .unwrap();
    response
}

#[test]
fn a_redis_that_cannot_be_reached_is_one_clear_line() {
    let refused = common::refused_tcp_addr();
    let line = refused_at_start(&format!("redis://:secret@{refused}"), "secret");
    assert!(line.contains("cannot reach Redis"), "{line}");
}

/// The texts of `channel`'s history as `client` (a member with the
/// chathistory capabilities) gets them.
async fn history_texts(client: &mut Client, channel: &str) -> Vec<String> {
    client
        .send(&format!("CHATHISTORY LATEST {channel} * 100"))
        .await;
    let mut texts = Vec::new();
    loop {
        let message = client.next().await;
        match message.command.as_str() {
            "PRIVMSG" => texts.push(message.params[1].clone()),
            "BATCH" if message.param(0).unwrap().starts_with('-') => return texts,
            _ => {}
        }
    }
}

/// Registers `nick` with batch, server-time and chathistory, and joins.
async fn history_reader(node: &ChatServeProcess, nick: &str, channel: &str) -> Client {
    let mut client = Client::connect(node.addr).await;
    client
        .send("CAP REQ :batch server-time message-tags draft/chathistory")
        .await;
    client.send("CAP END").await;
    client.send(&format!("NICK {nick}")).await;
    client.send("USER r 0 * :r").await;
    client.skip_to_any(&["422"]).await;
    client.nick = nick.to_string();
    client.join(channel).await;
    client
}

/// Sends `text` from `from` and waits until each of `to` got it.
async fn say(from: &mut Client, text: &str, to: &mut [&mut Client]) {
    from.send(&format!("PRIVMSG #r :{text}")).await;
    for client in to {
        assert_eq!(client.next_text().await, text, "{}", client.nick);
    }
}

#[tokio::test]
async fn nodes_serve_their_own_users_while_redis_is_away_and_history_keeps_everything_once() {
    let mut redis = RedisServer::start_persistent();
    let nodes: Vec<_> = (0..2).map(|i| node(&redis, i)).collect();
    let mut alice = member(&nodes[0], "alice", "#r").await;
    let mut anna = member(&nodes[0], "anna", "#r").await;
    let mut bob = member(&nodes[1], "bob", "#r").await;
    let mut bea = member(&nodes[1], "bea", "#r").await;
    for client in [&mut alice, &mut anna] {
        seen_joining(client, "bea").await;
    }
    seen_joining(&mut bob, "bea").await;
    let mut seen = Vec::new();
    for i in 0..3 {
        let text = format!("before {i}");
        say(&mut alice, &text, &mut [&mut anna, &mut bob, &mut bea]).await;
        seen.push(text);
    }

    redis.stop();
    for client in [&mut alice, &mut anna, &mut bob, &mut bea] {
        let notice = client.skip_to_any(&["NOTICE"]).await;
        assert!(notice.params[1].contains("split"), "{}", notice.to_line());
    }
    // Users of one node still talk; the other node's users are gone for now.
    for i in 0..3 {
        let text = format!("during a{i}");
        say(&mut alice, &text, &mut [&mut anna]).await;
        seen.push(text);
        let text = format!("during b{i}");
        say(&mut bob, &text, &mut [&mut bea]).await;
        seen.push(text);
    }
    assert_eq!(names(&mut anna, "#r").await, ["alice", "anna"]);
    let split = get_metrics(nodes[0].http.unwrap()).await;
    assert_eq!(sample(&split, "netkit_chat_cluster_split"), 1.0, "{split}");

    redis.restart();
    // Back together: each gets a fresh NAMES, and everyone is there again.
    for client in [&mut alice, &mut anna, &mut bob, &mut bea] {
        client.skip_to_any(&["366"]).await;
    }
    let everyone = ["alice", "anna", "bea", "bob"];
    for client in [&mut alice, &mut bob] {
        let mut all = names(client, "#r").await;
        for _ in 0..50 {
            if all == everyone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            all = names(client, "#r").await;
        }
        assert_eq!(all, everyone, "{}", client.nick);
    }
    let joined = get_metrics(nodes[0].http.unwrap()).await;
    assert_eq!(
        sample(&joined, "netkit_chat_cluster_split"),
        0.0,
        "{joined}"
    );
    assert_eq!(
        sample(&joined, "netkit_chat_cluster_resyncs_total"),
        1.0,
        "{joined}"
    );
    for i in 0..3 {
        let text = format!("after {i}");
        say(&mut bea, &text, &mut [&mut alice, &mut anna, &mut bob]).await;
        seen.push(text);
    }

    for (i, node) in nodes.iter().enumerate() {
        let mut reader = history_reader(node, &format!("reader{i}"), "#r").await;
        let mut texts = history_texts(&mut reader, "#r").await;
        texts.sort();
        let mut want = seen.clone();
        want.sort();
        assert_eq!(texts, want, "history from node {i}: every message once");
    }
}

#[tokio::test]
async fn every_member_on_every_node_sees_one_order_and_history_has_it() {
    let (_redis, nodes) = cluster(2);
    let mut alice = member(&nodes[0], "alice", "#order").await;
    let mut bob = member(&nodes[1], "bob", "#order").await;
    let mut carol = history_reader(&nodes[0], "carol", "#order").await;
    let mut dave = history_reader(&nodes[1], "dave", "#order").await;
    for client in [&mut alice, &mut bob, &mut carol] {
        seen_joining(client, "dave").await;
    }
    // Both send at once, neither waiting for the other.
    let lines = |who: &str| -> String {
        (0..50)
            .map(|i| format!("PRIVMSG #order :{who} {i}\r\n"))
            .collect()
    };
    let (a, b) = (lines("alice"), lines("bob"));
    tokio::join!(alice.send_raw(a.as_bytes()), bob.send_raw(b.as_bytes()));
    let mut orders = Vec::new();
    for client in [&mut carol, &mut dave] {
        let mut order = Vec::new();
        while order.len() < 100 {
            order.push(client.next_text().await);
        }
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1], "one order on both nodes");
    for who in ["alice", "bob"] {
        let own: Vec<&String> = orders[0].iter().filter(|t| t.starts_with(who)).collect();
        let sent: Vec<String> = (0..50).map(|i| format!("{who} {i}")).collect();
        assert_eq!(own, sent.iter().collect::<Vec<_>>(), "{who}'s order kept");
    }
    assert_eq!(history_texts(&mut carol, "#order").await, orders[0]);
    assert_eq!(history_texts(&mut dave, "#order").await, orders[0]);
}

#[tokio::test]
async fn a_password_in_the_url_reaches_a_redis_that_needs_one() {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("CONFIG")
        .arg(&["SET", "requirepass", "s3cret"])
        .query::<()>(&mut conn)
        .unwrap();
    let with_password = url.replacen("redis://", "redis://:s3cret@", 1);
    let nodes: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| ChatServeProcess::node(&with_password, name))
        .collect();
    let mut alice = member(&nodes[0], "alice", "#pw").await;
    let mut bob = member(&nodes[1], "bob", "#pw").await;
    seen_joining(&mut alice, "bob").await;
    bob.send("PRIVMSG #pw :through a password").await;
    assert_eq!(alice.next_text().await, "through a password");

    let wrong = url.replacen("redis://", "redis://:wrong@", 1);
    refused_at_start(&wrong, "wrong");
}

/// Starts a node on `url` and expects it to exit at once with one error
/// line (returned) that does not show `password`.
fn refused_at_start(url: &str, password: &str) -> String {
    let args = [
        "chat",
        "serve",
        "--redis",
        url,
        "--irc",
        "127.0.0.1:0",
        "--http",
        "off",
    ];
    let finished = common::Netkit::run(&args, b"");
    let line = finished.assert_one_error_line(2).to_string();
    assert!(!line.contains(password), "the password stays out: {line}");
    line
}

#[tokio::test]
async fn nodes_reach_redis_over_tls() {
    let redis = RedisServer::start_tls();
    // The test CA is trusted the way a system's CAs are: SSL_CERT_FILE.
    let ca = common::tls::data("ca.pem");
    let env = [("SSL_CERT_FILE", ca.as_os_str())];
    let nodes: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| ChatServeProcess::node_with_env(&redis.tls_url(), name, &env))
        .collect();
    let mut alice = member(&nodes[0], "alice", "#tls").await;
    let mut bob = member(&nodes[1], "bob", "#tls").await;
    seen_joining(&mut alice, "bob").await;
    bob.send("PRIVMSG #tls :encrypted on the way").await;
    assert_eq!(alice.next_text().await, "encrypted on the way");

    // Without the CA, the certificate is refused: one line, exit 2.
    let line = refused_at_start(&redis.tls_url(), "no password");
    assert!(line.contains("Redis"), "{line}");
}

#[tokio::test]
async fn invitations_and_bans_set_on_one_node_hold_on_the_other() {
    let (_redis, nodes) = cluster(2);
    let mut alice = member(&nodes[0], "alice", "#priv").await;
    let mut bob = Client::register(nodes[1].addr, "bob").await;
    let mut carol = Client::register(nodes[1].addr, "carol").await;
    alice.send("MODE #priv +i").await;
    alice.skip_to_any(&["MODE"]).await;
    bob.send("JOIN #priv").await;
    let refused = bob.skip_to_any(&["473"]).await;
    assert_numeric(&refused, "473", &["#priv"]);

    alice.send("INVITE bob #priv").await;
    alice.skip_to_any(&["341"]).await;
    let invite = bob.skip_to_any(&["INVITE"]).await;
    assert_eq!(
        (nick_of(&invite), invite.params.as_slice()),
        ("alice", &["bob".to_string(), "#priv".to_string()][..])
    );
    bob.join("#priv").await;

    alice.send("MODE #priv -i+b carol!*@*").await;
    alice.skip_to_any(&["MODE"]).await;
    bob.skip_to_any(&["MODE"]).await;
    carol.send("JOIN #priv").await;
    let banned = carol.skip_to_any(&["474"]).await;
    assert_numeric(&banned, "474", &["#priv"]);
    assert_eq!(names(&mut bob, "#priv").await, ["alice", "bob"]);
}

#[tokio::test]
async fn a_node_that_starts_late_takes_the_state_from_the_snapshot() {
    let (redis, nodes) = cluster(1);
    let mut alice = member(&nodes[0], "alice", "#snap").await;
    alice.send("TOPIC #snap :kept in the snapshot").await;
    alice.skip_to_any(&["TOPIC"]).await;
    // Nodes save a snapshot every ten seconds; once one holds the topic, the
    // log before it may go, as trimming does.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut saved = false;
    for _ in 0..60 {
        let state: Option<String> = redis::cmd("HGET")
            .arg(&["netkit:snapshot", "state"])
            .query(&mut conn)
            .unwrap();
        saved = state.is_some_and(|s| s.contains("kept in the snapshot"));
        if saved {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(saved, "no snapshot with the topic within 15 s");
    redis::cmd("XTRIM")
        .arg(&["netkit:log", "MAXLEN", "0"])
        .query::<()>(&mut conn)
        .unwrap();

    let late = node(&redis, 1);
    let mut bob = member(&late, "bob", "#snap").await;
    assert_eq!(names(&mut bob, "#snap").await, ["alice", "bob"]);
    bob.send("TOPIC #snap").await;
    let topic = bob.skip_to_any(&["332"]).await;
    assert_eq!(topic.params.last().unwrap(), "kept in the snapshot");
    bob.send("WHOIS alice").await;
    let server = bob.skip_to_any(&["312"]).await;
    assert_numeric(&server, "312", &["alice", "a"]);
    // And the two talk.
    seen_joining(&mut alice, "bob").await;
    alice.send("PRIVMSG #snap :hello latecomer").await;
    assert_eq!(bob.next_text().await, "hello latecomer");
}
