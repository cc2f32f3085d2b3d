//! What happened to one URL: the [`Outcome`] that `fetch_all` yields, and the
//! kinds of failure, named the way the report and the summary show them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::sink::Spool;

/// Why a URL failed. Serialized in snake case (`too_large`) in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not a URL, or not an http/https one.
    InvalidUrl,
    /// Resolving the host or connecting failed (refused, unreachable, TLS).
    Connect,
    /// No response, or no body data, within the timeout.
    Timeout,
    /// The server answered with a status outside 2xx.
    Status,
    /// The connection broke while the response was being read.
    Transfer,
    /// A redirect loop, or more redirects than allowed.
    Redirect,
    /// The body is larger than `max_size`.
    TooLarge,
    /// The body could not be written where it belongs.
    Io,
    /// The run was cancelled before this URL finished.
    Cancelled,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::Transfer => "transfer",
            Self::Redirect => "redirect",
            Self::TooLarge => "too_large",
            Self::Io => "io",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure: its kind and a sentence saying what went wrong
/// (`connection refused`, `HTTP 404 Not Found`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result for one input URL. Every URL given to `fetch_all` yields exactly one.
#[derive(Debug)]
pub struct Outcome {
    /// Position in the input, from 0.
    pub index: u64,
    /// The URL as given.
    pub url: String,
    /// Where the last response came from, after redirects.
    pub final_url: Option<String>,
    /// The last HTTP status received, if any.
    pub status: Option<u16>,
    /// Body bytes received (after content decoding); with a resumed download,
    /// the whole file's size.
    pub bytes: u64,
    /// From the first attempt's start to the end.
    pub elapsed: Duration,
    /// Requests made (0 for an invalid URL or a file already complete).
    pub attempts: u32,
    /// `None` on success.
    pub failure: Option<Failure>,
    /// With an output directory: the file written (on success), or where it
    /// would have gone.
    pub path: Option<PathBuf>,
    /// Without an output directory: the body, on success.
    pub body: Option<Spool>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// A failed outcome that made no request.
    pub(crate) fn failed_early(index: u64, url: String, failure: Failure) -> Self {
        Self {
            index,
            url,
            final_url: None,
            status: None,
            bytes: 0,
            elapsed: Duration::ZERO,
            attempts: 0,
            failure: Some(failure),
            path: None,
            body: None,
        }
    }
}
