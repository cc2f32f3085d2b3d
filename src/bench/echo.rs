//! The echo load generator.
//!
//! Ping-pong: each connection sends SIZE bytes, waits for exactly SIZE bytes back,
//! checks they are identical, and repeats. Churn: each operation connects, sends
//! `Hello, server!`, reads the echo and closes. Idle: opens many connections, checks
//! each with one echo, and holds them open, to measure what an idle client costs.
//!
//! Connections are spread over worker threads, each with its own single-threaded
//! runtime: no work stealing, no shared counters on the hot path.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::latency::{Latency, histogram};
use super::shared::{
    ErrorCounts, Progress, connect, connect_from, describe_errors, merge_errors, round2,
};
use super::usage::{ProcessSample, SelfSample};
use crate::net::{describe_io_error, read_draining};

/// What churn sends: the tutorial client's message.
pub const CHURN_MESSAGE: &[u8] = b"Hello, server!";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Pingpong,
    Churn,
    Idle,
}

#[derive(Debug, Clone)]
pub struct EchoBench {
    pub target: SocketAddr,
    pub mode: Mode,
    pub connections: usize,
    /// Payload bytes per round trip (ping-pong).
    pub size: usize,
    /// How long to measure (or, idle, to hold the connections).
    pub duration: Duration,
    /// Round trips (or churned connections) per second in total; None: as fast as
    /// the server answers.
    pub rate: Option<f64>,
    /// Worker threads, each with its own runtime.
    pub threads: usize,
    /// A server process whose CPU time and memory to sample before and after.
    pub server_pid: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read the server's usage from /proc/{pid}: {}", describe_io_error(.cause))]
    ServerPid { pid: u32, cause: io::Error },
    #[error("cannot start a worker thread: {}", describe_io_error(.0))]
    Thread(io::Error),
    #[error("bad settings: {0}")]
    Settings(String),
}

/// The report, printed as text or (`--json`) as one JSON object; its fields are a
/// documented contract (README, "bench echo").
#[derive(Debug, Clone, Serialize)]
pub struct EchoReport {
    pub mode: Mode,
    pub target: String,
    pub connections: usize,
    pub size: usize,
    pub duration_s: f64,
    pub rate: Option<f64>,
    /// Round trips (ping-pong), connections opened (churn, idle).
    pub operations: u64,
    pub ops_per_s: f64,
    /// Payload megabytes (10^6) echoed per second, one direction.
    pub mb_per_s: f64,
    pub latency_us: Latency,
    pub errors: ErrorCounts,
    pub mismatches: u64,
    pub client_cpu_us_per_op: f64,
    pub server: Option<ServerUsage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    pub cpu_us_per_op: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    /// Idle mode: the server's RSS growth divided by the connections held.
    pub rss_per_connection_bytes: Option<f64>,
}

/// What one worker thread measured.
struct Tally {
    histogram: Histogram<u64>,
    operations: u64,
    errors: ErrorCounts,
    mismatches: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            histogram: histogram(),
            operations: 0,
            errors: BTreeMap::new(),
            mismatches: 0,
        }
    }

    fn error(&mut self, err: &io::Error) {
        *self.errors.entry(describe_io_error(err)).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        // Both histograms auto-resize, so adding cannot fail on range.
        let _ = self.histogram.add(&other.histogram);
        self.operations += other.operations;
        self.mismatches += other.mismatches;
        merge_errors(&mut self.errors, other.errors);
    }
}

impl EchoBench {
    fn validate(&self) -> Result<(), BenchError> {
        let bad = |s: &str| Err(BenchError::Settings(s.to_string()));
        if self.connections == 0 {
            return bad("--connections must be at least 1");
        }
        if self.mode == Mode::Pingpong && self.size == 0 {
            return bad("--size must be at least 1 byte");
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return bad("--rate must be a positive number");
        }
        if self.threads == 0 {
            return bad("--threads must be at least 1");
        }
        Ok(())
    }

