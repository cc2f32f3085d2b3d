//! The nicks that were: who used a nick before quitting or changing it, for
//! WHOWAS. One bounded ring for the whole server ([`WHOWAS_MAX_ENTRIES`]), so
//! that a churn of clients or nick changes costs a fixed amount of memory: the
//! oldest entry is forgotten when a new one comes.

use std::collections::VecDeque;

use super::clients::Client;
use crate::chat::irc::IrcKey;
use crate::chat::limits::WHOWAS_MAX_ENTRIES;

/// What WHOWAS shows of a nick that is gone.
pub(super) struct Entry {
    pub key: IrcKey,
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    /// When the nick was given up, Unix time in seconds.
    pub left_at: u64,
}

#[derive(Default)]
pub(super) struct WhoWas {
    /// Oldest first.
    entries: VecDeque<Entry>,
}

impl WhoWas {
    /// Remembers that `client` gave up its current nick at `left_at`.
    pub fn record(&mut self, client: &Client, left_at: u64) {
        if self.entries.len() >= WHOWAS_MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            key: IrcKey::new(client.nick.as_str()),
            nick: client.nick.clone(),
            user: client.user.clone(),
            host: client.host.clone(),
            realname: client.realname.clone(),
            left_at,
        });
    }

    /// The entries for `nick` (case-insensitively), most recent first. A linear
    /// scan: the ring is small and WHOWAS rare, so no index is kept up to date
    /// on every quit.
    pub fn find<'w>(&'w self, nick: &str) -> impl Iterator<Item = &'w Entry> {
        let key = IrcKey::new(nick);
        self.entries
            .iter()
            .rev()
            .filter(move |entry| entry.key == key)
    }
}
