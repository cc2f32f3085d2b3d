//! `netkit chat serve` used by an IRC client library nobody here wrote: the `irc`
//! crate (its own parser, registration and channel handling). Two of its clients
//! register, join a channel and talk; each checks what the other sent arrives as
//! the library parses it. Every wait is bounded by `common::PATIENCE`.

mod common;

use futures::StreamExt;
use irc::client::prelude::{Client, Command, Config, Message, Response};
use tokio::sync::mpsc;

use common::irc::ChatServeProcess;
use common::within;

const CHANNEL: &str = "#interop";

/// One `irc` crate client and what it receives.
struct LibClient {
    nick: &'static str,
    client: Client,
    incoming: mpsc::UnboundedReceiver<irc::error::Result<Message>>,
}

impl LibClient {
    /// Connects, registers (the library sends NICK and USER) and joins
    /// [`CHANNEL`] once the MOTD is over (the library does that itself); returns
    /// once the server confirms the join, with the NAMES list it sent.
    async fn join(server: &ChatServeProcess, nick: &'static str) -> (LibClient, Vec<String>) {
        let config = Config {
            nickname: Some(nick.to_string()),
            server: Some(server.addr.ip().to_string()),
            port: Some(server.addr.port()),
            channels: vec![CHANNEL.to_string()],
            ..Config::default()
        };
        let mut client = within("connecting", Client::from_config(config))
            .await
            .expect("the irc crate connects");
        client.identify().expect("registration sent");
        // The library sends what is queued only while its stream is polled, so
        // a task polls it all the time and hands the messages over.
        let mut stream = client.stream().expect("the message stream");
        let (hand_over, incoming) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                if hand_over.send(message).is_err() {
                    return;
                }
            }
        });
        let mut lib = LibClient {
            nick,
            client,
            incoming,
        };
        let mut names = Vec::new();
        lib.next_where("the end of NAMES", |message| match &message.command {
            Command::Response(Response::RPL_NAMREPLY, args) => {
                names.extend(
                    args.last()
                        .into_iter()
                        .flat_map(|n| n.split_whitespace())
                        .map(String::from),
                );
                false
            }
            Command::Response(Response::RPL_ENDOFNAMES, _) => true,
            _ => false,
        })
        .await;
        (lib, names)
    }

    /// The next message for which `wanted` holds; the library answers PINGs.
    async fn next_where(
        &mut self,
        what: &str,
        mut wanted: impl FnMut(&Message) -> bool,
    ) -> Message {
        let nick = self.nick;
        within(&format!("{nick}: {what}"), async {
            loop {
                let message = self
                    .incoming
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("{nick}: the connection ended"))
                    .unwrap_or_else(|e| panic!("{nick}: the irc crate failed: {e}"));
                if wanted(&message) {
                    return message;
                }
            }
        })
        .await
    }

    /// The next message from `source` with this kind of command.
    async fn next_from(&mut self, source: &str, what: &str, kind: fn(&Command) -> bool) -> Message {
        self.next_where(what, |m| {
            m.source_nickname() == Some(source) && kind(&m.command)
        })
        .await
    }
}

#[tokio::test]
async fn irc_crate_clients_talk_through_chat_serve() {
    let server = ChatServeProcess::start(&[]);
    let (mut alice, names) = LibClient::join(&server, "alice").await;
    assert_eq!(names, ["@alice"], "the channel's creator is its operator");
    let (mut bob, names) = LibClient::join(&server, "bob").await;
    let mut names_sorted = names.clone();
    names_sorted.sort();
    assert_eq!(names_sorted, ["@alice", "bob"]);
    let join = alice
        .next_from("bob", "bob's JOIN", |c| matches!(c, Command::JOIN(..)))
        .await;
    assert!(matches!(&join.command, Command::JOIN(channel, ..) if channel == CHANNEL));

    // A channel message, both ways.
    alice
        .client
        .send_privmsg(CHANNEL, "hello from the irc crate")
        .expect("send");
    let said = bob
        .next_from("alice", "alice's message", |c| {
            matches!(c, Command::PRIVMSG(..))
        })
        .await;
    assert_eq!(
        said.command,
        Command::PRIVMSG(CHANNEL.into(), "hello from the irc crate".into())
    );
    assert_eq!(said.response_target(), Some(CHANNEL));
    bob.client
        .send_privmsg(CHANNEL, "hi alice: ünïcödé ✓")
        .expect("send");
    let said = alice
        .next_from("bob", "bob's message", |c| {
            matches!(c, Command::PRIVMSG(..))
        })
        .await;
    assert_eq!(
        said.command,
        Command::PRIVMSG(CHANNEL.into(), "hi alice: ünïcödé ✓".into())
    );

    // A private message and a channel notice.
    bob.client
        .send_privmsg("alice", "just for you")
        .expect("send");
    let private = alice
        .next_from("bob", "bob's private message", |c| {
            matches!(c, Command::PRIVMSG(..))
        })
        .await;
    assert_eq!(
        private.command,
        Command::PRIVMSG("alice".into(), "just for you".into())
    );
    alice.client.send_notice(CHANNEL, "a notice").expect("send");
    let notice = bob
        .next_from("alice", "alice's notice", |c| {
            matches!(c, Command::NOTICE(..))
        })
        .await;
    assert_eq!(
        notice.command,
        Command::NOTICE(CHANNEL.into(), "a notice".into())
    );

    // A nick change, then a quit with its reason, as the other one sees them.
    alice
        .client
        .send(Command::NICK("alicia".into()))
        .expect("send");
    let nick = bob
        .next_from("alice", "alice's NICK", |c| matches!(c, Command::NICK(..)))
        .await;
    assert_eq!(nick.command, Command::NICK("alicia".into()));
    alice.client.send_quit("see you").expect("send");
    let quit = bob
        .next_from("alicia", "alicia's QUIT", |c| {
            matches!(c, Command::QUIT(..))
        })
        .await;
    let Command::QUIT(Some(reason)) = &quit.command else {
        panic!("a QUIT without its reason: {quit}");
    };
    assert!(reason.contains("see you"), "{quit}");
}
