//! The interactive client, like netcat: standard input goes to the socket and the
//! socket goes to standard output at the same time, neither waiting for the other.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::send::{SendError, connected_udp, resolve};

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// UDP only: after input ends, how long to wait for more replies.
    pub linger: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
}

/// TCP: copies `input` to the socket and the socket to `output`. End of input
/// half-closes the socket; returns when the peer closes.
pub async fn connect_tcp(
    addr: &str,
    options: &ConnectOptions,
    mut input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> Result<(), SendError> {
    let target = resolve(addr).await?;
    let connect_err = SendError::connect(addr);
    let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect(target))
        .await
        .map_err(|_| connect_err(io::ErrorKind::TimedOut.into()))?
        .map_err(connect_err)?;
    let _ = stream.set_nodelay(true);
    let (mut from_peer, mut to_peer) = stream.into_split();
    let mut upload = std::pin::pin!(async {
        tokio::io::copy(&mut input, &mut to_peer).await?;
        to_peer.shutdown().await
    });
    let mut download = std::pin::pin!(async {
        tokio::io::copy(&mut from_peer, &mut output).await?;
        output.flush().await
    });
    let io_err = SendError::io(addr);
    tokio::select! {
        done = &mut download => done.map_err(io_err),
        sent = &mut upload => {
            if let Err(err) = sent {
                // The peer may have closed its reading side; what it still sends counts.
                tracing::debug!("sending stopped: {}", crate::net::describe_io_error(&err));
            }
            download.await.map_err(io_err)
        }
    }
}

/// UDP: each line of `input` (with its newline) goes out as one datagram; every
/// datagram that comes back is written to `output`. After input ends, returns once
/// no reply has come for `linger`.
pub async fn connect_udp(
    addr: &str,
    options: &ConnectOptions,
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> Result<(), SendError> {
    let socket = connected_udp(addr).await?;
    let io_err = SendError::io(addr);
    let mut lines = BufReader::new(input);
    let mut line = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut input_open = true;
    loop {
        tokio::select! {
            read = lines.read_until(b'\n', &mut line), if input_open => {
                if read.map_err(io_err)? == 0 {
                    input_open = false;
                    continue;
                }
                for datagram in line.chunks(super::MAX_DATAGRAM) {
                    socket.send(datagram).await.map_err(io_err)?;
                }
                // Cleared only once sent: a read cut short by the other branch
                // leaves its bytes in `line` for the next turn.
                line.clear();
            }
            got = socket.recv(&mut buf) => {
                let n = got.map_err(io_err)?;
                output.write_all(&buf[..n]).await.map_err(io_err)?;
                output.flush().await.map_err(io_err)?;
            }
            _ = tokio::time::sleep(options.linger), if !input_open => return Ok(()),
        }
    }
}
