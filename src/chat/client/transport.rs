//! The client's connection: TCP, or TLS over TCP (rustls, ring provider), as one
//! byte stream the session frames into IRC lines.
//!
//! TLS checks the certificate against the CA certificates given with `--ca-cert`,
//! or else the system's bundle (`SSL_CERT_FILE`, or the usual Debian/Red Hat/
//! Alpine paths), and checks that it names the host of the address: an IP address
//! must be in the certificate as an IP address.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::JoinError;

/// Where Linux distributions keep the system's CA bundle.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Bytes both ways; TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How to set up TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM files of CA certificates to trust; empty means the system's bundle.
    pub ca_files: Vec<PathBuf>,
}

/// The certificates to trust, read now. Errors are about the user's input
/// (exit 2) and name the file.
pub fn root_store(options: &TlsOptions) -> Result<RootCertStore, JoinError> {
    let system;
    let files: &[PathBuf] = if options.ca_files.is_empty() {
        let bundle = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .or_else(|| {
                SYSTEM_BUNDLES
                    .iter()
                    .map(PathBuf::from)
                    .find(|p| p.exists())
            })
            .ok_or_else(|| {
                JoinError::Certificates("no system CA bundle found: pass --ca-cert PEM".into())
            })?;
        system = [bundle];
        &system
    } else {
        &options.ca_files
    };
    let mut roots = RootCertStore::empty();
    for file in files {
        let certs = crate::net::load_certificates(file)
            .map_err(|err| JoinError::Certificates(err.to_string()))?;
        // A bundle may hold certificates rustls cannot use; the others still count.
        roots.add_parsable_certificates(certs);
    }
    if roots.is_empty() {
        return Err(JoinError::Certificates(
            "none of the CA certificates is usable".into(),
        ));
    }
    Ok(roots)
}

/// Connects to `addr` (`HOST:PORT`) within `timeout`, through TLS when `tls`
/// holds a root store.
pub async fn connect(
    addr: &str,
    tls: Option<RootCertStore>,
    timeout: Duration,
) -> Result<Box<dyn Stream>, JoinError> {
    let connect_err = |cause: io::Error| JoinError::Connect {
        addr: addr.to_string(),
        cause,
    };
    let work = async {
        let tcp = TcpStream::connect(addr).await.map_err(connect_err)?;
        let _ = tcp.set_nodelay(true);
        let Some(roots) = tls else {
            return Ok(Box::new(tcp) as Box<dyn Stream>);
        };
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| JoinError::Tls {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(host_of(addr).to_string()).map_err(|_| JoinError::Tls {
            addr: addr.to_string(),
            reason: "the host is not a valid TLS server name".into(),
        })?;
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| JoinError::Tls {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Box::new(stream) as Box<dyn Stream>)
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(connect_err(io::ErrorKind::TimedOut.into())))
}

/// `host` of `host:port`, without the brackets of `[v6]:port`.
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_what_comes_before_the_port() {
        assert_eq!(host_of("irc.example.net:6697"), "irc.example.net");
        assert_eq!(host_of("127.0.0.1:6697"), "127.0.0.1");
        assert_eq!(host_of("[::1]:6697"), "::1");
    }

    #[test]
    fn a_file_without_certificates_is_refused_by_name() {
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/localhost.key");
        let options = TlsOptions {
            ca_files: vec![key.into()],
        };
        match root_store(&options) {
            Err(JoinError::Certificates(why)) => assert!(why.contains("localhost.key"), "{why}"),
            other => panic!("a key file was accepted as CA certificates: {other:?}"),
        }
    }

    #[test]
    fn the_test_ca_is_trusted() {
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ca.pem");
        let roots = root_store(&TlsOptions {
            ca_files: vec![ca.into()],
        })
        .expect("usable");
        assert_eq!(roots.len(), 1);
    }
}
