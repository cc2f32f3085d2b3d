//! The HTTP front door: the chat page, IRC over WebSocket, `/healthz` and
//! `/metrics`, over plain HTTP or HTTPS.
//!
//! Each connection is served by hyper (HTTP/1.1, with upgrades) in its own
//! task, behind the same client limit as IRC connections; a TLS handshake runs
//! in that task under a deadline, as for `--ircs`. Routing is axum's.
//!
//! - `GET /` (and `/ws`) with `Upgrade: websocket`: an IRC session over
//!   WebSocket (see `ws`); without it, `/` is the page.
//! - `/app.js` and the modules it imports, `/style.css`: the page's scripts
//!   and style, embedded in the binary (see `page`).
//! - `/healthz`: 200 while serving. `/metrics`: Prometheus text.

mod page;
mod ws;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::server::Context;
use crate::net::TlsAcceptor;

/// Settings of the HTTP front door.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Origins (`https://chat.example.com`) whose pages may open a WebSocket.
    /// Empty: only the page's own origin (the request's `Host`). A request
    /// with no `Origin` (not from a browser) is always allowed.
    pub allowed_origins: Vec<String>,
}

/// The routes, over the server's shared context.
fn router(ctx: Arc<Context>) -> Router {
    let router = Router::new()
        .route("/", get(ws::page_or_upgrade))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics));
    page::routes(router).with_state(ctx)
}

async fn healthz(State(ctx): State<Arc<Context>>) -> impl IntoResponse {
    if ctx.draining.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn metrics(State(ctx): State<Arc<Context>>) -> impl IntoResponse {
    let text = ctx.metrics.render(ctx.hub.channel_count());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// Serves one HTTP connection until it closes (a WebSocket session included).
/// It holds the client `permit`; an upgrade to WebSocket takes it along.
pub(crate) async fn serve_http(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Context>,
    tls: Option<TlsAcceptor>,
    permit: OwnedSemaphorePermit,
) {
    let span = tracing::debug_span!("http", %peer);
    let permit = ws::Permit(Arc::new(Mutex::new(Some(permit))));
    async move {
        match tls {
            None => serve_connection(stream, peer, ctx, permit).await,
            Some(tls) => {
                let limit = crate::net::HANDSHAKE_TIMEOUT.min(ctx.config.registration_timeout);
                let stream = tokio::select! {
                    stream = tls.accept(stream, limit) => stream,
                    _ = ctx.draining.cancelled() => return,
                };
                match stream {
                    Ok(stream) => serve_connection(stream, peer, ctx, permit).await,
                    Err(err) => tracing::debug!(
                        "TLS handshake failed: {}",
                        crate::net::describe_io_error(&err)
                    ),
                }
            }
        }
    }
    .instrument(span)
    .await
}

async fn serve_connection<S>(stream: S, peer: SocketAddr, ctx: Arc<Context>, permit: ws::Permit)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let draining = ctx.draining.clone();
    let service = router(ctx)
        .layer(axum::Extension(Peer(peer)))
        .layer(axum::Extension(permit));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        // A client that sends no complete request head within this long is
        // dropped: no slot is held by one that says nothing.
        .header_read_timeout(crate::net::HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        done = &mut connection => {
            if let Err(err) = done {
                tracing::debug!("HTTP connection ended: {err}");
            }
        }
        // Shutdown: finish the request in flight, then close. An upgraded
        // WebSocket lives on in its own task and says goodbye there.
        _ = draining.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The client's address, for sessions started by an upgrade.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);
