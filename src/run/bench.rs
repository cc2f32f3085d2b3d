//! `bench echo`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use netkit::bench::echo::{EchoBench, Mode, Progress};
use netkit::net;

use crate::cli::BenchEchoArgs;

pub async fn echo(args: BenchEchoArgs) -> Result<ExitCode> {
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
