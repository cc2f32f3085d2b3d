//! The shared state and the changes events make to it: joining and leaving
//! channels, kicks and invitations, nick changes, topics, quitting. Each change
//! queues its lines for everyone it concerns; errors go to the client that
//! asked.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::ClientId;
use super::channel::{Channel, Member, Refusal, Topic};
use super::clients::Clients;
use super::cluster::LogState;
use super::query::{Asker, names_replies, topic_replies};
use super::whowas::WhoWas;
use crate::chat::config::ChatConfig;
use crate::chat::history::{cluster_msgid, msgid};
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, Message};
use crate::chat::limits::{MAX_CHANNELS_PER_CLIENT, MAX_INVITES, TOPIC_MAX_LEN, truncate};

#[derive(Default)]
pub(super) struct State {
    pub clients: Clients,
    pub nicks: HashMap<IrcKey, ClientId>,
    pub channels: HashMap<IrcKey, Channel>,
    pub next_id: ClientId,
    pub next_seq: u64,
    /// Names CHATHISTORY batches.
    pub next_batch: u64,
    /// Nicks given up, for WHOWAS.
    pub whowas: WhoWas,
    /// The most clients registered at once, for LUSERS.
    pub peak_clients: usize,
    /// The time and numbering of the operation being applied.
    pub stamp: Stamp,
    /// In a cluster, how far this node has applied the log.
    pub log: LogState,
}

/// When an operation happens and how its messages are numbered. On one node
/// that is the clock and a counter; in a cluster it comes from the log entry
/// the operation was read from, so that every node stamps the same message
/// with the same time and msgid.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stamp {
    /// To the millisecond.
    pub time: SystemTime,
    /// In a cluster, the number of the log entry within its millisecond.
    pub log: Option<u64>,
    /// Messages numbered so far in this operation (a message may have several
    /// targets, each stored apart).
    pub messages: u64,
}

impl Default for Stamp {
    fn default() -> Stamp {
        Stamp::local()
    }
}

impl Stamp {
    /// Now, on this node alone.
    pub fn local() -> Stamp {
        Stamp {
            time: crate::chat::history::now(),
            log: None,
            messages: 0,
        }
    }

    /// The sequence number, time and msgid of the next message: from the
    /// state's counter on one node, from the log entry in a cluster (its
    /// number in the high bits, the message's place in the operation in the
    /// low 8, which history stores turn back into the entry's id).
    pub fn next_message(&mut self, counter: &mut u64) -> (u64, SystemTime, String) {
        let time = self.time;
        match self.log {
            None => {
                *counter += 1;
                (*counter, time, msgid(time, *counter))
            }
            Some(entry) => {
                let seq = (entry << 8) | (self.messages & 0xff);
                self.messages += 1;
                (seq, time, cluster_msgid(time, seq))
            }
        }
    }

