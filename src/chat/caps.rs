//! IRCv3 capabilities: which ones the server offers, and the set one client
//! enabled with `CAP REQ`. A client that enables none sees plain RFC lines.

/// A set of capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Caps(u8);

impl Caps {
    /// Tags on messages: `msgid`, and the client-only `+` tags others send.
    pub const MESSAGE_TAGS: Caps = Caps(1);
    /// The `time` tag on messages.
    pub const SERVER_TIME: Caps = Caps(1 << 1);
    /// `BATCH` around CHATHISTORY replies.
    pub const BATCH: Caps = Caps(1 << 2);
    /// One's own PRIVMSG, NOTICE and TAGMSG come back once delivered.
    pub const ECHO_MESSAGE: Caps = Caps(1 << 3);
    /// The CHATHISTORY command (offered only when history is kept).
    pub const CHATHISTORY: Caps = Caps(1 << 4);
    /// `AWAY` from the people one shares a channel with, when they go or come back.
    pub const AWAY_NOTIFY: Caps = Caps(1 << 5);

    const NAMES: [(Caps, &'static str); 6] = [
        (Caps::MESSAGE_TAGS, "message-tags"),
        (Caps::SERVER_TIME, "server-time"),
        (Caps::BATCH, "batch"),
        (Caps::ECHO_MESSAGE, "echo-message"),
        (Caps::CHATHISTORY, "draft/chathistory"),
        (Caps::AWAY_NOTIFY, "away-notify"),
    ];

    pub fn has(self, cap: Caps) -> bool {
        self.0 & cap.0 == cap.0
    }

    /// What the server offers: everything, and CHATHISTORY only with history.
    pub fn offered(history: bool) -> Caps {
        let all = Caps::NAMES.iter().fold(0, |bits, (cap, _)| bits | cap.0);
        if history {
            Caps(all)
        } else {
            Caps(all & !Caps::CHATHISTORY.0)
        }
    }

    /// The names, space-separated, as `CAP LS` and `CAP LIST` show them.
    pub fn names(self) -> String {
        Caps::NAMES
            .iter()
            .filter(|(cap, _)| self.has(*cap))
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Applies a `CAP REQ` list (`a -b c`) to `self`: all of it, or, if any
    /// name is not in `offered`, none of it (`None`, answered with NAK).
    pub fn request(self, list: &str, offered: Caps) -> Option<Caps> {
        let mut caps = self;
        for word in list.split(' ').filter(|w| !w.is_empty()) {
            let (remove, name) = match word.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, word),
            };
            let (cap, _) = Caps::NAMES.iter().find(|(_, n)| *n == name)?;
            if !offered.has(*cap) {
                return None;
            }
            caps = if remove {
                Caps(caps.0 & !cap.0)
            } else {
                Caps(caps.0 | cap.0)
            };
        }
        Some(caps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_all_or_nothing() {
        let offered = Caps::offered(true);
        let caps = Caps::default()
            .request("server-time message-tags", offered)
            .expect("known");
        assert!(caps.has(Caps::SERVER_TIME) && caps.has(Caps::MESSAGE_TAGS));
        assert_eq!(caps.names(), "message-tags server-time");
        let caps = caps.request("-server-time batch", offered).expect("known");
        assert_eq!(caps.names(), "message-tags batch");
        assert_eq!(caps.request("batch sasl", offered), None);
        assert_eq!(
            Caps::default().request("draft/chathistory", Caps::offered(false)),
            None
        );
        assert!(!Caps::offered(false).names().contains("chathistory"));
    }
}
