//! Counters a chat server keeps about itself, and their Prometheus text form
//! (served at `/metrics`). Plain atomics: every update is one relaxed add, so
//! counting costs the hot paths nothing measurable.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::cluster::ClusterMetrics;

/// How a client reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Tls,
    WebSocket,
}

impl Transport {
    const ALL: [Transport; 3] = [Transport::Tcp, Transport::Tls, Transport::WebSocket];

    fn label(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::WebSocket => "websocket",
        }
    }
}

/// Why a client was disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disconnect {
    /// QUIT, or the client closed the connection.
    Quit,
    /// Its send queue overflowed.
    Sendq,
    /// Silent through a PING, or never registered.
    Timeout,
    /// A read or write failed.
    Error,
    /// An operator's KILL.
    Killed,
    /// Refused at registration (a wrong password).
    Refused,
    /// The server shut down.
    Shutdown,
}

impl Disconnect {
    const ALL: [Disconnect; 7] = [
        Disconnect::Quit,
        Disconnect::Sendq,
        Disconnect::Timeout,
        Disconnect::Error,
        Disconnect::Killed,
        Disconnect::Refused,
        Disconnect::Shutdown,
    ];

    fn label(self) -> &'static str {
        match self {
            Disconnect::Quit => "quit",
            Disconnect::Sendq => "sendq",
            Disconnect::Timeout => "timeout",
            Disconnect::Error => "error",
            Disconnect::Killed => "killed",
            Disconnect::Refused => "refused",
            Disconnect::Shutdown => "shutdown",
        }
    }
}

/// Upper bounds of the history commit latency buckets, in seconds.
const COMMIT_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

/// Everything counted. One per server, shared by reference.
#[derive(Default)]
pub(crate) struct Metrics {
    connected: [AtomicI64; 3],
    disconnects: [AtomicU64; 7],
    /// PRIVMSG and NOTICE the hub accepted.
    messages: AtomicU64,
    /// Copies of them queued for receivers.
    deliveries: AtomicU64,
    history_rows: AtomicU64,
    history_commits: AtomicU64,
    history_failures: AtomicU64,
    commit_micros: AtomicU64,
    commit_buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    /// In a cluster, its figures.
    cluster: OnceLock<Arc<ClusterMetrics>>,
}

impl Metrics {
    /// Adds the cluster's figures to what [`render`](Metrics::render) shows.
    pub fn with_cluster(&self, cluster: Arc<ClusterMetrics>) {
        let _ = self.cluster.set(cluster);
    }

    pub fn connected(&self, transport: Transport) {
        self.connected[transport as usize].fetch_add(1, Relaxed);
    }

    pub fn disconnected(&self, transport: Transport, why: Disconnect) {
        self.connected[transport as usize].fetch_sub(1, Relaxed);
        self.disconnects[why as usize].fetch_add(1, Relaxed);
    }

    /// One message accepted, and queued for `receivers` clients.
    pub fn relayed(&self, receivers: usize) {
        self.messages.fetch_add(1, Relaxed);
        self.deliveries.fetch_add(receivers as u64, Relaxed);
    }

