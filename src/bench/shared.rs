//! What every load generator shares: live progress counters and errors counted
//! by kind (a map, so memory stays bounded in an error storm).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// A live view of progress for a display: operations done so far. Each worker
/// counts on its own counter; readers add them up.
#[derive(Default)]
pub struct Progress {
    per_worker: Mutex<Vec<Arc<AtomicU64>>>,
}

impl Progress {
    /// Operations (round trips, connections, deliveries) done so far.
    pub fn count(&self) -> u64 {
        let counters = self.per_worker.lock().unwrap_or_else(|e| e.into_inner());
        counters.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Starts following the workers' counters.
    pub(crate) fn follow(&self, counters: &[Arc<AtomicU64>]) {
        *self.per_worker.lock().unwrap_or_else(|e| e.into_inner()) = counters.to_vec();
    }
}

/// Errors by kind, e.g. `connection refused: 3`.
pub type ErrorCounts = BTreeMap<String, u64>;

pub(crate) fn merge_errors(into: &mut ErrorCounts, from: ErrorCounts) {
    for (kind, n) in from {
        *into.entry(kind).or_default() += n;
    }
}

/// `none`, or `kind: n, kind: n` for the text reports.
pub(crate) fn describe_errors(errors: &ErrorCounts) -> String {
    if errors.is_empty() {
        return "none".to_string();
    }
    let list: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_merge_and_read_as_a_list() {
        let mut total = ErrorCounts::new();
        assert_eq!(describe_errors(&total), "none");
        merge_errors(&mut total, [("timed out".to_string(), 2)].into());
        merge_errors(
            &mut total,
            [
                ("timed out".to_string(), 1),
                ("connection refused".to_string(), 4),
            ]
            .into(),
        );
        assert_eq!(
            describe_errors(&total),
            "connection refused: 4, timed out: 3"
        );
    }

    #[test]
    fn progress_adds_the_workers_counters() {
        let progress = Progress::default();
        let counters = vec![Arc::new(AtomicU64::new(2)), Arc::new(AtomicU64::new(5))];
        progress.follow(&counters);
        counters[0].fetch_add(1, Relaxed);
        assert_eq!(progress.count(), 8);
    }
}
