//! `chat serve` and `chat join`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use netkit::chat::cluster::Cluster;
use netkit::chat::history::{RedisHistory, SqliteHistory};
use netkit::chat::{ChatConfig, ChatServer, Listener, WebConfig};
use netkit::net::{self, TlsAcceptor};

use super::UsageError;
use crate::cli::{ChatJoinArgs, ChatServeArgs};

/// The IRC port of every tutorial.
const DEFAULT_IRC_ADDR: &str = "127.0.0.1:6667";
/// Where the page is, unless `--http` says otherwise.
const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// The server name, unless --server-name or --node says otherwise.
const DEFAULT_SERVER_NAME: &str = "netkit.local";

pub async fn serve(args: ChatServeArgs) -> Result<ExitCode> {
    net::raise_fd_limit();
    let tls = tls_acceptor(&args)?;
    // Before binding: a database that cannot be opened means no ready line.
    // Opening may block on the disk, so not on the runtime.
    let server_name = args
        .server_name
        .clone()
        .or_else(|| args.node.clone())
        .unwrap_or_else(|| DEFAULT_SERVER_NAME.to_string());
    let store = open_store(&args, &server_name).await?;
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
    let http: Vec<_> = if args.http.is_empty() {
        vec![DEFAULT_HTTP_ADDR.parse().expect("valid default address")]
    } else if args.http.iter().any(|h| h.0.is_none()) {
        if args.http.len() > 1 {
            return Err(UsageError("--http off cannot be combined with --http ADDR".into()).into());
        }
        Vec::new()
    } else {
        args.http.iter().filter_map(|h| h.0).collect()
    };
    for addr in http {
        let tcp = net::bind_tcp(addr, args.backlog).await?;
        ready.push(("http", tcp.local_addr()?));
        listeners.push(Listener::http(tcp, None));
    }
    for addr in args.https {
        let tcp = net::bind_tcp(addr, args.backlog).await?;
        ready.push(("https", tcp.local_addr()?));
        let tls = tls.clone().expect("checked by tls_acceptor");
        listeners.push(Listener::http(tcp, Some(tls)));
    }
    // Handlers first: once the ready line is out, SIGTERM must mean a graceful stop.
    let shutdown = net::shutdown_signal();
    for (kind, addr) in ready {
        net::announce(kind, addr);
    }
    let config = ChatConfig {
        server_name,
        password: args.password,
        opers: args.oper,
        motd: args.motd.map(|motd| motd.0),
        max_clients: args.max_clients as usize,
        sendq: args.sendq,
        flood: args.flood.0,
        ping_interval: args.ping_interval,
        ..ChatConfig::default()
    };
    let server = match store {
        Store::Sqlite(history) => ChatServer::with_history(config, Box::new(history)),
        Store::Cluster(cluster, history) => ChatServer::with_cluster(config, *cluster, history),
    }
    .context("cannot start the chat server")?
    .with_web(WebConfig {
        allowed_origins: args.allow_origin,
    });
    let summary = server.serve(listeners, shutdown).await;
    eprintln!("netkit: {summary}");
    Ok(ExitCode::SUCCESS)
}

/// Where history is kept: SQLite, or Redis for a cluster node.
enum Store {
    Sqlite(SqliteHistory),
    Cluster(Box<Cluster>, Box<RedisHistory>),
}

/// Opens the history store, and joins the cluster with `--redis`, before
/// anything is bound: a store that cannot be opened means no ready line.
async fn open_store(args: &ChatServeArgs, server_name: &str) -> Result<Store> {
    let limit = args.history_limit;
    let Some(url) = args.redis.clone() else {
        let db = args.db.clone();
        // Opening may block on the disk, so not on the runtime.
        let history = tokio::task::spawn_blocking(move || SqliteHistory::open(&db, limit))
            .await
            .context("opening the history database")?
            .map_err(|err| UsageError(err.0))?;
        return Ok(Store::Sqlite(history));
    };
    let node = args.node.as_deref().unwrap_or(server_name);
    let cluster = Cluster::join(&url, node)
        .await
        .map_err(|err| UsageError(err.to_string()))?;
    let history = tokio::task::spawn_blocking(move || RedisHistory::connect(&url, limit))
        .await
        .context("connecting the history store")?
        .map_err(|err| UsageError(err.0))?;
    Ok(Store::Cluster(Box::new(cluster), Box::new(history)))
}

/// The certificate and key for `--ircs` and `--https`, loaded before anything
/// is bound. TLS listeners without them, or them without a TLS listener, are
/// bad usage.
fn tls_acceptor(args: &ChatServeArgs) -> Result<Option<TlsAcceptor>> {
    let wants_tls = !args.ircs.is_empty() || !args.https.is_empty();
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            if !wants_tls {
                return Err(UsageError(
                    "--tls-cert and --tls-key are for TLS listeners: add --ircs ADDR or --https ADDR"
                        .into(),
                )
                .into());
            }
            let acceptor = TlsAcceptor::from_pem_files(cert, key)
                .map_err(|err| UsageError(err.to_string()))?;
            Ok(Some(acceptor))
        }
        // clap makes each of the two require the other.
        _ if wants_tls => {
            let which = if args.ircs.is_empty() {
                "--https"
            } else {
                "--ircs"
            };
            let text =
                format!("{which} needs a certificate: give --tls-cert PEM and --tls-key PEM");
            Err(UsageError(text).into())
        }
        _ => Ok(None),
    }
}

pub async fn join(args: ChatJoinArgs) -> Result<ExitCode> {
    use netkit::chat::client::{self, JoinConfig, TlsOptions};
    let tls = args.tls.then_some(TlsOptions {
        ca_files: args.ca_certs,
    });
    let config = JoinConfig {
        addr: client::with_default_port(&args.addr, args.tls),
        nick: args.nick,
        channels: args.channels,
        password: args.password,
        tls,
        timeout: args.timeout,
    };
    // SIGINT (Ctrl-C) and SIGTERM quit politely rather than drop the connection.
    let stop = net::shutdown_signal();
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    match client::join(&config, input, tokio::io::stdout(), stop).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(err) if err.is_usage() => Err(UsageError(err.to_string()).into()),
        Err(err) => Err(err.into()),
    }
}
