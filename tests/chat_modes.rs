//! Channel and user modes, KICK, INVITE and the operator commands (OPER, KILL,
//! WALLOPS), driven by raw IRC clients over TCP on 127.0.0.1: what each
//! member sees, and the error numeric for each wrong use.
//!
//! Every wait is bounded by `common::PATIENCE`.

mod common;

use netkit::chat::ChatConfig;
use netkit::chat::irc::Message;

use common::Netkit;
use common::irc::{Client, Server, assert_numeric, nick_of};

/// Registers one client per nick, all joining `channel`, the first creating it
/// (and so its operator). Each has read everything up to its own NAMES.
async fn members(server: &Server, channel: &str, nicks: &[&str]) -> Vec<Client> {
    let mut clients: Vec<Client> = Vec::new();
    for nick in nicks {
        let mut client = Client::register(server.addr, nick).await;
        client.join(channel).await;
        for earlier in &mut clients {
            let join = earlier.expect("JOIN").await;
            assert_eq!(nick_of(&join), *nick);
        }
        clients.push(client);
    }
    clients
}

/// Reads a MODE line and gives its parameters after the target.
async fn expect_mode(client: &mut Client, target: &str) -> Vec<String> {
    let mode = client.expect("MODE").await;
    assert_eq!(mode.param(0), Some(target), "{}", mode.to_line());
    mode.params[1..].to_vec()
}

