//! The ready line: how scripts and tests learn that a server accepts traffic, and on
//! which address (port 0 is allowed everywhere).

use std::io::Write;
use std::net::SocketAddr;

/// Prints `listening KIND ADDR` on stdout and flushes it. Call it once per bound
/// socket, after the socket accepts traffic. Kinds: `tcp`, `udp`, `irc`, `ircs`, `http`.
pub fn announce(kind: &str, addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not stop a server: the line is a courtesy to the caller.
    let _ = writeln!(out, "listening {kind} {addr}");
    let _ = out.flush();
}
