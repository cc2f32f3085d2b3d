//! `echo serve`, `echo send` and `connect`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use netkit::echo::{ConnectOptions, EchoConfig, EchoServer};
use netkit::net;

use crate::cli::{ConnectArgs, EchoSendArgs, EchoServeArgs};

/// The echo port of the asyncio tutorials.
const DEFAULT_ECHO_ADDR: &str = "127.0.0.1:8888";

pub async fn serve(args: EchoServeArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    let mut tcp_addrs = args.tcp;
    if tcp_addrs.is_empty() && args.udp.is_empty() {
        tcp_addrs.push(DEFAULT_ECHO_ADDR.parse().expect("valid default address"));
    }
    let mut listeners = Vec::new();
    for addr in tcp_addrs {
        listeners.push(net::bind_tcp(addr, args.backlog).await?);
    }
    let mut sockets = Vec::new();
    for addr in args.udp {
        sockets.push(net::bind_udp(addr).await?);
    }
    // Handlers first: once the ready line is out, SIGTERM must mean a graceful stop.
    let shutdown = net::shutdown_signal();
    for listener in &listeners {
        net::announce("tcp", listener.local_addr()?);
    }
    for socket in &sockets {
        net::announce("udp", socket.local_addr()?);
    }
    let server = EchoServer::new(EchoConfig {
        max_connections: args.max_connections as usize,
        idle_timeout: args.idle_timeout,
        grace: args.grace,
    });
    let summary = server.serve(listeners, sockets, shutdown).await;
    eprintln!("netkit: {summary}");
    Ok(ExitCode::SUCCESS)
}

pub async fn send(args: EchoSendArgs) -> Result<ExitCode> {
    let from_argument = args.message.is_some();
    let message = match args.message {
        Some(text) => text.into_bytes(),
        None => {
            let mut input = Vec::new();
            tokio::io::stdin()
                .read_to_end(&mut input)
                .await
                .context("cannot read standard input")?;
            input
        }
    };
    let echo = if args.udp {
        netkit::echo::send_udp(&args.addr, &message, args.timeout).await?
    } else {
        netkit::echo::send_tcp(&args.addr, &message, args.timeout).await?
    };
    let mut out = tokio::io::stdout();
    out.write_all(&echo).await?;
    // A message typed on the command line reads better on a line of its own.
    if from_argument && !echo.ends_with(b"\n") {
        out.write_all(b"\n").await?;
    }
    out.flush().await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn connect(args: ConnectArgs) -> Result<ExitCode> {
    let options = ConnectOptions {
        linger: args.wait,
        connect_timeout: args.timeout,
    };
    let (input, output) = (tokio::io::stdin(), tokio::io::stdout());
    if args.udp {
        netkit::echo::connect_udp(&args.addr, &options, input, output).await?;
    } else {
        netkit::echo::connect_tcp(&args.addr, &options, input, output).await?;
    }
    Ok(ExitCode::SUCCESS)
}
