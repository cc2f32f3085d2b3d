//! The chat benchmark's report: one JSON object (`--json`, a documented contract:
//! README, "bench chat") or the text form.

use serde::Serialize;

use crate::bench::Latency;
use crate::bench::shared::{ErrorCounts, describe_errors};

#[derive(Debug, Clone, Serialize)]
pub struct ChatReport {
    /// The first server address (the only one, usually).
    pub target: String,
    /// Every server address, in the order clients were assigned to them.
    pub targets: Vec<String>,
    pub channel: String,
    /// Idle mode: the clients were only held, nothing was sent.
    pub idle: bool,
    /// Clients asked for.
    pub clients: usize,
    /// Clients that registered and joined.
    pub joined: usize,
    pub senders: usize,
    /// Bytes of message text.
    pub size: usize,
    pub rate: Option<f64>,
    /// The window, when unpaced; None with a rate.
    pub window: Option<usize>,
    /// Seconds spent connecting, registering and joining.
    pub setup_s: f64,
    /// Seconds the senders sent.
    pub duration_s: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    /// Deliveries owed: each line sent, times every joined client but its sender.
    pub expected: u64,
    /// Lines received by a client, each counted once.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    pub losses: u64,
    pub duplicates: u64,
    /// Lines received after a later line of the same sender.
    pub reordered: u64,
    /// Lines to the channel that are not an intact benchmark message.
    pub corrupt: u64,
    pub latency_us: Latency,
    pub errors: ErrorCounts,
    pub client_cpu_us_per_delivery: f64,
    pub server: Option<ServerUsage>,
}

/// The server's CPU time and memory, summed over its processes (the nodes of a
/// cluster, and any process they rely on).
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    /// The first process.
    pub pid: u32,
    pub cpu_us_per_delivery: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// Idle mode: the server's RSS growth, from before the first connect to the
    /// end of the hold, per client that joined.
    pub rss_per_client_bytes: Option<f64>,
    /// Each process on its own, in the order given.
    pub processes: Vec<ProcessUsage>,
}

/// One server process's share of [`ServerUsage`].
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub pid: u32,
    pub cpu_us_per_delivery: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

impl ServerUsage {
    /// `pid 12` or `pids 12, 34`.
    fn pids_text(&self) -> String {
        let pids: Vec<String> = self.processes.iter().map(|p| p.pid.to_string()).collect();
        let noun = if pids.len() == 1 { "pid" } else { "pids" };
        format!("{noun} {}", pids.join(", "))
    }
}

impl ChatReport {
    /// What failed verification, in words; None when every delivery was owed,
    /// intact, once and in order.
    pub fn verification_failure(&self) -> Option<String> {
        let mut faults = Vec::new();
        for (n, what) in [
            (self.losses, "lost"),
            (self.duplicates, "duplicated"),
            (self.reordered, "reordered"),
            (self.corrupt, "corrupt"),
        ] {
            if n > 0 {
                faults.push(format!("{n} {what}"));
            }
        }
        (!faults.is_empty()).then(|| format!("deliveries {}", faults.join(", ")))
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if self.idle {
            return self.idle_text();
        }
        let pace = match (self.rate, self.window) {
            (Some(rate), _) => format!("paced at {rate} lines/s"),
            (None, Some(window)) => format!("saturating, window {window}"),
            (None, None) => "saturating".to_string(),
        };
        let _ = writeln!(
            out,
            "chat bench against {}: {} clients in {}, {} sending {}-byte messages, {pace}, {:.2}s",
            self.targets.join(", "),
            self.clients,
            self.channel,
            self.senders,
            self.size,
            self.duration_s
        );
        let _ = writeln!(
            out,
            "  set-up       {} of {} clients registered and joined in {:.2}s",
            self.joined, self.clients, self.setup_s
        );
        let _ = writeln!(
            out,
            "  sent         {} ({:.0}/s)",
            self.sent, self.sent_per_s
        );
        let _ = writeln!(
            out,
            "  deliveries   {} ({:.0}/s)",
            self.deliveries, self.deliveries_per_s
        );
        let l = &self.latency_us;
        let _ = writeln!(
            out,
            "  latency      p50 {}us  p90 {}us  p99 {}us  p99.9 {}us  max {}us  mean {}us",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(
            out,
            "  losses       {} of {} expected; {} duplicates, {} reordered, {} corrupt",
            self.losses, self.expected, self.duplicates, self.reordered, self.corrupt
        );
        let _ = writeln!(out, "  errors       {}", describe_errors(&self.errors));
        let _ = writeln!(
            out,
            "  client cpu   {}us per delivery",
            self.client_cpu_us_per_delivery
        );
        if let Some(server) = &self.server {
            let _ = writeln!(
                out,
                "  server cpu   {}us per delivery ({}), rss {} KiB -> {} KiB",
                server.cpu_us_per_delivery,
                server.pids_text(),
                server.rss_before_kib,
                server.rss_after_kib
            );
        }
        out
    }

    fn idle_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chat bench against {}: {} idle clients in {}, held {:.2}s",
            self.targets.join(", "),
            self.clients,
            self.channel,
            self.duration_s
        );
        let _ = writeln!(
            out,
            "  set-up       {} of {} clients registered and joined in {:.2}s",
            self.joined, self.clients, self.setup_s
        );
        let _ = writeln!(out, "  errors       {}", describe_errors(&self.errors));
        if let Some(server) = &self.server {
            let per_client = server
                .rss_per_client_bytes
                .map_or("-".to_string(), |b| format!("{b:.0} B"));
            let _ = writeln!(
                out,
                "  server rss   {} KiB -> {} KiB, {per_client} per idle client ({})",
                server.rss_before_kib,
                server.rss_after_kib,
                server.pids_text()
            );
        }
        out
    }
}
