//! One channel's state: its name, topic, members, modes, mask lists and
//! invitations, and the rules that follow from them (who may join, speak, see).

use serde::{Deserialize, Serialize};

use super::{ClientId, IdMap};
use crate::chat::irc::irc_lower;

#[derive(Serialize, Deserialize)]
pub(super) struct Channel {
    /// The name as the creator wrote it.
    pub name: String,
    pub topic: Option<Topic>,
    pub members: IdMap<Member>,
    pub modes: Modes,
    /// `+b`, `+e` and `+I` masks.
    pub bans: Vec<ListEntry>,
    pub excepts: Vec<ListEntry>,
    pub invex: Vec<ListEntry>,
    /// Unix time, seconds.
    pub created: u64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct Topic {
    pub text: String,
    /// Nick of whoever set it.
    pub set_by: String,
    /// Unix time, seconds.
    pub set_at: u64,
}

/// The channel's flags and parameters (`+imnst`, `+k`, `+l`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Modes {
    /// `+i`: joining needs an invitation or a `+I` mask.
    pub invite_only: bool,
    /// `+m`: only voiced members and operators speak.
    pub moderated: bool,
    /// `+n`: only members may send to the channel.
    pub no_outside: bool,
    /// `+s`: hidden from LIST, WHOIS and NAMES of non-members.
    pub secret: bool,
    /// `+t`: only operators set the topic.
    pub topic_locked: bool,
    /// `+k`: the key JOIN must give.
    pub key: Option<String>,
    /// `+l`: the most members.
    pub limit: Option<usize>,
}

impl Modes {
    /// `+nt` and the like, then the parameters of `+k` and `+l` (the key only
    /// for members).
    pub fn describe(&self, show_key: bool) -> (String, Vec<String>) {
        let mut flags = String::from("+");
        let mut params = Vec::new();
        for (set, c) in [
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_outside, 'n'),
            (self.secret, 's'),
            (self.topic_locked, 't'),
        ] {
            if set {
                flags.push(c);
            }
        }
        if let Some(key) = &self.key {
            flags.push('k');
            params.push(if show_key {
                key.clone()
            } else {
                "*".to_string()
            });
        }
        if let Some(limit) = self.limit {
            flags.push('l');
            params.push(limit.to_string());
        }
        (flags, params)
    }
}

/// One `+b`, `+e` or `+I` mask, with who set it and when.
#[derive(Serialize, Deserialize)]
pub(super) struct ListEntry {
    pub mask: String,
    pub set_by: String,
    pub set_at: u64,
}

/// What a member is in a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Member {
    pub op: bool,
    pub voice: bool,
}

impl Member {
    /// The NAMES/WHO prefix for the highest status held.
    pub fn prefix(self) -> &'static str {
        if self.op {
            "@"
        } else if self.voice {
            "+"
        } else {
            ""
        }
    }
}

/// Why a JOIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    BadKey,
    Full,
    InviteOnly,
    Banned,
}

/// Why a message to a channel is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Muted {
    NotMember,
    Moderated,
    Banned,
}

impl Channel {
    /// A new channel, `+nt` like most networks' defaults.
    pub fn new(name: &str, now: u64) -> Channel {
        Channel {
            name: name.to_string(),
            topic: None,
            members: IdMap::default(),
            modes: Modes {
                no_outside: true,
                topic_locked: true,
                ..Modes::default()
            },
            bans: Vec::new(),
            excepts: Vec::new(),
            invex: Vec::new(),
            created: now,
        }
    }

    /// Whether a client with source `prefix` may join with `key`; `invited`
    /// lets it pass `+i`.
    pub fn admits(&self, prefix: &str, key: Option<&str>, invited: bool) -> Result<(), Refusal> {
        if self.modes.key.as_deref().is_some_and(|k| key != Some(k)) {
            return Err(Refusal::BadKey);
        }
        if self.modes.limit.is_some_and(|l| self.members.len() >= l) {
            return Err(Refusal::Full);
        }
        let invited = invited || matches_any(&self.invex, prefix);
        if self.modes.invite_only && !invited {
            return Err(Refusal::InviteOnly);
        }
        if self.banned(prefix) {
            return Err(Refusal::Banned);
        }
        Ok(())
    }

