//! The hub: the state every session shares (nicks, channels, members, topics),
//! the events that change it, and the fan-out of their results.
//!
//! The state sits behind one `std::sync::Mutex`: every operation is short, never
//! awaits, and only pushes into outbound queues (which never wait either), so a
//! blocking lock held for microseconds is cheaper than a task and channel hop per
//! command. A session applies its commands one at a time and the hub writes
//! replies into the same queue as fan-out, so a client sees replies in the order
//! of its commands.
//!
//! With a history store, the lines of an operation may be *held* instead of
//! pushed: see [`history`](super::history) for the commit-then-release flow.
//! Every operation that may produce lines therefore returns a [`Release`]: the
//! session keeps it, queues its own later replies behind it, and waits for it
//! when it has too many commands held.
//!
//! A receiver whose queue overflows cannot be removed in the middle of a fan-out
//! that is iterating over it, so it is noted and removed once the operation is
//! done (peers then see `QUIT :SendQ exceeded`, which may overflow others in turn:
//! removal repeats until no one is left over).

mod channel;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::config::ChatConfig;
use super::event::{Event, MessageKind};
use super::history::{Entry, Item, Pipeline, Release, msgid};
use super::irc::numerics::*;
use super::irc::{IrcKey, MAX_LINE, Message};
use super::limits::{MAX_CHANNELS_PER_CLIENT, TOPIC_MAX_LEN, truncate};
use super::outbound::Outbound;

use channel::{Channel, Member, Topic};

/// A registered client, for as long as it stays.
pub(crate) type ClientId = u64;

/// What the hub needs of a session that completes registration.
pub(crate) struct Registration {
    pub nick: String,
    pub user: String,
    pub realname: String,
    pub host: String,
    pub out: Outbound,
    /// 001 onwards, queued before anything else can reach the new nick.
    pub welcome: Vec<Message>,
}

/// The nick was taken between NICK and the end of registration.
#[derive(Debug)]
pub(crate) struct NickInUse;

pub(crate) struct Hub {
    config: Arc<ChatConfig>,
    /// The commit thread, when history is kept.
    pipeline: Option<Pipeline>,
    state: Mutex<State>,
}

/// What [`Hub::apply`] did.
pub(crate) struct Applied {
    /// Whether anything changed (a refused NICK is false).
    pub changed: bool,
    /// Completes once the resulting lines are queued.
    pub release: Release,
}

#[derive(Default)]
struct State {
    clients: Clients,
    nicks: HashMap<IrcKey, ClientId>,
    channels: HashMap<IrcKey, Channel>,
    next_id: ClientId,
    next_seq: u64,
}

/// The registered clients, and those whose queue overflowed during the current
/// operation (kept apart so that a fan-out over a channel can note them).
#[derive(Default)]
struct Clients {
    map: HashMap<ClientId, Client>,
    overflowed: Vec<ClientId>,
    /// While set, lines are held here for the commit thread instead of pushed.
    held: Option<Item>,
}

struct Client {
    nick: String,
    user: String,
    host: String,
    realname: String,
    out: Outbound,
    channels: HashSet<IrcKey>,
}

impl Client {
    fn prefix(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }
}

impl Clients {
    /// Queues `line` for `id`; an overflow is noted for removal.
    fn send(&mut self, id: ClientId, line: &Bytes) {
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

    fn send_message(&mut self, id: ClientId, message: Message) {
        self.send(id, &message.to_bytes());
    }
}

impl Hub {
    /// A hub; with a pipeline, channel messages are committed before delivery.
    pub(crate) fn new(config: Arc<ChatConfig>, pipeline: Option<Pipeline>) -> Hub {
        let state = State {
            next_seq: pipeline.as_ref().map_or(0, Pipeline::last_seq),
            ..State::default()
        };
        Hub {
            config,
            pipeline,
            state: Mutex::new(state),
        }
    }

    /// Commits what is queued and closes the history store, at shutdown.
    pub(crate) async fn close_history(&self) {
        if let Some(pipeline) = &self.pipeline {
            pipeline.close().await;
        }
    }

