//! The registered clients and how lines reach them: straight into their
//! outbound queues, or held for the commit thread while a commit is pending.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::ClientId;
use crate::chat::history::Item;
use crate::chat::irc::{IrcKey, Message};
use crate::chat::outbound::Outbound;

#[derive(Default)]
pub(super) struct Clients {
    pub map: HashMap<ClientId, Client>,
    pub overflowed: Vec<ClientId>,
    /// While set, lines are held here for the commit thread instead of pushed.
    pub held: Option<Item>,
}

pub(super) struct Client {
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub out: Outbound,
    pub channels: HashSet<IrcKey>,
}

impl Client {
    pub(super) fn prefix(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }
}

impl Clients {
    /// Queues `line` for `id`; an overflow is noted for removal.
    pub(super) fn send(&mut self, id: ClientId, line: &Bytes) {
        let Some(client) = self.map.get(&id) else {
            return;
        };
        match &mut self.held {
            Some(held) => held.push(&client.out, line, false),
            None => {
                if client.out.push(line.clone()).is_err() {
                    self.overflowed.push(id);
                }
            }
        }
    }

    pub(super) fn send_message(&mut self, id: ClientId, message: Message) {
        self.send(id, &message.to_bytes());
    }
}
