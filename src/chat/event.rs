//! Events: what a session asks the hub to do to shared state.
//!
//! A session parses and checks a command on its own (syntax, lengths, names) and
//! turns it into an [`Event`]; the hub applies events in the order it receives them
//! and fans the result out. This is the seam for running several nodes: on one
//! node an event goes straight to [`Hub::apply`](super::hub::Hub::apply); in a
//! cluster it would be appended to a shared ordered log (a Redis stream) and every
//! node would apply the same events in the same order. Events therefore carry
//! only data (names and text, already validated), never handles to a connection.
//!
//! Reads that change nothing (NAMES, WHO, WHOIS, a TOPIC query) are not events:
//! every node can answer them from its own copy of the state.

use serde::{Deserialize, Serialize};

/// Whether a message is a PRIVMSG or a NOTICE. A NOTICE never causes an error
/// reply (RFC 2812 3.3.2), so that bots cannot loop on each other's errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    Privmsg,
    Notice,
    /// Tags and no text (IRCv3 message-tags): only for clients that enabled
    /// them, and never stored.
    Tagmsg,
}

impl MessageKind {
    pub fn command(self) -> &'static str {
        match self {
            MessageKind::Privmsg => "PRIVMSG",
            MessageKind::Notice => "NOTICE",
            MessageKind::Tagmsg => "TAGMSG",
        }
    }
}

/// One change a client asks for. Names are as the client wrote them; the hub
/// compares them through [`IrcKey`](super::irc::IrcKey).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Join these channels (valid names) with these keys, creating the missing
    /// ones.
    Join {
        channels: Vec<(String, Option<String>)>,
    },
    /// `JOIN 0`: leave every channel.
    PartAll,
    /// Leave these channels.
    Part {
        channels: Vec<String>,
        reason: Option<String>,
    },
    /// Change nick to a valid, different one.
    Nick { nick: String },
    /// Set a channel's topic (empty clears it).
    Topic { channel: String, text: String },
    /// A PRIVMSG, NOTICE or TAGMSG to channels and nicks, with the client-only
    /// tags (`+name`) its sender attached.
    Message {
        kind: MessageKind,
        targets: Vec<String>,
        text: String,
        tags: Vec<Tag>,
    },
    /// Change a channel's modes (syntax checked; rights are the hub's business).
    ChannelMode {
        channel: String,
        changes: Vec<ModeChange>,
    },
    /// Change one's own user modes (`+i`, `+w`, `-o`).
    UserMode { changes: Vec<ModeChange> },
    /// Remove these nicks from a channel.
    Kick {
        channel: String,
        nicks: Vec<String>,
        reason: Option<String>,
    },
    /// Invite a nick to a channel.
    Invite { nick: String, channel: String },
    /// Become an IRC operator (the credentials were checked by the session).
    Oper,
    /// An operator disconnects a nick.
    Kill { nick: String, reason: String },
    /// An operator's message to everyone with `+w`.
    Wallops { text: String },
    /// Mark the client away with this message (already cut to `AWAYLEN`), or
    /// back with `None`.
    Away { text: Option<String> },
    /// Leave the server; peers see `QUIT :reason`.
    Quit { reason: String },
}

/// A message tag: its key and value.
pub type Tag = (String, Option<String>);

/// One mode letter set or unset, with its parameter if it takes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeChange {
    pub set: bool,
    pub mode: char,
    pub arg: Option<String>,
}
