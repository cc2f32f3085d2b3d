//! IRCv3 on the chat server, with raw clients over TCP on 127.0.0.1: CAP
//! negotiation, message-tags (msgid, client-only tags, TAGMSG), server-time,
//! echo-message, and CHATHISTORY with batches served from SQLite history. A
//! client that negotiates nothing sees plain RFC lines.
//!
//! Every wait is bounded by `common::PATIENCE`.

mod common;

use netkit::chat::ChatConfig;
use netkit::chat::clock::parse_iso8601;
use netkit::chat::history::SqliteHistory;
use netkit::chat::irc::Message;

use common::irc::{Client, Server, nick_of};

const ALL: &str = "message-tags server-time batch echo-message draft/chathistory away-notify";

async fn history_server() -> Server {
    let store = SqliteHistory::open(":memory:", 1000).expect("open");
    let config = ChatConfig {
        flood: None,
        ..ChatConfig::default()
    };
    Server::with_history(config, Box::new(store)).await
}

/// Registers `nick` after `CAP REQ :caps` (none: no CAP at all).
async fn register_with(server: &Server, nick: &str, caps: &str) -> Client {
    let mut client = Client::connect(server.addr).await;
    if !caps.is_empty() {
        client.send("CAP LS 302").await;
        client.expect("CAP").await;
        client.send(&format!("CAP REQ :{caps}")).await;
        let ack = client.expect("CAP").await;
        assert_eq!(ack.param(1), Some("ACK"), "{}", ack.to_line());
    }
    client.send(&format!("NICK {nick}")).await;
    client.send(&format!("USER {nick} 0 * :{nick}")).await;
    if !caps.is_empty() {
        client.send("CAP END").await;
    }
    client.expect("001").await;
    client.skip_to_any(&["376", "422"]).await;
    client.nick = nick.to_string();
    client
}

#[tokio::test]
async fn cap_negotiation_lists_acks_naks_and_holds_registration() {
    let server = history_server().await;
    let mut client = Client::connect(server.addr).await;
    client.send("CAP LS 302").await;
    let ls = client.expect("CAP").await;
    assert_eq!(ls.param(1), Some("LS"));
    let mut offered: Vec<&str> = ls.params[2].split(' ').collect();
    offered.sort();
    let mut all: Vec<&str> = ALL.split(' ').collect();
    all.sort();
    assert_eq!(offered, all);
    client.send("NICK alice").await;
    client.send("USER alice 0 * :Alice").await;
    client.send("CAP REQ :server-time sasl").await;
    let nak = client.expect("CAP").await;
    assert_eq!(&nak.params[1..], ["NAK", "server-time sasl"]);
    client.send("CAP REQ :server-time echo-message").await;
    let ack = client.expect("CAP").await;
    assert_eq!(&ack.params[1..], ["ACK", "server-time echo-message"]);
    // Still negotiating: no welcome yet.
    client.send("CAP LIST").await;
    let list = client.expect("CAP").await;
    assert_eq!(&list.params[1..], ["LIST", "server-time echo-message"]);
    client.send("CAP END").await;
    client.expect("001").await;
    client.skip_to_any(&["422"]).await;
    client.nick = "alice".to_string();
    // Changes after registration are fine too.
    client.send("CAP REQ :-echo-message").await;
    let ack = client.expect("CAP").await;
    assert_eq!(&ack.params[..2], ["alice", "ACK"]);
    client.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn without_history_chathistory_is_neither_offered_nor_known() {
    let server = Server::default().await;
    let mut client = Client::connect(server.addr).await;
    client.send("CAP LS 302").await;
    let ls = client.expect("CAP").await;
    assert!(!ls.params[2].contains("chathistory"), "{}", ls.to_line());
    client.send("CAP REQ draft/chathistory").await;
    assert_eq!(client.expect("CAP").await.param(1), Some("NAK"));
    client.send("CAP END").await;
    let mut alice = Client::register(server.addr, "alice").await;
    alice.send("CHATHISTORY LATEST #c * 10").await;
    alice.expect("421").await;
    server.stop().await;
}

#[tokio::test]
async fn each_client_gets_the_tags_it_asked_for() {
    let server = Server::default().await;
    let mut tagged = register_with(&server, "tagged", "message-tags").await;
    let mut timed = register_with(&server, "timed", "server-time").await;
    let mut plain = register_with(&server, "plain", "").await;
    let mut sender = register_with(&server, "sender", "message-tags echo-message").await;
    for client in [&mut tagged, &mut timed, &mut plain, &mut sender] {
        client.join("#c").await;
    }
    for (i, client) in [&mut tagged, &mut timed, &mut plain]
        .into_iter()
        .enumerate()
    {
        for _ in i + 1..4 {
            client.expect("JOIN").await;
        }
    }
    sender
        .send("@+example.com/mood=happy;+draft/react PRIVMSG #c :hello")
        .await;
    let echo = sender.expect("PRIVMSG").await;
    let full = tagged.expect("PRIVMSG").await;
    assert_eq!(full.tag("+example.com/mood"), Some("happy"));
    assert!(full.tags.iter().any(|(key, _)| key == "+draft/react"));
    let msgid = full.tag("msgid").expect("a msgid").to_string();
    assert_eq!(msgid.len(), 26);
    assert!(parse_iso8601(full.tag("time").expect("a time")).is_some());
    // The echo is the same message, with the same id.
    assert_eq!(echo.tag("msgid"), Some(msgid.as_str()));
    assert_eq!(echo.param(1), Some("hello"));

    let time_only = timed.expect("PRIVMSG").await;
    let keys: Vec<&str> = time_only.tags.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["time"]);
    let bare = plain.expect("PRIVMSG").await;
    assert!(bare.tags.is_empty(), "{}", bare.to_line());
    assert_eq!(
        bare,
        Message::parse(b":sender!sender@127.0.0.1 PRIVMSG #c hello").unwrap()
    );

    // TAGMSG reaches only clients with message-tags.
    sender.send("@+typing=active TAGMSG #c").await;
    let tagmsg = tagged.expect("TAGMSG").await;
    assert_eq!(tagmsg.tag("+typing"), Some("active"));
    assert_eq!(nick_of(&tagmsg), "sender");
    sender.expect("TAGMSG").await;
    timed.assert_nothing_pending().await;
    plain.assert_nothing_pending().await;

    // Private messages carry ids too; a client without message-tags cannot
    // attach tags.
    plain.send("@+mood=sad PRIVMSG tagged :psst").await;
    let private = tagged.expect("PRIVMSG").await;
    assert!(private.tag("msgid").is_some());
    assert_eq!(private.tag("+mood"), None);
    server.stop().await;
}

