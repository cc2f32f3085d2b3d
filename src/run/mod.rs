//! Runs one parsed subcommand on top of the library: a file per capability.

mod bench;
mod chat;
mod echo;
mod fetch;

use std::process::ExitCode;

use anyhow::Result;

use netkit::bench::echo::BenchError;
use netkit::net;

use crate::cli::{BenchCommand, ChatCommand, Command, EchoCommand};

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

/// Bad usage or input found before any work started (an unreadable file named
/// on the command line, a database that cannot be opened): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// 2 for bad usage or input (including an address that cannot be bound), 1 for
/// work that ran and failed.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<net::BindError>()
            || cause.is::<net::UnitError>()
            || cause.is::<UsageError>()
            || cause.is::<netkit::fetch::BuildError>()
            || matches!(
                cause.downcast_ref::<BenchError>(),
                Some(BenchError::Settings(_))
            )
    });
    if usage { 2 } else { 1 }
}

pub async fn command(command: Command) -> Result<ExitCode> {
    match command {
        Command::Echo(EchoCommand::Serve(args)) => echo::serve(args).await,
        Command::Echo(EchoCommand::Send(args)) => echo::send(args).await,
        Command::Connect(args) => echo::connect(args).await,
        Command::Bench(BenchCommand::Echo(args)) => bench::echo(args).await,
        Command::Bench(BenchCommand::Chat(args)) => bench::chat(args).await,
        Command::Fetch(args) => fetch::fetch(args).await,
        Command::Chat(ChatCommand::Serve(args)) => chat::serve(*args).await,
        Command::Chat(ChatCommand::Join(args)) => chat::join(args).await,
    }
}