    /// Queues one line for `out` behind everything held, so that a session's
    /// own reply does not overtake the lines of its earlier commands.
    pub(crate) fn reply_after_held(&self, out: &Outbound, line: Bytes) -> Release {
        let Some(pipeline) = &self.pipeline else {
            let _ = out.push(line);
            return Release::done();
        };
        let mut item = Item::default();
        item.push(out, &line, false);
        // No lock needed: this session's earlier items are in the queue already.
        pipeline.submit(item)
    }

    /// Locks the state for one operation. While earlier lines are still held
    /// for a commit, this operation's lines are held too, behind them.
    fn begin(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        if self.pipeline.as_ref().is_some_and(Pipeline::busy) {
            state.clients.held = Some(Item::default());
        }
        state
    }

    /// Ends an operation by client `id`: removes whoever overflowed, then queues
    /// what was held (still under the lock, so in hub order).
    fn end(&self, state: &mut State, id: ClientId) -> Release {
        state.reap_overflowed();
        let (Some(pipeline), Some(mut item)) = (&self.pipeline, state.clients.held.take()) else {
            return Release::done();
        };
        if item.is_empty() {
            return Release::done();
        }
        if !item.entries.is_empty()
            && let Some(sender) = state.clients.map.get(&id)
        {
            let notice = Message::new("NOTICE")
                .with_source(&self.config.server_name)
                .with_param(&sender.nick)
                .with_param("Your message was not delivered: history is unavailable")
                .to_bytes();
            item.on_failure = Some((sender.out.clone(), notice));
        }
        pipeline.submit(item)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state consistent before it can panic (map
        // updates come after the checks), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a nick is taken (under the server's case mapping).
    pub(crate) fn nick_in_use(&self, nick: &str) -> bool {
        self.lock().nicks.contains_key(&IrcKey::new(nick))
    }

    /// Adds a client that completed registration.
    pub(crate) fn register(&self, registration: Registration) -> Result<ClientId, NickInUse> {
        let mut state = self.lock();
        let key = IrcKey::new(registration.nick.as_str());
        if state.nicks.contains_key(&key) {
            return Err(NickInUse);
        }
        state.next_id += 1;
        let id = state.next_id;
        state.nicks.insert(key, id);
        for line in registration.welcome {
            // An overflow here is noticed by the session (its queue is closing).
            let _ = registration.out.push(line.to_bytes());
        }
        state.clients.map.insert(
            id,
            Client {
                nick: registration.nick,
                user: registration.user,
                host: registration.host,
                realname: registration.realname,
                out: registration.out,
                channels: HashSet::new(),
            },
        );
        Ok(id)
    }

    /// Applies one event from client `id` and fans out its effects. Errors are
    /// answered to the client with their numerics. Returns whether anything
    /// changed (a refused NICK returns false, so the session keeps its old nick).
    pub(crate) fn apply(&self, id: ClientId, event: Event) -> Applied {
        let mut state = self.begin();
        if !state.clients.map.contains_key(&id) {
            // Removed already (its queue overflowed): nothing it asks counts now.
            state.clients.held = None;
            return Applied {
                changed: false,
                release: Release::done(),
            };
        }
        let changed = match event {
            Event::Join { channels } => {
                for name in &channels {
                    state.join(&self.config.server_name, id, name);
                }
                true
            }
            Event::PartAll => {
                let joined: Vec<IrcKey> = state.clients.map[&id].channels.iter().cloned().collect();
                for key in joined {
                    state.part(&self.config.server_name, id, key.as_str(), None);
                }
                true
            }
            Event::Part { channels, reason } => {
                for name in &channels {
                    state.part(&self.config.server_name, id, name, reason.as_deref());
                }
                true
            }
            Event::Nick { nick } => state.change_nick(&self.config.server_name, id, &nick),
            Event::Topic { channel, text } => {
                state.set_topic(&self.config.server_name, id, &channel, &text)
            }
            Event::Message {
                kind,
                targets,
                text,
            } => {
                for target in &targets {
                    self.deliver(&mut state, id, kind, target, &text);
                }
                true
            }
            Event::Quit { reason } => {
                state.quit(id, &reason);
                true
            }
        };
        let release = self.end(&mut state, id);
        Applied { changed, release }
    }

    /// Removes a client without telling anyone: at shutdown, when everyone is
    /// leaving and N quits fanned out to N peers would be wasted work.
    pub(crate) fn forget(&self, id: ClientId) {
        let mut state = self.lock();
        state.remove(id);
    }

    /// One PRIVMSG or NOTICE to one target.
    fn deliver(
        &self,
        state: &mut State,
        id: ClientId,
        kind: MessageKind,
        target: &str,
        text: &str,
    ) {
        let server = self.config.server_name.as_str();
        let sender = &state.clients.map[&id];
        let (nick, prefix) = (sender.nick.clone(), sender.prefix());
        let error = |code: &str, what: &str| {
            numeric(server, &nick, code)
                .with_param(target)
                .with_param(what)
        };
        let key = IrcKey::new(target);
        if target.starts_with(['#', '&']) {
            let Some(channel) = state.channels.get(&key) else {
                if kind == MessageKind::Privmsg {
                    let reply = error(ERR_NOSUCHCHANNEL, "No such channel");
                    state.clients.send_message(id, reply);
                }
                return;
            };
            // Channels behave as +n: only members may speak in them.
            if !channel.members.contains_key(&id) {
                if kind == MessageKind::Privmsg {
                    let reply = error(ERR_CANNOTSENDTOCHAN, "Cannot send to channel");
                    state.clients.send_message(id, reply);
                }
                return;
            }
            let text = fit_text(text, &prefix, kind.command(), &channel.name);
            let line = Message::new(kind.command())
                .with_source(&prefix)
                .with_param(&channel.name)
                .with_param(text)
                .to_bytes();
            if self.pipeline.is_none() {
                for member in channel.members.keys() {
                    if *member != id {
                        state.clients.send(*member, &line);
                    }
                }
                return;
            }
            // Stored first, delivered once committed: the fan-out is held even
            // when nothing else is pending.
            state.next_seq += 1;
            let seq = state.next_seq;
            let time = super::history::now();
            let held = state.clients.held.get_or_insert_with(Item::default);
            held.entries.push(Entry {
                seq,
                msgid: msgid(time, seq),
                time,
                channel: channel.name.clone(),
                source: prefix,
                command: kind.command(),
                text: text.to_string(),
            });
            for member in channel.members.keys() {
                if *member != id
                    && let Some(client) = state.clients.map.get(member)
                {
                    held.push(&client.out, &line, true);
                }
            }
        } else {
            let Some(&to) = state.nicks.get(&key) else {
                if kind == MessageKind::Privmsg {
                    let reply = error(ERR_NOSUCHNICK, "No such nick/channel");
                    state.clients.send_message(id, reply);
                }
                return;
            };
            let to_nick = &state.clients.map[&to].nick;
            let line = Message::new(kind.command())
                .with_source(&prefix)
                .with_param(to_nick)
                .with_param(fit_text(text, &prefix, kind.command(), to_nick))
                .to_bytes();
            state.clients.send(to, &line);
        }
    }

    /// TOPIC with only a channel: 332 and 333, or 331.
    pub(crate) fn topic(&self, id: ClientId, channel: &str) -> Release {
        let mut state = self.begin();
        let server = self.config.server_name.as_str();
        let Some(nick) = state.clients.map.get(&id).map(|c| c.nick.clone()) else {
            state.clients.held = None;
            return Release::done();
        };
        let replies = match state.channels.get(&IrcKey::new(channel)) {
            None => vec![
                numeric(server, &nick, ERR_NOSUCHCHANNEL)
                    .with_param(channel)
                    .with_param("No such channel"),
            ],
            Some(chan) => topic_replies(server, &nick, chan),
        };
        for reply in replies {
            state.clients.send_message(id, reply);
        }
        self.end(&mut state, id)
    }

    /// NAMES for each channel; an empty list gives only `366 *`.
    pub(crate) fn names(&self, id: ClientId, channels: &[&str]) -> Release {
        let mut state = self.begin();
        let server = self.config.server_name.as_str();
        let Some(nick) = state.clients.map.get(&id).map(|c| c.nick.clone()) else {
            state.clients.held = None;
            return Release::done();
        };
        if channels.is_empty() {
            let end = numeric(server, &nick, RPL_ENDOFNAMES)
                .with_param("*")
                .with_param("End of /NAMES list");
            state.clients.send_message(id, end);
        }
        for name in channels {
            let replies = match state.channels.get(&IrcKey::new(*name)) {
                Some(channel) => names_replies(server, &nick, channel, &state.clients),
                None => vec![end_of_names(server, &nick, name)],
            };
            for reply in replies {
                state.clients.send_message(id, reply);
            }
        }
        self.end(&mut state, id)
    }

    /// WHO for a channel (its members) or a nick; anything else lists no one.
    pub(crate) fn who(&self, id: ClientId, mask: &str) -> Release {
        let mut state = self.begin();
        let server = self.config.server_name.as_str();
        let Some(nick) = state.clients.map.get(&id).map(|c| c.nick.clone()) else {
            state.clients.held = None;
            return Release::done();
        };
        let key = IrcKey::new(mask);
        let mut replies = Vec::new();
        let who_reply = |client: &Client, channel: &str, member: Option<Member>| {
            let flags = format!("H{}", member.map_or("", |m| m.prefix()));
            numeric(server, &nick, RPL_WHOREPLY)
                .with_params([
                    channel,
                    &client.user,
                    &client.host,
                    server,
                    &client.nick,
                    &flags,
                ])
                .with_param(format!("0 {}", client.realname))
        };
        if let Some(channel) = state.channels.get(&key) {
            for (member_id, member) in &channel.members {
                if let Some(client) = state.clients.map.get(member_id) {
                    replies.push(who_reply(client, &channel.name, Some(*member)));
                }
            }
        } else if let Some(client) = state.nicks.get(&key).and_then(|c| state.clients.map.get(c)) {
            replies.push(who_reply(client, "*", None));
        }
        replies.push(
            numeric(server, &nick, RPL_ENDOFWHO)
                .with_param(mask)
                .with_param("End of WHO list"),
        );
        for reply in replies {
            state.clients.send_message(id, reply);
        }
        self.end(&mut state, id)
    }

    /// WHOIS for one nick: 311, 319, 312, 318, or 401 and 318.
    pub(crate) fn whois(&self, id: ClientId, target: &str) -> Release {
        let mut state = self.begin();
        let server = self.config.server_name.as_str();
        let Some(nick) = state.clients.map.get(&id).map(|c| c.nick.clone()) else {
            state.clients.held = None;
            return Release::done();
        };
        let mut replies = Vec::new();
        match state
            .nicks
            .get(&IrcKey::new(target))
            .and_then(|c| state.clients.map.get(c).map(|cl| (c, cl)))
        {
            None => replies.push(
                numeric(server, &nick, ERR_NOSUCHNICK)
                    .with_param(target)
                    .with_param("No such nick/channel"),
            ),
            Some((target_id, client)) => {
                replies.push(
                    numeric(server, &nick, RPL_WHOISUSER)
                        .with_params([&client.nick, &client.user, &client.host, "*"])
                        .with_param(&client.realname),
                );
                let mut channels: Vec<String> = client
                    .channels
                    .iter()
                    .filter_map(|key| state.channels.get(key))
                    .map(|chan| {
                        let member = chan.members.get(target_id).copied().unwrap_or_default();
                        format!("{}{}", member.prefix(), chan.name)
                    })
                    .collect();
                channels.sort();
                if !channels.is_empty() {
                    replies.push(
                        numeric(server, &nick, RPL_WHOISCHANNELS)
                            .with_param(&client.nick)
                            .with_param(channels.join(" ")),
                    );
                }
                replies.push(
                    numeric(server, &nick, RPL_WHOISSERVER)
                        .with_params([&client.nick, server])
                        .with_param(&self.config.network),
                );
            }
        }
        replies.push(
            numeric(server, &nick, RPL_ENDOFWHOIS)
                .with_param(target)
                .with_param("End of /WHOIS list"),
        );
        for reply in replies {
            state.clients.send_message(id, reply);
        }
        self.end(&mut state, id)
    }
}

impl State {
    fn nick_of(&self, id: ClientId) -> String {
        self.clients.map[&id].nick.clone()
    }

    fn join(&mut self, server: &str, id: ClientId, name: &str) {
        let key = IrcKey::new(name);
        let client = &self.clients.map[&id];
        if client.channels.contains(&key) {
            return;
        }
        let (nick, prefix) = (client.nick.clone(), client.prefix());
        if client.channels.len() >= MAX_CHANNELS_PER_CLIENT {
            let reply = numeric(server, &nick, ERR_TOOMANYCHANNELS)
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
        let mut replies = Vec::new();
        if channel.topic.is_some() {
            replies.extend(topic_replies(server, &nick, channel));
        }
        replies.extend(names_replies(server, &nick, channel, &self.clients));
        for reply in replies {
            self.clients.send_message(id, reply);
        }
    }

    fn part(&mut self, server: &str, id: ClientId, name: &str, reason: Option<&str>) {
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

    fn change_nick(&mut self, server: &str, id: ClientId, nick: &str) -> bool {
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

    fn set_topic(&mut self, server: &str, id: ClientId, name: &str, text: &str) -> bool {
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
    fn peers(&self, id: ClientId) -> HashSet<ClientId> {
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
    fn quit(&mut self, id: ClientId, reason: &str) {
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

    fn remove(&mut self, id: ClientId) {
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
    fn reap_overflowed(&mut self) {
        while let Some(id) = self.clients.overflowed.pop() {
            self.quit(id, "SendQ exceeded");
        }
    }
}

/// 332 and 333 when a topic is set, 331 otherwise.
fn topic_replies(server: &str, nick: &str, channel: &Channel) -> Vec<Message> {
    match &channel.topic {
        None => vec![
            numeric(server, nick, RPL_NOTOPIC)
                .with_param(&channel.name)
                .with_param("No topic is set"),
        ],
        Some(topic) => vec![
            numeric(server, nick, RPL_TOPIC)
                .with_param(&channel.name)
                .with_param(&topic.text),
            numeric(server, nick, RPL_TOPICWHOTIME)
                .with_params([&channel.name, &topic.set_by])
                .with_param(topic.set_at.to_string()),
        ],
    }
}

/// 353 lines, each within [`MAX_LINE`], then 366.
fn names_replies(server: &str, nick: &str, channel: &Channel, clients: &Clients) -> Vec<Message> {
    // `:server 353 nick = #chan :` and CR LF, with room to spare.
    let budget = MAX_LINE - (server.len() + nick.len() + channel.name.len() + 16);
    let mut replies = Vec::new();
    let mut names = String::new();
    let mut flush = |names: &mut String| {
        replies.push(
            numeric(server, nick, RPL_NAMREPLY)
                .with_params(["=", channel.name.as_str()])
                .with_param(std::mem::take(names)),
        );
    };
    for (id, member) in &channel.members {
        let Some(client) = clients.map.get(id) else {
            continue;
        };
        let entry = format!("{}{}", member.prefix(), client.nick);
        if !names.is_empty() && names.len() + 1 + entry.len() > budget {
            flush(&mut names);
        }
        if !names.is_empty() {
            names.push(' ');
        }
        names.push_str(&entry);
    }
    if !names.is_empty() {
        flush(&mut names);
    }
    replies.push(end_of_names(server, nick, &channel.name));
    replies
}

fn end_of_names(server: &str, nick: &str, channel: &str) -> Message {
    numeric(server, nick, RPL_ENDOFNAMES)
        .with_param(channel)
        .with_param("End of /NAMES list")
}

/// Cuts `text` so that `:PREFIX COMMAND TARGET :TEXT` and CR LF fit in
/// [`MAX_LINE`]: a client may send a full 512-byte line, and relaying it with the
/// sender's prefix in front must not make a line other clients reject.
fn fit_text<'t>(text: &'t str, prefix: &str, command: &str, target: &str) -> &'t str {
    let overhead = 1 + prefix.len() + 1 + command.len() + 1 + target.len() + 2 + 2;
    truncate(text, MAX_LINE.saturating_sub(overhead))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relayed_lines_fit_the_limit() {
        // Spaces make the serializer add the `:` that the budget must count.
        let text = "x ".repeat(300);
        let prefix = "nick!user@127.0.0.1";
        let fitted = fit_text(&text, prefix, "PRIVMSG", "#chan");
        assert!(fitted.len() > 400);
        let line = Message::new("PRIVMSG")
            .with_source(prefix)
            .with_param("#chan")
            .with_param(fitted)
            .to_bytes();
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
    }
}
