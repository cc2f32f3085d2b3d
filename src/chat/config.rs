//! What a chat server is told at start: its names, its limits, its password.

use std::time::Duration;

pub use super::flood::FloodLimit;

/// Settings of a [`ChatServer`](super::ChatServer).
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// The server's name: the source of its numerics and notices.
    pub server_name: String,
    /// The network name announced in ISUPPORT (`NETWORK=`) and the welcome.
    pub network: String,
    /// When set, clients must send this with PASS before registering (464 otherwise).
    pub password: Option<String>,
    /// IRC operator credentials (OPER name and password).
    pub opers: Vec<(String, String)>,
    /// Message of the day, one entry per line; `None` answers 422.
    pub motd: Option<Vec<String>>,
    /// Connections served at once, registered or not; one more is sent an ERROR
    /// and closed at once.
    pub max_clients: usize,
    /// Bytes queued for one client before it is disconnected with
    /// `ERROR :SendQ exceeded`.
    pub sendq: usize,
    /// How fast one client's lines are read; `None` reads them as they come
    /// (for benchmarks and trusted clients).
    pub flood: Option<FloodLimit>,
    /// A connection that has not registered within this long is closed.
    pub registration_timeout: Duration,
    /// A registered client silent for this long is sent a PING; silent for as long
    /// again, it is disconnected (`Ping timeout`).
    pub ping_interval: Duration,
    /// Once a connection starts closing (or the server shuts down), how long its
    /// last lines may take to leave before it is dropped.
    pub grace: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            server_name: "netkit.local".to_string(),
            network: "netkit".to_string(),
            password: None,
            opers: Vec::new(),
            motd: None,
            max_clients: 10_000,
            sendq: 1 << 20,
            flood: Some(FloodLimit::default()),
            registration_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(60),
            grace: Duration::from_secs(5),
        }
    }
}
