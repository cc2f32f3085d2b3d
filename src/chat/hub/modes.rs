//! MODE for channels and users, and the operator commands: the changes the
//! session parsed, applied under the rules (only channel operators change a
//! channel; users change only their own modes and cannot make themselves IRC
//! operators), and the replies that show modes and mask lists.

use super::ClientId;
use super::channel::{ListEntry, normalize_mask};
use super::query::Asker;
use super::state::State;
use crate::chat::event::ModeChange;
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, Message, irc_eq};
use crate::chat::limits::MAX_LIST_ENTRIES;
use crate::chat::mode::describe;

impl State {
    /// Applies channel mode changes by client `id` and tells the channel what
    /// changed, in one MODE line.
    pub(super) fn channel_mode(
        &mut self,
        server: &str,
        id: ClientId,
        name: &str,
        changes: &[ModeChange],
    ) {
        let key = IrcKey::new(name);
        let Some(channel) = self.channels.get(&key) else {
            self.reply(server, id, ERR_NOSUCHCHANNEL, &[name], "No such channel");
            return;
        };
        let channel_name = channel.name.clone();
        if !channel.members.get(&id).is_some_and(|m| m.op) {
            let text = "You're not channel operator";
            self.reply(server, id, ERR_CHANOPRIVSNEEDED, &[&channel_name], text);
            return;
        }
        let client = &self.clients.map[&id];
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        let now = self.stamp.unix();
        let channel = self.channels.get_mut(&key).expect("looked up above");
        let mut errors = Vec::new();
        let mut applied = Vec::new();
        for change in changes {
            let set = change.set;
            let arg = change.arg.as_deref().unwrap_or("");
            let done = match change.mode {
                'o' | 'v' => {
                    let target = self.nicks.get(&IrcKey::new(arg)).copied();
                    let Some(target) = target else {
                        errors.push(
                            numeric(server, &nick, ERR_NOSUCHNICK)
                                .with_param(arg)
                                .with_param("No such nick/channel"),
                        );
                        continue;
                    };
                    let Some(member) = channel.members.get_mut(&target) else {
                        errors.push(
                            numeric(server, &nick, ERR_USERNOTINCHANNEL)
                                .with_params([arg, channel_name.as_str()])
                                .with_param("They aren't on that channel"),
                        );
                        continue;
                    };
                    let status = if change.mode == 'o' {
                        &mut member.op
                    } else {
                        &mut member.voice
                    };
                    let changed = *status != set;
                    *status = set;
                    // Shown with the nick as its owner spells it.
                    let target_nick = self.clients.map[&target].nick.clone();
                    changed.then_some(Some(target_nick))
                }
                'b' | 'e' | 'I' => {
                    let mask = normalize_mask(arg);
                    let list = match change.mode {
                        'b' => &mut channel.bans,
                        'e' => &mut channel.excepts,
                        _ => &mut channel.invex,
                    };
                    let found = list.iter().position(|e| irc_eq(&e.mask, &mask));
                    match (set, found) {
                        (true, None) if list.len() >= MAX_LIST_ENTRIES => {
                            errors.push(
                                numeric(server, &nick, ERR_BANLISTFULL)
                                    .with_params([channel_name.as_str(), &change.mode.to_string()])
                                    .with_param("Channel list is full"),
                            );
                            None
                        }
                        (true, None) => {
                            list.push(ListEntry {
                                mask: mask.clone(),
                                set_by: nick.clone(),
                                set_at: now,
                            });
                            Some(Some(mask))
                        }
                        (false, Some(at)) => Some(Some(list.remove(at).mask)),
                        _ => None,
                    }
                }
                'k' => {
                    let key = set.then(|| arg.to_string());
                    let changed = channel.modes.key != key;
                    channel.modes.key = key;
                    changed.then(|| Some(arg.to_string()))
                }
                'l' => {
                    let limit = if set { arg.parse().ok() } else { None };
                    let changed = channel.modes.limit != limit;
                    channel.modes.limit = limit;
                    changed.then(|| set.then(|| arg.to_string()))
                }
                flag => {
                    let modes = &mut channel.modes;
                    let field = match flag {
                        'i' => &mut modes.invite_only,
                        'm' => &mut modes.moderated,
                        'n' => &mut modes.no_outside,
                        's' => &mut modes.secret,
                        't' => &mut modes.topic_locked,
                        // The session only passes letters it knows.
                        _ => continue,
                    };
                    let changed = *field != set;
                    *field = set;
                    changed.then_some(None)
                }
            };
            if let Some(arg) = done {
                applied.push(ModeChange {
                    set,
                    mode: change.mode,
                    arg,
                });
            }
        }
        for error in errors {
            self.clients.send_message(id, error);
        }
        if applied.is_empty() {
            return;
        }
        let (modestring, params) = describe(&applied);
        let line = Message::new("MODE")
            .with_source(prefix)
            .with_params([channel_name, modestring])
            .with_params(params)
            .to_bytes();
        self.tell_channel(&key, &line);
    }

    /// Applies a client's changes to its own modes: `+i`, `+w`, and `-o`
    /// (becoming an operator takes OPER).
    pub(super) fn user_mode(&mut self, id: ClientId, changes: &[ModeChange]) {
        let client = self.clients.map.get_mut(&id).expect("a registered client");
        let mut applied = Vec::new();
        for change in changes {
            let field = match change.mode {
                'i' => &mut client.invisible,
                'w' => &mut client.wallops,
                'o' if !change.set => &mut client.oper,
                _ => continue,
            };
            if *field != change.set {
                *field = change.set;
                applied.push(change.clone());
            }
        }
        if !applied.is_empty() {
            self.tell_own_modes(id, &applied);
        }
    }

