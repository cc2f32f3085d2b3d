//! `chat join`: a plain, line-oriented terminal IRC client that works against
//! netkit's server and any other. It reads the keyboard (any `AsyncBufRead`) and
//! the server at the same time and writes one line per event (any `AsyncWrite`),
//! so it works the same in a terminal, a pipe or a test.
//!
//! - `command`: what the user types, parsed into messages (pure).
//! - `display`: how server lines are printed (pure).
//! - `registration`: PASS/NICK/USER and the replies before the welcome (pure).
//! - `input`: the user's lines, bounded, bad bytes replaced.
//! - `clock`: the local `HH:MM` in front of each line.
//! - `transport`: TCP or TLS.
//! - `session`: the loop that ties them together.

mod clock;
mod command;
mod display;
mod input;
mod registration;
mod session;
mod transport;

use std::io;
use std::time::Duration;

pub use command::COMMANDS_HELP;
pub use registration::Refusal;
pub use session::join;
pub use transport::TlsOptions;

use crate::chat::irc::{CHANNEL_MAX_LEN, NICK_MAX_LEN, is_valid_channel, is_valid_nick};
use crate::net::describe_io_error;

/// Everything `join` needs.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    /// `HOST:PORT`.
    pub addr: String,
    /// The nick to ask for; `_` is appended while it is taken.
    pub nick: String,
    /// Channels to join once registered; the last one becomes the current one.
    pub channels: Vec<String>,
    /// Sent with PASS before registering.
    pub password: Option<String>,
    /// Connect through TLS.
    pub tls: Option<TlsOptions>,
    /// How long connecting and registering may take.
    pub timeout: Duration,
}

/// Why `join` ended without the user asking.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("cannot connect to {addr}: {}", describe_io_error(.cause))]
    Connect { addr: String, cause: io::Error },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: String },
    /// The CA certificates given cannot be used: bad input.
    #[error("{0}")]
    Certificates(String),
    #[error("{addr}: {refusal}")]
    Refused { addr: String, refusal: Refusal },
    #[error("no welcome from {addr} within {}", crate::net::format_duration(*.after))]
    NoWelcome { addr: String, after: Duration },
    #[error("connection to {addr} lost: {reason}")]
    Lost { addr: String, reason: String },
    #[error("cannot read standard input: {}", describe_io_error(.0))]
    Input(io::Error),
    #[error("cannot write the output: {}", describe_io_error(.0))]
    Output(io::Error),
}

impl JoinError {
    /// Whether the user's input is to blame (exit code 2): unusable certificates,
    /// or a nickname the server refuses.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            JoinError::Certificates(_)
                | JoinError::Refused {
                    refusal: Refusal::Nick { .. },
                    ..
                }
        )
    }
}

/// The IRC ports: plain and TLS.
pub const DEFAULT_PORT: u16 = 6667;
pub const DEFAULT_TLS_PORT: u16 = 6697;

/// Checks a server address: `HOST:PORT`, `[IPv6]:PORT`, or `HOST` alone (the
/// port is then added by [`with_default_port`]).
pub fn parse_server_addr(text: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("invalid server address {text:?}: {why}"));
    let (host, port) = match text.rsplit_once(':') {
        // `::1` alone: an IPv6 address without brackets or port.
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => (text, None),
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return bad("expected HOST:PORT");
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return bad("the port must be a number from 1 to 65535");
    }
    Ok(text.to_string())
}

/// `addr` with the IRC port added when it names none.
pub fn with_default_port(addr: &str, tls: bool) -> String {
    let port = if tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT };
    match addr.rsplit_once(':') {
        _ if addr.starts_with('[') && addr.ends_with(']') => format!("{addr}:{port}"),
        Some((host, _)) if !host.contains(':') || host.ends_with(']') => addr.to_string(),
        _ if addr.contains(':') => format!("[{addr}]:{port}"),
        _ => format!("{addr}:{port}"),
    }
}

/// Checks a nickname against RFC 2812's grammar.
pub fn parse_nick(text: &str) -> Result<String, String> {
    if is_valid_nick(text, NICK_MAX_LEN) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "invalid nickname {text:?}: a letter or one of []\\`_^{{|}} first, then letters, digits, those or '-', at most {NICK_MAX_LEN} characters"
        ))
    }
}

/// Checks a channel name; `rust` means `#rust`.
pub fn parse_channel(text: &str) -> Result<String, String> {
    let name = if text.starts_with(['#', '&']) {
        text.to_string()
    } else {
        format!("#{text}")
    };
    if is_valid_channel(&name, CHANNEL_MAX_LEN) {
        Ok(name)
    } else {
        Err(format!(
            "invalid channel {text:?}: no spaces, commas or colons, at most {CHANNEL_MAX_LEN} characters"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for good in [
            "127.0.0.1:6667",
            "irc.example.net:6697",
            "[::1]:6667",
            "localhost",
            "::1",
        ] {
            assert_eq!(parse_server_addr(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            ":6667",
            "host:",
            "host:0",
            "host:99999",
            "host:abc",
            "a b:1",
        ] {
            assert!(parse_server_addr(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(with_default_port("localhost", false), "localhost:6667");
        assert_eq!(with_default_port("localhost", true), "localhost:6697");
        assert_eq!(with_default_port("host:7000", true), "host:7000");
        assert_eq!(with_default_port("[::1]:7000", false), "[::1]:7000");
        assert_eq!(with_default_port("::1", false), "[::1]:6667");
        assert_eq!(with_default_port("[::1]", false), "[::1]:6667");
    }

    #[test]
    fn nicks_and_channels() {
        assert_eq!(parse_nick("alice").as_deref(), Ok("alice"));
        assert_eq!(parse_nick("[bot]-2").as_deref(), Ok("[bot]-2"));
        for bad in [
            "",
            "9lives",
            "has space",
            "a!b",
            &"n".repeat(NICK_MAX_LEN + 1),
        ] {
            assert!(parse_nick(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_channel("rust").as_deref(), Ok("#rust"));
        assert_eq!(parse_channel("&local").as_deref(), Ok("&local"));
        assert!(parse_channel("#a,b").is_err());
        assert!(parse_channel("#").is_err());
    }
}
