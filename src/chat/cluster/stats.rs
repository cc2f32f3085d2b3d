//! What `/metrics` says about the cluster.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::chat::metrics::header;

#[derive(Default)]
pub(crate) struct ClusterMetrics {
    /// Nodes with a live heartbeat, this one included.
    nodes: AtomicU64,
    /// The last round trip to Redis, in microseconds.
    rtt_micros: AtomicU64,
    published: AtomicU64,
    consumed: AtomicU64,
    /// Times this node reloaded the state from a snapshot after joining.
    resyncs: AtomicU64,
    /// Redis commands that failed (a connection lost, a timeout).
    redis_errors: AtomicU64,
    /// 1 while Redis cannot be reached.
    split: AtomicU64,
}

impl ClusterMetrics {
    pub fn nodes(&self, n: usize) {
        self.nodes.store(n as u64, Relaxed);
    }

    pub fn round_trip(&self, took: Duration) {
        self.rtt_micros.store(took.as_micros() as u64, Relaxed);
    }

    pub fn published(&self, entries: usize) {
        self.published.fetch_add(entries as u64, Relaxed);
    }

    pub fn consumed(&self) {
        self.consumed.fetch_add(1, Relaxed);
    }

    pub fn resynced(&self) {
        self.resyncs.fetch_add(1, Relaxed);
    }

    pub fn redis_error(&self) {
        self.redis_errors.fetch_add(1, Relaxed);
    }

    pub fn split(&self, split: bool) {
        self.split.store(u64::from(split), Relaxed);
    }

    pub fn render(&self, o: &mut String) {
        let rtt = self.rtt_micros.load(Relaxed) as f64 / 1e6;
        for (name, kind, help, value) in [
            (
                "netkit_chat_cluster_nodes",
                "gauge",
                "Nodes of the cluster with a live heartbeat.",
                self.nodes.load(Relaxed).to_string(),
            ),
            (
                "netkit_chat_cluster_split",
                "gauge",
                "1 while this node cannot reach Redis.",
                self.split.load(Relaxed).to_string(),
            ),
            (
                "netkit_chat_redis_round_trip_seconds",
                "gauge",
                "The last round trip to Redis.",
                rtt.to_string(),
            ),
            (
                "netkit_chat_cluster_events_published_total",
                "counter",
                "Log entries this node wrote.",
                self.published.load(Relaxed).to_string(),
            ),
            (
                "netkit_chat_cluster_events_consumed_total",
                "counter",
                "Log entries this node applied.",
                self.consumed.load(Relaxed).to_string(),
            ),
            (
                "netkit_chat_cluster_resyncs_total",
                "counter",
                "Times this node reloaded the state from a snapshot after joining.",
                self.resyncs.load(Relaxed).to_string(),
            ),
            (
                "netkit_chat_redis_errors_total",
                "counter",
                "Redis commands that failed.",
                self.redis_errors.load(Relaxed).to_string(),
            ),
        ] {
            header(o, name, kind, help);
            let _ = writeln!(o, "{name} {value}");
        }
    }
}
