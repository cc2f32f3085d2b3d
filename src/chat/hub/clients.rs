//! The registered clients and how lines reach them: straight into their
//! outbound queues, or held for the commit thread while a commit is pending.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{ClientId, IdMap};
use crate::chat::caps::Caps;
use crate::chat::history::Item;
use crate::chat::irc::{IrcKey, Message};
use crate::chat::outbound::Outbound;

#[derive(Default)]
pub(super) struct Clients {
    pub map: IdMap<Client>,
    pub overflowed: Vec<ClientId>,
    /// While set, lines are held here for the commit thread instead of pushed.
    pub held: Option<Item>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Client {
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    /// Its queue; `None` for a client of another node in a cluster, which
    /// that node serves.
    #[serde(skip)]
    pub out: Option<Outbound>,
    pub channels: HashSet<IrcKey>,
    /// Channels it was invited to and has not joined since (they let it pass
    /// `+i`), at most `MAX_INVITES`.
    pub invites: HashSet<IrcKey>,
    /// The IRCv3 capabilities it enabled: which form of a tagged line it gets.
    #[serde(skip)]
    pub caps: Caps,
    /// User modes: `+o` (an IRC operator), `+i` (invisible), `+w` (wallops).
    pub oper: bool,
    pub invisible: bool,
    pub wallops: bool,
    /// The AWAY message, while the client is away.
    pub away: Option<String>,
    /// In a cluster, the server (node) it is on, for WHO and WHOIS; alone,
    /// `None`: this server.
    #[serde(default)]
    pub server: Option<Arc<str>>,
}

impl Client {
    /// A client just registered: no channels, no modes, no capabilities.
    pub(super) fn new(
        nick: String,
        user: String,
        host: String,
        realname: String,
        out: Option<Outbound>,
    ) -> Client {
        Client {
            nick,
            user,
            host,
            realname,
            out,
            channels: HashSet::new(),
            invites: HashSet::new(),
            caps: Caps::default(),
            oper: false,
            invisible: false,
            wallops: false,
            away: None,
            server: None,
        }
    }

    /// `+iow`, as 221 shows it.
    pub(super) fn modes(&self) -> String {
        let mut modes = String::from("+");
        for (set, c) in [(self.invisible, 'i'), (self.oper, 'o'), (self.wallops, 'w')] {
            if set {
                modes.push(c);
            }
        }
        modes
    }

    pub(super) fn prefix(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }

    /// The WHO flags before any channel prefix: `H` here or `G` gone (away),
    /// then `*` for an operator.
    pub(super) fn presence_flags(&self) -> &'static str {
        match (self.away.is_some(), self.oper) {
            (false, false) => "H",
            (false, true) => "H*",
            (true, false) => "G",
            (true, true) => "G*",
        }
    }
}

impl Clients {
    /// Queues `line` for `id`; an overflow is noted for removal.
    pub(super) fn send(&mut self, id: ClientId, line: &Bytes) {
        self.send_stored(id, line, false);
    }

    /// Queues `line` for `id`, held while a commit is pending. A `stored`
    /// line is dropped if its message cannot be stored.
    pub(super) fn send_stored(&mut self, id: ClientId, line: &Bytes, stored: bool) {
        self.send_chosen(id, stored, |_| Some(line));
    }

    /// Queues for `id` the form of a line that `choose` picks for its
    /// capabilities, if any: one lookup per receiver in a fan-out.
    pub(super) fn send_chosen<'a>(
        &mut self,
        id: ClientId,
        stored: bool,
        choose: impl FnOnce(Caps) -> Option<&'a Bytes>,
    ) {
        let Some(client) = self.map.get(&id) else {
            return;
        };
        let Some(out) = &client.out else {
            return;
        };
        let Some(line) = choose(client.caps) else {
            return;
        };
        match &mut self.held {
            Some(held) => held.push(out, line, stored),
            None => {
                if out.push(line.clone()).is_err() {
                    self.overflowed.push(id);
                }
            }
        }
    }

    pub(super) fn send_message(&mut self, id: ClientId, message: Message) {
        self.send(id, &message.to_bytes());
    }
}
