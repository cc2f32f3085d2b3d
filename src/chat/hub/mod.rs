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
mod chathistory;
mod clients;
mod deliver;
mod info;
mod modes;
mod query;
mod state;
mod whowas;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::caps::Caps;
use super::config::ChatConfig;
use super::event::Event;
use super::history::{Item, Pipeline, Release};
use super::irc::{IrcKey, Message};
use super::metrics::Metrics;
use super::outbound::Outbound;

use clients::Client;
pub(crate) use info::Unregistered;
use query::Asker;
pub(crate) use query::Query;
use state::{Stamp, State};

/// A registered client, for as long as it stays.
pub(crate) type ClientId = u64;

/// A map keyed by client id. Ids are sequential numbers that no client
/// chooses, so they need no collision-resistant hash: a multiplication spreads
/// them, where SipHash cost a measurable share of every fan-out (a lookup per
/// receiver).
pub(super) type IdMap<V> = HashMap<ClientId, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// What the hub needs of a session that completes registration.
pub(crate) struct Registration {
    pub nick: String,
    pub user: String,
    pub realname: String,
    pub host: String,
    pub out: Outbound,
    pub caps: Caps,
    /// 001 onwards, queued before anything else can reach the new nick.
    pub welcome: Vec<Message>,
    /// The MOTD lines, queued after the welcome and LUSERS.
    pub motd: Vec<Message>,
}

/// The nick was taken between NICK and the end of registration.
#[derive(Debug)]
pub(crate) struct NickInUse;

pub(crate) struct Hub {
    config: Arc<ChatConfig>,
    /// The commit thread, when history is kept.
    pipeline: Option<Pipeline>,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    /// Connections that have not registered yet (LUSERS), counted by the
    /// [`Unregistered`] guards their sessions hold.
    unregistered: Arc<AtomicUsize>,
}

/// What [`Hub::apply`] did.
pub(crate) struct Applied {
    /// Whether anything changed (a refused NICK is false).
    pub changed: bool,
    /// Completes once the resulting lines are queued.
    pub release: Release,
}

impl Hub {
    /// A hub; with a pipeline, channel messages are committed before delivery.
    pub(crate) fn new(
        config: Arc<ChatConfig>,
        pipeline: Option<Pipeline>,
        metrics: Arc<Metrics>,
    ) -> Hub {
        let state = State {
            next_seq: pipeline.as_ref().map_or(0, Pipeline::last_seq),
            ..State::default()
        };
        Hub {
            config,
            pipeline,
            metrics,
            state: Mutex::new(state),
            unregistered: Arc::default(),
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
            && let Some(out) = &sender.out
        {
            let notice = Message::new("NOTICE")
                .with_source(&self.config.server_name)
                .with_param(&sender.nick)
                .with_param("Your message was not delivered: history is unavailable")
                .to_bytes();
            item.on_failure = Some((out.clone(), notice));
        }
        pipeline.submit(item)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state consistent before it can panic (map
        // updates come after the checks), so a poisoned lock is still usable.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.stamp = Stamp::local();
        state
    }

    /// Channels with members now.
    pub(crate) fn channel_count(&self) -> usize {
        self.lock().channels.len()
    }

    /// Whether channel messages are kept (and so CHATHISTORY offered).
    pub(crate) fn keeps_history(&self) -> bool {
        self.pipeline.is_some()
    }

    /// Records the capabilities a registered client enabled.
    pub(crate) fn set_caps(&self, id: ClientId, caps: Caps) {
        if let Some(client) = self.lock().clients.map.get_mut(&id) {
            client.caps = caps;
        }
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
        let out = registration.out.clone();
        state.clients.map.insert(
            id,
            Client {
                nick: registration.nick,
                user: registration.user,
                host: registration.host,
                realname: registration.realname,
                out: Some(registration.out),
                channels: HashSet::new(),
                invites: HashSet::new(),
                caps: registration.caps,
                oper: false,
                invisible: false,
                wallops: false,
                away: None,
            },
        );
        // LUSERS and the MOTD end the burst, LUSERS counting the newcomer.
        state.peak_clients = state.peak_clients.max(state.clients.map.len());
        let asker = Asker {
            id,
            nick: &state.clients.map[&id].nick,
            config: &self.config,
        };
        let lusers = self.lusers(&state, &asker);
        for line in lusers.into_iter().chain(registration.motd) {
            let _ = out.push(line.to_bytes());
        }
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
        let server = self.config.server_name.as_str();
        let changed = match event {
            Event::Join { channels } => {
                for (name, key) in &channels {
                    state.join(&self.config, id, name, key.as_deref());
                }
                true
            }
            Event::PartAll => {
                let joined: Vec<IrcKey> = state.clients.map[&id].channels.iter().cloned().collect();
                for key in joined {
                    state.part(server, id, key.as_str(), None);
                }
                true
            }
            Event::Part { channels, reason } => {
                for name in &channels {
                    state.part(server, id, name, reason.as_deref());
                }
                true
            }
            Event::Nick { nick } => state.change_nick(server, id, &nick),
            Event::Topic { channel, text } => state.set_topic(server, id, &channel, &text),
            Event::Message {
                kind,
                targets,
                text,
                tags,
            } => {
                for target in &targets {
                    self.deliver(&mut state, id, kind, target, &text, &tags);
                }
                true
            }
            Event::ChannelMode { channel, changes } => {
                state.channel_mode(server, id, &channel, &changes);
                true
            }
            Event::UserMode { changes } => {
                state.user_mode(id, &changes);
                true
            }
            Event::Kick {
                channel,
                nicks,
                reason,
            } => {
                let reason = reason.unwrap_or_else(|| state.nick_of(id));
                state.kick(server, id, &channel, &nicks, &reason);
                true
            }
            Event::Invite { nick, channel } => {
                state.invite(server, id, &nick, &channel);
                true
            }
            Event::Oper => {
                state.oper(server, id);
                true
            }
            Event::Kill { nick, reason } => {
                state.kill(server, id, &nick, &reason);
                true
            }
            Event::Wallops { text } => {
                state.wallops(server, id, &text);
                true
            }
            Event::Away { text } => {
                state.set_away(server, id, text);
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
}