    /// One history commit of `rows` messages that took `took`.
    pub fn committed(&self, rows: usize, took: Duration, ok: bool) {
        if ok {
            self.history_rows.fetch_add(rows as u64, Relaxed);
        } else {
            self.history_failures.fetch_add(1, Relaxed);
        }
        self.history_commits.fetch_add(1, Relaxed);
        self.commit_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
        let seconds = took.as_secs_f64();
        if let Some(bucket) = COMMIT_BUCKETS.iter().position(|&le| seconds <= le) {
            self.commit_buckets[bucket].fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition, with `channels`, a gauge read from the
    /// hub.
    pub fn render(&self, channels: usize) -> String {
        let mut out = String::new();
        let o = &mut out;
        header(
            o,
            "netkit_chat_clients",
            "gauge",
            "Connected clients, by transport.",
        );
        for transport in Transport::ALL {
            let value = self.connected[transport as usize].load(Relaxed);
            let label = transport.label();
            let _ = writeln!(o, "netkit_chat_clients{{transport=\"{label}\"}} {value}");
        }
        header(o, "netkit_chat_channels", "gauge", "Channels with members.");
        let _ = writeln!(o, "netkit_chat_channels {channels}");
        for (name, help, value) in [
            (
                "messages",
                "PRIVMSG and NOTICE messages relayed.",
                &self.messages,
            ),
            (
                "deliveries",
                "Copies of messages queued for receivers.",
                &self.deliveries,
            ),
            (
                "history_writes",
                "Messages committed to the history store.",
                &self.history_rows,
            ),
            (
                "history_failures",
                "History commits that failed (their messages were refused).",
                &self.history_failures,
            ),
        ] {
            let name = format!("netkit_chat_{name}_total");
            header(o, &name, "counter", help);
            let _ = writeln!(o, "{name} {}", value.load(Relaxed));
        }
        header(
            o,
            "netkit_chat_disconnects_total",
            "counter",
            "Clients disconnected, by reason.",
        );
        for why in Disconnect::ALL {
            let value = self.disconnects[why as usize].load(Relaxed);
            let label = why.label();
            let _ = writeln!(
                o,
                "netkit_chat_disconnects_total{{reason=\"{label}\"}} {value}"
            );
        }
        let name = "netkit_chat_history_commit_seconds";
        header(o, name, "histogram", "Time to commit one batch of history.");
        let mut cumulative = 0;
        for (le, count) in COMMIT_BUCKETS.iter().zip(&self.commit_buckets) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let commits = self.history_commits.load(Relaxed);
        let sum = self.commit_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {commits}");
        let _ = writeln!(o, "{name}_sum {sum}\n{name}_count {commits}");
        if let Some(cluster) = self.cluster.get() {
            cluster.render(o);
        }
        out
    }
}

/// `# HELP` and `# TYPE` of one metric family.
pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `prefix`.
    fn sample(text: &str, prefix: &str) -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn counts_render_as_prometheus_text() {
        let metrics = Metrics::default();
        metrics.connected(Transport::Tcp);
        metrics.connected(Transport::WebSocket);
        metrics.connected(Transport::WebSocket);
        metrics.disconnected(Transport::WebSocket, Disconnect::Sendq);
        metrics.relayed(3);
        metrics.relayed(0);
        metrics.committed(2, Duration::from_micros(1500), true);
        metrics.committed(1, Duration::from_secs(3), false);
        let text = metrics.render(4);
        assert_eq!(sample(&text, "netkit_chat_clients{transport=\"tcp\"}"), 1.0);
        assert_eq!(
            sample(&text, "netkit_chat_clients{transport=\"websocket\"}"),
            1.0
        );
        assert_eq!(sample(&text, "netkit_chat_channels "), 4.0);
        assert_eq!(sample(&text, "netkit_chat_messages_total "), 2.0);
        assert_eq!(sample(&text, "netkit_chat_deliveries_total "), 3.0);
        assert_eq!(
            sample(&text, "netkit_chat_disconnects_total{reason=\"sendq\"}"),
            1.0
        );
        assert_eq!(sample(&text, "netkit_chat_history_writes_total "), 2.0);
        assert_eq!(sample(&text, "netkit_chat_history_failures_total "), 1.0);
        assert_eq!(
            sample(
                &text,
                "netkit_chat_history_commit_seconds_bucket{le=\"0.001\"}"
            ),
            0.0
        );
        assert_eq!(
            sample(
                &text,
                "netkit_chat_history_commit_seconds_bucket{le=\"0.002\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "netkit_chat_history_commit_seconds_bucket{le=\"+Inf\"}"
            ),
            2.0
        );
        assert_eq!(
            sample(&text, "netkit_chat_history_commit_seconds_count"),
            2.0
        );
        // Every sample belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }
}
