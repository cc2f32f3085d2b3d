//! `fetch`: many URLs at once, with bounded concurrency, per-host limits,
//! timeouts, retries, bodies streamed to files or handed back, and a JSON-lines
//! report.
//!
//! ```no_run
//! # async fn demo() -> Result<(), netkit::fetch::BuildError> {
//! use futures::StreamExt;
//! use netkit::fetch::Fetcher;
//!
//! let fetcher = Fetcher::builder().concurrency(16).per_host(4).build()?;
//! let urls = futures::stream::iter(vec!["http://127.0.0.1:8080/".to_string()]);
//! let mut outcomes = std::pin::pin!(fetcher.fetch_all(urls, Default::default()));
//! while let Some(outcome) = outcomes.next().await {
//!     println!("{} {:?}", outcome.url, outcome.status);
//! }
//! # Ok(()) }
//! ```

mod client;
mod decode;
mod fetcher;
mod http1;
mod input;
mod naming;
mod outcome;
mod progress;
mod retry;
mod scheduler;
pub mod sink;
mod summary;
mod transfer;

pub use fetcher::{BuildError, Fetcher, FetcherBuilder, MAX_REDIRECTS, Progress};
pub use input::url_lines;
pub use naming::relative_path;
pub use outcome::{ErrorKind, Failure, Outcome};
pub use progress::ProgressBar;
pub use retry::RetryPolicy;
pub use summary::Summary;
