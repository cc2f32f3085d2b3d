//! The live progress bar on stderr: URLs done of those read so far, failures,
//! bytes, rate and ETA. Only on a terminal: pipes and logs get nothing of it.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fetcher::Progress;
use super::sink::format_bytes;

pub struct ProgressBar {
    bar: indicatif::ProgressBar,
    counters: Arc<Progress>,
    started: Instant,
    failed: u64,
}

impl ProgressBar {
    /// A bar drawn on stderr, or `None` when stderr is not a terminal.
    pub fn on_terminal(counters: Arc<Progress>) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        let style =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} URLs, {msg}, ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(Self {
            bar,
            counters,
            started: Instant::now(),
            failed: 0,
        })
    }

    /// URLs read from the input so far.
    pub fn set_total(&self, urls: u64) {
        self.bar.set_length(urls);
    }

    /// Runs `write` with the bar hidden, for output to the same terminal.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        self.bar.suspend(write)
    }

    pub fn url_done(&mut self, succeeded: bool) {
        if !succeeded {
            self.failed += 1;
        }
        self.bar.inc(1);
        self.refresh();
    }

    /// Updates the byte count and rate.
    pub fn refresh(&self) {
        let bytes = self.counters.bytes();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{} failed, {}, {}/s",
            self.failed,
            format_bytes(bytes),
            format_bytes((bytes as f64 / secs) as u64)
        ));
    }

    /// Prints a line above the bar.
    pub fn println(&self, line: &str) {
        self.bar.println(line);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