fn texts(message: &Message) -> Vec<&str> {
    message.params.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn channel_modes_are_shown_and_only_operators_change_them() {
    let server = Server::default().await;
    let mut c = members(&server, "#c", &["alice", "bob"]).await;
    c[1].send("MODE #c").await;
    let modes = c[1].expect("324").await;
    assert_numeric(&modes, "324", &["#c", "+nt"]);
    c[1].expect("329").await;

    c[1].send("MODE #c +m").await;
    assert_numeric(&c[1].expect("482").await, "482", &["#c"]);
    c[1].send("MODE #c +Q").await;
    assert_numeric(&c[1].expect("472").await, "472", &["Q"]);

    c[0].send("MODE #c +mk-t sesame").await;
    for client in &mut c {
        assert_eq!(expect_mode(client, "#c").await, ["+mk-t", "sesame"]);
    }
    // The key is shown to members only.
    let mut outsider = Client::register(server.addr, "outsider").await;
    outsider.send("MODE #c").await;
    assert_numeric(&outsider.expect("324").await, "324", &["#c", "+mnk", "*"]);

    // Moderated: bob is muted until voiced.
    c[1].send("PRIVMSG #c :hello?").await;
    assert_numeric(&c[1].expect("404").await, "404", &["#c"]);
    c[0].send("MODE #c +v bob").await;
    for client in &mut c {
        assert_eq!(expect_mode(client, "#c").await, ["+v", "bob"]);
    }
    c[1].send("PRIVMSG #c :now I speak").await;
    assert_eq!(c[0].next_text().await, "now I speak");
    c[0].send("NAMES #c").await;
    let names = c[0].expect("353").await;
    let mut listed: Vec<&str> = names.params[3].split(' ').collect();
    listed.sort();
    assert_eq!(listed, ["+bob", "@alice"]);
    c[0].expect("366").await;

    // Nothing changes, nothing is announced; unknown and absent nicks get errors.
    c[0].send("MODE #c +m").await;
    c[0].send("MODE #c +o nobody").await;
    assert_numeric(&c[0].expect("401").await, "401", &["nobody"]);
    c[0].send("MODE #c +o outsider").await;
    assert_numeric(&c[0].expect("441").await, "441", &["outsider", "#c"]);
    c[0].assert_nothing_pending().await;
    c[1].assert_nothing_pending().await;
    server.stop().await;
}

#[tokio::test]
async fn keys_limits_invitations_and_bans_decide_who_joins() {
    let server = Server::default().await;
    let mut c = members(&server, "#c", &["alice"]).await;
    let mut bob = Client::register(server.addr, "bob").await;

    c[0].send("MODE #c +k sesame").await;
    expect_mode(&mut c[0], "#c").await;
    bob.send("JOIN #c").await;
    assert_numeric(&bob.expect("475").await, "475", &["#c"]);
    bob.send("JOIN #c,#other wrong").await;
    bob.expect("475").await;
    // The second channel had no key and is joined.
    assert_eq!(bob.expect("JOIN").await.param(0), Some("#other"));
    bob.skip_to_any(&["366"]).await;
    c[0].send("MODE #c -k+l *  1").await;
    assert_eq!(expect_mode(&mut c[0], "#c").await, ["-k+l", "*", "1"]);
    bob.send("JOIN #c").await;
    assert_numeric(&bob.expect("471").await, "471", &["#c"]);

    c[0].send("MODE #c -l+i").await;
    expect_mode(&mut c[0], "#c").await;
    bob.send("JOIN #c").await;
    assert_numeric(&bob.expect("473").await, "473", &["#c"]);
    c[0].send("INVITE bob #c").await;
    assert_numeric(&c[0].expect("341").await, "341", &["bob", "#c"]);
    let invite = bob.expect("INVITE").await;
    assert_eq!(nick_of(&invite), "alice");
    assert_eq!(texts(&invite), ["bob", "#c"]);
    bob.join("#c").await;
    c[0].expect("JOIN").await;
    c[0].send("INVITE bob #c").await;
    assert_numeric(&c[0].expect("443").await, "443", &["bob", "#c"]);

    // A ban mutes a member and keeps a newcomer out; an exception lets through.
    c[0].send("MODE #c -i+b bob").await;
    assert_eq!(expect_mode(&mut c[0], "#c").await, ["-i+b", "bob!*@*"]);
    bob.expect("MODE").await;
    bob.send("PRIVMSG #c :muted?").await;
    assert_numeric(&bob.expect("404").await, "404", &["#c"]);
    c[0].send("MODE #c +b *!*@127.0.0.1").await;
    expect_mode(&mut c[0], "#c").await;
    let mut carol = Client::register(server.addr, "carol").await;
    carol.send("JOIN #c").await;
    assert_numeric(&carol.expect("474").await, "474", &["#c"]);
    c[0].send("MODE #c +e carol").await;
    expect_mode(&mut c[0], "#c").await;
    carol.join("#c").await;

    c[0].send("MODE #c b").await;
    let first = c[0].skip_to_any(&["367"]).await;
    assert_numeric(&first, "367", &["#c", "bob!*@*", "alice"]);
    assert_numeric(&c[0].expect("367").await, "367", &["#c", "*!*@127.0.0.1"]);
    c[0].expect("368").await;
    // Exception lists are for operators.
    carol.send("MODE #c e").await;
    assert_numeric(&carol.expect("482").await, "482", &["#c"]);
    c[0].send("MODE #c e").await;
    assert_numeric(&c[0].expect("348").await, "348", &["#c", "carol!*@*"]);
    c[0].expect("349").await;
    server.stop().await;
}

#[tokio::test]
async fn kick_removes_a_member_and_every_wrong_use_gets_its_numeric() {
    let server = Server::default().await;
    let mut c = members(&server, "#c", &["alice", "bob", "carol"]).await;
    c[1].send("KICK #c carol").await;
    assert_numeric(&c[1].expect("482").await, "482", &["#c"]);
    c[0].send("KICK #c bob :behave").await;
    for client in &mut c {
        let kick = client.expect("KICK").await;
        assert_eq!(nick_of(&kick), "alice");
        assert_eq!(texts(&kick), ["#c", "bob", "behave"]);
    }
    // Gone from the channel: +n keeps it from speaking there.
    c[1].send("PRIVMSG #c :let me in").await;
    c[1].expect("404").await;
    c[0].send("KICK #c bob").await;
    assert_numeric(&c[0].expect("441").await, "441", &["bob", "#c"]);
    c[0].send("KICK #c ghost").await;
    assert_numeric(&c[0].expect("401").await, "401", &["ghost"]);
    c[1].send("KICK #c alice").await;
    assert_numeric(&c[1].expect("442").await, "442", &["#c"]);
    c[1].send("KICK #nowhere alice").await;
    assert_numeric(&c[1].expect("403").await, "403", &["#nowhere"]);
    c[1].send("KICK #c").await;
    assert_numeric(&c[1].expect("461").await, "461", &["KICK"]);
    // Without a reason, the kicker's nick is the reason.
    c[0].send("KICK #c carol").await;
    let kick = c[2].expect("KICK").await;
    assert_eq!(texts(&kick), ["#c", "carol", "alice"]);
    server.stop().await;
}

#[tokio::test]
async fn the_topic_is_for_operators_unless_the_channel_is_minus_t() {
    let server = Server::default().await;
    let mut c = members(&server, "#c", &["alice", "bob"]).await;
    c[1].send("TOPIC #c :mine now").await;
    assert_numeric(&c[1].expect("482").await, "482", &["#c"]);
    c[0].send("MODE #c -t").await;
    expect_mode(&mut c[1], "#c").await;
    c[1].send("TOPIC #c :mine now").await;
    let topic = c[0].skip_to_any(&["TOPIC"]).await;
    assert_eq!(texts(&topic), ["#c", "mine now"]);
    server.stop().await;
}

#[tokio::test]
async fn users_change_only_their_own_modes() {
    let server = Server::default().await;
    let mut alice = Client::register(server.addr, "alice").await;
    alice.send("MODE alice").await;
    assert_numeric(&alice.expect("221").await, "221", &["+"]);
    alice.send("MODE alice +iw").await;
    assert_eq!(expect_mode(&mut alice, "alice").await, ["+iw"]);
    alice.send("MODE ALICE").await;
    assert_numeric(&alice.expect("221").await, "221", &["+iw"]);
    // Becoming an operator takes OPER; asking again changes nothing.
    alice.send("MODE alice +o").await;
    alice.send("MODE alice +i").await;
    alice.assert_nothing_pending().await;
    alice.send("MODE alice +Z").await;
    alice.expect("501").await;
    alice.send("MODE bob +i").await;
    alice.expect("502").await;
    server.stop().await;
}

#[tokio::test]
async fn operators_kill_and_send_wallops() {
    let config = ChatConfig {
        opers: vec![("admin".to_string(), "hunter2".to_string())],
        ..ChatConfig::default()
    };
    let server = Server::start(config).await;
    let mut c = members(&server, "#c", &["alice", "bob", "carol"]).await;
    c[1].send("KILL carol :spam").await;
    assert_numeric(&c[1].expect("481").await, "481", &[]);
    c[1].send("WALLOPS :hear me").await;
    c[1].expect("481").await;
    c[1].send("OPER admin wrong").await;
    c[1].expect("464").await;
    c[1].send("OPER nobody hunter2").await;
    c[1].expect("464").await;
    c[1].send("OPER admin hunter2").await;
    c[1].expect("381").await;
    assert_eq!(expect_mode(&mut c[1], "bob").await, ["+o"]);
    c[0].send("WHOIS bob").await;
    let oper = c[0].skip_to_any(&["313"]).await;
    assert_eq!(oper.param(1), Some("bob"));
    c[0].skip_to_any(&["318"]).await;

    c[0].send("MODE alice +w").await;
    expect_mode(&mut c[0], "alice").await;
    c[1].send("WALLOPS :hear me").await;
    let wallops = c[0].expect("WALLOPS").await;
    assert_eq!(nick_of(&wallops), "bob");
    assert_eq!(wallops.param(0), Some("hear me"));
    // carol has no +w.
    c[2].assert_nothing_pending().await;

    c[1].send("KILL ghost :x").await;
    c[1].expect("401").await;
    c[1].send("KILL carol :spam").await;
    c[2].expect_error_and_close("Closing Link: 127.0.0.1 (Killed (bob (spam)))")
        .await;
    let quit = c[0].expect("QUIT").await;
    assert_eq!(nick_of(&quit), "carol");
    assert_eq!(quit.param(0), Some("Killed (bob (spam))"));
    // The nick is free again.
    Client::register(server.addr, "carol").await;
    server.stop().await;
}

#[tokio::test]
async fn secret_channels_are_hidden_from_outsiders() {
    let server = Server::default().await;
    let mut c = members(&server, "#hidden", &["alice"]).await;
    c[0].join("#open").await;
    c[0].send("MODE #hidden +s").await;
    expect_mode(&mut c[0], "#hidden").await;
    let mut bob = Client::register(server.addr, "bob").await;
    bob.send("WHOIS alice").await;
    let channels = bob.skip_to_any(&["319"]).await;
    assert_eq!(channels.param(2), Some("@#open"));
    bob.send("NAMES #hidden").await;
    assert_numeric(&bob.skip_to_any(&["366", "353"]).await, "366", &["#hidden"]);
    bob.send("WHO #hidden").await;
    assert_numeric(&bob.skip_to_any(&["315", "352"]).await, "315", &["#hidden"]);
    // Members still see it.
    c[0].send("WHOIS alice").await;
    let channels = c[0].skip_to_any(&["319"]).await;
    let mut listed: Vec<&str> = channels.params[2].split(' ').collect();
    listed.sort();
    assert_eq!(listed, ["@#hidden", "@#open"]);
    server.stop().await;
}

#[tokio::test]
async fn invite_errors() {
    let server = Server::default().await;
    let mut c = members(&server, "#c", &["alice", "bob"]).await;
    c[0].send("INVITE ghost #c").await;
    assert_numeric(&c[0].expect("401").await, "401", &["ghost"]);
    c[0].send("INVITE bob #elsewhere").await;
    assert_numeric(&c[0].expect("403").await, "403", &["#elsewhere"]);
    c[0].send("INVITE bob").await;
    assert_numeric(&c[0].expect("461").await, "461", &["INVITE"]);
    // On +i, only operators invite.
    c[0].send("MODE #c +i").await;
    expect_mode(&mut c[1], "#c").await;
    let mut carol = Client::register(server.addr, "carol").await;
    c[1].send("INVITE carol #c").await;
    assert_numeric(&c[1].expect("482").await, "482", &["#c"]);
    carol.assert_nothing_pending().await;
    server.stop().await;
}

#[test]
fn a_malformed_oper_option_is_bad_usage() {
    let finished = Netkit::run(
        &[
            "chat",
            "serve",
            "--irc",
            "127.0.0.1:0",
            "--oper",
            "nopassword",
        ],
        b"",
    );
    assert_eq!(finished.code(), Some(2), "{finished:?}");
    assert!(finished.stderr.contains("NAME:PASS"), "{finished:?}");
}
