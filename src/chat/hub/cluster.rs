//! The hub in a cluster: applying the shared log, entry after entry, exactly
//! as every other node does.
//!
//! Every node holds the whole network's state (every client, channel, member
//! and mode) and changes it only by applying the log, so all copies go
//! through the same states in the same order; clients of other nodes simply
//! have no queue here. What a change says to a client is written only by the
//! node the client is on. Time and message numbers come from the log entry
//! (see [`Stamp`]), so a message has the same time and msgid everywhere.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::clients::Client;
use super::query::{Asker, names_replies};
use super::snapshot::Snapshot;
use super::state::{Stamp, State};
use super::{ClientId, Hub};
use crate::chat::cluster::{Link, Locals, LogId, Logged, Rejoining, SPLIT, Waiting, node_of};
use crate::chat::irc::{IrcKey, Message};

/// Where this node is in the log, and what it has seen of each node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LogState {
    /// The last entry applied.
    pub applied: LogId,
    /// Per node, the last of its entries applied: an entry written twice
    /// (a retried write) is applied once.
    pub ops: HashMap<u32, u64>,
    /// Nodes that are gone: whatever they still write is ignored.
    pub gone: HashSet<u32>,
}

/// What applying an entry means for this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Applied,
    /// Read before a split or a rejoin: not applied, and the reader must
    /// start again from where the rejoin says.
    Stale,
    /// The rest of the network gave this node up (its heartbeat expired):
    /// its clients were dropped everywhere, so it must take a new number.
    GivenUp,
}

impl Stamp {
    /// The time and numbering of log entry `at`.
    fn logged(at: LogId) -> Stamp {
        Stamp {
            time: UNIX_EPOCH + Duration::from_millis(at.ms),
            log: Some(at.n),
            messages: 0,
        }
    }
}

impl Hub {
    /// Applies log entry `at`, written by node `node` as its entry `op`, read
    /// in `epoch`.
    pub(crate) fn apply_logged(
        &self,
        epoch: u64,
        at: LogId,
        (node, op): (u32, u64),
        logged: Logged,
    ) -> Outcome {
        let link = self
            .cluster
            .as_ref()
            .expect("only a cluster hub reads the log");
        let mut state = self.begin();
        // Checked under the hub lock, which splits and rejoins take too.
        if link.epoch() != (epoch, false) {
            state.clients.held = None;
            return Outcome::Stale;
        }
        state.log.applied = at;
        let seen = state.log.ops.get(&node).is_some_and(|&last| op <= last);
        // A node given up is ignored until it says it is back.
        let ignored = state.log.gone.contains(&node) && !matches!(logged, Logged::Rejoin { .. });
        if seen || ignored {
            state.clients.held = None;
            return Outcome::Applied;
        }
        state.log.ops.insert(node, op);
        state.stamp = Stamp::logged(at);
        let mine = node == link.node();
        let mut registration = None;
        let mut locals = None;
        let mut done = None;
        let mut after = Vec::new();
        for waiting in if mine { link.take(op) } else { Vec::new() } {
            match waiting {
                Waiting::Event { op: o, done: d } if o == op => done = Some(d),
                Waiting::Register {
                    op: o,
                    registration: r,
                    result,
                    ..
                } if o == op => registration = Some((r, result)),
                Waiting::Rejoin {
                    op: o, locals: l, ..
                } if o == op => locals = Some(l),
                // A return that never reached the log: this node's clients
                // are put back here at least.
                Waiting::Rejoin {
                    clients, locals, ..
                } => self.rejoin(&mut state, (node, self.server.clone()), clients, locals),
                // Published before this entry and never written: nothing
                // was applied, nothing more will come.
                Waiting::Event { done: d, .. } => {
                    let _ = d.send(());
                }
                Waiting::Register { .. } | Waiting::Quiet { .. } => {}
                Waiting::After { work, done } => after.push((work, done)),
            }
        }
        let mut outcome = Outcome::Applied;
        let actor = match logged {
            Logged::Register {
                id,
                nick,
                user,
                host,
                realname,
                server,
            } => {
                match registration {
                    Some((registration, result)) => {
                        let _ = result.send(self.admit(&mut state, id, *registration));
                    }
                    None => {
                        let client = Client {
                            server: Some(Arc::from(server)),
                            ..Client::new(nick, user, host, realname, None)
                        };
                        admit_remote(&mut state, id, client);
                    }
                }
                id
            }
            Logged::Event { id, event } => {
                self.apply_to(&mut state, id, event);
                id
            }
            Logged::NodeGone { node: gone, reason } => {
                if gone == link.node() {
                    // Its clients are still here: they rejoin.
                    outcome = Outcome::GivenUp;
                } else {
                    node_gone(&mut state, gone, &reason);
                }
                0
            }
            Logged::Rejoin {
                node,
                server,
                clients,
            } => {
                let (server, locals) = (Arc::from(server), locals.unwrap_or_default());
                self.rejoin(&mut state, (node, server), clients, locals);
                0
            }
        };
        let release = self.end(&mut state, actor);
        drop(state);
        if let Some(done) = done {
            release.forward(done);
        }
        for (work, done) in after {
            work(self).forward(done);
        }
        outcome
    }

