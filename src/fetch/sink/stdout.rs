//! Results on standard output, the way the asyncio tutorials show each site as
//! it arrives: a header line `==> URL (200, 5.1 KiB, 12 ms)`, then the body.
//! In completion order, or (`ordered`) in input order, each result printed as
//! soon as all those before it are.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::fetch::Outcome;

pub struct Printer {
    ordered: bool,
    /// Ordered: the input position to print next, and the results waiting for it.
    next: u64,
    waiting: BTreeMap<u64, Outcome>,
}

impl Printer {
    pub fn new(ordered: bool) -> Self {
        Self {
            ordered,
            next: 0,
            waiting: BTreeMap::new(),
        }
    }

    /// Prints `outcome`, or keeps it until its turn.
    pub fn push(&mut self, outcome: Outcome, out: &mut impl Write) -> io::Result<()> {
        if !self.ordered {
            return print(outcome, out);
        }
        self.waiting.insert(outcome.index, outcome);
        while let Some(outcome) = self.waiting.remove(&self.next) {
            self.next += 1;
            print(outcome, out)?;
        }
        Ok(())
    }

    /// Prints what is still waiting (after a cancelled run, where some input
    /// positions never produced a result).
    pub fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        for (_, outcome) in std::mem::take(&mut self.waiting) {
            print(outcome, out)?;
        }
        Ok(())
    }
}

/// `==> URL (200, 5.1 KiB, 12 ms)` and the body, or
/// `==> URL (failed: HTTP 404 Not Found, 1 attempt, 3 ms)`.
pub fn header(outcome: &Outcome) -> String {
    let ms = outcome.elapsed.as_millis();
    match &outcome.failure {
        None => match outcome.status {
            Some(status) => format!(
                "==> {} ({status}, {}, {ms} ms)",
                outcome.url,
                format_bytes(outcome.bytes)
            ),
            None => format!(
                "==> {} ({}, {ms} ms)",
                outcome.url,
                format_bytes(outcome.bytes)
            ),
        },
        Some(failure) => {
            let attempts = match outcome.attempts {
                1 => "1 attempt".to_string(),
                n => format!("{n} attempts"),
            };
            format!(
                "==> {} (failed: {failure}, {attempts}, {ms} ms)",
                outcome.url
            )
        }
    }
}

fn print(mut outcome: Outcome, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", header(&outcome))?;
    if let Some(body) = &mut outcome.body {
        body.copy_to(out)?;
        // The next header starts on a line of its own.
        if !body.is_empty() && !body.ends_with_newline()? {
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// `512 B`, `5.1 KiB`, `12.0 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(5 * 1024 + 100), "5.1 KiB");
        assert_eq!(format_bytes(12 << 20), "12.0 MiB");
    }
}
