//! The informational and presence commands of the IRC server, driven by raw TCP
//! clients on 127.0.0.1: LIST, AWAY (and where it shows: PRIVMSG, WHOIS, WHO,
//! USERHOST), ISON, USERHOST, WHOWAS, LUSERS, VERSION, TIME, INFO, ADMIN, HELP,
//! and their error numerics.
//!
//! Every wait is bounded by `common::PATIENCE`; to prove that nothing else
//! arrived, a client checks that its `PING :sync` is answered next.

mod common;

use netkit::chat::ChatConfig;
use netkit::chat::irc::Message;

use common::irc::{Client, Server, assert_numeric, nick_of};

/// Reads up to and including the next message with this command, returning all.
async fn until(client: &mut Client, command: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    loop {
        let message = client.next().await;
        let done = message.command == command;
        messages.push(message);
        if done {
            return messages;
        }
    }
}

/// The numeric codes of `messages`, in order.
fn codes(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.command.as_str()).collect()
}

/// The 322 lines of a LIST reply as `(channel, members, topic)`.
async fn list(client: &mut Client, command: &str) -> Vec<(String, String, String)> {
    client.send(command).await;
    assert_numeric(&client.expect("321").await, "321", &["Channel"]);
    let replies = until(client, "323").await;
    replies[..replies.len() - 1]
        .iter()
        .map(|m| {
            assert_eq!(m.command, "322", "{}", m.to_line());
            let param = |i| m.param(i).unwrap_or_default().to_string();
            (param(1), param(2), param(3))
        })
        .collect()
}

/// Registers with a user name of one's own, to tell WHOWAS entries apart.
async fn register_as(server: &Server, nick: &str, user: &str) -> Client {
    let mut client = Client::connect(server.addr).await;
    client.send(&format!("NICK {nick}")).await;
    client.send(&format!("USER {user} 0 * :{user} here")).await;
    client.skip_to_any(&["376", "422"]).await;
    client.nick = nick.to_string();
    client
}

/// Waits until `watcher` sees `who` do `command` (QUIT, NICK...).
async fn seen(watcher: &mut Client, who: &str, command: &str) -> Message {
    loop {
        let message = watcher.next().await;
        if message.command == command && nick_of(&message) == who {
            return message;
        }
    }
}

// ----------------------------------------------------------------------------
// LIST
// ----------------------------------------------------------------------------

#[tokio::test]
async fn list_shows_channels_with_member_counts_and_topics() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    let mut carol = Client::register(server.addr, "carol").await;
    alice.join("#beta").await;
    alice.join("#Alpha").await;
    bob.join("#beta").await;
    alice.send("TOPIC #beta :All about beta").await;
    seen(&mut bob, "alice", "TOPIC").await;

    let everything = vec![
        ("#Alpha".to_string(), "1".to_string(), String::new()),
        ("#beta".into(), "2".into(), "All about beta".into()),
    ];
    assert_eq!(list(&mut carol, "LIST").await, everything);
    assert_eq!(list(&mut carol, "LIST #BETA").await, everything[1..]);
    assert_eq!(
        list(&mut carol, "LIST #nowhere,#alpha").await,
        everything[..1]
    );
    // ELIST filters on the member count.
    assert_eq!(list(&mut carol, "LIST >1").await, everything[1..]);
    assert_eq!(list(&mut carol, "LIST <2").await, everything[..1]);
    assert_eq!(list(&mut carol, "LIST >0,<3").await, everything);
    assert_eq!(list(&mut carol, "LIST <0").await, vec![]);
    // A target server that is not this one.
    carol.send("LIST #beta other.example").await;
    assert_numeric(&carol.next().await, "402", &["other.example"]);
    assert_eq!(
        list(&mut carol, "LIST #beta netkit.local").await,
        everything[1..]
    );
    carol.assert_nothing_pending().await;
    server.stop().await;
}

// ----------------------------------------------------------------------------
// AWAY
// ----------------------------------------------------------------------------

