//! Several `chat serve` nodes that behave as one server, through Redis.
//!
//! Every node keeps the whole network's state and changes it only by applying
//! one shared log, the Redis stream `netkit:log`, in its order:
//! - a session's events (and registrations, which claim a nick) are written to
//!   the log by this node's publisher, not applied on the spot;
//! - this node's reader applies every entry, its own and the others', to the
//!   hub; what waited for an entry of this node (a release, a registration) is
//!   completed then (`link`);
//! - channel messages are committed to Redis history (a stream per channel,
//!   ids derived from the log entry) before any node delivers them;
//! - each node refreshes a heartbeat key; a node whose key expired is written
//!   to the log as gone, and its clients quit everywhere (`*.net *.split`);
//! - a node that joins loads the latest snapshot of the state, which nodes
//!   write now and then, and reads the log from there.

mod link;
mod log;
mod node;
mod stats;
mod wire;

pub(crate) use link::{Claimed, Deferred, Link, Locals, Waiting};
pub(crate) use node::SPLIT;
pub use node::{Cluster, ClusterError};
pub(crate) use stats::ClusterMetrics;
pub(crate) use wire::{LogId, Logged, Rejoining, node_of};
