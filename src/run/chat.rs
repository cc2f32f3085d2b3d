//! `chat serve`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use netkit::chat::history::SqliteHistory;
use netkit::chat::{ChatConfig, ChatServer};
use netkit::net;

use super::UsageError;
use crate::cli::ChatServeArgs;

/// The IRC port of every tutorial.
const DEFAULT_IRC_ADDR: &str = "127.0.0.1:6667";

pub async fn serve(args: ChatServeArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    // Before binding: a database that cannot be opened means no ready line.
    // Opening may block on the disk, so not on the runtime.
    let (db, limit) = (args.db.clone(), args.history_limit);
    let history = tokio::task::spawn_blocking(move || SqliteHistory::open(&db, limit))
        .await
        .context("opening the history database")?
        .map_err(|err| UsageError(err.0))?;
    let mut addrs = args.irc;
    if addrs.is_empty() {
        addrs.push(DEFAULT_IRC_ADDR.parse().expect("valid default address"));
    }
    let mut listeners = Vec::new();
    for addr in addrs {
        listeners.push(net::bind_tcp(addr, args.backlog).await?);
    }
    // Handlers first: once the ready line is out, SIGTERM must mean a graceful stop.
    let shutdown = net::shutdown_signal();
    for listener in &listeners {
        net::announce("irc", listener.local_addr()?);
    }
    let server = ChatServer::with_history(
        ChatConfig {
            server_name: args.server_name,
            password: args.password,
            opers: args.oper,
            motd: args.motd.map(|motd| motd.0),
            max_clients: args.max_clients as usize,
            sendq: args.sendq,
            flood: args.flood.0,
            ping_interval: args.ping_interval,
            ..ChatConfig::default()
        },
        Box::new(history),
    )
    .context("cannot start the history thread")?;
    let summary = server.serve(listeners, shutdown).await;
    eprintln!("netkit: {summary}");
    Ok(ExitCode::SUCCESS)
}
