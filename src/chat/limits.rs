//! The bounds on what one client can make the server keep or send, each with its
//! policy, and the helper that cuts text to them. The ones clients can rely on
//! are announced in ISUPPORT (see `welcome`); nick and channel lengths live with
//! their grammar in [`irc`](super::irc). Queue sizes and timeouts are settings
//! ([`ChatConfig`](super::ChatConfig)).
//!
//! The lengths are chosen so that every line the server relays or answers fits
//! in 512 bytes even with the longest prefix (`nick!user@ipv6-host`, about 95
//! bytes), channel name (64) and server name (63).

/// The most targets of one PRIVMSG or NOTICE (announced in `TARGMAX` and
/// `MAXTARGETS`); each further target is answered with 407 and skipped.
pub(crate) const MAX_MESSAGE_TARGETS: usize = 4;

/// The most nicks in one KICK (announced in `TARGMAX`); each further one is
/// answered with 407 and skipped.
pub(crate) const MAX_KICK_TARGETS: usize = 4;

/// The most channels in one JOIN, PART or NAMES (announced in `TARGMAX`); each
/// further one is answered with 407 and skipped.
pub(crate) const MAX_CHANNEL_TARGETS: usize = 10;

/// The most commands of one client whose lines may be held for a history
/// commit at once. Past it the session reads nothing more until the oldest is
/// released (backpressure, through TCP, on that client only). With the client
/// limit, this bounds the commit queue: `max_clients` times this many items.
/// It also caps how much of one sender's burst a commit takes: 64 rather than
/// 32 made the commits of a lone fast sender half as many, and the writes to
/// its receivers larger (server CPU per delivery down by a third in `bench
/// chat`, 1,000 clients x 1 sender).
pub(crate) const MAX_HELD_COMMANDS: usize = 64;

/// The most channels one client may be in (announced as `CHANLIMIT`); a JOIN past
/// it is answered with 405 for that channel.
pub(crate) const MAX_CHANNELS_PER_CLIENT: usize = 50;

/// The most mode changes with a parameter in one MODE (announced as `MODES`);
/// further ones are ignored.
pub(crate) const MAX_MODES: usize = 6;

/// The most masks in each of a channel's `+b`, `+e` and `+I` lists; one more is
/// refused with 478.
pub(crate) const MAX_LIST_ENTRIES: usize = 100;

/// The most channels one client may hold pending invitations to; an INVITE past
/// it is refused with 407. Joining a channel uses up its invitation.
pub(crate) const MAX_INVITES: usize = 50;

/// The most bytes of client-only tags (`+name=value`) on one message, as the
/// IRCv3 message-tags specification bounds them; more is answered with 417 and
/// the message dropped.
pub(crate) const MAX_CLIENT_TAGS: usize = 4094;

/// The most messages one CHATHISTORY reply carries (announced as
/// `CHATHISTORY`); a larger limit is lowered to it.
pub(crate) const CHATHISTORY_MAX: usize = 500;

/// The longest user name kept (announced as `USERLEN`); longer ones are cut.
pub(crate) const USER_MAX_LEN: usize = 16;

/// The longest real name kept; longer ones are cut.
pub(crate) const REALNAME_MAX_LEN: usize = 64;

/// The longest topic kept (announced as `TOPICLEN`); longer ones are cut.
pub(crate) const TOPIC_MAX_LEN: usize = 300;

/// The longest PART, QUIT or KICK reason kept (announced as `KICKLEN`); longer
/// ones are cut.
pub(crate) const REASON_MAX_LEN: usize = 300;

/// The longest away message kept (announced as `AWAYLEN`); longer ones are cut.
pub(crate) const AWAY_MAX_LEN: usize = 300;

/// The most nicks one USERHOST answers (RFC 2812); further ones are ignored.
/// Like every reply built from a list of names (NAMES, ISON), the 302 line also
/// stops at what fits in one 512-byte line: nicks past that are left out.
pub(crate) const MAX_USERHOST_NICKS: usize = 5;

/// The most nicks the server remembers for WHOWAS, across all nicks: each quit
/// or nick change adds one and the oldest is forgotten (a ring). At about 150
/// bytes an entry this caps the memory at a few hundred KiB whatever the churn.
pub(crate) const WHOWAS_MAX_ENTRIES: usize = 1_000;

/// The most channels one LIST answers (322 lines); the rest are left out, and the
/// client narrows the list with channel names or an ELIST `>N` filter. With long
/// topics this keeps one LIST (about 500 KiB) inside the default `--sendq`, so
/// asking for it cannot get a client disconnected on a large server.
pub(crate) const LIST_MAX_CHANNELS: usize = 1_000;

/// The longest command name echoed back in 421, or other word of the client's
/// echoed in an error (a server in 402, a nick in 406, a HELP subject in 524);
/// longer ones are cut, so that the reply stays within one line.
pub(crate) const ECHOED_COMMAND_MAX_LEN: usize = 64;

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }
}