/// Sends `count` numbered messages to `channel` and waits until `reader` saw
/// them all; returns their msgids, oldest first.
async fn fill(
    sender: &mut Client,
    reader: &mut Client,
    channel: &str,
    count: usize,
) -> Vec<String> {
    for n in 0..count {
        sender.send(&format!("PRIVMSG {channel} :m{n}")).await;
    }
    let mut ids = Vec::new();
    while ids.len() < count {
        let message = reader.skip_to_any(&["PRIVMSG"]).await;
        ids.push(message.tag("msgid").expect("msgid").to_string());
    }
    ids
}

/// Reads a CHATHISTORY batch: its messages' texts, checking the framing.
async fn read_batch(client: &mut Client, target: &str) -> Vec<Message> {
    let open = client.expect("BATCH").await;
    let reference = open
        .param(0)
        .and_then(|r| r.strip_prefix('+'))
        .expect("+ref")
        .to_string();
    assert_eq!(
        &open.params[1..],
        ["chathistory", target],
        "{}",
        open.to_line()
    );
    let mut messages = Vec::new();
    loop {
        let message = client.next().await;
        if message.command == "BATCH" {
            assert_eq!(message.param(0), Some(format!("-{reference}").as_str()));
            return messages;
        }
        assert_eq!(
            message.tag("batch"),
            Some(reference.as_str()),
            "{}",
            message.to_line()
        );
        messages.push(message);
    }
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.param(1).unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn chathistory_pages_through_a_channel() {
    let server = history_server().await;
    let mut alice = register_with(&server, "alice", "").await;
    let mut bob = register_with(&server, "bob", ALL).await;
    alice.join("#c").await;
    bob.join("#c").await;
    let ids = fill(&mut alice, &mut bob, "#c", 12).await;

    bob.send("CHATHISTORY LATEST #c * 5").await;
    let latest = read_batch(&mut bob, "#c").await;
    assert_eq!(texts(&latest), ["m7", "m8", "m9", "m10", "m11"]);
    // Each message keeps its id and time, and its sender.
    assert_eq!(latest[0].tag("msgid"), Some(ids[7].as_str()));
    assert!(latest[0].tag("time").is_some());
    assert_eq!(nick_of(&latest[0]), "alice");

    // Paging backwards from the oldest seen gets everything, once.
    let mut all = texts(&latest);
    let mut oldest = ids[7].clone();
    loop {
        bob.send(&format!("CHATHISTORY BEFORE #c msgid={oldest} 5"))
            .await;
        let page = read_batch(&mut bob, "#c").await;
        let Some(first) = page.first() else { break };
        oldest = first.tag("msgid").expect("msgid").to_string();
        let mut texts = texts(&page);
        texts.append(&mut all);
        all = texts;
    }
    let expected: Vec<String> = (0..12).map(|n| format!("m{n}")).collect();
    assert_eq!(all, expected);

    bob.send(&format!("CHATHISTORY AFTER #c msgid={} 3", ids[2]))
        .await;
    assert_eq!(texts(&read_batch(&mut bob, "#c").await), ["m3", "m4", "m5"]);
    bob.send(&format!("CHATHISTORY AROUND #c msgid={} 3", ids[5]))
        .await;
    assert_eq!(texts(&read_batch(&mut bob, "#c").await), ["m4", "m5", "m6"]);
    bob.send(&format!(
        "CHATHISTORY BETWEEN #c msgid={} msgid={} 10",
        ids[8], ids[4]
    ))
    .await;
    assert_eq!(texts(&read_batch(&mut bob, "#c").await), ["m5", "m6", "m7"]);
    // A timestamp works as a reference too (messages in one millisecond share
    // one, so the reference here is well before them all).
    bob.send("CHATHISTORY LATEST #c timestamp=2000-01-01T00:00:00.000Z 2")
        .await;
    assert_eq!(texts(&read_batch(&mut bob, "#c").await), ["m10", "m11"]);

    // A message sent now is in the history before anyone sees it.
    alice.send("PRIVMSG #c :fresh").await;
    bob.send("CHATHISTORY LATEST #c * 1").await;
    let live = bob.expect("PRIVMSG").await;
    assert_eq!(live.param(1), Some("fresh"));
    assert_eq!(texts(&read_batch(&mut bob, "#c").await), ["fresh"]);
    server.stop().await;
}

#[tokio::test]
async fn chathistory_targets_and_refusals() {
    let server = history_server().await;
    let mut alice = register_with(&server, "alice", "").await;
    let mut bob = register_with(&server, "bob", ALL).await;
    for channel in ["#one", "#two"] {
        alice.join(channel).await;
        bob.join(channel).await;
    }
    fill(&mut alice, &mut bob, "#one", 2).await;
    fill(&mut alice, &mut bob, "#two", 1).await;
    bob.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10")
        .await;
    let open = bob.expect("BATCH").await;
    assert_eq!(open.param(1), Some("draft/chathistory-targets"));
    let first = bob.expect("CHATHISTORY").await;
    let second = bob.expect("CHATHISTORY").await;
    // Oldest last message first; here both may share one millisecond.
    let mut found = [first.param(1), second.param(1)];
    found.sort();
    assert_eq!(found, [Some("#one"), Some("#two")]);
    assert!(first.param(2).is_some_and(|t| t.starts_with("timestamp=")));
    bob.expect("BATCH").await;

    // Not a member: refused. Bad input: refused with its reason.
    let mut carol = register_with(&server, "carol", ALL).await;
    carol.send("CHATHISTORY LATEST #one * 10").await;
    let fail = carol.expect("FAIL").await;
    assert_eq!(
        &fail.params[..4],
        ["CHATHISTORY", "INVALID_TARGET", "LATEST", "#one"]
    );
    for (line, code) in [
        ("CHATHISTORY BEFORE #one * 10", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #one * lots", "INVALID_PARAMS"),
        ("CHATHISTORY SIDEWAYS #one * 10", "UNKNOWN_COMMAND"),
        ("CHATHISTORY AFTER #one", "NEED_MORE_PARAMS"),
    ] {
        bob.send(line).await;
        let fail = bob.expect("FAIL").await;
        assert_eq!(fail.param(1), Some(code), "{line}: {}", fail.to_line());
    }
    // Private messages are not kept: an empty batch.
    bob.send("CHATHISTORY LATEST alice * 10").await;
    assert!(read_batch(&mut bob, "alice").await.is_empty());
    // Without the batch capability, the lines come bare.
    let mut dave = register_with(&server, "dave", "draft/chathistory").await;
    dave.join("#one").await;
    dave.send("CHATHISTORY LATEST #one * 10").await;
    assert_eq!(dave.expect("PRIVMSG").await.param(1), Some("m0"));
    assert_eq!(dave.expect("PRIVMSG").await.tags, []);
    dave.assert_nothing_pending().await;
    server.stop().await;
}