    /// Runs the benchmark on its own threads and returns the report. `stop` ends
    /// it early (the report then covers the time actually run); `progress`, when
    /// given, is filled with live counters for a display.
    pub fn run(
        &self,
        stop: CancellationToken,
        progress: Option<&Progress>,
    ) -> Result<EchoReport, BenchError> {
        self.validate()?;
        let threads = self.threads.min(self.connections);
        let server_before = self.sample_server()?;
        // Workers and this thread meet here once every connection is ready, so
        // setting up is not measured.
        let ready = Arc::new(Barrier::new(threads + 1));
        let counters: Vec<Arc<AtomicU64>> = (0..threads).map(|_| Arc::default()).collect();
        let mut handles = Vec::with_capacity(threads);
        for (worker, counter) in counters.iter().enumerate() {
            let share =
                self.connections / threads + usize::from(worker < self.connections % threads);
            let plan = WorkerPlan {
                bench: self.clone(),
                first_conn: worker * (self.connections / threads)
                    + worker.min(self.connections % threads),
                share,
                ready: ready.clone(),
                stop: stop.clone(),
                counter: counter.clone(),
            };
            let handle = std::thread::Builder::new()
                .name(format!("bench-{worker}"))
                .spawn(move || plan.run())
                .map_err(BenchError::Thread)?;
            handles.push(handle);
        }
        if let Some(progress) = progress {
            progress.follow(&counters);
        }
        ready.wait();
        let started = std::time::Instant::now();
        let self_before = SelfSample::now();
        // Idle mode: memory is read while every connection is open.
        let server_loaded = if self.mode == Mode::Idle {
            self.sample_server()?
        } else {
            None
        };

        let mut total = Tally::new();
        for handle in handles {
            match handle.join() {
                Ok(tally) => total.merge(tally),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        let elapsed = started.elapsed();
        let self_cpu = SelfSample::now().cpu_since(&self_before);
        let server_after = self.sample_server()?;
        Ok(self.report(
            total,
            elapsed,
            self_cpu,
            server_before,
            server_loaded.or(server_after),
            server_after,
        ))
    }

    fn sample_server(&self) -> Result<Option<ProcessSample>, BenchError> {
        self.server_pid
            .map(|pid| {
                ProcessSample::read(pid).map_err(|cause| BenchError::ServerPid { pid, cause })
            })
            .transpose()
    }

    fn report(
        &self,
        total: Tally,
        elapsed: Duration,
        self_cpu: Duration,
        server_before: Option<ProcessSample>,
        server_loaded: Option<ProcessSample>,
        server_after: Option<ProcessSample>,
    ) -> EchoReport {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let ops = total.operations;
        let per_op = |cpu: Duration| {
            if ops == 0 {
                0.0
            } else {
                round2(cpu.as_secs_f64() * 1e6 / ops as f64)
            }
        };
        let payload = match self.mode {
            Mode::Pingpong => self.size,
            Mode::Churn | Mode::Idle => CHURN_MESSAGE.len(),
        };
        let server = match (server_before, server_loaded, server_after) {
            (Some(before), Some(loaded), Some(after)) => Some(ServerUsage {
                pid: self.server_pid.unwrap_or_default(),
                cpu_us_per_op: per_op(after.cpu.saturating_sub(before.cpu)),
                rss_before_kib: before.rss_kib,
                rss_after_kib: loaded.rss_kib,
                rss_per_connection_bytes: if self.mode == Mode::Idle {
                    loaded.rss_growth_per(&before, ops)
                } else {
                    None
                },
            }),
            _ => None,
        };
        EchoReport {
            mode: self.mode,
            target: self.target.to_string(),
            connections: self.connections,
            size: payload,
            duration_s: round2(secs),
            rate: self.rate,
            operations: ops,
            ops_per_s: round2(ops as f64 / secs),
            mb_per_s: round2(ops as f64 * payload as f64 / secs / 1e6),
            latency_us: Latency::of(&total.histogram),
            errors: total.errors,
            mismatches: total.mismatches,
            client_cpu_us_per_op: per_op(self_cpu),
            server,
        }
    }
}

struct WorkerPlan {
    bench: EchoBench,
    /// Index of this worker's first connection, to stagger paced sends.
    first_conn: usize,
    share: usize,
    ready: Arc<Barrier>,
    stop: CancellationToken,
    counter: Arc<AtomicU64>,
}

impl WorkerPlan {
    fn run(self) -> Tally {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(err) => {
                self.ready.wait();
                let mut tally = Tally::new();
                tally.error(&err);
                return tally;
            }
        };
        let local = tokio::task::LocalSet::new();
        let tally = Rc::new(RefCell::new(Tally::new()));
        // Set up: ping-pong and idle connect first; churn connects per operation.
        let streams: Vec<Option<TcpStream>> = match self.bench.mode {
            Mode::Churn => (0..self.share).map(|_| None).collect(),
            Mode::Pingpong => local.block_on(&runtime, self.connect_all(&tally)),
            Mode::Idle => local.block_on(&runtime, self.open_idle(&tally)),
        };
        self.ready.wait();
        let start = Instant::now();
        let deadline = start + self.bench.duration;
        local.block_on(&runtime, async {
            let mut tasks = Vec::with_capacity(streams.len());
            for (i, stream) in streams.into_iter().enumerate() {
                let conn = ConnLoop {
                    bench: self.bench.clone(),
                    tally: tally.clone(),
                    counter: self.counter.clone(),
                    stop: self.stop.clone(),
                    deadline,
                    first_send: self.first_send(start, i),
                };
                tasks.push(tokio::task::spawn_local(conn.run(stream)));
            }
            for task in tasks {
                let _ = task.await;
            }
        });
        drop(local);
        Rc::try_unwrap(tally)
            .map(RefCell::into_inner)
            .unwrap_or_else(|_| Tally::new())
    }

    /// Paced sends are staggered evenly over one interval across all connections.
    fn first_send(&self, start: Instant, i: usize) -> Instant {
        match self.bench.rate {
            Some(rate) => {
                let per_conn_interval = self.bench.connections as f64 / rate;
                let offset = per_conn_interval * (self.first_conn + i) as f64
                    / self.bench.connections as f64;
                start + Duration::from_secs_f64(offset)
            }
            None => start,
        }
    }

    async fn connect_all(&self, tally: &Rc<RefCell<Tally>>) -> Vec<Option<TcpStream>> {
        let connects = (0..self.share).map(|_| connect(self.bench.target));
        let mut streams = Vec::with_capacity(self.share);
        for result in futures::future::join_all(connects).await {
            match result {
                Ok(stream) => streams.push(Some(stream)),
                Err(err) => {
                    tally.borrow_mut().error(&err);
                    streams.push(None);
                }
            }
        }
        streams
    }

    /// Opens every connection and checks it with one echo; the echo's latency is
    /// what idle mode records.
    async fn open_idle(&self, tally: &Rc<RefCell<Tally>>) -> Vec<Option<TcpStream>> {
        let opens = (0..self.share).map(|_| async {
            let sent = Instant::now();
            let stream = connect(self.bench.target).await?;
            let same = echo_hello(&stream).await?;
            Ok::<_, io::Error>((stream, sent.elapsed(), same))
        });
        let mut held = Vec::with_capacity(self.share);
        for result in futures::future::join_all(opens).await {
            let mut tally = tally.borrow_mut();
            match result {
                Ok((stream, latency, same)) => {
                    record(&mut tally.histogram, latency);
                    tally.operations += 1;
                    tally.mismatches += u64::from(!same);
                    self.counter.fetch_add(1, Relaxed);
                    held.push(Some(stream));
                }
                Err(err) => tally.error(&err),
            }
        }
        held
    }
}

/// One connection's (or, churning, one slot's) loop until the deadline or stop.
struct ConnLoop {
    bench: EchoBench,
    tally: Rc<RefCell<Tally>>,
    counter: Arc<AtomicU64>,
    stop: CancellationToken,
    deadline: Instant,
    first_send: Instant,
}

/// Pause after a failed connect, so a dead target costs no busy loop.
const RETRY_PAUSE: Duration = Duration::from_millis(10);

type End<'a> = Pin<&'a mut (dyn Future<Output = ()> + 'a)>;

impl ConnLoop {
    async fn run(self, stream: Option<TcpStream>) {
        // Created once and polled alongside every operation.
        let deadline = self.deadline;
        let stop = self.stop.clone();
        let end = pin!(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stop.cancelled() => {}
            }
        });
        let mut end: End<'_> = end;
        match self.bench.mode {
            Mode::Pingpong => self.pingpong(stream, &mut end).await,
            Mode::Churn => self.churn(&mut end).await,
            Mode::Idle => {
                end.await;
                drop(stream);
            }
        }
    }

