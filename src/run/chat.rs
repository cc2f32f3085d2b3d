//! `chat serve`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use netkit::chat::history::SqliteHistory;
use netkit::chat::{ChatConfig, ChatServer, Listener};
use netkit::net::{self, TlsAcceptor};

use super::UsageError;
use crate::cli::ChatServeArgs;

/// The IRC port of every tutorial.
const DEFAULT_IRC_ADDR: &str = "127.0.0.1:6667";

pub async fn serve(args: ChatServeArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    let tls = tls_acceptor(&args)?;
    // Before binding: a database that cannot be opened means no ready line.
    // Opening may block on the disk, so not on the runtime.
    let (db, limit) = (args.db.clone(), args.history_limit);
    let history = tokio::task::spawn_blocking(move || SqliteHistory::open(&db, limit))
        .await
        .context("opening the history database")?
        .map_err(|err| UsageError(err.0))?;
    let mut addrs = args.irc;
    if addrs.is_empty() && args.ircs.is_empty() {
        addrs.push(DEFAULT_IRC_ADDR.parse().expect("valid default address"));
    }
    let mut listeners = Vec::new();
    let mut ready = Vec::new();
    for addr in addrs {
        let tcp = net::bind_tcp(addr, args.backlog).await?;
        ready.push(("irc", tcp.local_addr()?));
        listeners.push(Listener::plain(tcp));
    }
    for addr in args.ircs {
        let tcp = net::bind_tcp(addr, args.backlog).await?;
        ready.push(("ircs", tcp.local_addr()?));
        let tls = tls.clone().expect("checked by tls_acceptor");
        listeners.push(Listener::tls(tcp, tls));
    }
    // Handlers first: once the ready line is out, SIGTERM must mean a graceful stop.
    let shutdown = net::shutdown_signal();
    for (kind, addr) in ready {
        net::announce(kind, addr);
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

/// The certificate and key for `--ircs`, loaded before anything is bound. TLS
/// listeners without them, or them without a TLS listener, are bad usage.
fn tls_acceptor(args: &ChatServeArgs) -> Result<Option<TlsAcceptor>> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            if args.ircs.is_empty() {
                return Err(UsageError(
                    "--tls-cert and --tls-key are for TLS listeners: add --ircs ADDR".into(),
                )
                .into());
            }
            let acceptor = TlsAcceptor::from_pem_files(cert, key)
                .map_err(|err| UsageError(err.to_string()))?;
            Ok(Some(acceptor))
        }
        // clap makes each of the two require the other.
        _ if !args.ircs.is_empty() => Err(UsageError(
            "--ircs needs a certificate: give --tls-cert PEM and --tls-key PEM".into(),
        )
        .into()),
        _ => Ok(None),
    }
}
