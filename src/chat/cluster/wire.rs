//! What the log holds, and its Redis keys.
//!
//! Every entry of the stream `netkit:log` has three fields: `n` the number of
//! the node that wrote it, `o` its number among that node's entries (a node
//! that retries a write after a broken connection may write one twice; every
//! node skips the second), and `e` the entry itself in JSON.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::chat::event::Event;
use crate::chat::hub::ClientId;

/// The stream every node writes its events to and applies in order.
pub(crate) const LOG: &str = "netkit:log";
/// The latest snapshot of the state, with the log entry it follows.
pub(crate) const SNAPSHOT: &str = "netkit:snapshot";

/// Every node by the time of its last heartbeat (a sorted set), to count
/// the nodes alive.
pub(crate) const NODES: &str = "netkit:nodes";

/// The key a live node keeps refreshing; it expires when the node dies.
pub(crate) fn heartbeat_key(node: u32) -> String {
    format!("netkit:node:{node}")
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Logged {
    /// A client completed registration on its node and claims its nick.
    Register {
        id: ClientId,
        nick: String,
        user: String,
        host: String,
        realname: String,
        /// The name of the server (node) it is on.
        server: String,
    },
    /// A registered client's event.
    Event { id: ClientId, event: Event },
    /// A node is gone (it stopped, or its heartbeat expired): its clients quit
    /// with `reason`.
    NodeGone { node: u32, reason: String },
    /// A node is back after a split, with the clients it has now: they replace
    /// whatever the network still had of that node.
    Rejoin {
        node: u32,
        /// The node's server name.
        server: String,
        clients: Vec<Rejoining>,
    },
}

/// A client of a node that rejoins, as that node has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Rejoining {
    pub id: ClientId,
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub oper: bool,
    pub invisible: bool,
    pub wallops: bool,
    pub away: Option<String>,
    /// The channels it is in, as their creators spelled them.
    pub channels: Vec<String>,
}

/// The id of a log entry, `MILLISECONDS-N`, as Redis gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct LogId {
    pub ms: u64,
    pub n: u64,
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

impl FromStr for LogId {
    type Err = String;

    fn from_str(s: &str) -> Result<LogId, String> {
        let bad = || format!("not a stream entry id: {s:?}");
        let (ms, n) = s.split_once('-').ok_or_else(bad)?;
        Ok(LogId {
            ms: ms.parse().map_err(|_| bad())?,
            n: n.parse().map_err(|_| bad())?,
        })
    }
}

/// The node number in a client id.
pub(crate) fn node_of(id: ClientId) -> u32 {
    (id >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_read_back_and_sort_as_redis_does() {
        let id: LogId = "1700000000000-12".parse().unwrap();
        assert_eq!(id.to_string(), "1700000000000-12");
        assert!(id < "1700000000000-13".parse().unwrap());
        assert!(id < "1700000000001-0".parse().unwrap());
        assert!("17-".parse::<LogId>().is_err());
        assert!("x".parse::<LogId>().is_err());
    }

    #[test]
    fn entries_read_back() {
        let logged = Logged::Event {
            id: 5 << 32 | 7,
            event: Event::Nick { nick: "bob".into() },
        };
        let json = serde_json::to_string(&logged).unwrap();
        assert_eq!(serde_json::from_str::<Logged>(&json).unwrap(), logged);
        assert_eq!(node_of(5 << 32 | 7), 5);
    }
}