    /// Whether client `id` with source `prefix` may send to the channel.
    pub fn may_speak(&self, id: ClientId, prefix: &str) -> Result<(), Muted> {
        let member = self.members.get(&id);
        if member.is_some_and(|m| m.op || m.voice) {
            return Ok(());
        }
        if member.is_none() && self.modes.no_outside {
            return Err(Muted::NotMember);
        }
        if self.modes.moderated {
            return Err(Muted::Moderated);
        }
        if self.banned(prefix) {
            return Err(Muted::Banned);
        }
        Ok(())
    }

    /// Whether client `id` may see that the channel exists and who is in it.
    pub fn visible_to(&self, id: ClientId) -> bool {
        !self.modes.secret || self.members.contains_key(&id)
    }

    fn banned(&self, prefix: &str) -> bool {
        matches_any(&self.bans, prefix) && !matches_any(&self.excepts, prefix)
    }
}

fn matches_any(list: &[ListEntry], prefix: &str) -> bool {
    let prefix = irc_lower(prefix);
    list.iter().any(|e| glob(&irc_lower(&e.mask), &prefix))
}

/// A mask in full `nick!user@host` form: `bob` is `bob!*@*`, `*@host` is
/// `*!*@host`, as users write them.
pub(super) fn normalize_mask(mask: &str) -> String {
    match (mask.find('!'), mask.find('@')) {
        (Some(_), Some(_)) => mask.to_string(),
        (Some(_), None) => format!("{mask}@*"),
        (None, Some(_)) => format!("*!{mask}"),
        (None, None) => format!("{mask}!*@*"),
    }
}

/// Wildcard match: `*` is any run of characters, `?` any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Greedy with backtracking to the last `*`: linear in practice, and never
    // exponential, whatever mask a user sets.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_irc_masks() {
        assert!(glob("*!*@127.0.0.1", "bob!bob@127.0.0.1"));
        assert!(glob("b?b!*@*", "bob!x@y"));
        assert!(!glob("b?b!*@*", "bobby!x@y"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob(&"*a".repeat(20), &"a".repeat(40)));
    }

    #[test]
    fn masks_are_completed() {
        assert_eq!(normalize_mask("bob"), "bob!*@*");
        assert_eq!(normalize_mask("*@host"), "*!*@host");
        assert_eq!(normalize_mask("bob!u"), "bob!u@*");
        assert_eq!(normalize_mask("a!b@c"), "a!b@c");
    }

    #[test]
    fn bans_are_case_insensitive_and_exceptions_win() {
        let mut channel = Channel::new("#c", 0);
        let entry = |mask: &str| ListEntry {
            mask: mask.to_string(),
            set_by: "op".to_string(),
            set_at: 0,
        };
        channel.bans.push(entry("BOB!*@*"));
        assert_eq!(channel.admits("bob!u@h", None, false), Err(Refusal::Banned));
        channel.excepts.push(entry("*!u@h"));
        assert_eq!(channel.admits("bob!u@h", None, false), Ok(()));
    }

    #[test]
    fn joining_checks_key_limit_and_invitations() {
        let mut channel = Channel::new("#c", 0);
        channel.modes.key = Some("k".to_string());
        assert_eq!(channel.admits("a!u@h", None, false), Err(Refusal::BadKey));
        assert_eq!(channel.admits("a!u@h", Some("k"), false), Ok(()));
        channel.modes.key = None;
        channel.modes.invite_only = true;
        assert_eq!(
            channel.admits("a!u@h", None, false),
            Err(Refusal::InviteOnly)
        );
        assert_eq!(channel.admits("a!u@h", None, true), Ok(()));
        channel.modes.limit = Some(0);
        assert_eq!(channel.admits("a!u@h", None, true), Err(Refusal::Full));
    }
}
