//! The [`Fetcher`] and its builder: one HTTP client (one connection pool) shared
//! by every request, and the limits the scheduler enforces.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::{self, Client};
use super::outcome::Outcome;
use super::retry::RetryPolicy;
use super::scheduler;
use super::sink::{DirCache, PartFile};

/// Redirects followed per URL; one more is an error, as is a loop.
pub const MAX_REDIRECTS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("bad settings: {0}")]
    Settings(String),
    #[error("invalid header {name:?}: {reason}")]
    Header { name: String, reason: String },
    #[error("cannot create the output directory {}: {}", .path.display(), crate::net::describe_io_error(.cause))]
    OutputDir {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("no usable certificate in the PEM given to trust: {0}")]
    Certificates(String),
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
}

impl Progress {
    /// Body bytes received so far, by every request.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Relaxed);
    }
}

#[derive(Debug, Clone)]
pub struct FetcherBuilder {
    concurrency: usize,
    per_host: usize,
    rate: Option<f64>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    max_size: Option<u64>,
    headers: Vec<(String, String)>,
    user_agent: String,
    /// PEM bundles whose certificates are trusted besides the system's.
    extra_roots: Vec<Vec<u8>>,
    output_dir: Option<PathBuf>,
    resume: bool,
    ordered: bool,
}

impl Default for FetcherBuilder {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_host: 8,
            rate: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            max_size: None,
            headers: Vec::new(),
            user_agent: concat!("netkit/", env!("CARGO_PKG_VERSION")).to_string(),
            extra_roots: Vec::new(),
            output_dir: None,
            resume: false,
            ordered: false,
        }
    }
}

impl FetcherBuilder {
    /// Requests in flight at once, over all hosts (default 64).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Requests in flight at once to one host and port (default 8).
    pub fn per_host(mut self, n: usize) -> Self {
        self.per_host = n;
        self
    }

    /// Requests started per second to one host and port (default: no limit).
    pub fn rate(mut self, per_second: Option<f64>) -> Self {
        self.rate = per_second;
        self
    }

    /// The longest wait for a response, and between two pieces of its body
    /// (default 30s). A download that keeps moving is never cut.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a connection (with TLS) may take to set up (default 10s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retries and their backoff (default: 2 retries, from 250ms, up to 30s).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Bodies larger than this fail with `too_large` (default: no limit).
    pub fn max_size(mut self, bytes: Option<u64>) -> Self {
        self.max_size = bytes;
        self
    }

    /// A header sent with every request; repeat for several.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Trust the certificates of this PEM bundle as roots, besides the
    /// system's (a private CA, a test server); repeat for several bundles.
    pub fn trust_pem(mut self, pem: Vec<u8>) -> Self {
        self.extra_roots.push(pem);
        self
    }

    /// Write bodies to files under `dir` instead of handing them back.
    pub fn output_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.output_dir = dir;
        self
    }

    /// With an output directory: keep files already complete and continue
    /// partial ones with a Range request.
    /// For a consumer that uses the outcomes in input order: a URL starts
    /// only while it is less than twice the concurrency past the first one not
    /// finished, so that a slow URL holds back at most that many finished
    /// results (and their bodies) instead of the whole list. Outcomes are
    /// still yielded as they complete.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    pub fn build(self) -> Result<Fetcher, BuildError> {
        if self.concurrency == 0 || self.per_host == 0 {
            return Err(BuildError::Settings(
                "concurrency and per-host limits must be at least 1".into(),
            ));
        }
        if let Some(rate) = self.rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(BuildError::Settings(format!(
                "rate must be a positive number of requests per second, not {rate}"
            )));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(BuildError::Settings(
                "timeouts must be longer than 0".into(),
            ));
        }
        if let Some(dir) = &self.output_dir {
            std::fs::create_dir_all(dir).map_err(|cause| BuildError::OutputDir {
                path: dir.clone(),
                cause,
            })?;
        }
        // reqwest is built without a default TLS provider (aws-lc-rs is the
        // slowest part of a cold build): use ring, once per process. An error
        // only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = Vec::new();
        for pem in &self.extra_roots {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| BuildError::Certificates(e.to_string()))?;
            if certs.is_empty() {
                return Err(BuildError::Certificates("no certificate found".into()));
            }
            roots.extend(certs);
        }
        let client = Client::new(client::Settings {
            headers: &self.headers,
            user_agent: &self.user_agent,
            connect_timeout: self.connect_timeout,
            max_idle: self.per_host,
            max_idle_total: self.concurrency,
            roots,
        })?;
        Ok(Fetcher {
            shared: Arc::new(Shared {
                client,
                settings: self,
                progress: Arc::default(),
                claimed: Mutex::default(),
                released: tokio::sync::Notify::new(),
                dirs: DirCache::default(),
            }),
        })
    }
}

