//! Which URL starts when: at most `concurrency` requests in flight, at most
//! `per_host` to one host and port, and with a rate, at most that many started
//! per second to one host.
//!
//! URLs are read from the input only while fewer than [`lookahead`] wait to
//! start, so a list of a million lines costs the memory of that window, not of
//! the list. Waiting URLs sit in one queue per host: when one host is at its
//! limit (or slow), URLs for other hosts further down the input still start.
//! If the whole window is taken by URLs for busy hosts, reading pauses until one
//! of them starts: that is the bound, and the price is only throughput.
//!
//! For a consumer that prints in input order (`ordered`), a URL starts only
//! within a window past the first URL not finished: the first URL is always
//! within it, so nothing stalls, and a slow one holds back at most the window's
//! results.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use reqwest::Url;
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::fetcher::Shared;
use super::outcome::{ErrorKind, Failure, Outcome};
use super::transfer;

/// How long input may keep us waiting, after a cancel, before the URLs it has
/// not yielded yet are given up (they get no record: they were never read).
const DRAIN_PATIENCE: Duration = Duration::from_millis(200);

/// URLs read but not started, at most.
fn lookahead(concurrency: usize) -> usize {
    concurrency.saturating_mul(16).max(1024)
}

struct Job {
    index: u64,
    url: Url,
    raw: String,
}

#[derive(Default)]
struct Host {
    active: usize,
    queue: VecDeque<Job>,
    /// With a rate: the earliest moment the next request may start.
    next_start: Option<Instant>,
}

/// A request in flight, for the outcome if its task panics.
struct InFlight {
    host: String,
    index: u64,
    url: String,
}

struct Scheduler {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    out: mpsc::Sender<Outcome>,
    hosts: HashMap<String, Host>,
    queued: usize,
    tasks: JoinSet<Outcome>,
    in_flight: HashMap<Id, InFlight>,
    /// The first input position not finished, and the finished ones past it.
    unfinished: u64,
    finished_past: BTreeSet<u64>,
}

pub(crate) async fn run<S>(
    shared: Arc<Shared>,
    urls: S,
    cancel: CancellationToken,
    out: mpsc::Sender<Outcome>,
) where
    S: Stream<Item = String>,
{
    let mut urls = std::pin::pin!(urls);
    let window = lookahead(shared.concurrency());
    let mut s = Scheduler {
        shared,
        cancel: cancel.clone(),
        out,
        hosts: HashMap::new(),
        queued: 0,
        tasks: JoinSet::new(),
        in_flight: HashMap::new(),
        unfinished: 0,
        finished_past: BTreeSet::new(),
    };
    let mut index = 0;
    let mut input_done = false;
    loop {
        let wake = s.dispatch();
        if input_done && s.queued == 0 && s.tasks.is_empty() {
            return;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            Some(done) = s.tasks.join_next_with_id(), if !s.tasks.is_empty() => {
                if !s.finished(done).await {
                    return;
                }
            }
            next = urls.next(), if !input_done && s.queued < window => match next {
                None => input_done = true,
                Some(raw) => {
                    if !s.add(index, raw).await {
                        return;
                    }
                    index += 1;
                }
            },
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
        }
    }
    // Cancelled: the tasks in flight see the same token and end promptly with a
    // `cancelled` outcome of their own; everything else is marked here.
    let queued: Vec<Job> = s
        .hosts
        .values_mut()
        .flat_map(|host| host.queue.drain(..))
        .collect();
    for job in queued {
        let failure = cancelled();
        if !s
            .send(Outcome::failed_early(job.index, job.raw, failure))
            .await
        {
            return;
        }
    }
    while let Some(done) = s.tasks.join_next_with_id().await {
        if !s.finished(done).await {
            return;
        }
    }
    if !input_done {
        while let Ok(Some(raw)) = tokio::time::timeout(DRAIN_PATIENCE, urls.next()).await {
            if !s.send(Outcome::failed_early(index, raw, cancelled())).await {
                return;
            }
            index += 1;
        }
    }
}

fn cancelled() -> Failure {
    Failure::new(ErrorKind::Cancelled, "cancelled")
}

