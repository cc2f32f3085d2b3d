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
        self.push(Entry {
            key: IrcKey::new(client.nick.as_str()),
            nick: client.nick.clone(),
            user: client.user.clone(),
            host: client.host.clone(),
            realname: client.realname.clone(),
            left_at,
        });
    }

    fn push(&mut self, entry: Entry) {
        if self.entries.len() >= WHOWAS_MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(nick: &str, left_at: u64) -> Entry {
        Entry {
            key: IrcKey::new(nick),
            nick: nick.to_string(),
            user: "u".to_string(),
            host: "h".to_string(),
            realname: "r".to_string(),
            left_at,
        }
    }

    #[test]
    fn the_oldest_entries_are_forgotten_at_the_bound() {
        let mut whowas = WhoWas::default();
        for at in 0..WHOWAS_MAX_ENTRIES as u64 + 10 {
            whowas.push(entry(if at % 2 == 0 { "Even" } else { "odd" }, at));
        }
        assert_eq!(whowas.entries.len(), WHOWAS_MAX_ENTRIES);
        let odd: Vec<u64> = whowas.find("ODD").map(|e| e.left_at).collect();
        assert_eq!(odd.len(), WHOWAS_MAX_ENTRIES / 2);
        assert_eq!(odd.first(), Some(&(WHOWAS_MAX_ENTRIES as u64 + 9)));
        assert_eq!(odd.last(), Some(&11));
        assert!(
            whowas
                .find("even")
                .all(|e| e.nick == "Even" && e.left_at >= 10)
        );
    }
}
