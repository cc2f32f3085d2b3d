//! Snapshots of a cluster's state: what a joining node starts from before it
//! reads the log from the entry the snapshot follows.

use serde::{Deserialize, Serialize};

use super::channel::Channel;
use super::clients::{Client, Clients};
use super::cluster::LogState;
use super::state::State;
use super::{ClientId, Hub};
use crate::chat::cluster::LogId;
use crate::chat::irc::IrcKey;

/// The shared part of the state: clients (without their queues), channels,
/// and how far the log was applied. WHOWAS stays with each node.
#[derive(Serialize, Deserialize)]
pub(super) struct Snapshot {
    log: LogState,
    clients: Vec<(ClientId, Client)>,
    channels: Vec<(IrcKey, Channel)>,
}

impl Hub {
    /// The state now, in JSON, and the log entry it follows.
    pub(crate) fn snapshot(&self) -> (LogId, String) {
        let state = self.lock();
        // Written through references: cloning the whole state under the lock
        // would cost more than serializing it.
        #[derive(Serialize)]
        struct View<'a> {
            log: &'a LogState,
            clients: Vec<(&'a ClientId, &'a Client)>,
            channels: Vec<(&'a IrcKey, &'a Channel)>,
        }
        let view = View {
            log: &state.log,
            clients: state.clients.map.iter().collect(),
            channels: state.channels.iter().collect(),
        };
        let json = serde_json::to_string(&view).expect("the state serializes");
        (state.log.applied, json)
    }

    /// Replaces the state with a snapshot, before any client is served;
    /// gives the log entry to read on from.
    pub(crate) fn restore(&self, json: &str) -> Result<LogId, serde_json::Error> {
        Ok(Snapshot::parse(json)?.install(&mut self.lock()))
    }
}

impl Snapshot {
    pub(super) fn parse(json: &str) -> Result<Snapshot, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Makes `state` the snapshot's (WHOWAS stays); gives the log entry it
    /// follows.
    pub(super) fn install(self, state: &mut State) -> LogId {
        let whowas = std::mem::take(&mut state.whowas);
        *state = State {
            whowas,
            nicks: self
                .clients
                .iter()
                .map(|(id, client)| (IrcKey::new(client.nick.as_str()), *id))
                .collect(),
            peak_clients: self.clients.len(),
            clients: Clients {
                map: self.clients.into_iter().collect(),
                ..Clients::default()
            },
            channels: self.channels.into_iter().collect(),
            log: self.log,
            ..State::default()
        };
        state.log.applied
    }
}