/// What every request task sees.
pub(crate) struct Shared {
    pub client: Client,
    pub settings: FetcherBuilder,
    pub progress: Arc<Progress>,
    /// Output files being written now: a second URL naming the same file waits
    /// for the first to finish (both writing the same part file would corrupt it).
    /// By the path's bytes, which hash several times faster than a `Path`
    /// (component by component); paths here are all built the same way.
    claimed: Mutex<HashSet<OsString>>,
    released: tokio::sync::Notify,
    /// Output directories already made, held open.
    dirs: DirCache,
}

impl Shared {
    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    pub fn retry(&self) -> &RetryPolicy {
        &self.settings.retry
    }

    pub fn max_size(&self) -> Option<u64> {
        self.settings.max_size
    }

    pub fn output_dir(&self) -> Option<&Path> {
        self.settings.output_dir.as_deref()
    }

    pub fn resume(&self) -> bool {
        self.settings.resume
    }

    pub fn concurrency(&self) -> usize {
        self.settings.concurrency
    }

    pub fn per_host(&self) -> usize {
        self.settings.per_host
    }

    pub fn rate(&self) -> Option<f64> {
        self.settings.rate
    }

    /// With [`ordered`](FetcherBuilder::ordered): how far past the first URL
    /// not finished a URL may start.
    pub fn ordered_window(&self) -> Option<u64> {
        let window = self.settings.concurrency.saturating_mul(2) as u64;
        self.settings.ordered.then_some(window)
    }

    /// Opens the part file for `path` (of a body of `len` bytes, if known)
    /// relative to a cached handle on its directory (see `sink::file` for why
    /// and what it saves).
    pub fn open_part(
        &self,
        path: &Path,
        append: bool,
        len: Option<u64>,
    ) -> std::io::Result<PartFile> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return PartFile::open(path, append);
        };
        match PartFile::open_sized(self.dirs.get(dir)?, name, append, len) {
            // The directory was removed since it was opened: make it again.
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                self.dirs.forget(dir);
                PartFile::open_sized(self.dirs.get(dir)?, name, append, len)
            }
            result => result,
        }
    }

    /// Claims `path` for one transfer, waiting while another holds it.
    pub async fn claim(&self, path: &Path) {
        loop {
            let released = self.released.notified();
            let mut released = std::pin::pin!(released);
            // Registered before the check, so a release in between is not missed.
            released.as_mut().enable();
            {
                let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
                if claimed.insert(path.as_os_str().to_owned()) {
                    return;
                }
            }
            released.await;
        }
    }

    pub fn release(&self, path: &Path) {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        claimed.remove(path.as_os_str());
        self.released.notify_waiters();
    }
}

/// Fetches many URLs with bounded concurrency. Cheap to clone; clones share one
/// client and its connection pool.
#[derive(Clone)]
pub struct Fetcher {
    shared: Arc<Shared>,
}

impl Fetcher {
    pub fn builder() -> FetcherBuilder {
        FetcherBuilder::default()
    }

    /// Counters for a progress display.
    pub fn progress(&self) -> Arc<Progress> {
        self.shared.progress.clone()
    }

    /// Fetches every URL `urls` yields, reading it only as fast as there is room
    /// to schedule, and yields one [`Outcome`] per URL in completion order.
    ///
    /// When `cancel` fires, requests in flight stop, and every URL not finished
    /// (those queued, and what `urls` still yields promptly) gets a `cancelled`
    /// outcome. Dropping the stream stops the work.
    pub fn fetch_all<S>(&self, urls: S, cancel: CancellationToken) -> impl Stream<Item = Outcome>
    where
        S: Stream<Item = String> + Send + 'static,
    {
        // Bounded: a consumer that falls behind holds up new completions rather
        // than letting finished results pile up here.
        let (tx, rx) = mpsc::channel(self.shared.concurrency().min(1024));
        tokio::spawn(scheduler::run(self.shared.clone(), urls, cancel, tx));
        futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|outcome| (outcome, rx))
        })
    }
}