#[tokio::test]
async fn away_shows_in_privmsg_whois_who_and_userhost() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#chan").await;

    alice.send("AWAY :Gone to lunch").await;
    assert_numeric(
        &alice.next().await,
        "306",
        &["You have been marked as being away"],
    );

    bob.send("PRIVMSG alice :are you there?").await;
    assert_numeric(&bob.next().await, "301", &["alice", "Gone to lunch"]);
    assert_eq!(alice.next_text().await, "are you there?");
    // A NOTICE is never answered, not even with 301.
    bob.send("NOTICE alice :fyi").await;
    bob.assert_nothing_pending().await;
    assert_eq!(alice.next_text().await, "fyi");

    bob.send("WHOIS alice").await;
    let whois = until(&mut bob, "318").await;
    assert_eq!(codes(&whois), ["311", "319", "312", "301", "318"]);
    assert_numeric(&whois[3], "301", &["alice", "Gone to lunch"]);

    bob.send("WHO alice").await;
    assert_numeric(
        &bob.next().await,
        "352",
        &["*", "alice", "127.0.0.1", "netkit.local", "alice", "G"],
    );
    assert_numeric(&bob.next().await, "315", &["alice"]);
    bob.send("WHO #chan").await;
    assert_numeric(
        &bob.next().await,
        "352",
        &["#chan", "alice", "127.0.0.1", "netkit.local", "alice", "G@"],
    );
    assert_numeric(&bob.next().await, "315", &["#chan"]);

    bob.send("USERHOST alice bob").await;
    assert_numeric(
        &bob.next().await,
        "302",
        &["alice=-alice@127.0.0.1 bob=+bob@127.0.0.1"],
    );

    // Back: no more 301, and H again.
    alice.send("AWAY").await;
    assert_numeric(
        &alice.next().await,
        "305",
        &["You are no longer marked as being away"],
    );
    bob.send("PRIVMSG alice :welcome back").await;
    bob.assert_nothing_pending().await;
    assert_eq!(alice.next_text().await, "welcome back");
    bob.send("WHO alice").await;
    assert_numeric(
        &bob.next().await,
        "352",
        &["*", "alice", "127.0.0.1", "netkit.local", "alice", "H"],
    );
    bob.expect("315").await;
    bob.send("WHOIS alice").await;
    assert_eq!(
        codes(&until(&mut bob, "318").await),
        ["311", "319", "312", "318"]
    );
    server.stop().await;
}

#[tokio::test]
async fn away_notify_tells_peers_who_asked_for_it() {
    let server = Server::default().await;
    let mut watcher = Client::connect(server.addr).await;
    watcher.send("CAP LS 302").await;
    let ls = watcher.expect("CAP").await;
    assert!(
        ls.params
            .iter()
            .any(|p| p.split(' ').any(|c| c == "away-notify")),
        "{}",
        ls.to_line()
    );
    watcher.send("CAP REQ :away-notify").await;
    assert_eq!(watcher.expect("CAP").await.param(1), Some("ACK"));
    watcher.send("NICK watcher").await;
    watcher.send("USER watcher 0 * :Watcher").await;
    watcher.send("CAP END").await;
    watcher.skip_to_any(&["422"]).await;
    watcher.nick = "watcher".into();
    let mut plain = Client::register(server.addr, "plain").await;
    let mut alice = Client::register(server.addr, "alice").await;
    watcher.join("#chan").await;
    plain.join("#chan").await;
    alice.join("#chan").await;
    seen(&mut watcher, "alice", "JOIN").await;

    alice.send("AWAY :brb").await;
    alice.expect("306").await;
    let away = watcher.expect("AWAY").await;
    assert_eq!((nick_of(&away), away.param(0)), ("alice", Some("brb")));
    alice.send("AWAY").await;
    alice.expect("305").await;
    let back = watcher.expect("AWAY").await;
    assert_eq!((nick_of(&back), back.params.len()), ("alice", 0));

    // Someone away who joins is announced as away right after the JOIN.
    alice.send("AWAY :still here, sort of").await;
    alice.expect("306").await;
    watcher.expect("AWAY").await;
    alice.send("JOIN #other").await;
    alice.skip_to_any(&["366"]).await;
    watcher.join("#other").await;
    alice.send("PART #other").await;
    seen(&mut watcher, "alice", "PART").await;
    alice.send("JOIN #other").await;
    assert_eq!(watcher.expect("JOIN").await.param(0), Some("#other"));
    let away = watcher.expect("AWAY").await;
    assert_eq!(away.param(0), Some("still here, sort of"));

    // Without the capability, nothing of it.
    seen(&mut plain, "alice", "JOIN").await;
    plain.assert_nothing_pending().await;
    watcher.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn away_messages_are_cut_to_the_announced_awaylen() {
    let server = Server::default().await;
    let mut client = Client::connect(server.addr).await;
    client.send("NICK alice").await;
    client.send("USER alice 0 * :Alice").await;
    let welcome = until(&mut client, "422").await;
    let awaylen: usize = welcome
        .iter()
        .filter(|m| m.command == "005")
        .flat_map(|m| m.params.iter())
        .find_map(|token| token.strip_prefix("AWAYLEN="))
        .expect("AWAYLEN in ISUPPORT")
        .parse()
        .expect("AWAYLEN is a number");
    client.nick = "alice".into();
    let mut bob = Client::register(server.addr, "bob").await;

    client
        .send(&format!("AWAY :{}", "z".repeat(awaylen + 50)))
        .await;
    client.expect("306").await;
    bob.send("PRIVMSG alice :hello").await;
    let away = bob.expect("301").await;
    assert_eq!(away.param(2), Some("z".repeat(awaylen).as_str()));
    server.stop().await;
}

// ----------------------------------------------------------------------------
// ISON and USERHOST
// ----------------------------------------------------------------------------

#[tokio::test]
async fn ison_answers_with_the_nicks_online_as_they_spell_them() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "Alice").await;
    let _bob = Client::register(server.addr, "bob").await;
    alice.send("ISON ALICE nobody BOB").await;
    assert_numeric(&alice.next().await, "303", &["Alice bob"]);
    // Nicks also come space-separated in one trailing parameter.
    alice.send("ISON :nobody bob").await;
    assert_numeric(&alice.next().await, "303", &["bob"]);
    alice.send("ISON nobody").await;
    assert_numeric(&alice.next().await, "303", &[""]);
    alice.send("ISON").await;
    assert_numeric(&alice.next().await, "461", &["ISON"]);
    alice.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn userhost_describes_at_most_five_nicks() {
    let server = Server::default().await;
    let mut alice = register_as(&server, "alice", "al").await;
    alice.send("USERHOST nobody alice").await;
    assert_numeric(&alice.next().await, "302", &["alice=+al@127.0.0.1"]);
    alice
        .send("USERHOST alice alice alice alice alice alice")
        .await;
    let reply = alice.expect("302").await;
    assert_eq!(
        reply.param(1).unwrap_or_default().split(' ').count(),
        5,
        "{}",
        reply.to_line()
    );
    alice.send("USERHOST").await;
    assert_numeric(&alice.next().await, "461", &["USERHOST"]);
    alice.assert_nothing_pending().await;
    server.stop().await;
}

