//! The end-of-run summary: counts, bytes, rate, and failures by kind. Printed as
//! a sentence on stderr, or (`--json`) as one object whose fields are a
//! documented contract (README, "fetch").

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::outcome::{ErrorKind, Outcome};
use super::sink::format_bytes;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// URLs with an outcome (every URL read).
    pub urls: u64,
    pub succeeded: u64,
    /// Failed for a reason other than cancellation.
    pub failed: u64,
    pub cancelled: u64,
    /// Body bytes of the successful URLs.
    pub bytes: u64,
    pub elapsed_s: f64,
    pub urls_per_s: f64,
    /// Failures by kind (`timeout`, `status`, ...), cancellations included.
    pub errors: BTreeMap<ErrorKind, u64>,
}

impl Summary {
    pub fn add(&mut self, outcome: &Outcome) {
        self.urls += 1;
        match &outcome.failure {
            None => {
                self.succeeded += 1;
                self.bytes += outcome.bytes;
            }
            Some(failure) => {
                if failure.kind == ErrorKind::Cancelled {
                    self.cancelled += 1;
                } else {
                    self.failed += 1;
                }
                *self.errors.entry(failure.kind).or_default() += 1;
            }
        }
    }

    pub fn finish(&mut self, elapsed: Duration) {
        self.elapsed_s = elapsed.as_secs_f64();
        self.urls_per_s = self.urls as f64 / self.elapsed_s.max(1e-6);
    }

    pub fn all_succeeded(&self) -> bool {
        self.succeeded == self.urls
    }

    /// `fetched 98 of 100 URLs (5.1 MiB) in 1.23s, 81.3 URLs/s; failed: 1 status, 1 timeout`
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "fetched {} of {} URLs ({}) in {}, {:.1} URLs/s",
            self.succeeded,
            self.urls,
            format_bytes(self.bytes),
            crate::net::format_duration(Duration::from_secs_f64(self.elapsed_s)),
            self.urls_per_s
        );
        if !self.errors.is_empty() {
            let kinds: Vec<String> = self
                .errors
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            text.push_str("; not fetched: ");
            text.push_str(&kinds.join(", "));
        }
        text
    }
}
