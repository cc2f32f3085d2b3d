//! `bench echo` and `bench chat`: the library's load generators, a live line on a
//! terminal, Ctrl-C for partial results, and the report.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use netkit::bench::Progress;
use netkit::bench::chat::{ChatBench, Transport};
use netkit::bench::echo::{BenchError, EchoBench, Mode};
use netkit::net;

use crate::cli::{BenchChatArgs, BenchEchoArgs};

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
        threads: args.run.threads.unwrap_or_else(default_threads),
        server_pid: args.server_pid,
    };
    let report = drive("operations", move |stop, progress| {
        bench.run(stop, Some(progress))
    })
    .await?;
    print_report(args.run.json, &report, || report.to_text())?;
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

pub async fn chat(args: BenchChatArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    let mut targets = Vec::with_capacity(args.addrs.len());
    for addr in &args.addrs {
        targets.push(resolve(addr).await?);
    }
    let bench = ChatBench {
        targets,
        transport: if args.ws {
            Transport::WebSocket
        } else {
            Transport::Tcp
        },
        clients: args.clients,
        senders: if args.idle { 0 } else { args.senders },
        channel: args.channel,
        rate: args.rate,
        size: usize::try_from(args.size).unwrap_or(usize::MAX),
        duration: args.duration,
        window: args.window,
        grace: args.grace,
        threads: args.run.threads.unwrap_or_else(default_threads),
        server_pids: args.server_pids,
        idle: args.idle,
        setup_parallel: args.setup_parallel,
        members: args.members,
    };
    let report = drive("deliveries", move |stop, progress| {
        bench.run(stop, Some(progress))
    })
    .await?;
    print_report(args.run.json, &report, || report.to_text())?;
    if report.joined < report.clients {
        eprintln!(
            "netkit: only {} of {} clients registered and joined {}",
            report.joined, report.clients, report.channel
        );
        return Ok(ExitCode::from(1));
    }
    if report.idle {
        if !report.errors.is_empty() {
            eprintln!(
                "netkit: idle clients failed: {}",
                netkit::bench::describe_errors(&report.errors)
            );
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(failure) = report.verification_failure() {
        eprintln!("netkit: {failure}");
        return Ok(ExitCode::from(1));
    }
    if report.deliveries == 0 {
        eprintln!(
            "netkit: no message was delivered by {}",
            report.targets.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a benchmark on a blocking thread until it returns its report. On a
/// terminal, stderr shows a live line (`live` gets the seconds elapsed); Ctrl-C
/// (or SIGTERM) ends the run early, and the report covers what was measured.
async fn drive<R, F>(unit: &str, bench: F) -> Result<R>
where
    R: Send + 'static,
    F: FnOnce(CancellationToken, &Progress) -> Result<R, BenchError> + Send + 'static,
{
    let progress = Arc::new(Progress::default());
    let stop = CancellationToken::new();
    let mut run = tokio::task::spawn_blocking({
        let (stop, progress) = (stop.clone(), progress.clone());
        move || bench(stop, &progress)
    });
    let on_terminal = std::io::stderr().is_terminal();
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut signalled = std::pin::pin!(net::shutdown_signal());
    let report = loop {
        tokio::select! {
            report = &mut run => break report.context("the benchmark stopped unexpectedly")??,
            _ = &mut signalled, if !stop.is_cancelled() => stop.cancel(),
            _ = tick.tick(), if on_terminal => {
                let secs = started.elapsed().as_secs_f64();
                let n = progress.count();
                eprint!("\r  {secs:5.1}s  {n} {unit}  {:.0}/s   ", n as f64 / secs.max(1e-3));
            }
        }
    };
    if on_terminal {
        eprint!("\r\x1b[2K");
    }
    Ok(report)
}

/// The report on stdout: one JSON object, or its text form.
fn print_report<R: Serialize>(json: bool, report: &R, text: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", text());
    }
    Ok(())
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

async fn resolve(addr: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("cannot resolve {addr}: no address found"))
}
