//! The one-shot client, as the tutorials teach it: connect, send, read the echo,
//! check it, close.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::net::describe_io_error;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot resolve {addr}: {}", describe_io_error(.cause))]
    Resolve { addr: String, cause: io::Error },
    #[error("cannot connect to {addr}: {}", describe_io_error(.cause))]
    Connect { addr: String, cause: io::Error },
    #[error("exchange with {addr} failed: {}", describe_io_error(.cause))]
    Io { addr: String, cause: io::Error },
    #[error("no echo from {addr} within {}", crate::net::format_duration(*.after))]
    Timeout { addr: String, after: Duration },
    #[error("{addr} closed the connection after echoing {got} of {sent} bytes")]
    ClosedEarly {
        addr: String,
        got: usize,
        sent: usize,
    },
    #[error("the echo from {addr} differs from what was sent, first at byte {at}")]
    Mismatch { addr: String, at: usize },
    #[error("a datagram carries at most 65507 bytes, the message has {0}")]
    TooLarge(usize),
}

/// Sends `message` over TCP and returns the echo once all of it is back.
pub async fn send_tcp(addr: &str, message: &[u8], timeout: Duration) -> Result<Vec<u8>, SendError> {
    let exchange = async {
        let target = resolve(addr).await?;
        let mut stream = TcpStream::connect(target)
            .await
            .map_err(SendError::connect(addr))?;
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.split();
        let mut echo = vec![0u8; message.len()];
        // Write and read at once: a large message would otherwise fill both
        // directions' buffers and stall.
        let (wrote, read) =
            tokio::join!(writer.write_all(message), read_full(&mut reader, &mut echo));
        let io_err = SendError::io(addr);
        wrote.map_err(io_err)?;
        let got = read.map_err(io_err)?;
        if got < message.len() {
            return Err(SendError::ClosedEarly {
                addr: addr.to_string(),
                got,
                sent: message.len(),
            });
        }
        check(addr, message, &echo)?;
        let _ = stream.shutdown().await;
        Ok(echo)
    };
    within(addr, timeout, exchange).await
}

/// Sends `message` as one datagram and waits for it to come back.
pub async fn send_udp(addr: &str, message: &[u8], timeout: Duration) -> Result<Vec<u8>, SendError> {
    if message.len() > super::MAX_DATAGRAM {
        return Err(SendError::TooLarge(message.len()));
    }
    let exchange = async {
        let socket = connected_udp(addr).await?;
        let io_err = SendError::io(addr);
        socket.send(message).await.map_err(io_err)?;
        let mut echo = vec![0u8; super::MAX_DATAGRAM + 1];
        let n = socket.recv(&mut echo).await.map_err(|cause| {
            if cause.kind() == io::ErrorKind::ConnectionRefused {
                SendError::Connect {
                    addr: addr.to_string(),
                    cause,
                }
            } else {
                io_err(cause)
            }
        })?;
        echo.truncate(n);
        check(addr, message, &echo)?;
        Ok(echo)
    };
    within(addr, timeout, exchange).await
}

/// A UDP socket connected to `addr`: it only hears from the target, and learns of
/// ICMP "port unreachable" as a refused connection.
pub(crate) async fn connected_udp(addr: &str) -> Result<UdpSocket, SendError> {
    let target = resolve(addr).await?;
    let local = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(local).await.map_err(SendError::io(addr))?;
    socket
        .connect(target)
        .await
        .map_err(SendError::connect(addr))?;
    Ok(socket)
}

impl SendError {
    pub(crate) fn io(addr: &str) -> impl Fn(io::Error) -> SendError + Copy + '_ {
        move |cause| SendError::Io {
            addr: addr.to_string(),
            cause,
        }
    }

    pub(crate) fn connect(addr: &str) -> impl Fn(io::Error) -> SendError + Copy + '_ {
        move |cause| SendError::Connect {
            addr: addr.to_string(),
            cause,
        }
    }
}

pub(crate) async fn resolve(addr: &str) -> Result<std::net::SocketAddr, SendError> {
    let resolve_err = |cause| SendError::Resolve {
        addr: addr.to_string(),
        cause,
    };
    tokio::net::lookup_host(addr)
        .await
        .map_err(resolve_err)?
        .next()
        .ok_or_else(|| resolve_err(io::Error::new(io::ErrorKind::NotFound, "no address found")))
}

async fn within<T>(
    addr: &str,
    timeout: Duration,
    work: impl Future<Output = Result<T, SendError>>,
) -> Result<T, SendError> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(SendError::Timeout {
                addr: addr.to_string(),
                after: timeout,
            })
        })
}

/// Reads until `buf` is full or the peer closes; returns how much was read.
async fn read_full(reader: &mut (impl AsyncReadExt + Unpin), buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]).await? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn check(addr: &str, sent: &[u8], echo: &[u8]) -> Result<(), SendError> {
    let first_difference = sent.iter().zip(echo).position(|(a, b)| a != b);
    match first_difference {
        Some(at) => Err(SendError::Mismatch {
            addr: addr.to_string(),
            at,
        }),
        None if sent.len() != echo.len() => Err(SendError::Mismatch {
            addr: addr.to_string(),
            at: sent.len().min(echo.len()),
        }),
        None => Ok(()),
    }
}