    /// This node's number (0 alone).
    pub(crate) fn node(&self) -> u32 {
        self.cluster.as_ref().map_or(0, Link::node)
    }

    /// The current epoch (see [`Outcome::Stale`]), and whether it is a split.
    pub(crate) fn epoch(&self) -> (u64, bool) {
        self.cluster.as_ref().map_or((0, false), Link::epoch)
    }

    /// Writes an entry to the log without waiting for it.
    pub(crate) fn publish_quietly(&self, logged: &Logged) {
        if let Some(link) = &self.cluster {
            link.publish_quietly(logged);
        }
    }

    /// Writes an entry to the log; the receiver completes once it is applied
    /// here. None when there is nothing to wait for (alone, or split).
    pub(crate) fn publish_awaited(&self, logged: &Logged) -> Option<oneshot::Receiver<()>> {
        self.cluster.as_ref()?.publish_awaited(logged)
    }

    /// Cuts this node off from the cluster (Redis is out of reach): from now
    /// on it applies its clients' events itself. Everyone else's clients quit
    /// here, and this node's clients are told. Events published and not yet
    /// back are dropped (the network may or may not have them); registrations
    /// complete here.
    pub(crate) fn split(&self) {
        let link = self.cluster.as_ref().expect("only a cluster hub splits");
        let mut state = self.begin();
        let mut after = Vec::new();
        for waiting in link.split() {
            match waiting {
                Waiting::Event { done, .. } => {
                    let _ = done.send(());
                }
                Waiting::Register {
                    id,
                    registration,
                    result,
                    ..
                } => {
                    let _ = result.send(self.admit(&mut state, id, *registration));
                }
                // A return not back yet: this node's clients stay here.
                Waiting::Rejoin {
                    clients, locals, ..
                } => {
                    let node = (link.node(), self.server.clone());
                    self.rejoin(&mut state, node, clients, locals);
                }
                Waiting::Quiet { .. } => {}
                Waiting::After { work, done } => after.push((work, done)),
            }
        }
        let others: Vec<ClientId> = state
            .clients
            .map
            .iter()
            .filter(|(_, client)| client.out.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in others {
            state.quit(id, SPLIT);
        }
        let notice = "The network is split: only users of this server can be reached for now";
        let locals: Vec<ClientId> = state.clients.map.keys().copied().collect();
        for id in locals {
            let line = Message::new("NOTICE")
                .with_source(&self.config.server_name)
                .with_params([state.nick_of(id), notice.to_string()]);
            state.clients.send_message(id, line);
        }
        let release = self.end(&mut state, 0);
        drop(state);
        drop(release);
        for (work, done) in after {
            work(self).forward(done);
        }
    }

    /// Ends a split: the state becomes the cluster's (from `snapshot`, or
    /// empty), this node's clients are written back to the log, and the log
    /// is read on from the entry the snapshot follows, which this gives.
    pub(crate) fn resync(&self, snapshot: Option<&str>) -> Result<(u64, LogId), serde_json::Error> {
        let link = self.cluster.as_ref().expect("only a cluster hub resyncs");
        let mut state = self.lock();
        let mut locals = Locals::default();
        let mut clients = Vec::new();
        for (&id, client) in &state.clients.map {
            let Some(out) = &client.out else { continue };
            locals.insert(id, (out.clone(), client.caps));
            clients.push(Rejoining {
                id,
                nick: client.nick.clone(),
                user: client.user.clone(),
                host: client.host.clone(),
                realname: client.realname.clone(),
                oper: client.oper,
                invisible: client.invisible,
                wallops: client.wallops,
                away: client.away.clone(),
                channels: client
                    .channels
                    .iter()
                    .filter_map(|key| state.channels.get(key).map(|c| c.name.clone()))
                    .collect(),
            });
        }
        let from = match snapshot {
            Some(json) => Snapshot::parse(json)?.install(&mut state),
            None => {
                let whowas = std::mem::take(&mut state.whowas);
                *state = State {
                    whowas,
                    ..State::default()
                };
                LogId::default()
            }
        };
        let epoch = link.rejoin(&self.config.server_name, clients, locals);
        Ok((epoch, from))
    }

    /// The node numbers of everyone's clients but this node's.
    pub(crate) fn other_nodes(&self) -> HashSet<u32> {
        let state = self.lock();
        let mine = self.cluster.as_ref().map(|link| link.node());
        let nodes = state.clients.map.keys().map(|&id| node_of(id));
        nodes.filter(|&n| Some(n) != mine).collect()
    }
}

impl Hub {
    /// Applies node `node`'s return: its clients are the ones listed, in the
    /// channels listed. Others see the differences (quits, nick changes, parts
    /// and joins); the node's own clients get their queues back and a NAMES
    /// of each of their channels, whose members may have changed meanwhile.
    fn rejoin(
        &self,
        state: &mut State,
        (node, server): (u32, Arc<str>),
        clients: Vec<Rejoining>,
        mut locals: Locals,
    ) {
        state.log.gone.remove(&node);
        let listed: HashSet<ClientId> = clients.iter().map(|c| c.id).collect();
        let stale: Vec<ClientId> = state
            .clients
            .map
            .keys()
            .copied()
            .filter(|&id| node_of(id) == node && !listed.contains(&id))
            .collect();
        for id in stale {
            state.quit(id, SPLIT);
        }
        for rejoining in clients {
            let id = rejoining.id;
            let local = locals.remove(&id);
            if let Some(client) = state.clients.map.get_mut(&id) {
                if let Some((out, caps)) = &local {
                    client.out = Some(out.clone());
                    client.caps = *caps;
                }
            } else {
                let mut client = Client::new(
                    rejoining.nick.clone(),
                    rejoining.user.clone(),
                    rejoining.host.clone(),
                    rejoining.realname.clone(),
                    local.as_ref().map(|(out, _)| out.clone()),
                );
                client.caps = local.as_ref().map(|(_, caps)| *caps).unwrap_or_default();
                state.clients.map.insert(id, client);
            }
            let nick = free_nick(state, &rejoining.nick, id);
            rename(state, id, &rejoining.nick, &nick);
            if let Some(client) = state.clients.map.get_mut(&id) {
                client.server = Some(server.clone());
                client.oper = rejoining.oper;
                client.invisible = rejoining.invisible;
                client.wallops = rejoining.wallops;
                client.away = rejoining.away;
            }
            let wanted: HashSet<IrcKey> = rejoining
                .channels
                .iter()
                .map(|name| IrcKey::new(name.as_str()))
                .collect();
            let left: Vec<IrcKey> = state.clients.map[&id]
                .channels
                .iter()
                .filter(|key| !wanted.contains(*key))
                .cloned()
                .collect();
            for key in left {
                let line = Message::new("PART")
                    .with_source(state.clients.map[&id].prefix())
                    .with_params([state.channels[&key].name.as_str(), SPLIT])
                    .to_bytes();
                tell_others(state, &key, id, &line);
                state.leave(id, &key);
            }
            for name in &rejoining.channels {
                rejoin_channel(state, id, name);
            }
            if local.is_some() {
                let nick = state.nick_of(id);
                let asker = Asker {
                    id,
                    nick: &nick,
                    config: &self.config,
                };
                let mut replies = Vec::new();
                for key in &state.clients.map[&id].channels {
                    replies.extend(names_replies(&asker, &state.channels[key], &state.clients));
                }
                for reply in replies {
                    state.clients.send_message(id, reply);
                }
            }
        }
        state.peak_clients = state.peak_clients.max(state.clients.map.len());
    }
}

/// `wanted` if no one else has it, or a guest nick made from `id`.
fn free_nick(state: &State, wanted: &str, id: ClientId) -> String {
    let free = |nick: &str| {
        state
            .nicks
            .get(&IrcKey::new(nick))
            .is_none_or(|&owner| owner == id)
    };
    if free(wanted) {
        return wanted.to_string();
    }
    let mut n = id as u32;
    loop {
        let guest = format!("Guest{n}");
        if free(&guest) {
            return guest;
        }
        n = n.wrapping_add(1);
    }
}

/// Gives client `id` the nick `nick`: its peers see the change from the nick
/// they knew, and so does the client if it believed it was `believed`.
fn rename(state: &mut State, id: ClientId, believed: &str, nick: &str) {
    let client = &state.clients.map[&id];
    let known = client.nick.clone();
    if known != nick {
        let line = Message::new("NICK")
            .with_source(client.prefix())
            .with_param(nick)
            .to_bytes();
        for peer in state.peers(id) {
            state.clients.send(peer, &line);
        }
        state.nicks.remove(&IrcKey::new(known.as_str()));
    }
    if believed != nick {
        let client = &state.clients.map[&id];
        let line = Message::new("NICK")
            .with_source(format!("{believed}!{}@{}", client.user, client.host))
            .with_param(nick)
            .to_bytes();
        state.clients.send(id, &line);
    }
    state.nicks.insert(IrcKey::new(nick), id);
    if let Some(client) = state.clients.map.get_mut(&id) {
        client.nick = nick.to_string();
    }
}

/// Puts client `id` back in channel `name` (creating it, with `id` as its
/// operator, if it is gone): the other members see it join.
fn rejoin_channel(state: &mut State, id: ClientId, name: &str) {
    let key = IrcKey::new(name);
    if !state.clients.map[&id].channels.contains(&key) {
        let line = state.enter(id, &key);
        tell_others(state, &key, id, &line);
    }
}

/// Queues `line` for every member of a channel but `id`.
fn tell_others(state: &mut State, key: &IrcKey, id: ClientId, line: &bytes::Bytes) {
    let members: Vec<ClientId> = state.channels[key].members.keys().copied().collect();
    for member in members.into_iter().filter(|&m| m != id) {
        state.clients.send(member, line);
    }
}

/// Adds a client of another node, if its nick is free (its own node finds the
/// same and tells it 433).
fn admit_remote(state: &mut State, id: ClientId, client: Client) {
    let key = IrcKey::new(client.nick.as_str());
    if state.nicks.contains_key(&key) {
        return;
    }
    state.nicks.insert(key, id);
    state.clients.map.insert(id, client);
    state.peak_clients = state.peak_clients.max(state.clients.map.len());
}

/// Every client of node `gone` quits with `reason`; this node's own clients
/// are also disconnected, if `gone` is this node.
fn node_gone(state: &mut State, gone: u32, reason: &str) {
    state.log.gone.insert(gone);
    state.log.ops.remove(&gone);
    let leaving: Vec<ClientId> = state
        .clients
        .map
        .keys()
        .copied()
        .filter(|&id| node_of(id) == gone)
        .collect();
    for id in leaving {
        if let Some(out) = &state.clients.map[&id].out {
            let error = Message::new("ERROR").with_param(format!("Closing link ({reason})"));
            out.close(error.to_bytes());
        }
        state.quit(id, reason);
    }
}
