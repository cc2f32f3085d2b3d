//! Chat: an IRC server (RFC 1459/2812 core) with channels, built for fan-out.
//!
//! How the pieces fit:
//! - [`irc`]: messages, line framing, case mapping, numerics; no I/O.
//! - `connection`: the TCP and TLS transports, socket to lines and back;
//!   `lines` reads lines without a buffer per idle connection.
//! - `session`: one client's state machine; commands become `event::Event`s.
//! - `hub`: shared state (nicks, channels, members, topics); applies events and
//!   fans out, serializing each line once.
//! - `outbound`: one bounded queue and one writer per client; a full queue
//!   disconnects that client (`SendQ exceeded`), never slows the sender.
//! - [`history`]: the store channel messages are committed to before delivery.
//! - `limits`: every per-client bound and what happens at it.
//! - `welcome`: the registration burst (001-005, ISUPPORT) and the MOTD.
//! - `about`: what the server says about itself (VERSION, TIME, INFO, ADMIN, HELP).
//! - `server`: accept loops, the client limit, graceful shutdown.
//! - [`client`]: `chat join`, the terminal client for any IRC server.

mod about;
mod caps;
mod chathistory;
pub mod client;
pub mod clock;
pub mod cluster;
mod config;
mod connection;
mod event;
mod flood;
pub mod history;
mod hub;
pub mod irc;
mod limits;
mod lines;
mod metrics;
mod mode;
mod outbound;
mod server;
mod session;
pub mod web;
mod welcome;

pub use config::{ChatConfig, FloodLimit};
pub use server::{ChatServer, Listener, Summary};
pub use web::WebConfig;
