//! A minimal HTTPS server for the fetch tests: the certificate in tests/data for
//! 127.0.0.1 (signed by tests/data/ca.pem), HTTP/2 or HTTP/1.1 as ALPN decides,
//! and a body that names the protocol that served it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The body of every response, after the protocol's name (`h2` or `http/1.1`).
pub const TLS_BODY: &str = "hello over ";

/// Starts the server on its own thread; it stops serving after 60 seconds. It
/// offers HTTP/2 through ALPN when `http2` is true, else only HTTP/1.1.
pub fn start_https(http2: bool) -> SocketAddr {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{data}/localhost.pem"))
            .expect("test certificate")
            .collect::<Result<_, _>>()
            .expect("test certificate parses");
    let key = PrivateKeyDer::from_pem_file(format!("{data}/localhost.key")).expect("test key");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key match");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if http2 {
        config.alpn_protocols.insert(0, b"h2".to_vec());
    }
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let serve = async {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the handshake.
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                            serve_h2(tls).await;
                        } else {
                            serve_http1(tls).await;
                        }
                    });
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(60), serve).await;
        });
    });
    addr
}

async fn serve_http1(mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let body = format!("{TLS_BODY}http/1.1\n");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(response.as_bytes()).await;
    let _ = tls.shutdown().await;
}

async fn serve_h2(tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
    let Ok(mut connection) = h2::server::handshake(tls).await else {
        return;
    };
    while let Some(Ok((_request, mut respond))) = connection.accept().await {
        let response = http::Response::builder()
            .status(200)
            .body(())
            .expect("response");
        if let Ok(mut stream) = respond.send_response(response, false) {
            let body = format!("{TLS_BODY}h2\n");
            let _ = stream.send_data(body.into_bytes().into(), true);
        }
    }
}