    /// Unix time, seconds.
    pub fn unix(&self) -> u64 {
        self.time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl State {
    pub(super) fn nick_of(&self, id: ClientId) -> String {
        self.clients.map[&id].nick.clone()
    }

    /// Sends client `id` the numeric `code` with `params`, then `text`.
    pub(super) fn reply(
        &mut self,
        server: &str,
        id: ClientId,
        code: &str,
        params: &[&str],
        text: &str,
    ) {
        let Some(client) = self.clients.map.get(&id) else {
            return;
        };
        let reply = numeric(server, &client.nick, code)
            .with_params(params.iter().copied())
            .with_param(text);
        self.clients.send_message(id, reply);
    }

    /// The key of channel `name` when `id` is one of its members; otherwise
    /// answers 403 or 442 and gives `None`.
    pub(super) fn joined_channel(
        &mut self,
        server: &str,
        id: ClientId,
        name: &str,
    ) -> Option<IrcKey> {
        let key = IrcKey::new(name);
        match self.channels.get(&key) {
            None => {
                self.reply(server, id, ERR_NOSUCHCHANNEL, &[name], "No such channel");
                None
            }
            Some(channel) if !channel.members.contains_key(&id) => {
                let name = channel.name.clone();
                let text = "You're not on that channel";
                self.reply(server, id, ERR_NOTONCHANNEL, &[&name], text);
                None
            }
            Some(_) => Some(key),
        }
    }

    /// Queues `line` for every member of the channel.
    pub(super) fn tell_channel(&mut self, key: &IrcKey, line: &Bytes) {
        if let Some(channel) = self.channels.get(key) {
            for member in channel.members.keys() {
                self.clients.send(*member, line);
            }
        }
    }

    pub(super) fn join(
        &mut self,
        config: &ChatConfig,
        id: ClientId,
        name: &str,
        key: Option<&str>,
    ) {
        let server = config.server_name.as_str();
        let channel_key = IrcKey::new(name);
        let client = &self.clients.map[&id];
        if client.channels.contains(&channel_key) {
            return;
        }
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        let invited = client.invites.contains(&channel_key);
        if client.channels.len() >= MAX_CHANNELS_PER_CLIENT {
            let text = "You have joined too many channels";
            self.reply(server, id, ERR_TOOMANYCHANNELS, &[name], text);
            return;
        }
        if let Some(channel) = self.channels.get(&channel_key)
            && let Err(refusal) = channel.admits(&prefix, key, invited)
        {
            let (code, text) = match refusal {
                Refusal::BadKey => (ERR_BADCHANNELKEY, "Cannot join channel (+k)"),
                Refusal::Full => (ERR_CHANNELISFULL, "Cannot join channel (+l)"),
                Refusal::InviteOnly => (ERR_INVITEONLYCHAN, "Cannot join channel (+i)"),
                Refusal::Banned => (ERR_BANNEDFROMCHAN, "Cannot join channel (+b)"),
            };
            let name = channel.name.clone();
            self.reply(server, id, code, &[&name], text);
            return;
        }
        let line = self.enter(id, &channel_key);
        self.tell_channel(&channel_key, &line);
        self.tell_away_on_join(id, &channel_key);
        let channel = &self.channels[&channel_key];
        let asker = Asker {
            id,
            nick: &nick,
            config,
        };
        let mut replies = Vec::new();
        if channel.topic.is_some() {
            replies.extend(topic_replies(&asker, channel));
        }
        replies.extend(names_replies(&asker, channel, &self.clients));
        for reply in replies {
            self.clients.send_message(id, reply);
        }
    }

    /// Makes `id` a member of channel `key`, creating it (as the key spells
    /// it) with `id` as its operator if it has no members; gives the JOIN line.
    pub(super) fn enter(&mut self, id: ClientId, key: &IrcKey) -> Bytes {
        let now = self.stamp.unix();
        let channel = self
            .channels
            .entry(key.clone())
            .or_insert_with(|| Channel::new(key.as_str(), now));
        // The creator of a channel is its operator.
        let op = channel.members.is_empty();
        channel.members.insert(
            id,
            Member {
                op,
                ..Member::default()
            },
        );
        let name = channel.name.clone();
        let client = self.clients.map.get_mut(&id).expect("a registered client");
        client.invites.remove(key);
        client.channels.insert(key.clone());
        Message::new("JOIN")
            .with_source(client.prefix())
            .with_param(name)
            .to_bytes()
    }

    pub(super) fn part(&mut self, server: &str, id: ClientId, name: &str, reason: Option<&str>) {
        let Some(key) = self.joined_channel(server, id, name) else {
            return;
        };
        let mut line = Message::new("PART")
            .with_source(self.clients.map[&id].prefix())
            .with_param(&self.channels[&key].name);
        if let Some(reason) = reason {
            line = line.with_param(reason);
        }
        self.tell_channel(&key, &line.to_bytes());
        self.leave(id, &key);
    }

    /// Removes `nicks` from a channel, as one of its operators.
    pub(super) fn kick(
        &mut self,
        server: &str,
        id: ClientId,
        name: &str,
        nicks: &[String],
        reason: &str,
    ) {
        let Some(key) = self.joined_channel(server, id, name) else {
            return;
        };
        let channel_name = self.channels[&key].name.clone();
        if !self.channels[&key].members[&id].op {
            let text = "You're not channel operator";
            self.reply(server, id, ERR_CHANOPRIVSNEEDED, &[&channel_name], text);
            return;
        }
        let prefix = self.clients.map[&id].prefix();
        for nick in nicks {
            let Some(&target) = self.nicks.get(&IrcKey::new(nick.as_str())) else {
                self.reply(server, id, ERR_NOSUCHNICK, &[nick], "No such nick/channel");
                continue;
            };
            if !self.channels[&key].members.contains_key(&target) {
                let text = "They aren't on that channel";
                self.reply(
                    server,
                    id,
                    ERR_USERNOTINCHANNEL,
                    &[nick, &channel_name],
                    text,
                );
                continue;
            }
            let line = Message::new("KICK")
                .with_source(&prefix)
                .with_params([channel_name.as_str(), &self.clients.map[&target].nick])
                .with_param(reason)
                .to_bytes();
            self.tell_channel(&key, &line);
            self.leave(target, &key);
            if !self.channels.contains_key(&key) {
                break;
            }
        }
    }

    /// Invites `nick` to a channel: 341 to the inviter, INVITE to the nick.
    pub(super) fn invite(&mut self, server: &str, id: ClientId, nick: &str, name: &str) {
        let Some(&target) = self.nicks.get(&IrcKey::new(nick)) else {
            self.reply(server, id, ERR_NOSUCHNICK, &[nick], "No such nick/channel");
            return;
        };
        let Some(key) = self.joined_channel(server, id, name) else {
            return;
        };
        let channel = &self.channels[&key];
        let channel_name = channel.name.clone();
        let target_nick = self.clients.map[&target].nick.clone();
        if channel.members.contains_key(&target) {
            let text = "is already on channel";
            self.reply(
                server,
                id,
                ERR_USERONCHANNEL,
                &[&target_nick, &channel_name],
                text,
            );
            return;
        }
        if channel.modes.invite_only && !channel.members[&id].op {
            let text = "You're not channel operator";
            self.reply(server, id, ERR_CHANOPRIVSNEEDED, &[&channel_name], text);
            return;
        }
        let invites = &mut self
            .clients
            .map
            .get_mut(&target)
            .expect("a nick's client")
            .invites;
        if invites.len() >= MAX_INVITES && !invites.contains(&key) {
            // The oldest cannot be told apart; a full set simply takes no more.
            let text = "They have too many pending invitations";
            self.reply(server, id, ERR_TOOMANYTARGETS, &[&target_nick], text);
            return;
        }
        invites.insert(key);
        let inviting = numeric(server, &self.nick_of(id), RPL_INVITING)
            .with_params([target_nick.as_str(), &channel_name]);
        self.clients.send_message(id, inviting);
        let line = Message::new("INVITE")
            .with_source(self.clients.map[&id].prefix())
            .with_params([target_nick, channel_name]);
        self.clients.send_message(target, line);
    }

    /// Takes `id` out of a channel (after its PART or KICK went out); an empty
    /// channel vanishes.
    pub(super) fn leave(&mut self, id: ClientId, key: &IrcKey) {
        if let Some(channel) = self.channels.get_mut(key) {
            channel.members.remove(&id);
            if channel.members.is_empty() {
                self.channels.remove(key);
            }
        }
        if let Some(client) = self.clients.map.get_mut(&id) {
            client.channels.remove(key);
        }
    }

    pub(super) fn change_nick(&mut self, server: &str, id: ClientId, nick: &str) {
        let key = IrcKey::new(nick);
        if self.nicks.get(&key).is_some_and(|&owner| owner != id) {
            let text = "Nickname is already in use";
            self.reply(server, id, ERR_NICKNAMEINUSE, &[nick], text);
            return;
        }
        let old_nick = self.nick_of(id);
        let line = Message::new("NICK")
            .with_source(self.clients.map[&id].prefix())
            .with_param(nick)
            .to_bytes();
        let mut told = self.peers(id);
        told.insert(id);
        for peer in told {
            self.clients.send(peer, &line);
        }
        self.whowas
            .record(&self.clients.map[&id], self.stamp.unix());
        self.nicks.remove(&IrcKey::new(old_nick));
        self.nicks.insert(key, id);
        if let Some(client) = self.clients.map.get_mut(&id) {
            client.nick = nick.to_string();
        }
    }

    pub(super) fn set_topic(&mut self, server: &str, id: ClientId, name: &str, text: &str) {
        let Some(key) = self.joined_channel(server, id, name) else {
            return;
        };
        let client = &self.clients.map[&id];
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        let channel = self
            .channels
            .get_mut(&key)
            .expect("joined_channel found it");
        if channel.modes.topic_locked && !channel.members[&id].op {
            let name = channel.name.clone();
            let text = "You're not channel operator";
            self.reply(server, id, ERR_CHANOPRIVSNEEDED, &[&name], text);
            return;
        }
        let text = truncate(text, TOPIC_MAX_LEN);
        let now = self.stamp.unix();
        channel.topic = (!text.is_empty()).then(|| Topic {
            text: text.to_string(),
            set_by: nick,
            set_at: now,
        });
        let line = Message::new("TOPIC")
            .with_source(prefix)
            .with_param(&channel.name)
            .with_param(text)
            .to_bytes();
        self.tell_channel(&key, &line);
    }

    /// Everyone who shares a channel with `id`, once each, without `id`.
    pub(super) fn peers(&self, id: ClientId) -> HashSet<ClientId> {
        let mut peers = HashSet::new();
        for key in &self.clients.map[&id].channels {
            if let Some(channel) = self.channels.get(key) {
                peers.extend(channel.members.keys().copied());
            }
        }
        peers.remove(&id);
        peers
    }

    /// Tells the peers of `id` that it quit, and removes it.
    pub(super) fn quit(&mut self, id: ClientId, reason: &str) {
        let Some(client) = self.clients.map.get(&id) else {
            return;
        };
        let line = Message::new("QUIT")
            .with_source(client.prefix())
            .with_param(reason)
            .to_bytes();
        for peer in self.peers(id) {
            self.clients.send(peer, &line);
        }
        self.remove(id);
    }

    pub(super) fn remove(&mut self, id: ClientId) {
        let Some(client) = self.clients.map.remove(&id) else {
            return;
        };
        self.whowas.record(&client, self.stamp.unix());
        self.nicks.remove(&IrcKey::new(client.nick));
        for key in client.channels {
            self.leave(id, &key);
        }
    }

    /// Removes the clients whose queue overflowed, telling their peers.
    pub(super) fn reap_overflowed(&mut self) {
        while let Some(id) = self.clients.overflowed.pop() {
            self.quit(id, "SendQ exceeded");
        }
    }
}
