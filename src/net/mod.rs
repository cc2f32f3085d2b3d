//! Plumbing shared by every netkit server and tool: binding sockets with errors that
//! name the address, TLS, the ready line, the shutdown signal, human units and OS limits.

mod accept;
mod bind;
mod limits;
mod read;
mod ready;
mod signal;
mod tls;
mod units;

pub use accept::{Accepted, Acceptor};
pub use bind::{BindError, bind_tcp, bind_udp, describe_io_error};
pub use limits::raise_fd_limit;
pub use read::{READ_CHUNK, read_draining, with_read_buffer};
pub use ready::announce;
pub use signal::shutdown_signal;
pub use tls::{HANDSHAKE_TIMEOUT, TlsAcceptor, TlsError, load_certificates, tls_server_config};
pub use units::{UnitError, format_duration, parse_duration, parse_listen_addr, parse_size};
