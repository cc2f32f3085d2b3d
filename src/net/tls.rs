//! TLS for servers: a certificate chain and key loaded from PEM files into an
//! acceptor, and a handshake that cannot hold a connection forever. Clients
//! load the CA certificates they trust with the same [`load_certificates`].
//!
//! Every TLS front door (IRC's `--ircs`, later HTTPS) loads its `--tls-cert` and
//! `--tls-key` through [`TlsAcceptor::from_pem_files`], so they all report a bad
//! file the same way, naming it. The handshake runs in the connection's own task
//! (never in an accept loop, where one slow client would stop everyone) and under
//! a deadline, so a client that connects and says nothing costs a slot only
//! briefly. rustls runs on the `ring` provider, passed explicitly, so nothing
//! depends on a process-wide default having been installed.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use super::describe_io_error;

/// The longest a TLS handshake may take, unless a caller asks for less.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate or key file that cannot be used. Displays as one sentence
/// that names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// Accepts TLS on accepted connections with one certificate chain.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
}

impl TlsAcceptor {
    /// Loads the certificate chain (server certificate first) from `cert` and
    /// its private key (PKCS#8, PKCS#1 or SEC1) from `key`, both PEM. Reads the
    /// files at once: call it before announcing anything.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
        Ok(TlsAcceptor::from(Arc::new(tls_server_config(cert, key)?)))
    }

    /// Runs the server side of the handshake on `stream`, giving up after
    /// `timeout` (a `TimedOut` error).
    pub async fn accept<S>(&self, stream: S, timeout: Duration) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        tokio::time::timeout(timeout, self.inner.accept(stream))
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ))
            })
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    /// An acceptor with a configuration of its own: [`tls_server_config`] with ALPN
    /// protocols set, for instance.
    fn from(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            inner: tokio_rustls::TlsAcceptor::from(config),
        }
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3, no client certificates) for
/// the certificate chain in `cert` and the private key in `key`, both PEM, with
/// errors that name the file. For a front door that needs more (ALPN for HTTP/2),
/// adjust it and wrap it with `TlsAcceptor::from`.
pub fn tls_server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = load_chain(cert)?;
    let key_der = load_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError(format!("cannot set up TLS: {err}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|err| {
            TlsError(format!(
                "cannot use the TLS certificate {} with the key {}: {err}",
                cert.display(),
                key.display()
            ))
        })
}

/// The certificates in a PEM file: a server's chain, or the CA certificates a
/// client trusts (`chat join --ca-cert`). At least one; errors name the file.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    load_chain(path)
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| {
        TlsError(format!(
            "cannot read the TLS {what} {}: {}",
            path.display(),
            describe_io_error(&err)
        ))
    })
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path, "certificate")?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            TlsError(format!(
                "invalid PEM in the TLS certificate {}: {err}",
                path.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "no certificate in {} (expected a PEM `BEGIN CERTIFICATE` block)",
            path.display()
        )));
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(path, "key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|err| {
        let why = match err {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key found (expected a PEM `BEGIN PRIVATE KEY` block)".to_string()
            }
            other => format!("invalid PEM: {other}"),
        };
        TlsError(format!("cannot use the TLS key {}: {why}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    fn error(cert: &Path, key: &Path) -> String {
        match TlsAcceptor::from_pem_files(cert, key) {
            Ok(_) => panic!("{} and {} were accepted", cert.display(), key.display()),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn loads_the_test_certificate_and_key() {
        TlsAcceptor::from_pem_files(&data("localhost.pem"), &data("localhost.key"))
            .expect("the test certificate loads");
    }

    #[test]
    fn bad_files_are_named_with_the_reason() {
        let (cert, key) = (data("localhost.pem"), data("localhost.key"));
        let missing = data("missing.pem");
        let err = error(&missing, &key);
        assert!(err.contains("cannot read the TLS certificate"), "{err}");
        assert!(err.contains("missing.pem"), "{err}");
        let err = error(&cert, &missing);
        assert!(err.contains("cannot read the TLS key"), "{err}");
        // Swapped: no certificate in the key file, no key in the certificate.
        let err = error(&key, &key);
        assert!(err.contains("no certificate in"), "{err}");
        assert!(err.contains("localhost.key"), "{err}");
        let err = error(&cert, &cert);
        assert!(err.contains("no private key found"), "{err}");
        assert!(err.contains("localhost.pem"), "{err}");
        // A certificate that is not the key's.
        let err = error(&data("ca.pem"), &key);
        assert!(err.contains("cannot use the TLS certificate"), "{err}");
    }
}
