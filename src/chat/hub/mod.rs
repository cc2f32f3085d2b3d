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
mod cluster;
mod deliver;
mod info;
mod modes;
mod query;
mod snapshot;
mod state;
mod whowas;

use std::collections::HashMap;
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

use crate::chat::cluster::{Claimed, Deferred, Link, Logged};
use clients::Client;
pub(crate) use cluster::Outcome;
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
    /// In a cluster, where events go to be ordered before they are applied.
    cluster: Option<Link>,
    /// The server name, shared by this node's clients in a cluster.
    server: Arc<str>,
}

/// What [`Hub::register`] gives: the outcome, or where it will come from in a
/// cluster (once the registration is read back from the log).
pub(crate) enum Registering {
    Done(Result<ClientId, NickInUse>),
    Pending(tokio::sync::oneshot::Receiver<Claimed>),
}

impl Hub {
    /// A hub; with a pipeline, channel messages are committed before delivery.
    pub(crate) fn new(
        config: Arc<ChatConfig>,
        pipeline: Option<Pipeline>,
        metrics: Arc<Metrics>,
        cluster: Option<Link>,
    ) -> Hub {
        let state = State {
            next_seq: pipeline.as_ref().map_or(0, Pipeline::last_seq),
            ..State::default()
        };
        Hub {
            server: Arc::from(config.server_name.as_str()),
            config,
            pipeline,
            metrics,
            state: Mutex::new(state),
            unregistered: Arc::default(),
            cluster,
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
        let out = out.clone();
        self.after_published(Box::new(move |hub| hub.reply_now(&out, line)))
    }

    fn reply_now(&self, out: &Outbound, line: Bytes) -> Release {
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

    /// Runs `work` now, or in a cluster behind the entries this node published
    /// and has not applied yet: a query or reply must not overtake the events
    /// its session sent before it.
    fn after_published(&self, work: Deferred) -> Release {
        let work = match &self.cluster {
            Some(link) => match link.defer(work) {
                Ok(release) => return release,
                Err(work) => work,
            },
            None => work,
        };
        work(self)
    }

    /// Ends an operation by client `id`: removes whoever overflowed, then queues
    /// what was held (still under the lock, so in hub order).
    fn end(&self, state: &mut State, id: ClientId) -> Release {
        if self.cluster.is_some() {
            // Removing a client is an event every node must apply: its
            // session publishes its QUIT when it sees its queue closed.
            state.clients.overflowed.clear();
        }
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

    /// The nick of client `id`, while it is registered.
    pub(crate) fn nick(&self, id: ClientId) -> Option<String> {
        self.lock().clients.map.get(&id).map(|c| c.nick.clone())
    }

    /// Whether a nick is taken (under the server's case mapping).
    pub(crate) fn nick_in_use(&self, nick: &str) -> bool {
        self.lock().nicks.contains_key(&IrcKey::new(nick))
    }

    /// Adds a client that completed registration, if its nick is still free.
    pub(crate) fn register(&self, registration: Registration) -> Registering {
        let (id, registration) = match &self.cluster {
            Some(link) => {
                let id = link.next_client_id();
                let logged = Logged::Register {
                    id,
                    nick: registration.nick.clone(),
                    user: registration.user.clone(),
                    host: registration.host.clone(),
                    realname: registration.realname.clone(),
                    server: self.config.server_name.clone(),
                };
                match link.publish_registration(id, &logged, Box::new(registration)) {
                    Ok(claim) => return Registering::Pending(claim),
                    // Split: admitted here alone.
                    Err(registration) => (id, *registration),
                }
            }
            None => {
                let mut state = self.lock();
                state.next_id += 1;
                let id = state.next_id;
                return Registering::Done(self.admit(&mut state, id, registration));
            }
        };
        Registering::Done(self.admit(&mut self.lock(), id, registration))
    }

    /// Adds client `id` if its nick is free, and sends it the welcome burst.
    fn admit(
        &self,
        state: &mut State,
        id: ClientId,
        registration: Registration,
    ) -> Result<ClientId, NickInUse> {
        let key = IrcKey::new(registration.nick.as_str());
        if state.nicks.contains_key(&key) {
            return Err(NickInUse);
        }
        state.nicks.insert(key, id);
        for line in registration.welcome {
            // An overflow here is noticed by the session (its queue is closing).
            let _ = registration.out.push(line.to_bytes());
        }
        let out = registration.out.clone();
        let client = Client::new(
            registration.nick,
            registration.user,
            registration.host,
            registration.realname,
            Some(registration.out),
        );
        state.clients.map.insert(
            id,
            Client {
                caps: registration.caps,
                // In a cluster every node, and every snapshot, must know.
                server: self.cluster.as_ref().map(|_| self.server.clone()),
                ..client
            },
        );
        // LUSERS and the MOTD end the burst, LUSERS counting the newcomer.
        state.peak_clients = state.peak_clients.max(state.clients.map.len());
        let asker = Asker {
            id,
            nick: &state.clients.map[&id].nick,
            config: &self.config,
        };
        let lusers = self.lusers(state, &asker);
        for line in lusers.into_iter().chain(registration.motd) {
            let _ = out.push(line.to_bytes());
        }
        Ok(id)
    }

    /// Applies one event from client `id` and fans out its effects. Errors are
    /// answered to the client with their numerics. In a cluster the event is
    /// published and applied once the log gives it back. The release completes
    /// once its lines are queued.
    pub(crate) fn apply(&self, id: ClientId, event: Event) -> Release {
        let event = match &self.cluster {
            Some(link) => match link.publish_event(id, event) {
                Ok(release) => return release,
                // Split: applied here alone.
                Err(event) => event,
            },
            None => event,
        };
        let mut state = self.begin();
        self.apply_to(&mut state, id, event);
        self.end(&mut state, id)
    }

    /// Applies an event to the state, under the lock.
    fn apply_to(&self, state: &mut State, id: ClientId, event: Event) {
        if !state.clients.map.contains_key(&id) {
            // Removed already (its queue overflowed): nothing it asks counts now.
            return;
        }
        let server = self.config.server_name.as_str();
        match event {
            Event::Join { channels } => {
                for (name, key) in &channels {
                    state.join(&self.config, id, name, key.as_deref());
                }
            }
            Event::PartAll => {
                let joined: Vec<IrcKey> = state.clients.map[&id].channels.iter().cloned().collect();
                for key in joined {
                    state.part(server, id, key.as_str(), None);
                }
            }
            Event::Part { channels, reason } => {
                for name in &channels {
                    state.part(server, id, name, reason.as_deref());
                }
            }
            Event::Nick { nick } => {
                state.change_nick(server, id, &nick);
            }
            Event::Topic { channel, text } => {
                state.set_topic(server, id, &channel, &text);
            }
            Event::Message {
                kind,
                targets,
                text,
                tags,
            } => {
                for target in &targets {
                    self.deliver(state, id, kind, target, &text, &tags);
                }
            }
            Event::ChannelMode { channel, changes } => {
                state.channel_mode(server, id, &channel, &changes);
            }
            Event::UserMode { changes } => {
                state.user_mode(id, &changes);
            }
            Event::Kick {
                channel,
                nicks,
                reason,
            } => {
                let reason = reason.unwrap_or_else(|| state.nick_of(id));
                state.kick(server, id, &channel, &nicks, &reason);
            }
            Event::Invite { nick, channel } => {
                state.invite(server, id, &nick, &channel);
            }
            Event::Oper => {
                state.oper(server, id);
            }
            Event::Kill { nick, reason } => {
                state.kill(server, id, &nick, &reason);
            }
            Event::Wallops { text } => {
                state.wallops(server, id, &text);
            }
            Event::Away { text } => {
                state.set_away(server, id, text);
            }
            Event::Quit { reason } => {
                state.quit(id, &reason);
            }
        }
    }

    /// Removes a client without telling anyone: at shutdown, when everyone is
    /// leaving and N quits fanned out to N peers would be wasted work.
    pub(crate) fn forget(&self, id: ClientId) {
        let mut state = self.lock();
        state.remove(id);
    }
}