impl Scheduler {
    /// Hands an outcome to the consumer; false if it is gone (stop everything).
    async fn send(&mut self, outcome: Outcome) -> bool {
        self.finished_past.insert(outcome.index);
        while self.finished_past.remove(&self.unfinished) {
            self.unfinished += 1;
        }
        if self.out.send(outcome).await.is_ok() {
            return true;
        }
        self.cancel.cancel();
        self.tasks.abort_all();
        false
    }

    /// Queues a URL read from the input, or reports it invalid at once.
    async fn add(&mut self, index: u64, raw: String) -> bool {
        match parse(&raw) {
            Ok((url, host)) => {
                self.hosts
                    .entry(host)
                    .or_default()
                    .queue
                    .push_back(Job { index, url, raw });
                self.queued += 1;
                true
            }
            Err(failure) => self.send(Outcome::failed_early(index, raw, failure)).await,
        }
    }

    async fn finished(&mut self, done: Result<(Id, Outcome), tokio::task::JoinError>) -> bool {
        let (id, outcome) = match done {
            Ok(done) => done,
            Err(err) => {
                let id = err.id();
                let Some(job) = self.in_flight.get(&id) else {
                    return true;
                };
                let message = if err.is_cancelled() {
                    "cancelled".to_string()
                } else {
                    format!("internal error: {err}")
                };
                let kind = if err.is_cancelled() {
                    ErrorKind::Cancelled
                } else {
                    ErrorKind::Io
                };
                let outcome =
                    Outcome::failed_early(job.index, job.url.clone(), Failure::new(kind, message));
                (id, outcome)
            }
        };
        if let Some(job) = self.in_flight.remove(&id) {
            let idle = self.hosts.get_mut(&job.host).is_some_and(|host| {
                host.active -= 1;
                host.active == 0 && host.queue.is_empty()
            });
            // Forget idle hosts so the map stays as small as the window; with a
            // rate, the host's pacing must be remembered.
            if idle && self.shared.rate().is_none() {
                self.hosts.remove(&job.host);
            }
        }
        self.send(outcome).await
    }

    /// Starts every queued URL the limits allow; returns when to look again if a
    /// rate holds one back.
    fn dispatch(&mut self) -> Option<Instant> {
        if self.queued == 0 || self.cancel.is_cancelled() {
            return None;
        }
        let (limit, per_host) = (self.shared.concurrency(), self.shared.per_host());
        let interval = self.shared.rate().map(|r| Duration::from_secs_f64(1.0 / r));
        let before = self
            .shared
            .ordered_window()
            .map_or(u64::MAX, |window| self.unfinished.saturating_add(window));
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        for (key, host) in &mut self.hosts {
            while self.tasks.len() < limit
                && host.active < per_host
                && host.queue.front().is_some_and(|job| job.index < before)
            {
                if let Some(at) = host.next_start
                    && at > now
                {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    break;
                }
                let Some(job) = host.queue.pop_front() else {
                    break;
                };
                if let Some(interval) = interval {
                    host.next_start = Some(now + interval);
                }
                host.active += 1;
                self.queued -= 1;
                // Boxed: tokio moves a task's state whole when it spawns it and
                // when it hands back its result; a pointer is cheaper to move
                // than the transfer's few KiB.
                let task = Box::pin(transfer::fetch(
                    self.shared.clone(),
                    job.index,
                    job.url,
                    job.raw.clone(),
                    self.cancel.clone(),
                ));
                let id = self.tasks.spawn(task).id();
                self.in_flight.insert(
                    id,
                    InFlight {
                        host: key.clone(),
                        index: job.index,
                        url: job.raw,
                    },
                );
            }
            if self.tasks.len() >= limit {
                break;
            }
        }
        wake
    }
}

/// An http(s) URL and its host key (`host:port`), or why it cannot be fetched.
fn parse(raw: &str) -> Result<(Url, String), Failure> {
    let invalid = |why: String| Failure::new(ErrorKind::InvalidUrl, why);
    let url = Url::parse(raw).map_err(|e| invalid(format!("invalid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "unsupported scheme {:?}: only http and https",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("invalid URL: no host".into()))?;
    let port = url.port_or_known_default().unwrap_or(0);
    let key = format!("{host}:{port}");
    Ok((url, key))
}