    /// Makes `id` an IRC operator: 381, then `MODE nick +o`.
    pub(super) fn oper(&mut self, server: &str, id: ClientId) {
        let client = self.clients.map.get_mut(&id).expect("a registered client");
        let was = std::mem::replace(&mut client.oper, true);
        self.reply(
            server,
            id,
            RPL_YOUREOPER,
            &[],
            "You are now an IRC operator",
        );
        if !was {
            let change = ModeChange {
                set: true,
                mode: 'o',
                arg: None,
            };
            self.tell_own_modes(id, &[change]);
        }
    }

    fn tell_own_modes(&mut self, id: ClientId, changes: &[ModeChange]) {
        let client = &self.clients.map[&id];
        let (modestring, _) = describe(changes);
        let line = Message::new("MODE")
            .with_source(&client.nick)
            .with_params([client.nick.as_str(), &modestring]);
        self.clients.send_message(id, line);
    }

    /// Whether `id` is an IRC operator; if not, answers 481.
    pub(super) fn require_oper(&mut self, server: &str, id: ClientId) -> bool {
        let oper = self.clients.map.get(&id).is_some_and(|c| c.oper);
        if !oper {
            let text = "Permission Denied- You're not an IRC operator";
            self.reply(server, id, ERR_NOPRIVILEGES, &[], text);
        }
        oper
    }

    /// An operator disconnects `nick`: its peers see it quit, and it gets an
    /// ERROR line naming who killed it and why.
    pub(super) fn kill(&mut self, server: &str, id: ClientId, nick: &str, reason: &str) {
        if !self.require_oper(server, id) {
            return;
        }
        let Some(&target) = self.nicks.get(&IrcKey::new(nick)) else {
            self.reply(server, id, ERR_NOSUCHNICK, &[nick], "No such nick/channel");
            return;
        };
        let killer = self.nick_of(id);
        let why = format!("Killed ({killer} ({reason}))");
        let client = &self.clients.map[&target];
        let error = Message::new("ERROR")
            .with_param(format!("Closing Link: {} ({why})", client.host))
            .to_bytes();
        // Closing ends its session, which finds itself removed already.
        if let Some(out) = &client.out {
            out.close(error);
        }
        self.quit(target, &why);
    }

    /// An operator's message to everyone with `+w`.
    pub(super) fn wallops(&mut self, server: &str, id: ClientId, text: &str) {
        if !self.require_oper(server, id) {
            return;
        }
        let line = Message::new("WALLOPS")
            .with_source(self.clients.map[&id].prefix())
            .with_param(text)
            .to_bytes();
        let readers: Vec<ClientId> = self
            .clients
            .map
            .iter()
            .filter(|(_, c)| c.wallops)
            .map(|(&reader, _)| reader)
            .collect();
        for reader in readers {
            self.clients.send(reader, &line);
        }
    }
}

/// 324 and 329 for a channel (the key only for members).
pub(super) fn channel_modes(state: &State, asker: &Asker, name: &str) -> Vec<Message> {
    let Some(channel) = state.channels.get(&IrcKey::new(name)) else {
        return vec![no_such_channel(asker, name)];
    };
    let member = channel.members.contains_key(&asker.id);
    let (modestring, params) = channel.modes.describe(member);
    vec![
        asker
            .numeric(RPL_CHANNELMODEIS)
            .with_params([channel.name.clone(), modestring])
            .with_params(params),
        asker
            .numeric(RPL_CREATIONTIME)
            .with_params([channel.name.clone(), channel.created.to_string()]),
    ]
}

/// A channel's `+b`, `+e` or `+I` list; the last two only for its operators.
pub(super) fn mode_list(state: &State, asker: &Asker, name: &str, mode: char) -> Vec<Message> {
    let Some(channel) = state.channels.get(&IrcKey::new(name)) else {
        return vec![no_such_channel(asker, name)];
    };
    let (list, item, end, what) = match mode {
        'b' => (
            &channel.bans,
            RPL_BANLIST,
            RPL_ENDOFBANLIST,
            "End of channel ban list",
        ),
        'e' => (
            &channel.excepts,
            RPL_EXCEPTLIST,
            RPL_ENDOFEXCEPTLIST,
            "End of channel exception list",
        ),
        _ => (
            &channel.invex,
            RPL_INVITELIST,
            RPL_ENDOFINVITELIST,
            "End of channel invite list",
        ),
    };
    let op = channel.members.get(&asker.id).is_some_and(|m| m.op);
    if mode != 'b' && !op {
        return vec![
            asker
                .numeric(ERR_CHANOPRIVSNEEDED)
                .with_param(&channel.name)
                .with_param("You're not channel operator"),
        ];
    }
    let mut replies: Vec<Message> = list
        .iter()
        .map(|entry| {
            asker.numeric(item).with_params([
                channel.name.clone(),
                entry.mask.clone(),
                entry.set_by.clone(),
                entry.set_at.to_string(),
            ])
        })
        .collect();
    replies.push(
        asker
            .numeric(end)
            .with_param(&channel.name)
            .with_param(what),
    );
    replies
}

/// 221 with the asker's own modes.
pub(super) fn user_modes(state: &State, asker: &Asker) -> Vec<Message> {
    let modes = state.clients.map[&asker.id].modes();
    vec![asker.numeric(RPL_UMODEIS).with_param(modes)]
}

fn no_such_channel(asker: &Asker, name: &str) -> Message {
    asker
        .numeric(ERR_NOSUCHCHANNEL)
        .with_param(name)
        .with_param("No such channel")
}
