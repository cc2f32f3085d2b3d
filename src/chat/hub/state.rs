//! The shared state and the changes events make to it: joining and leaving
//! channels, nick changes, topics, quitting. Each change queues its lines for
//! everyone it concerns; errors go to the client that asked.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ClientId;
use super::channel::{Channel, Member, Topic};
use super::clients::Clients;
use super::query::{Asker, names_replies, topic_replies};
use crate::chat::config::ChatConfig;
use crate::chat::irc::numerics::*;
use crate::chat::irc::{IrcKey, Message};
use crate::chat::limits::{MAX_CHANNELS_PER_CLIENT, TOPIC_MAX_LEN, truncate};

#[derive(Default)]
pub(super) struct State {
    pub clients: Clients,
    pub nicks: HashMap<IrcKey, ClientId>,
    pub channels: HashMap<IrcKey, Channel>,
    pub next_id: ClientId,
    pub next_seq: u64,
}

impl State {
    pub(super) fn nick_of(&self, id: ClientId) -> String {
        self.clients.map[&id].nick.clone()
    }

    pub(super) fn join(&mut self, config: &ChatConfig, id: ClientId, name: &str) {
        let key = IrcKey::new(name);
        let client = &self.clients.map[&id];
        if client.channels.contains(&key) {
            return;
        }
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        if client.channels.len() >= MAX_CHANNELS_PER_CLIENT {
            let reply = numeric(&config.server_name, &nick, ERR_TOOMANYCHANNELS)
                .with_param(name)
                .with_param("You have joined too many channels");
            self.clients.send_message(id, reply);
            return;
        }
        let channel = self
            .channels
            .entry(key.clone())
            .or_insert_with(|| Channel::new(name));
        // The creator of a channel is its operator.
        let op = channel.members.is_empty();
        channel.members.insert(id, Member { op });
        if let Some(client) = self.clients.map.get_mut(&id) {
            client.channels.insert(key);
        }
        let line = Message::new("JOIN")
            .with_source(prefix)
            .with_param(&channel.name)
            .to_bytes();
        for member in channel.members.keys() {
            self.clients.send(*member, &line);
        }
        let asker = Asker {
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

    pub(super) fn part(&mut self, server: &str, id: ClientId, name: &str, reason: Option<&str>) {
        let key = IrcKey::new(name);
        let client = &self.clients.map[&id];
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        let Some(channel) = self.channels.get_mut(&key) else {
            let reply = numeric(server, &nick, ERR_NOSUCHCHANNEL)
                .with_param(name)
                .with_param("No such channel");
            self.clients.send_message(id, reply);
            return;
        };
        if !channel.members.contains_key(&id) {
            let reply = numeric(server, &nick, ERR_NOTONCHANNEL)
                .with_param(&channel.name)
                .with_param("You're not on that channel");
            self.clients.send_message(id, reply);
            return;
        }
        let mut line = Message::new("PART")
            .with_source(prefix)
            .with_param(&channel.name);
        if let Some(reason) = reason {
            line = line.with_param(reason);
        }
        let line = line.to_bytes();
        for member in channel.members.keys() {
            self.clients.send(*member, &line);
        }
        channel.members.remove(&id);
        if channel.members.is_empty() {
            self.channels.remove(&key);
        }
        if let Some(client) = self.clients.map.get_mut(&id) {
            client.channels.remove(&key);
        }
    }

    pub(super) fn change_nick(&mut self, server: &str, id: ClientId, nick: &str) -> bool {
        let key = IrcKey::new(nick);
        let old_nick = self.nick_of(id);
        if self.nicks.get(&key).is_some_and(|&owner| owner != id) {
            let reply = numeric(server, &old_nick, ERR_NICKNAMEINUSE)
                .with_param(nick)
                .with_param("Nickname is already in use");
            self.clients.send_message(id, reply);
            return false;
        }
        let line = Message::new("NICK")
            .with_source(self.clients.map[&id].prefix())
            .with_param(nick)
            .to_bytes();
        let mut told = self.peers(id);
        told.insert(id);
        for peer in told {
            self.clients.send(peer, &line);
        }
        self.nicks.remove(&IrcKey::new(old_nick));
        self.nicks.insert(key, id);
        if let Some(client) = self.clients.map.get_mut(&id) {
            client.nick = nick.to_string();
        }
        true
    }

    pub(super) fn set_topic(&mut self, server: &str, id: ClientId, name: &str, text: &str) -> bool {
        let client = &self.clients.map[&id];
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        let Some(channel) = self.channels.get_mut(&IrcKey::new(name)) else {
            let reply = numeric(server, &nick, ERR_NOSUCHCHANNEL)
                .with_param(name)
                .with_param("No such channel");
            self.clients.send_message(id, reply);
            return false;
        };
        if !channel.members.contains_key(&id) {
            let reply = numeric(server, &nick, ERR_NOTONCHANNEL)
                .with_param(&channel.name)
                .with_param("You're not on that channel");
            self.clients.send_message(id, reply);
            return false;
        }
        let text = truncate(text, TOPIC_MAX_LEN);
        channel.topic = (!text.is_empty()).then(|| Topic {
            text: text.to_string(),
            set_by: nick,
            set_at: unix_now(),
        });
        let line = Message::new("TOPIC")
            .with_source(prefix)
            .with_param(&channel.name)
            .with_param(text)
            .to_bytes();
        for member in channel.members.keys() {
            self.clients.send(*member, &line);
        }
        true
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
        self.nicks.remove(&IrcKey::new(client.nick));
        for key in client.channels {
            if let Some(channel) = self.channels.get_mut(&key) {
                channel.members.remove(&id);
                if channel.members.is_empty() {
                    self.channels.remove(&key);
                }
            }
        }
    }

    /// Removes the clients whose queue overflowed, telling their peers.
    pub(super) fn reap_overflowed(&mut self) {
        while let Some(id) = self.clients.overflowed.pop() {
            self.quit(id, "SendQ exceeded");
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
