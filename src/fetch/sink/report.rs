//! The JSON-lines report: one object per URL, written as each completes.
//!
//! Fields (a documented contract, README "fetch"): `url`, `final_url`, `status`,
//! `bytes`, `ms`, `attempts`, `error` (a kind such as `timeout`, or null),
//! `message` (what went wrong, or null), `path` (the file written, or null).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::fetch::Outcome;

#[derive(Serialize)]
struct Record<'a> {
    url: &'a str,
    final_url: Option<&'a str>,
    status: Option<u16>,
    bytes: u64,
    ms: u64,
    attempts: u32,
    error: Option<&'static str>,
    message: Option<&'a str>,
    path: Option<&'a Path>,
}

/// Buffered: call [`ReportWriter::flush`] when no other outcome is waiting, so a
/// burst of completions costs one write and an idle moment leaves the file
/// up to date.
pub struct ReportWriter<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> ReportWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: BufWriter::new(out),
        }
    }

    pub fn write(&mut self, outcome: &Outcome) -> io::Result<()> {
        let record = Record {
            url: &outcome.url,
            final_url: outcome.final_url.as_deref(),
            status: outcome.status,
            bytes: outcome.bytes,
            ms: u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
            attempts: outcome.attempts,
            error: outcome.failure.as_ref().map(|f| f.kind.as_str()),
            message: outcome.failure.as_ref().map(|f| f.message.as_str()),
            path: outcome.path.as_deref(),
        };
        serde_json::to_writer(&mut self.out, &record)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