// ----------------------------------------------------------------------------
// WHOWAS
// ----------------------------------------------------------------------------

#[tokio::test]
async fn whowas_remembers_nick_changes_and_quits_most_recent_first() {
    let server = Server::default().await;
    let mut watcher = Client::register(server.addr, "watcher").await;
    watcher.join("#room").await;

    let mut first = register_as(&server, "alice", "first").await;
    first.join("#room").await;
    first.send("NICK alicia").await;
    seen(&mut watcher, "alice", "NICK").await;

    watcher.send("WHOWAS alice").await;
    let replies = until(&mut watcher, "369").await;
    assert_eq!(codes(&replies), ["314", "312", "369"]);
    assert_numeric(
        &replies[0],
        "314",
        &["alice", "first", "127.0.0.1", "*", "first here"],
    );
    assert_numeric(&replies[1], "312", &["alice", "netkit.local"]);
    assert_numeric(&replies[2], "369", &["alice", "End of WHOWAS"]);

    // Someone else takes the nick, then quits.
    let mut second = register_as(&server, "ALICE", "second").await;
    second.join("#room").await;
    second.send("QUIT :bye").await;
    seen(&mut watcher, "ALICE", "QUIT").await;

    watcher.send("WHOWAS alice").await;
    let replies = until(&mut watcher, "369").await;
    let users: Vec<(&str, &str)> = replies
        .iter()
        .filter(|m| m.command == "314")
        .map(|m| {
            (
                m.param(1).unwrap_or_default(),
                m.param(2).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(users, [("ALICE", "second"), ("alice", "first")]);

    // A count keeps the most recent ones; zero or junk means all.
    watcher.send("WHOWAS alice 1").await;
    assert_eq!(
        codes(&until(&mut watcher, "369").await),
        ["314", "312", "369"]
    );
    watcher.send("WHOWAS alice 0").await;
    assert_eq!(until(&mut watcher, "369").await.len(), 5);

    // The nick given up by a quit under a changed nick is remembered too.
    first.send("QUIT").await;
    seen(&mut watcher, "alicia", "QUIT").await;
    watcher.send("WHOWAS alicia").await;
    let replies = until(&mut watcher, "369").await;
    assert_numeric(&replies[0], "314", &["alicia", "first"]);
    watcher.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn whowas_errors() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    alice.send("WHOWAS nobody").await;
    assert_numeric(
        &alice.next().await,
        "406",
        &["nobody", "There was no such nickname"],
    );
    assert_numeric(&alice.next().await, "369", &["nobody"]);
    // Online now but never given up.
    alice.send("WHOWAS alice").await;
    assert_numeric(&alice.next().await, "406", &["alice"]);
    assert_numeric(&alice.next().await, "369", &["alice"]);
    alice.send("WHOWAS").await;
    assert_numeric(&alice.next().await, "431", &[]);
    alice.send("WHOWAS nobody 1 elsewhere.example").await;
    assert_numeric(
        &alice.next().await,
        "402",
        &["elsewhere.example", "No such server"],
    );
    alice.assert_nothing_pending().await;
    server.stop().await;
}

// ----------------------------------------------------------------------------
// LUSERS
// ----------------------------------------------------------------------------

/// The count parameters of a LUSERS reply, by numeric.
async fn lusers(client: &mut Client) -> Vec<(String, Vec<String>)> {
    client.send("LUSERS").await;
    until(client, "266")
        .await
        .into_iter()
        .map(|m| (m.command.clone(), m.params[1..].to_vec()))
        .collect()
}

fn strings(params: &[&str]) -> Vec<String> {
    params.iter().map(|p| p.to_string()).collect()
}

#[tokio::test]
async fn lusers_counts_clients_channels_and_connections_not_registered() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    // Connected, not registered: its PONG proves the server has its session.
    let mut stranger = Client::connect(server.addr).await;
    stranger.send("PING :here").await;
    stranger.expect("PONG").await;
    alice.join("#one").await;
    alice.join("#two").await;
    bob.join("#two").await;
    seen(&mut alice, "bob", "JOIN").await;

    assert_eq!(
        lusers(&mut alice).await,
        [
            (
                "251".into(),
                strings(&["There are 2 users and 0 invisible on 1 servers"])
            ),
            ("252".into(), strings(&["0", "operator(s) online"])),
            ("253".into(), strings(&["1", "unknown connection(s)"])),
            ("254".into(), strings(&["2", "channels formed"])),
            ("255".into(), strings(&["I have 2 clients and 0 servers"])),
            (
                "265".into(),
                strings(&["2", "2", "Current local users 2, max 2"])
            ),
            (
                "266".into(),
                strings(&["2", "2", "Current global users 2, max 2"])
            ),
        ]
    );

    // The stranger registers and bob leaves: the maximum stays at three.
    stranger.send("NICK carol").await;
    stranger.send("USER carol 0 * :Carol").await;
    let burst = until(&mut stranger, "422").await;
    assert_numeric(
        burst
            .iter()
            .find(|m| m.command == "251")
            .expect("LUSERS in the welcome"),
        "251",
        &["There are 3 users and 0 invisible on 1 servers"],
    );
    bob.send("QUIT").await;
    seen(&mut alice, "bob", "QUIT").await;
    let counts = lusers(&mut alice).await;
    assert_eq!(
        counts[0].1,
        strings(&["There are 2 users and 0 invisible on 1 servers"])
    );
    assert_eq!(counts[2].1[0], "0");
    assert_eq!(counts[3].1[0], "2");
    assert_eq!(counts[5].1[..2], strings(&["2", "3"]));
    alice.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn operators_invisible_users_and_secret_channels_in_the_counts_and_lists() {
    let config = ChatConfig {
        opers: vec![("admin".to_string(), "hunter2".to_string())],
        ..ChatConfig::default()
    };
    let server = Server::start(config).await;
    let mut alice = Client::register(server.addr, "alice").await;
    let mut bob = Client::register(server.addr, "bob").await;
    alice.join("#hidden").await;
    alice.join("#open").await;
    alice.send("MODE #hidden +s").await;
    alice.skip_to_any(&["MODE"]).await;
    alice.send("MODE alice +i").await;
    alice.skip_to_any(&["MODE"]).await;
    bob.send("OPER admin hunter2").await;
    bob.skip_to_any(&["MODE"]).await;

    let counts = lusers(&mut bob).await;
    assert_eq!(
        counts[0].1,
        strings(&["There are 1 users and 1 invisible on 1 servers"])
    );
    assert_eq!(counts[1].1[0], "1", "one operator");
    assert_eq!(counts[3].1[0], "2", "secret channels are counted");

    bob.send("USERHOST bob").await;
    assert_numeric(&bob.next().await, "302", &["bob*=+bob@127.0.0.1"]);
    bob.send("WHO bob").await;
    assert_numeric(
        &bob.next().await,
        "352",
        &["*", "bob", "127.0.0.1", "netkit.local", "bob", "H*"],
    );
    bob.expect("315").await;

    // A secret channel is listed to its members only.
    let open = ("#open".to_string(), "1".to_string(), String::new());
    assert_eq!(list(&mut bob, "LIST").await, vec![open.clone()]);
    assert_eq!(list(&mut bob, "LIST #hidden").await, []);
    let hidden = ("#hidden".to_string(), "1".to_string(), String::new());
    assert_eq!(list(&mut alice, "LIST").await, [hidden, open]);
    server.stop().await;
}

// ----------------------------------------------------------------------------
// What the server says about itself
// ----------------------------------------------------------------------------

#[tokio::test]
async fn version_time_info_and_admin_describe_the_server() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;

    alice.send("VERSION").await;
    let version = alice.expect("351").await;
    let expected = format!("netkit-{}", env!("CARGO_PKG_VERSION"));
    assert_numeric(&version, "351", &[&expected, "netkit.local"]);
    alice.send("PING :sync").await;
    // Then the ISUPPORT lines, as in the welcome.
    let mut tokens = Vec::new();
    let mut next = alice.expect("005").await;
    while next.command == "005" {
        tokens.extend(next.params[1..next.params.len() - 1].iter().cloned());
        next = alice.next().await;
    }
    assert!(tokens.iter().any(|t| t == "AWAYLEN=300"), "{tokens:?}");
    // And nothing else before the PONG.
    assert_eq!(next.command, "PONG", "{}", next.to_line());

    alice.send("TIME").await;
    let time = alice.expect("391").await;
    assert_numeric(&time, "391", &["netkit.local"]);
    assert!(
        time.params.last().is_some_and(|t| t.ends_with("UTC")),
        "{}",
        time.to_line()
    );

    alice.send("INFO").await;
    let info = until(&mut alice, "374").await;
    assert!(info.len() > 1 && codes(&info[..info.len() - 1]).iter().all(|c| *c == "371"));
    assert!(
        info[0].param(1).is_some_and(|l| l.contains(&expected)),
        "{}",
        info[0].to_line()
    );

    alice.send("ADMIN").await;
    let admin = until(&mut alice, "259").await;
    assert_eq!(codes(&admin), ["256", "257", "258", "259"]);
    assert_numeric(&admin[0], "256", &["netkit.local"]);

    // A server parameter: this server, a client on it, or 402.
    alice.send("TIME netkit.local").await;
    alice.expect("391").await;
    alice.send("ADMIN alice").await;
    until(&mut alice, "259").await;
    alice.send("MOTD netkit.local").await;
    alice.expect("422").await;
    for command in ["MOTD", "VERSION", "TIME", "INFO", "ADMIN"] {
        alice
            .send(&format!("{command} irc.elsewhere.example"))
            .await;
        assert_numeric(
            &alice.next().await,
            "402",
            &["irc.elsewhere.example", "No such server"],
        );
    }
    alice.send("LUSERS * irc.elsewhere.example").await;
    assert_numeric(&alice.next().await, "402", &["irc.elsewhere.example"]);
    alice.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn help_lists_commands_and_explains_each() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;

    alice.send("HELP").await;
    let index = until(&mut alice, "706").await;
    assert_numeric(&index[0], "704", &["*"]);
    let text: Vec<&str> = index.iter().filter_map(|m| m.param(2)).collect();
    let commands = text
        .iter()
        .find_map(|line| line.strip_prefix("Commands: "))
        .expect("a line listing the commands");
    for command in ["AWAY", "JOIN", "LIST", "PRIVMSG", "WHOWAS", "HELP"] {
        assert!(
            commands.split(' ').any(|c| c == command),
            "{command} not in {commands}"
        );
    }

    alice.send("HELP privmsg").await;
    let help = until(&mut alice, "706").await;
    assert_numeric(&help[0], "704", &["PRIVMSG"]);
    assert!(help.iter().all(|m| m.param(1) == Some("PRIVMSG")));
    assert!(codes(&help[1..help.len() - 1]).iter().all(|c| *c == "705"));

    alice.send("HELP frobnicate").await;
    assert_numeric(
        &alice.next().await,
        "524",
        &["frobnicate", "No help available on this topic"],
    );
    alice.assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn replies_come_in_command_order() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    alice.send("TIME").await;
    alice.send("LUSERS").await;
    alice.send("HELP nope").await;
    alice.send("ISON alice").await;
    alice.send("ADMIN").await;
    assert_eq!(alice.next().await.command, "391");
    let lusers = until(&mut alice, "266").await;
    assert_eq!(
        codes(&lusers),
        ["251", "252", "253", "254", "255", "265", "266"]
    );
    assert_eq!(alice.next().await.command, "524");
    assert_eq!(alice.next().await.command, "303");
    assert_eq!(
        codes(&until(&mut alice, "259").await),
        ["256", "257", "258", "259"]
    );
    alice.assert_nothing_pending().await;
    server.stop().await;
}
