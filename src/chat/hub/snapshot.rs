//! Snapshots of a cluster's state: what a joining node starts from before it
//! reads the log from the entry the snapshot follows.

use serde::{Deserialize, Serialize};

use super::channel::Channel;
use super::clients::Client;
use super::cluster::LogState;
use super::{ClientId, Hub};
use crate::chat::cluster::LogId;
use crate::chat::irc::IrcKey;

/// The shared part of the state: clients (without their queues), channels,
/// and how far the log was applied. WHOWAS stays with each node.
#[derive(Serialize, Deserialize)]
struct Snapshot {
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
        let snapshot: Snapshot = serde_json::from_str(json)?;
        let mut state = self.lock();
        state.nicks = snapshot
            .clients
            .iter()
            .map(|(id, client)| (IrcKey::new(client.nick.as_str()), *id))
            .collect();
        state.clients.map = snapshot.clients.into_iter().collect();
        state.channels = snapshot.channels.into_iter().collect();
        state.peak_clients = state.clients.map.len();
        state.log = snapshot.log;
        Ok(state.log.applied)
    }
}
