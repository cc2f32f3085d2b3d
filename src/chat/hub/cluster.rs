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
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::clients::Client;
use super::state::{Stamp, State};
use super::{ClientId, Hub};
use crate::chat::cluster::{Link, LogId, Logged, Waiting, node_of};
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
    /// Applies log entry `at`, written by node `node` as its entry `op`.
    pub(crate) fn apply_logged(&self, at: LogId, node: u32, op: u64, logged: Logged) -> Outcome {
        let link = self
            .cluster
            .as_ref()
            .expect("only a cluster hub reads the log");
        let mut state = self.begin();
        state.log.applied = at;
        let seen = state.log.ops.get(&node).is_some_and(|&last| op <= last);
        if seen || state.log.gone.contains(&node) {
            state.clients.held = None;
            return Outcome::Applied;
        }
        state.log.ops.insert(node, op);
        state.stamp = Stamp::logged(at);
        let mine = node == link.node();
        let mut registration = None;
        let mut done = None;
        let mut after = Vec::new();
        for waiting in if mine { link.take(op) } else { Vec::new() } {
            match waiting {
                Waiting::Event { op: o, done: d } if o == op => done = Some(d),
                Waiting::Register {
                    op: o,
                    registration: r,
                    result,
                } if o == op => registration = Some((r, result)),
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
            } => {
                match registration {
                    Some((registration, result)) => {
                        let _ = result.send(self.admit(&mut state, id, *registration));
                    }
                    None => admit_remote(
                        &mut state,
                        id,
                        Client::new(nick, user, host, realname, None),
                    ),
                }
                id
            }
            Logged::Event { id, event } => {
                self.apply_to(&mut state, id, event);
                id
            }
            Logged::NodeGone { node: gone, reason } => {
                node_gone(&mut state, gone, &reason);
                if gone == link.node() {
                    outcome = Outcome::GivenUp;
                }
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

    /// Writes an entry to the log without waiting for it.
    pub(crate) fn publish_quietly(&self, logged: &Logged) {
        if let Some(link) = &self.cluster {
            link.publish_quietly(logged);
        }
    }

    /// Takes a new node number after the network gave this node up. What
    /// waited for entries under the old number ends: nothing of it was applied.
    pub(crate) fn renumber(&self) -> u32 {
        let link = self.cluster.as_ref().expect("only a cluster hub renumbers");
        let (node, waiting) = link.renumber();
        for waiting in waiting {
            match waiting {
                Waiting::Event { done, .. } => {
                    let _ = done.send(());
                }
                Waiting::Register { .. } | Waiting::Quiet { .. } => {}
                Waiting::After { work, done } => work(self).forward(done),
            }
        }
        node
    }

    /// The node numbers of everyone's clients but this node's.
    pub(crate) fn other_nodes(&self) -> HashSet<u32> {
        let state = self.lock();
        let mine = self.cluster.as_ref().map(|link| link.node());
        let nodes = state.clients.map.keys().map(|&id| node_of(id));
        nodes.filter(|&n| Some(n) != mine).collect()
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