    fn interval(&self) -> Option<Duration> {
        self.bench
            .rate
            .map(|rate| Duration::from_secs_f64(self.bench.connections as f64 / rate))
    }

    /// When the next operation is meant to start: paced, or right now. Latency
    /// is measured from this instant, so a slow server cannot hide queueing
    /// (no coordinated omission). Returns None when the run ends while waiting.
    async fn next_start(&self, schedule: &mut Instant, end: &mut End<'_>) -> Option<Instant> {
        let Some(interval) = self.interval() else {
            return Some(Instant::now());
        };
        let intended = *schedule;
        *schedule += interval;
        if intended > Instant::now() {
            tokio::select! {
                biased;
                _ = end.as_mut() => return None,
                _ = tokio::time::sleep_until(intended) => {}
            }
        }
        Some(intended)
    }

    fn done(&self, intended: Instant, same: bool) {
        let mut tally = self.tally.borrow_mut();
        record(&mut tally.histogram, intended.elapsed());
        tally.operations += 1;
        tally.mismatches += u64::from(!same);
        self.counter.fetch_add(1, Relaxed);
    }

    async fn pingpong(&self, mut stream: Option<TcpStream>, end: &mut End<'_>) {
        let size = self.bench.size;
        let mut payload = random_bytes(
            size,
            self.first_send.elapsed().as_nanos() as u64 ^ size as u64,
        );
        let mut echo = vec![0u8; size + 1];
        let mut schedule = self.first_send;
        let mut round: u64 = 0;
        loop {
            let conn = match stream.as_mut() {
                Some(conn) => conn,
                None => match self.reconnect(end).await {
                    Some(conn) => stream.insert(conn),
                    None => return,
                },
            };
            let Some(intended) = self.next_start(&mut schedule, end).await else {
                return;
            };
            // A fresh stamp each round: a server replaying old bytes is caught.
            round += 1;
            let stamp = round.to_le_bytes();
            let n = stamp.len().min(size);
            payload[..n].copy_from_slice(&stamp[..n]);
            let result = tokio::select! {
                biased;
                result = exchange(conn, &payload, &mut echo) => result,
                _ = end.as_mut() => return,
            };
            match result {
                Ok(got) => self.done(intended, echo[..got] == payload[..]),
                Err(err) => {
                    self.tally.borrow_mut().error(&err);
                    stream = None;
                }
            }
        }
    }

