//! Runs one parsed subcommand on top of the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use netkit::bench::echo::{BenchError, EchoBench, Mode, Progress};
use netkit::echo::{ConnectOptions, EchoConfig, EchoServer};
use netkit::net;

use crate::cli::{
    BenchCommand, BenchEchoArgs, Command, ConnectArgs, EchoCommand, EchoSendArgs, EchoServeArgs,
};

/// The echo port of the asyncio tutorials.
const DEFAULT_ECHO_ADDR: &str = "127.0.0.1:8888";

/// One worker per CPU this process may use; a single CPU gets the cheaper
/// single-threaded scheduler.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cpus)
            .enable_all()
            .build()
    }
}

/// 2 for bad usage or input (including an address that cannot be bound), 1 for
/// work that ran and failed.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<net::BindError>()
            || cause.is::<net::UnitError>()
            || matches!(
                cause.downcast_ref::<BenchError>(),
                Some(BenchError::Settings(_))
            )
    });
    if usage { 2 } else { 1 }
}

pub async fn command(command: Command) -> Result<ExitCode> {
    match command {
        Command::Echo(EchoCommand::Serve(args)) => echo_serve(args).await,
        Command::Echo(EchoCommand::Send(args)) => echo_send(args).await,
        Command::Connect(args) => connect(args).await,
        Command::Bench(BenchCommand::Echo(args)) => bench_echo(args).await,
    }
}

async fn echo_serve(args: EchoServeArgs) -> Result<ExitCode> {
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
    let summary = server
        .serve(listeners, sockets, net::shutdown_signal())
        .await;
    eprintln!("netkit: {summary}");
    Ok(ExitCode::SUCCESS)
}

async fn echo_send(args: EchoSendArgs) -> Result<ExitCode> {
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

async fn connect(args: ConnectArgs) -> Result<ExitCode> {
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

async fn bench_echo(args: BenchEchoArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    let target = resolve(&args.addr).await?;
    let mode = if args.churn {
        Mode::Churn
    } else if args.idle {
        Mode::Idle
    } else {
        Mode::Pingpong
    };
    let bench = EchoBench {
        target,
        mode,
        connections: args.connections,
        size: usize::try_from(args.size).context("--size is too large")?,
        duration: args.duration,
        rate: args.rate,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        server_pid: args.server_pid,
    };
    let stop = CancellationToken::new();
    let progress = Arc::new(Progress::default());
    let mut run = tokio::task::spawn_blocking({
        let (stop, progress) = (stop.clone(), progress.clone());
        move || bench.run(stop, Some(&progress))
    });
    let live = std::io::stderr().is_terminal();
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut signalled = std::pin::pin!(net::shutdown_signal());
    let report = loop {
        tokio::select! {
            report = &mut run => break report.context("the benchmark stopped unexpectedly")??,
            // Ctrl-C ends the run early; the report covers what was measured.
            _ = &mut signalled, if !stop.is_cancelled() => stop.cancel(),
            _ = tick.tick(), if live => {
                let secs = started.elapsed().as_secs_f64();
                let ops = progress.operations();
                eprint!("\r  {secs:5.1}s  {ops} operations  {:.0}/s   ", ops as f64 / secs.max(1e-3));
            }
        }
    };
    if live {
        eprint!("\r\x1b[2K");
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if report.mismatches > 0 {
        eprintln!(
            "netkit: {} echoes differed from what was sent",
            report.mismatches
        );
        return Ok(ExitCode::from(1));
    }
    if report.operations == 0 {
        eprintln!("netkit: no operation completed against {}", report.target);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn resolve(addr: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("cannot resolve {addr}: no address found"))
}
