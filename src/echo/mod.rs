//! RFC 862 echo: a server over TCP and UDP, the one-shot client (`send`) and the
//! interactive netcat-like client (`connect`).

mod connect;
mod send;
mod server;
mod tcp;
mod udp;

pub use connect::{ConnectOptions, connect_tcp, connect_udp};
pub use send::{SendError, send_tcp, send_udp};
pub use server::{EchoConfig, EchoServer, Summary};

/// The largest payload a UDP datagram can carry over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;