    async fn churn(&self, end: &mut End<'_>) {
        let mut schedule = self.first_send;
        let mut turn: u32 = 0;
        loop {
            turn = turn.wrapping_add(1);
            let Some(intended) = self.next_start(&mut schedule, end).await else {
                return;
            };
            let once = async {
                let conn = connect_from(self.bench.target, turn).await?;
                echo_hello(&conn).await
            };
            let result = tokio::select! {
                biased;
                result = once => result,
                _ = end.as_mut() => return,
            };
            match result {
                Ok(same) => self.done(intended, same),
                Err(err) => {
                    self.tally.borrow_mut().error(&err);
                    if !self.pause(end).await {
                        return;
                    }
                }
            }
        }
    }

    async fn reconnect(&self, end: &mut End<'_>) -> Option<TcpStream> {
        loop {
            let result = tokio::select! {
                biased;
                _ = end.as_mut() => return None,
                result = connect(self.bench.target) => result,
            };
            match result {
                Ok(conn) => return Some(conn),
                Err(err) => {
                    self.tally.borrow_mut().error(&err);
                    if !self.pause(end).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits RETRY_PAUSE; false when the run ended meanwhile.
    async fn pause(&self, end: &mut End<'_>) -> bool {
        tokio::select! {
            biased;
            _ = end.as_mut() => false,
            _ = tokio::time::sleep(RETRY_PAUSE) => true,
        }
    }
}

/// Sends `payload` and reads the echo into `echo`, writing and reading at once so
/// that payloads larger than the socket buffers cannot stall. `echo` must be one
/// byte longer than `payload`: a read that does not fill it has emptied the socket,
/// which saves a system call per round trip (see `net::read_draining`), and a server
/// that sends too much is caught. Returns the bytes received.
async fn exchange(stream: &TcpStream, payload: &[u8], echo: &mut [u8]) -> io::Result<usize> {
    debug_assert_eq!(echo.len(), payload.len() + 1);
    let (mut sent, mut got) = (0, 0);
    loop {
        if sent < payload.len() {
            match stream.try_write(&payload[sent..]) {
                Ok(n) => sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        let interest = if sent < payload.len() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let ready = stream.ready(interest).await?;
        if ready.is_readable() || ready.is_read_closed() {
            match read_draining(stream, &mut echo[got..]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => got += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        if sent == payload.len() && got >= payload.len() {
            return Ok(got);
        }
    }
}

/// The tutorial client's exchange: `Hello, server!` and its echo. True when the
/// echo is identical.
async fn echo_hello(stream: &TcpStream) -> io::Result<bool> {
    let mut echo = [0u8; CHURN_MESSAGE.len() + 1];
    let got = exchange(stream, CHURN_MESSAGE, &mut echo).await?;
    Ok(echo[..got] == *CHURN_MESSAGE)
}

fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    // Saturate rather than fail on an absurd value; the histogram grows as needed.
    let _ = histogram.record(latency.as_nanos().min(u64::MAX as u128) as u64);
}

/// Bytes that are hard to echo by accident (xorshift64*).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

impl EchoReport {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let what = match self.mode {
            Mode::Pingpong => format!(
                "ping-pong, {} connections, {}-byte payloads",
                self.connections, self.size
            ),
            Mode::Churn => format!("churn (connect, echo, close), {} at once", self.connections),
            Mode::Idle => format!("{} idle connections held", self.connections),
        };
        let unit = match self.mode {
            Mode::Pingpong => "round trips",
            Mode::Churn | Mode::Idle => "connections",
        };
        let _ = writeln!(
            out,
            "echo bench against {}: {what}, {:.2}s",
            self.target, self.duration_s
        );
        match self.mode {
            Mode::Pingpong => {
                let _ = writeln!(
                    out,
                    "  {unit:<12} {} ({:.0}/s, {:.2} MB/s)",
                    self.operations, self.ops_per_s, self.mb_per_s
                );
            }
            Mode::Churn => {
                let _ = writeln!(
                    out,
                    "  {unit:<12} {} ({:.0}/s)",
                    self.operations, self.ops_per_s
                );
            }
            Mode::Idle => {
                let _ = writeln!(out, "  {unit:<12} {} opened and checked", self.operations);
            }
        }
        let l = &self.latency_us;
        let _ = writeln!(
            out,
            "  latency      p50 {}us  p90 {}us  p99 {}us  p99.9 {}us  max {}us  mean {}us",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        let _ = writeln!(out, "  errors       {}", describe_errors(&self.errors));
        let _ = writeln!(out, "  mismatches   {}", self.mismatches);
        let op = unit.trim_end_matches('s');
        let _ = writeln!(
            out,
            "  client cpu   {}us per {op}",
            self.client_cpu_us_per_op
        );
        if let Some(server) = &self.server {
            let _ = writeln!(
                out,
                "  server cpu   {}us per {op} (pid {}), rss {} KiB -> {} KiB",
                server.cpu_us_per_op, server.pid, server.rss_before_kib, server.rss_after_kib
            );
            if let Some(per_conn) = server.rss_per_connection_bytes {
                let _ = writeln!(out, "  server rss   {per_conn:.0} bytes per connection");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_vary() {
        let a = random_bytes(1024, 1);
        let b = random_bytes(1024, 2);
        assert_ne!(a, b);
        let distinct: std::collections::HashSet<u8> = a.iter().copied().collect();
        assert!(distinct.len() > 200, "poor spread: {}", distinct.len());
    }
}
